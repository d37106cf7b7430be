//! Pack files: objects appended into files of tens of MiB, each with a sorted index.
//!
//! `packs/<name>.pack` holds records; `packs/<name>.idx` maps ids to records. A pack becomes
//! visible to readers only when its index exists, and the index is written after the pack is
//! durable, so a crash leaves at worst an orphan pack that gc removes.

mod bytes;
mod check;
pub mod consolidate;
mod held;
mod index;
pub mod midx;
pub mod midx_write;
mod rebuild;
mod seen;
pub mod sink;
mod store;
mod writer;

pub use check::{check, check_content, check_records, PackReport};
pub use held::{mark as mark_unnamed, Held, HeldListing, UNNAMED_FILE};
pub use index::{IdxEntry, PackIndex};
pub use midx::Midx;
pub use rebuild::rebuild_index;
pub use sink::StoreSink;
pub use store::{Pack, PackData, Store};
pub use writer::PackWriter;

/// Magic bytes at the start of every pack file.
pub const PACK_MAGIC: &[u8; 8] = b"CAIRNPAK";
/// The pack format version, in every pack header.
pub const PACK_VERSION: u32 = 1;
/// Pack header: magic, version, class, three reserved zero bytes.
pub const PACK_HEADER_LEN: usize = 16;
/// Record header: id, kind, codec, raw length, stored length.
pub const RECORD_HEADER_LEN: usize = 32 + 1 + 1 + 4 + 4;
/// The largest object cairn writes: chunks are at most 16 MiB; a file object this large lists
/// 29 million chunks. Reads refuse larger claims instead of allocating them.
pub const MAX_OBJECT: u32 = 1 << 30;
/// The largest chunk: FastCDC's largest maximum, which bounds every repository's chunker.
pub const MAX_CHUNK: u32 = fastcdc::v2020::MAXIMUM_MAX;
/// The largest chunk list: a count and [`LIST_MAX`](crate::object::file::LIST_MAX) refs.
pub const MAX_LIST: u32 = 4 + crate::object::file::LIST_MAX as u32 * 36;
/// Packs are closed when they pass this size.
pub const PACK_TARGET: u64 = 64 << 20;

/// The kind of an object, stored in its record and its index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A piece of file content, as the chunker cut it.
    Chunk = 1,
    /// A file object: the chunk list of one file, or the ids of its chunk lists.
    File = 2,
    /// A tree: one directory.
    Tree = 3,
    /// A layer: one commit.
    Layer = 4,
    /// A run of a large file's chunk refs, named by its file object.
    List = 5,
}

impl ObjectKind {
    /// The largest object of this kind cairn writes. A record claiming more is damage,
    /// refused before anything is read or inflated: a chunk is at most 16 MiB however well
    /// a hostile one compresses.
    pub fn max_len(self) -> u32 {
        match self {
            ObjectKind::Chunk => MAX_CHUNK,
            ObjectKind::List => MAX_LIST,
            // Trees of huge directories and whole file objects written before chunk lists
            // existed can be large; they are still bounded.
            ObjectKind::File | ObjectKind::Tree | ObjectKind::Layer => MAX_OBJECT,
        }
    }

    /// The kind a stored kind byte names, or `None` for a byte that is no kind.
    pub fn from_u8(b: u8) -> Option<ObjectKind> {
        Some(match b {
            1 => ObjectKind::Chunk,
            2 => ObjectKind::File,
            3 => ObjectKind::Tree,
            4 => ObjectKind::Layer,
            5 => ObjectKind::List,
            _ => return None,
        })
    }

    /// The kind's name as messages and `--json` print it.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Chunk => "chunk",
            ObjectKind::File => "file",
            ObjectKind::Tree => "tree",
            ObjectKind::Layer => "layer",
            ObjectKind::List => "chunk list",
        }
    }
}

/// How a record's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is.
    Raw = 0,
    /// Compressed with zstd.
    Zstd = 1,
}

impl Codec {
    /// The codec a stored codec byte names, or `None` for a byte that is no codec.
    pub fn from_u8(b: u8) -> Option<Codec> {
        match b {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// Which objects a pack holds: chunks go to data packs, everything else to metadata packs
/// so that reading trees never pulls file contents through the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackClass {
    /// Chunks: file content.
    Data = 0,
    /// Files, chunk lists, trees and layers.
    Meta = 1,
}

/// Where `id` is among positions `lo..hi` of a table sorted by id, `id_at(i)` being the id
/// bytes at position `i`: the binary search of a fan-out bucket that the pack index and the
/// multi-pack index share.
pub(crate) fn search_bucket<'a>(
    (mut lo, mut hi): (usize, usize),
    id: &crate::ObjectId,
    id_at: impl Fn(usize) -> &'a [u8],
) -> Option<usize> {
    while lo < hi {
        let mid = (lo + hi) / 2;
        match id_at(mid).cmp(&id.0[..]) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// Checks a fan-out table of 256 counts, `fanout(b)` being the number of entries whose id's
/// first byte is at most `b`: never falling, never past `count`, ending at it. The pack
/// index, the multi-pack index and the layer graph share it.
pub(crate) fn check_fanout(
    count: usize,
    fanout: impl Fn(usize) -> usize,
) -> std::result::Result<(), String> {
    let mut prev = 0;
    for i in 0..256 {
        let f = fanout(i);
        if f < prev || f > count {
            return Err("fan-out table is not monotone".into());
        }
        prev = f;
    }
    if prev != count {
        return Err("fan-out table does not end at the entry count".into());
    }
    Ok(())
}

/// Encodes a pack header.
pub fn pack_header(class: PackClass) -> [u8; PACK_HEADER_LEN] {
    let mut h = [0u8; PACK_HEADER_LEN];
    h[..8].copy_from_slice(PACK_MAGIC);
    h[8..12].copy_from_slice(&PACK_VERSION.to_le_bytes());
    h[12] = class as u8;
    h
}

/// Encodes a record header.
pub fn record_header(
    id: &crate::ObjectId,
    kind: ObjectKind,
    codec: Codec,
    raw_len: u32,
    stored_len: u32,
) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[..32].copy_from_slice(id.as_bytes());
    h[32] = kind as u8;
    h[33] = codec as u8;
    h[34..38].copy_from_slice(&raw_len.to_le_bytes());
    h[38..42].copy_from_slice(&stored_len.to_le_bytes());
    h
}

/// A payload ready to be appended: compressed or not, with the lengths the record needs.
pub struct Encoded {
    /// How `bytes` is stored.
    pub codec: Codec,
    /// The payload's length before compression, in bytes.
    pub raw_len: u32,
    /// The payload as it goes into the pack.
    pub bytes: Vec<u8>,
}

impl Encoded {
    /// The payload stored uncompressed.
    pub fn raw(data: &[u8]) -> Encoded {
        Encoded {
            codec: Codec::Raw,
            raw_len: data.len() as u32,
            bytes: data.to_vec(),
        }
    }
}

/// Compresses `data` with zstd when it pays. A sample is tried first at the fastest level (1
/// KiB of small data, 4 KiB of larger data), so incompressible data (media, archives, random
/// bytes) costs only the sample. Data up to 8 KiB is compressed at the fastest level, larger
/// data at the repository's level.
pub fn compress(data: &[u8], level: i32) -> Encoded {
    const SMALL: usize = 8192;
    if level == 0 || data.len() < 64 {
        return Encoded::raw(data);
    }
    let sample_len = if data.len() <= SMALL { 1024 } else { 4096 }.min(data.len());
    if looks_random(&data[..sample_len]) {
        return Encoded::raw(data);
    }
    let sample = zstd_compress(&data[..sample_len], 1);
    if sample_len == data.len() {
        return keep_if_smaller(data, sample);
    }
    match sample {
        Some(c) if c.len() < sample_len * 15 / 16 => {}
        _ => return Encoded::raw(data),
    }
    let level = if data.len() <= SMALL { 1 } else { level };
    keep_if_smaller(data, zstd_compress(data, level))
}

/// True when the bytes' order-0 entropy is above 7.5 bits per byte: compressed, encrypted
/// or random data, which zstd would spend tens of instructions per byte failing to shrink.
/// Counting bytes costs a few.
fn looks_random(sample: &[u8]) -> bool {
    if sample.len() < 256 {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in sample {
        counts[*b as usize] += 1;
    }
    // H = log2(n) - sum(c log2 c) / n, with c log2 c from a table: a log2 per byte value
    // of every small file's sample was a tenth of adding small files.
    let table = c_log2_c();
    let sum: f32 = counts.iter().map(|c| table[*c as usize]).sum();
    let n = sample.len() as f32;
    let bits = n.log2() - sum / n;
    // A 1 KiB sample of uniform random bytes measures about 7.8 bits (a short sample cannot
    // show all 256 values evenly); text is 4 to 5.
    bits > 7.5
}

/// `c * log2(c)` for every count a sample (at most 4 KiB) can hold; 0 for 0.
fn c_log2_c() -> &'static [f32; 4097] {
    static TABLE: std::sync::OnceLock<[f32; 4097]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0f32; 4097];
        for (c, v) in t.iter_mut().enumerate().skip(1) {
            *v = c as f32 * (c as f32).log2();
        }
        t
    })
}

thread_local! {
    /// One compression context per thread and level: creating a context costs more than
    /// compressing a small file.
    static COMPRESSORS: std::cell::RefCell<Vec<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn zstd_compress(data: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSORS.with(|cell| {
        let mut all = cell.borrow_mut();
        let at = match all.iter().position(|(l, _)| *l == level) {
            Some(at) => at,
            None => {
                all.push((level, zstd::bulk::Compressor::new(level).ok()?));
                all.len() - 1
            }
        };
        all[at].1.compress(data).ok()
    })
}

fn zstd_decompress(stored: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    // The frame header usually states the content size: a frame that says anything but the
    // record's length is refused before a byte is inflated.
    if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(stored) {
        if n != capacity as u64 {
            return Err(invalid_data(
                "the zstd frame's size differs from the record",
            ));
        }
    }
    if !may_reserve(stored.len(), capacity) {
        return zstd_stream(stored, capacity);
    }
    DECOMPRESSOR.with(|cell| {
        let mut d = cell.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        d.as_mut().expect("set above").decompress(stored, capacity)
    })
}

/// Decompresses a record whose claim is out of proportion to its stored bytes: the output
/// grows as it is produced, never past one byte more than the claim (which shows a lie), so
/// memory stays within the claim however much the frame would inflate.
fn zstd_stream(stored: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    let limit = capacity + 1;
    let mut decoder = zstd::stream::read::Decoder::with_buffer(stored)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    loop {
        let n = std::io::Read::read(&mut decoder, &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        let len = out.len() + n.min(limit - out.len());
        if len > out.capacity() {
            // Doubling, capped at the limit: `read_to_end` could reserve twice the claim.
            let grown = (out.capacity() * 2).clamp(len, limit);
            out.reserve_exact(grown - out.len());
        }
        out.extend_from_slice(&buf[..len - out.len()]);
        if out.len() == limit {
            return Ok(out);
        }
    }
}

fn invalid_data(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Whether decompressing `stored_len` bytes may reserve the `raw_len` the record claims up
/// front (the fast path). Only when the claim is in proportion to the stored bytes: a
/// hostile record of a few bytes claiming a gigabyte must not reserve it.
fn may_reserve(stored_len: usize, raw_len: usize) -> bool {
    raw_len <= stored_len.saturating_mul(64).saturating_add(1 << 20)
}

/// Keeps the compressed form only when it saves at least 1/32 of the size: small savings are
/// not worth the decompression on every read.
fn keep_if_smaller(data: &[u8], compressed: Option<Vec<u8>>) -> Encoded {
    match compressed {
        Some(c) if c.len() + data.len() / 32 < data.len() => Encoded {
            codec: Codec::Zstd,
            raw_len: data.len() as u32,
            bytes: c,
        },
        _ => Encoded::raw(data),
    }
}

/// Checks a record's lengths, which any read or check can do before touching its payload:
/// within what its kind may hold, and equal when it is stored raw.
pub fn check_lengths(
    kind: ObjectKind,
    codec: Codec,
    raw_len: u32,
    stored_len: u32,
) -> Result<(), String> {
    if raw_len > kind.max_len() {
        return Err(format!(
            "the record claims a {} of {raw_len} bytes; the most cairn writes is {}",
            kind.name(),
            kind.max_len()
        ));
    }
    if codec == Codec::Raw && stored_len != raw_len {
        return Err("a raw record's stored and raw lengths differ".into());
    }
    Ok(())
}

/// Undoes [`compress`]. `raw_len` bounds the output, so a hostile record cannot make us
/// allocate more than it claims, and it may claim at most what its kind can hold
/// ([`ObjectKind::max_len`]): a record that inflates past either is damage.
pub fn decompress(
    kind: ObjectKind,
    codec: Codec,
    stored: Vec<u8>,
    raw_len: u32,
) -> std::io::Result<Vec<u8>> {
    check_lengths(kind, codec, raw_len, stored.len() as u32).map_err(|w| invalid_data(&w))?;
    match codec {
        Codec::Raw => Ok(stored),
        Codec::Zstd => {
            let out = zstd_decompress(&stored, raw_len as usize)?;
            if out.len() != raw_len as usize {
                return Err(invalid_data("decompressed length differs from the record"));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::random_bytes;

    #[test]
    fn entropy_gate() {
        let text = b"the quick brown fox jumps over the lazy dog, 0123456789\n".repeat(40);
        assert!(!looks_random(&text[..1024]));
        let noise = random_bytes(1, 1024);
        assert!(looks_random(&noise));
        assert!(!looks_random(&[0u8; 1024]));
    }

    /// A tiny record claiming a huge object reserves nothing and fails; highly compressible
    /// data beyond the proportional reservation still decompresses, growing as it goes.
    #[test]
    fn decompression_reserves_in_proportion() {
        let (chunk, file) = (ObjectKind::Chunk, ObjectKind::File);
        assert!(may_reserve(100, 1 << 20));
        assert!(!may_reserve(100, MAX_OBJECT as usize));
        let zeros = vec![0u8; 8 << 20];
        let c = zstd::bulk::compress(&zeros, 3).unwrap();
        assert!(
            !may_reserve(c.len(), zeros.len()),
            "takes the streaming path"
        );
        assert_eq!(
            decompress(chunk, Codec::Zstd, c.clone(), zeros.len() as u32).unwrap(),
            zeros
        );
        assert!(decompress(file, Codec::Zstd, c.clone(), MAX_OBJECT).is_err());
        assert!(decompress(chunk, Codec::Zstd, c, 100).is_err());
        let junk = vec![0x28, 0xb5, 0x2f, 0xfd, 1];
        assert!(decompress(file, Codec::Zstd, junk, MAX_OBJECT).is_err());
    }

    /// A frame that does not state its size (a streaming encoder's), so only inflating it
    /// shows how large it is.
    fn unsized_frame(data: &[u8]) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut enc, data).unwrap();
        let frame = enc.finish().unwrap();
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&frame),
            Ok(None)
        ));
        frame
    }

    /// Zstd bombs: a chunk claiming more than any chunk can hold is refused before it is
    /// inflated, and a frame that inflates past its record's claim is refused after at most
    /// one byte more than the claim, whether or not its header states its size.
    #[test]
    fn bombs_are_refused() {
        let big = vec![0u8; MAX_CHUNK as usize + 1];
        let bomb = zstd::bulk::compress(&big, 3).unwrap();
        let err = decompress(
            ObjectKind::Chunk,
            Codec::Zstd,
            bomb.clone(),
            big.len() as u32,
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("the most cairn writes"));
        let err = check_lengths(ObjectKind::Chunk, Codec::Raw, MAX_CHUNK + 1, MAX_CHUNK + 1);
        assert!(err.is_err());
        assert!(check_lengths(ObjectKind::List, Codec::Zstd, MAX_LIST + 1, 10).is_err());
        assert!(check_lengths(ObjectKind::Tree, Codec::Zstd, MAX_LIST + 1, 10).is_ok());
        // The header says 16 MiB + 1, the record says 1 MiB: refused without inflating.
        let err = decompress(ObjectKind::Chunk, Codec::Zstd, bomb, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("frame's size"), "{err}");
        let frame = unsized_frame(&big);
        for claim in [100u32, 1 << 20, MAX_CHUNK] {
            let out = zstd_stream(&frame, claim as usize).unwrap();
            assert_eq!(
                out.len(),
                claim as usize + 1,
                "stops one byte past the claim"
            );
            assert!(
                out.capacity() <= claim as usize + 1,
                "reserves no more than that"
            );
            let err = decompress(ObjectKind::Chunk, Codec::Zstd, frame.clone(), claim);
            assert!(err.is_err(), "{claim}");
        }
        let small = unsized_frame(&big[..5000]);
        let out = decompress(ObjectKind::Chunk, Codec::Zstd, small, 5000).unwrap();
        assert_eq!(out, &big[..5000]);
    }

    #[test]
    fn compress_round_trip_and_skip() {
        let text = b"hello hello hello hello ".repeat(1000);
        let e = compress(&text, 3);
        assert_eq!(e.codec, Codec::Zstd);
        assert!(e.bytes.len() < text.len() / 10);
        assert_eq!(
            decompress(ObjectKind::Chunk, e.codec, e.bytes, e.raw_len).unwrap(),
            text
        );

        let noise = random_bytes(2, 100_000);
        let e = compress(&noise, 3);
        assert_eq!(e.codec, Codec::Raw);
        assert_eq!(e.bytes, noise);
    }
}
