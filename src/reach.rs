//! One walk of what is reachable: from layers (following parents) to their trees, the file
//! objects of their files and symlinks, and the chunk lists and chunks those are stored as.
//!
//! gc, push, verify, `verify --remote`, stats and partial fetch each walk with their own
//! [`Visitor`]: gc keeps what it meets and fails on anything unreadable, verify records
//! damage and goes on, push stops at what the remote holds. The walk meets each object
//! once (one seen-set for every kind, which gc keeps as its live set), reads only through a
//! [`Source`], and is iterative: a hostile repository can nest trees thousands deep, so the
//! open trees are an explicit stack, never the call stack.
//!
//! The walk itself refuses no depth: gc must still find everything live in a repository
//! nested too deep. Visitors that must refuse nesting deeper than
//! [`crate::object::tree::MAX_DEPTH`] do it from [`At::depth`] (partial fetch), or from
//! heights they memoise per tree (the verifies), since a subtree met again is not walked
//! again.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::tree::MAX_DEPTH;
use crate::object::{EntryKind, FileObject, Layer, Tree, TreeEntry};
use crate::pack::ObjectKind;
use crate::repo::Repository;

/// How a walk reads objects.
pub(crate) trait Source {
    fn layer(&self, id: &ObjectId) -> Result<Layer>;
    fn tree(&self, id: &ObjectId) -> Result<Tree>;
    /// A file object and the ids of the chunk lists it is stored as (none when whole).
    fn file(&self, id: &ObjectId) -> Result<(FileObject, Vec<ObjectId>)>;
}

impl Source for Repository {
    fn layer(&self, id: &ObjectId) -> Result<Layer> {
        self.read_layer(id)
    }

    fn tree(&self, id: &ObjectId) -> Result<Tree> {
        self.read_tree(id)
    }

    fn file(&self, id: &ObjectId) -> Result<(FileObject, Vec<ObjectId>)> {
        self.read_file_lists(id)
    }
}

/// Whether the walk goes into an object met for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read it and walk what is below it.
    Descend,
    /// Leave it unread: for a layer, its tree and its parents too.
    Prune,
}

/// What the walk calls as it meets objects. Every callback may fail, which ends the walk
/// with that error. The defaults descend everywhere and fail on what cannot be read.
#[allow(unused_variables)]
pub(crate) trait Visitor {
    /// A layer met for the first time, before it is read.
    fn layer(&mut self, id: &ObjectId) -> Result<Step> {
        Ok(Step::Descend)
    }

    /// A layer read; its tree is walked next, then its parent.
    fn layer_read(&mut self, id: &ObjectId, layer: &Layer) -> Result<()> {
        Ok(())
    }

    /// A tree met for the first time, before it is read.
    fn tree(&mut self, at: &At, id: &ObjectId) -> Result<Step> {
        Ok(Step::Descend)
    }

    /// A tree met again: walked (or pruned, or found unreadable) already.
    fn tree_again(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        Ok(())
    }

    /// A tree read; its entries are walked next, then [`Visitor::leave_tree`].
    fn enter_tree(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        Ok(())
    }

    /// Every entry below the tree `id` has been walked.
    fn leave_tree(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        Ok(())
    }

    /// A file object met for the first time, before it is read.
    fn file(&mut self, at: &At, id: &ObjectId) -> Result<Step> {
        Ok(Step::Descend)
    }

    /// A file object read; its chunk lists and chunks are met next.
    fn file_read(&mut self, at: &At, id: &ObjectId, file: &FileObject) -> Result<()> {
        Ok(())
    }

    /// A chunk list met for the first time (lists are read with their file object).
    fn chunk_list(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        Ok(())
    }

    /// A chunk met for the first time (chunks are never read by the walk).
    fn chunk(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        Ok(())
    }

    /// A file or symlink entry, every time a tree holding it is walked, after its file
    /// object was met ([`At::entry`] is the entry).
    fn entry(&mut self, at: &At, entry: &TreeEntry) -> Result<()> {
        Ok(())
    }

    /// A layer, tree or file object that could not be read. Returning `Ok` walks on as if
    /// it were pruned (an unreadable layer ends its chain of parents).
    fn unreadable(&mut self, at: &At, kind: ObjectKind, id: &ObjectId, err: Error) -> Result<()> {
        Err(err)
    }
}

/// A tree the walk has opened and not finished.
struct Frame {
    id: ObjectId,
    entries: Vec<TreeEntry>,
    /// The entry after the one being walked.
    next: usize,
}

/// Where the walk is when it calls a visitor: the layer, and the trees open above the object
/// met (each at the entry being walked).
pub(crate) struct At<'w> {
    layer: Option<ObjectId>,
    frames: &'w [Frame],
    base: usize,
}

impl At<'_> {
    /// The layer whose tree is walked; `None` when walking a tree or file on its own.
    pub(crate) fn layer(&self) -> Option<ObjectId> {
        self.layer
    }

    /// Levels of directories above the object met: 0 for a layer's root tree (or the depth
    /// a lone tree's walk was started at), 1 for what that tree holds, and so on.
    pub(crate) fn depth(&self) -> usize {
        self.base + self.frames.len()
    }

    /// The tree holding the object met; `None` for a root.
    pub(crate) fn tree(&self) -> Option<&ObjectId> {
        self.frames.last().map(|f| &f.id)
    }

    /// The entry the object met is named by; `None` for a root.
    pub(crate) fn entry(&self) -> Option<&TreeEntry> {
        self.frames.last().map(|f| &f.entries[f.next - 1])
    }

    /// The name of the object met; empty for a root.
    pub(crate) fn name(&self) -> &[u8] {
        self.entry().map_or(&[], |e| &e.name)
    }

    /// The path of the object met below the root, for reports: at most [`MAX_DEPTH`]
    /// components, so a hostile nesting cannot make it huge. Built only when asked for.
    pub(crate) fn path(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.frames.iter().take(MAX_DEPTH) {
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(&f.entries[f.next - 1].name);
        }
        out
    }
}

/// Builds an [`At`] from the walk's fields, so that the seen-set stays mutable beside it.
fn at(layer: Option<ObjectId>, frames: &[Frame], base: usize) -> At<'_> {
    At {
        layer,
        frames,
        base,
    }
}

/// A walk over what is reachable from the layers, trees and files it is given, meeting each
/// object once across all of them.
pub(crate) struct Walk<'s, S: Source + ?Sized> {
    source: &'s S,
    seen: HashSet<ObjectId>,
    /// Whether chunks and chunk lists go into the seen-set (see [`Walk::forget_chunks`]).
    chunks_seen: bool,
    layer: Option<ObjectId>,
    frames: Vec<Frame>,
    base: usize,
}

impl<'s, S: Source + ?Sized> Walk<'s, S> {
    pub(crate) fn new(source: &'s S) -> Self {
        Walk {
            source,
            seen: HashSet::new(),
            chunks_seen: true,
            layer: None,
            frames: Vec::new(),
            base: 0,
        }
    }

    /// Meets chunks and chunk lists once per file object that holds them instead of once in
    /// all: for visitors that keep only a few of them, remembering every one would cost
    /// more memory than meeting some twice.
    pub(crate) fn forget_chunks(mut self) -> Self {
        self.chunks_seen = false;
        self
    }

    /// Everything met so far: gc's live set.
    pub(crate) fn into_seen(self) -> HashSet<ObjectId> {
        self.seen
    }

    /// Walks each layer in `roots` and its parents, each with its tree.
    pub(crate) fn layers(
        &mut self,
        roots: impl IntoIterator<Item = ObjectId>,
        v: &mut impl Visitor,
    ) -> Result<()> {
        for root in roots {
            let mut next = Some(root);
            while let Some(id) = next.filter(|id| self.seen.insert(*id)) {
                next = self.layer(id, v)?;
            }
        }
        self.layer = None;
        Ok(())
    }

    /// Walks one layer; returns its parent, if the walk goes on to it.
    fn layer(&mut self, id: ObjectId, v: &mut impl Visitor) -> Result<Option<ObjectId>> {
        self.layer = Some(id);
        if v.layer(&id)? == Step::Prune {
            return Ok(None);
        }
        let layer = match self.source.layer(&id) {
            Ok(l) => l,
            Err(e) => {
                v.unreadable(&at(self.layer, &[], 0), ObjectKind::Layer, &id, e)?;
                return Ok(None);
            }
        };
        v.layer_read(&id, &layer)?;
        self.tree(layer.tree, 0, v)?;
        Ok(layer.parent)
    }

    /// Walks the tree `root` and everything below it; `depth` is the root's (see
    /// [`At::depth`]).
    pub(crate) fn tree(
        &mut self,
        root: ObjectId,
        depth: usize,
        v: &mut impl Visitor,
    ) -> Result<()> {
        // A walk a visitor's error ended may have left trees open.
        self.frames.clear();
        self.base = depth;
        self.meet_tree(root, v)?;
        while let Some(top) = self.frames.last_mut() {
            let Some((kind, id)) = top.entries.get(top.next).map(|e| (e.kind, e.id)) else {
                let done = top.id;
                self.frames.pop();
                v.leave_tree(&at(self.layer, &self.frames, self.base), &done)?;
                continue;
            };
            top.next += 1;
            if kind == EntryKind::Dir {
                self.meet_tree(id, v)?;
            } else {
                self.meet_file(id, v)?;
                let here = at(self.layer, &self.frames, self.base);
                if let Some(e) = here.entry() {
                    v.entry(&here, e)?;
                }
            }
        }
        Ok(())
    }

    /// Walks one file object on its own (what a path names), at `depth`.
    pub(crate) fn file(&mut self, id: ObjectId, depth: usize, v: &mut impl Visitor) -> Result<()> {
        self.base = depth;
        self.meet_file(id, v)
    }

    /// Meets a tree: opens it (a new frame) unless it was met before or the visitor prunes
    /// it or it cannot be read.
    fn meet_tree(&mut self, id: ObjectId, v: &mut impl Visitor) -> Result<()> {
        let here = at(self.layer, &self.frames, self.base);
        if !self.seen.insert(id) {
            return v.tree_again(&here, &id);
        }
        if v.tree(&here, &id)? == Step::Prune {
            return Ok(());
        }
        let entries = match self.source.tree(&id) {
            Ok(t) => t.entries,
            Err(e) => return v.unreadable(&here, ObjectKind::Tree, &id, e),
        };
        v.enter_tree(&here, &id)?;
        self.frames.push(Frame {
            id,
            entries,
            next: 0,
        });
        Ok(())
    }

    /// Meets a file object and, the first time, its chunk lists and chunks.
    fn meet_file(&mut self, id: ObjectId, v: &mut impl Visitor) -> Result<()> {
        let here = at(self.layer, &self.frames, self.base);
        if !self.seen.insert(id) || v.file(&here, &id)? == Step::Prune {
            return Ok(());
        }
        let (file, lists) = match self.source.file(&id) {
            Ok(read) => read,
            Err(e) => return v.unreadable(&here, ObjectKind::File, &id, e),
        };
        v.file_read(&here, &id, &file)?;
        for l in &lists {
            if !self.chunks_seen || self.seen.insert(*l) {
                v.chunk_list(&here, l)?;
            }
        }
        for c in &file.chunks {
            if !self.chunks_seen || self.seen.insert(c.id) {
                v.chunk(&here, &c.id)?;
            }
        }
        Ok(())
    }
}

/// The layers gc keeps with all they need: every layer a reference names (HEAD, lines,
/// tags; see [`crate::refs::Refs::roots`]) and the targets of checkouts that did not finish,
/// which the next checkout needs. Fails on anything unreadable.
pub(crate) fn roots(repo: &Repository) -> Result<Vec<ObjectId>> {
    let mut roots = repo.refs().roots(&mut crate::refs::fail_unreadable)?;
    roots.extend(crate::checkout_record::pending(repo)?);
    Ok(roots)
}

/// The layers named (as old or new) by reflog entries of HEAD and the lines at or after
/// `since_ns` (every entry when `None`), each once: what gc keeps as recent history. Their
/// objects may be gone already (dropped by an earlier `gc --prune`).
pub(crate) fn reflog_roots(repo: &Repository, since_ns: Option<i64>) -> Result<Vec<ObjectId>> {
    let refs = repo.refs();
    let mut seen = HashSet::new();
    let mut roots = Vec::new();
    for log in refs.logs()? {
        for e in refs.reflog(&log)? {
            if since_ns.is_some_and(|t| e.time_ns < t) {
                continue;
            }
            for id in [e.new, e.old].into_iter().flatten() {
                if seen.insert(id) {
                    roots.push(id);
                }
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{ChunkRef, LayerCounts};

    /// Objects by id, with made-up ids: the walk never checks ids, its source does.
    #[derive(Default)]
    struct Memory {
        layers: HashMap<ObjectId, Layer>,
        trees: HashMap<ObjectId, Tree>,
        files: HashMap<ObjectId, FileObject>,
    }

    fn id(n: u32) -> ObjectId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        ObjectId::from_slice(&b).expect("32 bytes")
    }

    fn missing(id: &ObjectId) -> Error {
        Error::MissingObject {
            id: id.to_hex(),
            path: "memory".into(),
        }
    }

    impl Source for Memory {
        fn layer(&self, id: &ObjectId) -> Result<Layer> {
            self.layers.get(id).cloned().ok_or_else(|| missing(id))
        }
        fn tree(&self, id: &ObjectId) -> Result<Tree> {
            self.trees.get(id).cloned().ok_or_else(|| missing(id))
        }
        fn file(&self, id: &ObjectId) -> Result<(FileObject, Vec<ObjectId>)> {
            let f = self.files.get(id).cloned().ok_or_else(|| missing(id))?;
            Ok((f, Vec::new()))
        }
    }

    fn entry(name: &str, kind: EntryKind, id: ObjectId) -> TreeEntry {
        TreeEntry {
            name: name.as_bytes().to_vec(),
            kind,
            mode: 0,
            size: 0,
            mtime_ns: 0,
            id,
        }
    }

    fn layer(parent: Option<ObjectId>, tree: ObjectId) -> Layer {
        Layer {
            parent,
            tree,
            time_ns: 0,
            counts: LayerCounts::default(),
            author: String::new(),
            message: String::new(),
        }
    }

    /// Two layers whose trees share the subtree `d` (holding file 30 at `d/f`), and file 30
    /// again at `g`; file 30 has chunks 40 and 41, twice.
    fn shared() -> Memory {
        let mut m = Memory::default();
        let chunk = |n| ChunkRef { id: id(n), len: 1 };
        let chunks = vec![chunk(40), chunk(41), chunk(40)];
        m.files.insert(id(30), FileObject { chunks });
        let d = Tree {
            entries: vec![entry("f", EntryKind::File, id(30))],
        };
        m.trees.insert(id(20), d);
        let root = |extra: Vec<TreeEntry>| Tree {
            entries: [vec![entry("d", EntryKind::Dir, id(20))], extra].concat(),
        };
        m.trees.insert(id(21), root(vec![]));
        m.trees
            .insert(id(22), root(vec![entry("g", EntryKind::File, id(30))]));
        m.layers.insert(id(10), layer(None, id(21)));
        m.layers.insert(id(11), layer(Some(id(10)), id(22)));
        m
    }

    /// Writes down every call, with the path and depth it was made at.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        prune_layers: Vec<ObjectId>,
    }

    impl Log {
        fn note(&mut self, what: &str, at: &At, id: &ObjectId) {
            let path = String::from_utf8_lossy(&at.path()).into_owned();
            let n = id.as_bytes()[0];
            self.calls
                .push(format!("{what} {n} at {path:?} depth {}", at.depth()));
        }
    }

    impl Visitor for Log {
        fn layer(&mut self, id: &ObjectId) -> Result<Step> {
            self.calls.push(format!("layer {}", id.as_bytes()[0]));
            match self.prune_layers.contains(id) {
                true => Ok(Step::Prune),
                false => Ok(Step::Descend),
            }
        }
        fn tree(&mut self, at: &At, id: &ObjectId) -> Result<Step> {
            self.note("tree", at, id);
            Ok(Step::Descend)
        }
        fn tree_again(&mut self, at: &At, id: &ObjectId) -> Result<()> {
            self.note("again", at, id);
            Ok(())
        }
        fn leave_tree(&mut self, at: &At, id: &ObjectId) -> Result<()> {
            self.note("leave", at, id);
            Ok(())
        }
        fn file(&mut self, at: &At, id: &ObjectId) -> Result<Step> {
            self.note("file", at, id);
            Ok(Step::Descend)
        }
        fn chunk(&mut self, at: &At, id: &ObjectId) -> Result<()> {
            self.note("chunk", at, id);
            Ok(())
        }
        fn entry(&mut self, at: &At, e: &TreeEntry) -> Result<()> {
            self.note("entry", at, &e.id);
            Ok(())
        }
        fn unreadable(&mut self, at: &At, _: ObjectKind, id: &ObjectId, _: Error) -> Result<()> {
            self.note("unreadable", at, id);
            Ok(())
        }
    }

    #[test]
    fn meets_each_object_once_in_order_with_paths() {
        let m = shared();
        let mut log = Log::default();
        let mut walk = Walk::new(&m);
        walk.layers([id(11)], &mut log).unwrap();
        let want = [
            "layer 11",
            "tree 22 at \"\" depth 0",
            "tree 20 at \"d\" depth 1",
            "file 30 at \"d/f\" depth 2",
            "chunk 40 at \"d/f\" depth 2",
            "chunk 41 at \"d/f\" depth 2",
            "entry 30 at \"d/f\" depth 2",
            "leave 20 at \"d\" depth 1",
            "entry 30 at \"g\" depth 1",
            "leave 22 at \"\" depth 0",
            "layer 10",
            "tree 21 at \"\" depth 0",
            "again 20 at \"d\" depth 1",
            "leave 21 at \"\" depth 0",
        ];
        assert_eq!(log.calls, want);
        let seen = walk.into_seen();
        assert_eq!(seen.len(), 8, "2 layers, 3 trees, 1 file, 2 chunks");
    }

    #[test]
    fn prune_and_unreadable_end_a_chain_and_failing_stops_the_walk() {
        let mut m = shared();
        let mut log = Log {
            prune_layers: vec![id(11)],
            ..Log::default()
        };
        Walk::new(&m).layers([id(11)], &mut log).unwrap();
        assert_eq!(log.calls, ["layer 11"]);

        m.trees.remove(&id(20));
        let mut log = Log::default();
        Walk::new(&m).layers([id(10)], &mut log).unwrap();
        assert!(log.calls.contains(&"unreadable 20 at \"d\" depth 1".into()));

        struct Strict;
        impl Visitor for Strict {}
        let err = Walk::new(&m).layers([id(10)], &mut Strict).unwrap_err();
        assert!(matches!(err, Error::MissingObject { .. }), "{err}");
    }

    #[test]
    fn a_chain_of_20000_trees_is_walked_without_recursion() {
        let mut m = Memory::default();
        let depth = 20_000;
        for n in 0..depth {
            let below = vec![entry("d", EntryKind::Dir, id(n + 1))];
            m.trees.insert(id(n), Tree { entries: below });
        }
        m.trees.insert(id(depth), Tree { entries: vec![] });
        struct Deepest(usize, usize);
        impl Visitor for Deepest {
            fn tree(&mut self, at: &At, _: &ObjectId) -> Result<Step> {
                self.0 = self.0.max(at.depth());
                self.1 = self.1.max(at.path().len());
                Ok(Step::Descend)
            }
        }
        let mut deepest = Deepest(0, 0);
        Walk::new(&m).tree(id(0), 0, &mut deepest).unwrap();
        assert_eq!(deepest.0, depth as usize);
        assert_eq!(deepest.1, 2 * MAX_DEPTH - 1, "paths stop at the bound");
    }
}
