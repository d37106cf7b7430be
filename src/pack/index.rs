//! The pack index format (`.idx`): a sorted table of the pack's objects, memory-mapped for
//! lookups, with a 256-entry fan-out table on the first id byte.
//!
//! ```text
//! magic "CAIRNIDX" | version u32 | count u32
//! fanout: 256 x u32, fanout[b] = number of entries whose id's first byte <= b
//! entries: count x (id 32 | offset u64 | raw_len u32 | stored_len u32 | kind u8 | codec u8)
//! checksum: 32 bytes, hash(Checksum domain, everything before)
//! ```
//! All integers little-endian.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::bytes::{FileBytes, PacksDir};
use super::{Codec, ObjectKind};
use crate::error::{Error, IoContext, Result};
use crate::hash::{Domain, HashAlgo, ObjectId};

pub(super) const IDX_MAGIC: &[u8; 8] = b"CAIRNIDX";
pub(super) const IDX_VERSION: u32 = 1;
const HEADER: usize = 16;
const FANOUT: usize = 256 * 4;
pub(super) const ENTRY_LEN: usize = 32 + 8 + 4 + 4 + 1 + 1;

/// The largest offset an entry may give: no pack is near that size, and it keeps an offset
/// plus a record's lengths far from overflowing a `u64` or an `off_t`. An entry beyond it is
/// damage (a hostile index once made gc overflow computing where a record ends).
pub(super) const MAX_OFFSET: u64 = 1 << 48;

/// Where one object lives in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxEntry {
    /// The object's id.
    pub id: ObjectId,
    /// Where the object's record starts in the pack file, in bytes (its header, not its payload).
    pub offset: u64,
    /// The payload's length once decompressed, in bytes.
    pub raw_len: u32,
    /// The payload's length in the pack, in bytes.
    pub stored_len: u32,
    /// What the object is.
    pub kind: ObjectKind,
    /// How the payload is stored.
    pub codec: Codec,
}

impl IdxEntry {
    /// The record header this entry describes: every byte of it must match the pack's.
    pub fn record_header(&self) -> [u8; super::RECORD_HEADER_LEN] {
        super::record_header(
            &self.id,
            self.kind,
            self.codec,
            self.raw_len,
            self.stored_len,
        )
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
        out.extend_from_slice(&self.stored_len.to_le_bytes());
        out.push(self.kind as u8);
        out.push(self.codec as u8);
    }

    fn decode(b: &[u8]) -> Option<IdxEntry> {
        let offset = u64::from_le_bytes(b[32..40].try_into().ok()?);
        Some(IdxEntry {
            id: ObjectId::from_slice(&b[..32])?,
            offset: (offset <= MAX_OFFSET).then_some(offset)?,
            raw_len: u32::from_le_bytes(b[40..44].try_into().ok()?),
            stored_len: u32::from_le_bytes(b[44..48].try_into().ok()?),
            kind: ObjectKind::from_u8(b[48])?,
            codec: Codec::from_u8(b[49])?,
        })
    }
}

/// Encodes an index; sorts `entries` by id first.
pub(super) fn encode_index(algo: HashAlgo, entries: &mut [IdxEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + FANOUT + entries.len() * ENTRY_LEN + 32);
    write_index(algo, entries, &mut out).expect("writing to memory cannot fail");
    out
}

/// Writes an index to `out` as [`encode_index`] encodes it, a block at a time: a pack of
/// small objects has an index of tens of MB (36 MB for the file objects of a first commit
/// of a million files), which is not held whole beside the entries it is made from.
pub(super) fn write_index(
    algo: HashAlgo,
    entries: &mut [IdxEntry],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    entries.sort_unstable_by_key(|e| e.id);
    let mut sum = algo.hasher(Domain::Checksum);
    let mut block = Vec::with_capacity(HEADER + FANOUT);
    block.extend_from_slice(IDX_MAGIC);
    block.extend_from_slice(&IDX_VERSION.to_le_bytes());
    block.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let mut fanout = [0u32; 256];
    for e in entries.iter() {
        fanout[e.id.0[0] as usize] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        block.extend_from_slice(&total.to_le_bytes());
    }
    for chunk in entries.chunks(1024) {
        for e in chunk {
            e.encode(&mut block);
        }
        sum.update(&block);
        out.write_all(&block)?;
        block.clear();
    }
    sum.update(&block);
    block.extend_from_slice(sum.finish().as_bytes());
    out.write_all(&block)
}

/// A pack index, read whole when small and mapped when large (see [`FileBytes`]). Opening
/// checks the header, the size and the fan-out table, so lookups can index without further
/// checks; the checksum is checked by `verify` and `gc`.
pub struct PackIndex {
    map: FileBytes,
    count: usize,
    path: PathBuf,
}

impl PackIndex {
    /// Opens the index at `path`, checking its header, length and fan-out table ([`Error::Corrupt`]
    /// when they are wrong).
    pub fn open(path: &Path) -> Result<PackIndex> {
        let file = File::open(path).ctx("could not open pack index", path)?;
        let len = file
            .metadata()
            .ctx("could not open pack index", path)?
            .len();
        let map = FileBytes::load(&file, len).ctx("could not read pack index", path)?;
        let count = Self::check(&map).map_err(|d| Error::corrupt("pack index", path, d))?;
        Ok(PackIndex {
            map,
            count,
            path: path.to_path_buf(),
        })
    }

    /// Opens the index of the pack `name` in `dir` by name, with one `read` when it is
    /// small (see [`FileBytes::read_guessed`]): what `verify` and `gc` do for every pack.
    pub(crate) fn open_in(dir: &PacksDir, name: &ObjectId) -> Result<PackIndex> {
        /// The index of a pack of up to 60 objects, more than one small commit writes.
        const GUESS: usize = 4 << 10;
        let file_name = format!("{name}.idx");
        let path = || dir.path().join(&file_name);
        let file = dir
            .open(&file_name)
            .ctx("could not open pack index", &path())?;
        let map =
            FileBytes::read_guessed(&file, GUESS).ctx("could not read pack index", &path())?;
        let count = Self::check(&map).map_err(|d| Error::corrupt("pack index", &path(), d))?;
        Ok(PackIndex {
            map,
            count,
            path: path(),
        })
    }

    fn check(b: &[u8]) -> std::result::Result<usize, String> {
        if b.len() < HEADER + FANOUT + 32 || &b[..8] != IDX_MAGIC {
            return Err("not a cairn pack index".into());
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != IDX_VERSION {
            return Err(format!("unsupported pack index version {version}"));
        }
        let count = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")) as usize;
        if b.len() != HEADER + FANOUT + count * ENTRY_LEN + 32 {
            return Err("length does not match the entry count".into());
        }
        super::check_fanout(count, |i| fanout_at(b, i))?;
        Ok(count)
    }

    /// Drops the pages of a mapped index from the process's memory.
    pub(crate) fn release_pages(&self) {
        self.map.release_pages();
    }

    /// The number of objects the index lists.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the index lists no objects.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn id_at(&self, i: usize) -> &[u8] {
        let s = HEADER + FANOUT + i * ENTRY_LEN;
        &self.map[s..s + 32]
    }

    /// The entry at position `i`, or `None` when its kind or codec byte is unknown.
    pub fn entry(&self, i: usize) -> Option<IdxEntry> {
        let s = HEADER + FANOUT + i * ENTRY_LEN;
        IdxEntry::decode(&self.map[s..s + ENTRY_LEN])
    }

    /// Finds `id` by binary search within its fan-out bucket.
    pub fn lookup(&self, id: &ObjectId) -> Option<IdxEntry> {
        let b = id.0[0] as usize;
        let lo = if b == 0 {
            0
        } else {
            fanout_at(&self.map, b - 1)
        };
        let hi = fanout_at(&self.map, b);
        super::search_bucket((lo, hi), id, |i| self.id_at(i)).and_then(|i| self.entry(i))
    }

    /// Every entry in id order, `None` where an entry's kind, codec or offset is invalid.
    pub fn entries(&self) -> impl Iterator<Item = Option<IdxEntry>> + '_ {
        (0..self.count).map(|i| self.entry(i))
    }

    /// Checks the trailing checksum and that ids are strictly sorted.
    pub fn verify(&self, algo: HashAlgo) -> std::result::Result<(), String> {
        let body = &self.map[..self.map.len() - 32];
        if algo.hash(Domain::Checksum, body).as_bytes() != &self.map[self.map.len() - 32..] {
            return Err("checksum does not match".into());
        }
        for i in 0..self.count {
            if i > 0 && self.id_at(i - 1) >= self.id_at(i) {
                return Err("ids are not strictly sorted".into());
            }
            let b = self.id_at(i)[0] as usize;
            let lo = if b == 0 {
                0
            } else {
                fanout_at(&self.map, b - 1)
            };
            if i < lo || i >= fanout_at(&self.map, b) {
                return Err("the fan-out table does not match the ids".into());
            }
            if self.entry(i).is_none() {
                return Err(format!("entry {i} has an unknown kind or codec"));
            }
        }
        Ok(())
    }
}

fn fanout_at(b: &[u8], i: usize) -> usize {
    let s = HEADER + i * 4;
    u32::from_le_bytes(b[s..s + 4].try_into().expect("4 bytes")) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lookup() {
        let algo = HashAlgo::Blake3;
        let mut entries: Vec<IdxEntry> = (0..500u32)
            .map(|i| IdxEntry {
                id: algo.hash(Domain::Chunk, &i.to_le_bytes()),
                offset: u64::from(i) * 100,
                raw_len: i,
                stored_len: i,
                kind: ObjectKind::Chunk,
                codec: Codec::Raw,
            })
            .collect();
        let bytes = encode_index(algo, &mut entries);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        std::fs::write(&p, &bytes).unwrap();
        let idx = PackIndex::open(&p).unwrap();
        assert_eq!(idx.len(), 500);
        idx.verify(algo).unwrap();
        for e in &entries {
            assert_eq!(idx.lookup(&e.id), Some(*e));
        }
        assert_eq!(idx.lookup(&algo.hash(Domain::Chunk, b"absent")), None);
    }

    #[test]
    fn rejects_damage() {
        let algo = HashAlgo::Blake3;
        let mut entries = vec![];
        let bytes = encode_index(algo, &mut entries);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(PackIndex::open(&p).is_err());
        let mut bad = bytes.clone();
        bad[20] = 9;
        std::fs::write(&p, &bad).unwrap();
        assert!(PackIndex::open(&p).is_err());
        let mut bad = bytes.clone();
        bad[bytes.len() - 1] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        assert!(PackIndex::open(&p).unwrap().verify(algo).is_err());
    }
}
