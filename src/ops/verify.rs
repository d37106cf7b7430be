//! `cairn verify`: check every pack and index, then walk every layer reachable from HEAD,
//! lines and tags (or the ones named) and check that each layer, tree and file object reads
//! back and matches its id and that every chunk exists; with `data`, every stored object is
//! read and re-hashed. Each problem is reported with the layers and paths it affects.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use std::path::PathBuf;

use crate::diff::join;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::tree::MAX_DEPTH;
use crate::object::{ChunkRef, EntryKind, FileObject, TreeEntry};
use crate::ops::Common;
use crate::pack;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::revparse;
use crate::worktree::RepoPath;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub data: bool,
    /// Layer references; empty: everything reachable.
    pub layers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Damage {
    /// What is damaged: `chunk <id>`, `tree <id>`, `pack <name>`, `HEAD`, ...
    pub object: String,
    pub problem: String,
    pub layers: Vec<ObjectId>,
    /// Up to 20 affected paths.
    pub paths: Vec<RepoPath>,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyOutcome {
    pub packs: u64,
    pub objects: u64,
    pub bytes_checked: u64,
    pub layers: u64,
    pub trees: u64,
    pub files: u64,
    pub chunks: u64,
    pub damage: Vec<Damage>,
    /// Packs whose damaged index `--repair` rebuilt before checking.
    pub repaired: Vec<ObjectId>,
}

impl VerifyOutcome {
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}

const MAX_PATHS: usize = 20;

#[derive(Default)]
struct Found {
    problem: String,
    layers: Vec<ObjectId>,
    paths: Vec<Vec<u8>>,
}

/// A problem found inside a tree: the damaged object's key and its path below the tree.
type Inner = Vec<(String, Vec<u8>)>;

/// What the walk found in a tree: its problems, and how many levels of directories it
/// holds (0 for none), which decides whether restore would refuse it as too deep.
#[derive(Clone)]
struct Walked {
    inner: Inner,
    height: usize,
}

/// A tree the walk has opened and not finished.
struct Frame {
    id: ObjectId,
    entries: Vec<TreeEntry>,
    /// The next entry to look at.
    next: usize,
    inner: Inner,
    height: usize,
}

impl Frame {
    /// Takes in a finished subdirectory: the entry before `next`. Problems below a
    /// subdirectory nested too deep are not carried up: its paths would grow with its
    /// depth at every level, and the layer is reported as too deep anyway.
    fn add_dir(&mut self, sub: Walked) {
        let name = &self.entries[self.next - 1].name;
        self.height = self.height.max(sub.height + 1);
        if sub.height >= MAX_DEPTH {
            return;
        }
        self.inner
            .extend(sub.inner.into_iter().map(|(k, p)| match p.is_empty() {
                true => (k, name.clone()),
                false => (k, join(name, &p)),
            }));
    }
}

struct Walker<'a> {
    repo: &'a Repository,
    /// Objects found damaged by the pack scan.
    bad: HashMap<ObjectId, String>,
    damage: BTreeMap<String, Found>,
    trees: HashMap<ObjectId, Walked>,
    files: HashMap<ObjectId, (Vec<String>, Option<u64>)>,
    symlinks: HashMap<ObjectId, Option<String>>,
    chunks: HashSet<ObjectId>,
    layer: ObjectId,
}

pub fn verify(
    repo: &Repository,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyOutcome> {
    let mut out = VerifyOutcome::default();
    let mut w = Walker {
        repo,
        bad: HashMap::new(),
        damage: BTreeMap::new(),
        trees: HashMap::new(),
        files: HashMap::new(),
        symlinks: HashMap::new(),
        chunks: HashSet::new(),
        layer: ObjectId::default(),
    };
    scan_packs(&mut w, opts.data, &mut out, progress);
    let roots = roots(&mut w, &opts.layers)?;
    let mut seen = HashSet::new();
    for root in roots {
        w.walk_layers(root, &mut seen);
    }
    if let Err(e) = repo.load_index() {
        w.record("staging index".into(), e.to_string(), None);
    }
    out.layers = seen.len() as u64;
    out.trees = w.trees.len() as u64;
    out.files = w.files.len() as u64;
    out.chunks = w.chunks.len() as u64;
    out.damage = w
        .damage
        .into_iter()
        .map(|(object, f)| Damage {
            object,
            problem: f.problem,
            layers: f.layers,
            paths: f.paths.into_iter().map(RepoPath).collect(),
        })
        .collect();
    Ok(out)
}

/// `verify --repair`: under the writers' lock, rebuilds every damaged or missing pack index
/// that its pack can vouch for (see `pack::rebuild_index`), then verifies. What cannot be
/// rebuilt is reported as damage, as by `verify`. A pack without an index is usually left
/// by an interrupted write, and gc would delete it; indexing it again only makes objects
/// visible, which is harmless, and recovers any that a lost index hid.
pub fn verify_and_repair(
    repo: &Repository,
    common: &Common,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyOutcome> {
    let _lock = repo.lock(common.lock_timeout)?;
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

fn scan_packs(w: &mut Walker, data: bool, out: &mut VerifyOutcome, progress: &dyn Progress) {
    let store = &w.repo.store;
    for (name, why) in store.damaged() {
        let problem = index_problem(w.repo, &name, &why);
        w.record(format!("pack index {name}"), problem, None);
    }
    progress.begin("checking packs", store.packs().len() as u64, 0);
    for p in store.packs() {
        let mut report = pack::check_records(&p, store.algo(), data);
        if let Err(why) = p.index.verify(store.algo()) {
            let problem = index_problem(w.repo, &p.name, &format!("index: {why}"));
            report.problems.insert(0, problem);
        }
        for problem in report.problems {
            w.record(format!("pack {}", p.name), problem, None);
        }
        for (id, why) in report.bad {
            w.bad.insert(id, why);
        }
        out.objects += report.objects;
        out.bytes_checked += report.bytes;
        progress.advance(1, report.bytes);
    }
    progress.end();
    out.packs = store.packs().len() as u64;
}

/// The layers to start from: the named ones, or HEAD, every line and every tag.
fn roots(w: &mut Walker, named: &[String]) -> Result<Vec<ObjectId>> {
    if !named.is_empty() {
        return named.iter().map(|r| revparse::resolve(w.repo, r)).collect();
    }
    let refs = w.repo.refs();
    let mut roots = Vec::new();
    match w.repo.head() {
        Ok((_, Some(id))) => roots.push(id),
        Ok((_, None)) => {}
        Err(e) => w.record("HEAD".into(), e.to_string(), None),
    }
    for kind in ["lines", "tags"] {
        for name in refs.list(kind)? {
            match refs.get(kind, &name) {
                Ok(Some(id)) => roots.push(id),
                Ok(None) => {}
                Err(e) => w.record(format!("{kind}/{name}"), e.to_string(), None),
            }
        }
    }
    Ok(roots)
}

impl Walker<'_> {
    fn record(&mut self, key: String, problem: String, at: Option<(ObjectId, Vec<u8>)>) {
        let f = self.damage.entry(key).or_default();
        if f.problem.is_empty() {
            f.problem = problem;
        }
        if let Some((layer, path)) = at {
            if !f.layers.contains(&layer) {
                f.layers.push(layer);
            }
            if f.paths.len() < MAX_PATHS && !f.paths.contains(&path) {
                f.paths.push(path);
            }
        }
    }

    fn walk_layers(&mut self, mut next: ObjectId, seen: &mut HashSet<ObjectId>) {
        while seen.insert(next) {
            self.layer = next;
            if let Some(why) = self.bad.get(&next).cloned() {
                self.record(format!("layer {next}"), why, Some((next, Vec::new())));
                return;
            }
            let layer = match self.repo.read_layer(&next) {
                Ok(l) => l,
                Err(e) => {
                    self.record(
                        format!("layer {next}"),
                        e.to_string(),
                        Some((next, Vec::new())),
                    );
                    return;
                }
            };
            let walked = self.tree(layer.tree);
            if walked.height > MAX_DEPTH {
                // What restore refuses; the problems below that depth are not listed.
                let why = Error::too_deep(PathBuf::new()).to_string();
                let key = format!("tree {}", layer.tree);
                self.record(key, why, Some((next, Vec::new())));
            }
            for (key, path) in walked.inner {
                self.record(key, String::new(), Some((next, path)));
            }
            match layer.parent {
                Some(p) => next = p,
                None => return,
            }
        }
    }

    /// The problems inside a tree, memoised by id so shared subtrees are walked once.
    /// Iterative, with an explicit stack of open trees: a hostile chain of 20,000 nested
    /// trees must not overflow the call stack.
    fn tree(&mut self, root: ObjectId) -> Walked {
        if let Some(done) = self.trees.get(&root) {
            return done.clone();
        }
        let mut stack = vec![self.open(root)];
        loop {
            let top = stack
                .last_mut()
                .expect("the loop returns when the stack empties");
            let Some(e) = top.entries.get(top.next).cloned() else {
                let done = stack.pop().expect("not empty");
                let walked = Walked {
                    inner: done.inner,
                    height: done.height,
                };
                self.trees.insert(done.id, walked.clone());
                match stack.last_mut() {
                    Some(parent) => parent.add_dir(walked),
                    None => return walked,
                }
                continue;
            };
            top.next += 1;
            let tree = top.id;
            if e.kind != EntryKind::Dir {
                let found = self.entry(tree, &e);
                let top = stack.last_mut().expect("not empty");
                top.inner
                    .extend(found.into_iter().map(|k| (k, e.name.clone())));
            } else if let Some(done) = self.trees.get(&e.id).cloned() {
                top.add_dir(done);
            } else {
                let child = self.open(e.id);
                stack.push(child);
            }
        }
    }

    /// Reads a tree for the walk; a tree that cannot be read is a frame with no entries
    /// and the problem.
    fn open(&mut self, id: ObjectId) -> Frame {
        let read = match self.bad.get(&id) {
            Some(why) => Err(why.clone()),
            None => self.repo.read_tree(&id).map_err(|e| e.to_string()),
        };
        let mut frame = Frame {
            id,
            entries: Vec::new(),
            next: 0,
            inner: Inner::new(),
            height: 0,
        };
        match read {
            Ok(tree) => frame.entries = tree.entries,
            Err(why) => {
                let key = self.note(format!("tree {id}"), why);
                frame.inner.push((key, Vec::new()));
            }
        }
        frame
    }

    /// The problems of a file or symlink entry of `tree`: its file object and chunks, a
    /// size that differs from the content's, a symlink target restore would refuse.
    fn entry(&mut self, tree: ObjectId, e: &TreeEntry) -> Vec<String> {
        let (mut keys, size) = self.file(e.id);
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

    /// The problems of a file object and its chunks, and its size when it reads, memoised
    /// by id.
    fn file(&mut self, id: ObjectId) -> (Vec<String>, Option<u64>) {
        if let Some(done) = self.files.get(&id) {
            return done.clone();
        }
        let mut keys = Vec::new();
        let read = match self.bad.get(&id) {
            Some(why) => Err(why.clone()),
            None => self.repo.read_file(&id).map_err(|e| e.to_string()),
        };
        let size = read.as_ref().ok().map(FileObject::size);
        match read {
            Err(why) => keys.push(self.note(format!("file {id}"), why)),
            Ok(obj) => {
                for c in obj.chunks {
                    self.chunks.insert(c.id);
                    if let Some(why) = self.bad.get(&c.id).cloned() {
                        keys.push(self.note(format!("chunk {}", c.id), why));
                    } else if !self.repo.store.contains(&c.id) {
                        keys.push(
                            self.note(format!("chunk {}", c.id), "missing from every pack".into()),
                        );
                    }
                }
            }
        }
        self.files.insert(id, (keys.clone(), size));
        (keys, size)
    }

    /// Records a problem with no layer or path yet; the walk adds them.
    fn note(&mut self, key: String, problem: String) -> String {
        self.record(key.clone(), problem, None);
        key
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;
    use crate::hash::HashAlgo;
    use crate::ops::add::{add, AddOptions};
    use crate::ops::commit::{commit, CommitOptions};
    use crate::ops::init::{init, InitOptions};
    use crate::ops::Common;
    use crate::pack::{Codec, ObjectKind, RECORD_HEADER_LEN};
    use crate::progress::NoProgress;

    /// A repository with one chunk stored raw (noise) and one stored with zstd (text).
    fn repo(dir: &std::path::Path) -> Repository {
        let opts = InitOptions {
            dir: dir.to_path_buf(),
            hash: HashAlgo::Blake3,
            chunk_avg: None,
        };
        init(&opts).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(dir.join("noise"), noise).unwrap();
        std::fs::write(dir.join("text"), "all work and no play ".repeat(500)).unwrap();
        let repo = Repository::open(dir).unwrap();
        let common = Common::new(dir);
        let all = AddOptions {
            paths: vec![],
            all: true,
            dry_run: false,
            force: false,
            ignore_errors: false,
        };
        let locked = repo.lock(common.lock_timeout).unwrap();
        add(&locked, &common, &all, &NoProgress).unwrap();
        let msg = CommitOptions {
            message: "m".into(),
            author: None,
            new_line: None,
        };
        commit(&locked, &msg, &NoProgress).unwrap();
        drop(locked);
        Repository::open(dir).unwrap()
    }

    /// Flips one payload byte of the chunk stored with `codec`; returns the chunk's id.
    fn damage(repo: &Repository, codec: Codec) -> ObjectId {
        for p in repo.store.packs() {
            for e in p.index.entries().flatten() {
                if e.kind == ObjectKind::Chunk && e.codec == codec {
                    let mut rw = std::fs::OpenOptions::new();
                    let f = rw.read(true).write(true).open(p.path()).unwrap();
                    let at = e.offset + RECORD_HEADER_LEN as u64 + 7;
                    let mut b = [0u8];
                    f.read_exact_at(&mut b, at).unwrap();
                    f.write_all_at(&[b[0] ^ 1], at).unwrap();
                    return e.id;
                }
            }
        }
        panic!("no chunk stored with {codec:?}");
    }

    #[test]
    fn data_check_finds_a_flipped_byte_in_raw_and_compressed_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(dir.path());
        let with = |data| {
            let opts = VerifyOptions {
                data,
                layers: vec![],
            };
            verify(&repo, &opts, &NoProgress).unwrap()
        };
        assert!(with(true).is_clean());
        let raw = damage(&repo, Codec::Raw);
        let zstd = damage(&repo, Codec::Zstd);
        // The record headers are intact: only re-hashing the bytes finds the damage.
        assert!(with(false).is_clean());
        let out = with(true);
        let objects: Vec<&str> = out.damage.iter().map(|d| d.object.as_str()).collect();
        for id in [raw, zstd] {
            assert!(
                objects.contains(&format!("chunk {id}").as_str()),
                "{objects:?}"
            );
        }
    }
}
