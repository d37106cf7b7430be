//! The multi-pack index (`packs/multi-pack-index`): one sorted table of the objects of many
//! packs, so a lookup is one binary search however many packs there are, and a command maps
//! one file instead of one index per pack.
//!
//! ```text
//! header (24):   magic "CAIRNMDX" | version u32 | packs u32 | count u32 | reserved u32 = 0
//! names:         packs x 32, the pack names, strictly ascending
//! fan-out:       256 x u32, fanout[b] = number of entries whose id's first byte <= b
//! bucket sums:   256 x 32, sums[b] = H(Checksum, the bytes of the entries of bucket b)
//! head sum (32): H(Checksum, every byte before it)
//! entries:       count x (id 32 | pack u32 | offset u64 | raw_len u32 | stored_len u32 |
//!                kind u8 | codec u8), sorted by id, no duplicates
//! ```
//! All integers little-endian. Opening checks everything but the entries (a few KiB per
//! thousand packs); a bucket's entries are checked against their sum the first time a
//! lookup lands in it, so a command that reads ten objects hashes about ten buckets, not the
//! whole table, and no lookup ever trusts an unchecked byte.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use super::bytes::FileBytes;
use super::index::{IdxEntry, PackIndex, MAX_OFFSET};
use super::{Codec, ObjectKind};
use crate::error::{Error, IoContext, Result};
use crate::hash::{Domain, HashAlgo, ObjectId};

/// The file's name inside `packs/`.
pub const MIDX_FILE: &str = "multi-pack-index";
/// The tail's name inside `packs/`: a table of the same format over the packs published
/// since the base ([`MIDX_FILE`]) was last written, so that a writer of one small pack
/// rewrites a few KiB instead of the whole table (see `midx_write`).
pub const TAIL_FILE: &str = "multi-pack-index-tail";
const MAGIC: &[u8; 8] = b"CAIRNMDX";
/// The multi-pack index format version.
pub const MIDX_VERSION: u32 = 1;
const HEADER: usize = 24;
const FANOUT: usize = 256 * 4;
const SUMS: usize = 256 * 32;
/// Bytes per entry: a pack index entry plus the pack's number.
pub const MIDX_ENTRY_LEN: usize = 32 + 4 + 8 + 4 + 4 + 1 + 1;

/// What is known of a bucket: not yet checked, matches its sum, or damaged.
const UNCHECKED: u8 = 0;
const GOOD: u8 = 1;
const BAD: u8 = 2;

/// An opened multi-pack index: its head is checked, its buckets are checked on first use.
pub struct Midx {
    bytes: FileBytes,
    algo: HashAlgo,
    packs: usize,
    count: usize,
    buckets: [AtomicU8; 256],
}

impl Midx {
    /// Drops the pages of a mapped table from the process's memory.
    pub(crate) fn release_pages(&self) {
        self.bytes.release_pages();
    }

    /// Maps the multi-pack index at `path` and checks its head.
    pub fn open(path: &Path, algo: HashAlgo) -> Result<Midx> {
        let file = File::open(path).ctx("could not open multi-pack index", path)?;
        let map =
            crate::fsutil::map_immutable(&file).ctx("could not map multi-pack index", path)?;
        Midx::new(FileBytes::Mapped(map), algo)
            .map_err(|d| Error::corrupt("multi-pack index", path, d))
    }

    /// A multi-pack index held in memory (tests and fuzzing), its head checked.
    pub fn from_bytes(bytes: Vec<u8>, algo: HashAlgo) -> std::result::Result<Midx, String> {
        Midx::new(FileBytes::Owned(bytes), algo)
    }

    fn new(bytes: FileBytes, algo: HashAlgo) -> std::result::Result<Midx, String> {
        let (packs, count) = check_head(bytes.as_slice(), algo)?;
        Ok(Midx {
            bytes,
            algo,
            packs,
            count,
            buckets: std::array::from_fn(|_| AtomicU8::new(UNCHECKED)),
        })
    }

    /// The names of the packs it covers, ascending; an entry's pack number indexes this.
    pub fn names(&self) -> Vec<ObjectId> {
        (0..self.packs).map(|i| self.name(i)).collect()
    }

    fn name(&self, i: usize) -> ObjectId {
        let s = HEADER + i * 32;
        ObjectId::from_slice(&self.bytes()[s..s + 32]).expect("32 bytes")
    }

    /// Its size in bytes.
    pub fn byte_len(&self) -> usize {
        self.bytes().len()
    }

    /// The number of objects it lists.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when it lists no objects.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    fn entries_at(&self) -> usize {
        entries_at(self.packs)
    }

    fn id_at(&self, i: usize) -> &[u8] {
        let s = self.entries_at() + i * MIDX_ENTRY_LEN;
        &self.bytes()[s..s + 32]
    }

    /// The entry at `i` and its pack number; `None` when a byte of it is invalid.
    fn entry(&self, i: usize) -> Option<(usize, IdxEntry)> {
        let s = self.entries_at() + i * MIDX_ENTRY_LEN;
        decode_entry(&self.bytes()[s..s + MIDX_ENTRY_LEN], self.packs)
    }

    /// Finds `id`: its pack number and entry, or `None` when no covered pack holds it. An
    /// error means the bucket `id` falls in is damaged; the caller must look elsewhere.
    pub fn lookup(&self, id: &ObjectId) -> std::result::Result<Option<(usize, IdxEntry)>, String> {
        let b = id.0[0] as usize;
        self.check_bucket(b)?;
        let at = super::search_bucket(self.bucket(b), id, |i| self.id_at(i));
        Ok(at.and_then(|i| self.entry(i)))
    }

    fn bucket(&self, b: usize) -> (usize, usize) {
        let lo = if b == 0 { 0 } else { self.fanout(b - 1) };
        (lo, self.fanout(b))
    }

    fn fanout(&self, b: usize) -> usize {
        fanout_at(self.bytes(), self.packs, b)
    }

    /// Checks bucket `b` once: its sum, the order of its ids, that they start with `b`, and
    /// that every entry is valid.
    fn check_bucket(&self, b: usize) -> std::result::Result<(), String> {
        match self.buckets[b].load(Ordering::Acquire) {
            GOOD => return Ok(()),
            BAD => return Err(format!("bucket {b:02x} is damaged")),
            _ => {}
        }
        let verdict = self.bucket_problem(b);
        let state = if verdict.is_none() { GOOD } else { BAD };
        self.buckets[b].store(state, Ordering::Release);
        verdict.map_or(Ok(()), Err)
    }

    fn bucket_problem(&self, b: usize) -> Option<String> {
        let (lo, hi) = self.bucket(b);
        let start = self.entries_at();
        let body = &self.bytes()[start + lo * MIDX_ENTRY_LEN..start + hi * MIDX_ENTRY_LEN];
        let sum_at = HEADER + self.packs * 32 + FANOUT + b * 32;
        if self.algo.hash(Domain::Checksum, body).as_bytes() != &self.bytes()[sum_at..sum_at + 32] {
            return Some(format!("bucket {b:02x} does not match its checksum"));
        }
        for i in lo..hi {
            if self.id_at(i)[0] as usize != b || (i > lo && self.id_at(i - 1) >= self.id_at(i)) {
                return Some(format!("bucket {b:02x} is not sorted"));
            }
            if self.entry(i).is_none() {
                return Some(format!("entry {i} is invalid"));
            }
        }
        None
    }

    /// Checks every bucket (what `verify` and `gc` ask).
    pub fn verify(&self) -> std::result::Result<(), String> {
        (0..256).try_for_each(|b| self.check_bucket(b))
    }

    /// Every entry in id order with its pack number, `None` where an entry is invalid.
    /// Unchecked: for tests and fuzzing.
    pub fn entries(&self) -> impl Iterator<Item = Option<(usize, IdxEntry)>> + '_ {
        (0..self.count).map(|i| self.entry(i))
    }
}

fn entries_at(packs: usize) -> usize {
    HEADER + packs * 32 + FANOUT + SUMS + 32
}

fn fanout_at(b: &[u8], packs: usize, i: usize) -> usize {
    let s = HEADER + packs * 32 + i * 4;
    u32::from_le_bytes(b[s..s + 4].try_into().expect("4 bytes")) as usize
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Checks the head: magic, version, reserved bytes, length, head checksum, pack names in
/// order and a monotone fan-out ending at the count. Returns (packs, count).
fn check_head(b: &[u8], algo: HashAlgo) -> std::result::Result<(usize, usize), String> {
    if b.len() < HEADER || &b[..8] != MAGIC {
        return Err("not a cairn multi-pack index".into());
    }
    let version = le32(b, 8);
    if version != MIDX_VERSION as usize {
        return Err(format!("unsupported multi-pack index version {version}"));
    }
    let (packs, count) = (le32(b, 12), le32(b, 16));
    if le32(b, 20) != 0 {
        return Err("reserved bytes are not zero".into());
    }
    let want = (count as u64) * MIDX_ENTRY_LEN as u64 + entries_at(packs) as u64;
    if b.len() as u64 != want {
        return Err("length does not match the pack and entry counts".into());
    }
    let head = entries_at(packs) - 32;
    if algo.hash(Domain::Checksum, &b[..head]).as_bytes() != &b[head..head + 32] {
        return Err("head checksum does not match".into());
    }
    let names = &b[HEADER..HEADER + packs * 32];
    if names
        .chunks(32)
        .zip(names.chunks(32).skip(1))
        .any(|(a, z)| a >= z)
    {
        return Err("pack names are not strictly ascending".into());
    }
    super::check_fanout(count, |i| fanout_at(b, packs, i))?;
    Ok((packs, count))
}

fn decode_entry(b: &[u8], packs: usize) -> Option<(usize, IdxEntry)> {
    let pack = le32(b, 32);
    let offset = u64::from_le_bytes(b[36..44].try_into().ok()?);
    let e = IdxEntry {
        id: ObjectId::from_slice(&b[..32])?,
        offset: (offset <= MAX_OFFSET).then_some(offset)?,
        raw_len: le32(b, 44) as u32,
        stored_len: le32(b, 48) as u32,
        kind: ObjectKind::from_u8(b[52])?,
        codec: Codec::from_u8(b[53])?,
    };
    (pack < packs).then_some((pack, e))
}

fn encode_entry(pack: u32, e: &IdxEntry, out: &mut Vec<u8>) {
    out.extend_from_slice(e.id.as_bytes());
    out.extend_from_slice(&pack.to_le_bytes());
    out.extend_from_slice(&e.offset.to_le_bytes());
    out.extend_from_slice(&e.raw_len.to_le_bytes());
    out.extend_from_slice(&e.stored_len.to_le_bytes());
    out.push(e.kind as u8);
    out.push(e.codec as u8);
}

/// Encodes a multi-pack index over `packs` (any order; names are sorted here). An object in
/// several packs is listed once, in the pack whose name sorts first.
///
/// Each pack index is sorted by id, so their entries are merged as they are read rather
/// than gathered and sorted: a million objects' list took 64 MB beside the table. A pack
/// index found out of order (damage its checksum did not catch) falls back to the sort.
pub fn encode(algo: HashAlgo, packs: &[(ObjectId, &PackIndex)]) -> Vec<u8> {
    let mut packs: Vec<_> = packs.to_vec();
    packs.sort_by_key(|(name, _)| *name);
    packs.dedup_by_key(|(name, _)| *name);
    let names: Vec<ObjectId> = packs.iter().map(|(name, _)| *name).collect();
    let count = packs.iter().map(|(_, index)| index.len()).sum();
    if let Some(table) = encode_stream(algo, &names, count, Merged::of_packs(&packs)) {
        return table;
    }
    let mut all: Vec<(IdxEntry, u32)> = Vec::new();
    for (n, (_, index)) in packs.iter().enumerate() {
        all.extend(index.entries().flatten().map(|e| (e, n as u32)));
    }
    // Among equal ids the first pack's entry comes first and is kept. Unstable, with the
    // pack as the tie-break: a stable sort takes scratch room of half the list.
    all.sort_unstable_by_key(|(e, pack)| (e.id, *pack));
    all.dedup_by_key(|(e, _)| e.id);
    encode_entries(algo, &names, &all)
}

/// A source of entries sorted by id, each with its pack's number; an item `None` when an
/// entry cannot be read.
type Source<'a> = Box<dyn Iterator<Item = Option<(IdxEntry, u32)>> + 'a>;

/// The entries of id-sorted sources in id order, each id once, from the pack whose number
/// is lowest; an item `None` when a source turns out not to be strictly sorted or holds an
/// entry that cannot be read.
struct Merged<'a> {
    sources: Vec<Source<'a>>,
    heads: Vec<Option<(IdxEntry, u32)>>,
    next: std::collections::BinaryHeap<std::cmp::Reverse<(ObjectId, u32, usize)>>,
    last: Option<ObjectId>,
    broken: bool,
}

impl<'a> Merged<'a> {
    fn new(sources: Vec<Source<'a>>) -> Merged<'a> {
        let mut m = Merged {
            heads: vec![None; sources.len()],
            sources,
            next: std::collections::BinaryHeap::new(),
            last: None,
            broken: false,
        };
        for s in 0..m.sources.len() {
            m.advance(s);
        }
        m
    }

    /// The entries of pack indexes, each numbered by its place in `packs`. Entries that
    /// cannot be read are left out, as a rebuild always did.
    fn of_packs(packs: &[(ObjectId, &'a PackIndex)]) -> Merged<'a> {
        let sources = packs.iter().enumerate().map(|(n, (_, index))| {
            let entries = index.entries().flatten().map(move |e| Some((e, n as u32)));
            Box::new(entries) as Source<'a>
        });
        Merged::new(sources.collect())
    }

    /// Reads source `s`'s next entry into its head; marks the merge broken when that entry
    /// cannot be read or is not above the one before.
    fn advance(&mut self, s: usize) {
        let before = self.heads[s].take().map(|(e, _)| e.id);
        match self.sources[s].next() {
            None => {}
            Some(Some((e, pack))) if before.is_none_or(|b| e.id > b) => {
                self.next.push(std::cmp::Reverse((e.id, pack, s)));
                self.heads[s] = Some((e, pack));
            }
            Some(_) => self.broken = true,
        }
    }
}

impl Iterator for Merged<'_> {
    type Item = Option<(IdxEntry, u32)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.broken {
                return Some(None);
            }
            let std::cmp::Reverse((id, _, s)) = self.next.pop()?;
            let entry = self.heads[s].expect("a head for every queued source");
            self.advance(s);
            if self.last != Some(id) {
                self.last = Some(id);
                return Some(Some(entry));
            }
        }
    }
}

/// Encodes the table `old` extended by the packs `added` (which it must not name), without
/// opening the packs it covers: its entries are carried over, renumbered. `None` when a
/// bucket of `old` fails its check (then the caller rebuilds from every pack's index).
pub fn encode_extended(
    algo: HashAlgo,
    old: &Midx,
    added: &[(ObjectId, &PackIndex)],
) -> Option<Vec<u8>> {
    encode_merged(algo, &[old], added)
}

/// Encodes one table over the packs of the tables `olds` and the packs `added`: the tables'
/// entries carried over, renumbered, so folding the tail into the base opens no pack index.
/// `None` when a bucket of one of `olds` fails its check.
pub fn encode_merged(
    algo: HashAlgo,
    olds: &[&Midx],
    added: &[(ObjectId, &PackIndex)],
) -> Option<Vec<u8>> {
    for old in olds {
        old.verify().ok()?;
    }
    let (names, count, merged) = merged_sources(olds, added);
    if let Some(table) = encode_stream(algo, &names, count, merged) {
        return Some(table);
    }
    Some(encode_sorted(algo, olds, added, &names))
}

/// Writes to `out` the table [`encode_merged`] encodes (with no `olds`, the table
/// [`encode`] encodes over `added`), as it merges: the table is never
/// held in memory (108 MB for two million objects, the peak of a first commit of a million
/// files). The caller checks every bucket of `olds` first ([`Midx::verify`]).
pub fn write_merged(
    algo: HashAlgo,
    olds: &[&Midx],
    added: &[(ObjectId, &PackIndex)],
    out: &mut File,
) -> std::io::Result<()> {
    let (names, _, merged) = merged_sources(olds, added);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
    let merged_in_order = write_stream(algo, &names, merged, &mut w)?;
    w.flush()?;
    drop(w);
    if !merged_in_order {
        // A source out of order (damage its checksum did not catch): sorted in memory.
        let table = encode_sorted(algo, olds, added, &names);
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&table)?;
        out.set_len(table.len() as u64)?;
    }
    Ok(())
}

/// The ascending names of the packs of `olds` and `added`, about how many entries they
/// hold, and their entries merged in id order, renumbered into those names.
fn merged_sources<'a>(
    olds: &[&'a Midx],
    added: &[(ObjectId, &'a PackIndex)],
) -> (Vec<ObjectId>, usize, Merged<'a>) {
    let mut names: Vec<ObjectId> = olds.iter().flat_map(|m| m.names()).collect();
    names.extend(added.iter().map(|(n, _)| *n));
    names.sort();
    names.dedup();
    let number = |name: &ObjectId| names.binary_search(name).expect("listed above") as u32;
    // The tables and the pack indexes are each sorted by id: merged as read, as `encode`
    // does, rather than gathered (64 bytes an entry) and sorted.
    let mut sources: Vec<Source> = Vec::new();
    for old in olds {
        let renumber: Vec<u32> = old.names().iter().map(number).collect();
        let entries = old.entries().map(move |e| e.map(|(p, e)| (e, renumber[p])));
        sources.push(Box::new(entries));
    }
    for (name, index) in added {
        let n = number(name);
        sources.push(Box::new(
            index.entries().flatten().map(move |e| Some((e, n))),
        ));
    }
    let count = olds.iter().map(|m| m.len()).sum::<usize>()
        + added.iter().map(|(_, i)| i.len()).sum::<usize>();
    (names, count, Merged::new(sources))
}

/// The merged table of checked `olds` and `added` over `names`, gathered and sorted: for a
/// source found out of order.
fn encode_sorted(
    algo: HashAlgo,
    olds: &[&Midx],
    added: &[(ObjectId, &PackIndex)],
    names: &[ObjectId],
) -> Vec<u8> {
    let number = |name: &ObjectId| names.binary_search(name).expect("listed") as u32;
    let mut all: Vec<(IdxEntry, u32)> = Vec::new();
    for old in olds {
        let renumber: Vec<u32> = old.names().iter().map(number).collect();
        all.extend(old.entries().flatten().map(|(p, e)| (e, renumber[p])));
    }
    for (name, index) in added {
        let n = number(name);
        all.extend(index.entries().flatten().map(|e| (e, n)));
    }
    // As `encode` does: among equal ids, the pack whose name sorts first.
    all.sort_unstable_by_key(|(e, pack)| (e.id, *pack));
    all.dedup_by_key(|(e, _)| e.id);
    encode_entries(algo, names, &all)
}

/// Encodes sorted, unique entries over the ascending `names`.
fn encode_entries(algo: HashAlgo, names: &[ObjectId], all: &[(IdxEntry, u32)]) -> Vec<u8> {
    let entries = all.iter().map(|e| Some(*e));
    encode_stream(algo, names, all.len(), entries).expect("every entry given")
}

/// Encodes entries given in id order, each id once (about `count` of them), over the
/// ascending `names`; `None` as soon as an item is `None`.
fn encode_stream(
    algo: HashAlgo,
    names: &[ObjectId],
    count: usize,
    entries: impl Iterator<Item = Option<(IdxEntry, u32)>>,
) -> Option<Vec<u8>> {
    let room = entries_at(names.len()) + count * MIDX_ENTRY_LEN;
    let mut out = std::io::Cursor::new(Vec::with_capacity(room));
    let complete = write_stream(algo, names, entries, &mut out).expect("memory takes any write");
    complete.then(|| out.into_inner())
}

/// Writes a table of entries given in id order, each id once, over the ascending `names`:
/// room for the head, the entries a bucket at a time (each bucket's sum taken over its
/// bytes at once), then the head over the room. False, with the table incomplete, as soon
/// as an item is `None`.
fn write_stream<W: Write + Seek>(
    algo: HashAlgo,
    names: &[ObjectId],
    entries: impl Iterator<Item = Option<(IdxEntry, u32)>>,
    out: &mut W,
) -> std::io::Result<bool> {
    out.write_all(&vec![0; entries_at(names.len())])?;
    let mut ends = [0usize; 256];
    let mut sums: Vec<ObjectId> = Vec::with_capacity(256);
    let mut bucket = Vec::new();
    let mut close = |sums: &mut Vec<ObjectId>, bucket: &mut Vec<u8>| -> std::io::Result<()> {
        sums.push(algo.hash(Domain::Checksum, bucket));
        out.write_all(bucket)?;
        bucket.clear();
        Ok(())
    };
    for item in entries {
        let Some((e, pack)) = item else {
            return Ok(false);
        };
        let b = e.id.0[0] as usize;
        while sums.len() < b {
            close(&mut sums, &mut bucket)?;
        }
        encode_entry(pack, &e, &mut bucket);
        ends[b] += 1;
    }
    while sums.len() < 256 {
        close(&mut sums, &mut bucket)?;
    }
    let head = encode_head(algo, names, &mut ends, &sums);
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&head)?;
    out.seek(SeekFrom::End(0))?;
    Ok(true)
}

/// The head of a table over `names` whose buckets hold `counts[b]` entries (made
/// cumulative here) and have the sums `sums`.
fn encode_head(
    algo: HashAlgo,
    names: &[ObjectId],
    counts: &mut [usize; 256],
    sums: &[ObjectId],
) -> Vec<u8> {
    let written: usize = counts.iter().sum();
    let mut head = Vec::with_capacity(entries_at(names.len()));
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&MIDX_VERSION.to_le_bytes());
    head.extend_from_slice(&(names.len() as u32).to_le_bytes());
    head.extend_from_slice(&(written as u32).to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    for name in names {
        head.extend_from_slice(name.as_bytes());
    }
    let mut total = 0;
    for n in counts.iter_mut() {
        total += *n;
        *n = total;
        head.extend_from_slice(&(total as u32).to_le_bytes());
    }
    for sum in sums {
        head.extend_from_slice(sum.as_bytes());
    }
    let sum = algo.hash(Domain::Checksum, &head);
    head.extend_from_slice(sum.as_bytes());
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(algo: HashAlgo, i: u32) -> IdxEntry {
        IdxEntry {
            id: algo.hash(Domain::Chunk, &i.to_le_bytes()),
            offset: 16 + u64::from(i) * 100,
            raw_len: i,
            stored_len: i,
            kind: ObjectKind::Chunk,
            codec: Codec::Raw,
        }
    }

    fn sample(algo: HashAlgo) -> (Vec<ObjectId>, Vec<(IdxEntry, u32)>) {
        let names = vec![ObjectId([1; 32]), ObjectId([2; 32]), ObjectId([3; 32])];
        let mut all: Vec<_> = (0..900u32).map(|i| (entry(algo, i), i % 3)).collect();
        all.sort_by_key(|(e, _)| e.id);
        (names, all)
    }

    #[test]
    fn round_trip_and_lookup() {
        let algo = HashAlgo::Blake3;
        let (names, all) = sample(algo);
        let bytes = encode_entries(algo, &names, &all);
        let m = Midx::from_bytes(bytes.clone(), algo).unwrap();
        assert_eq!(m.names(), names);
        assert_eq!(m.len(), 900);
        let folded = encode_merged(algo, &[&m, &m], &[]).unwrap();
        assert!(
            folded == bytes,
            "a table folded with itself comes back byte for byte"
        );
        for (e, pack) in &all {
            assert_eq!(m.lookup(&e.id).unwrap(), Some((*pack as usize, *e)));
        }
        assert_eq!(
            m.lookup(&algo.hash(Domain::Chunk, b"absent")).unwrap(),
            None
        );
        m.verify().unwrap();
    }

    /// A flip of any byte is caught: by the head checks on opening, or by the bucket's sum
    /// at the first lookup there, and never answers a lookup wrongly.
    #[test]
    fn every_flipped_byte_is_caught() {
        let algo = HashAlgo::Blake3;
        let (names, all) = sample(algo);
        let good = encode_entries(algo, &names, &all[..40]);
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            let Ok(m) = Midx::from_bytes(bad, algo) else {
                continue;
            };
            assert!(m.verify().is_err(), "byte {at} flipped passes");
            for (e, pack) in &all[..40] {
                if let Ok(found) = m.lookup(&e.id) {
                    assert_eq!(found, Some((*pack as usize, *e)), "byte {at}");
                }
            }
        }
    }

    /// Extending a table by a pack, or folding two tables, gives the table built from
    /// scratch over all of them; a damaged bucket refuses the fold.
    #[test]
    fn extending_equals_rebuilding() {
        let algo = HashAlgo::Blake3;
        let dir = tempfile::tempdir().unwrap();
        let mut indexes = Vec::new();
        for p in 0..3u32 {
            let mut entries: Vec<IdxEntry> = (0..50).map(|i| entry(algo, p * 1000 + i)).collect();
            // Every pack also holds one object of the first, as after a copy.
            entries.push(entry(algo, 7));
            let bytes = crate::pack::index::encode_index(algo, &mut entries);
            let path = dir.path().join(format!("{p}.idx"));
            std::fs::write(&path, bytes).unwrap();
            let name = ObjectId([p as u8 * 50 + 1; 32]);
            indexes.push((name, PackIndex::open(&path).unwrap()));
        }
        let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
        let whole = encode(algo, &refs);
        let first = Midx::from_bytes(encode(algo, &refs[1..]), algo).unwrap();
        assert!(encode_extended(algo, &first, &refs[..1]).unwrap() == whole);
        // A base and a tail folded together, with one more pack.
        let base = Midx::from_bytes(encode(algo, &refs[1..2]), algo).unwrap();
        let tail = Midx::from_bytes(encode(algo, &refs[2..]), algo).unwrap();
        let folded = encode_merged(algo, &[&base, &tail], &refs[..1]).unwrap();
        assert!(folded == whole);
        assert!(
            written(algo, &[&base, &tail], &refs[..1]) == whole,
            "streamed"
        );
        let mut bad = encode(algo, &refs[2..]);
        let at = bad.len() - 1;
        bad[at] ^= 1;
        let bad = Midx::from_bytes(bad, algo).unwrap();
        assert!(
            encode_merged(algo, &[&base, &bad], &[]).is_none(),
            "a damaged bucket"
        );
    }

    /// What [`write_merged`] writes to a file.
    fn written(algo: HashAlgo, olds: &[&Midx], added: &[(ObjectId, &PackIndex)]) -> Vec<u8> {
        use std::io::Read;
        let mut f = tempfile::tempfile().unwrap();
        write_merged(algo, olds, added, &mut f).unwrap();
        let mut back = Vec::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut back).unwrap();
        back
    }

    /// The table of the gathered and sorted entries: what the merge must give.
    fn sorted_table(algo: HashAlgo, refs: &[(ObjectId, &PackIndex)]) -> Vec<u8> {
        let mut refs = refs.to_vec();
        refs.sort_by_key(|(name, _)| *name);
        let mut all: Vec<(IdxEntry, u32)> = Vec::new();
        for (n, (_, index)) in refs.iter().enumerate() {
            all.extend(index.entries().flatten().map(|e| (e, n as u32)));
        }
        all.sort_by_key(|(e, _)| e.id);
        all.dedup_by_key(|(e, _)| e.id);
        let names: Vec<ObjectId> = refs.iter().map(|(n, _)| *n).collect();
        encode_entries(algo, &names, &all)
    }

    /// Packs' entries merged as read give the table of the sorted list, an object in
    /// several packs under the pack named first; a pack index out of order (written so
    /// here by hand) falls back to sorting and gives the same table.
    #[test]
    fn merging_equals_sorting() {
        let algo = HashAlgo::Blake3;
        let dir = tempfile::tempdir().unwrap();
        let mut indexes = Vec::new();
        for p in 0..4u32 {
            let mut entries: Vec<IdxEntry> = (0..300).map(|i| entry(algo, p * 1000 + i)).collect();
            entries.push(entry(algo, 99_999)); // in every pack
            let mut bytes = crate::pack::index::encode_index(algo, &mut entries);
            if p == 2 {
                // Swap the first two entries: the file is no longer sorted.
                let (len, at) = (crate::pack::index::ENTRY_LEN, 16 + 256 * 4);
                let first = bytes[at..at + len].to_vec();
                bytes.copy_within(at + len..at + 2 * len, at);
                bytes[at + len..at + 2 * len].copy_from_slice(&first);
            }
            let path = dir.path().join(format!("{p}.idx"));
            std::fs::write(&path, bytes).unwrap();
            let name = ObjectId([(9 - p) as u8; 32]);
            indexes.push((name, PackIndex::open(&path).unwrap()));
        }
        let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
        let sorted = [&refs[..2], &refs[3..]].concat();
        assert!(Merged::of_packs(&sorted).all(|e| e.is_some()));
        assert!(encode(algo, &sorted) == sorted_table(algo, &sorted));
        let mut disordered = refs.clone();
        disordered.sort_by_key(|(name, _)| *name);
        assert!(Merged::of_packs(&disordered).any(|e| e.is_none()));
        assert!(encode(algo, &refs) == sorted_table(algo, &refs));
        assert!(written(algo, &[], &sorted) == sorted_table(algo, &sorted));
        assert!(
            written(algo, &[], &refs) == sorted_table(algo, &refs),
            "streamed, with the fallback to sorting"
        );
        let m = Midx::from_bytes(encode(algo, &refs), algo).unwrap();
        m.verify().unwrap();
        assert_eq!(m.len(), 4 * 300 + 1);
    }

    #[test]
    fn rejects_bad_heads() {
        let algo = HashAlgo::Blake3;
        let (names, all) = sample(algo);
        let good = encode_entries(algo, &names, &all);
        assert!(Midx::from_bytes(good[..good.len() - 1].to_vec(), algo).is_err());
        assert!(Midx::from_bytes(good[..10].to_vec(), algo).is_err());
        let mut longer = good.clone();
        longer.push(0);
        assert!(Midx::from_bytes(longer, algo).is_err());
        let empty = encode_entries(algo, &[], &[]);
        let m = Midx::from_bytes(empty, algo).unwrap();
        assert!(m.is_empty() && m.names().is_empty());
        m.verify().unwrap();
    }
}
