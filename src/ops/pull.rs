//! `cairn pull`: fetch a line's new layers from a remote, create the remote's tags that are
//! missing here, and move the line (and the worktree, when HEAD is on it) forward. cairn has no
//! merge: when both sides added layers, pull fetches theirs and refuses to move anything.

use serde::Serialize;

use crate::checkout::{checkout, sparse_checkout, CheckoutOptions};
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::history::is_ancestor;
use crate::progress::Progress;
use crate::refs::{Head, RefKind};
use crate::remote::config::Remotes;
use crate::remote::fetch::{fetch_all, fetch_partial, Fetched};
use crate::remote::{refs, Remote};
use crate::repo::{Locked, Repository};
use crate::session::Common;
use crate::worktree::layer_path;

/// Which remote, and which line.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The remote's name; `None`: `origin`, or the only remote.
    pub remote: Option<String>,
    /// The line to pull (default: HEAD's line).
    pub line: Option<String>,
}

/// Where the local line stands after the pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PullStatus {
    /// The line is already at the remote's layer (`"up-to-date"` in JSON).
    UpToDate,
    /// The line, and the worktree when HEAD is on it, moved forward to the remote's layer; also
    /// when the line was new here (`"fast-forward"` in JSON).
    FastForward,
    /// This side has layers the remote lacks: nothing to pull.
    Ahead,
}

/// What was fetched, and where the line stands.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PullOutcome {
    /// The remote's name.
    pub remote: String,
    /// The remote's URL.
    pub url: String,
    /// The line pulled.
    pub line: String,
    /// The local line's layer before the pull; null when the line did not exist here.
    pub old: Option<ObjectId>,
    /// The remote's layer after a fast-forward, else the same as `old`.
    pub new: Option<ObjectId>,
    /// `"up-to-date"`, `"fast-forward"` or `"ahead"`.
    pub status: PullStatus,
    /// What was downloaded (whole packs, chunks fetched by byte range, and their bytes); a
    /// pull that moved nothing may still have fetched.
    pub fetched: Fetched,
    /// Files written into the worktree.
    pub checked_out: u64,
    /// Remote tags created here: those this repository lacked and whose layer it now holds.
    pub tags_created: Vec<String>,
    /// Remote tags left alone: they name another layer here than there, or a line here has
    /// their name.
    pub tags_differing: Vec<String>,
}

/// Fetches from the remote, creates its tags missing here, and moves the line to the
/// remote's layer when that only adds layers. A line that has diverged is an error, with
/// the remote's layers fetched.
pub fn pull(
    repo: &Locked,
    common: &Common,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<PullOutcome> {
    let (name, spec) = Remotes::load(repo.dir())?.pick(opts.remote.as_deref(), repo.dir())?;
    let remote = Remote::open(&name, &spec, false)?;
    // The caller holds the lock from reading the line to moving it: a commit landing in
    // between would otherwise be lost when the line is overwritten.
    let head = repo.refs().head()?;
    let line = match (&opts.line, &head) {
        (Some(l), _) => l.clone(),
        (None, Head::Line(l)) => l.clone(),
        (None, Head::Detached(_)) => {
            return Err(Error::DetachedHead {
                what: "name the line to pull",
                path: repo.dir().join("HEAD"),
            })
        }
    };
    check_remote(&remote, repo)?;
    let theirs = match refs::read(&remote, RefKind::Line, &line)? {
        Some(r) => r.id,
        None => return Err(no_line(&remote, &line)?),
    };
    let paths: Vec<Vec<u8>> = spec.paths.iter().map(|p| layer_path(p)).collect();
    let fetched = if paths.is_empty() {
        fetch_all(repo, &remote, progress)?
    } else {
        fetch_partial(repo.root(), &remote, |_| Ok(theirs), &paths, progress)?.0
    };
    // Listed again, so the store sees the packs just fetched.
    repo.store.refresh()?;
    let (tags_created, tags_differing) = copy_tags(repo, &remote)?;
    let ours = repo.refs().get(RefKind::Line, &line)?;
    let mut out = PullOutcome {
        remote: name,
        url: spec.url.clone(),
        line: line.clone(),
        old: ours,
        new: ours,
        status: PullStatus::UpToDate,
        fetched,
        checked_out: 0,
        tags_created,
        tags_differing,
    };
    match ours {
        Some(o) if o == theirs => return Ok(out),
        Some(o) if is_ancestor(repo, &theirs, &o)? => {
            out.status = PullStatus::Ahead;
            return Ok(out);
        }
        Some(o) if !is_ancestor(repo, &o, &theirs)? => {
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
        out.checked_out = move_worktree(repo, common, theirs, &paths, progress)?;
    }
    repo.refs()
        .because(format!("pull {}: fast-forward", remote.name))
        .set(RefKind::Line, &line, &theirs)?;
    if on_line {
        repo.refs().set_head(&Head::Line(line))?;
    }
    crate::layer_graph::after_pull(repo, &theirs)?;
    out.status = PullStatus::FastForward;
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
    let lines: Vec<String> = refs::list(remote, RefKind::Line)?
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
    repo: &Locked,
    common: &Common,
    layer: ObjectId,
    paths: &[Vec<u8>],
    progress: &dyn Progress,
) -> Result<u64> {
    if !paths.is_empty() {
        return sparse_checkout(repo, common, layer, paths, false, progress);
    }
    let opts = CheckoutOptions {
        target: layer.to_hex(),
        paths: Vec::new(),
        force: false,
        new_line: None,
    };
    Ok(checkout(repo, common, &opts, progress)?.written.len() as u64)
}

/// Creates the remote's tags this repository lacks; returns them, and the tags left alone:
/// those that name another layer here, or whose name is a line's here.
fn copy_tags(repo: &Locked, remote: &Remote) -> Result<(Vec<String>, Vec<String>)> {
    let refs = repo.refs();
    let (mut created, mut differing) = (Vec::new(), Vec::new());
    for (name, id) in refs::list(remote, RefKind::Tag)? {
        match refs.get(RefKind::Tag, &name)? {
            Some(here) if here == id => {}
            Some(_) => differing.push(name),
            None if refs.get(RefKind::Line, &name)?.is_some() => differing.push(name),
            None if repo.store.contains(&id) => {
                refs.set(RefKind::Tag, &name, &id)?;
                created.push(name);
            }
            None => {}
        }
    }
    Ok((created, differing))
}
