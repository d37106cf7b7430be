//! Tar streams out of layers (`export`). Names are raw bytes and may be any length (GNU long
//! names and link targets); content is streamed chunk by chunk from the store, each chunk
//! checked against its id, so memory stays flat whatever the file sizes.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use tar::{EntryType, Header};

use crate::error::{Error, Result};
use crate::materialize::written_mode;
use crate::object::{EntryKind, FileObject, TreeEntry};
use crate::progress::{Progress, Unit};
use crate::read::{read_small, ChunkCache};
use crate::repo::Repository;

/// What went into a tar stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TarCounts {
    /// Regular files.
    pub files: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Directories.
    pub dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Writes `entries` (paths from the layer's root, parents before children, as
/// [`crate::read::select`] gives them) as a tar stream to `out`, then the end-of-archive
/// blocks. Directories, which a layer stores without a mode or a time, are written with mode
/// 755 and the layer's time `dir_time_ns`. `out_name` names the output in errors.
pub fn write_tar<W: Write>(
    repo: &Repository,
    entries: &[(Vec<u8>, TreeEntry)],
    dir_time_ns: i64,
    out: W,
    out_name: &Path,
    progress: &dyn Progress,
) -> Result<(TarCounts, W)> {
    let total = entries
        .iter()
        .filter(|(_, e)| e.kind != EntryKind::Dir)
        .map(|(_, e)| e.size)
        .sum();
    let files = entries.iter().filter(|(_, e)| e.kind != EntryKind::Dir);
    progress.begin("exporting", Unit::Files, files.count() as u64, total);
    let mut w = TarWriter {
        repo,
        cache: ChunkCache::new(4 << 20),
        builder: tar::Builder::new(out),
        out_name,
        counts: TarCounts::default(),
        progress,
    };
    for (path, e) in entries {
        w.entry(path, e, dir_time_ns)?;
    }
    progress.end();
    let counts = w.counts;
    let out = w.builder.into_inner().map_err(|e| w_err(e, out_name))?;
    Ok((counts, out))
}

struct TarWriter<'a, W: Write> {
    repo: &'a Repository,
    cache: ChunkCache,
    builder: tar::Builder<W>,
    out_name: &'a Path,
    counts: TarCounts,
    progress: &'a dyn Progress,
}

impl<W: Write> TarWriter<'_, W> {
    fn entry(&mut self, path: &[u8], e: &TreeEntry, dir_time_ns: i64) -> Result<()> {
        let name = Path::new(std::ffi::OsStr::from_bytes(path));
        let mut h = Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        let time_ns = match e.kind {
            EntryKind::Dir => dir_time_ns,
            _ => e.mtime_ns,
        };
        self.time(&mut h, time_ns)?;
        match e.kind {
            EntryKind::Dir => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                self.counts.dirs += 1;
                self.append(&mut h, name, std::io::empty())
            }
            EntryKind::Symlink => {
                let obj = self.object(e, path)?;
                let target = read_small(self.repo, &self.cache, &obj)?;
                h.set_entry_type(EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                let target = Path::new(std::ffi::OsStr::from_bytes(&target));
                self.builder
                    .append_link(&mut h, name, target)
                    .map_err(|err| w_err(err, self.out_name))?;
                self.counts.symlinks += 1;
                self.progress.advance(1, e.size);
                Ok(())
            }
            EntryKind::File => {
                let obj = self.object(e, path)?;
                h.set_entry_type(EntryType::Regular);
                h.set_mode(written_mode(e.mode));
                h.set_size(e.size);
                let failed = std::cell::RefCell::new(None);
                let at = Path::new(std::ffi::OsStr::from_bytes(path));
                let content = Content {
                    repo: self.repo,
                    path: at,
                    cache: &self.cache,
                    obj: &obj,
                    next: 0,
                    chunk: Arc::new(Vec::new()),
                    pos: 0,
                    failed: &failed,
                    progress: self.progress,
                };
                // The builder and the cache are separate fields: borrowed apart.
                let r = self
                    .builder
                    .append_data(&mut h, name, content)
                    .map_err(|err| w_err(err, self.out_name));
                if let Some(err) = failed.into_inner() {
                    return Err(err);
                }
                r?;
                self.counts.files += 1;
                self.counts.bytes += e.size;
                self.progress.advance(1, 0);
                Ok(())
            }
        }
    }

    /// The file object of `e`, checked against the size its tree gives.
    fn object(&self, e: &TreeEntry, path: &[u8]) -> Result<FileObject> {
        let at = || std::path::PathBuf::from(std::ffi::OsStr::from_bytes(path));
        let obj = self.repo.read_file(&e.id).map_err(|err| err.at(&at()))?;
        if obj.size() != e.size {
            return Err(crate::materialize::size_mismatch(e, obj.size(), &at()));
        }
        Ok(obj)
    }

    /// Seconds in the header; a PAX `mtime` record before it carries the nanoseconds.
    fn time(&mut self, h: &mut Header, ns: i64) -> Result<()> {
        let (secs, nanos) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
        h.set_mtime(u64::try_from(secs).unwrap_or(0));
        if nanos != 0 && secs >= 0 {
            let value = format!("{secs}.{nanos:09}");
            self.builder
                .append_pax_extensions([("mtime", value.as_bytes())])
                .map_err(|err| w_err(err, self.out_name))?;
        }
        Ok(())
    }

    fn append(&mut self, h: &mut Header, name: &Path, data: impl Read) -> Result<()> {
        self.builder
            .append_data(h, name, data)
            .map_err(|err| w_err(err, self.out_name))
    }
}

fn w_err(e: std::io::Error, out: &Path) -> Error {
    Error::Io {
        op: "could not write the tar stream",
        path: out.to_path_buf(),
        source: e,
    }
}

/// A file's content read chunk by chunk from the store. A chunk that cannot be read or is
/// damaged ends the read with an error, kept in `failed` so the caller reports it rather
/// than the tar writer's "unexpected end".
struct Content<'a> {
    repo: &'a Repository,
    /// The file's path in the layer, for errors.
    path: &'a Path,
    cache: &'a ChunkCache,
    obj: &'a FileObject,
    next: usize,
    chunk: Arc<Vec<u8>>,
    pos: usize,
    failed: &'a std::cell::RefCell<Option<Error>>,
    progress: &'a dyn Progress,
}

impl Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.chunk.len() {
            let Some(c) = self.obj.chunks.get(self.next) else {
                return Ok(0);
            };
            match self.cache.get(self.repo, &c.id) {
                Ok(data) if data.len() == c.len as usize => {
                    self.progress.advance(0, data.len() as u64);
                    self.chunk = data;
                    self.pos = 0;
                    self.next += 1;
                }
                Ok(_) => {
                    let why = format!("chunk {} has the wrong length", c.id);
                    let err = Error::corrupt("file", self.path, why);
                    return Err(self.fail(err));
                }
                Err(e) => return Err(self.fail(e.at(self.path))),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Content<'_> {
    fn fail(&self, e: Error) -> std::io::Error {
        let io = std::io::Error::other(e.to_string());
        *self.failed.borrow_mut() = Some(e);
        io
    }
}
