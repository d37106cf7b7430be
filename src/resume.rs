//! The resume file of an interrupted add: where the read of each large file in progress
//! stopped at the last checkpoint, so that the same add run again goes on from there instead
//! of reading the file again from its first byte.
//!
//! `.cairn/add-resume`, written at each checkpoint of a long add after its packs are sealed
//! (every chunk it names is stored) and removed when the add ends. A record applies only to
//! the file it was made from: same path, and the same stat data (size, times, inode, mode)
//! when the file is opened again, so a file changed since is read whole. A missing, damaged
//! or unknown-version file only means that files are read from the start again: nothing is
//! lost by ignoring it. Bytes (docs/FORMAT.md, "Resume file"), integers little-endian:
//!
//! ```text
//! "CAIRNRSM"  version u32 (1)  count u32
//! count x { path_len u32, path, size u64, mtime_ns i64, ctime_ns i64, ino u64, mode u32,
//!           offset u64, chunks u32, chunks x { id [32], len u32 } }
//! BLAKE3 of every byte before it [32]
//! ```

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fsutil;
use crate::hash::ObjectId;
use crate::index::Stat;
use crate::object::ChunkRef;

const MAGIC: &[u8; 8] = b"CAIRNRSM";
/// The version written and the only one read.
pub const VERSION: u32 = 1;
/// Bytes of one chunk reference.
const CHUNK_LEN: usize = ObjectId::LEN + 4;

/// Where the read of one file stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The file's stat data when its read began: it goes on only if the file still has them.
    pub stat: Stat,
    /// Where the next chunk begins: every byte before it is in `chunks`.
    pub offset: u64,
    /// The file's chunks up to `offset`, in order; all of them stored.
    pub chunks: Vec<ChunkRef>,
}

/// The resume file's path in the repository directory `cairn_dir`.
pub fn path(cairn_dir: &Path) -> PathBuf {
    cairn_dir.join("add-resume")
}

/// The records of the resume file, by path; empty when there is none or it cannot be used.
pub fn load(cairn_dir: &Path) -> Vec<(Vec<u8>, Partial)> {
    std::fs::read(path(cairn_dir))
        .ok()
        .and_then(|b| decode(&b).ok())
        .unwrap_or_default()
}

/// Replaces the resume file with `records` (removes it when there are none), atomically.
pub fn save(cairn_dir: &Path, tmp_dir: &Path, records: &[(&[u8], &Partial)]) -> Result<()> {
    if records.is_empty() {
        return clear(cairn_dir);
    }
    fsutil::write_atomic(tmp_dir, &path(cairn_dir), &encode(records))
}

/// Removes the resume file: the add it served has ended.
pub fn clear(cairn_dir: &Path) -> Result<()> {
    let p = path(cairn_dir);
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(crate::error::Error::io("could not remove", p)(e))
        }
        _ => Ok(()),
    }
}

/// The file's bytes for `records`.
pub fn encode(records: &[(&[u8], &Partial)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for (rel, p) in records {
        out.extend_from_slice(&(rel.len() as u32).to_le_bytes());
        out.extend_from_slice(rel);
        let s = &p.stat;
        out.extend_from_slice(&s.size.to_le_bytes());
        out.extend_from_slice(&s.mtime_ns.to_le_bytes());
        out.extend_from_slice(&s.ctime_ns.to_le_bytes());
        out.extend_from_slice(&s.ino.to_le_bytes());
        out.extend_from_slice(&s.mode.to_le_bytes());
        out.extend_from_slice(&p.offset.to_le_bytes());
        out.extend_from_slice(&(p.chunks.len() as u32).to_le_bytes());
        for c in &p.chunks {
            out.extend_from_slice(c.id.as_bytes());
            out.extend_from_slice(&c.len.to_le_bytes());
        }
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// The records in `bytes`, or what is wrong with them. Every length is checked against the
/// bytes that remain before anything is allocated, so a hostile count costs nothing.
pub fn decode(bytes: &[u8]) -> std::result::Result<Vec<(Vec<u8>, Partial)>, String> {
    let body_len = bytes
        .len()
        .checked_sub(32)
        .ok_or("shorter than its checksum")?;
    let (body, sum) = bytes.split_at(body_len);
    if blake3::hash(body).as_bytes() != sum {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader(body);
    if r.take(8)? != MAGIC {
        return Err("not a resume file".into());
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!("version {version} is not known"));
    }
    let count = r.u32()?;
    let mut records = Vec::new();
    for _ in 0..count {
        records.push(record(&mut r)?);
    }
    if !r.0.is_empty() {
        return Err("bytes after the last record".into());
    }
    Ok(records)
}

fn record(r: &mut Reader) -> std::result::Result<(Vec<u8>, Partial), String> {
    let len = r.u32()? as usize;
    let rel = r.take(len)?.to_vec();
    let stat = Stat {
        size: r.u64()?,
        mtime_ns: r.u64()? as i64,
        ctime_ns: r.u64()? as i64,
        ino: r.u64()?,
        mode: r.u32()?,
    };
    let offset = r.u64()?;
    let n = r.u32()? as usize;
    let table = r.take(n.checked_mul(CHUNK_LEN).ok_or("too many chunks")?)?;
    let chunks: Vec<ChunkRef> = table
        .chunks_exact(CHUNK_LEN)
        .map(|c| ChunkRef {
            id: ObjectId::from_slice(&c[..ObjectId::LEN]).unwrap_or_default(),
            len: u32::from_le_bytes([c[32], c[33], c[34], c[35]]),
        })
        .collect();
    let covered: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
    if covered != offset || offset > stat.size || chunks.iter().any(|c| c.len == 0) {
        return Err(format!(
            "a record's chunks cover {covered} bytes, its offset is {offset}"
        ));
    }
    Ok((
        rel,
        Partial {
            stat,
            offset,
            chunks,
        },
    ))
}

/// The bytes not yet decoded.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("truncated".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Domain, HashAlgo};

    fn sample() -> Vec<(Vec<u8>, Partial)> {
        let chunk = |i: u8, len| ChunkRef {
            id: HashAlgo::Blake3.hash(Domain::Chunk, &[i]),
            len,
        };
        vec![(
            b"data/big.bin".to_vec(),
            Partial {
                stat: Stat {
                    size: 1 << 30,
                    mtime_ns: 1_700_000_000_123_456_789,
                    ctime_ns: -5,
                    ino: 77,
                    mode: 0o100644,
                },
                offset: 70_000,
                chunks: vec![chunk(1, 30_000), chunk(2, 40_000)],
            },
        )]
    }

    fn refs(recs: &[(Vec<u8>, Partial)]) -> Vec<(&[u8], &Partial)> {
        recs.iter().map(|(r, p)| (r.as_slice(), p)).collect()
    }

    fn encode_owned(recs: &[(Vec<u8>, Partial)]) -> Vec<u8> {
        encode(&refs(recs))
    }

    #[test]
    fn round_trips() {
        let recs = sample();
        assert_eq!(decode(&encode_owned(&recs)).unwrap(), recs);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_refused() {
        let bytes = encode_owned(&sample());
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode(&b).is_err(), "bit {i}");
        }
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "{n} bytes");
        }
    }

    /// A count or length that the bytes cannot hold is refused before any allocation,
    /// even with a valid checksum (a hostile file is checksummed by its author).
    #[test]
    fn hostile_lengths_are_refused() {
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&VERSION.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes()); // path length
        let sum = blake3::hash(&body);
        body.extend_from_slice(sum.as_bytes());
        assert_eq!(decode(&body).unwrap_err(), "truncated");
    }

    /// Chunks that do not add up to the offset would put a wrong file together.
    #[test]
    fn an_offset_its_chunks_do_not_cover_is_refused() {
        let mut recs = sample();
        recs[0].1.offset += 1;
        assert!(decode(&encode_owned(&recs)).is_err());
    }
}
