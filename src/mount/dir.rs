//! A directory as the mount serves it: the tree's verified encoding kept whole, with one
//! offset per entry, so listing and looking up a 100,000-entry directory allocates nothing
//! per entry (`Tree::decode` would copy every name).

use crate::error::{Error, Result};
use crate::hash::{Domain, ObjectId};
use crate::merkle;
use crate::object::tree::RawTree;
use crate::object::EntryKind;
use crate::pack::ObjectKind;
use crate::repo::Repository;

/// Bytes of an entry before its name: kind, mode, size, mtime, id, name length
/// (FORMAT.md, trees).
const FIXED: usize = 1 + 4 + 8 + 8 + 32 + 2;
/// Bytes before the first entry: version and count.
const HEADER: usize = 1 + 4;

/// One tree, checked against its id, and where each of its entries starts.
pub(crate) struct DirView {
    bytes: Vec<u8>,
    offsets: Vec<u32>,
}

/// One entry of a [`DirView`], borrowed from the encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub kind: EntryKind,
    pub mode: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub id: ObjectId,
    pub name: &'a [u8],
}

impl DirView {
    /// Reads tree `id` and checks it as `Repository::read_tree` does: decoded (names,
    /// order, kinds, modes) and its merkle root equal to `id`.
    pub(crate) fn load(repo: &Repository, id: &ObjectId) -> Result<DirView> {
        let bytes = repo.store.read(id, ObjectKind::Tree, repo.dir())?;
        let bad = |d: String| Error::corrupt("tree", repo.dir(), format!("object {id}: {d}"));
        let raw = RawTree::decode(&bytes).map_err(bad)?;
        let root = merkle::root(repo.algo(), Domain::TreeNode, &raw.leaves(repo.algo()));
        if root != *id {
            return Err(bad("does not match its id".into()));
        }
        let offsets = offsets(&bytes, raw.entries.len());
        drop(raw);
        Ok(DirView { bytes, offsets })
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Bytes allocated for it, for the cache's budget.
    pub(crate) fn weight(&self) -> usize {
        std::mem::size_of::<DirView>() + self.bytes.capacity() + 4 * self.offsets.capacity()
    }

    /// A view holding `bytes` bytes and no entry, for the cache's tests.
    #[cfg(test)]
    pub(crate) fn for_test(bytes: usize) -> DirView {
        DirView {
            bytes: vec![0; bytes],
            offsets: Vec::new(),
        }
    }

    /// Entry `i` (below `len`).
    pub(crate) fn entry(&self, i: usize) -> Entry<'_> {
        let at = self.offsets[i] as usize;
        let f = &self.bytes[at..at + FIXED];
        let le8 = |o: usize| <[u8; 8]>::try_from(&f[o..o + 8]).expect("8 bytes");
        let name_len = usize::from(u16::from_le_bytes([f[53], f[54]]));
        Entry {
            // Checked by `RawTree::decode` in `load`.
            kind: EntryKind::from_u8(f[0]).unwrap_or(EntryKind::File),
            mode: u32::from_le_bytes(f[1..5].try_into().expect("4 bytes")),
            size: u64::from_le_bytes(le8(5)),
            mtime_ns: i64::from_le_bytes(le8(13)),
            id: ObjectId::from_slice(&f[21..53]).expect("32 bytes"),
            name: &self.bytes[at + FIXED..at + FIXED + name_len],
        }
    }

    /// The index of the entry called `name`: entries are sorted by name bytes.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry(mid).name.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

/// Where each of the `n` entries of a decoded tree encoding starts.
fn offsets(bytes: &[u8], n: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n);
    let mut at = HEADER;
    for _ in 0..n {
        out.push(at as u32);
        let len = usize::from(u16::from_le_bytes([bytes[at + 53], bytes[at + 54]]));
        at += FIXED + len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Tree, TreeEntry};

    fn entry(name: &[u8], kind: EntryKind, size: u64) -> TreeEntry {
        TreeEntry {
            name: name.to_vec(),
            kind,
            mode: 0o640,
            size,
            mtime_ns: -5,
            id: ObjectId::from_slice(&[7; 32]).unwrap(),
        }
    }

    #[test]
    fn entries_read_in_place_equal_the_decoded_tree() {
        let tree = Tree {
            entries: vec![
                entry(b"a", EntryKind::File, 1),
                entry("é \n".as_bytes(), EntryKind::Dir, 99),
                entry(&[0xff; 300], EntryKind::Symlink, 3),
            ],
        };
        let bytes = tree.encode();
        let view = DirView {
            offsets: offsets(&bytes, 3),
            bytes,
        };
        for (i, want) in tree.entries.iter().enumerate() {
            let got = view.entry(i);
            assert_eq!(
                (got.name, got.kind, got.mode, got.size, got.mtime_ns, got.id),
                (
                    &want.name[..],
                    want.kind,
                    want.mode,
                    want.size,
                    want.mtime_ns,
                    want.id
                )
            );
            assert_eq!(view.find(&want.name), Some(i));
        }
        assert_eq!(view.find(b"b"), None);
        assert_eq!(view.find(b""), None);
    }
}
