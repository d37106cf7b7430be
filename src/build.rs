//! Building trees bottom-up from the staging index, in memory. `commit` writes the trees the
//! store lacks; `status` compares the result with HEAD without writing anything.
//!
//! A directory whose tree the index still remembers (its cached tree: no entry below it
//! changed since the last commit, and the store still holds that tree) is not built again:
//! its id and size are taken as they are and nothing below it is visited. A commit that
//! changes one file in a million builds and hashes only the trees on that file's path.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::hash::{HashAlgo, ObjectId};
use crate::index::{CachedTree, IndexEntry, StagingIndex, TreeCache};
use crate::object::tree::MAX_DEPTH;
use crate::object::{EntryKind, Tree, TreeEntry};
use crate::repo_path::RepoPath;

/// The trees of a staging index, built in memory, and its totals.
pub struct Built {
    /// The root tree's id.
    pub root: ObjectId,
    /// The trees built here, by id, encoded as stored: every tree of the index but those
    /// taken from its cache, which the store holds. Encoded, a million files' entries take
    /// about two thirds of the memory of [`Tree`] values, each name allocated apart.
    pub trees: HashMap<ObjectId, Vec<u8>>,
    /// Files (and symlinks) in the index.
    pub files: u64,
    /// Bytes of all files in the index.
    pub bytes: u64,
    /// Every directory's tree, cached or built: what the index remembers after a commit.
    pub cache: TreeCache,
}

/// Builds every tree of the index, ignoring its cached trees.
pub fn build(index: &StagingIndex, algo: HashAlgo) -> Result<Built> {
    build_with(index, algo, TreeCache::new(), Out::Keep)
}

/// Where each tree goes as it is built: a tree's encoding is final once built.
pub type TreeOut<'a> = &'a mut dyn FnMut(ObjectId, Vec<u8>) -> Result<()>;

/// Builds every tree of the index, ignoring its cached trees, and hands each to `out` as it
/// is built instead of keeping it: a first commit writes them at once, and a million files'
/// trees (60 MB encoded) are never all in memory beside the index. `Built::trees` is left
/// empty; a tree two directories share is handed over for each of them.
pub fn build_handing(index: &StagingIndex, algo: HashAlgo, out: TreeOut<'_>) -> Result<Built> {
    build_with(index, algo, TreeCache::new(), Out::Hand(out))
}

/// Builds the trees of the index, taking a directory's cached tree when it still fits: the
/// same number of entries below it, and `present` (the store holds it) true of it and of
/// every cached tree below it. A cached tree the store lost (gc deletes trees no layer
/// reaches) is built again, with the directories above it.
pub fn build_cached(
    index: &StagingIndex,
    algo: HashAlgo,
    present: &(dyn Fn(&ObjectId) -> bool + Sync),
) -> Result<Built> {
    let mut usable = index.entries.trees().clone();
    for (dir, t) in index.entries.trees() {
        if !present(&t.id) {
            forget_with_ancestors(&mut usable, dir);
        }
    }
    build_with(index, algo, usable, Out::Keep)
}

/// What [`Builder`] does with a tree it built.
enum Out<'a> {
    /// Into [`Built::trees`].
    Keep,
    /// To the caller (see [`build_handing`]).
    Hand(TreeOut<'a>),
}

fn forget_with_ancestors(cache: &mut TreeCache, dir: &[u8]) {
    cache.remove(dir);
    for d in RepoPath::new(dir).ancestors() {
        cache.remove(d.as_bytes());
    }
    cache.remove(&b""[..]);
}

fn build_with(
    index: &StagingIndex,
    algo: HashAlgo,
    usable: TreeCache,
    out: Out<'_>,
) -> Result<Built> {
    let items = Items::new(index);
    let mut b = Builder {
        items: &items,
        algo,
        out,
        built: Built {
            root: ObjectId::default(),
            trees: HashMap::new(),
            files: items.len() as u64,
            bytes: 0,
            cache: usable,
        },
    };
    let (root, bytes) = b.dir(0, items.len(), 0, 0)?;
    b.built.root = root;
    b.built.bytes = bytes;
    Ok(b.built)
}

/// Whether a path lies below more than [`MAX_DEPTH`] directories: its trees could be
/// written but no walk would read them back.
pub(crate) fn too_deep(path: &[u8]) -> bool {
    RepoPath::new(path).ancestors().count() > MAX_DEPTH
}

/// The index's entries in path order: the map itself when it is sorted (as loaded), else
/// a sorted list of positions.
struct Items<'a> {
    index: &'a StagingIndex,
    order: Option<Vec<usize>>,
}

impl<'a> Items<'a> {
    fn new(index: &'a StagingIndex) -> Items<'a> {
        let order = (!index.entries.is_sorted()).then(|| {
            let mut o: Vec<usize> = (0..index.entries.len()).collect();
            let path = |i: &usize| index.entries.get_index(*i).map(|(p, _)| p);
            o.sort_unstable_by(|a, b| path(a).cmp(&path(b)));
            o
        });
        Items { index, order }
    }

    fn len(&self) -> usize {
        self.index.entries.len()
    }

    /// The position in the index of the `i`th entry in path order.
    fn pos(&self, i: usize) -> usize {
        self.order.as_ref().map_or(i, |o| o[i])
    }

    fn get(&self, i: usize) -> (&'a [u8], &'a IndexEntry) {
        let (p, e) = self
            .index
            .entries
            .get_index(self.pos(i))
            .expect("positions are below the length");
        (p, e)
    }

    /// The first position in `lo..hi` whose path does not start with `prefix`, given that
    /// those that do come first (sorted paths sharing a prefix are contiguous).
    fn end_of(&self, mut lo: usize, mut hi: usize, prefix: &[u8]) -> usize {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).0.starts_with(prefix) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

struct Builder<'a, 'o> {
    items: &'a Items<'a>,
    algo: HashAlgo,
    out: Out<'o>,
    built: Built,
}

impl<'a> Builder<'a, '_> {
    /// The tree of the directory whose entries are positions `lo..hi`, all sharing their
    /// first `skip` bytes (the directory's path and a `/`), `depth` levels below the root.
    /// Returns its id and the bytes of all files below it.
    fn dir(&mut self, lo: usize, hi: usize, skip: usize, depth: usize) -> Result<(ObjectId, u64)> {
        let path = self.dir_path(lo, skip);
        if let Some(t) = self.built.cache.get(path) {
            if t.files == (hi - lo) as u64 {
                return Ok((t.id, t.size));
            }
        }
        if depth > MAX_DEPTH {
            let (p, _) = self.items.get(lo);
            return Err(Error::too_deep(PathBuf::from(OsStr::from_bytes(p))));
        }
        let (entries, total) = self.entries(lo, hi, skip, depth)?;
        let tree = Tree { entries };
        let id = tree.id(self.algo);
        let encoded = tree.encode();
        drop(tree);
        match &mut self.out {
            Out::Keep => {
                self.built.trees.insert(id, encoded);
            }
            Out::Hand(out) => out(id, encoded)?,
        }
        let files = (hi - lo) as u64;
        let cached = CachedTree {
            id,
            files,
            size: total,
        };
        self.built.cache.insert(path.to_vec(), cached);
        Ok((id, total))
    }

    /// The directory's path: `""` for the root, else its entries' first `skip - 1` bytes.
    fn dir_path(&self, lo: usize, skip: usize) -> &'a [u8] {
        match skip {
            0 => b"",
            _ => &self.items.get(lo).0[..skip - 1],
        }
    }

    /// The directory's tree entries, sorted by name, and their total size.
    fn entries(
        &mut self,
        lo: usize,
        hi: usize,
        skip: usize,
        depth: usize,
    ) -> Result<(Vec<TreeEntry>, u64)> {
        let mut entries = Vec::new();
        let mut total = 0u64;
        let mut i = lo;
        while i < hi {
            let (p, e) = self.items.get(i);
            let rest = &p[skip..];
            let Some(k) = rest.iter().position(|b| *b == b'/') else {
                let entry = file_entry(rest, e);
                total += entry.size;
                entries.push(entry);
                i += 1;
                continue;
            };
            let j = self.items.end_of(i, hi, &p[..skip + k + 1]);
            let (id, size) = self.dir(i, j, skip + k + 1, depth + 1)?;
            total += size;
            entries.push(dir_entry(&rest[..k], id, size));
            i = j;
        }
        // Path order puts "a.txt" before "a/x", name order puts "a" first: sort by name.
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::BadPath {
                what: "the staging index holds a file and a directory of the same name".into(),
                path: String::from_utf8_lossy(&w[0].name).into_owned().into(),
            });
        }
        Ok((entries, total))
    }
}

fn dir_entry(name: &[u8], id: ObjectId, size: u64) -> TreeEntry {
    TreeEntry {
        name: name.to_vec(),
        kind: EntryKind::Dir,
        mode: 0,
        size,
        mtime_ns: 0,
        id,
    }
}

fn file_entry(name: &[u8], e: &IndexEntry) -> TreeEntry {
    TreeEntry {
        name: name.to_vec(),
        kind: e.kind(),
        mode: e.mode,
        size: e.chunks().iter().map(|c| u64::from(c.len)).sum(),
        mtime_ns: e.stat.mtime_ns,
        id: e.file_id(),
    }
}
