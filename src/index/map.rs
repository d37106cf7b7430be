//! The staging index's map of paths to entries, laid out for a million small files.
//!
//! An `IndexMap<Vec<u8>, IndexEntry>` cost about 195 bytes an entry beyond the path's own
//! bytes: a bucket of hash, key header and entry, a table slot of 9 bytes, and an allocation
//! per path. Here the entries lie in one list, the paths' bytes one after another in one
//! arena in the entries' order (the end of each path is kept, 8 bytes), and the hash table
//! holds positions only (4 bytes and a control byte a slot): about 100 bytes an entry with
//! its 88-byte entry.
//!
//! Hashes are not stored: the table rehashes a path from the arena when it grows, which a
//! fast hash makes cheap. Fx, as before: paths come from the user's own worktree.
//!
//! The arena never holds a removed path: removing one shifts every later entry down (as
//! `IndexMap::shift_remove` did), and the arena's bytes move with them, so no dead bytes
//! need reclaiming and a path's start is the previous path's end. Many paths are removed in
//! one pass with `retain` (`Entries::remove_all`), not one shift each.

use std::hash::BuildHasher;
use std::ops::Range;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::IndexEntry;

/// Paths to entries, in the order the file holds them (sorted) and then as inserted.
#[derive(Clone, Default)]
pub struct PathMap {
    entries: Vec<IndexEntry>,
    /// Where each entry's path ends in `paths`; it starts where the previous one ends. Eight
    /// bytes, not four: a layer's paths may add up to more than 4 GiB (deep paths of long
    /// names share their directories in trees, not here), and an index must hold them.
    ends: Vec<u64>,
    /// Every path's bytes, in the entries' order.
    paths: Vec<u8>,
    /// Positions in `entries`, by the hash of their path.
    table: HashTable<u32>,
}

fn hash(path: &[u8]) -> u64 {
    FxBuildHasher.hash_one(path)
}

/// The path of entry `i`, from the ends and the arena (borrowed apart from the table).
fn path_at<'a>(ends: &[u64], paths: &'a [u8], i: usize) -> &'a [u8] {
    let start = match i {
        0 => 0,
        _ => ends[i - 1] as usize,
    };
    &paths[start..ends[i] as usize]
}

impl PathMap {
    /// An empty map with room for `n` entries and `path_bytes` bytes of paths, or `None`
    /// where the memory cannot be had (a file that claims more than the machine holds must
    /// be an error to report, not an abort).
    pub fn try_with_capacity(n: usize, path_bytes: usize) -> Option<PathMap> {
        let mut m = PathMap::default();
        m.entries.try_reserve_exact(n).ok()?;
        m.ends.try_reserve_exact(n).ok()?;
        m.paths.try_reserve_exact(path_bytes).ok()?;
        m.table.try_reserve(n, |_| 0).ok()?;
        Some(m)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries fit before the list or the table must grow.
    pub fn capacity(&self) -> usize {
        self.entries.capacity().min(self.table.capacity())
    }

    fn path(&self, i: usize) -> &[u8] {
        path_at(&self.ends, &self.paths, i)
    }

    /// The position of `path`, found through its hash.
    fn find(&self, hash: u64, path: &[u8]) -> Option<usize> {
        let (ends, paths) = (&self.ends, &self.paths);
        let at = self
            .table
            .find(hash, |&i| path_at(ends, paths, i as usize) == path);
        at.map(|&i| i as usize)
    }

    /// The position of `path`.
    pub fn get_index_of(&self, path: impl AsRef<[u8]>) -> Option<usize> {
        let path = path.as_ref();
        self.find(hash(path), path)
    }

    /// The entry at `path`.
    pub fn get(&self, path: impl AsRef<[u8]>) -> Option<&IndexEntry> {
        self.get_index_of(path).map(|i| &self.entries[i])
    }

    /// Whether `path` has an entry.
    pub fn contains_key(&self, path: impl AsRef<[u8]>) -> bool {
        self.get_index_of(path).is_some()
    }

    /// The path and entry at position `i`.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &IndexEntry)> {
        let e = self.entries.get(i)?;
        Some((self.path(i), e))
    }

    /// The first path and entry.
    pub fn first(&self) -> Option<(&[u8], &IndexEntry)> {
        self.get_index(0)
    }

    /// The last path and entry.
    pub fn last(&self) -> Option<(&[u8], &IndexEntry)> {
        self.get_index(self.len().checked_sub(1)?)
    }

    /// The paths and entries in order.
    pub fn iter(&self) -> Iter<'_> {
        self.as_slice().iter()
    }

    /// All the entries as a run, to split into runs.
    pub fn as_slice(&self) -> Slice<'_> {
        Slice {
            map: self,
            start: 0,
            end: self.len(),
        }
    }

    /// The paths in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + Clone {
        self.iter().map(|(p, _)| p)
    }

    /// The entries in order.
    pub fn values(&self) -> std::slice::Iter<'_, IndexEntry> {
        self.entries.iter()
    }

    /// The paths and entries in order, shared among threads.
    pub fn par_iter(
        &self,
    ) -> impl rayon::iter::IndexedParallelIterator<Item = (&[u8], &IndexEntry)> + '_ {
        use rayon::prelude::*;
        (0..self.len())
            .into_par_iter()
            .map(move |i| (self.path(i), &self.entries[i]))
    }

    /// Where `path` is, or the hash it would be placed by.
    pub(super) fn lookup(&self, path: &[u8]) -> Result<usize, u64> {
        let h = hash(path);
        self.find(h, path).ok_or(h)
    }

    /// The entry at position `i`, to change in place.
    pub(super) fn entry_mut(&mut self, i: usize) -> &mut IndexEntry {
        &mut self.entries[i]
    }

    /// Stages `entry` at `path`, returning what was there.
    pub fn insert(&mut self, path: impl AsRef<[u8]>, entry: IndexEntry) -> Option<IndexEntry> {
        let path = path.as_ref();
        match self.lookup(path) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i], entry)),
            Err(h) => {
                self.push_new(h, path, entry);
                None
            }
        }
    }

    /// Appends `path`, known to be absent (a file's strictly sorted paths).
    pub(super) fn push_unique(&mut self, path: &[u8], entry: IndexEntry) {
        self.push_new(hash(path), path, entry);
    }

    /// Appends `path`, known to be absent and to hash to `h`.
    pub(super) fn push_new(&mut self, h: u64, path: &[u8], entry: IndexEntry) {
        let at = u32::try_from(self.entries.len()).expect("fewer than 4 billion index entries");
        self.paths.extend_from_slice(path);
        self.ends.push(self.paths.len() as u64);
        self.entries.push(entry);
        let (ends, paths) = (&self.ends, &self.paths);
        self.table
            .insert_unique(h, at, |&i| hash(path_at(ends, paths, i as usize)));
    }

    /// Makes room for `n` more entries, of `path_bytes` bytes of paths in all.
    pub fn reserve(&mut self, n: usize, path_bytes: usize) {
        self.entries.reserve(n);
        self.ends.reserve(n);
        self.paths.reserve(path_bytes);
        let (ends, paths) = (&self.ends, &self.paths);
        self.table
            .reserve(n, |&i| hash(path_at(ends, paths, i as usize)));
    }

    /// Removes `path`, shifting the later entries (and their paths) down one place.
    pub fn shift_remove(&mut self, path: impl AsRef<[u8]>) -> Option<IndexEntry> {
        let path = path.as_ref();
        let h = hash(path);
        let (ends, paths) = (&self.ends, &self.paths);
        let found = self
            .table
            .find_entry(h, |&i| path_at(ends, paths, i as usize) == path);
        let i = found.ok()?.remove().0 as usize;
        let start = self.ends[i] as usize - path.len();
        self.paths.drain(start..start + path.len());
        self.ends.remove(i);
        let len = path.len() as u64;
        self.ends[i..].iter_mut().for_each(|e| *e -= len);
        self.table
            .iter_mut()
            .for_each(|p| *p -= u32::from(*p as usize > i));
        Some(self.entries.remove(i))
    }

    /// Keeps only the entries `keep` accepts, in order; their paths close up behind them.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &IndexEntry) -> bool) {
        let (ends, paths) = (&mut self.ends, &mut self.paths);
        let (mut read, mut kept, mut start, mut written) = (0, 0, 0, 0);
        // `Vec::retain` visits each entry once, in order: `read` follows it.
        self.entries.retain(|e| {
            let end = ends[read] as usize;
            read += 1;
            let keeps = keep(&paths[start..end], e);
            if keeps {
                paths.copy_within(start..end, written);
                written += end - start;
                ends[kept] = written as u64;
                kept += 1;
            }
            start = end;
            keeps
        });
        if kept < read {
            self.paths.truncate(written);
            self.ends.truncate(kept);
            self.rebuild_table();
        }
    }

    /// Fills the table afresh from the entries' positions.
    fn rebuild_table(&mut self) {
        self.table.clear();
        for i in 0..self.len() {
            let h = hash(self.path(i));
            let (ends, paths) = (&self.ends, &self.paths);
            self.table
                .insert_unique(h, i as u32, |&i| hash(path_at(ends, paths, i as usize)));
        }
    }

    /// The positions of the entries in path order (4 bytes an entry), for reading them in
    /// that order without moving them.
    pub fn sorted_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.path(a as usize).cmp(self.path(b as usize)));
        order
    }

    /// Puts the entries in path order. The table keeps its slots (a path's hash does not
    /// change); only the positions in them are renumbered.
    pub fn sort(&mut self) {
        let mut order = self.sorted_order();
        let mut new_at = vec![0u32; order.len()];
        // As much room as before: a sort before a save must not make the next insert grow.
        let mut paths = Vec::with_capacity(self.paths.capacity());
        let mut ends = Vec::with_capacity(self.ends.capacity());
        for (k, &old) in order.iter().enumerate() {
            new_at[old as usize] = k as u32;
            paths.extend_from_slice(self.path(old as usize));
            ends.push(paths.len() as u64);
        }
        (self.paths, self.ends) = (paths, ends);
        self.table.iter_mut().for_each(|p| *p = new_at[*p as usize]);
        drop(new_at);
        permute(&mut self.entries, &mut order);
    }
}

/// Reorders `v` so that `v[k]` becomes the old `v[order[k]]`, in place, by following each
/// cycle of the permutation with swaps. `order` is used up (each place marks itself done).
fn permute<T>(v: &mut [T], order: &mut [u32]) {
    for i in 0..v.len() {
        let mut j = i;
        loop {
            let k = order[j] as usize;
            order[j] = j as u32;
            if k == i || k == j {
                break;
            }
            v.swap(j, k);
            j = k;
        }
    }
}

/// The paths and entries of a [`PathMap`] in order.
#[derive(Clone)]
pub struct Iter<'a> {
    map: &'a PathMap,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a IndexEntry);

    fn next(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.map.get_index(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.map.get_index(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// A run of consecutive entries of a [`PathMap`], positions counted from its start.
#[derive(Clone, Copy)]
pub struct Slice<'a> {
    map: &'a PathMap,
    start: usize,
    end: usize,
}

impl<'a> Slice<'a> {
    /// How many entries the run holds.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The path and entry at position `i` of the run.
    pub fn get_index(&self, i: usize) -> Option<(&'a [u8], &'a IndexEntry)> {
        match i < self.len() {
            true => self.map.get_index(self.start + i),
            false => None,
        }
    }

    /// The run's first path and entry.
    pub fn first(&self) -> Option<(&'a [u8], &'a IndexEntry)> {
        self.get_index(0)
    }

    /// The paths and entries in order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            map: self.map,
            front: self.start,
            back: self.end,
        }
    }

    /// The paths in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &'a [u8]> + ExactSizeIterator {
        self.iter().map(|(p, _)| p)
    }

    /// The positions `r` of the run, as a run.
    pub fn slice(&self, r: Range<usize>) -> Slice<'a> {
        assert!(
            r.start <= r.end && r.end <= self.len(),
            "a run of the slice"
        );
        Slice {
            map: self.map,
            start: self.start + r.start,
            end: self.start + r.end,
        }
    }

    /// The first position at which `pred` fails, in a run where it holds then fails.
    pub fn partition_point(&self, mut pred: impl FnMut(&[u8], &IndexEntry) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (p, e) = self.get_index(mid).expect("below the length");
            match pred(p, e) {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        lo
    }
}

impl<'a> IntoIterator for Slice<'a> {
    type Item = (&'a [u8], &'a IndexEntry);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a PathMap {
    type Item = (&'a [u8], &'a IndexEntry);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<P: AsRef<[u8]>> FromIterator<(P, IndexEntry)> for PathMap {
    fn from_iter<I: IntoIterator<Item = (P, IndexEntry)>>(iter: I) -> PathMap {
        let mut map = PathMap::default();
        for (p, e) in iter {
            map.insert(p, e);
        }
        map
    }
}

impl<P: AsRef<[u8]> + ?Sized> std::ops::Index<&P> for PathMap {
    type Output = IndexEntry;

    fn index(&self, path: &P) -> &IndexEntry {
        self.get(path.as_ref()).expect("the path is in the index")
    }
}

impl std::ops::Index<usize> for PathMap {
    type Output = IndexEntry;

    fn index(&self, i: usize) -> &IndexEntry {
        &self.entries[i]
    }
}

impl PartialEq for PathMap {
    /// The same paths with the same entries, in any order (as maps compare).
    fn eq(&self, other: &PathMap) -> bool {
        self.len() == other.len() && self.iter().all(|(p, e)| other.get(p) == Some(e))
    }
}

impl Eq for PathMap {}

impl std::fmt::Debug for PathMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        f.debug_map()
            .entries(self.iter().map(|(p, e)| (path(p), e)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::entry;

    fn paths(m: &PathMap) -> Vec<&str> {
        m.keys().map(|p| std::str::from_utf8(p).unwrap()).collect()
    }

    /// Every path finds its own entry at its own position, and a path's prefix or
    /// extension finds only an entry of exactly that path: the arena's spans and the table
    /// agree.
    fn check_lookups(m: &PathMap) {
        let exact = |q: &[u8]| {
            m.get_index_of(q)
                .is_none_or(|j| m.get_index(j).unwrap().0 == q)
        };
        for (i, (p, e)) in m.iter().enumerate() {
            assert_eq!(m.get_index_of(p), Some(i), "{p:?}");
            assert_eq!(m.get(p), Some(e));
            assert_eq!(m.get_index(i), Some((p, e)));
            assert!(exact(&[p, b"x"].concat()));
            assert!(p.is_empty() || exact(&p[..p.len() - 1]));
        }
        assert!(!m.contains_key(b""), "an empty path is never a key");
        assert_eq!(m.iter().len(), m.len());
        assert!(m
            .iter()
            .rev()
            .eq(m.iter().collect::<Vec<_>>().into_iter().rev()));
    }

    #[test]
    fn insert_replaces_in_place_and_appends_new_paths() {
        let mut m = PathMap::default();
        assert!(m.is_empty() && m.first().is_none() && m.last().is_none());
        assert_eq!(m.insert(b"b/c", entry(1)), None);
        assert_eq!(m.insert(b"a", entry(2)), None);
        assert_eq!(m.insert(b"b", entry(3)), None);
        assert_eq!(m.insert(b"a", entry(4)), Some(entry(2)));
        assert_eq!(paths(&m), ["b/c", "a", "b"]);
        assert_eq!(m[b"a".as_slice()], entry(4));
        assert_eq!(m[2], entry(3));
        assert_eq!(m.last(), Some((&b"b"[..], &entry(3))));
        assert_eq!(
            m.values().map(|e| e.file_id().0[0]).collect::<Vec<_>>(),
            [1, 4, 3]
        );
        check_lookups(&m);
    }

    #[test]
    fn removal_keeps_the_order_and_the_lookups() {
        let mut m: PathMap = (0..200u8)
            .map(|i| (format!("d{}/f{i}", i % 7), entry(i)))
            .collect();
        assert_eq!(m.shift_remove(b"d3/f10"), Some(entry(10)));
        assert_eq!(m.shift_remove(b"d3/f10"), None);
        assert_eq!(m.shift_remove(b"d0/f0"), Some(entry(0)), "the first");
        assert_eq!(m.shift_remove(b"d3/f199"), Some(entry(199)), "the last");
        let want: Vec<String> = (1..199u8)
            .filter(|&i| i != 10)
            .map(|i| format!("d{}/f{i}", i % 7))
            .collect();
        assert_eq!(paths(&m), want);
        check_lookups(&m);
        assert_eq!(m.paths.len(), want.iter().map(String::len).sum::<usize>());
        m.insert(b"d3/f10", entry(10));
        assert_eq!(m.last(), Some((&b"d3/f10"[..], &entry(10))));
        check_lookups(&m);
    }

    #[test]
    fn room_that_cannot_be_had_is_refused_not_an_abort() {
        // What a sparse index file of terabytes claims: more than the address space.
        assert!(PathMap::try_with_capacity(1 << 44, 0).is_none());
        assert!(PathMap::try_with_capacity(0, usize::MAX / 2).is_none());
        let m = PathMap::try_with_capacity(1000, 20_000).expect("a small map");
        assert!(m.is_empty());
    }

    #[test]
    fn retain_closes_up_the_arena() {
        let mut m: PathMap = (0..100u8).map(|i| (format!("p{i:03}"), entry(i))).collect();
        let mut seen = Vec::new();
        m.retain(|p, e| {
            seen.push(p.to_vec());
            e.file_id().0[0] % 3 == 0
        });
        assert_eq!(seen.len(), 100, "each entry is offered once, in order");
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        let want: Vec<String> = (0..100).step_by(3).map(|i| format!("p{i:03}")).collect();
        assert_eq!(paths(&m), want);
        assert_eq!(m.paths.len(), 4 * want.len(), "no dead bytes are left");
        check_lookups(&m);
        m.retain(|_, _| true);
        assert_eq!(paths(&m), want);
        m.retain(|_, _| false);
        assert!(m.is_empty() && m.paths.is_empty());
        check_lookups(&m);
    }

    #[test]
    fn sort_orders_paths_bytewise_and_keeps_entries_with_them() {
        let names = ["b", "a/c", "a", "a-b", "a/b", "", "z", "b/a"];
        let mut m: PathMap = names
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_bytes(), entry(i as u8)))
            .collect();
        assert!(m.contains_key(b""), "inserted, an empty path is found");
        m.shift_remove(b"");
        let room = m.capacity();
        m.sort();
        assert_eq!(paths(&m), ["a", "a-b", "a/b", "a/c", "b", "b/a", "z"]);
        for (i, p) in names.iter().enumerate().skip(1).filter(|(i, _)| *i != 5) {
            assert_eq!(m.get(p.as_bytes()), Some(&entry(i as u8)), "{p}");
        }
        assert_eq!(m.capacity(), room, "a sort keeps the room");
        check_lookups(&m);
        m.insert(b"0", entry(9));
        m.sort();
        assert_eq!(paths(&m)[..2], ["0", "a"]);
        check_lookups(&m);
    }

    /// Large enough that the table grows several times, rehashing from the arena.
    #[test]
    fn many_paths_survive_growth_and_a_shuffled_sort() {
        let mut m = PathMap::default();
        let n = 5_000u32;
        for i in 0..n {
            // A multiplier coprime with n visits every number once, out of order.
            let k = i * 7_919 % n;
            m.insert(format!("d{}/f{k:05}", k % 13), entry((k % 251) as u8));
        }
        let mut want: Vec<Vec<u8>> = m.keys().map(<[u8]>::to_vec).collect();
        want.sort();
        assert_eq!(want.len(), n as usize);
        m.sort();
        assert!(m.keys().eq(want.iter().map(Vec::as_slice)));
        check_lookups(&m);
        assert_eq!(m, m.clone());
        let mut other: PathMap = m.iter().rev().map(|(p, e)| (p, e.clone())).collect();
        assert_eq!(m, other, "maps compare whatever their order");
        other.insert(b"d0/f00000", entry(250));
        assert_ne!(m, other);
    }

    #[test]
    fn permute_follows_cycles() {
        let mut v = vec!['a', 'b', 'c', 'd', 'e'];
        let mut order = vec![2, 0, 1, 4, 3];
        permute(&mut v, &mut order);
        assert_eq!(v, ['c', 'a', 'b', 'e', 'd']);
    }
}
