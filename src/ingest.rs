//! Reading one worktree file into chunks: the shared core of `add` (which stores the chunks)
//! and `status` (which only hashes them).

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use rayon::prelude::*;

use crate::chunk::{self, Chunker, Windows};
use crate::error::{Error, IoContext, Result};
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::index::{IndexEntry, Stat};
use crate::object::{ChunkRef, EntryKind};
use crate::repo::Repository;
use crate::resume::Partial;

/// Files up to this size are read whole; larger ones in windows (`chunk::chunk_file`).
const READ_WHOLE: u64 = 4 << 20;

/// Files above this size are read through the [`Gate`], when the ingester has one.
const GATED_ABOVE: u64 = 1 << 20;

/// Lets at most a number of files above [`GATED_ABOVE`] be read at once. `add` reads with
/// more threads than cores, so that the reads of small files not in the page cache keep a
/// disk's queue full; each reader of a large file holds a buffer or windows of megabytes,
/// and those stay one a core.
pub(crate) struct Gate {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Gate {
    /// A gate letting `slots` large files through at once (at least one).
    pub(crate) fn new(slots: usize) -> Gate {
        Gate {
            free: Mutex::new(slots.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot; it is given back when the guard is dropped.
    fn enter(&self) -> Slot<'_> {
        // A pool thread waiting here could hold the very jobs that would free a slot.
        debug_assert!(
            rayon::current_thread_index().is_none(),
            "large files are gated on threads outside the pool"
        );
        let mut free = self.free.lock().expect("no panics holding the gate");
        while *free == 0 {
            free = self.freed.wait(free).expect("no panics holding the gate");
        }
        *free -= 1;
        Slot(self)
    }
}

/// A slot of a [`Gate`], held while one large file is read.
struct Slot<'a>(&'a Gate);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().expect("no panics holding the gate") += 1;
        self.0.freed.notify_one();
    }
}

/// How often a file that changes while it is read is read again before giving up.
const RETRIES: usize = 3;

/// Where the chunks of an ingested file go.
pub trait ChunkSink: Sync {
    /// Takes one chunk, `id` being the hash of `data`.
    fn chunk(&self, id: ObjectId, data: &[u8]) -> Result<()>;
}

/// Hashes only: for status.
pub(crate) struct Discard;

impl ChunkSink for Discard {
    fn chunk(&self, _: ObjectId, _: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// Hands chunks on to another sink and reports their bytes as progress, so a bar moves
/// inside a large file instead of jumping when it is done.
pub(crate) struct Reporting<'a> {
    /// Where the chunks go.
    pub(crate) inner: &'a dyn ChunkSink,
    /// Told the length of every chunk.
    pub(crate) progress: &'a dyn crate::progress::Progress,
}

impl ChunkSink for Reporting<'_> {
    fn chunk(&self, id: ObjectId, data: &[u8]) -> Result<()> {
        self.inner.chunk(id, data)?;
        self.progress.advance(0, data.len() as u64);
        Ok(())
    }
}

/// The outcome of one attempt at reading a path.
enum Attempt {
    /// Its entry, and the bytes an earlier read had read (0 unless it went on from one).
    Read(Ingested, u64),
    /// It changed while it was read: read it again.
    Changed,
    /// It vanished.
    Gone,
    /// Asked to stop inside a large file.
    Stopped(Partial),
}

/// How a read that may stop part way ended ([`Ingester::read_from`]).
pub(crate) enum ReadEnd {
    /// Read to its end.
    Done {
        /// The entry, or `None` when the path vanished.
        entry: Option<Ingested>,
        /// Bytes not read again because the read went on from where an earlier one stopped.
        resumed: u64,
    },
    /// Stopped inside a large file, where asked: a later read goes on from there.
    Stopped(Partial),
}

impl ReadEnd {
    fn gone() -> ReadEnd {
        ReadEnd::Done {
            entry: None,
            resumed: 0,
        }
    }
}

/// Told the bytes of each window of a large file as it is read: `true` to stop after it.
pub(crate) type Stop<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// How the windows of one large file were read.
enum Large {
    Complete(Vec<ChunkRef>),
    Shrank,
    /// Every chunk before `at` was read.
    Stopped {
        at: u64,
        chunks: Vec<ChunkRef>,
    },
}

/// Opens a path for reading unless it is a symlink (`ELOOP`), and without blocking should
/// it have become a fifo since the walk saw it.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

pub struct Ingester<'a> {
    pub algo: HashAlgo,
    pub chunker: Chunker,
    pub sink: &'a dyn ChunkSink,
    /// Limits the large files read at once, when more threads read than there are cores.
    gate: Option<&'a Gate>,
}

/// What a file's ingest produced, ready to become an index entry.
pub(crate) type Ingested = IndexEntry;

impl<'a> Ingester<'a> {
    /// An ingester with the repository's hash and chunker settings, handing chunks to `sink`.
    pub fn new(repo: &Repository, sink: &'a dyn ChunkSink) -> Ingester<'a> {
        Ingester {
            algo: repo.algo(),
            chunker: repo.chunker(),
            sink,
            gate: None,
        }
    }

    /// The same ingester, reading files above [`GATED_ABOVE`] through `gate`.
    pub(crate) fn gated(self, gate: &'a Gate) -> Ingester<'a> {
        Ingester {
            gate: Some(gate),
            ..self
        }
    }

    /// One that only hashes: what comparing the worktree with the index needs.
    pub fn hashing(repo: &Repository) -> Ingester<'static> {
        Ingester::new(repo, &Discard)
    }

    /// Reads the file or symlink at `path` (not following a final symlink). `Ok(None)` when
    /// it vanished before it could be read.
    pub fn ingest(&self, path: &Path) -> Result<Option<Ingested>> {
        match self.read_from(path, None, &|_| false)? {
            ReadEnd::Done { entry, .. } => Ok(entry),
            // Unreachable: nothing asked the read to stop.
            ReadEnd::Stopped(_) => Err(Error::Unstable {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Reads `path` as [`Ingester::ingest`] does, going on from where an earlier read of a
    /// large file stopped (`from`) when the file still has the stat data it had then, and
    /// stopping after a window of a large file when `stop` says so.
    pub(crate) fn read_from(
        &self,
        path: &Path,
        mut from: Option<Partial>,
        stop: Stop,
    ) -> Result<ReadEnd> {
        for _ in 0..RETRIES {
            // A file that changed during a read is read again from its first byte.
            let attempt = match open_no_follow(path) {
                Ok(file) => self.regular(&file, path, from.take(), stop)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReadEnd::gone()),
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => self.symlink(path)?,
                Err(e) => return Err(Error::io("could not open file", path)(e)),
            };
            match attempt {
                Attempt::Read(entry, resumed) => {
                    let entry = Some(entry);
                    return Ok(ReadEnd::Done { entry, resumed });
                }
                Attempt::Gone => return Ok(ReadEnd::gone()),
                Attempt::Stopped(partial) => return Ok(ReadEnd::Stopped(partial)),
                Attempt::Changed => continue,
            }
        }
        Err(Error::Unstable {
            path: path.to_path_buf(),
        })
    }

    fn symlink(&self, path: &Path) -> Result<Attempt> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => m,
            Ok(_) => return Ok(Attempt::Changed), // replaced since it was opened
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Attempt::Gone),
            Err(e) => return Err(Error::io("could not stat file", path)(e)),
        };
        let target = match std::fs::read_link(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Attempt::Gone),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Ok(Attempt::Changed),
            Err(e) => return Err(Error::io("could not read symlink", path)(e)),
        };
        let chunks = self.chunk_buffer(target.as_os_str().as_bytes())?;
        let stat = Stat::from_metadata(&meta);
        Ok(Attempt::Read(
            self.entry(EntryKind::Symlink, 0o777, stat, chunks),
            0,
        ))
    }

    /// One attempt at a regular file: its stat data through the open handle before and after
    /// the read, so a file that changed while it was read is read again. Five system calls
    /// for a small file: open, fstat, read, fstat, close. A read that goes on from `from`
    /// compares the stat data before its part with those the first part began with.
    fn regular(
        &self,
        file: &File,
        path: &Path,
        from: Option<Partial>,
        stop: Stop,
    ) -> Result<Attempt> {
        let before = file.metadata().ctx("could not stat file", path)?;
        if !before.is_file() {
            return Err(Error::ChangedType {
                path: path.to_path_buf(),
            });
        }
        let len = before.len();
        let _slot = self.gate.filter(|_| len > GATED_ABOVE).map(Gate::enter);
        let began = Stat::from_metadata(&before);
        let mut resumed = 0;
        let chunks = if len <= READ_WHOLE {
            // Read into spare capacity (no zeroing); `take` stops at the size without the
            // probing reads and size queries of a plain `read_to_end`.
            let mut buf = Vec::with_capacity(len as usize);
            file.take(len)
                .read_to_end(&mut buf)
                .ctx("could not read file", path)?;
            if buf.len() as u64 != len {
                return Ok(Attempt::Changed); // it shrank
            }
            self.chunk_buffer(&buf)?
        } else {
            let from = from.filter(|p| p.stat == began && p.offset <= len);
            resumed = from.as_ref().map_or(0, |p| p.offset);
            match self.chunk_large(file, len, from, path, stop)? {
                Large::Complete(chunks) => chunks,
                Large::Shrank => return Ok(Attempt::Changed),
                // What the next part is checked against: the stat data this one began with.
                Large::Stopped { at, chunks } => {
                    return Ok(Attempt::Stopped(Partial {
                        stat: began,
                        offset: at,
                        chunks,
                    }))
                }
            }
        };
        // A file that grew, shrank or was rewritten during the read has new stat data.
        let after = file.metadata().ctx("could not stat file", path)?;
        let stat = Stat::from_metadata(&after);
        if stat != began {
            return Ok(Attempt::Changed);
        }
        let mode = after.permissions().mode() & 0o7777;
        Ok(Attempt::Read(
            self.entry(EntryKind::File, mode, stat, chunks),
            resumed,
        ))
    }

    fn chunk_buffer(&self, data: &[u8]) -> Result<Vec<ChunkRef>> {
        self.chunker
            .cuts(data)
            .into_iter()
            .map(|r| self.one(&data[r]))
            .collect()
    }

    /// Chunks a large file window by window, hashing the chunks of each window in parallel,
    /// from its first byte or from where the read `from` stopped (its chunks kept).
    fn chunk_large(
        &self,
        file: &File,
        len: u64,
        from: Option<Partial>,
        path: &Path,
        stop: Stop,
    ) -> Result<Large> {
        let (start, mut chunks) = match from {
            Some(p) => (p.offset, p.chunks),
            None => (0, Vec::new()),
        };
        chunks.reserve(
            (len.saturating_sub(start) / u64::from(self.chunker.params().avg)) as usize + 1,
        );
        let read = chunk::chunk_file(
            &self.chunker,
            file,
            (start, len),
            |_, window, cuts| {
                self.hash_window(window, cuts, &mut chunks)?;
                let read = cuts.last().map_or(0, |r| r.end) as u64;
                Ok(match stop(read) {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(()),
                })
            },
            path,
        )?;
        Ok(match read {
            Windows::Complete => Large::Complete(chunks),
            Windows::Shrank => Large::Shrank,
            Windows::Stopped { at } => Large::Stopped { at, chunks },
        })
    }

    /// Reads a stream to its end as the content of a regular file of `mode` (permission
    /// bits), hashing the chunks of each window in parallel, in flat memory. The entry's
    /// stat data are the length and `mtime_ns` only: no file holds them, so a worktree file
    /// at the same path is always read again by status.
    /// `size`, when known (a tar member's), lets a small stream be read whole into a
    /// buffer of its size rather than a window; the stream must then hold exactly that.
    pub(crate) fn ingest_stream(
        &self,
        mut reader: impl Read,
        size: Option<u64>,
        mode: u32,
        mtime_ns: i64,
        name: &Path,
    ) -> Result<Ingested> {
        let mut chunks = Vec::new();
        let size = match size {
            Some(len) if len <= READ_WHOLE => {
                let mut buf = Vec::with_capacity(len as usize);
                (&mut reader)
                    .take(len + 1)
                    .read_to_end(&mut buf)
                    .ctx("could not read", name)?;
                if buf.len() as u64 != len {
                    return Err(Error::corrupt(
                        "stream",
                        name,
                        format!("{} bytes where {len} were announced", buf.len()),
                    ));
                }
                chunks = self.chunk_buffer(&buf)?;
                len
            }
            _ => self.chunk_windows(reader, &mut chunks, name)?,
        };
        let stat = unread_stat(size, mtime_ns, libc::S_IFREG | (mode & 0o7777));
        Ok(self.entry(EntryKind::File, mode & 0o7777, stat, chunks))
    }

    /// Chunks a stream of unknown length window by window into `chunks`; its length.
    fn chunk_windows(
        &self,
        reader: impl Read,
        chunks: &mut Vec<ChunkRef>,
        name: &Path,
    ) -> Result<u64> {
        chunk::chunk_stream(
            &self.chunker,
            reader,
            |window, cuts| self.hash_window(window, cuts, chunks),
            name,
        )
    }

    /// A symlink entry for `target`, stat data being the target's length and `mtime_ns`.
    pub(crate) fn symlink_entry(&self, target: &[u8], mtime_ns: i64) -> Result<Ingested> {
        let chunks = self.chunk_buffer(target)?;
        let stat = unread_stat(target.len() as u64, mtime_ns, libc::S_IFLNK | 0o777);
        Ok(self.entry(EntryKind::Symlink, 0o777, stat, chunks))
    }

    /// Hashes the chunks `cuts` of one window in parallel and appends them, in order, to
    /// `chunks`: what a file read in windows and a stream share.
    fn hash_window(
        &self,
        window: &[u8],
        cuts: &[std::ops::Range<usize>],
        chunks: &mut Vec<ChunkRef>,
    ) -> Result<()> {
        let refs: Result<Vec<ChunkRef>> = cuts
            .par_iter()
            .map(|r| self.one(&window[r.clone()]))
            .collect();
        chunks.extend(refs?);
        Ok(())
    }

    /// Hashes one chunk and hands it to the sink. `data` must be private to this process
    /// (a buffer, never a map of the file): the bytes stored are the bytes hashed.
    fn one(&self, data: &[u8]) -> Result<ChunkRef> {
        let id = self.algo.hash(Domain::Chunk, data);
        self.sink.chunk(id, data)?;
        Ok(ChunkRef {
            id,
            len: data.len() as u32,
        })
    }

    fn entry(&self, kind: EntryKind, mode: u32, stat: Stat, chunks: Vec<ChunkRef>) -> Ingested {
        IndexEntry::of_chunks(kind as u8, mode, stat, self.algo, chunks)
    }
}

/// Given to the work of [`store_with`]: makes what was stored so far permanent.
pub(crate) struct Checkpoint<'a>(&'a crate::pack::StoreSink<'a>);

impl Checkpoint<'_> {
    /// Publishes and keeps every chunk stored so far, so that an index saved next may name
    /// them: a later failure or kill leaves them in place.
    pub(crate) fn seal(&self) -> Result<()> {
        self.0.seal()
    }
}

/// Stat data for content that came from no file of the worktree (a stream, a tar member):
/// its length and time only, so a worktree file at the same path never matches it and is
/// always read again.
fn unread_stat(size: u64, mtime_ns: i64, mode: u32) -> Stat {
    Stat {
        size,
        mtime_ns,
        ctime_ns: 0,
        ino: 0,
        mode,
    }
}

/// What storing through [`store_with`] wrote: the sink's counts and the packs published.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stored {
    /// New chunks and their bytes, raw and compressed.
    pub(crate) counts: crate::pack::sink::SinkCounts,
    /// Pack files written.
    pub(crate) packs: u64,
}

/// Runs `f` with an ingester whose chunks go to new packs of the repository (compressed,
/// each new chunk once, through one pack writer thread) and are reported to `progress` as
/// bytes. The packs are published before this returns, so an index saved afterwards never
/// names a chunk that is not stored. On failure nothing is published.
pub(crate) fn store_with<T>(
    repo: &Repository,
    progress: &dyn crate::progress::Progress,
    f: impl FnOnce(&Ingester, &Checkpoint) -> Result<T>,
) -> Result<(T, Stored)> {
    use crate::pack::sink::{batch_channel, write_batches};
    use crate::pack::{PackClass, PackWriter, StoreSink};
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    let (tx, rx) = batch_channel();
    let abort = &AtomicBool::new(false);
    let (result, packs, counts) = std::thread::scope(|s| {
        // The sink sends each chunk once: the writer need not remember what it wrote.
        let w = PackWriter::for_repo(repo, PackClass::Data).given_each_id_once();
        let writer = s.spawn(move || write_batches(w, rx, abort));
        let sink = StoreSink::new(&repo.store, repo.config.zstd_level(), tx);
        let reporting = Reporting {
            inner: &sink,
            progress,
        };
        let checkpoint = Checkpoint(&sink);
        // Large files one a core, however many threads read.
        let gate = Gate::new(rayon::current_num_threads());
        let ingester = Ingester::new(repo, &reporting).gated(&gate);
        let result = f(&ingester, &checkpoint).and_then(|r| sink.flush().map(|()| r));
        if result.is_err() {
            abort.store(true, Relaxed);
        }
        let counts = sink.finish(); // closes the channel: the writer publishes and ends
        let packs = writer.join().expect("the pack writer does not panic");
        (result, packs, counts)
    });
    // A failed writer explains a failed read ("the pack writer stopped"): report it first.
    let packs = packs?;
    Ok((
        result?,
        Stored {
            counts,
            packs: packs as u64,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkParams;
    use crate::pack::PackIndex;
    use crate::testutil::random_bytes;

    /// Readers on several threads storing the same contents at once, through checkpoints
    /// and across packs: every chunk is written once (the sink's set alone decides, the
    /// writer keeps none), and each one named is stored.
    #[test]
    fn concurrent_duplicates_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
        let contents: Vec<Vec<u8>> = (0..40).map(|i| random_bytes(i, 3000)).collect();
        let progress = crate::progress::NoProgress;
        // Two rounds around a checkpoint, the second overlapping the first: duplicates
        // within a round, across threads, and of chunks in a pack sealed before.
        let (ids, stored) = store_with(&repo, &progress, |ingester, checkpoint| {
            let ids = std::sync::Mutex::new(Vec::new());
            let round = |part: &[Vec<u8>]| {
                (0..8).into_par_iter().try_for_each(|_| {
                    for c in part {
                        let refs = ingester.chunk_buffer(c)?;
                        ids.lock().unwrap().extend(refs.iter().map(|r| r.id));
                    }
                    Ok::<(), Error>(())
                })
            };
            round(&contents[..20])?;
            checkpoint.seal()?;
            round(&contents[10..])?;
            Ok(ids.into_inner().unwrap())
        })
        .unwrap();
        let mut written = Vec::new();
        for e in std::fs::read_dir(repo.packs_dir()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "idx") {
                let idx = PackIndex::open(&p).unwrap();
                written.extend(idx.entries().map(|e| e.unwrap().id));
            }
        }
        written.sort_unstable();
        let n = written.len();
        written.dedup();
        assert_eq!(n, written.len(), "a chunk was written twice");
        let mut named = ids;
        named.sort_unstable();
        named.dedup();
        assert_eq!(written, named, "exactly the chunks read are stored");
        assert_eq!(stored.counts.chunks, n as u64);
        assert_eq!(
            stored.packs, 2,
            "one pack sealed at the checkpoint, one at the end"
        );
    }
}
