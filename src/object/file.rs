//! File objects: the ordered chunk list of one file's content. The file id is the merkle
//! root over one leaf per chunk, `H(FileLeaf, chunk id | offset u64 | length u32)`, so a
//! byte range can be proven by the chunks that cover it and their audit paths.
//!
//! Encoding: `version u8 (1) | count u32 | count x (chunk id 32 | length u32)`.

use serde::{Deserialize, Serialize};

use super::Reader;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;

pub const FILE_VERSION: u8 = 1;

/// One chunk of a file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct ChunkRef {
    pub id: ObjectId,
    pub len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileObject {
    pub chunks: Vec<ChunkRef>,
}

impl FileObject {
    pub fn size(&self) -> u64 {
        self.chunks.iter().map(|c| c.len as u64).sum()
    }

    /// The merkle leaves, with each chunk's offset in the file.
    pub fn leaves(&self, algo: HashAlgo) -> Vec<ObjectId> {
        let mut offset = 0u64;
        self.chunks
            .iter()
            .map(|c| {
                let leaf = leaf(algo, c, offset);
                offset += c.len as u64;
                leaf
            })
            .collect()
    }

    /// The file id.
    pub fn id(&self, algo: HashAlgo) -> ObjectId {
        merkle::root(algo, Domain::FileNode, &self.leaves(algo))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.chunks.len() * 36);
        out.push(FILE_VERSION);
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for c in &self.chunks {
            out.extend_from_slice(c.id.as_bytes());
            out.extend_from_slice(&c.len.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<FileObject, String> {
        let mut r = Reader::new(b);
        let v = r.u8()?;
        if v != FILE_VERSION {
            return Err(format!("unsupported file object version {v}"));
        }
        let n = r.count(36)?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.id()?;
            let len = r.u32()?;
            if len == 0 {
                return Err("a chunk of length zero".into());
            }
            chunks.push(ChunkRef { id, len });
        }
        r.finish()?;
        Ok(FileObject { chunks })
    }
}

/// The merkle leaf of a chunk at `offset`.
pub fn leaf(algo: HashAlgo, c: &ChunkRef, offset: u64) -> ObjectId {
    algo.hash_parts(
        Domain::FileLeaf,
        &[c.id.as_bytes(), &offset.to_le_bytes(), &c.len.to_le_bytes()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk(i: u32, len: u32) -> ChunkRef {
        ChunkRef {
            id: HashAlgo::Blake3.hash(Domain::Chunk, &i.to_le_bytes()),
            len,
        }
    }

    #[test]
    fn ids_commit_to_order_and_lengths() {
        let a = HashAlgo::Blake3;
        let f = FileObject {
            chunks: vec![chunk(1, 10), chunk(2, 20)],
        };
        let swapped = FileObject {
            chunks: vec![chunk(2, 20), chunk(1, 10)],
        };
        let longer = FileObject {
            chunks: vec![chunk(1, 11), chunk(2, 20)],
        };
        assert_ne!(f.id(a), swapped.id(a));
        assert_ne!(f.id(a), longer.id(a));
        assert_eq!(f.size(), 30);
        assert_eq!(FileObject::default().id(a), a.hash(Domain::FileNode, b""));
    }

    #[test]
    fn rejects_malformed() {
        assert!(FileObject::decode(&[]).is_err());
        assert!(FileObject::decode(&[2, 0, 0, 0, 0]).is_err());
        assert!(FileObject::decode(&[1, 255, 255, 255, 255]).is_err());
        let mut ok = FileObject {
            chunks: vec![chunk(1, 10)],
        }
        .encode();
        ok.push(0);
        assert!(FileObject::decode(&ok).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(lens in proptest::collection::vec(1u32..1_000_000, 0..50)) {
            let f = FileObject { chunks: lens.iter().enumerate().map(|(i, l)| chunk(i as u32, *l)).collect() };
            prop_assert_eq!(FileObject::decode(&f.encode()).unwrap(), f);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = FileObject::decode(&bytes);
        }
    }
}
