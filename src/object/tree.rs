//! Trees: one directory each, entries sorted by name bytes. The tree id is the merkle root
//! over one leaf per entry, `H(TreeLeaf, encoded entry)`, so an entry is proven by its
//! encoding and one audit path per directory level.
//!
//! Entry: `kind u8 | mode u32 | size u64 | mtime_ns i64 | id 32 | name_len u16 | name`.
//! Tree: `version u8 (1) | count u32 | entries`.

use serde::Serialize;

use super::Reader;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;

pub const TREE_VERSION: u8 = 1;
const ENTRY_FIXED: usize = 1 + 4 + 8 + 8 + 32 + 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File = 1,
    Dir = 2,
    Symlink = 3,
}

impl EntryKind {
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
    pub name: Vec<u8>,
    pub kind: EntryKind,
    pub mode: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub id: ObjectId,
}

impl TreeEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.kind as u8);
        out.extend_from_slice(&self.mode.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.name);
    }

    fn decode(r: &mut Reader) -> Result<TreeEntry, String> {
        let kind = r.u8()?;
        let kind = EntryKind::from_u8(kind).ok_or(format!("unknown entry kind {kind}"))?;
        let mode = r.u32()?;
        let size = r.u64()?;
        let mtime_ns = r.i64()?;
        let id = r.id()?;
        let len = r.u16()? as usize;
        let name = r.bytes(len)?.to_vec();
        check_name(&name)?;
        Ok(TreeEntry {
            name,
            kind,
            mode,
            size,
            mtime_ns,
            id,
        })
    }

    /// This entry's merkle leaf.
    pub fn leaf(&self, algo: HashAlgo) -> ObjectId {
        let mut buf = Vec::with_capacity(ENTRY_FIXED + self.name.len());
        self.encode(&mut buf);
        algo.hash(Domain::TreeLeaf, &buf)
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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    pub entries: Vec<TreeEntry>,
}

impl Tree {
    pub fn id(&self, algo: HashAlgo) -> ObjectId {
        let leaves: Vec<ObjectId> = self.entries.iter().map(|e| e.leaf(algo)).collect();
        merkle::root(algo, Domain::TreeNode, &leaves)
    }

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
        let mut r = Reader::new(b);
        let v = r.u8()?;
        if v != TREE_VERSION {
            return Err(format!("unsupported tree version {v}"));
        }
        let n = r.count(ENTRY_FIXED)?;
        let mut entries: Vec<TreeEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let e = TreeEntry::decode(&mut r)?;
            if entries.last().is_some_and(|p| p.name >= e.name) {
                return Err("entries are not strictly sorted by name".into());
            }
            entries.push(e);
        }
        r.finish()?;
        Ok(Tree { entries })
    }

    pub fn get(&self, name: &[u8]) -> Option<&TreeEntry> {
        self.entries
            .binary_search_by(|e| e.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
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
        fn round_trip(names in proptest::collection::btree_set("[a-z\u{e9}]{1,12}", 0..20), mode in any::<u32>()) {
            let entries = names.iter().map(|n| {
                let mut e = entry(n.as_bytes(), EntryKind::File);
                e.mode = mode;
                e
            }).collect();
            let t = Tree { entries };
            prop_assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Tree::decode(&bytes);
        }
    }
}
