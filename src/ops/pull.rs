//! `cairn pull`: fetch a line's new layers from a remote, create the remote's tags that are
//! missing here, and move the line (and the worktree, when HEAD is on it) forward. cairn has no
//! merge: when both sides added layers, pull fetches theirs and refuses to move anything.

use std::path::Path;

use serde::Serialize;

use super::checkout::{checkout_locked, CheckoutOptions};
use super::clone::sparse_checkout;
use super::push::is_ancestor;
use super::Common;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::progress::Progress;
use crate::refs::Head;
use crate::remote::config::Remotes;
use crate::remote::index::list_packs;
use crate::remote::partial::{fetch_chunks, fetch_metadata, needed_chunks};
use crate::remote::{refs, transfer, Remote};
use crate::repo::{RepoLock, Repository};
use crate::worktree::layer_path;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub remote: Option<String>,
    /// The line to pull (default: HEAD's line).
    pub line: Option<String>,
}

/// What a fetch brought.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Fetched {
    /// Whole packs downloaded.
    pub packs: u64,
    /// Chunks fetched by byte range (path-limited and layer-limited fetches).
    pub ranged_chunks: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct PullOutcome {
    pub remote: String,
    pub url: String,
    pub line: String,
    /// The local line before and after.
    pub old: Option<ObjectId>,
    pub new: Option<ObjectId>,
    /// `up-to-date`, `fast-forward` or `ahead` (this side has layers the remote lacks).
    pub status: &'static str,
    pub fetched: Fetched,
    /// Files written into the worktree.
    pub checked_out: u64,
    pub tags_created: Vec<String>,
    /// Remote tags left alone: they name another layer here than there, or a line here has
    /// their name.
    pub tags_differing: Vec<String>,
}

pub fn pull(
    repo: &Repository,
    common: &Common,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<PullOutcome> {
    let (name, spec) = Remotes::load(repo.dir())?.pick(opts.remote.as_deref(), repo.dir())?;
    let remote = Remote::open(&name, &spec, false)?;
    // One lock from reading the line to moving it: a commit landing in between would
    // otherwise be lost when the line is overwritten.
    let lock = repo.lock(common.lock_timeout)?;
    let head = repo.refs().head()?;
    let line = match (&opts.line, &head) {
        (Some(l), _) => l.clone(),
        (None, Head::Line(l)) => l.clone(),
        (None, Head::Detached(_)) => {
            return Err(remote.invalid("HEAD is detached here: name the line to pull".into()))
        }
    };
    check_remote(&remote, repo)?;
    let theirs = match refs::read(&remote, "lines", &line)? {
        Some(r) => r.id,
        None => return Err(no_line(&remote, &line)?),
    };
    let paths: Vec<Vec<u8>> = spec.paths.iter().map(|p| layer_path(p)).collect();
    let fetched = if paths.is_empty() {
        fetch_all(repo, &remote, progress)?
    } else {
        fetch_partial(repo.root(), &remote, |_| Ok(theirs), &paths, progress)?.0
    };
    // Reopened, so the store sees the packs just fetched.
    let repo = Repository::open(repo.root())?;
    let (tags_created, tags_differing) = copy_tags(&repo, &lock, &remote)?;
    let ours = repo.refs().get("lines", &line)?;
    let mut out = PullOutcome {
        remote: name,
        url: spec.url.clone(),
        line: line.clone(),
        old: ours,
        new: ours,
        status: "up-to-date",
        fetched,
        checked_out: 0,
        tags_created,
        tags_differing,
    };
    match ours {
        Some(o) if o == theirs => return Ok(out),
        Some(o) if is_ancestor(&repo, &theirs, &o)? => {
            out.status = "ahead";
            return Ok(out);
        }
        Some(o) if !is_ancestor(&repo, &o, &theirs)? => {
            return Err(remote.invalid(format!(
                "line {line} has diverged: the remote is at {theirs}, this repository at {o}, \
                 and neither contains the other. cairn cannot merge: keep this side and push \
                 it elsewhere, or take the remote's with `cairn reset --hard {theirs}` (its \
                 layers are fetched)"
            )))
        }
        _ => {}
    }
    // Tests make a concurrent commit try to land here.
    crate::failpoint::hit("pull:before-checkout");
    let on_line = head == Head::Line(line.clone());
    if on_line {
        out.checked_out = move_worktree(&repo, &lock, common, theirs, &paths, progress)?;
    }
    repo.refs().set("lines", &line, &theirs)?;
    if on_line {
        repo.refs().set_head(&Head::Line(line))?;
    }
    out.status = "fast-forward";
    out.new = Some(theirs);
    Ok(out)
}

/// Refuses a remote that holds nothing, or objects of another hash.
pub(crate) fn check_remote(remote: &Remote, repo: &Repository) -> Result<()> {
    match remote.config()? {
        None => {
            Err(remote.invalid("there is no cairn repository there yet (push to it first)".into()))
        }
        Some(c) if c.hash != repo.algo() => Err(remote.invalid(format!(
            "it holds a {} repository and this one uses {}",
            c.hash.name(),
            repo.algo().name()
        ))),
        Some(_) => Ok(()),
    }
}

fn no_line(remote: &Remote, line: &str) -> Result<Error> {
    let lines: Vec<String> = refs::list(remote, "lines")?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok(remote.invalid(format!(
        "the remote has no line {line:?}; its lines: {}",
        if lines.is_empty() {
            "none".to_string()
        } else {
            lines.join(", ")
        }
    )))
}

/// Checks out `layer` (all of it, or only `paths` for a path-limited clone) with the same
/// care for local changes as `checkout`. HEAD is set by the caller.
fn move_worktree(
    repo: &Repository,
    lock: &RepoLock,
    common: &Common,
    layer: ObjectId,
    paths: &[Vec<u8>],
    progress: &dyn Progress,
) -> Result<u64> {
    if !paths.is_empty() {
        return sparse_checkout(repo, lock, common, layer, paths, false, progress);
    }
    let opts = CheckoutOptions {
        target: layer.to_hex(),
        paths: Vec::new(),
        force: false,
    };
    Ok(checkout_locked(repo, lock, common, &opts, progress)?
        .written
        .len() as u64)
}

/// Creates the remote's tags this repository lacks; returns them, and the tags left alone:
/// those that name another layer here, or whose name is a line's here.
fn copy_tags(
    repo: &Repository,
    _lock: &RepoLock,
    remote: &Remote,
) -> Result<(Vec<String>, Vec<String>)> {
    let refs = repo.refs();
    let (mut created, mut differing) = (Vec::new(), Vec::new());
    for (name, id) in refs::list(remote, "tags")? {
        match refs.get("tags", &name)? {
            Some(here) if here == id => {}
            Some(_) => differing.push(name),
            None if refs.get("lines", &name)?.is_some() => differing.push(name),
            None if repo.store.contains(&id) => {
                refs.set("tags", &name, &id)?;
                created.push(name);
            }
            None => {}
        }
    }
    Ok((created, differing))
}

/// Downloads every complete remote pack this repository lacks.
pub(crate) fn fetch_all(
    repo: &Repository,
    remote: &Remote,
    progress: &dyn Progress,
) -> Result<Fetched> {
    let local = repo.store.packs();
    let missing: Vec<(ObjectId, u64)> = list_packs(remote)?
        .into_iter()
        .filter(|(n, p)| p.complete() && !local.iter().any(|l| l.name == *n))
        .map(|(n, p)| (n, p.pack.unwrap_or(0)))
        .collect();
    let got = transfer::download(repo, remote, &missing, progress)?;
    Ok(Fetched {
        packs: got.packs,
        ranged_chunks: 0,
        bytes: got.bytes,
    })
}

/// Downloads every metadata pack, then only the chunks that the layer `resolve` picks (it
/// runs once the metadata is here) needs below `paths` (everything when empty). Returns what
/// was fetched and the layer.
pub(crate) fn fetch_partial(
    root: &Path,
    remote: &Remote,
    resolve: impl FnOnce(&Repository) -> Result<ObjectId>,
    paths: &[Vec<u8>],
    progress: &dyn Progress,
) -> Result<(Fetched, ObjectId)> {
    let repo = Repository::open(root)?;
    let listing = list_packs(remote)?;
    let (meta, index) = fetch_metadata(&repo, remote, &listing, progress)?;
    let repo = Repository::open(root)?;
    let layer = resolve(&repo)?;
    let tree = repo.read_layer(&layer)?.tree;
    let chunks = needed_chunks(&repo, &tree, paths)?;
    let got = fetch_chunks(&repo, remote, &index, &listing, &chunks, progress)?;
    let fetched = Fetched {
        packs: meta.packs + got.packs,
        ranged_chunks: got.ranged_chunks,
        bytes: meta.bytes + got.bytes,
    };
    Ok((fetched, layer))
}
