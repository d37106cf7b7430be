//! The way from hashing threads to one pack writer thread: a sink that sends each new chunk
//! once, compressed and in batches, over a bounded channel to [`write_batches`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use super::seen::SharedIdSet;
use super::{compress, Encoded, ObjectKind, PackWriter, Store};
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::ingest::ChunkSink;

/// Bounds the batches waiting for the pack writer: at most this many, of at most
/// `BATCH_BYTES` plus one chunk each, are in memory at once.
const QUEUE: usize = 2;
/// Chunks go to the pack writer in batches: one channel message (and one wake-up of the
/// writer) per chunk cost a futex call per small file.
const BATCH_BYTES: usize = 512 << 10;
const BATCH_ITEMS: usize = 512;

/// Chunks on their way to the pack writer, compressed.
pub type Batch = Vec<(ObjectId, Encoded)>;

/// What the pack writer thread receives.
pub enum Msg {
    /// Chunks to append.
    Batch(Batch),
    /// Publish the current pack and keep every pack written so far, then answer.
    Seal(SyncSender<Result<()>>),
}

/// The bounded channel between a [`StoreSink`] and [`write_batches`].
pub fn batch_channel() -> (SyncSender<Msg>, Receiver<Msg>) {
    sync_channel(QUEUE)
}

/// What a sink let through: new chunks, their bytes, and those bytes compressed.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinkCounts {
    /// New chunks sent to the pack writer.
    pub chunks: u64,
    /// Their bytes before compression.
    pub raw: u64,
    /// Their bytes as compressed for the packs (record headers not counted).
    pub stored: u64,
}

/// Sends new chunks to the pack writer, once each: the store's indexes catch chunks stored
/// before, the set catches chunks seen earlier in this run, by any thread.
pub struct StoreSink<'a> {
    store: &'a Store,
    seen: SharedIdSet,
    tx: SyncSender<Msg>,
    /// Chunks not yet sent, and their stored bytes.
    batch: Mutex<(Batch, usize)>,
    level: i32,
    chunks: AtomicU64,
    raw: AtomicU64,
    stored: AtomicU64,
}

impl ChunkSink for StoreSink<'_> {
    fn chunk(&self, id: ObjectId, data: &[u8]) -> Result<()> {
        if self.store.contains(&id) || !self.seen.insert(id) {
            return Ok(());
        }
        let enc = compress(data, self.level);
        self.chunks.fetch_add(1, Relaxed);
        self.raw.fetch_add(data.len() as u64, Relaxed);
        self.stored.fetch_add(enc.bytes.len() as u64, Relaxed);
        let full = {
            let mut b = self.batch.lock().expect("no panics holding the batch");
            b.1 += enc.bytes.len();
            b.0.push((id, enc));
            (b.1 >= BATCH_BYTES || b.0.len() >= BATCH_ITEMS).then(|| std::mem::take(&mut *b).0)
        };
        full.map_or(Ok(()), |batch| self.send(batch))
    }
}

impl<'a> StoreSink<'a> {
    /// A sink that skips what `store` holds, compresses at zstd `level` and sends to `tx`.
    pub fn new(store: &'a Store, level: i32, tx: SyncSender<Msg>) -> StoreSink<'a> {
        StoreSink {
            store,
            seen: SharedIdSet::default(),
            tx,
            batch: Mutex::default(),
            level,
            chunks: AtomicU64::new(0),
            raw: AtomicU64::new(0),
            stored: AtomicU64::new(0),
        }
    }

    fn send(&self, batch: Batch) -> Result<()> {
        self.tx.send(Msg::Batch(batch)).map_err(|_| stopped())
    }

    /// Makes every chunk this sink let through so far durable in published packs that a
    /// later failure does not withdraw: a checkpoint, after which an index may name them.
    pub fn seal(&self) -> Result<()> {
        self.flush()?;
        let (tx, rx) = sync_channel(1);
        self.tx.send(Msg::Seal(tx)).map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }

    /// Sends what is left once every file was read.
    pub fn flush(&self) -> Result<()> {
        let (batch, _) = std::mem::take(&mut *self.batch.lock().expect("no panics"));
        if batch.is_empty() {
            return Ok(());
        }
        self.send(batch)
    }

    /// Closes the channel (the writer ends when its last sender is gone) and returns what
    /// went through.
    pub fn finish(self) -> SinkCounts {
        SinkCounts {
            chunks: self.chunks.into_inner(),
            raw: self.raw.into_inner(),
            stored: self.stored.into_inner(),
        }
    }
}

/// The writer thread's loop: every chunk received goes into `w`'s packs, which are
/// published when the channel closes. Returns the packs written; none when `abort` was set
/// meanwhile, since dropping the writer discards what it wrote.
pub fn write_batches(mut w: PackWriter, rx: Receiver<Msg>, abort: &AtomicBool) -> Result<usize> {
    for msg in rx {
        match msg {
            Msg::Batch(batch) => {
                for (id, enc) in batch {
                    w.add(id, ObjectKind::Chunk, &enc)?;
                }
            }
            Msg::Seal(answer) => {
                // On failure the caller hears that the writer stopped, and the writer's own
                // result (reported first) says why.
                w.seal()?;
                let _ = answer.send(Ok(()));
            }
        }
    }
    if abort.load(Relaxed) {
        return Ok(0);
    }
    Ok(w.finish()?.len())
}

fn stopped() -> Error {
    Error::Internal {
        what: "the pack writer stopped",
    }
}
