//! Trees: one directory each, entries sorted by name bytes. The tree id is the merkle root
//! over one leaf per entry, `H(TreeLeaf, encoded entry)`, so an entry is proven by its
//! encoding and one audit path per directory level.
//!
//! Entry: `kind u8 | mode u32 | size u64 | mtime_ns i64 | id 32 | name_len u16 | name`.
//! Tree: `version u8 (1) | count u32 | entries`.

use rayon::prelude::*;
use serde::Serialize;

use super::Reader;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;

/// The tree encoding's version byte.
pub const TREE_VERSION: u8 = 1;

/// The deepest nesting of directories cairn stores or reads. Paths a file system can hold
/// stay far below it (a path of 1,024 one-letter levels is 2 KiB of PATH_MAX's 4 KiB), and a
/// bound keeps every walk's stack and path lengths small: a hostile repository of 25,000
/// nested trees is refused with a clear error instead of overflowing the stack.
pub const MAX_DEPTH: usize = 1024;
/// The highest mode an entry may hold: permission, set-id and sticky bits. Anything above is
/// not a mode a file system gives a file, so a tree holding it is damaged or hostile.
pub const MAX_MODE: u32 = 0o7777;
const ENTRY_FIXED: usize = 1 + 4 + 8 + 8 + 32 + 2;

/// What a tree entry is; the discriminant is the encoded kind byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File = 1,
    /// A directory: the entry's id is a tree id.
    Dir = 2,
    /// A symbolic link: its content, stored like a file's, is the target.
    Symlink = 3,
}

impl EntryKind {
    /// The kind an encoded kind byte names, or `None` for a byte that is no kind.
    pub fn from_u8(b: u8) -> Option<EntryKind> {
        Some(match b {
            1 => EntryKind::File,
            2 => EntryKind::Dir,
            3 => EntryKind::Symlink,
            _ => return None,
        })
    }
}

/// One name in a directory. For files and symlinks `id` is a file id (a symlink's content is
/// its target) and `size` its length; for directories `id` is a tree id, `size` the bytes of
/// all files below, and mode and mtime are zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The name in its directory: one path component, raw bytes.
    pub name: Vec<u8>,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission, set-id and sticky bits (at most [`MAX_MODE`]); zero for a directory.
    pub mode: u32,
    /// Length in bytes, or for a directory the bytes of all files below.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch; zero for a directory.
    pub mtime_ns: i64,
    /// A file id for files and symlinks, a tree id for directories.
    pub id: ObjectId,
}

impl TreeEntry {
    /// Appends the entry's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.fixed());
        out.extend_from_slice(&self.name);
    }

    /// The encoding up to the name.
    fn fixed(&self) -> [u8; ENTRY_FIXED] {
        let mut b = [0u8; ENTRY_FIXED];
        b[0] = self.kind as u8;
        b[1..5].copy_from_slice(&self.mode.to_le_bytes());
        b[5..13].copy_from_slice(&self.size.to_le_bytes());
        b[13..21].copy_from_slice(&self.mtime_ns.to_le_bytes());
        b[21..53].copy_from_slice(self.id.as_bytes());
        b[53..].copy_from_slice(&(self.name.len() as u16).to_le_bytes());
        b
    }

    /// This entry's merkle leaf, hashed from its encoding in two parts (no allocation).
    pub fn leaf(&self, algo: HashAlgo) -> ObjectId {
        algo.hash_parts(Domain::TreeLeaf, &[&self.fixed(), &self.name])
    }
}

/// An entry as it lies in a tree's encoding, checked but not copied: decoding a large
/// directory this way allocates nothing per entry, and the leaf is hashed from the stored
/// bytes.
#[derive(Debug, Clone, Copy)]
pub struct RawEntry<'a> {
    /// The encoding from kind to id: everything but the name and its length.
    head: &'a [u8],
    name: &'a [u8],
}

impl<'a> RawEntry<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<RawEntry<'a>, String> {
        let head = r.bytes(ENTRY_FIXED - 2)?;
        if EntryKind::from_u8(head[0]).is_none() {
            return Err(format!("unknown entry kind {}", head[0]));
        }
        let mode = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes"));
        if mode > MAX_MODE {
            return Err(format!("mode {mode:#o} is above {MAX_MODE:#o}"));
        }
        let len = r.u16()? as usize;
        let name = r.bytes(len)?;
        check_name(name)?;
        Ok(RawEntry { head, name })
    }

    /// The name length as encoded (a decoded name is at most `u16::MAX` bytes).
    fn name_len(&self) -> [u8; 2] {
        (self.name.len() as u16).to_le_bytes()
    }

    /// The entry's merkle leaf in its tree, `H(TreeLeaf, encoding)`.
    pub fn leaf(&self, algo: HashAlgo) -> ObjectId {
        algo.hash_parts(Domain::TreeLeaf, &[self.head, &self.name_len(), self.name])
    }

    /// The entry's encoding, as `TreeEntry::encode` writes it.
    pub fn encoding(&self) -> Vec<u8> {
        [self.head, &self.name_len(), self.name].concat()
    }

    /// The owned entry; the fields lie where `TreeEntry::fixed` puts them.
    pub fn to_entry(&self) -> TreeEntry {
        let f = self.head;
        let le8 = |at: usize| <[u8; 8]>::try_from(&f[at..at + 8]).expect("8 bytes");
        TreeEntry {
            name: self.name.to_vec(),
            kind: EntryKind::from_u8(f[0]).expect("checked by decode"),
            mode: u32::from_le_bytes(f[1..5].try_into().expect("4 bytes")),
            size: u64::from_le_bytes(le8(5)),
            mtime_ns: i64::from_le_bytes(le8(13)),
            id: ObjectId::from_slice(&f[21..53]).expect("32 bytes"),
        }
    }
}

/// A name is one path component: not empty, not `.` or `..`, no `/` and no NUL.
pub fn check_name(name: &[u8]) -> Result<(), String> {
    if name.is_empty() || name == b"." || name == b".." {
        return Err(format!(
            "invalid entry name {:?}",
            String::from_utf8_lossy(name)
        ));
    }
    if name.contains(&b'/') || name.contains(&0) || name.len() > u16::MAX as usize {
        return Err(format!(
            "invalid entry name {:?}",
            String::from_utf8_lossy(name)
        ));
    }
    Ok(())
}

/// One directory: its entries, sorted by name bytes with no name twice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// The entries, strictly sorted by name bytes.
    pub entries: Vec<TreeEntry>,
}

impl Tree {
    /// The tree id: the merkle root over the entries' leaves.
    pub fn id(&self, algo: HashAlgo) -> ObjectId {
        let leaves = leaves(&self.entries, |e| e.leaf(algo));
        merkle::root(algo, Domain::TreeNode, &leaves)
    }

    /// The tree's encoding, as stored.
    pub fn encode(&self) -> Vec<u8> {
        let names: usize = self.entries.iter().map(|e| e.name.len()).sum();
        let mut out = Vec::with_capacity(5 + self.entries.len() * ENTRY_FIXED + names);
        out.push(TREE_VERSION);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            e.encode(&mut out);
        }
        out
    }

    /// Decodes a tree, rejecting bad names and entries out of order or repeated.
    pub fn decode(b: &[u8]) -> Result<Tree, String> {
        let raw = RawTree::decode(b)?;
        Ok(Tree {
            entries: raw.entries.iter().map(RawEntry::to_entry).collect(),
        })
    }

    /// The entry called `name`, if the directory has one.
    pub fn get(&self, name: &[u8]) -> Option<&TreeEntry> {
        self.entries
            .binary_search_by(|e| e.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// A tree decoded in place: the same checks as `Tree::decode`, entries borrowed from the
/// encoding. For reading one entry of a large directory and proving it.
#[derive(Debug, Clone)]
pub struct RawTree<'a> {
    /// The entries, strictly sorted by name bytes, borrowing names from the encoding.
    pub entries: Vec<RawEntry<'a>>,
}

impl<'a> RawTree<'a> {
    /// Decodes a tree encoding without copying names, rejecting the same damage as `Tree::decode`.
    pub fn decode(b: &'a [u8]) -> Result<RawTree<'a>, String> {
        let mut r = Reader::new(b);
        let v = r.u8()?;
        if v != TREE_VERSION {
            return Err(format!("unsupported tree version {v}"));
        }
        let n = r.count(ENTRY_FIXED)?;
        let mut entries: Vec<RawEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let e = RawEntry::decode(&mut r)?;
            if entries.last().is_some_and(|p| p.name >= e.name) {
                return Err("entries are not strictly sorted by name".into());
            }
            entries.push(e);
        }
        r.finish()?;
        Ok(RawTree { entries })
    }

    /// The merkle leaves, one per entry.
    pub fn leaves(&self, algo: HashAlgo) -> Vec<ObjectId> {
        leaves(&self.entries, |e| e.leaf(algo))
    }

    /// The index of the entry called `name`.
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.entries.binary_search_by(|e| e.name.cmp(name)).ok()
    }
}

/// Directories this large hash their leaves on all threads; smaller ones are not worth the
/// hand-off.
const PARALLEL_LEAVES: usize = 4096;

fn leaves<T: Sync>(entries: &[T], leaf: impl Fn(&T) -> ObjectId + Sync + Send) -> Vec<ObjectId> {
    if entries.len() < PARALLEL_LEAVES {
        entries.iter().map(leaf).collect()
    } else {
        entries.par_iter().map(leaf).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(name: &[u8], kind: EntryKind) -> TreeEntry {
        TreeEntry {
            name: name.to_vec(),
            kind,
            mode: 0o644,
            size: 3,
            mtime_ns: 1_700_000_000_000_000_000,
            id: HashAlgo::Blake3.hash(Domain::FileNode, name),
        }
    }

    #[test]
    fn rejects_hostile_names_and_order() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
            let t = Tree {
                entries: vec![entry(bad, EntryKind::File)],
            };
            assert!(Tree::decode(&t.encode()).is_err(), "{bad:?}");
        }
        let t = Tree {
            entries: vec![entry(b"b", EntryKind::File), entry(b"a", EntryKind::File)],
        };
        assert!(Tree::decode(&t.encode()).is_err());
        let t = Tree {
            entries: vec![entry(b"a", EntryKind::File), entry(b"a", EntryKind::Dir)],
        };
        assert!(Tree::decode(&t.encode()).is_err());
    }

    #[test]
    fn rejects_modes_above_0o7777() {
        for (mode, ok) in [
            (0o7777, true),
            (0o4755, true),
            (0o10000, false),
            (0o100644, false),
        ] {
            let mut e = entry(b"x", EntryKind::File);
            e.mode = mode;
            let t = Tree { entries: vec![e] };
            assert_eq!(Tree::decode(&t.encode()).is_ok(), ok, "{mode:o}");
            assert_eq!(RawTree::decode(&t.encode()).is_ok(), ok, "{mode:o}");
        }
    }

    #[test]
    fn id_commits_to_every_field() {
        let a = HashAlgo::Blake3;
        let base = Tree {
            entries: vec![entry(b"x", EntryKind::File)],
        };
        let mut variants = vec![];
        let mut t = base.clone();
        t.entries[0].mode = 0o755;
        variants.push(t);
        let mut t = base.clone();
        t.entries[0].size = 4;
        variants.push(t);
        let mut t = base.clone();
        t.entries[0].kind = EntryKind::Symlink;
        variants.push(t);
        let mut t = base.clone();
        t.entries[0].mtime_ns += 1;
        variants.push(t);
        let mut t = base.clone();
        t.entries[0].name = b"y".to_vec();
        variants.push(t);
        for v in variants {
            assert_ne!(v.id(a), base.id(a));
        }
    }

    proptest! {
        #[test]
        fn round_trip(names in proptest::collection::btree_set("[a-z\u{e9}]{1,12}", 0..20), mode in 0..=MAX_MODE) {
            let entries = names.iter().map(|n| {
                let mut e = entry(n.as_bytes(), EntryKind::File);
                e.mode = mode;
                e
            }).collect();
            let t = Tree { entries };
            let bytes = t.encode();
            prop_assert_eq!(Tree::decode(&bytes).unwrap(), t.clone());
            let raw = RawTree::decode(&bytes).unwrap();
            for (r, e) in raw.entries.iter().zip(&t.entries) {
                let mut enc = Vec::new();
                e.encode(&mut enc);
                prop_assert_eq!(r.encoding(), enc);
                prop_assert_eq!(r.leaf(HashAlgo::Blake3), e.leaf(HashAlgo::Blake3));
                let found = raw.find(&e.name).map(|i| raw.entries[i].to_entry());
                prop_assert_eq!(found, Some(e.clone()));
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Tree::decode(&bytes);
        }
    }
}
