//! `cairn verify`: check every pack and index, then walk every layer reachable from HEAD,
//! lines and tags (or the ones named) and check that each layer, tree and file object reads
//! back and matches its id and that every chunk exists; with `data`, every stored object is
//! read and re-hashed. Each problem is reported with the layers and paths it affects.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::history::VerifiedTrees;
use crate::integrity::{DamageLog, VerifyOutcome};
use crate::object::tree::MAX_DEPTH;
use crate::object::{ChunkRef, EntryKind, FileObject, TreeEntry};
use crate::pack::{self, ObjectKind};
use crate::progress::{Progress, Unit};
use crate::reach::{At, Step, Visitor, Walk};
use crate::repo::{Locked, Repository};
use crate::repo_path::RepoPath;
use crate::revparse;

/// Which layers to check, and how deeply.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Also read and re-hash every stored object in every pack, chunks included.
    pub data: bool,
    /// Layer references; empty: everything reachable.
    pub layers: Vec<String>,
}

/// A problem found inside a tree: the damaged object's key and its path below the tree.
type Inner = Vec<(String, Vec<u8>)>;

/// What the walk found in a tree: its problems, and how many levels of directories it
/// holds (0 for none), which decides whether restore would refuse it as too deep.
#[derive(Clone, Default)]
struct Walked {
    inner: Inner,
    height: usize,
}

impl Walked {
    /// Takes in a finished subdirectory named `name`. Problems below a subdirectory nested
    /// too deep are not carried up: its paths would grow with its depth at every level, and
    /// the layer is reported as too deep anyway.
    fn add_dir(&mut self, name: &[u8], sub: Walked) {
        self.height = self.height.max(sub.height + 1);
        if sub.height >= MAX_DEPTH {
            return;
        }
        self.inner
            .extend(sub.inner.into_iter().map(|(k, p)| match p.is_empty() {
                true => (k, name.to_vec()),
                false => (k, RepoPath::new(name).join(&p).into_bytes()),
            }));
    }
}

/// What verify memoises by object id. Ids are hashes, which no one can choose, so the fast
/// hash is safe here; over a deep history each layer's tree looks up every directory it
/// holds again, and SipHash took a tenth of the walk.
type Map<V> = rustc_hash::FxHashMap<ObjectId, V>;

/// verify's visitor of the reachable-object walk. Every problem is reported with every
/// layer and (up to 20) paths it is met at, so what is found below a tree or in a file
/// object is memoised by id: shared subtrees and identical files are read once and still
/// attributed wherever they occur.
struct Checker<'a> {
    repo: &'a Repository,
    /// Objects found damaged by the pack scan.
    bad: Map<String>,
    damage: DamageLog,
    trees: Map<Walked>,
    files: Map<(Vec<String>, Option<u64>)>,
    symlinks: Map<Option<String>>,
    /// What was found so far in each tree open, root first.
    open: Vec<Walked>,
    layers: u64,
    chunks: u64,
    /// Each layer read by the walk, for the check of the layer graph against them.
    walked: Map<crate::layer_graph::LayerFacts>,
}

/// Checks packs, indexes and every object the chosen layers reach. Damage is the outcome's
/// to report, with the layers and paths it affects, not an error.
pub fn verify(
    repo: &Repository,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyOutcome> {
    let mut out = VerifyOutcome::default();
    let mut c = Checker {
        repo,
        bad: Map::default(),
        damage: DamageLog::default(),
        trees: Map::default(),
        files: Map::default(),
        symlinks: Map::default(),
        open: Vec::new(),
        layers: 0,
        chunks: 0,
        walked: Map::default(),
    };
    scan_packs(&mut c, opts.data, &mut out, progress);
    let roots = roots(&mut c, &opts.layers)?;
    let trees = VerifiedTrees::new(repo);
    Walk::new(&trees).layers(roots, &mut c)?;
    if let Err(e) = repo.load_index() {
        c.damage.record("staging index".into(), e.to_string(), None);
    }
    let walked = |id: &ObjectId| c.walked.get(id).copied();
    if let Some(why) = crate::layer_graph::check(repo, &walked) {
        c.damage.record("layer graph".into(), why, None);
    }
    out.layers = c.layers;
    out.trees = c.trees.len() as u64;
    out.files = c.files.len() as u64;
    out.chunks = c.chunks;
    out.damage = c.damage.into_damage();
    Ok(out)
}

/// `verify --repair`: under the writers' lock, rebuilds every damaged or missing pack index
/// that its pack can vouch for (see `pack::rebuild_index`), then verifies. What cannot be
/// rebuilt is reported as damage, as by `verify`. A pack without an index is usually left
/// by an interrupted write, and gc would delete it; indexing it again only makes objects
/// visible, which is harmless, and recovers any that a lost index hid.
pub fn verify_and_repair(
    repo: &Locked,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyOutcome> {
    let mut repaired = Vec::new();
    let damaged = repo
        .store
        .damaged_indexes()
        .into_iter()
        .map(|(name, _)| name);
    for name in damaged.chain(repo.store.orphans()?) {
        if repo.store.repair_index(&name, &repo.tmp_dir())?.is_ok() {
            repaired.push(name);
        }
    }
    if !repaired.is_empty() {
        repo.store.reload()?;
    }
    let mut out = verify(repo, opts, progress)?;
    out.repaired = repaired;
    Ok(out)
}

/// What to say about a damaged index: the problem, and whether its pack can rebuild it.
fn index_problem(repo: &Repository, name: &ObjectId, why: &str) -> String {
    let pack = repo.packs_dir().join(format!("{name}.pack"));
    match pack::rebuild_index(&pack, name, repo.algo()) {
        Ok(_) => format!("{why}; `cairn verify --repair` rebuilds it from its pack"),
        Err(cannot) => format!("{why}; its pack cannot rebuild it: {cannot}"),
    }
}

fn scan_packs(w: &mut Checker, data: bool, out: &mut VerifyOutcome, progress: &dyn Progress) {
    let store = &w.repo.store;
    for (name, why) in store.damaged() {
        let problem = index_problem(w.repo, &name, &why);
        w.damage.record(format!("pack index {name}"), problem, None);
    }
    let packs = store.packs();
    progress.begin("checking packs", Unit::Packs, packs.len() as u64, 0);
    // Packs are checked on every core at once: with thousands of small packs (one per
    // commit until they are merged) opening and mapping each one in turn was most of the
    // time. A large pack's records are hashed in parallel inside `check_records` as well.
    let reports: Vec<_> = packs
        .par_iter()
        .map(|p| {
            let report = pack::check_records(p, store.algo(), data);
            progress.advance(1, report.bytes);
            (report, p.index.verify(store.algo()))
        })
        .collect();
    for (p, (mut report, index)) in packs.iter().zip(reports) {
        if let Err(why) = index {
            let problem = index_problem(w.repo, &p.name, &format!("index: {why}"));
            report.problems.insert(0, problem);
        }
        for problem in report.problems {
            w.damage.record(format!("pack {}", p.name), problem, None);
        }
        for (id, why) in report.bad {
            w.bad.insert(id, why);
        }
        out.objects += report.objects;
        out.bytes_checked += report.bytes;
    }
    progress.end();
    out.packs = packs.len() as u64;
}

/// The layers to start from: the named ones, or HEAD, every line and every tag. A reference
/// that cannot be read is damage.
fn roots(c: &mut Checker, named: &[String]) -> Result<Vec<ObjectId>> {
    if !named.is_empty() {
        return named.iter().map(|r| revparse::resolve(c.repo, r)).collect();
    }
    c.repo.refs().roots(&mut |what, e| {
        c.damage.record(what, e.to_string(), None);
        Ok(())
    })
}

impl Checker<'_> {
    /// Records a problem with no layer or path yet; the walk adds them.
    fn note(&mut self, key: String, problem: String) -> String {
        self.damage.record(key.clone(), problem, None);
        key
    }

    /// The tree `id` is done (walked now or before): its problems go to the tree above it,
    /// or, for a layer's root, are recorded against the layer.
    fn finished(&mut self, at: &At, id: &ObjectId, walked: Walked) {
        if let Some(parent) = self.open.last_mut() {
            return parent.add_dir(at.name(), walked);
        }
        let layer = at.layer().unwrap_or_default();
        if walked.height > MAX_DEPTH {
            // What restore refuses; the problems below that depth are not listed.
            let why = Error::too_deep(PathBuf::new()).to_string();
            self.damage
                .record(format!("tree {id}"), why, Some((layer, b"")));
        }
        for (key, path) in walked.inner {
            self.damage.record(key, String::new(), Some((layer, &path)));
        }
    }

    /// A tree that cannot be read (`why`) is walked as one with no entries and the problem.
    fn broken_tree(&mut self, at: &At, id: &ObjectId, why: String) {
        let key = self.note(format!("tree {id}"), why);
        let walked = Walked {
            inner: vec![(key, Vec::new())],
            height: 0,
        };
        self.trees.insert(*id, walked.clone());
        self.finished(at, id, walked);
    }

    /// Why restore would refuse the file `id` as a symlink's target (empty, or holding a
    /// NUL byte), memoised by id. Targets are short: reading them costs a chunk or so each.
    fn symlink(&mut self, id: ObjectId) -> Option<String> {
        if let Some(done) = self.symlinks.get(&id) {
            return done.clone();
        }
        let holds_nul = |c: &ChunkRef| {
            let bytes = self.repo.read_chunk(&c.id);
            bytes.is_ok_and(|b| b.contains(&0))
        };
        let why = match self.repo.read_file(&id) {
            Ok(f) if f.size() == 0 => Some("symlink target is empty".to_string()),
            Ok(f) if f.chunks.iter().any(holds_nul) => Some("symlink target holds NUL".into()),
            // Unreadable objects and chunks are reported as themselves.
            _ => None,
        };
        self.symlinks.insert(id, why.clone());
        why
    }

    /// The problems of a file or symlink entry of `tree`: its file object's and chunks'
    /// (found when the file object was met), a size that differs from the content's, a
    /// symlink target restore would refuse.
    fn entry_problems(&mut self, tree: ObjectId, e: &TreeEntry) -> Vec<String> {
        let (mut keys, size) = self.files.get(&e.id).cloned().unwrap_or_default();
        let here = || {
            let name = String::from_utf8_lossy(&e.name);
            format!("tree {tree} entry {name}")
        };
        if let Some(size) = size.filter(|s| *s != e.size) {
            let why = format!("the entry says {} bytes, its content has {size}", e.size);
            keys.push(self.note(here(), why));
        }
        if e.kind == EntryKind::Symlink && keys.is_empty() {
            if let Some(why) = self.symlink(e.id) {
                keys.push(self.note(here(), why));
            }
        }
        keys
    }
}

impl Visitor for Checker<'_> {
    fn layer(&mut self, id: &ObjectId) -> Result<Step> {
        self.layers += 1;
        let Some(why) = self.bad.get(id).cloned() else {
            return Ok(Step::Descend);
        };
        self.damage
            .record(format!("layer {id}"), why, Some((*id, b"")));
        Ok(Step::Prune)
    }

    fn layer_read(&mut self, id: &ObjectId, l: &crate::object::Layer) -> Result<()> {
        self.walked.insert(*id, (l.parent, l.tree, l.time_ns));
        Ok(())
    }

    fn tree(&mut self, at: &At, id: &ObjectId) -> Result<Step> {
        let Some(why) = self.bad.get(id).cloned() else {
            return Ok(Step::Descend);
        };
        self.broken_tree(at, id, why);
        Ok(Step::Prune)
    }

    fn tree_again(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        let walked = self.trees.get(id).cloned().unwrap_or_default();
        self.finished(at, id, walked);
        Ok(())
    }

    fn enter_tree(&mut self, _: &At, _: &ObjectId) -> Result<()> {
        self.open.push(Walked::default());
        Ok(())
    }

    fn leave_tree(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        let walked = self.open.pop().unwrap_or_default();
        self.trees.insert(*id, walked.clone());
        self.finished(at, id, walked);
        Ok(())
    }

    fn file(&mut self, _: &At, id: &ObjectId) -> Result<Step> {
        let Some(why) = self.bad.get(id).cloned() else {
            return Ok(Step::Descend);
        };
        let key = self.note(format!("file {id}"), why);
        self.files.insert(*id, (vec![key], None));
        Ok(Step::Prune)
    }

    /// Every chunk of the file must be in some pack, and not damaged; the file's problems
    /// are memoised for every entry that names it.
    fn file_read(&mut self, _: &At, id: &ObjectId, file: &FileObject) -> Result<()> {
        let mut keys = Vec::new();
        for c in &file.chunks {
            if let Some(why) = self.bad.get(&c.id).cloned() {
                keys.push(self.note(format!("chunk {}", c.id), why));
            } else if !self.repo.store.contains(&c.id) {
                let why = "missing from every pack".to_string();
                keys.push(self.note(format!("chunk {}", c.id), why));
            }
        }
        self.files.insert(*id, (keys, Some(file.size())));
        Ok(())
    }

    fn chunk(&mut self, _: &At, _: &ObjectId) -> Result<()> {
        self.chunks += 1;
        Ok(())
    }

    fn entry(&mut self, at: &At, e: &TreeEntry) -> Result<()> {
        let tree = at.tree().copied().unwrap_or_default();
        let found = self.entry_problems(tree, e);
        if let Some(top) = self.open.last_mut() {
            top.inner
                .extend(found.into_iter().map(|k| (k, e.name.clone())));
        }
        Ok(())
    }

    /// Records what cannot be read, and walks on.
    fn unreadable(&mut self, at: &At, kind: ObjectKind, id: &ObjectId, e: Error) -> Result<()> {
        match kind {
            ObjectKind::Layer => {
                let at = Some((*id, &b""[..]));
                self.damage.record(format!("layer {id}"), e.to_string(), at);
            }
            ObjectKind::Tree => self.broken_tree(at, id, e.to_string()),
            _ => {
                let key = self.note(format!("file {id}"), e.to_string());
                self.files.insert(*id, (vec![key], None));
            }
        }
        Ok(())
    }
}
