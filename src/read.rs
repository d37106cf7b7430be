//! Reading layers back: path lookups in trees, flattening, and file contents through a
//! byte-bounded cache of verified chunks.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::diff::check_depth;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::{EntryKind, FileObject, Tree, TreeEntry};
use crate::repo::Repository;
use crate::repo_path::RepoPath;

/// The cached chunks and their total size in bytes.
type Lru = (LruCache<ObjectId, Arc<Vec<u8>>>, usize);

/// Decompressed, verified chunks, evicted least-recently-used first past `cap` bytes.
pub struct ChunkCache {
    inner: Mutex<Lru>,
    cap: usize,
}

impl ChunkCache {
    /// An empty cache that keeps up to `cap` bytes of chunks.
    pub fn new(cap: usize) -> ChunkCache {
        ChunkCache {
            inner: Mutex::new((LruCache::unbounded(), 0)),
            cap,
        }
    }

    /// Chunk `id`, from the cache or read from the repository (and checked against its id).
    pub fn get(&self, repo: &Repository, id: &ObjectId) -> Result<Arc<Vec<u8>>> {
        if let Some(hit) = self.lock().0.get(id) {
            return Ok(hit.clone());
        }
        let data = Arc::new(repo.read_chunk(id)?);
        let mut guard = self.lock();
        let (lru, size) = &mut *guard;
        // Counted as allocated, not as used.
        if lru.put(*id, data.clone()).is_none() {
            *size += data.capacity();
        }
        while *size > self.cap {
            match lru.pop_lru() {
                Some((_, old)) => *size -= old.capacity(),
                None => break,
            }
        }
        Ok(data)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock cannot leave the cache inconsistent in a way that
        // matters: at worst the size is off until entries are evicted.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    for part in RepoPath::new(path).components() {
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
/// Directories come before their contents. Bytes in and out, as the library's callers hold
/// them; the walk itself goes by [`RepoPath`].
pub fn flatten(
    repo: &Repository,
    id: &ObjectId,
    prefix: &[u8],
    out: &mut Vec<(Vec<u8>, TreeEntry)>,
) -> Result<()> {
    let prefix = RepoPath::new(prefix);
    flatten_at(repo, id, prefix, prefix.depth(), out)
}

/// `flatten` of a tree `depth` directories below the root.
fn flatten_at(
    repo: &Repository,
    id: &ObjectId,
    prefix: &RepoPath,
    depth: usize,
    out: &mut Vec<(Vec<u8>, TreeEntry)>,
) -> Result<()> {
    check_depth(depth, prefix)?;
    let tree: Tree = repo.read_tree(id)?;
    for e in tree.entries {
        let path = prefix.join(&e.name);
        if e.kind == EntryKind::Dir {
            let id = e.id;
            out.push((path.clone().into_bytes(), e));
            flatten_at(repo, &id, &path, depth + 1, out)?;
        } else {
            out.push((path.into_bytes(), e));
        }
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
        let (cs, ce) = (off, off + u64::from(c.len));
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

/// The entries of the tree `tree` at `paths` (everything when empty) and below them, with
/// their paths, sorted so parents come before children: what restore and export write.
/// A path that is not in the tree is an error naming it.
pub fn select(
    repo: &Repository,
    tree: &ObjectId,
    paths: &[Vec<u8>],
) -> Result<Vec<(Vec<u8>, TreeEntry)>> {
    let mut out = Vec::new();
    if paths.is_empty() {
        flatten(repo, tree, b"", &mut out)?;
        return Ok(out);
    }
    for p in paths {
        let e = lookup(repo, tree, p)?.ok_or_else(|| Error::NotInLayer {
            path: PathBuf::from(RepoPath::new(p).to_string()),
        })?;
        if e.kind == EntryKind::Dir {
            if !p.is_empty() {
                out.push((p.clone(), e.clone()));
            }
            flatten(repo, &e.id, p, &mut out)?;
        } else {
            out.push((p.clone(), e));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}
