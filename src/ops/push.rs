//! `cairn push`: upload the packs a remote lacks, then move the remote's line (or create its
//! tag) last, refusing anything but a fast-forward unless forced. `--tags` and `--all` push
//! many references with one upload, and report each reference's result.

use std::collections::{BTreeMap, HashSet};

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
    /// Move a line even when the remote's layer is not an ancestor of ours (after history
    /// was rewritten). Still conditional: only from the value read when the push started.
    /// Tags never move, forced or not.
    pub force: bool,
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
    /// The line moved to a layer that does not descend from the remote's (`--force`).
    pub forced: bool,
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
        forced: false,
        packs_uploaded: 0,
        packs_present: 0,
        bytes_uploaded: 0,
    };
    if out.up_to_date {
        return Ok(out);
    }
    if let Some(theirs) = old {
        out.forced =
            refuse_unless_forward(repo, &remote, (kind, &refname), theirs, local, opts.force)?;
    }
    let listing = list_packs(&remote)?;
    let plan = plan(repo, &remote, &listing, &[local])?;
    out.packs_present = plan.present;
    let sent = transfer::upload(repo, &remote, &plan.send, &listing, progress)?;
    out.packs_uploaded = sent.packs;
    out.bytes_uploaded = sent.bytes;
    // Tests make two pushes meet here.
    crate::failpoint::hit("push:before-publish");
    let published = match out.forced {
        true => refs::publish_forced(&remote, &refname, old, local)?,
        false => refs::publish(&remote, kind, &refname, old, local)?,
    };
    match published {
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

/// Which references a push of many sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Many {
    /// Every tag (`--tags`).
    Tags,
    /// Every line and every tag (`--all`).
    All,
}

/// What became of one reference in a push of many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefResult {
    /// The remote had no such reference; it has now.
    Created,
    /// The remote's line moved forward to ours.
    Updated,
    /// The remote's line moved to a layer that does not descend from its own (`--force`).
    Forced,
    /// The remote already had this layer: nothing moved.
    UpToDate,
    /// Left as it was on the remote; `reason` says why.
    Refused,
}

impl RefResult {
    fn moves(self) -> bool {
        matches!(
            self,
            RefResult::Created | RefResult::Updated | RefResult::Forced
        )
    }
}

/// One reference of a push of many.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RefPush {
    /// `lines/<name>` or `tags/<name>`.
    pub reference: String,
    /// The remote's layer before the push, if it had the reference.
    pub old: Option<ObjectId>,
    /// This repository's layer.
    pub new: ObjectId,
    /// What became of it.
    pub result: RefResult,
    /// Why it was refused; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip)]
    kind: RefKind,
    #[serde(skip)]
    name: String,
}

impl RefPush {
    fn refuse(&mut self, why: String) {
        self.result = RefResult::Refused;
        self.reason = Some(why);
    }
}

/// What a push of many references uploaded, and each reference's result.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PushManyOutcome {
    /// The remote's name.
    pub remote: String,
    /// The remote's URL.
    pub url: String,
    /// Every reference considered, lines first, each kind by name.
    pub references: Vec<RefPush>,
    /// How many of them were refused (the command then exits with 1).
    pub refused: u64,
    /// Packs uploaded, once for all the references.
    pub packs_uploaded: u64,
    /// Local packs the remote already held.
    pub packs_present: u64,
    /// Bytes of packs and indexes uploaded.
    pub bytes_uploaded: u64,
}

/// Pushes every tag (or every line and tag): one upload of what all of them need, then each
/// reference published on its own, with the same rules as a single push. A reference that
/// may not move (a tag that differs on the remote, a line that is not a fast-forward
/// without `force`, a name that is the other kind there) is refused and reported, and the
/// others still go.
pub fn push_many(
    repo: &Repository,
    opts: &PushOptions,
    which: Many,
    progress: &dyn Progress,
) -> Result<PushManyOutcome> {
    let (name, spec) = Remotes::load(repo.dir())?.pick(opts.remote.as_deref(), repo.dir())?;
    let remote = Remote::open(&name, &spec, true)?;
    remote.ensure_config(&repo.config)?;
    let theirs = [RefKind::Line, RefKind::Tag].map(|k| refs::list(&remote, k));
    let [lines, tags] = theirs;
    let theirs = Theirs {
        lines: lines?.into_iter().collect(),
        tags: tags?.into_iter().collect(),
    };
    let mut references = Vec::new();
    for (kind, name, id) in local_refs(repo, which)? {
        references.push(judge(repo, &theirs, (kind, name), id, opts.force)?);
    }
    refuse_local_clashes(&mut references);
    let mut out = PushManyOutcome {
        remote: name,
        url: spec.url.clone(),
        references,
        refused: 0,
        packs_uploaded: 0,
        packs_present: 0,
        bytes_uploaded: 0,
    };
    let tips: Vec<ObjectId> = out
        .references
        .iter()
        .filter(|r| r.result.moves())
        .map(|r| r.new)
        .collect();
    if !tips.is_empty() {
        let listing = list_packs(&remote)?;
        let plan = plan(repo, &remote, &listing, &tips)?;
        out.packs_present = plan.present;
        let sent = transfer::upload(repo, &remote, &plan.send, &listing, progress)?;
        out.packs_uploaded = sent.packs;
        out.bytes_uploaded = sent.bytes;
        crate::failpoint::hit("push:before-publish");
        for r in out.references.iter_mut().filter(|r| r.result.moves()) {
            publish_one(repo, &remote, r)?;
        }
        // The remote's HEAD names HEAD's line here, or the first line pushed.
        let first_line = out
            .references
            .iter()
            .find(|r| r.kind == RefKind::Line && r.result.moves());
        if let Some(r) = first_line {
            remote.init_head(&r.name)?;
        }
    }
    out.refused = out
        .references
        .iter()
        .filter(|r| r.result == RefResult::Refused)
        .count() as u64;
    Ok(out)
}

/// The remote's references when the push started.
struct Theirs {
    lines: BTreeMap<String, ObjectId>,
    tags: BTreeMap<String, ObjectId>,
}

impl Theirs {
    fn get(&self, kind: RefKind, name: &str) -> Option<ObjectId> {
        match kind {
            RefKind::Line => self.lines.get(name).copied(),
            RefKind::Tag => self.tags.get(name).copied(),
        }
    }
}

/// The references a push of many sends: HEAD's line first, then the other lines and the
/// tags, each by name.
fn local_refs(repo: &Repository, which: Many) -> Result<Vec<(RefKind, String, ObjectId)>> {
    let refs = repo.refs();
    let mut out = Vec::new();
    let kinds: &[RefKind] = match which {
        Many::Tags => &[RefKind::Tag],
        Many::All => &[RefKind::Line, RefKind::Tag],
    };
    for &kind in kinds {
        let mut names = refs.list(kind)?;
        names.sort();
        for name in names {
            if let Some(id) = refs.get(kind, &name)? {
                out.push((kind, name, id));
            }
        }
    }
    if let Ok(Head::Line(head)) = refs.head() {
        if let Some(i) = out
            .iter()
            .position(|(k, n, _)| *k == RefKind::Line && *n == head)
        {
            let line = out.remove(i);
            out.insert(0, line);
        }
    }
    Ok(out)
}

/// Decides, before anything is uploaded, what a reference's push would do.
fn judge(
    repo: &Repository,
    theirs: &Theirs,
    (kind, name): (RefKind, String),
    ours: ObjectId,
    force: bool,
) -> Result<RefPush> {
    let old = theirs.get(kind, &name);
    let mut r = RefPush {
        reference: format!("{kind}/{name}"),
        old,
        new: ours,
        result: RefResult::Created,
        reason: None,
        kind,
        name,
    };
    if theirs.get(kind.other(), &r.name).is_some() {
        let what = kind.other().noun();
        r.refuse(format!(
            "the remote has a {what} named {0}, and both would make `{0}` ambiguous in every \
             clone; rename one of them",
            r.name
        ));
        return Ok(r);
    }
    r.result = match old {
        None => RefResult::Created,
        Some(o) if o == ours => RefResult::UpToDate,
        Some(o) if kind == RefKind::Line && is_ancestor(repo, &o, &ours)? => RefResult::Updated,
        Some(_) if kind == RefKind::Line && force => RefResult::Forced,
        Some(o) => {
            r.refuse(moved_text(kind, &r.name, Some(o), repo));
            return Ok(r);
        }
    };
    Ok(r)
}

/// A line and a tag of one name here would both be created on the remote by `--all`: the
/// tag is refused, as a single push of it would be once the line is there.
fn refuse_local_clashes(references: &mut [RefPush]) {
    let lines: std::collections::HashSet<String> = references
        .iter()
        .filter(|r| r.kind == RefKind::Line && r.result != RefResult::Refused)
        .map(|r| r.name.clone())
        .collect();
    for r in references.iter_mut() {
        if r.kind == RefKind::Tag && r.result.moves() && lines.contains(&r.name) {
            let why = format!(
                "a line named {0} is pushed too, and both would make `{0}` ambiguous in every \
                 clone; rename one of them",
                r.name
            );
            r.refuse(why);
        }
    }
}

/// Publishes one reference of a push of many; a race lost or a busy reference refuses it.
fn publish_one(repo: &Repository, remote: &Remote, r: &mut RefPush) -> Result<()> {
    let published = match r.result {
        RefResult::Forced => refs::publish_forced(remote, &r.name, r.old, r.new)?,
        _ => refs::publish(remote, r.kind, &r.name, r.old, r.new)?,
    };
    match published {
        Published::Done => {}
        Published::Moved(now) if r.kind == RefKind::Line => {
            let why = lost_race_text(remote, &r.name, now, r.new);
            r.refuse(why);
        }
        Published::Moved(now) => r.refuse(moved_text(r.kind, &r.name, now, repo)),
        Published::Busy(why) => r.refuse(why),
    }
    Ok(())
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

/// Lines move only forward (the remote's layer must be an ancestor of ours) unless `force`;
/// tags never move. True when a line is forced to a layer that does not descend from theirs.
fn refuse_unless_forward(
    repo: &Repository,
    remote: &Remote,
    (kind, name): (RefKind, &str),
    theirs: ObjectId,
    ours: ObjectId,
    force: bool,
) -> Result<bool> {
    if kind == RefKind::Line {
        let forward = is_ancestor(repo, &theirs, &ours)?;
        if forward || force {
            return Ok(!forward);
        }
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
    remote.invalid(moved_text(kind, name, now, repo))
}

/// Why a push that would lose the remote's layers is refused.
fn moved_text(kind: RefKind, name: &str, now: Option<ObjectId>, repo: &Repository) -> String {
    let Some(now) = now else {
        return format!(
            "push of {kind}/{name} refused: the reference changed on the remote while pushing; \
             run the push again"
        );
    };
    if kind == RefKind::Tag {
        return format!(
            "push of {kind}/{name} refused: the remote's tag is layer {now}, and tags do not move"
        );
    }
    let why = if repo.store.contains(&now) {
        "the two histories have diverged"
    } else {
        "it has layers this repository lacks (another machine pushed first)"
    };
    format!(
        "push of {kind}/{name} refused (not a fast-forward): the remote line is at {now} and \
         {why}. Run `cairn pull`; cairn cannot merge, so if both sides added layers, keep one \
         history (`cairn reset`) and push again; after a rewrite of this history (`forget`), \
         `cairn push --force`"
    )
}

/// A push that lost a race: another push moved the line between our check and our publish.
/// Our packs are on the remote already; the layer is kept there as a line of its own,
/// `<line>.conflict-<short id>`, so both layers can be found afterwards and nothing is lost.
fn lost_race(remote: &Remote, line: &str, now: Option<ObjectId>, ours: ObjectId) -> Error {
    remote.invalid(lost_race_text(remote, line, now, ours))
}

/// [`lost_race`]'s message, after keeping our layer on the remote as a line of its own.
fn lost_race_text(remote: &Remote, line: &str, now: Option<ObjectId>, ours: ObjectId) -> String {
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
    format!(
        "push of {}/{line} refused: another push moved it to {now} while this one was \
         publishing; {kept}. cairn cannot merge: `cairn pull` shows the other layer; keep one \
         history (`cairn reset`) and push again; a line thinned out by `cairn forget` \
         replaces the remote's with `cairn push --force`",
        RefKind::Line
    )
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
    tips: &[ObjectId],
) -> Result<Plan> {
    let on_remote = |name: &ObjectId| {
        listing
            .get(name)
            .is_some_and(crate::remote::index::RemotePack::complete)
    };
    let packs = repo.store.packs();
    // A set, not a scan per remote pack: with thousands of packs on both sides a scan
    // made every push quadratic in their number.
    let local: HashSet<ObjectId> = packs.iter().map(|p| p.name).collect();
    let remote_only: Vec<ObjectId> = listing
        .iter()
        .filter(|(n, r)| r.complete() && !local.contains(*n))
        .map(|(n, _)| *n)
        .collect();
    let theirs = RemoteIndex::load(repo, remote, &remote_only)?;
    let shared: Vec<_> = packs.iter().filter(|p| on_remote(&p.name)).collect();
    // The pack the store finds an object in is usually on the remote when the object is:
    // one lookup, where asking each shared pack in turn costs one per pack. Only an object
    // found in a pack the remote lacks (a new one, or one also in an older pack) asks them.
    let has = |id: &ObjectId| {
        theirs.contains(id)
            || repo
                .store
                .locate(id)
                .is_some_and(|(p, _)| on_remote(&p.name()))
            || shared.iter().any(|p| p.index.lookup(id).is_some())
    };
    let mut send = Vec::new();
    let mut present = 0;
    for p in &packs {
        if on_remote(&p.name) || p.index.entries().flatten().all(|e| has(&e.id)) {
            present += 1;
        } else {
            send.push(p.name);
        }
    }
    let sending: HashSet<&ObjectId> = send.iter().collect();
    let sent: Vec<_> = packs.iter().filter(|p| sending.contains(&p.name)).collect();
    let after = |id: &ObjectId| has(id) || sent.iter().any(|p| p.index.lookup(id).is_some());
    let mut closure = Closure {
        repo,
        before: &has,
        after: &after,
    };
    Walk::new(repo).layers(tips.iter().copied(), &mut closure)?;
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
