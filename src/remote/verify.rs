//! `verify --remote`: check what a remote holds, reading it the way pull and clone would.
//!
//! Every pack index is downloaded afresh (never taken from a cache) and checked: checksum,
//! order, that its records make the pack's name, and that the pack has the size the index
//! implies. Metadata packs are downloaded and every record re-hashed; with `data`, data packs
//! too, one at a time. Then every layer reachable from the remote's lines, tags and ref log
//! is walked (layers, trees, file objects, chunk presence), and every layer the ref log says
//! a push accepted must still be on its line: a reference deleted from the remote, or moved
//! off a logged layer, is damage. A logged layer whose push's intent is still there belongs
//! to a push in progress, or to one killed before it wrote the reference, which was never
//! accepted (the next push of that reference cleans it up). The downloads live in a temporary directory
//! outside the repository, removed at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use super::index::{check_index, list_packs, RemoteIndex};
use super::refs::{self, LogEntry};
use super::{layout, nonce, Remote};
use crate::error::{IoContext, Result};
use crate::hash::ObjectId;
use crate::object::tree::MAX_DEPTH;
use crate::object::{EntryKind, TreeEntry};
use crate::ops::verify::{Damage, VerifyOutcome};
use crate::pack::{self, Store};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::worktree::RepoPath;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn verify(remote: &Remote, data: bool, progress: &dyn Progress) -> Result<VerifyOutcome> {
    let config = remote
        .config()?
        .ok_or_else(|| remote.invalid("there is no cairn repository there".into()))?;
    let tmp = TempDir(std::env::temp_dir().join(format!("cairn-verify-{}", nonce())));
    let packs_dir = tmp.0.join(".cairn").join("packs");
    std::fs::create_dir_all(&packs_dir).ctx("could not create directory", &packs_dir)?;
    std::fs::create_dir_all(tmp.0.join(".cairn/tmp")).ctx("could not create directory", &tmp.0)?;
    let cfg = tmp.0.join(".cairn/config.toml");
    std::fs::write(&cfg, config.to_toml()).ctx("could not write file", &cfg)?;
    let mut c = Check {
        remote,
        out: VerifyOutcome::default(),
        damage: BTreeMap::new(),
        bad: HashMap::new(),
    };
    let (meta, dataful) = c.indexes(&packs_dir, config.hash)?;
    c.packs(&packs_dir, config.hash, &meta, true, progress)?;
    if data {
        c.packs(&packs_dir, config.hash, &dataful, false, progress)?;
    }
    let repo = Repository::open(&tmp.0)?;
    c.walk(&repo)?;
    let mut out = c.out;
    out.damage = c
        .damage
        .into_iter()
        .map(|(object, (problem, layers, paths))| Damage {
            object,
            problem,
            layers,
            paths: paths.into_iter().map(RepoPath).collect(),
        })
        .collect();
    Ok(out)
}

type Found = (String, Vec<ObjectId>, Vec<Vec<u8>>);
/// Packs by name, with their sizes.
type Sized = Vec<(ObjectId, u64)>;

struct Check<'a> {
    remote: &'a Remote,
    out: VerifyOutcome,
    damage: BTreeMap<String, Found>,
    /// Objects found damaged in a pack.
    bad: HashMap<ObjectId, String>,
}

impl Check<'_> {
    fn record(&mut self, key: String, problem: String, at: Option<(ObjectId, &[u8])>) {
        let f = self
            .damage
            .entry(key)
            .or_insert_with(|| (problem, vec![], vec![]));
        if let Some((layer, path)) = at {
            if !f.1.contains(&layer) {
                f.1.push(layer);
            }
            if f.2.len() < 20 && !f.2.iter().any(|p| p == path) {
                f.2.push(path.to_vec());
            }
        }
    }

    /// Downloads and checks every pack index; returns the metadata and the data packs (with
    /// their sizes) whose index is sound.
    fn indexes(&mut self, dir: &Path, algo: crate::HashAlgo) -> Result<(Sized, Sized)> {
        let (mut meta, mut data) = (Vec::new(), Vec::new());
        for (name, p) in list_packs(self.remote)? {
            let (Some(size), Some(_)) = (p.pack, p.idx) else {
                if p.idx.is_some() {
                    self.record(
                        format!("pack {name}"),
                        "its index is there, the pack is not".into(),
                        None,
                    );
                }
                // A pack without an index is an unfinished upload: invisible, not damage.
                continue;
            };
            let key = layout::idx(&name);
            let Some((bytes, _)) = self.remote.get(&key)? else {
                continue;
            };
            let path = dir.join(format!("{name}.idx"));
            std::fs::write(&path, bytes).ctx("could not write file", &path)?;
            match check_index(&path, algo, &name) {
                Ok((_, expected)) if expected != size => {
                    let _ = std::fs::remove_file(&path);
                    let why = format!("the pack is {size} bytes, its index says {expected}");
                    self.record(format!("pack {name}"), why, None);
                }
                Ok((idx, _)) => {
                    self.out.packs += 1;
                    self.out.objects += idx.len() as u64;
                    if RemoteIndex::is_meta(&idx) {
                        meta.push((name, size));
                    } else {
                        data.push((name, size));
                    }
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    self.record(format!("pack index {name}"), e.to_string(), None);
                }
            }
        }
        Ok((meta, data))
    }

    /// Downloads packs next to their indexes and re-hashes every record; data packs are
    /// deleted again once checked (`keep` false).
    fn packs(
        &mut self,
        dir: &Path,
        algo: crate::HashAlgo,
        packs: &[(ObjectId, u64)],
        keep: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        let total = packs.iter().map(|(_, s)| s).sum();
        progress.begin(
            if keep {
                "checking metadata"
            } else {
                "checking data"
            },
            packs.len() as u64,
            total,
        );
        for (name, _) in packs {
            let path = dir.join(format!("{name}.pack"));
            let mut file = File::create(&path).ctx("could not create file", &path)?;
            let key = layout::pack(name);
            self.remote
                .backend()
                .download(&key, 0, &mut file, &|n| progress.advance(0, n))
                .map_err(|e| self.remote.err("download", &key, e))?;
            drop(file);
            let store = Store::open(dir, algo)?;
            let listed = store.packs();
            if let Some(p) = listed.iter().find(|p| p.name == *name) {
                let report = pack::check(p, algo, true);
                for problem in report.problems {
                    self.record(format!("pack {name}"), problem, None);
                }
                for (id, why) in report.bad {
                    self.bad.insert(id, why);
                }
                self.out.bytes_checked += report.bytes;
            }
            if !keep {
                let _ = std::fs::remove_file(&path);
            }
            progress.advance(1, 0);
        }
        progress.end();
        Ok(())
    }

    /// Walks everything reachable from the remote's references and ref logs.
    fn walk(&mut self, repo: &Repository) -> Result<()> {
        let mut roots = Vec::new();
        let mut logged = Vec::new();
        for kind in ["lines", "tags"] {
            let tips: BTreeMap<String, ObjectId> =
                refs::list(self.remote, kind)?.into_iter().collect();
            roots.extend(tips.values().copied());
            let logs = refs::logs(self.remote, kind)?;
            for key in logs.unreadable {
                self.record(key, "ref log entry does not parse".into(), None);
            }
            // Intents still there: pushes in progress, or killed before their reference.
            let intents: HashSet<String> = self
                .remote
                .list(&layout::locks_dir(kind))?
                .into_iter()
                .map(|m| m.key)
                .collect();
            for (name, entries) in logs.by_name {
                for entry in entries {
                    roots.push(entry.to);
                    let intent = layout::intent_for_log(kind, &name, &entry.key);
                    logged.push(Logged {
                        kind,
                        tip: tips.get(&name).copied(),
                        name: name.clone(),
                        unfinished: intents.contains(&intent),
                        entry,
                    });
                }
            }
        }
        let mut w = Walk {
            repo,
            heights: HashMap::new(),
            files: HashSet::new(),
            chunks: HashSet::new(),
            found: Vec::new(),
            bad: &self.bad,
        };
        let mut layers = HashSet::new();
        for root in roots {
            let mut next = Some(root);
            while let Some(id) = next {
                if !layers.insert(id) {
                    break;
                }
                next = w.layer(id);
            }
        }
        self.out.layers = layers.len() as u64;
        self.out.chunks = w.chunks.len() as u64;
        self.out.trees = w.heights.len() as u64;
        self.out.files = w.files.len() as u64;
        let found = std::mem::take(&mut w.found);
        for (key, why, layer, path) in found {
            self.record(key, why, Some((layer, &path)));
        }
        for l in logged {
            self.check_log(repo, &l);
        }
        Ok(())
    }

    /// A layer a push was accepted with must still be on its line, or be its tag.
    fn check_log(&mut self, repo: &Repository, l: &Logged) {
        let (kind, name, e) = (l.kind, &l.name, &l.entry);
        let kept = match l.tip {
            Some(tip) if kind == "lines" => crate::ops::push::is_ancestor(repo, &e.to, &tip),
            Some(tip) => e.to == tip,
            None => false,
        };
        // A push that logged and then died before writing the reference was never
        // accepted; its intent is still there, and the next push of the reference removes
        // both.
        if kept || l.unfinished {
            return;
        }
        let why = match l.tip {
            Some(_) => format!(
                "{kind}/{name} accepted this layer ({}, from {}), and it is no longer on it: a \
                 concurrent push replaced it",
                e.key, e.host
            ),
            None => format!(
                "{kind}/{name} accepted this layer ({}, from {}), and the reference is gone from \
                 the remote: it was deleted",
                e.key, e.host
            ),
        };
        self.record(format!("layer {}", e.to), why, Some((e.to, b"")));
    }
}

/// One ref-log entry and what verify needs to judge it.
struct Logged {
    kind: &'static str,
    name: String,
    /// The reference's layer now; `None` when it is gone.
    tip: Option<ObjectId>,
    /// The push's intent is still there.
    unfinished: bool,
    entry: LogEntry,
}

/// A tree being walked: its remaining entries, and the height of what is below so far.
struct Frame {
    id: ObjectId,
    name: Vec<u8>,
    entries: std::vec::IntoIter<TreeEntry>,
    height: usize,
}

/// The reachable-object walk, iterative (a hostile repository can nest trees thousands
/// deep). Each object is read once; a problem is reported at the first layer and path it is
/// met at. Trees memoise their height, so a layer nested deeper than [`MAX_DEPTH`] is
/// reported however its subtrees are shared.
struct Walk<'a> {
    repo: &'a Repository,
    /// Every tree walked, with its height: the levels of directories below it (0 for a
    /// tree without subdirectories).
    heights: HashMap<ObjectId, usize>,
    files: HashSet<ObjectId>,
    chunks: HashSet<ObjectId>,
    found: Vec<(String, String, ObjectId, Vec<u8>)>,
    bad: &'a HashMap<ObjectId, String>,
}

impl Walk<'_> {
    /// Checks one layer's tree; returns its parent.
    fn layer(&mut self, id: ObjectId) -> Option<ObjectId> {
        match self.repo.read_layer(&id) {
            Ok(l) => {
                if self.tree(l.tree, id) > MAX_DEPTH {
                    let why = format!("directories nested deeper than {MAX_DEPTH} levels");
                    self.found
                        .push((format!("tree {}", l.tree), why, id, Vec::new()));
                }
                l.parent
            }
            Err(e) => {
                self.found
                    .push((format!("layer {id}"), e.to_string(), id, Vec::new()));
                None
            }
        }
    }

    /// Walks the tree `root` and what is below it; returns its height.
    fn tree(&mut self, root: ObjectId, layer: ObjectId) -> usize {
        if let Some(h) = self.heights.get(&root) {
            return *h;
        }
        let mut stack = vec![self.open(root, Vec::new(), layer, &[])];
        loop {
            let top = stack
                .last_mut()
                .expect("the walk ends when the stack empties");
            let Some(e) = top.entries.next() else {
                let done = stack.pop().expect("the stack has a top");
                let h = done.height;
                self.heights.insert(done.id, h);
                match stack.last_mut() {
                    Some(parent) => parent.height = parent.height.max(h + 1),
                    None => return h,
                }
                continue;
            };
            if e.kind != EntryKind::Dir {
                for (key, why) in self.file(e.id) {
                    self.found.push((key, why, layer, path(&stack, &e.name)));
                }
            } else if let Some(h) = self.heights.get(&e.id) {
                top.height = top.height.max(h + 1);
            } else {
                let frame = self.open(e.id, e.name, layer, &stack);
                stack.push(frame);
            }
        }
    }

    /// Reads a tree to walk it; a tree that cannot be read is reported and walked as empty.
    fn open(&mut self, id: ObjectId, name: Vec<u8>, layer: ObjectId, above: &[Frame]) -> Frame {
        let entries = match self.repo.read_tree(&id) {
            Ok(t) => t.entries,
            Err(e) => {
                let p = path(above, &name);
                self.found
                    .push((format!("tree {id}"), e.to_string(), layer, p));
                Vec::new()
            }
        };
        Frame {
            id,
            name,
            entries: entries.into_iter(),
            height: 0,
        }
    }

    /// Checks a file object and that its chunks are in some pack; returns what is wrong,
    /// as (object, problem).
    fn file(&mut self, id: ObjectId) -> Vec<(String, String)> {
        if !self.files.insert(id) {
            return Vec::new();
        }
        let obj = match self.repo.read_file(&id) {
            Ok(o) => o,
            Err(e) => return vec![(format!("file {id}"), e.to_string())],
        };
        let mut problems = Vec::new();
        for c in obj.chunks {
            if !self.chunks.insert(c.id) {
                continue;
            }
            let why = match self.bad.get(&c.id) {
                Some(why) => why.clone(),
                None if self.repo.store.contains(&c.id) => continue,
                None => "missing from every pack".into(),
            };
            problems.push((format!("chunk {}", c.id), why));
        }
        problems
    }
}

/// The path of `name` inside the trees on `stack` (the first is the layer's root), for
/// reports: at most [`MAX_DEPTH`] levels, so a hostile nesting cannot make it huge.
fn path(stack: &[Frame], name: &[u8]) -> Vec<u8> {
    let names = stack.iter().skip(1).map(|f| f.name.as_slice());
    let mut out = Vec::new();
    for part in names.chain([name]).take(MAX_DEPTH) {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    out
}
