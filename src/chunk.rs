//! Content-defined chunking with FastCDC (2020 variant, normalisation level 1).
//!
//! One function, [`Chunker::next_cut`], decides every cut point. A cut depends only on the
//! `max` bytes after the chunk's start, so feeding the same bytes whole, through a file read
//! in windows or through a stream in pieces of any size gives the same chunks.

use std::fs::File;
use std::io::Read;
use std::ops::{ControlFlow, Range};
use std::os::unix::fs::FileExt;
use std::path::Path;

use fastcdc::v2020;
use serde::{Deserialize, Serialize};

/// Chunk size bounds, fixed for a repository's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChunkParams {
    /// The shortest chunk in bytes; only a file's last chunk may be shorter.
    pub min: u32,
    /// The size in bytes cuts aim for on average: a power of two.
    pub avg: u32,
    /// The longest chunk in bytes: a cut is forced there.
    pub max: u32,
}

impl ChunkParams {
    /// The default average chunk size, chosen by measurement (docs/BENCHMARKS.md).
    pub const DEFAULT_AVG: u32 = 64 * 1024;

    /// Bounds of a quarter and four times the average, as in xet and restic's ratios.
    pub fn with_avg(avg: u32) -> Result<ChunkParams, String> {
        let p = ChunkParams {
            min: avg / 4,
            avg,
            max: avg.saturating_mul(4),
        };
        p.validate().map(|()| p)
    }

    /// Checks the bounds against what the FastCDC implementation accepts.
    pub fn validate(&self) -> Result<(), String> {
        let ok = self.avg.is_power_of_two()
            && (1024..=v2020::AVERAGE_MAX).contains(&self.avg)
            && (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&self.min)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&self.max)
            && self.min.is_multiple_of(2)
            && self.min < self.avg
            && self.avg < self.max;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "chunk sizes min {} avg {} max {} are out of range: the average must be a power \
                 of two from 1 KiB to 4 MiB",
                self.min, self.avg, self.max
            ))
        }
    }
}

impl Default for ChunkParams {
    fn default() -> Self {
        ChunkParams::with_avg(Self::DEFAULT_AVG).expect("default chunk sizes are valid")
    }
}

/// Finds cut points for one set of parameters.
#[derive(Debug, Clone)]
pub struct Chunker {
    params: ChunkParams,
    mask_s: u64,
    mask_l: u64,
}

impl Chunker {
    /// A chunker for `params`, which must have passed [`ChunkParams::validate`].
    pub fn new(params: ChunkParams) -> Chunker {
        // Normalisation level 1, as `v2020::FastCDC::new` does.
        let bits = v2020::logarithm2(params.avg);
        Chunker {
            params,
            mask_s: v2020::MASKS[(bits + 1) as usize],
            mask_l: v2020::MASKS[(bits - 1) as usize],
        }
    }

    /// The bounds the chunker cuts within.
    pub fn params(&self) -> ChunkParams {
        self.params
    }

    /// The length of the chunk that starts at `data[0]`, or `None` when `data` is empty or
    /// when more input could still move the cut (`eof` false and fewer than `max` bytes).
    pub fn next_cut(&self, data: &[u8], eof: bool) -> Option<usize> {
        if data.is_empty() || (!eof && data.len() < self.params.max as usize) {
            return None;
        }
        let (_, len) = v2020::cut(
            data,
            self.params.min as usize,
            self.params.avg as usize,
            self.params.max as usize,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
        );
        Some(len)
    }

    /// Cuts `data` from its start as far as is final, appending ranges to `out`. Returns the
    /// offset where the undecided tail starts (`data.len()` when `eof`).
    pub fn cut_all(&self, data: &[u8], eof: bool, out: &mut Vec<Range<usize>>) -> usize {
        let mut pos = 0;
        while let Some(len) = self.next_cut(&data[pos..], eof) {
            out.push(pos..pos + len);
            pos += len;
        }
        pos
    }

    /// The chunk ranges of a complete buffer.
    pub fn cuts(&self, data: &[u8]) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        self.cut_all(data, true, &mut out);
        out
    }

    /// Chunks a stream in bounded memory, calling `f` with each chunk in order.
    pub fn stream<R: Read>(
        &self,
        mut reader: R,
        mut f: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let cap = self.params.max as usize * 4;
        let mut buf = vec![0u8; cap];
        let (mut start, mut end, mut eof) = (0usize, 0usize, false);
        let mut cuts = Vec::new();
        loop {
            while !eof && end < cap {
                match reader.read(&mut buf[end..]) {
                    Ok(0) => eof = true,
                    Ok(n) => end += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            cuts.clear();
            let used = self.cut_all(&buf[start..end], eof, &mut cuts);
            for r in &cuts {
                f(&buf[start + r.start..start + r.end])?;
            }
            start += used;
            if eof {
                return Ok(());
            }
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
    }
}

/// How many bytes of a large file are read at once (at least twice `max`, so that a window
/// that does not end the file always holds a final cut). Two windows are in memory at a time,
/// one being hashed while the next is read and cut, so reading a file of any size takes about
/// twice this.
pub const WINDOW: usize = 8 << 20;

/// Chunks a stream (standard input, a tar member) window by window in one buffer of
/// [`WINDOW`] bytes, whatever its length: `f` gets each window and the chunks that end in it,
/// to hash them in parallel; the undecided tail moves to the front for the next window.
/// Returns the stream's length.
pub fn chunk_stream(
    chunker: &Chunker,
    mut reader: impl Read,
    mut f: impl FnMut(&[u8], &[Range<usize>]) -> Result<(), crate::error::Error>,
    name: &Path,
) -> Result<u64, crate::error::Error> {
    let read_err = |e| crate::error::Error::io("could not read", name)(e);
    let cap = WINDOW.max(2 * chunker.params().max as usize);
    let mut buf = vec![0u8; cap];
    let (mut end, mut total, mut cuts) = (0usize, 0u64, Vec::new());
    loop {
        let mut eof = false;
        while end < cap {
            match reader.read(&mut buf[end..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_err(e)),
            }
        }
        cuts.clear();
        let used = chunker.cut_all(&buf[..end], eof, &mut cuts);
        f(&buf[..end], &cuts)?;
        total += used as u64;
        if eof {
            return Ok(total);
        }
        buf.copy_within(used..end, 0);
        end -= used;
    }
}

/// How a read through [`chunk_file`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windows {
    /// Every byte up to the length given was read and handed over.
    Complete,
    /// The file ended before that length: it shrank while it was read.
    Shrank,
    /// `f` asked to stop: every chunk before `at` was handed over, none after.
    Stopped {
        /// Where the next chunk begins: the `start` of a read that goes on.
        at: u64,
    },
}

/// What every window of one read shares.
#[derive(Clone, Copy)]
struct Source<'a> {
    chunker: &'a Chunker,
    file: &'a File,
    /// The file's length when the read began: no byte past it is read.
    len: u64,
    /// The size of a window's buffer.
    cap: usize,
}

/// One window of a file, read into a private buffer, and the chunks that end inside it.
#[derive(Default)]
struct Window {
    /// Offset in the file of `buf[0]`.
    pos: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` that hold file data.
    end: usize,
    cuts: Vec<Range<usize>>,
    /// Bytes that the cuts cover; `buf[used..end]` starts the next window.
    used: usize,
}

impl Window {
    /// Makes this the window at `pos`: `carry` (the undecided tail of the previous window,
    /// whose first byte is at `pos`), then file bytes up to the buffer's size or the end,
    /// then cut. `Ok(false)` when the file ended early.
    fn fill(&mut self, src: Source, pos: u64, carry: &[u8]) -> std::io::Result<bool> {
        let read_from = pos + carry.len() as u64;
        let want = (carry.len() as u64 + (src.len - read_from)).min(src.cap as u64) as usize;
        if self.buf.len() < want {
            self.buf.resize(want, 0); // once per buffer: later windows reuse it
        }
        self.buf[..carry.len()].copy_from_slice(carry);
        if !read_full(src.file, read_from, &mut self.buf[carry.len()..want])? {
            return Ok(false);
        }
        advise(
            src.file,
            pos + want as u64,
            src.cap as u64,
            libc::POSIX_FADV_WILLNEED,
        );
        self.pos = pos;
        self.end = want;
        self.cuts.clear();
        let eof = pos + want as u64 == src.len;
        self.used = src.chunker.cut_all(&self.buf[..want], eof, &mut self.cuts);
        Ok(true)
    }

    /// Where the next window starts and the bytes it takes over; `None` after the last.
    fn rest(&self, len: u64) -> Option<(u64, &[u8])> {
        let next = self.pos + self.used as u64;
        (next < len).then(|| (next, &self.buf[self.used..self.end]))
    }
}

/// Fills `buf` from the file at `pos`; `Ok(false)` when the file ends first.
fn read_full(file: &File, mut pos: u64, mut buf: &mut [u8]) -> std::io::Result<bool> {
    while !buf.is_empty() {
        match file.read_at(buf, pos) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Chunks a large file's bytes from `start` to `len`, read window by window with `pread`
/// into two private buffers that are reused for every window. `f` receives each window (its
/// offset in the file, its bytes, and the chunks that end inside it) so it can work on the
/// chunks of a window in parallel; meanwhile the next window is read and cut. When `f`
/// answers [`ControlFlow::Break`], the read stops after that window ([`Windows::Stopped`]).
///
/// `start` must be where a chunk of the same file, chunked from 0, begins (0, or where an
/// earlier read stopped): a cut depends only on the bytes since the previous cut, so the
/// chunks from there are the chunks a whole read would give.
///
/// Why not a memory map: the bytes `f` sees are a private copy, so another process writing
/// the file cannot change a chunk between its hashing and its storing, and a file that
/// shrinks gives a short read ([`Windows::Shrank`]) where a map would raise SIGBUS. From a
/// warm cache the copy costs about what the map's page faults did; from a cold one reading
/// is slower (docs/BENCHMARKS.md, "Reading large files").
pub fn chunk_file<F>(
    chunker: &Chunker,
    file: &File,
    (start, len): (u64, u64),
    mut f: F,
    path: &Path,
) -> crate::Result<Windows>
where
    F: FnMut(u64, &[u8], &[Range<usize>]) -> crate::Result<ControlFlow<()>> + Send,
{
    if start >= len {
        return Ok(Windows::Complete);
    }
    advise(file, 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    let cap = WINDOW.max(2 * chunker.params.max as usize);
    let src = Source {
        chunker,
        file,
        len,
        cap: (cap as u64).min(len - start) as usize,
    };
    let read_err = |e| crate::Error::io("could not read file", path)(e);
    let (mut current, mut spare) = (Window::default(), Window::default());
    if !current.fill(src, start, &[]).map_err(&read_err)? {
        return Ok(Windows::Shrank);
    }
    loop {
        let rest = current.rest(len);
        let (done, next) = rayon::join(
            || f(current.pos, &current.buf[..current.end], &current.cuts),
            || rest.map(|(pos, carry)| spare.fill(src, pos, carry)),
        );
        if done?.is_break() {
            if let Some((at, _)) = rest {
                return Ok(Windows::Stopped { at });
            }
        }
        match next.transpose().map_err(&read_err)? {
            None => return Ok(Windows::Complete),
            Some(false) => return Ok(Windows::Shrank),
            Some(true) => std::mem::swap(&mut current, &mut spare),
        }
    }
}

/// Advice to the kernel about `len` bytes at `offset` (0 for the whole file); failure
/// changes nothing. `SEQUENTIAL` doubles the read-ahead. `WILLNEED` for the next window,
/// given as a window is read, starts its disk reads while this one is hashed, as a map's
/// page faults did by themselves: it took a cold-cache 2 GiB add from 9.1 to 7.6 s (median;
/// 5.6 s through a map, docs/BENCHMARKS.md, "Reading large files"). One call a window.
fn advise(file: &File, offset: u64, len: u64, advice: libc::c_int) {
    crate::fsutil::advise(file, offset, len, advice);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::random_bytes;

    fn small() -> Chunker {
        Chunker::new(ChunkParams::with_avg(4096).unwrap())
    }

    #[test]
    fn cuts_cover_input_within_bounds() {
        let c = small();
        let data = random_bytes(1, 300_000);
        let cuts = c.cuts(&data);
        assert_eq!(cuts.first().unwrap().start, 0);
        assert_eq!(cuts.last().unwrap().end, data.len());
        for w in cuts.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        let p = c.params();
        for r in &cuts[..cuts.len() - 1] {
            assert!(r.len() >= p.min as usize && r.len() <= p.max as usize);
        }
    }

    #[test]
    fn edge_cases() {
        let c = small();
        assert!(c.cuts(&[]).is_empty());
        assert_eq!(c.cuts(&[7]), vec![0..1]);
        let zeros = vec![0u8; 16384 * 3];
        let cuts = c.cuts(&zeros);
        assert!(cuts.iter().all(|r| r.len() == 16384));
        let exact = random_bytes(3, 16384);
        assert_eq!(c.cuts(&exact).last().unwrap().end, 16384);
    }

    #[test]
    fn stream_equals_whole() {
        let c = small();
        let data = random_bytes(2, 200_000);
        let want: Vec<Vec<u8>> = c
            .cuts(&data)
            .into_iter()
            .map(|r| data[r].to_vec())
            .collect();
        let mut got = Vec::new();
        c.stream(&data[..], |ch| {
            got.push(ch.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want);
    }

    /// The chunks of `data` read as a file through [`chunk_file`], checking each window's
    /// bytes against `data`; `during` runs on the file after each window is handed over.
    fn read_as_file(
        c: &Chunker,
        data: &[u8],
        during: impl Fn(&File) + Sync,
    ) -> (Windows, Vec<Range<usize>>) {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, data).unwrap();
        let mut got = Vec::new();
        let read = chunk_file(
            c,
            &f,
            (0, data.len() as u64),
            |off, win, cuts| {
                for r in cuts {
                    let s = off as usize + r.start;
                    assert_eq!(&win[r.clone()], &data[s..s + r.len()]);
                    got.push(s..s + r.len());
                }
                during(&f);
                Ok(ControlFlow::Continue(()))
            },
            Path::new("t"),
        )
        .unwrap();
        (read, got)
    }

    #[test]
    fn windows_equal_whole() {
        let c = small();
        let data = random_bytes(4, WINDOW * 2 + 12345);
        let (read, got) = read_as_file(&c, &data, |_| {});
        assert_eq!(read, Windows::Complete);
        assert_eq!(got, c.cuts(&data));
    }

    /// A read stopped after a window and started again where it stopped gives the chunks
    /// of one whole read: what lets a long add go on from a checkpoint inside a file.
    #[test]
    fn a_stopped_read_goes_on_where_it_stopped() {
        let c = small();
        let data = random_bytes(8, WINDOW * 3 + 4321);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let (mut got, mut start, mut stops) = (Vec::new(), 0u64, 0);
        loop {
            let read = chunk_file(
                &c,
                &f,
                (start, data.len() as u64),
                |off, _, cuts| {
                    got.extend(
                        cuts.iter()
                            .map(|r| off as usize + r.start..off as usize + r.end),
                    );
                    Ok(ControlFlow::Break(()))
                },
                Path::new("t"),
            )
            .unwrap();
            match read {
                Windows::Stopped { at } => {
                    assert_eq!(at as usize, got.last().unwrap().end);
                    (start, stops) = (at, stops + 1);
                }
                Windows::Complete => break,
                Windows::Shrank => panic!("shrank"),
            }
        }
        assert!(stops >= 3, "{stops} stops");
        assert_eq!(got, c.cuts(&data));
    }

    /// With the largest average (4 MiB), `max` is 16 MiB, more than a default window: the
    /// windows must grow to hold a final cut, or the file would end after its first window.
    #[test]
    fn windows_hold_the_largest_chunks() {
        let c = Chunker::new(ChunkParams::with_avg(v2020::AVERAGE_MAX).unwrap());
        let data = random_bytes(5, c.params().max as usize * 2 + 777);
        let (read, got) = read_as_file(&c, &data, |_| {});
        assert_eq!(read, Windows::Complete);
        assert_eq!(got.last().map(|r| r.end), Some(data.len()));
        assert_eq!(got, c.cuts(&data));
    }

    /// A file cut short while it is read ends the read with `Shrank`: no error, no signal, and
    /// no byte past the new end handed over.
    #[test]
    fn a_file_that_shrinks_is_reported() {
        let c = small();
        let data = random_bytes(6, WINDOW * 3 + 999);
        let (read, got) = read_as_file(&c, &data, |f| f.set_len(1000).unwrap());
        assert_eq!(read, Windows::Shrank);
        assert!(got.last().unwrap().end < data.len());
    }

    /// A length larger than the file (it shrank between its stat and its read).
    #[test]
    fn a_file_shorter_than_its_length_is_reported() {
        let c = small();
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &random_bytes(7, 5000)).unwrap();
        let go_on = |_, _: &[u8], _: &[Range<usize>]| Ok(ControlFlow::Continue(()));
        let read = chunk_file(&c, &f, (0, 6 << 20), go_on, Path::new("t")).unwrap();
        assert_eq!(read, Windows::Shrank);
    }

    #[test]
    fn params_validate() {
        assert!(ChunkParams::with_avg(65536).is_ok());
        assert!(ChunkParams::with_avg(1000).is_err());
        assert!(ChunkParams::with_avg(128).is_err());
        assert!(ChunkParams::with_avg(8 << 20).is_err());
    }
}
