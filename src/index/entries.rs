//! A reader for the start of the staging index payload: `base_tree` and the entries, the
//! bulk of the file, decoded straight into the in-memory map.
//!
//! These bytes are bincode 2's standard encoding (FORMAT.md section 14), and the writer is
//! bincode; reading them by hand decodes an entry in a third of the instructions bincode's
//! generic decoder takes, which a status of 200,000 files pays once per entry. The pinned
//! vectors in tests/format_vectors.rs hold the two to the same bytes.

use super::tracked::Map as Entries;
use super::{IndexEntry, Stat};
use crate::hash::ObjectId;
use crate::object::ChunkRef;

/// The fewest bytes an entry takes: an empty path's length, kind, mode, five stat fields,
/// the file id and an empty chunk list. Counts read from the file are capped by what the
/// remaining bytes could hold, so a hostile count reserves nothing.
const MIN_ENTRY: usize = 1 + 1 + 1 + 5 + 32 + 1;
/// A chunk reference: its id and a length of at least one byte.
const MIN_CHUNK: usize = 33;

/// Reads `base_tree` and the entries; returns them and the offset of what follows.
pub(super) fn read(b: &[u8]) -> Result<(Option<ObjectId>, Entries, usize), String> {
    let mut r = Reader { b, at: 0 };
    let base_tree = match r.u8()? {
        0 => None,
        1 => Some(r.id()?),
        v => return Err(format!("invalid option tag {v}")),
    };
    let n = r.len(MIN_ENTRY)?;
    let mut entries = Entries::with_capacity_and_hasher(n, Default::default());
    for _ in 0..n {
        let path = r.bytes()?.to_vec();
        let entry = r.entry()?;
        if entries.insert(path, entry).is_some() {
            return Err("a path appears twice".into());
        }
    }
    Ok((base_tree, entries, r.at))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        let end = end.ok_or("the payload ends inside an entry")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
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
        let room = (self.b.len() - self.at) / min;
        if n > room as u64 {
            return Err(format!("a length of {n} exceeds what the payload holds"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
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
        let file_id = self.id()?;
        let n = self.len(MIN_CHUNK)?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            chunks.push(ChunkRef {
                id: self.id()?,
                len: self.u32()?,
            });
        }
        Ok(IndexEntry {
            kind,
            mode,
            stat,
            file_id,
            chunks,
        })
    }
}
