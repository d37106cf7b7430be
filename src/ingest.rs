//! Reading one worktree file into chunks: the shared core of `add` (which stores the chunks)
//! and `status` (which only hashes them).

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rayon::prelude::*;

use crate::chunk::{self, Chunker};
use crate::error::{Error, IoContext, Result};
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::index::{IndexEntry, Stat};
use crate::object::{ChunkRef, EntryKind, FileObject};

/// Files up to this size are read whole; larger ones through memory-mapped windows.
const READ_WHOLE: u64 = 4 << 20;
/// How often a file that changes while it is read is read again before giving up.
const RETRIES: usize = 3;

/// Where the chunks of an ingested file go.
pub trait ChunkSink: Sync {
    fn chunk(&self, id: ObjectId, data: &[u8]) -> Result<()>;
}

/// Hashes only: for status.
pub struct Discard;

impl ChunkSink for Discard {
    fn chunk(&self, _: ObjectId, _: &[u8]) -> Result<()> {
        Ok(())
    }
}

pub struct Ingester<'a> {
    pub algo: HashAlgo,
    pub chunker: Chunker,
    pub sink: &'a dyn ChunkSink,
}

/// What a file's ingest produced, ready to become an index entry.
pub type Ingested = IndexEntry;

impl Ingester<'_> {
    /// Reads the file or symlink at `path` (not following a final symlink). `Ok(None)` when
    /// it vanished before it could be read.
    pub fn ingest(&self, path: &Path) -> Result<Option<Ingested>> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("could not stat file", path)(e)),
        };
        if meta.file_type().is_symlink() {
            return self.symlink(path, &meta).map(Some);
        }
        for _ in 0..RETRIES {
            match self.regular(path) {
                Ok(Some(entry)) => return Ok(Some(entry)),
                Ok(None) => continue,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unstable {
            path: path.to_path_buf(),
        })
    }

    fn symlink(&self, path: &Path, meta: &std::fs::Metadata) -> Result<Ingested> {
        let target = std::fs::read_link(path).ctx("could not read symlink", path)?;
        let bytes = target.as_os_str().as_bytes();
        let chunks = self.chunk_buffer(bytes)?;
        Ok(self.entry(EntryKind::Symlink, 0o777, Stat::from_metadata(meta), chunks))
    }

    /// One attempt at a regular file; `None` when it changed while being read.
    fn regular(&self, path: &Path) -> Result<Option<Ingested>> {
        let mut file = File::open(path).ctx("could not open file", path)?;
        let before = file.metadata().ctx("could not stat file", path)?;
        let len = before.len();
        let chunks = if len <= READ_WHOLE {
            let mut buf = Vec::with_capacity(len as usize + 1);
            file.read_to_end(&mut buf)
                .ctx("could not read file", path)?;
            if buf.len() as u64 != len {
                return Ok(None);
            }
            self.chunk_buffer(&buf)?
        } else {
            self.chunk_large(&file, len, path)?
        };
        let after = file.metadata().ctx("could not stat file", path)?;
        let stat = Stat::from_metadata(&after);
        if stat != Stat::from_metadata(&before) {
            return Ok(None);
        }
        let mode = after.permissions().mode() & 0o7777;
        Ok(Some(self.entry(EntryKind::File, mode, stat, chunks)))
    }

    fn chunk_buffer(&self, data: &[u8]) -> Result<Vec<ChunkRef>> {
        self.chunker
            .cuts(data)
            .into_iter()
            .map(|r| self.one(&data[r]))
            .collect()
    }

    /// Chunks a large file window by window, hashing the chunks of each window in parallel.
    fn chunk_large(&self, file: &File, len: u64, path: &Path) -> Result<Vec<ChunkRef>> {
        let mut chunks = Vec::with_capacity((len / self.chunker.params().avg as u64) as usize + 1);
        chunk::chunk_mapped(
            &self.chunker,
            file,
            len,
            |_, window, cuts| {
                let refs: Result<Vec<ChunkRef>> = cuts
                    .par_iter()
                    .map(|r| self.one(&window[r.clone()]))
                    .collect();
                chunks.extend(refs?);
                Ok(())
            },
            path,
        )?;
        Ok(chunks)
    }

    fn one(&self, data: &[u8]) -> Result<ChunkRef> {
        let id = self.algo.hash(Domain::Chunk, data);
        self.sink.chunk(id, data)?;
        Ok(ChunkRef {
            id,
            len: data.len() as u32,
        })
    }

    fn entry(&self, kind: EntryKind, mode: u32, stat: Stat, chunks: Vec<ChunkRef>) -> Ingested {
        let file = FileObject { chunks };
        IndexEntry {
            kind: kind as u8,
            mode,
            stat,
            file_id: file.id(self.algo),
            chunks: file.chunks,
        }
    }
}
