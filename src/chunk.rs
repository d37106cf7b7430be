//! Content-defined chunking with FastCDC (2020 variant, normalisation level 1).
//!
//! One function, [`Chunker::next_cut`], decides every cut point. A cut depends only on the
//! `max` bytes after the chunk's start, so feeding the same bytes whole, through memory-mapped
//! windows or through a stream in pieces of any size gives the same chunks.

use std::fs::File;
use std::io::Read;
use std::ops::Range;

use fastcdc::v2020;
use serde::{Deserialize, Serialize};

/// Chunk size bounds, fixed for a repository's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkParams {
    pub min: u32,
    pub avg: u32,
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
    pub fn new(params: ChunkParams) -> Chunker {
        // Normalisation level 1, as `v2020::FastCDC::new` does.
        let bits = v2020::logarithm2(params.avg);
        Chunker {
            params,
            mask_s: v2020::MASKS[(bits + 1) as usize],
            mask_l: v2020::MASKS[(bits - 1) as usize],
        }
    }

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

/// How many bytes of a large file are mapped at once. Two windows are mapped at a time (one
/// being hashed, the next being cut); pages are released when a window is unmapped, so
/// resident memory stays near twice this however large the file.
pub const WINDOW: usize = 8 << 20;

/// One mapped window of a file and the chunks that end inside it.
struct Window {
    /// Offset in the file of `data()[0]`.
    pos: u64,
    map: memmap2::Mmap,
    /// Bytes at the start of the map before `pos` (maps start on a page boundary).
    skip: usize,
    cuts: Vec<Range<usize>>,
    /// Bytes of the window that the cuts cover.
    used: usize,
}

impl Window {
    fn data(&self) -> &[u8] {
        &self.map[self.skip..]
    }
}

fn map_window(
    chunker: &Chunker,
    file: &File,
    len: u64,
    pos: u64,
    path: &std::path::Path,
) -> crate::Result<Option<Window>> {
    if pos >= len {
        return Ok(None);
    }
    let page = page_size();
    let base = pos - pos % page;
    let map_len = (len - base).min(WINDOW as u64 + (pos - base)) as usize;
    // SAFETY: the map is read-only and dropped after its window is hashed. A file truncated
    // by another process while mapped could fault; add checks size and mtime after reading
    // and retries, and chunk ids are computed from the bytes actually seen.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(base)
            .len(map_len)
            .map(file)
    }
    .map_err(crate::Error::io("could not map file", path))?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let skip = (pos - base) as usize;
    let eof = base + map_len as u64 == len;
    let mut cuts = Vec::new();
    let used = chunker.cut_all(&map[skip..], eof, &mut cuts);
    Ok(Some(Window {
        pos,
        map,
        skip,
        cuts,
        used,
    }))
}

/// Chunks a large file through memory-mapped windows. `f` receives each window (its offset
/// in the file, its bytes, and the chunks that end inside it) so it can work on the chunks
/// of a window in parallel; meanwhile the next window is mapped and cut.
pub fn chunk_mapped<F>(
    chunker: &Chunker,
    file: &File,
    len: u64,
    mut f: F,
    path: &std::path::Path,
) -> crate::Result<()>
where
    F: FnMut(u64, &[u8], &[Range<usize>]) -> crate::Result<()> + Send,
{
    let mut current = map_window(chunker, file, len, 0, path)?;
    while let Some(w) = current {
        if w.used == 0 {
            break; // cannot happen: a window holds at least `max` bytes or ends the file
        }
        let next_pos = w.pos + w.used as u64;
        let (done, next) = rayon::join(
            || f(w.pos, w.data(), &w.cuts),
            || map_window(chunker, file, len, next_pos, path),
        );
        done?;
        current = next?;
    }
    Ok(())
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn small() -> Chunker {
        Chunker::new(ChunkParams::with_avg(4096).unwrap())
    }

    #[test]
    fn cuts_cover_input_within_bounds() {
        let c = small();
        let data = seeded(300_000, 1);
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
        let exact = seeded(16384, 3);
        assert_eq!(c.cuts(&exact).last().unwrap().end, 16384);
    }

    #[test]
    fn stream_equals_whole() {
        let c = small();
        let data = seeded(200_000, 2);
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

    #[test]
    fn mapped_equals_whole() {
        let c = small();
        let data = seeded(WINDOW * 2 + 12345, 4);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let want: Vec<Range<usize>> = c.cuts(&data);
        let mut got = Vec::new();
        let path = std::path::Path::new("t");
        chunk_mapped(
            &c,
            &f,
            data.len() as u64,
            |off, win, cuts| {
                for r in cuts {
                    let s = off as usize + r.start;
                    assert_eq!(&win[r.clone()], &data[s..s + r.len()]);
                    got.push(s..s + r.len());
                }
                Ok(())
            },
            path,
        )
        .unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn params_validate() {
        assert!(ChunkParams::with_avg(65536).is_ok());
        assert!(ChunkParams::with_avg(1000).is_err());
        assert!(ChunkParams::with_avg(128).is_err());
        assert!(ChunkParams::with_avg(8 << 20).is_err());
    }
}
