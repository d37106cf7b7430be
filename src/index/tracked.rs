//! The tracked entries and the tree ids of their directories (git's cache-tree), kept
//! together so that no change to an entry can leave a directory's cached id behind.
//!
//! [`Entries`] reads as the map of paths to entries (through `Deref`), but changes only
//! through its own `insert`, `shift_remove` and `retain`, and each of those forgets the
//! cached tree of every directory above the path it changes. A commit that changes one file
//! in a million therefore builds only the trees on that file's path.

use std::collections::{BTreeMap, HashSet};
use std::ops::Deref;

use super::map::PathMap;
use super::IndexEntry;
use crate::hash::ObjectId;
use crate::repo_path::RepoPath;

/// Up to this many paths are removed one by one (each shifts the later entries); more in one
/// pass that closes up the whole map.
const FEW_REMOVALS: usize = 4;

/// Paths to entries, in the order the file holds them (sorted) and then as inserted.
pub type Map = PathMap;

/// A directory's tree as the last commit (or build) made it from the entries below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct CachedTree {
    /// The tree's id.
    pub id: ObjectId,
    /// How many entries lie below the directory: a cached tree is used only when the index
    /// still holds exactly that many there.
    pub files: u64,
    /// Bytes of all files below it (the directory entry's size in its parent).
    pub size: u64,
}

/// Cached trees by directory path (`""` is the root), sorted as the file lists them.
pub type TreeCache = BTreeMap<Vec<u8>, CachedTree>;

/// The tracked entries with their directories' cached trees. See the module comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries {
    map: Map,
    trees: TreeCache,
    /// Whether `map` is in path order, so trees can be built from it without sorting.
    sorted: bool,
}

impl Default for Entries {
    fn default() -> Entries {
        Entries::from_sorted(Map::default(), TreeCache::new())
    }
}

impl Deref for Entries {
    type Target = Map;

    fn deref(&self) -> &Map {
        &self.map
    }
}

impl<'a> IntoIterator for &'a Entries {
    type Item = (&'a [u8], &'a IndexEntry);
    type IntoIter = super::map::Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl<P: AsRef<[u8]>> FromIterator<(P, IndexEntry)> for Entries {
    fn from_iter<I: IntoIterator<Item = (P, IndexEntry)>>(iter: I) -> Entries {
        let mut out = Entries::default();
        for (p, e) in iter {
            out.insert(p, e);
        }
        out
    }
}

impl Entries {
    /// Entries read from a file (already checked to be strictly sorted) and their cache.
    pub(super) fn from_sorted(map: Map, trees: TreeCache) -> Entries {
        Entries {
            map,
            trees,
            sorted: true,
        }
    }

    /// Stages `entry` at `path`, returning what was there. An equal entry changes nothing,
    /// so the cached trees above it stay.
    pub fn insert(&mut self, path: impl AsRef<[u8]>, entry: IndexEntry) -> Option<IndexEntry> {
        let path = path.as_ref();
        // One hash lookup per insert: a full add inserts a million.
        match self.map.lookup(path) {
            Ok(i) => {
                let old = self.map.entry_mut(i);
                if *old == entry {
                    return Some(entry);
                }
                forget_above(&mut self.trees, path);
                Some(std::mem::replace(old, entry))
            }
            Err(hash) => {
                forget_above(&mut self.trees, path);
                self.sorted &= self.map.last().is_none_or(|(last, _)| last < path);
                self.map.push_new(hash, path, entry);
                None
            }
        }
    }

    /// Stops tracking `path`, keeping the order of the rest.
    pub fn shift_remove(&mut self, path: impl AsRef<[u8]>) -> Option<IndexEntry> {
        let path = path.as_ref();
        let old = self.map.shift_remove(path);
        if old.is_some() {
            forget_above(&mut self.trees, path);
        }
        old
    }

    /// Stops tracking every path of `paths`, keeping the order of the rest; returns how many
    /// were tracked. One removal shifts every later entry, so past a handful of paths this
    /// is one pass over the map: removing a directory of a thousand files from a
    /// million-file index must not shift the million a thousand times.
    pub fn remove_all<P: AsRef<[u8]>>(&mut self, paths: &[P]) -> usize {
        if paths.len() <= FEW_REMOVALS {
            return paths
                .iter()
                .filter(|p| self.shift_remove(p).is_some())
                .count();
        }
        let gone: HashSet<&[u8]> = paths.iter().map(AsRef::as_ref).collect();
        let before = self.map.len();
        self.retain(|p, _| !gone.contains(p));
        before - self.map.len()
    }

    /// Keeps only the entries `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &IndexEntry) -> bool) {
        let trees = &mut self.trees;
        self.map.retain(|p, e| {
            let kept = keep(p, e);
            if !kept {
                forget_above(trees, p);
            }
            kept
        });
    }

    /// Makes room for `n` more entries, of `path_bytes` bytes of paths in all.
    pub fn reserve(&mut self, n: usize, path_bytes: usize) {
        self.map.reserve(n, path_bytes);
    }

    /// Puts the entries in path order, as the file keeps them.
    pub fn sort(&mut self) {
        if !self.sorted {
            self.map.sort();
            self.sorted = true;
        }
    }

    /// Whether the entries are in path order.
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// The cached trees: each directory's tree as built from the entries below it, for the
    /// directories no change has touched since.
    pub fn trees(&self) -> &TreeCache {
        &self.trees
    }

    /// Records the trees just built from exactly these entries (by a commit).
    pub fn remember_trees(&mut self, trees: TreeCache) {
        self.trees = trees;
    }

    /// Forgets every cached tree (a damaged or unusable cache).
    pub fn forget_trees(&mut self) {
        self.trees.clear();
    }
}

/// Forgets the cached trees of the directories that hold `path`: its parent, theirs, and the
/// root.
fn forget_above(trees: &mut TreeCache, path: &[u8]) {
    if trees.is_empty() {
        return;
    }
    for dir in RepoPath::new(path).ancestors() {
        trees.remove(dir.as_bytes());
    }
    trees.remove(&b""[..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::entry;

    fn cached(dirs: &[&str]) -> TreeCache {
        let t = CachedTree {
            id: ObjectId([7; 32]),
            files: 1,
            size: 1,
        };
        dirs.iter().map(|d| (d.as_bytes().to_vec(), t)).collect()
    }

    fn dirs(e: &Entries) -> Vec<String> {
        let s = |d: &Vec<u8>| String::from_utf8(d.clone()).unwrap();
        e.trees().keys().map(s).collect()
    }

    #[test]
    fn a_change_forgets_the_trees_above_it_only() {
        let mut e: Entries = [(b"a/b/f".to_vec(), entry(1)), (b"c/g".to_vec(), entry(2))]
            .into_iter()
            .collect();
        let all = cached(&["", "a", "a/b", "c"]);
        e.remember_trees(all.clone());
        e.insert(b"a/b/f", entry(1));
        assert_eq!(e.trees(), &all, "an equal entry changes nothing");
        e.insert(b"a/b/f", entry(3));
        assert_eq!(dirs(&e), ["c"]);
        e.remember_trees(all.clone());
        e.shift_remove(b"c/g");
        assert_eq!(dirs(&e), ["a", "a/b"]);
        e.remember_trees(all.clone());
        e.shift_remove(b"c/nothing");
        assert_eq!(e.trees(), &all, "removing nothing changes nothing");
        e.retain(|p, _| p != b"a/b/f");
        assert_eq!(dirs(&e), ["c"]);
        e.remember_trees(all);
        e.insert(b"top", entry(4));
        assert_eq!(dirs(&e), ["a", "a/b", "c"]);
    }

    #[test]
    fn remove_all_keeps_the_rest_in_order_and_forgets_the_trees_above() {
        for n in [2, FEW_REMOVALS + 1, 30] {
            let mut e: Entries = (0..100usize)
                .map(|i| (format!("d{}/f{i:03}", i % 3).into_bytes(), entry(i as u8)))
                .collect();
            e.remember_trees(cached(&["", "d0", "d1", "d2"]));
            // Every third file lies in d0: remove n of them, and a path never tracked.
            let mut gone: Vec<Vec<u8>> = (0..n)
                .map(|k| format!("d0/f{:03}", k * 3))
                .map(String::into_bytes)
                .collect();
            gone.push(b"d9/none".to_vec());
            assert_eq!(e.remove_all(&gone), n, "{n} paths");
            let left: Vec<&[u8]> = e.keys().collect();
            let want: Vec<Vec<u8>> = (0..100usize)
                .filter(|i| i % 3 != 0 || i / 3 >= n)
                .map(|i| format!("d{}/f{i:03}", i % 3).into_bytes())
                .collect();
            assert_eq!(left, want.iter().map(Vec::as_slice).collect::<Vec<_>>());
            assert_eq!(dirs(&e), ["d1", "d2"], "{n} paths");
            assert!(gone.iter().all(|p| e.get(p).is_none()));
        }
    }

    #[test]
    fn order_is_tracked() {
        let mut e = Entries::from_sorted(Map::default(), TreeCache::new());
        e.insert(b"b", entry(1));
        e.insert(b"c", entry(1));
        assert!(e.is_sorted());
        e.insert(b"b", entry(2));
        assert!(e.is_sorted(), "replacing keeps the order");
        e.insert(b"a", entry(1));
        assert!(!e.is_sorted());
        e.sort();
        assert!(e.is_sorted());
        assert_eq!(e.keys().next().unwrap(), b"a");
    }
}
