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
//! accepted (the next push of that reference cleans it up). The downloads live in a temporary
//! directory outside the repository, removed at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use super::index::{check_index, list_packs, RemoteIndex};
use super::refs::{self, LogEntry};
use super::{layout, nonce, Remote};
use crate::error::{Error, IoContext, Result};
use crate::hash::ObjectId;
use crate::history::is_ancestor;
use crate::integrity::{DamageLog, VerifyOutcome};
use crate::object::tree::MAX_DEPTH;
use crate::pack::{self, ObjectKind, Store};
use crate::progress::{Progress, Unit};
use crate::reach::{At, Step, Visitor, Walk};
use crate::refs::RefKind;
use crate::repo::Repository;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks what `remote` holds (with `data`, every chunk's bytes too), downloading into a temporary
/// directory; damage goes into the outcome, and an error means the remote could not be checked.
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
        damage: DamageLog::default(),
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
    out.damage = c.damage.into_damage();
    Ok(out)
}

/// Packs by name, with their sizes.
type Sized = Vec<(ObjectId, u64)>;

struct Check<'a> {
    remote: &'a Remote,
    out: VerifyOutcome,
    damage: DamageLog,
    /// Objects found damaged in a pack.
    bad: HashMap<ObjectId, String>,
}

impl Check<'_> {
    fn record(&mut self, key: String, problem: String, at: Option<(ObjectId, &[u8])>) {
        self.damage.record(key, problem, at);
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
            Unit::Packs,
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
        for kind in RefKind::ALL {
            self.refs(kind, &mut roots, &mut logged)?;
        }
        let mut w = Found {
            repo,
            bad: &self.bad,
            out: &mut self.out,
            damage: &mut self.damage,
            heights: HashMap::new(),
            open: Vec::new(),
        };
        Walk::new(repo).layers(roots, &mut w)?;
        self.out.trees = w.heights.len() as u64;
        for l in logged {
            self.check_log(repo, &l);
        }
        Ok(())
    }

    /// The layers the references of `kind` and their ref logs name, into `roots`, and each
    /// log entry, into `logged`.
    fn refs(
        &mut self,
        kind: RefKind,
        roots: &mut Vec<ObjectId>,
        logged: &mut Vec<Logged>,
    ) -> Result<()> {
        let tips: BTreeMap<String, ObjectId> = refs::list(self.remote, kind)?.into_iter().collect();
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
            for (i, entry) in entries.iter().enumerate() {
                roots.push(entry.to);
                let intent = layout::intent_for_log(kind, &name, &entry.key);
                // Entries are oldest first: the forced moves after this one.
                let forced_from = entries[i + 1..]
                    .iter()
                    .filter(|later| later.forced)
                    .filter_map(|later| later.from)
                    .collect();
                logged.push(Logged {
                    kind,
                    tip: tips.get(&name).copied(),
                    name: name.clone(),
                    unfinished: intents.contains(&intent),
                    forced_from,
                    entry: entry.clone(),
                });
            }
        }
        Ok(())
    }

    /// A layer a push was accepted with must still be on its line, or be its tag, or have
    /// been on the line when a later forced push deliberately replaced it.
    fn check_log(&mut self, repo: &Repository, l: &Logged) {
        let (kind, name, e) = (l.kind, &l.name, &l.entry);
        let kept = match l.tip {
            Some(tip) if kind == RefKind::Line => {
                on_any(repo, &e.to, std::iter::once(&tip).chain(&l.forced_from))
            }
            Some(tip) => Ok(e.to == tip),
            None => Ok(false),
        };
        // A line whose history cannot be read: the walk reported the layer that fails;
        // whether this one is still on the line cannot be told, and is said so.
        let kept = match kept {
            Ok(kept) => kept,
            Err(err) => {
                let why = format!(
                    "{kind}/{name} accepted this layer ({}, from {}), and whether it is still \
                     on it cannot be told: {err}",
                    e.key, e.host
                );
                return self.record(format!("layer {}", e.to), why, Some((e.to, b"")));
            }
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

/// True when `layer` is `tips` or an ancestor of one of them.
fn on_any<'a>(
    repo: &Repository,
    layer: &ObjectId,
    tips: impl IntoIterator<Item = &'a ObjectId>,
) -> Result<bool> {
    for tip in tips {
        if is_ancestor(repo, layer, tip)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One ref-log entry and what verify needs to judge it.
struct Logged {
    kind: RefKind,
    name: String,
    /// The reference's layer now; `None` when it is gone.
    tip: Option<ObjectId>,
    /// The push's intent is still there.
    unfinished: bool,
    /// What the line held before each later forced push (`push --force`) replaced it.
    forced_from: Vec<ObjectId>,
    entry: LogEntry,
}

/// The visitor of the reachable-object walk. A problem is reported at the first layer and
/// path it is met at. Trees memoise their height (the levels of directories below them, 0
/// for none), so a layer nested deeper than [`MAX_DEPTH`] is reported however its subtrees
/// are shared.
struct Found<'a> {
    repo: &'a Repository,
    /// Objects found damaged in a pack.
    bad: &'a HashMap<ObjectId, String>,
    out: &'a mut VerifyOutcome,
    damage: &'a mut DamageLog,
    /// Every tree walked, with its height.
    heights: HashMap<ObjectId, usize>,
    /// The heights so far of the trees open, root first.
    open: Vec<usize>,
}

impl Found<'_> {
    fn found(&mut self, key: String, why: String, at: &At) {
        let layer = at.layer().unwrap_or_default();
        self.damage.record(key, why, Some((layer, &at.path())));
    }

    /// A tree of height `h` is finished: its parent is at least one higher; a layer's root
    /// higher than the bound is damage.
    fn finished(&mut self, at: &At, id: &ObjectId, h: usize) {
        match self.open.last_mut() {
            Some(parent) => *parent = (*parent).max(h + 1),
            None if h > MAX_DEPTH => {
                let why = format!("directories nested deeper than {MAX_DEPTH} levels");
                self.found(format!("tree {id}"), why, at);
            }
            None => {}
        }
    }
}

impl Visitor for Found<'_> {
    fn layer(&mut self, _: &ObjectId) -> Result<Step> {
        self.out.layers += 1;
        Ok(Step::Descend)
    }

    fn tree_again(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        let h = self.heights.get(id).copied().unwrap_or_default();
        self.finished(at, id, h);
        Ok(())
    }

    fn enter_tree(&mut self, _: &At, _: &ObjectId) -> Result<()> {
        self.open.push(0);
        Ok(())
    }

    fn leave_tree(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        let h = self.open.pop().unwrap_or_default();
        self.heights.insert(*id, h);
        self.finished(at, id, h);
        Ok(())
    }

    fn file(&mut self, _: &At, _: &ObjectId) -> Result<Step> {
        self.out.files += 1;
        Ok(Step::Descend)
    }

    /// Checks that a chunk is in some pack and not damaged.
    fn chunk(&mut self, at: &At, id: &ObjectId) -> Result<()> {
        self.out.chunks += 1;
        let why = match self.bad.get(id) {
            Some(why) => why.clone(),
            None if self.repo.store.contains(id) => return Ok(()),
            None => "missing from every pack".into(),
        };
        self.found(format!("chunk {id}"), why, at);
        Ok(())
    }

    /// Reports what cannot be read; an unreadable tree is walked as empty.
    fn unreadable(&mut self, at: &At, kind: ObjectKind, id: &ObjectId, e: Error) -> Result<()> {
        match kind {
            ObjectKind::Layer => {
                let at = Some((*id, &b""[..]));
                self.damage.record(format!("layer {id}"), e.to_string(), at);
            }
            ObjectKind::Tree => {
                self.found(format!("tree {id}"), e.to_string(), at);
                self.heights.insert(*id, 0);
                self.finished(at, id, 0);
            }
            _ => self.found(format!("file {id}"), e.to_string(), at),
        }
        Ok(())
    }
}
