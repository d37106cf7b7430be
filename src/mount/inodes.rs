//! Inode numbers without a node per file.
//!
//! A directory that is opened or looked into gets a `DirNode` and, the first time its
//! entries are needed, a contiguous range of inode numbers, one per entry: entry `i` is
//! `base + i`. So listing a directory, or `stat` of every file in it, resolves an inode by
//! a binary search over the ranges and reads the entry in place from the tree; only
//! directories cost memory. Numbers are never reused while mounted (the kernel may hold
//! any of them), which costs a few dozen bytes per directory visited.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::hash::ObjectId;

/// The mount's root.
pub(crate) const ROOT: u64 = 1;
/// `lines/`, `tags/`, `layers/` and the `HEAD` link, when the whole repository is mounted.
pub(crate) const LINES: u64 = 2;
pub(crate) const TAGS: u64 = 3;
pub(crate) const LAYERS: u64 = 4;
pub(crate) const HEAD: u64 = 5;
/// The first number handed out by the table.
const FIRST_FREE: u64 = 16;

/// A directory of some layer's tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirNode {
    /// Its own inode number.
    pub ino: u64,
    /// Its parent's, for `..`.
    pub parent: u64,
    /// The tree it shows.
    pub tree: ObjectId,
    /// The layer's time, shown as the mtime of its directories (trees record none).
    pub time_ns: i64,
    /// The bytes of all files below, as its entry records.
    pub size: u64,
    /// The first inode number of its entries, once allocated.
    pub base: Option<u64>,
}

/// What an inode number names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ino {
    /// A directory with a node.
    Dir(DirNode),
    /// Entry `index` of the directory `parent` (which may also have a node of its own).
    Entry { parent: DirNode, index: usize },
}

#[derive(Default)]
struct Table {
    nodes: Vec<DirNode>,
    by_ino: HashMap<u64, usize>,
    /// `(base, count, node)`, sorted by base: bases are handed out in increasing order.
    ranges: Vec<(u64, u64, usize)>,
    /// Roots of layers under `lines/`, `tags/`, `layers/`: (parent, name) -> node.
    roots: HashMap<(u64, Vec<u8>), usize>,
    next: u64,
}

/// The inode table of one mount.
pub(crate) struct Inodes {
    table: Mutex<Table>,
}

impl Inodes {
    pub(crate) fn new() -> Inodes {
        Inodes {
            table: Mutex::new(Table {
                next: FIRST_FREE,
                ..Table::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every change below is one push or insert: a panic cannot leave half of one.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The node of a layer's root shown as `name` in the directory `parent` (or as the
    /// mount's root, `ino` given). The same name and tree give the same node again, so a
    /// line that did not move keeps its inode numbers.
    pub(crate) fn root(
        &self,
        parent: u64,
        name: &[u8],
        tree: ObjectId,
        time_ns: i64,
        size: u64,
        ino: Option<u64>,
    ) -> DirNode {
        let mut t = self.lock();
        let key = (parent, name.to_vec());
        if let Some(&n) = t.roots.get(&key) {
            if t.nodes[n].tree == tree && t.nodes[n].time_ns == time_ns {
                return t.nodes[n];
            }
        }
        let ino = ino.unwrap_or_else(|| t.take(1));
        let n = t.push(DirNode {
            ino,
            parent,
            tree,
            time_ns,
            size,
            base: None,
        });
        t.roots.insert(key, n);
        t.nodes[n]
    }

    /// The node of the directory entry `index` of `parent`, made on first use.
    pub(crate) fn child_dir(
        &self,
        parent: &DirNode,
        index: usize,
        tree: ObjectId,
        size: u64,
    ) -> DirNode {
        let ino = parent
            .base
            .expect("a child's number comes from its parent's range")
            + index as u64;
        let mut t = self.lock();
        if let Some(&n) = t.by_ino.get(&ino) {
            return t.nodes[n];
        }
        let n = t.push(DirNode {
            ino,
            parent: parent.ino,
            tree,
            time_ns: parent.time_ns,
            size,
            base: None,
        });
        t.nodes[n]
    }

    /// `node` with its range of `count` entry numbers, allocated on first use.
    pub(crate) fn with_range(&self, node: &DirNode, count: usize) -> DirNode {
        let mut t = self.lock();
        let Some(&n) = t.by_ino.get(&node.ino) else {
            return *node;
        };
        if t.nodes[n].base.is_none() {
            let base = t.take(count as u64);
            t.nodes[n].base = Some(base);
            t.ranges.push((base, count as u64, n));
        }
        t.nodes[n]
    }

    /// What `ino` names: a directory node, or an entry in some directory's range.
    pub(crate) fn get(&self, ino: u64) -> Option<Ino> {
        let t = self.lock();
        if let Some(&n) = t.by_ino.get(&ino) {
            return Some(Ino::Dir(t.nodes[n]));
        }
        let at = t.ranges.partition_point(|r| r.0 <= ino).checked_sub(1)?;
        let (base, count, n) = t.ranges[at];
        (ino < base + count).then(|| Ino::Entry {
            parent: t.nodes[n],
            index: (ino - base) as usize,
        })
    }
}

impl Table {
    fn take(&mut self, count: u64) -> u64 {
        let base = self.next;
        self.next += count.max(1);
        base
    }

    fn push(&mut self, node: DirNode) -> usize {
        self.nodes.push(node);
        self.by_ino.insert(node.ino, self.nodes.len() - 1);
        self.nodes.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_directories_resolve_to_what_they_name() {
        let t = Inodes::new();
        let tree = ObjectId::from_slice(&[1; 32]).unwrap();
        let root = t.root(LINES, b"main", tree, 7, 0, None);
        assert_eq!(t.root(LINES, b"main", tree, 7, 0, None).ino, root.ino);
        let root = t.with_range(&root, 3);
        let base = root.base.unwrap();
        assert!(matches!(t.get(base + 2), Some(Ino::Entry { index: 2, .. })));
        assert!(t.get(base + 3).is_none());
        let sub = t.child_dir(&root, 1, tree, 0);
        assert_eq!(sub.ino, base + 1);
        assert!(matches!(t.get(base + 1), Some(Ino::Dir(d)) if d.parent == root.ino));
        let sub = t.with_range(&sub, 0);
        // An empty directory still gets a number of its own, never shared.
        let other = t.with_range(&t.root(TAGS, b"v1", tree, 7, 0, None), 1);
        assert_ne!(sub.base, other.base);
        // A line that moved gets a new root.
        let moved = ObjectId::from_slice(&[2; 32]).unwrap();
        assert_ne!(t.root(LINES, b"main", moved, 8, 0, None).ino, root.ino);
    }
}
