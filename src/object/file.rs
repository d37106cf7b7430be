//! File objects: the ordered chunk list of one file's content. The file id is the merkle
//! root over one leaf per chunk, `H(FileLeaf, chunk id | offset u64 | length u32)`, so a
//! byte range can be proven by the chunks that cover it and their audit paths.
//!
//! A file of up to [`LIST_ABOVE`] chunks is stored whole (version 1:
//! `version u8 | count u32 | count x (chunk id 32 | length u32)`). A longer one is stored as
//! the ids of its chunk lists (version 2: `version u8 | count u32 | count x list id 32`),
//! each list a run of its chunk refs cut where a chunk id says so. The cuts depend only on
//! the chunks around them, so a new version of a large file shares every list its edits did
//! not touch, and stores a few KiB of new lists instead of a whole new chunk list.

use serde::{Deserialize, Serialize};

use super::Reader;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;

/// The version of a file object that holds its chunk list whole.
pub const FILE_VERSION: u8 = 1;
/// The version of a file object that names chunk lists.
pub const FILE_VERSION_LISTS: u8 = 2;
/// Files of more chunks than this are stored as chunk lists.
pub const LIST_ABOVE: usize = 256;
/// A list is cut after a chunk whose id's last four bytes, little-endian, are 0 modulo
/// [`LIST_CUT_EVERY`], once it holds [`LIST_MIN`] refs, and always at [`LIST_MAX`] refs:
/// about 80 refs (2.9 KiB) a list.
pub const LIST_MIN: usize = 16;
/// The most refs a chunk list holds: a list is always cut here (see [`LIST_MIN`]).
pub const LIST_MAX: usize = 1024;
/// A list may end after a chunk whose id's last four bytes are 0 modulo this (see
/// [`LIST_MIN`]), so one list in this many chunks, on average.
pub const LIST_CUT_EVERY: u32 = 64;

/// One chunk of a file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct ChunkRef {
    /// The chunk's id: the hash of its bytes.
    pub id: ObjectId,
    /// The chunk's length in bytes.
    pub len: u32,
}

/// One file's content: its chunks in order. An empty file has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileObject {
    /// The chunks in file order; their lengths add up to the file's size.
    pub chunks: Vec<ChunkRef>,
}

impl FileObject {
    /// The file's length in bytes.
    pub fn size(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.len)).sum()
    }

    /// The merkle leaves, with each chunk's offset in the file.
    pub fn leaves(&self, algo: HashAlgo) -> Vec<ObjectId> {
        let mut offset = 0u64;
        self.chunks
            .iter()
            .map(|c| {
                let leaf = leaf(algo, c, offset);
                offset += u64::from(c.len);
                leaf
            })
            .collect()
    }

    /// The file id.
    pub fn id(&self, algo: HashAlgo) -> ObjectId {
        merkle::root(algo, Domain::FileNode, &self.leaves(algo))
    }

    /// The whole encoding (version 1), whatever the number of chunks. Writers use
    /// [`FileObject::encode_stored`], which picks the canonical form.
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

    /// Decodes a version 1 (whole) file object.
    pub fn decode(b: &[u8]) -> Result<FileObject, String> {
        match decode_stored(b)? {
            StoredFile::Whole(f) => Ok(f),
            StoredFile::Lists(_) => Err("a file object of chunk lists".into()),
        }
    }

    /// The canonical stored form: the file object's encoding, and the chunk lists it names
    /// as `(list id, encoding)` (none for a file of up to [`LIST_ABOVE`] chunks).
    pub fn encode_stored(&self, algo: HashAlgo) -> (Vec<u8>, Vec<(ObjectId, Vec<u8>)>) {
        if self.chunks.len() <= LIST_ABOVE {
            return (self.encode(), Vec::new());
        }
        let lists: Vec<(ObjectId, Vec<u8>)> = list_runs(&self.chunks)
            .map(|run| {
                let enc = encode_list(run);
                (list_id(algo, &enc), enc)
            })
            .collect();
        let mut out = Vec::with_capacity(5 + lists.len() * 32);
        out.push(FILE_VERSION_LISTS);
        out.extend_from_slice(&(lists.len() as u32).to_le_bytes());
        for (id, _) in &lists {
            out.extend_from_slice(id.as_bytes());
        }
        (out, lists)
    }

    /// Rebuilds a file from the chunk lists its object names, in order, checking that they
    /// are cut where [`encode_stored`](FileObject::encode_stored) cuts, so that the stored
    /// form stays canonical.
    pub fn from_lists(lists: Vec<Vec<ChunkRef>>) -> Result<FileObject, String> {
        let chunks = lists.concat();
        if chunks.len() <= LIST_ABOVE {
            return Err(format!(
                "{} chunks in chunk lists; a file of up to {LIST_ABOVE} is stored whole",
                chunks.len()
            ));
        }
        let canonical = list_runs(&chunks).map(<[ChunkRef]>::len);
        if !canonical.eq(lists.iter().map(Vec::len)) {
            return Err("chunk lists not cut where the format cuts them".into());
        }
        Ok(FileObject { chunks })
    }
}

/// How a file object is stored: whole, or as the ids of its chunk lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredFile {
    /// The chunk list itself (version 1).
    Whole(FileObject),
    /// The ids of the chunk lists, in order (version 2).
    Lists(Vec<ObjectId>),
}

/// Decodes a file object of either version. A whole file of more than [`LIST_ABOVE`]
/// chunks is accepted: cairn wrote those before chunk lists existed.
pub fn decode_stored(b: &[u8]) -> Result<StoredFile, String> {
    let mut r = Reader::new(b);
    match r.u8()? {
        FILE_VERSION => {
            let chunks = read_refs(&mut r)?;
            r.finish()?;
            Ok(StoredFile::Whole(FileObject { chunks }))
        }
        FILE_VERSION_LISTS => {
            let n = r.count(32)?;
            if n == 0 {
                return Err("a file object of no chunk lists".into());
            }
            let ids = (0..n).map(|_| r.id()).collect::<Result<Vec<_>, _>>()?;
            r.finish()?;
            Ok(StoredFile::Lists(ids))
        }
        v => Err(format!("unsupported file object version {v}")),
    }
}

/// A chunk list's encoding: `count u32 | count x (chunk id 32 | length u32)`.
pub fn encode_list(chunks: &[ChunkRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + chunks.len() * 36);
    out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    for c in chunks {
        out.extend_from_slice(c.id.as_bytes());
        out.extend_from_slice(&c.len.to_le_bytes());
    }
    out
}

/// Decodes a chunk list: from 1 to [`LIST_MAX`] refs.
pub fn decode_list(b: &[u8]) -> Result<Vec<ChunkRef>, String> {
    let mut r = Reader::new(b);
    let chunks = read_refs(&mut r)?;
    r.finish()?;
    if chunks.is_empty() || chunks.len() > LIST_MAX {
        return Err(format!("a chunk list of {} refs", chunks.len()));
    }
    Ok(chunks)
}

/// A chunk list's id: the hash of its encoding.
pub fn list_id(algo: HashAlgo, encoding: &[u8]) -> ObjectId {
    algo.hash(Domain::ChunkList, encoding)
}

/// The ids of the chunk lists a file of `chunks` is stored as (none when stored whole).
pub fn list_ids(algo: HashAlgo, chunks: &[ChunkRef]) -> Vec<ObjectId> {
    if chunks.len() <= LIST_ABOVE {
        return Vec::new();
    }
    list_runs(chunks)
        .map(|run| list_id(algo, &encode_list(run)))
        .collect()
}

/// `count u32 | count x (chunk id 32 | length u32)`, lengths never zero.
fn read_refs(r: &mut Reader) -> Result<Vec<ChunkRef>, String> {
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
    Ok(chunks)
}

/// Cuts a chunk list into runs: after a chunk whose id picks a cut, once the run holds
/// [`LIST_MIN`] refs, and at [`LIST_MAX`] refs. A cut depends only on the refs since the
/// previous cut, so runs resynchronise a few cuts after an edit.
fn list_runs(chunks: &[ChunkRef]) -> impl Iterator<Item = &[ChunkRef]> {
    let mut rest = chunks;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = rest
            .iter()
            .enumerate()
            .position(|(i, c)| i + 1 == LIST_MAX || (i + 1 >= LIST_MIN && cuts_after(c)))
            .map_or(rest.len(), |i| i + 1);
        let (run, tail) = rest.split_at(len);
        rest = tail;
        Some(run)
    })
}

fn cuts_after(c: &ChunkRef) -> bool {
    let tail: [u8; 4] = c.id.as_bytes()[28..].try_into().expect("4 bytes");
    u32::from_le_bytes(tail).is_multiple_of(LIST_CUT_EVERY)
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
    use std::collections::HashSet;

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

    /// A file of `n` chunks with distinct ids, seeded by `seed`.
    fn many(seed: u32, n: u32) -> FileObject {
        FileObject {
            chunks: (0..n)
                .map(|i| chunk(seed * 1_000_000 + i, 1000 + i))
                .collect(),
        }
    }

    /// Decodes what `encode_stored` wrote, the way a reader does.
    fn reload(stored: &(Vec<u8>, Vec<(ObjectId, Vec<u8>)>)) -> FileObject {
        match decode_stored(&stored.0).unwrap() {
            StoredFile::Whole(f) => f,
            StoredFile::Lists(ids) => {
                let names: Vec<ObjectId> = stored.1.iter().map(|(id, _)| *id).collect();
                assert_eq!(ids, names);
                let lists = stored.1.iter().map(|(_, b)| decode_list(b).unwrap());
                FileObject::from_lists(lists.collect()).unwrap()
            }
        }
    }

    #[test]
    fn small_files_are_stored_whole() {
        let a = HashAlgo::Blake3;
        let f = many(1, LIST_ABOVE as u32);
        let (object, lists) = f.encode_stored(a);
        assert_eq!(object, f.encode());
        assert!(lists.is_empty() && list_ids(a, &f.chunks).is_empty());
    }

    #[test]
    fn large_files_are_stored_as_lists_that_round_trip() {
        let a = HashAlgo::Sha256;
        let f = many(2, 20_000);
        let stored = f.encode_stored(a);
        assert_eq!(stored.0[0], FILE_VERSION_LISTS);
        let lens: Vec<usize> = stored.1.iter().map(|(_, b)| (b.len() - 4) / 36).collect();
        let (last, full) = lens.split_last().unwrap();
        assert!(full.iter().all(|n| (LIST_MIN..=LIST_MAX).contains(n)));
        assert!(*last >= 1);
        // About LIST_MIN + LIST_CUT_EVERY refs a list on random ids.
        let mean = 20_000 / lens.len();
        assert!((50..130).contains(&mean), "{mean} refs a list");
        for (id, b) in &stored.1 {
            assert_eq!(*id, list_id(a, b));
        }
        let ids: Vec<ObjectId> = stored.1.iter().map(|(id, _)| *id).collect();
        assert_eq!(list_ids(a, &f.chunks), ids);
        assert_eq!(reload(&stored), f);
    }

    #[test]
    fn an_edit_changes_only_the_lists_around_it() {
        let a = HashAlgo::Blake3;
        let v1 = many(3, 30_000);
        let mut v2 = v1.clone();
        // Three edits: insert new chunks, drop one, change one's length.
        v2.chunks.splice(5_000..5_000, many(4, 16).chunks);
        v2.chunks.remove(15_000);
        v2.chunks[25_000].len += 1;
        let before: HashSet<ObjectId> = list_ids(a, &v1.chunks).into_iter().collect();
        let after = list_ids(a, &v2.chunks);
        let new = after.iter().filter(|id| !before.contains(id)).count();
        assert!(new <= 9, "{new} of {} lists are new", after.len());
        assert_eq!(reload(&v2.encode_stored(a)), v2);
    }

    #[test]
    fn repeated_chunks_share_their_lists() {
        let a = HashAlgo::Blake3;
        let f = FileObject {
            chunks: vec![chunk(7, 4096); 10_000],
        };
        let (_, lists) = f.encode_stored(a);
        let distinct: HashSet<ObjectId> = lists.iter().map(|(id, _)| *id).collect();
        assert!(distinct.len() <= 2, "{} distinct lists", distinct.len());
        assert_eq!(reload(&f.encode_stored(a)), f);
    }

    #[test]
    fn lists_cut_anywhere_else_are_refused() {
        let a = HashAlgo::Blake3;
        let f = many(5, 2_000);
        let (_, lists) = f.encode_stored(a);
        let mut runs: Vec<Vec<ChunkRef>> =
            lists.iter().map(|(_, b)| decode_list(b).unwrap()).collect();
        assert!(FileObject::from_lists(runs.clone()).is_ok());
        let second = runs.remove(1);
        runs[0].extend(second);
        assert!(FileObject::from_lists(runs).is_err(), "two lists merged");
        let small = many(6, 100);
        let err = FileObject::from_lists(vec![small.chunks]).unwrap_err();
        assert!(err.contains("stored whole"), "{err}");
    }

    #[test]
    fn whole_objects_of_many_chunks_still_decode() {
        // cairn wrote these before chunk lists existed; they must stay readable.
        let f = many(8, 5_000);
        assert_eq!(decode_stored(&f.encode()), Ok(StoredFile::Whole(f.clone())));
        assert_eq!(FileObject::decode(&f.encode()), Ok(f));
    }

    #[test]
    fn rejects_malformed_lists() {
        assert!(decode_stored(&[2, 0, 0, 0, 0]).is_err(), "no lists");
        assert!(decode_stored(&[2, 1, 0, 0, 0]).is_err(), "truncated id");
        let mut one = vec![2, 1, 0, 0, 0];
        one.extend([9; 32]);
        assert!(matches!(decode_stored(&one), Ok(StoredFile::Lists(_))));
        one.push(0);
        assert!(decode_stored(&one).is_err(), "trailing byte");
        assert!(decode_list(&encode_list(&[])).is_err(), "empty list");
        let long = many(7, LIST_MAX as u32 + 1);
        assert!(decode_list(&encode_list(&long.chunks)).is_err(), "too long");
        let mut zero = encode_list(&[chunk(1, 5)]);
        zero[36..40].copy_from_slice(&[0; 4]);
        assert!(decode_list(&zero).is_err(), "zero length");
        assert!(
            FileObject::decode(&one[..37]).is_err(),
            "decode wants a whole file"
        );
    }

    proptest! {
        #[test]
        fn round_trip(lens in proptest::collection::vec(1u32..1_000_000, 0..50)) {
            let f = FileObject { chunks: lens.iter().enumerate().map(|(i, l)| chunk(i as u32, *l)).collect() };
            prop_assert_eq!(FileObject::decode(&f.encode()).unwrap(), f);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_stored(&bytes);
            let _ = decode_list(&bytes);
        }
    }
}
