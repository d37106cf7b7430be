//! Open files: a file's chunk list with where each chunk ends, reads that touch only the
//! chunks covering the range, and read-ahead for sequential readers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::cache::Cache;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::FileObject;
use crate::remote::lazy::LazyRemote;
use crate::repo::Repository;

/// How far ahead of a sequential reader chunks are read, at most: enough to keep both
/// cores busy decompressing and hashing while the reader copies.
const AHEAD_MAX: u64 = 32 << 20;

/// One open file.
pub(crate) struct Handle {
    /// The file's name, for messages.
    pub name: String,
    chunks: Vec<ObjectId>,
    /// `ends[i]`: one past the last byte of chunk `i`.
    ends: Vec<u64>,
    /// Where the last read stopped: a read starting there is sequential.
    next: AtomicU64,
    /// Chunks before this index have been handed to the read-ahead.
    ahead_to: AtomicU64,
}

impl Handle {
    /// A handle on `obj`, whose size the tree entry claims to be `size`.
    pub(crate) fn new(obj: FileObject, size: u64, name: String) -> Result<Handle> {
        if obj.size() != size {
            return Err(Error::corrupt(
                "file",
                std::path::Path::new(&name),
                format!("content is {} bytes, the tree says {size}", obj.size()),
            ));
        }
        let mut end = 0;
        let ends = obj
            .chunks
            .iter()
            .map(|c| {
                end += u64::from(c.len);
                end
            })
            .collect();
        Ok(Handle {
            name,
            chunks: obj.chunks.iter().map(|c| c.id).collect(),
            ends,
            next: AtomicU64::new(0),
            ahead_to: AtomicU64::new(0),
        })
    }

    fn size(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    fn start_of(&self, i: usize) -> u64 {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    /// The chunk indexes covering bytes `start..end`.
    fn covering(&self, start: u64, end: u64) -> std::ops::Range<usize> {
        let first = self.ends.partition_point(|&e| e <= start);
        let last = self.ends.partition_point(|&e| e < end);
        first..(last + 1).min(self.ends.len()).max(first)
    }
}

/// Reads file contents through the verified chunk cache, fetching missing chunks from the
/// remote when there is one.
pub(crate) struct Reader {
    pub repo: Arc<Repository>,
    pub cache: Arc<Cache>,
    pub lazy: Option<Arc<LazyRemote>>,
    ahead: Option<SyncSender<(Arc<Handle>, usize)>>,
    window: u64,
}

impl Reader {
    /// A reader over `cache`, with `threads` read-ahead workers (none: no read-ahead).
    pub(crate) fn new(
        repo: Arc<Repository>,
        cache: Arc<Cache>,
        lazy: Option<Arc<LazyRemote>>,
        threads: usize,
    ) -> Arc<Reader> {
        let (tx, rx) = sync_channel::<(Arc<Handle>, usize)>(256);
        let cap = cache.cap() as u64;
        let reader = Arc::new(Reader {
            repo,
            cache,
            lazy,
            ahead: (threads > 0).then_some(tx),
            // Read-ahead never takes more than half the cache, or it would evict what the
            // reader is about to copy.
            window: AHEAD_MAX.min(cap / 2),
        });
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let (weak, rx) = (Arc::downgrade(&reader), Arc::clone(&rx));
            std::thread::Builder::new()
                .name("cairn-mount-ahead".into())
                .spawn(move || read_ahead(&weak, &rx))
                .ok();
        }
        reader
    }

    /// Bytes `offset..offset + len` of the file (fewer only at its end). Any chunk that
    /// cannot be read or does not match its id fails the whole read: never wrong bytes.
    pub(crate) fn read(&self, h: &Arc<Handle>, offset: u64, len: u32) -> Result<Bytes> {
        let end = (offset + u64::from(len)).min(h.size());
        if offset >= end {
            return Ok(Bytes::new());
        }
        let range = h.covering(offset, end);
        let sequential = h.next.swap(end, Ordering::Relaxed) == offset;
        if sequential {
            self.schedule(h, range.end);
        }
        self.fetch_missing(h, range.clone())?;
        let slice = |i: usize| {
            let cs = h.start_of(i);
            let lo = offset.saturating_sub(cs) as usize;
            lo..(end.min(h.ends[i]) - cs) as usize
        };
        // Inside one chunk (most reads): answered from the cached chunk, with no copy.
        if range.len() == 1 {
            return Ok(self.chunk(h, range.start)?.slice(slice(range.start)));
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        for i in range {
            out.extend_from_slice(&self.chunk(h, i)?[slice(i)]);
        }
        Ok(Bytes::from(out))
    }

    /// The whole content of a small object (a symlink's target), checked against its size.
    pub(crate) fn read_small(&self, obj: &FileObject) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(obj.size().min(1 << 20) as usize);
        for c in &obj.chunks {
            out.extend_from_slice(&self.cache.chunk(&self.repo, &c.id)?);
        }
        Ok(out)
    }

    /// Chunk `i` of `h`, checked against its id and its length in the file.
    fn chunk(&self, h: &Handle, i: usize) -> Result<Bytes> {
        let data = self.cache.chunk(&self.repo, &h.chunks[i])?;
        if data.len() as u64 != h.ends[i] - h.start_of(i) {
            return Err(Error::corrupt(
                "chunk",
                self.repo.dir(),
                format!(
                    "chunk {} has another length than its file says",
                    h.chunks[i]
                ),
            ));
        }
        Ok(data)
    }

    /// Hands the chunks after `from`, up to the window, to the read-ahead workers.
    fn schedule(&self, h: &Arc<Handle>, from: usize) {
        let Some(tx) = &self.ahead else { return };
        let limit = h.start_of(from.min(h.ends.len())) + self.window;
        let mut i = (h.ahead_to.load(Ordering::Relaxed) as usize).max(from);
        while i < h.ends.len() && h.start_of(i) < limit {
            match tx.try_send((Arc::clone(h), i)) {
                Ok(()) => i += 1,
                // Workers busy: the reader reads the rest itself.
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => break,
            }
        }
        h.ahead_to.fetch_max(i as u64, Ordering::Relaxed);
    }

    /// In a partial clone, fetches the chunks of `range` and the read-ahead window that
    /// were never fetched, in one batch of ranged reads.
    fn fetch_missing(&self, h: &Handle, range: std::ops::Range<usize>) -> Result<()> {
        let Some(lazy) = &self.lazy else {
            return Ok(());
        };
        let missing = |i: &usize| self.repo.store.locate(&h.chunks[*i]).is_none();
        if !range.clone().any(|i| missing(&i)) {
            return Ok(());
        }
        let limit = h.start_of(range.end.min(h.ends.len())) + self.window;
        let want: HashSet<ObjectId> = (range.start..h.ends.len())
            .take_while(|&i| i < range.end || h.start_of(i) < limit)
            .filter(missing)
            .map(|i| h.chunks[i])
            .collect();
        lazy.fetch(&self.repo, &want).map(|_| ())
    }
}

/// A read-ahead worker: reads chunks into the cache until the reader is gone. Errors are
/// left for the read that needs the chunk to report.
fn read_ahead(reader: &std::sync::Weak<Reader>, rx: &Mutex<Receiver<(Arc<Handle>, usize)>>) {
    loop {
        let job = rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok((h, i)) = job else { return };
        let Some(reader) = reader.upgrade() else {
            return;
        };
        if reader.repo.store.locate(&h.chunks[i]).is_some() {
            let _ = reader.chunk(&h, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ChunkRef;

    fn handle(lens: &[u32]) -> Handle {
        let chunks = lens
            .iter()
            .map(|&len| ChunkRef {
                id: ObjectId::from_slice(&[len as u8; 32]).unwrap(),
                len,
            })
            .collect();
        let obj = FileObject { chunks };
        let size = obj.size();
        Handle::new(obj, size, "f".into()).unwrap()
    }

    #[test]
    fn the_chunks_covering_a_range_are_exactly_those_it_touches() {
        let h = handle(&[10, 5, 20]);
        assert_eq!(h.covering(0, 10), 0..1);
        assert_eq!(h.covering(9, 11), 0..2);
        assert_eq!(h.covering(10, 15), 1..2);
        assert_eq!(h.covering(14, 16), 1..3);
        assert_eq!(h.covering(15, 35), 2..3);
        assert_eq!(h.covering(0, 35), 0..3);
    }

    #[test]
    fn a_size_that_differs_from_the_tree_is_refused() {
        let obj = FileObject {
            chunks: vec![ChunkRef {
                id: ObjectId::from_slice(&[1; 32]).unwrap(),
                len: 3,
            }],
        };
        assert!(Handle::new(obj, 4, "f".into()).is_err());
    }
}
