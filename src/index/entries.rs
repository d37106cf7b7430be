//! A reader for the start of the staging index payload: `base_tree` and the entries, the
//! bulk of the file, decoded straight into the in-memory map.
//!
//! These bytes are bincode 2's standard encoding (FORMAT.md section 14), and the writer is
//! bincode; reading them by hand decodes an entry in a third of the instructions bincode's
//! generic decoder takes, which a status of 200,000 files pays once per entry. The pinned
//! vectors in tests/format_vectors.rs hold the two to the same bytes.
//!
//! The payload is read from the file through a window ([`Source`]), hashed as it passes,
//! so a million entries are never held twice in memory (as bytes and as the map).

use std::io::Read;
use std::sync::mpsc;

use super::paths::PathCheck;
use super::tracked::Map as Entries;
use super::{Content, IndexEntry, Stat};
use crate::hash::{HashAlgo, Hasher, ObjectId};
use crate::object::ChunkRef;

/// How much of the payload is read at a time.
const WINDOW: usize = 1 << 18;

/// The payload, read from a file in windows and hashed on the way. What it refuses it
/// says as a `String`; an I/O error is kept apart in `failed`, for the caller to report
/// as one.
pub(super) struct Source<'r> {
    r: &'r mut dyn Read,
    buf: Vec<u8>,
    at: usize,
    end: usize,
    /// Payload bytes not yet read into `buf`.
    left: u64,
    sum: Hasher,
    failed: Option<std::io::Error>,
}

impl<'r> Source<'r> {
    /// The `len` payload bytes that `r` holds next; `sum` has hashed what came before.
    pub(super) fn new(r: &'r mut dyn Read, len: u64, sum: Hasher) -> Source<'r> {
        Source {
            r,
            buf: Vec::new(),
            at: 0,
            end: 0,
            left: len,
            sum,
            failed: None,
        }
    }

    /// Payload bytes not yet taken.
    fn remaining(&self) -> u64 {
        (self.end - self.at) as u64 + self.left
    }

    /// The next `n` bytes; never more than the payload still holds.
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.end - self.at < n {
            self.fill(n)?;
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    /// Makes at least `n` bytes ready at `at`.
    fn fill(&mut self, n: usize) -> Result<(), String> {
        if n as u64 > self.remaining() {
            return Err("the payload ends inside an entry".into());
        }
        self.buf.copy_within(self.at..self.end, 0);
        self.end -= self.at;
        self.at = 0;
        let room = (n.max(WINDOW) as u64).min(self.end as u64 + self.left) as usize;
        if self.buf.len() < room {
            self.buf.resize(room, 0);
        }
        let k = (self.buf.len() - self.end).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let fresh = &mut self.buf[self.end..self.end + k];
        if let Err(e) = self.r.read_exact(fresh) {
            self.failed = Some(e);
            return Err("the file could not be read".into());
        }
        self.sum.update(fresh);
        self.end += k;
        self.left -= k as u64;
        Ok(())
    }

    /// The rest of the payload (the small tail after the entries).
    pub(super) fn rest(&mut self) -> Result<Vec<u8>, String> {
        let n = usize::try_from(self.remaining()).map_err(|_| "the payload is too large")?;
        Ok(self.take(n)?.to_vec())
    }

    /// Reads whatever is left of the payload and returns the hash of everything read, or
    /// the error that stopped reading.
    pub(super) fn finish(mut self) -> std::io::Result<ObjectId> {
        while self.failed.is_none() && self.remaining() > 0 {
            let n = self.remaining().min(WINDOW as u64) as usize;
            let _ = self.take(n);
        }
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.sum.finish()),
        }
    }
}

/// The fewest bytes an entry takes: an empty path's length, kind, mode, five stat fields,
/// and the file id with an empty chunk list (its count or shape), or one chunk with its
/// shape. Counts read from the file are capped by what the remaining bytes could hold, so
/// a hostile count reserves nothing.
const MIN_ENTRY: usize = 1 + 1 + 1 + 5 + 32 + 1;
/// A chunk reference: its id and a length of at least one byte.
const MIN_CHUNK: usize = 33;

/// Entries handed from the decoder to the map builder at a time: small enough that the
/// three batches that exist at most (one filling, one queued, one emptying) stay in the
/// cache and add no memory to speak of (about 75 KB each), large enough that the hand-over
/// costs nothing per entry.
const BATCH: usize = 512;

/// Decoded entries on their way to the map, their paths one after another in one buffer.
#[derive(Default)]
struct Batch {
    paths: Vec<u8>,
    ends: Vec<usize>,
    entries: Vec<IndexEntry>,
}

impl Batch {
    fn with_capacity(n: usize) -> Batch {
        Batch {
            paths: Vec::with_capacity(n * 32),
            ends: Vec::with_capacity(n),
            entries: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn clear(&mut self) {
        self.paths.clear();
        self.ends.clear();
        self.entries.clear();
    }
}

/// Reads `base_tree` and the entries from the start of the payload, checking the paths on
/// the way ([`PathCheck`]).
///
/// The calling thread reads, hashes, decodes and checks; a second thread inserts into the
/// map. Inserting a million paths is about half the work of a load (each lands at a random
/// place of a 10 MB hash table), so the two halves on two cores take about half the time.
pub(super) fn read(
    src: &mut Source,
    version: u32,
    algo: HashAlgo,
) -> Result<(Option<ObjectId>, Entries), String> {
    let mut r = Reader { src, version, algo };
    let base_tree = match r.u8()? {
        0 => None,
        1 => Some(r.id()?),
        v => return Err(format!("invalid option tag {v}")),
    };
    let n = r.len(MIN_ENTRY)?;
    // Room for a few new paths: a map loaded exactly full grows on its first insert, a copy
    // of every entry (88 MB at a million) to stage one new file.
    let room = n + n / 64 + 64;
    // The paths' bytes are known only once read; all but the fewest bytes of the other
    // fields can be paths. Pages of the arena never written take no memory.
    let most = r
        .src
        .remaining()
        .saturating_sub((n * (MIN_ENTRY - 1)) as u64);
    let path_bytes = usize::try_from(most).unwrap_or(usize::MAX);
    // Made here, so that the builder allocates nothing and costs no allocator heap of its own.
    let Some(entries) = Entries::try_with_capacity(room, path_bytes) else {
        return Err(format!("its {n} entries do not fit in memory"));
    };
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(1);
    let (empty_tx, empty_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let builder = std::thread::Builder::new()
            .name("index-map".into())
            .spawn_scoped(s, move || build(entries, full_rx, empty_tx));
        let builder = match builder {
            Ok(b) => b,
            Err(e) => {
                // Reported as the I/O error it is (out of threads), not as damage.
                r.src.failed = Some(e);
                return Err("a thread could not be started".into());
            }
        };
        let decoded = decode_all(&mut r, n, &full_tx, &empty_rx);
        drop(full_tx);
        let entries = builder
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        decoded?;
        Ok((base_tree, entries))
    })
}

/// Decodes and checks `n` entries, handing them over in batches.
fn decode_all(
    r: &mut Reader,
    n: usize,
    full: &mpsc::SyncSender<Batch>,
    empty: &mpsc::Receiver<Batch>,
) -> Result<(), String> {
    let mut check = PathCheck::default();
    let mut batch = Batch::with_capacity(BATCH.min(n));
    for _ in 0..n {
        let path = r.bytes()?;
        let start = batch.paths.len();
        batch.paths.extend_from_slice(path);
        let entry = r.entry()?;
        check.next(&batch.paths[start..], entry.kind)?;
        batch.ends.push(batch.paths.len());
        batch.entries.push(entry);
        if batch.len() == BATCH {
            let mut fresh = empty
                .try_recv()
                .unwrap_or_else(|_| Batch::with_capacity(BATCH));
            fresh.clear();
            if full.send(std::mem::replace(&mut batch, fresh)).is_err() {
                return Err("the index map could not be built".into());
            }
        }
    }
    if batch.len() > 0 && full.send(batch).is_err() {
        return Err("the index map could not be built".into());
    }
    Ok(())
}

/// Appends the batches to `entries` (their paths are checked to be strictly sorted, so
/// each is new), handing the emptied batches back.
fn build(mut entries: Entries, full: mpsc::Receiver<Batch>, empty: mpsc::Sender<Batch>) -> Entries {
    for mut batch in full {
        let mut start = 0;
        for (&end, entry) in batch.ends.iter().zip(batch.entries.drain(..)) {
            entries.push_unique(&batch.paths[start..end], entry);
            start = end;
        }
        let _ = empty.send(batch);
    }
    entries
}

struct Reader<'s, 'r> {
    src: &'s mut Source<'r>,
    /// The file's version: before 5, every entry holds its file id.
    version: u32,
    algo: HashAlgo,
}

impl Reader<'_, '_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        self.src.take(n)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// bincode's varint: one byte up to 250, else a marker for a 2, 4 or 8 byte integer.
    fn varint(&mut self, max: u64) -> Result<u64, String> {
        let v = match self.u8()? {
            v @ 0..=250 => u64::from(v),
            251 => u64::from(u16::from_le_bytes(self.array()?)),
            252 => u64::from(u32::from_le_bytes(self.array()?)),
            253 if max > u64::from(u32::MAX) => u64::from_le_bytes(self.array()?),
            m => return Err(format!("invalid integer marker {m}")),
        };
        Ok(v)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(self.varint(u64::from(u32::MAX))? as u32)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.varint(u64::MAX)
    }

    /// Zigzag: `2n` for `n >= 0`, `-2n - 1` below.
    fn i64(&mut self) -> Result<i64, String> {
        let z = self.u64()?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn id(&mut self) -> Result<ObjectId, String> {
        Ok(ObjectId(self.array()?))
    }

    /// A length prefix for items of at least `min` bytes each.
    fn len(&mut self, min: usize) -> Result<usize, String> {
        let n = self.u64()?;
        self.count(n, min)
    }

    /// A count `n` of items of at least `min` bytes each, checked against what is left.
    fn count(&mut self, n: u64, min: usize) -> Result<usize, String> {
        let room = self.src.remaining() / min as u64;
        if n > room {
            return Err(format!("a length of {n} exceeds what the payload holds"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&[u8], String> {
        let n = self.len(1)?;
        self.take(n)
    }

    fn stat(&mut self) -> Result<Stat, String> {
        Ok(Stat {
            size: self.u64()?,
            mtime_ns: self.i64()?,
            ctime_ns: self.i64()?,
            ino: self.u64()?,
            mode: self.u32()?,
        })
    }

    fn entry(&mut self) -> Result<IndexEntry, String> {
        let kind = self.u8()?;
        let mode = self.u32()?;
        let stat = self.stat()?;
        let content = match self.version {
            ..=4 => {
                let file_id = self.id()?;
                let n = self.len(MIN_CHUNK)?;
                Content::new(self.algo, file_id, self.chunks(n)?)
            }
            _ => self.content()?,
        };
        Ok(IndexEntry {
            kind,
            mode,
            stat,
            content,
        })
    }

    /// Version 5's content: shape 0 and the one chunk whose leaf is the file id, or the
    /// chunk count plus one, the file id and the chunks.
    fn content(&mut self) -> Result<Content, String> {
        let shape = self.u64()?;
        if shape == 0 {
            let chunk = self.chunk()?;
            return Ok(Content::One {
                algo: self.algo,
                chunk,
            });
        }
        let file_id = self.id()?;
        let n = self.count(shape - 1, MIN_CHUNK)?;
        // Kept as compactly as a writer would keep it, so that saving it again writes shape 0
        // for a one-chunk entry whose id is its leaf's (FORMAT.md section 14).
        Ok(Content::new(self.algo, file_id, self.chunks(n)?))
    }

    fn chunk(&mut self) -> Result<ChunkRef, String> {
        Ok(ChunkRef {
            id: self.id()?,
            len: self.u32()?,
        })
    }

    fn chunks(&mut self, n: usize) -> Result<Vec<ChunkRef>, String> {
        (0..n).map(|_| self.chunk()).collect()
    }
}
