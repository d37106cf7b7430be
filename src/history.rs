//! Questions about the history of layers (each layer names its parent): ancestry, and what
//! changed below some paths from one layer to the next.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::diff::{diff_trees, Change, TreeSource};
use crate::error::{Error, Result};
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;
use crate::object::tree::{RawTree, TREE_VERSION};
use crate::object::{EntryKind, Tree, TreeEntry};
use crate::pack::ObjectKind;
use crate::repo::Repository;
use crate::repo_path::{RepoPath, RepoPathBuf};

/// True when `ancestor` is `tip` or one of its ancestors in this repository's history. A
/// layer on the way that cannot be read is an error, not a "no": push and pull decide from
/// the answer whether a line may move, and a guess could lose layers or refuse a safe move.
///
/// The cost follows the distance between the two, not the length of the history: the
/// chains of parents from both are walked in step, and the answer is known where they meet
/// (a history is a chain, so the first layer of one walk that the other has seen is where
/// the two histories join). A pull of one new layer onto 10,000 reads two or three layers,
/// whichever of the two is newer. Only where the histories share nothing are both walked to
/// their first layers. `ancestor`'s own chain is only read ahead: a layer of it that cannot
/// be read ends that side's walk, and the answer then comes from `tip`'s chain alone.
pub(crate) fn is_ancestor(repo: &Repository, ancestor: &ObjectId, tip: &ObjectId) -> Result<bool> {
    if ancestor == tip {
        return Ok(true);
    }
    // Parents through the layer graph where it lists a layer.
    let parents = crate::layer_graph::Parents::new(repo);
    let mut from_tip = Chain::new(*tip);
    let mut from_ancestor = Chain::new(*ancestor);
    // Every layer of tip's history is stored (reading it would fail otherwise), so a layer
    // that is not stored is not in it: a remote's newer layer that was never fetched.
    if !repo.store.contains(ancestor) {
        repo.read_layer(tip)?;
        return Ok(false);
    }
    loop {
        let Some(id) = from_tip.next else {
            return Ok(false);
        };
        // The tip's walk met the ancestor's chain: at the ancestor itself, or below it.
        if from_ancestor.seen.contains(&id) || id == *ancestor {
            return Ok(id == *ancestor);
        }
        from_tip.step(parents.parent(&id)?);
        if let Some(id) = from_ancestor.next {
            // The ancestor's walk met the tip's chain: the two histories join here.
            if from_tip.seen.contains(&id) {
                return Ok(id == *ancestor);
            }
            from_ancestor.step(parents.parent(&id).ok().flatten());
        }
    }
}

/// One side of [`is_ancestor`]'s walk: the layers met so far and the next one.
struct Chain {
    next: Option<ObjectId>,
    seen: std::collections::HashSet<ObjectId>,
}

impl Chain {
    fn new(start: ObjectId) -> Chain {
        Chain {
            next: Some(start),
            seen: Default::default(),
        }
    }

    /// The layer `next` was read; its parent (if any) is next.
    fn step(&mut self, parent: Option<ObjectId>) {
        if let Some(id) = self.next.take() {
            self.seen.insert(id);
        }
        self.next = parent;
    }
}

/// The changes below a set of paths, layer after layer down one chain of parents, at a cost
/// that follows the changes: for each layer only the entries along the named paths are
/// looked up, and a subtree whose id is the same on both sides is never opened.
///
/// Walking newest first, a layer's tree is its child's parent tree, so the entries found
/// along the paths in a parent are carried to the next call: each tree on the way down a
/// path is read once per layer whose tree differs there, and not at all where it does not.
pub(crate) struct PathChanges<'a> {
    src: &'a dyn EntrySource,
    algo: HashAlgo,
    /// The paths, none below another; empty: the whole tree.
    paths: Vec<RepoPathBuf>,
    /// The root id and the spines of the tree last seen as a parent.
    carried: Option<(ObjectId, Vec<Spine>)>,
}

impl<'a> PathChanges<'a> {
    /// Changes below `paths` (repository paths; none, or the root among them: everything).
    pub(crate) fn new(src: &'a dyn EntrySource, algo: HashAlgo, paths: &[RepoPathBuf]) -> Self {
        PathChanges {
            src,
            algo,
            paths: outermost(paths),
            carried: None,
        }
    }

    /// The file-level changes from the tree `parent` (`None`: a first layer) to `tree`,
    /// below the paths, sorted by path. Call it for a layer and then for its parent, as a
    /// walk down the parents does, for the carried spines to help; any order is correct.
    pub(crate) fn changes(
        &mut self,
        parent: Option<ObjectId>,
        tree: ObjectId,
    ) -> Result<Vec<Change>> {
        if self.paths.is_empty() {
            let src: &dyn TreeSource = self.src;
            return diff_trees(src, parent, Some(tree));
        }
        let new = match self.carried.take() {
            Some((root, spines)) if root == tree => spines,
            _ => self
                .paths
                .iter()
                .map(|p| spine(self.src, tree, p, None))
                .collect::<Result<Vec<_>>>()?,
        };
        let old = match parent {
            None => vec![Spine::default(); self.paths.len()],
            Some(root) => self
                .paths
                .iter()
                .zip(&new)
                .map(|(p, known)| spine(self.src, root, p, Some((tree, known))))
                .collect::<Result<Vec<_>>>()?,
        };
        let mut out = Vec::new();
        for (p, (o, n)) in self.paths.iter().zip(old.iter().zip(&new)) {
            let depth = p.depth();
            out.extend(self.entry_changes(p, o.end(depth), n.end(depth))?);
        }
        out.sort_unstable_by(|x, y| x.path.cmp(&y.path));
        self.carried = parent.map(|root| (root, old));
        Ok(out)
    }

    /// The changes at and below `path`, whose entry was `old` and is `new`. Each side that
    /// exists becomes a one-entry tree, so the tree diff (equal subtrees skipped) does the
    /// work, and its paths are put back under the path's parent.
    fn entry_changes(
        &self,
        path: &RepoPath,
        old: Option<&TreeEntry>,
        new: Option<&TreeEntry>,
    ) -> Result<Vec<Change>> {
        if same_entry(old, new) {
            return Ok(Vec::new());
        }
        let mut made = HashMap::new();
        let mut wrap = |e: Option<&TreeEntry>| {
            e.map(|e| {
                let t = Tree {
                    entries: vec![e.clone()],
                };
                let id = t.id(self.algo);
                made.insert(id, t);
                id
            })
        };
        let (a, b) = (wrap(old), wrap(new));
        let src = Made {
            made: &made,
            src: self.src,
        };
        let parent = path.parent();
        let mut changes = diff_trees(&src, a, b)?;
        for c in &mut changes {
            c.path = parent.join(c.path.as_bytes());
        }
        Ok(changes)
    }
}

/// Two entries that cannot differ below: both absent, or the same kind, mode and id. Two
/// directories with different ids may still hold the same files (a tree records mtimes, a
/// change no diff reports), so only the tree diff can say they differ.
fn same_entry(a: Option<&TreeEntry>, b: Option<&TreeEntry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.kind == b.kind && a.mode == b.mode && a.id == b.id,
        _ => false,
    }
}

/// The paths without those below another one; the root alone, or no paths, gives none
/// (the whole tree).
fn outermost(paths: &[RepoPathBuf]) -> Vec<RepoPathBuf> {
    if paths.iter().any(|p| p.is_root()) {
        return Vec::new();
    }
    let mut sorted = paths.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<RepoPathBuf> = Vec::new();
    for p in sorted {
        // Sorted, a path's ancestors that are listed come before it (`a` < `a/b`), though
        // not always right before it (`a` < `a b` < `a/b`), hence the scan.
        if !out.iter().any(|o| p.is_under(o)) {
            out.push(p);
        }
    }
    out
}

/// The entries along one path in one tree: `0[k]` is the entry of the path's first k+1
/// components. Shorter than the path where it stops: a missing name, or a file where a
/// directory would be.
#[derive(Debug, Clone, Default)]
struct Spine(Vec<TreeEntry>);

impl Spine {
    /// The entry at the path itself, for a path of `depth` components.
    fn end(&self, depth: usize) -> Option<&TreeEntry> {
        (self.0.len() == depth).then(|| self.0.last()).flatten()
    }
}

/// The spine of `path` in the tree `root`. `known` is the spine of the same path in another
/// tree: from the first entry both trees share, the rest is the same, so it is copied and
/// not looked up.
fn spine(
    src: &dyn EntrySource,
    root: ObjectId,
    path: &RepoPath,
    known: Option<(ObjectId, &Spine)>,
) -> Result<Spine> {
    if let Some((known_root, s)) = known {
        if known_root == root {
            return Ok(s.clone());
        }
    }
    let mut out = Vec::new();
    let mut dir = root;
    for (k, name) in path.components().enumerate() {
        let Some(e) = src.entry(&dir, name)? else {
            break;
        };
        if let Some((_, s)) = known {
            if s.0.get(k).is_some_and(|o| same_entry(Some(o), Some(&e))) {
                out.extend_from_slice(&s.0[k..]);
                break;
            }
        }
        let is_dir = e.kind == EntryKind::Dir;
        dir = e.id;
        out.push(e);
        if !is_dir {
            break;
        }
    }
    Ok(Spine(out))
}

/// The one-entry trees made for a path's two sides, over the real trees.
struct Made<'a> {
    made: &'a HashMap<ObjectId, Tree>,
    src: &'a dyn TreeSource,
}

impl TreeSource for Made<'_> {
    fn tree(&self, id: &ObjectId) -> Result<Tree> {
        match self.made.get(id) {
            Some(t) => Ok(t.clone()),
            None => self.src.tree(id),
        }
    }
}

/// Where [`PathChanges`] reads trees: whole, to compare what changed below a path, or one
/// entry, to walk down a path.
pub(crate) trait EntrySource: TreeSource {
    /// The entry called `name` in the tree `id`, if there is one.
    fn entry(&self, id: &ObjectId, name: &[u8]) -> Result<Option<TreeEntry>> {
        Ok(self.tree(id)?.get(name).cloned())
    }
}

/// Trees read from the store and checked against their ids, as [`Repository::read_tree`]
/// does, at a cost that follows how much a tree differs from one checked just before.
///
/// A tree id is the merkle root over its entries, in a shape that depends only on the
/// number of entries (RFC 6962). A parent layer's tree usually has as many entries as its
/// child's, nearly all equal: an entry whose encoding equals the one at the same place in a
/// tree checked just before has the same leaf hash, and a merkle subtree over equal leaves
/// has the same node hash. So only the changed leaves and the nodes above them are hashed,
/// and the rest is compared. Every byte of the tree is still compared or hashed: the check
/// is the same as `read_tree`'s, and only its cost changes. Looking up one entry decodes
/// no other entry into owned form.
pub(crate) struct VerifiedTrees<'r> {
    repo: &'r Repository,
    recent: RefCell<VecDeque<Rc<Checked>>>,
}

/// A tree whose id was checked: its encoding, where each entry starts in it, and its
/// merkle leaves and inner nodes (in post-order).
struct Checked {
    id: ObjectId,
    bytes: Vec<u8>,
    starts: Vec<usize>,
    leaves: Vec<ObjectId>,
    nodes: Vec<ObjectId>,
}

/// How many checked trees are kept to compare with: the trees along a few paths.
const RECENT: usize = 32;
/// The memory those trees may take, roughly, beyond the two newest.
const RECENT_BYTES: usize = 64 << 20;
/// A tree encoding's header: version u8, count u32 (docs/FORMAT.md).
const TREE_HEADER: usize = 5;
/// Where an entry's name starts in its encoding: kind u8, mode u32, size u64, mtime i64,
/// id 32 bytes, name length u16.
const ENTRY_NAME_AT: usize = 55;

impl<'r> VerifiedTrees<'r> {
    /// Reads trees from `repo`.
    pub(crate) fn new(repo: &'r Repository) -> Self {
        VerifiedTrees {
            repo,
            recent: RefCell::new(VecDeque::new()),
        }
    }

    /// The tree `id`, checked: one of the recent ones, or read from the store.
    fn checked(&self, id: &ObjectId) -> Result<Rc<Checked>> {
        if let Some(c) = self.recent.borrow().iter().find(|c| c.id == *id) {
            return Ok(Rc::clone(c));
        }
        let repo = self.repo;
        let bad =
            |detail: String| Error::corrupt("tree", repo.dir(), format!("object {id}: {detail}"));
        let bytes = repo.store.read(id, ObjectKind::Tree, repo.dir())?;
        let checked =
            Checked::new(repo.algo(), bytes, |n, first| self.like(n, first)).map_err(bad)?;
        if checked.id != *id {
            let why = format!("object {id} does not match its id");
            return Err(Error::corrupt("tree", repo.dir(), why));
        }
        let checked = Rc::new(checked);
        let mut recent = self.recent.borrow_mut();
        recent.push_front(Rc::clone(&checked));
        recent.truncate(RECENT);
        // Large directories are kept fewer: two of them (a tree and its next version)
        // always, more only within the budget.
        while recent.len() > 2 && recent.iter().map(|c| c.weight()).sum::<usize>() > RECENT_BYTES {
            recent.pop_back();
        }
        Ok(checked)
    }

    /// The most recently checked tree with `n` entries, the first called `first`: most of
    /// the time, the same directory in the layer walked just before.
    fn like(&self, n: usize, first: &[u8]) -> Option<Rc<Checked>> {
        self.recent
            .borrow()
            .iter()
            .find(|c| c.leaves.len() == n && c.name(0) == first)
            .cloned()
    }
}

/// A walk of what is reachable that checks each tree at the cost of what changed since a
/// similar one ([`VerifiedTrees`]): `verify` over a history of many layers that each change
/// a little hashes the changes, not every entry of every layer's trees.
impl crate::reach::Source for VerifiedTrees<'_> {
    fn layer(&self, id: &ObjectId) -> Result<crate::object::Layer> {
        self.repo.read_layer(id)
    }

    fn tree(&self, id: &ObjectId) -> Result<Tree> {
        TreeSource::tree(self, id)
    }

    fn file(&self, id: &ObjectId) -> Result<(crate::object::FileObject, Vec<ObjectId>)> {
        self.repo.read_file_lists(id)
    }
}

impl TreeSource for VerifiedTrees<'_> {
    fn tree(&self, id: &ObjectId) -> Result<Tree> {
        let c = self.checked(id)?;
        Ok(Tree::decode(&c.bytes).expect("decoded when checked"))
    }
}

impl EntrySource for VerifiedTrees<'_> {
    fn entry(&self, id: &ObjectId, name: &[u8]) -> Result<Option<TreeEntry>> {
        let c = self.checked(id)?;
        // The names are sorted: decode checked it.
        let (mut lo, mut hi) = (0, c.leaves.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match c.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(c.entry(mid))),
            }
        }
        Ok(None)
    }
}

impl Checked {
    /// Decodes and hashes a tree encoding; `like(n, first name)` may offer a checked tree
    /// to take equal leaves and nodes from. The id is what the encoding hashes to: the
    /// caller compares it with the id it asked for.
    fn new(
        algo: HashAlgo,
        bytes: Vec<u8>,
        like: impl FnOnce(usize, &[u8]) -> Option<Rc<Checked>>,
    ) -> std::result::Result<Checked, String> {
        let raw = RawTree::decode(&bytes)?;
        let n = raw.entries.len();
        let mut starts = Vec::with_capacity(n + 1);
        let mut at = TREE_HEADER;
        for _ in 0..n {
            starts.push(at);
            // In bounds and well formed: the decode above checked every entry.
            let len =
                u16::from_le_bytes([bytes[at + ENTRY_NAME_AT - 2], bytes[at + ENTRY_NAME_AT - 1]]);
            at += ENTRY_NAME_AT + usize::from(len);
        }
        starts.push(at);
        let like = if n > 0 {
            like(n, &bytes[TREE_HEADER + ENTRY_NAME_AT..starts[1]])
        } else {
            None
        };
        let like = like.as_deref().filter(|c| c.leaves.len() == n);
        let mut leaves = Vec::with_capacity(n);
        // differ[i]: how many of the first i entries are not the same as `like`'s.
        let mut differ = Vec::with_capacity(n + 1);
        differ.push(0);
        for (i, e) in raw.entries.iter().enumerate() {
            let mine = &bytes[starts[i]..starts[i + 1]];
            let same = like.filter(|c| c.entry_bytes(i) == mine);
            leaves.push(match same {
                Some(c) => c.leaves[i],
                None => e.leaf(algo),
            });
            differ.push(differ[i] + usize::from(same.is_none()));
        }
        let mut nodes = vec![ObjectId::default(); n.saturating_sub(1)];
        if n >= 2 {
            let shape = Shape {
                algo,
                leaves: &leaves,
                like,
                differ: &differ,
            };
            shape.build(0, n, 0, &mut nodes);
        }
        let id = match (nodes.last(), leaves.first()) {
            (Some(r), _) => *r,
            (None, Some(l)) => *l,
            (None, None) => algo.hash(Domain::TreeNode, b""),
        };
        Ok(Checked {
            id,
            bytes,
            starts,
            leaves,
            nodes,
        })
    }

    /// About the memory it holds, in bytes.
    fn weight(&self) -> usize {
        self.bytes.len() + 8 * self.starts.len() + 32 * (self.leaves.len() + self.nodes.len())
    }

    /// The encoding of entry `i`.
    fn entry_bytes(&self, i: usize) -> &[u8] {
        &self.bytes[self.starts[i]..self.starts[i + 1]]
    }

    /// The name of entry `i`.
    fn name(&self, i: usize) -> &[u8] {
        &self.entry_bytes(i)[ENTRY_NAME_AT..]
    }

    /// Entry `i`, owned: decoded as a one-entry tree, by the one decoder of trees.
    fn entry(&self, i: usize) -> TreeEntry {
        let mut one = Vec::with_capacity(TREE_HEADER + self.entry_bytes(i).len());
        one.push(TREE_VERSION);
        one.extend_from_slice(&1u32.to_le_bytes());
        one.extend_from_slice(self.entry_bytes(i));
        let mut t = Tree::decode(&one).expect("an entry of a decoded tree");
        t.entries.pop().expect("one entry")
    }
}

/// What building a tree's merkle nodes needs.
struct Shape<'a> {
    algo: HashAlgo,
    leaves: &'a [ObjectId],
    like: Option<&'a Checked>,
    differ: &'a [usize],
}

impl Shape<'_> {
    /// Fills `nodes[base .. base + hi - lo - 1]`, the post-order nodes over leaves
    /// `lo..hi` (at least two), and returns their root, as [`merkle::root`] computes it.
    /// A range whose entries all equal `like`'s copies `like`'s nodes: its shape, and so
    /// its place in post-order, is the same.
    fn build(&self, lo: usize, hi: usize, base: usize, nodes: &mut [ObjectId]) -> ObjectId {
        let m = hi - lo;
        if m == 1 {
            return self.leaves[lo];
        }
        let block = base..base + m - 1;
        if let Some(c) = self.like.filter(|_| self.differ[hi] == self.differ[lo]) {
            nodes[block.clone()].copy_from_slice(&c.nodes[block]);
            return nodes[base + m - 2];
        }
        let k = lo + merkle::split(m);
        let l = self.build(lo, k, base, nodes);
        let r = self.build(k, hi, base + (k - lo - 1), nodes);
        let h = merkle::parent(self.algo, Domain::TreeNode, &l, &r);
        nodes[base + m - 2] = h;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkParams;
    use crate::hash::HashAlgo;

    /// Trees in memory, counting reads: the cost of a path walk is the number of trees read.
    #[derive(Default)]
    struct Mem {
        trees: HashMap<ObjectId, Tree>,
        reads: std::cell::Cell<usize>,
    }

    impl TreeSource for Mem {
        fn tree(&self, id: &ObjectId) -> Result<Tree> {
            self.reads.set(self.reads.get() + 1);
            Ok(self.trees[id].clone())
        }
    }

    impl EntrySource for Mem {}

    impl Mem {
        /// Stores the tree of `files` (path, content), returning its root id. A content of
        /// `b"->..."` is a symlink.
        fn put(&mut self, files: &[(&str, &str)]) -> ObjectId {
            let mut sorted: Vec<_> = files.to_vec();
            sorted.sort();
            self.dir(&sorted, "")
        }

        fn dir(&mut self, files: &[(&str, &str)], prefix: &str) -> ObjectId {
            let algo = HashAlgo::Blake3;
            let mut names: std::collections::BTreeMap<Vec<u8>, TreeEntry> = Default::default();
            for (path, content) in files {
                let Some(rest) = path.strip_prefix(prefix) else {
                    continue;
                };
                if let Some((name, _)) = rest.split_once('/') {
                    if !names.contains_key(name.as_bytes()) {
                        let sub = format!("{prefix}{name}/");
                        let id = self.dir(files, &sub);
                        names.insert(name.as_bytes().to_vec(), entry(name, EntryKind::Dir, id, 0));
                    }
                } else {
                    let (kind, text) = match content.strip_prefix("->") {
                        Some(t) => (EntryKind::Symlink, t),
                        None => (EntryKind::File, *content),
                    };
                    let id = algo.hash(crate::hash::Domain::Chunk, text.as_bytes());
                    names.insert(rest.as_bytes().to_vec(), entry(rest, kind, id, 0o644));
                }
            }
            let t = Tree {
                entries: names.into_values().collect(),
            };
            let id = t.id(algo);
            self.trees.insert(id, t);
            id
        }
    }

    fn entry(name: &str, kind: EntryKind, id: ObjectId, mode: u32) -> TreeEntry {
        TreeEntry {
            name: name.as_bytes().to_vec(),
            kind,
            mode,
            size: 1,
            mtime_ns: 0,
            id,
        }
    }

    fn paths(ps: &[&str]) -> Vec<RepoPathBuf> {
        ps.iter().map(|p| RepoPathBuf::from(p.as_bytes())).collect()
    }

    fn changed(c: &[Change]) -> Vec<String> {
        c.iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect()
    }

    /// The changes below `ps` of each layer of a chain of trees (oldest first), walked
    /// newest first as log does; returned oldest first.
    fn walk(mem: &Mem, chain: &[ObjectId], ps: &[&str]) -> Vec<Vec<String>> {
        let mut w = PathChanges::new(mem, HashAlgo::Blake3, &paths(ps));
        let mut out: Vec<_> = (0..chain.len())
            .rev()
            .map(|i| {
                let parent = i.checked_sub(1).map(|p| chain[p]);
                changed(&w.changes(parent, chain[i]).unwrap())
            })
            .collect();
        out.reverse();
        out
    }

    #[test]
    fn a_file_path_sees_its_own_changes_only() {
        let mut m = Mem::default();
        let chain = [
            m.put(&[("a/x", "1"), ("a/y", "1"), ("b", "1")]),
            m.put(&[("a/x", "2"), ("a/y", "1"), ("b", "1")]),
            m.put(&[("a/x", "2"), ("a/y", "2"), ("b", "2")]),
            m.put(&[("a/y", "2"), ("b", "2")]),
            m.put(&[("a/x", "3"), ("a/y", "2"), ("b", "2")]),
        ];
        assert_eq!(
            walk(&m, &chain, &["a/x"]),
            [
                vec!["A a/x"],
                vec!["M a/x"],
                vec![],
                vec!["D a/x"],
                vec!["A a/x"]
            ]
        );
        assert_eq!(
            walk(&m, &chain, &["a"]),
            [
                vec!["A a/x", "A a/y"],
                vec!["M a/x"],
                vec!["M a/y"],
                vec!["D a/x"],
                vec!["A a/x"]
            ]
        );
        let all = walk(&m, &chain, &[""]);
        assert_eq!(all[2], ["M a/y", "M b"], "the root is the whole tree");
        assert_eq!(
            walk(&m, &chain, &["a/x", "b", "a", "nothing/here"])[2],
            ["M a/y", "M b"]
        );
        assert!(walk(&m, &chain, &["a/x/below/a/file"])
            .iter()
            .all(Vec::is_empty));
    }

    #[test]
    fn a_directory_turned_file_and_a_file_turned_symlink() {
        let mut m = Mem::default();
        let chain = [
            m.put(&[("d/f", "1"), ("l", "1")]),
            m.put(&[("d", "file now"), ("l", "->target")]),
            m.put(&[("d/g", "1"), ("l", "->target")]),
        ];
        assert_eq!(
            walk(&m, &chain, &["d", "l"]),
            [
                vec!["A d/f", "A l"],
                vec!["A d", "D d/f", "T l"],
                vec!["D d", "A d/g"]
            ]
        );
        assert_eq!(
            walk(&m, &chain, &["d/f"]),
            [vec!["A d/f"], vec!["D d/f"], vec![]]
        );
    }

    #[test]
    fn a_renamed_parent_is_a_deletion_below_the_old_name() {
        let mut m = Mem::default();
        let chain = [m.put(&[("old/f", "1")]), m.put(&[("new/f", "1")])];
        assert_eq!(
            walk(&m, &chain, &["old/f"]),
            [vec!["A old/f"], vec!["D old/f"]]
        );
        assert_eq!(walk(&m, &chain, &["new"]), [vec![], vec!["A new/f"]]);
    }

    #[test]
    fn a_directory_whose_files_only_changed_mtime_did_not_change() {
        let mut m = Mem::default();
        let algo = HashAlgo::Blake3;
        let file = |mtime_ns| TreeEntry {
            mtime_ns,
            ..entry(
                "f",
                EntryKind::File,
                algo.hash(crate::hash::Domain::Chunk, b"x"),
                0o644,
            )
        };
        let mut chain = Vec::new();
        for mtime in [1, 2] {
            let d = Tree {
                entries: vec![file(mtime)],
            };
            let d_id = d.id(algo);
            m.trees.insert(d_id, d);
            let root = Tree {
                entries: vec![entry("d", EntryKind::Dir, d_id, 0)],
            };
            let root_id = root.id(algo);
            m.trees.insert(root_id, root);
            chain.push(root_id);
        }
        assert_ne!(chain[0], chain[1], "the trees differ by an mtime");
        for p in ["d", "d/f", ""] {
            assert_eq!(walk(&m, &chain, &[p])[1], Vec::<String>::new(), "{p}");
        }
    }

    #[test]
    fn the_cost_follows_the_path_not_the_tree() {
        let mut m = Mem::default();
        // 200 layers of a tree with 50 directories of 20 files; each layer edits one file
        // elsewhere, and every tenth layer edits the file the walk follows.
        let mut files: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("d{:02}/s/f{i:04}", i % 50), "0".to_string()))
            .collect();
        let mut chain = Vec::new();
        for layer in 0..200 {
            files[(layer * 7 + 3) % 1000].1 = format!("{layer}");
            if layer % 10 == 0 {
                files[0].1 = format!("x{layer}");
            }
            let refs: Vec<(&str, &str)> = files
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            chain.push(m.put(&refs));
        }
        m.reads.set(0);
        let got = walk(&m, &chain, &["d00/s/f0000"]);
        assert_eq!(got.iter().filter(|c| !c.is_empty()).count(), 20);
        // Each layer reads its parent's root and, where the path's directory changed, the
        // trees below it: 200 roots and at most 3 trees per changed layer, never 50 x 200.
        let reads = m.reads.get();
        assert!(reads <= 200 + 3 * 200, "{reads} trees read");
        assert!(reads < 2 * 200 + 3 * 20 + 50, "{reads} trees read");
    }

    fn random_tree(rng: &mut u64, n: usize, salt: u64) -> Tree {
        let algo = HashAlgo::Blake3;
        let mut next = || {
            *rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            *rng >> 33
        };
        let entries = (0..n)
            .map(|i| {
                // Most entries are the same across salts; some differ by content or mode.
                let changed = next() % 4 == 0;
                let content = if changed {
                    salt * 1000 + i as u64
                } else {
                    i as u64
                };
                let id = algo.hash(crate::hash::Domain::Chunk, &content.to_le_bytes());
                let mode = if changed && next() % 2 == 0 {
                    0o755
                } else {
                    0o644
                };
                entry(&format!("e{i:04}"), EntryKind::File, id, mode)
            })
            .collect();
        Tree { entries }
    }

    #[test]
    fn checking_against_a_similar_tree_gives_the_tree_id() {
        let algo = HashAlgo::Blake3;
        let check = |t: &Tree, like: Option<&Rc<Checked>>| {
            let c = Checked::new(algo, t.encode(), |_, _| like.cloned()).unwrap();
            assert_eq!(c.id, t.id(algo), "{} entries", t.entries.len());
            for (i, e) in t.entries.iter().enumerate() {
                assert_eq!(c.name(i), e.name.as_slice());
                assert_eq!(&c.entry(i), e);
            }
            Rc::new(c)
        };
        let mut rng = 7u64;
        for n in (0..70).chain([127, 128, 129, 300]) {
            let base = random_tree(&mut rng, n, 1);
            let fresh = check(&base, None);
            for salt in 2..5 {
                let t = random_tree(&mut rng, n, salt);
                let c = check(&t, Some(&fresh));
                check(&t, Some(&c));
            }
            check(&random_tree(&mut rng, n + 1, 9), Some(&fresh));
        }
        // Names of every length a name can have are found where they are.
        let long = "x".repeat(300);
        let mut t = random_tree(&mut rng, 3, 1);
        t.entries[2].name = long.into_bytes();
        let c = check(&t, None);
        assert_eq!(c.name(2).len(), 300);
    }

    #[test]
    fn a_tree_that_differs_from_its_id_is_refused_after_a_similar_one_passed() {
        use crate::pack::{Encoded, PackClass, PackWriter};
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
        let algo = repo.algo();
        let mut rng = 3u64;
        let good = random_tree(&mut rng, 40, 1);
        let claimed = random_tree(&mut rng, 40, 2);
        let mut forged = claimed.clone();
        forged.entries[17].mode ^= 0o111;
        let (good_id, claimed_id) = (good.id(algo), claimed.id(algo));
        let mut w = PackWriter::new(algo, PackClass::Meta, &repo.packs_dir(), &repo.tmp_dir());
        w.add(good_id, ObjectKind::Tree, &Encoded::raw(&good.encode()))
            .unwrap();
        w.add(
            claimed_id,
            ObjectKind::Tree,
            &Encoded::raw(&forged.encode()),
        )
        .unwrap();
        w.finish().unwrap();
        let repo = Repository::open(repo.root()).unwrap();
        let trees = VerifiedTrees::new(&repo);
        assert_eq!(trees.tree(&good_id).unwrap(), good);
        let e = trees.tree(&claimed_id).unwrap_err();
        assert_eq!(e.kind(), "corrupt", "{e}");
        assert!(repo.read_tree(&claimed_id).is_err(), "read_tree agrees");
        assert_eq!(
            trees.tree(&good_id).unwrap(),
            good,
            "and the good one still reads"
        );
    }

    #[test]
    fn ancestry_reads_the_layers_between_not_the_whole_history() {
        use crate::object::{Layer, LayerCounts};
        use crate::pack::{Encoded, PackClass, PackWriter};
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
        let algo = repo.algo();
        let mut w = PackWriter::new(algo, PackClass::Meta, &repo.packs_dir(), &repo.tmp_dir());
        let mut parents: HashMap<ObjectId, Option<ObjectId>> = HashMap::new();
        let mut put = |parent: Option<ObjectId>, n: i64| {
            let l = Layer {
                parent,
                tree: ObjectId::default(),
                time_ns: n,
                counts: LayerCounts::default(),
                author: "t".into(),
                message: format!("{n}"),
            };
            let id = l.id(algo);
            w.add(id, ObjectKind::Layer, &Encoded::raw(&l.encode()))
                .unwrap();
            parents.insert(id, parent);
            id
        };
        // A line of 60 layers, a branch of 4 from its 30th, and a history of its own.
        let mut main = vec![put(None, 0)];
        for n in 1..60 {
            main.push(put(Some(main[n - 1]), n as i64));
        }
        let mut branch = vec![put(Some(main[30]), 100)];
        for n in 1..4 {
            branch.push(put(Some(branch[n - 1]), 100 + n as i64));
        }
        let mut own = vec![put(None, 200)];
        own.push(put(Some(own[0]), 201));
        w.finish().unwrap();
        let repo = Repository::open(repo.root()).unwrap();
        let naive = |a: &ObjectId, tip: &ObjectId| {
            let mut next = Some(*tip);
            while let Some(id) = next {
                if id == *a {
                    return true;
                }
                next = parents[&id];
            }
            false
        };
        let all: Vec<ObjectId> = main.iter().chain(&branch).chain(&own).copied().collect();
        for a in &all {
            for b in &all {
                assert_eq!(is_ancestor(&repo, a, b).unwrap(), naive(a, b));
            }
        }
        let reads = |a: &ObjectId, b: &ObjectId| {
            let before = repo.layers_read();
            is_ancestor(&repo, a, b).unwrap();
            repo.layers_read() - before
        };
        // One layer apart, in either direction: a pull or push of one layer.
        assert!(reads(&main[58], &main[59]) <= 3);
        assert!(reads(&main[59], &main[58]) <= 3);
        // Diverged: both sides walked down to where they join, 29 and 4 layers above it.
        assert!(reads(&branch[3], &main[59]) <= 2 * 30 + 2);
        // A layer this repository does not hold is not in its history.
        let elsewhere = algo.hash(crate::hash::Domain::Layer, b"elsewhere");
        assert!(!is_ancestor(&repo, &elsewhere, &main[59]).unwrap());
        assert_eq!(reads(&elsewhere, &main[59]), 1);
    }

    #[test]
    fn a_history_that_cannot_be_read_is_an_error_not_a_no() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
        let (a, b) = ("1".repeat(64), "2".repeat(64));
        let (a, b): (ObjectId, ObjectId) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(
            is_ancestor(&repo, &a, &a).unwrap(),
            "a layer is its own ancestor"
        );
        assert!(is_ancestor(&repo, &a, &b).is_err(), "layer b is in no pack");
    }
}
