//! `cairn push`: upload the packs a remote lacks, then move the remote's line (or create its
//! tag) last, refusing anything but a fast-forward.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::history::is_ancestor;
use crate::progress::Progress;
use crate::reach::{At, Step, Visitor, Walk};
use crate::refs::{Head, RefKind};
use crate::remote::config::Remotes;
use crate::remote::index::{list_packs, RemoteIndex, RemotePack};
use crate::remote::refs::{self, Published};
use crate::remote::{transfer, Remote};
use crate::repo::Repository;

/// Which remote, and which line or tag.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The remote's name (default: origin, or the only remote).
    pub remote: Option<String>,
    /// A line or tag (default: HEAD's line).
    pub target: Option<String>,
}

/// What was uploaded, and where the remote's reference stands.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PushOutcome {
    /// The remote's name.
    pub remote: String,
    /// The remote's URL.
    pub url: String,
    /// `lines/<name>` or `tags/<name>`.
    pub reference: String,
    /// The remote's layer before the push.
    pub old: Option<ObjectId>,
    /// The layer the remote's reference points at now: this repository's.
    pub new: ObjectId,
    /// The remote was already at `new`: nothing was uploaded or moved.
    pub up_to_date: bool,
    /// Packs uploaded (each with its index; a pack already there at its full size is not sent
    /// again, only its index).
    pub packs_uploaded: u64,
    /// Local packs the remote already held (all of their objects).
    pub packs_present: u64,
    /// Bytes of packs and indexes uploaded.
    pub bytes_uploaded: u64,
}

/// Uploads what the remote lacks, then moves its line (or creates its tag) last, refusing
/// anything but a fast-forward: a line only moves forward, a tag never moves.
pub fn push(repo: &Repository, opts: &PushOptions, progress: &dyn Progress) -> Result<PushOutcome> {
    let (name, spec) = Remotes::load(repo.dir())?.pick(opts.remote.as_deref(), repo.dir())?;
    let (kind, refname, local) = target(repo, opts.target.as_deref())?;
    let remote = Remote::open(&name, &spec, true)?;
    remote.ensure_config(&repo.config)?;
    refuse_name_clash(&remote, kind, &refname)?;
    let old = refs::read(&remote, kind, &refname)?.map(|r| r.id);
    let mut out = PushOutcome {
        remote: name,
        url: spec.url.clone(),
        reference: format!("{kind}/{refname}"),
        old,
        new: local,
        up_to_date: old == Some(local),
        packs_uploaded: 0,
        packs_present: 0,
        bytes_uploaded: 0,
    };
    if out.up_to_date {
        return Ok(out);
    }
    if let Some(theirs) = old {
        refuse_unless_forward(repo, &remote, kind, &refname, theirs, local)?;
    }
    let listing = list_packs(&remote)?;
    let plan = plan(repo, &remote, &listing, local)?;
    out.packs_present = plan.present;
    let sent = transfer::upload(repo, &remote, &plan.send, &listing, progress)?;
    out.packs_uploaded = sent.packs;
    out.bytes_uploaded = sent.bytes;
    // Tests make two pushes meet here.
    crate::failpoint::hit("push:before-publish");
    match refs::publish(&remote, kind, &refname, old, local)? {
        Published::Done => {}
        Published::Moved(now) if kind == RefKind::Line => {
            return Err(lost_race(&remote, &refname, now, local))
        }
        Published::Moved(now) => return Err(moved(&remote, kind, &refname, now, repo)),
        Published::Busy(why) => return Err(remote.invalid(why)),
    }
    if kind == RefKind::Line {
        remote.init_head(&refname)?;
    }
    Ok(out)
}

/// The reference to push and its layer.
fn target(repo: &Repository, spec: Option<&str>) -> Result<(RefKind, String, ObjectId)> {
    let refs = repo.refs();
    let Some(name) = spec else {
        return match (refs.head()?, repo.head()?.1) {
            (Head::Line(line), Some(id)) => Ok((RefKind::Line, line, id)),
            (Head::Line(line), None) => Err(Error::NothingToPush {
                line,
                path: repo.dir().to_path_buf(),
            }),
            (Head::Detached(_), _) => Err(Error::DetachedHead {
                what: "name the line or tag to push",
                path: repo.dir().join("HEAD"),
            }),
        };
    };
    // `lines/NAME` or `tags/NAME` names one kind; a bare name is looked up as a line first.
    let qualified = name
        .split_once('/')
        .and_then(|(k, n)| Some((RefKind::from_dir(k)?, n)));
    let (kinds, name) = match &qualified {
        Some((kind, n)) => (std::slice::from_ref(kind), *n),
        None => (&RefKind::ALL[..], name),
    };
    for &kind in kinds {
        if crate::refs::check_name(name).is_ok() {
            if let Some(id) = refs.get(kind, name)? {
                return Ok((kind, name.to_string(), id));
            }
        }
    }
    Err(Error::UnknownRef {
        name: format!("{name} (push takes a line or a tag)"),
        path: repo.dir().to_path_buf(),
    })
}

/// A remote line and a remote tag of one name would make that name ambiguous in every
/// clone: another machine may have pushed the other kind first.
fn refuse_name_clash(remote: &Remote, kind: RefKind, name: &str) -> Result<()> {
    let (other, what) = (kind.other(), kind.other().noun());
    if refs::read(remote, other, name)?.is_none() {
        return Ok(());
    }
    Err(remote.invalid(format!(
        "push of {kind}/{name} refused: the remote has a {what} named {name}, and both would \
         make `{name}` ambiguous in every clone; rename one of them"
    )))
}

/// Lines move only forward (the remote's layer must be an ancestor of ours); tags never move.
fn refuse_unless_forward(
    repo: &Repository,
    remote: &Remote,
    kind: RefKind,
    name: &str,
    theirs: ObjectId,
    ours: ObjectId,
) -> Result<()> {
    if kind == RefKind::Line && is_ancestor(repo, &theirs, &ours)? {
        return Ok(());
    }
    Err(moved(remote, kind, name, Some(theirs), repo))
}

/// The error of a push that would lose the remote's layers.
fn moved(
    remote: &Remote,
    kind: RefKind,
    name: &str,
    now: Option<ObjectId>,
    repo: &Repository,
) -> Error {
    let Some(now) = now else {
        return remote.invalid(format!(
            "push of {kind}/{name} refused: the reference changed on the remote while pushing; \
             run the push again"
        ));
    };
    if kind == RefKind::Tag {
        return remote.invalid(format!(
            "push of {kind}/{name} refused: the remote's tag is layer {now}, and tags do not move"
        ));
    }
    let why = if repo.store.contains(&now) {
        "the two histories have diverged"
    } else {
        "it has layers this repository lacks (another machine pushed first)"
    };
    remote.invalid(format!(
        "push of {kind}/{name} refused (not a fast-forward): the remote line is at {now} and \
         {why}. Run `cairn pull`; cairn cannot merge, so if both sides added layers, keep one \
         history (`cairn reset`) and push again"
    ))
}

/// A push that lost a race: another push moved the line between our check and our publish.
/// Our packs are on the remote already; the layer is kept there as a line of its own,
/// `<line>.conflict-<short id>`, so both layers can be found afterwards and nothing is lost.
fn lost_race(remote: &Remote, line: &str, now: Option<ObjectId>, ours: ObjectId) -> Error {
    let base = &line[..line.len().min(170)];
    let side = format!("{base}.conflict-{}", ours.short());
    let kept = match refs::publish(remote, RefKind::Line, &side, None, ours) {
        Ok(Published::Done) => true,
        Ok(Published::Moved(Some(id))) => id == ours,
        Ok(_) | Err(_) => false,
    };
    let now = now.map_or("deleted".to_string(), |id| id.to_hex());
    let kept = if kept {
        format!("this layer is kept on the remote as line {side}, so neither is lost")
    } else {
        "this layer stays in this repository".to_string()
    };
    remote.invalid(format!(
        "push of {}/{line} refused: another push moved it to {now} while this one was \
         publishing; {kept}. cairn cannot merge: `cairn pull` shows the other layer; keep one \
         history (`cairn reset`) and push again",
        RefKind::Line
    ))
}

struct Plan {
    send: Vec<ObjectId>,
    present: u64,
}

/// Local packs to upload: those the remote does not hold, except packs whose every object it
/// holds anyway (a partial clone's packs are remote objects copied by range). Checks that
/// after the upload the remote has everything the pushed layer needs.
fn plan(
    repo: &Repository,
    remote: &Remote,
    listing: &BTreeMap<ObjectId, RemotePack>,
    tip: ObjectId,
) -> Result<Plan> {
    let on_remote = |name: &ObjectId| {
        listing
            .get(name)
            .is_some_and(crate::remote::index::RemotePack::complete)
    };
    let packs = repo.store.packs();
    let remote_only: Vec<ObjectId> = listing
        .iter()
        .filter(|(n, r)| r.complete() && !packs.iter().any(|p| p.name == **n))
        .map(|(n, _)| *n)
        .collect();
    let theirs = RemoteIndex::load(repo, remote, &remote_only)?;
    let shared: Vec<_> = packs.iter().filter(|p| on_remote(&p.name)).collect();
    let has =
        |id: &ObjectId| theirs.contains(id) || shared.iter().any(|p| p.index.lookup(id).is_some());
    let mut send = Vec::new();
    let mut present = 0;
    for p in &packs {
        if on_remote(&p.name) || p.index.entries().flatten().all(|e| has(&e.id)) {
            present += 1;
        } else {
            send.push(p.name);
        }
    }
    let sent: Vec<_> = packs.iter().filter(|p| send.contains(&p.name)).collect();
    let after = |id: &ObjectId| has(id) || sent.iter().any(|p| p.index.lookup(id).is_some());
    let mut closure = Closure {
        repo,
        before: &has,
        after: &after,
    };
    Walk::new(repo).layers([tip], &mut closure)?;
    Ok(Plan { send, present })
}

/// Walks what a push publishes and fails on the first object the remote would lack
/// afterwards. It stops at objects the remote holds already: every push checks this before
/// it uploads anything, so what is on a remote has everything below it there too.
struct Closure<'a> {
    repo: &'a Repository,
    /// On the remote before the push.
    before: &'a dyn Fn(&ObjectId) -> bool,
    /// On the remote after the upload.
    after: &'a dyn Fn(&ObjectId) -> bool,
}

impl Closure<'_> {
    /// Prunes what the remote holds already; fails on what it would lack after the push.
    fn step(&self, id: &ObjectId, what: &'static str) -> Result<Step> {
        if (self.before)(id) {
            return Ok(Step::Prune);
        }
        self.need(id, what)?;
        Ok(Step::Descend)
    }

    fn need(&self, id: &ObjectId, what: &'static str) -> Result<()> {
        if (self.after)(id) {
            return Ok(());
        }
        Err(Error::Unpushable {
            what,
            id: id.to_hex(),
            path: self.repo.dir().to_path_buf(),
        })
    }
}

impl Visitor for Closure<'_> {
    fn layer(&mut self, id: &ObjectId) -> Result<Step> {
        self.step(id, "layer")
    }

    fn tree(&mut self, _: &At, id: &ObjectId) -> Result<Step> {
        self.step(id, "tree")
    }

    fn file(&mut self, _: &At, id: &ObjectId) -> Result<Step> {
        self.step(id, "file")
    }

    fn chunk_list(&mut self, _: &At, id: &ObjectId) -> Result<()> {
        self.step(id, "chunk list").map(drop)
    }

    fn chunk(&mut self, _: &At, id: &ObjectId) -> Result<()> {
        self.step(id, "chunk").map(drop)
    }
}
