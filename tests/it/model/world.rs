//! The in-memory model: what the worktree, the staging index, every layer and every ref
//! must hold after each step, with the rules cairn documents for each command written out
//! as plainly as possible. Nothing here touches the disk.

use std::collections::BTreeMap;

/// One tracked or worktree entry. Directories are implied by paths (empty ones are not
/// tracked), and mtimes are not modelled (a touch is not a change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    File { mode: u32, bytes: Vec<u8> },
    Link(Vec<u8>),
}

pub(super) type Tree = BTreeMap<Vec<u8>, Entry>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Head {
    Line(String),
    /// A layer, by its index in `Model::layers`.
    Detached(usize),
}

#[derive(Clone, Debug)]
pub(super) struct Layer {
    pub id: String,
    pub parent: Option<usize>,
    pub tree: Tree,
}

/// What a command must do: succeed, or fail with exit 2 and change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    Ok,
    Fail,
}

#[derive(Clone, Debug)]
pub(super) struct Model {
    pub work: Tree,
    pub index: Tree,
    pub head: Head,
    pub lines: BTreeMap<String, usize>,
    pub tags: BTreeMap<String, usize>,
    pub layers: Vec<Layer>,
}

/// True when `p` is `dir` or below it (`dir` empty: everything).
pub(super) fn under(p: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() || p == dir || (p.starts_with(dir) && p.get(dir.len()) == Some(&b'/'))
}

impl Model {
    pub(super) fn new() -> Model {
        Model {
            work: Tree::new(),
            index: Tree::new(),
            head: Head::Line("main".into()),
            lines: BTreeMap::new(),
            tags: BTreeMap::new(),
            layers: Vec::new(),
        }
    }

    /// The layer HEAD is on, if any (an unborn line has none).
    pub(super) fn head_layer(&self) -> Option<usize> {
        match &self.head {
            Head::Line(name) => self.lines.get(name).copied(),
            Head::Detached(i) => Some(*i),
        }
    }

    pub(super) fn head_tree(&self) -> Tree {
        self.head_layer()
            .map(|i| self.layers[i].tree.clone())
            .unwrap_or_default()
    }

    /// Paths whose staged state differs from HEAD.
    pub(super) fn staged(&self) -> Vec<Vec<u8>> {
        changed(&self.head_tree(), &self.index)
    }

    /// Tracked paths whose worktree entry differs from the index.
    pub(super) fn unstaged(&self) -> Vec<Vec<u8>> {
        self.index
            .iter()
            .filter(|(p, e)| self.work.get(*p) != Some(*e))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Untracked worktree paths as status shows them: each under its highest directory
    /// that holds nothing tracked (`dir/`), or alone.
    pub(super) fn untracked(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = self
            .work
            .keys()
            .filter(|p| !self.index.contains_key(*p))
            .map(|p| {
                let below = |a: &[u8]| self.index.keys().any(|i| i != a && under(i, a));
                let free = ancestors(p).find(|a| !below(a));
                free.map_or_else(|| p.clone(), |a| [a, b"/"].concat())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Layers that HEAD, a line or a tag reaches: gc keeps exactly these.
    pub(super) fn reachable(&self) -> Vec<usize> {
        let mut tips: Vec<usize> = self
            .lines
            .values()
            .chain(self.tags.values())
            .copied()
            .collect();
        tips.extend(self.head_layer());
        let mut out = Vec::new();
        while let Some(i) = tips.pop() {
            if !out.contains(&i) {
                out.push(i);
                tips.extend(self.layers[i].parent);
            }
        }
        out
    }

    /// `add PATH` (or `add -A` with an empty path): the index follows the worktree below
    /// it. A path that is neither on disk (`exists`: perhaps an empty directory, which the
    /// model does not hold) nor tracked is an error.
    pub(super) fn add(&mut self, dir: &[u8], exists: bool) -> Expect {
        // A path below a symlink is refused, as git refuses it ("beyond a symbolic link"):
        // cairn never reads through a link, even for a path the index tracks.
        if ancestors(dir).any(|a| matches!(self.work.get(a), Some(Entry::Link(_)))) {
            return Expect::Fail;
        }
        let known = |t: &Tree| t.keys().any(|p| under(p, dir));
        if !dir.is_empty() && !exists && !known(&self.work) && !known(&self.index) {
            return Expect::Fail;
        }
        self.index.retain(|p, _| !under(p, dir));
        for (p, e) in &self.work {
            if under(p, dir) {
                self.index.insert(p.clone(), e.clone());
            }
        }
        // A tracked file where a staged path now has a directory can be tracked no more.
        let added: Vec<Vec<u8>> = self
            .index
            .keys()
            .filter(|p| under(p, dir))
            .cloned()
            .collect();
        for p in added {
            for a in ancestors(&p) {
                self.index.remove(a);
            }
        }
        Expect::Ok
    }

    /// True when the worktree holds a directory with something in it at `p`.
    pub(super) fn holds_below(&self, p: &[u8], except: &[Vec<u8>]) -> bool {
        self.work
            .keys()
            .any(|k| k.as_slice() != p && under(k, p) && !except.contains(k))
    }

    /// `rm [--cached] [-f] PATH` of one tracked file. Without `--cached` or `-f` it refuses
    /// a file whose staged content is not committed, or whose worktree edits are not staged
    /// (a file already deleted from the worktree loses nothing). A directory standing
    /// where the tracked file was is not the file: the path is untracked and the directory
    /// left alone, as when the file is gone.
    pub(super) fn rm(&mut self, p: &[u8], cached: bool, force: bool) -> Expect {
        let Some(staged) = self.index.get(p).cloned() else {
            return Expect::Fail;
        };
        if !cached && !force {
            let committed = self.head_tree().get(p) == Some(&staged);
            let edited = self.work.get(p).is_some_and(|w| *w != staged);
            if !committed || edited {
                return Expect::Fail;
            }
        }
        self.index.remove(p);
        if !cached {
            self.work.remove(p);
        }
        Expect::Ok
    }

    /// Whether `commit` has anything to record, and the line it moves (`-b` when detached).
    pub(super) fn commit_expect(&self) -> Expect {
        if self.index == self.head_tree() {
            Expect::Fail
        } else {
            Expect::Ok
        }
    }

    /// Records a layer cairn made with the staged tree, on `line` (HEAD's, or a new one).
    pub(super) fn committed(&mut self, id: String, line: String) {
        self.layers.push(Layer {
            id,
            parent: self.head_layer(),
            tree: self.index.clone(),
        });
        self.lines.insert(line.clone(), self.layers.len() - 1);
        self.head = Head::Line(line);
    }

    /// `checkout TARGET [-f]`: paths whose index entry differs from the target are written,
    /// tracked paths the target lacks are deleted; untracked files elsewhere and (without
    /// `-f`) unstaged edits of untouched paths stay. Without `-f` it refuses when a touched
    /// path has staged or unstaged changes, or an untracked file stands where it writes.
    pub(super) fn checkout(&mut self, target: usize, head: Head, force: bool) -> Expect {
        let want = self.checkout_paths(target, b"", force);
        if want == Expect::Ok {
            self.head = head;
        }
        want
    }

    /// `checkout TARGET [-f] -- PATH` (an empty `scope`: everything, HEAD left to the
    /// caller). A named path is put back exactly, edits and all, as git does: naming it is
    /// the consent, and tracked files below it that the target lacks are kept (git's
    /// overlay); a path the target does not hold is an error. Where a file must replace a
    /// directory that still holds untracked files, even `-f` refuses and changes nothing:
    /// those files are not cairn's to delete.
    pub(super) fn checkout_paths(&mut self, target: usize, scope: &[u8], force: bool) -> Expect {
        let tree = self.scoped(target, scope);
        let overlay = !scope.is_empty();
        if overlay && tree.is_empty() {
            return Expect::Fail;
        }
        if self.dir_in_the_way(target, scope, force) {
            return Expect::Fail;
        }
        let (write, delete) = self.touched(&tree, scope, force || overlay, overlay);
        if !force && !overlay && self.would_lose(&tree, &write, &delete) {
            return Expect::Fail;
        }
        // Named paths are consent for themselves, not for an untracked file standing where
        // one of their directories must go.
        let unnamed_blocker = |p: &Vec<u8>| {
            ancestors(p).any(|a| {
                !self.index.contains_key(a)
                    && !delete.iter().any(|d| d == a)
                    && self.work.contains_key(a)
            })
        };
        if overlay && write.iter().any(unnamed_blocker) {
            return Expect::Fail;
        }
        self.move_to(&tree, &write, &delete);
        Expect::Ok
    }

    fn scoped(&self, target: usize, scope: &[u8]) -> Tree {
        self.layers[target]
            .tree
            .iter()
            .filter(|(p, _)| under(p, scope))
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }

    /// True when a checkout would write a file where a directory holds untracked files.
    pub(super) fn dir_in_the_way(&self, target: usize, scope: &[u8], force: bool) -> bool {
        let tree = self.scoped(target, scope);
        let overlay = !scope.is_empty();
        let (write, delete) = self.touched(&tree, scope, force || overlay, overlay);
        write.iter().any(|p| self.holds_below(p, &delete))
    }

    /// True when the layer has a path below something the index tracks as a file: moving
    /// there turns a file into a directory.
    pub(super) fn file_becomes_dir(&self, target: usize) -> bool {
        let tree = &self.layers[target].tree;
        tree.keys()
            .any(|p| ancestors(p).any(|a| self.index.contains_key(a)))
    }

    /// A touched path whose staged version the target lacks, or whose worktree entry is
    /// an edit or an untracked file that differs from what the target has there (a file
    /// already as the target has it loses nothing); or an untracked file where a written
    /// path needs a directory.
    fn would_lose(&self, tree: &Tree, write: &[Vec<u8>], delete: &[Vec<u8>]) -> bool {
        let staged = self.staged();
        let lossy = |p: &Vec<u8>| {
            let (target, work) = (tree.get(p), self.work.get(p));
            let here = match self.index.get(p) {
                Some(e) => {
                    (staged.contains(p) && target != Some(e))
                        || work.is_some_and(|w| w != e && Some(w) != target)
                }
                None => work.is_some_and(|w| Some(w) != target),
            };
            let blocked =
                ancestors(p).any(|a| !self.index.contains_key(a) && self.work.contains_key(a));
            here || blocked
        };
        write.iter().chain(delete).any(lossy)
    }

    /// `reset [--hard] LAYER`: the line (or a detached HEAD) moves; `--hard` also puts the
    /// index and every tracked path back as `checkout -f` does (and refuses as it does).
    /// `reset --hard` (`hard`) or `reset` (mixed: the index is set to the layer, the
    /// worktree stays).
    pub(super) fn reset(&mut self, target: usize, hard: bool) -> Expect {
        if hard && self.checkout_paths(target, b"", true) == Expect::Fail {
            return Expect::Fail;
        }
        if !hard {
            self.index = self.layers[target].tree.clone();
        }
        match &self.head {
            Head::Line(name) => {
                self.lines.insert(name.clone(), target);
            }
            Head::Detached(_) => self.head = Head::Detached(target),
        }
        Expect::Ok
    }

    /// What a move to `tree` (the target's entries within `scope`) writes and deletes.
    /// Written: entries the index lacks or holds otherwise, and with `rewrite_edited` those
    /// whose worktree entry differs from the index (what `-f`, named paths and `reset
    /// --hard` put back). Deleted: tracked paths in scope the target lacks, and tracked
    /// files where a written path needs a directory, in scope or not.
    fn touched(
        &self,
        tree: &Tree,
        scope: &[u8],
        rewrite_edited: bool,
        overlay: bool,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let write: Vec<Vec<u8>> = tree
            .iter()
            .filter(|(p, e)| {
                let i = self.index.get(*p);
                i != Some(*e) || (rewrite_edited && self.work.get(*p) != i)
            })
            .map(|(p, _)| p.clone())
            .collect();
        let mut delete: Vec<Vec<u8>> = self
            .index
            .keys()
            .filter(|p| !overlay && under(p, scope) && !tree.contains_key(*p))
            .cloned()
            .collect();
        for p in &write {
            for a in ancestors(p) {
                if self.index.contains_key(a) && !delete.iter().any(|d| d == a) {
                    delete.push(a.to_vec());
                }
            }
        }
        (write, delete)
    }

    /// Deletes, then writes (removing whatever file stands where a directory is needed), in
    /// the worktree and the index alike.
    fn move_to(&mut self, tree: &Tree, write: &[Vec<u8>], delete: &[Vec<u8>]) {
        for p in delete {
            self.work.remove(p);
            self.index.remove(p);
        }
        for p in write {
            for a in ancestors(p) {
                self.work.remove(a);
            }
            self.work.insert(p.clone(), tree[p].clone());
            self.index.insert(p.clone(), tree[p].clone());
        }
    }
}

/// The proper ancestors of a path: `a` and `a/b` for `a/b/c`.
pub(super) fn ancestors(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(move |(i, _)| &p[..i])
}

/// Paths present in one tree and not the other, or different in both.
pub(super) fn changed(a: &Tree, b: &Tree) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = a
        .iter()
        .filter(|(p, e)| b.get(*p) != Some(*e))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(b.keys().filter(|p| !a.contains_key(*p)).cloned());
    out.sort();
    out
}
