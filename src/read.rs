//! Reading layers back: path lookups in trees, flattening, and file contents through a
//! byte-bounded cache of verified chunks.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use rayon::prelude::*;

use crate::diff::{check_depth, join};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::object::{EntryKind, FileObject, Tree, TreeEntry};
use crate::repo::Repository;

/// The cached chunks and their total size in bytes.
type Lru = (LruCache<ObjectId, Arc<Vec<u8>>>, usize);

/// Decompressed, verified chunks, evicted least-recently-used first past `cap` bytes.
pub struct ChunkCache {
    inner: Mutex<Lru>,
    cap: usize,
}

impl ChunkCache {
    pub fn new(cap: usize) -> ChunkCache {
        ChunkCache {
            inner: Mutex::new((LruCache::unbounded(), 0)),
            cap,
        }
    }

    pub fn get(&self, repo: &Repository, id: &ObjectId) -> Result<Arc<Vec<u8>>> {
        if let Some(hit) = self.lock().0.get(id) {
            return Ok(hit.clone());
        }
        let data = Arc::new(repo.read_chunk(id)?);
        let mut guard = self.lock();
        let (lru, size) = &mut *guard;
        if lru.put(*id, data.clone()).is_none() {
            *size += data.len();
        }
        while *size > self.cap {
            match lru.pop_lru() {
                Some((_, old)) => *size -= old.len(),
                None => break,
            }
        }
        Ok(data)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock cannot leave the cache inconsistent in a way that
        // matters: at worst the size is off until entries are evicted.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for ChunkCache {
    fn default() -> Self {
        ChunkCache::new(64 << 20)
    }
}

/// The entry at `path` (raw bytes, `/`-separated) below `root`; `path` empty: the root
/// itself, as a directory entry.
pub fn lookup(repo: &Repository, root: &ObjectId, path: &[u8]) -> Result<Option<TreeEntry>> {
    let mut entry = TreeEntry {
        name: Vec::new(),
        kind: EntryKind::Dir,
        mode: 0,
        size: 0,
        mtime_ns: 0,
        id: *root,
    };
    for part in path.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
        if entry.kind != EntryKind::Dir {
            return Ok(None);
        }
        match repo.read_tree(&entry.id)?.get(part) {
            Some(e) => entry = e.clone(),
            None => return Ok(None),
        }
    }
    Ok(Some(entry))
}

/// Every entry below the tree `id`, depth first in name order, with paths under `prefix`.
/// Directories come before their contents.
pub fn flatten(
    repo: &Repository,
    id: &ObjectId,
    prefix: &[u8],
    out: &mut Vec<(Vec<u8>, TreeEntry)>,
) -> Result<()> {
    let depth = prefix
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .count();
    flatten_at(repo, id, prefix, depth, out)
}

/// `flatten` of a tree `depth` directories below the root.
fn flatten_at(
    repo: &Repository,
    id: &ObjectId,
    prefix: &[u8],
    depth: usize,
    out: &mut Vec<(Vec<u8>, TreeEntry)>,
) -> Result<()> {
    check_depth(depth, prefix)?;
    let tree: Tree = repo.read_tree(id)?;
    for e in tree.entries {
        let path = join(prefix, &e.name);
        if e.kind == EntryKind::Dir {
            let id = e.id;
            out.push((path.clone(), e));
            flatten_at(repo, &id, &path, depth + 1, out)?;
        } else {
            out.push((path, e));
        }
    }
    Ok(())
}

/// Writes a file's content into `file`, chunks in parallel at their offsets, each checked
/// against its id before its bytes are written. (ext4 takes the file's lock for each write,
/// so the copies into the page cache do not overlap; the reads and hashes do. A single
/// writer thread fed through a channel measured no faster: what the waits for the lock
/// cost, the wake-ups cost too.)
pub fn write_content(
    repo: &Repository,
    cache: &ChunkCache,
    obj: &FileObject,
    file: &File,
    path: &Path,
) -> Result<()> {
    if obj.size() >= DIRECT_FROM && fsutil::set_direct(file, true) {
        return write_direct(repo, cache, obj, file, path);
    }
    let offsets = chunk_starts(obj);
    obj.chunks.par_iter().zip(offsets).try_for_each(|(c, off)| {
        let data = cache.get(repo, &c.id)?;
        if data.len() != c.len as usize {
            return Err(Error::corrupt(
                "file",
                path,
                format!("chunk {} has the wrong length", c.id),
            ));
        }
        file.write_all_at(&data, off)
            .ctx("could not write file", path)
    })
}

/// Where each chunk starts in the file, then the file's size.
fn chunk_starts(obj: &FileObject) -> Vec<u64> {
    let mut starts = Vec::with_capacity(obj.chunks.len() + 1);
    let mut off = 0u64;
    starts.push(off);
    for c in &obj.chunks {
        off += c.len as u64;
        starts.push(off);
    }
    starts
}

/// Files from this size on are written with direct I/O where the file system allows it.
const DIRECT_FROM: u64 = 8 << 20;
/// The blocks of a file written with direct I/O.
const DIRECT_BLOCK: u64 = 1 << 20;

/// Writes a large file in aligned blocks with direct I/O, blocks in parallel, each put
/// together from the verified chunks it overlaps. Buffered writes of one large file copied
/// every byte into freshly allocated page-cache pages under the file's lock: right after
/// other large writes or deletions on the benchmark machine that copy ran at 0.4 GB/s and
/// the second thread spun on the lock, a 2 GiB restore taking 4.6 s instead of 1.2 s. The
/// last block is padded with zeros to the alignment and the file then cut to its size.
fn write_direct(
    repo: &Repository,
    cache: &ChunkCache,
    obj: &FileObject,
    file: &File,
    path: &Path,
) -> Result<()> {
    let starts = chunk_starts(obj);
    let size = starts[obj.chunks.len()];
    let blocks = size.div_ceil(DIRECT_BLOCK);
    (0..blocks).into_par_iter().try_for_each_init(
        || fsutil::AlignedBuf::new(DIRECT_BLOCK as usize),
        |buf, k| {
            let (lo, hi) = (k * DIRECT_BLOCK, ((k + 1) * DIRECT_BLOCK).min(size));
            let out = buf.as_mut_slice();
            // The chunk holding byte `lo`, then every chunk that starts before `hi`.
            let mut i = starts.partition_point(|s| *s <= lo) - 1;
            while i < obj.chunks.len() && starts[i] < hi {
                let data = cache.get(repo, &obj.chunks[i].id)?;
                if data.len() != obj.chunks[i].len as usize {
                    return Err(Error::corrupt(
                        "file",
                        path,
                        format!("chunk {} has the wrong length", obj.chunks[i].id),
                    ));
                }
                let (from, to) = (starts[i].max(lo), starts[i + 1].min(hi));
                let src = &data[(from - starts[i]) as usize..(to - starts[i]) as usize];
                out[(from - lo) as usize..(to - lo) as usize].copy_from_slice(src);
                i += 1;
            }
            let n = (hi - lo) as usize;
            let padded = n.next_multiple_of(fsutil::DIRECT_ALIGN);
            out[n..padded].fill(0);
            fsutil::write_at_direct(file, &out[..padded], lo)
                .map(drop)
                .ctx("could not write file", path)
        },
    )?;
    if !size.is_multiple_of(fsutil::DIRECT_ALIGN as u64) {
        file.set_len(size).ctx("could not write file", path)?;
    }
    Ok(())
}

/// The whole content of a small object (a symlink's target), checked against its size.
pub fn read_small(repo: &Repository, cache: &ChunkCache, obj: &FileObject) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(obj.size().min(1 << 20) as usize);
    for c in &obj.chunks {
        out.extend_from_slice(&cache.get(repo, &c.id)?);
    }
    Ok(out)
}

/// Streams bytes `start..end` (exclusive) of a file to `out`, reading only the chunks that
/// cover the range, one at a time.
pub fn copy_range(
    repo: &Repository,
    cache: &ChunkCache,
    obj: &FileObject,
    start: u64,
    end: u64,
    out: &mut dyn Write,
) -> Result<()> {
    let mut off = 0u64;
    for c in &obj.chunks {
        let (cs, ce) = (off, off + c.len as u64);
        off = ce;
        if ce <= start {
            continue;
        }
        if cs >= end {
            break;
        }
        let data = cache.get(repo, &c.id)?;
        let lo = start.saturating_sub(cs) as usize;
        let hi = (end.min(ce) - cs) as usize;
        out.write_all(&data[lo..hi]).map_err(|e| Error::Io {
            op: "could not write output",
            path: "<stdout>".into(),
            source: e,
        })?;
    }
    Ok(())
}
