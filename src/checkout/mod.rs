//! Moving the worktree and the index to a layer, for `checkout`, `reset --hard`, `pull` and
//! `clone`. Everything the move would change is worked out first (`plan.rs`); the safety
//! checks refuse before anything is touched when that would lose staged or unstaged changes
//! or overwrite untracked files (`safety.rs`); then files are deleted and written
//! (`apply.rs`), and an interrupted move is finished by the next one (`recover.rs`).

mod apply;
mod ignored;
mod plan;
mod recover;
mod safety;
mod sparse;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::progress::Progress;
use crate::refs::{Head, RefKind};
use crate::repo::{Locked, Repository};
use crate::repo_path::RepoPathBuf;
use crate::revparse::{self, Resolved};
use crate::session::Common;
use crate::worktree;

use apply::apply;
use plan::{plan, Mode, Plan};
use safety::{refuse_dirs_in_the_way, refuse_losses, refuse_unnamed_blockers};
pub(crate) use sparse::{sparse_checkout, Sparse};

/// What `checkout` is asked to do.
#[derive(Debug, Clone)]
pub struct CheckoutOptions {
    /// The layer to move to: a line, a tag, a layer id or a relative revision.
    pub target: String,
    /// Only these paths (as the user typed them); HEAD stays where it is.
    pub paths: Vec<PathBuf>,
    /// Discard local changes to tracked files instead of refusing to lose them.
    pub force: bool,
    /// Create this line at the target and put HEAD on it (`checkout -b NAME`).
    pub new_line: Option<String>,
}

/// What a checkout did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CheckoutOutcome {
    /// The layer checked out, or the one the named paths were taken from; null only when
    /// `checkout -b` moved HEAD to a new line before the first commit.
    pub layer: Option<ObjectId>,
    /// The line HEAD is on afterwards; `None` when detached.
    pub line: Option<String>,
    /// The layer HEAD points at afterwards: `layer` after a full checkout; after a checkout
    /// of named paths, where HEAD already was (null before the first commit).
    pub head: Option<ObjectId>,
    /// True when only named paths were checked out (HEAD did not move).
    pub paths_only: bool,
    /// The line `checkout -b` created; null otherwise.
    pub created_line: Option<String>,
    /// True when the checkout detached HEAD (a full checkout of a tag or layer id).
    pub detached: bool,
    /// Files written, from the worktree root.
    pub written: Vec<RepoPathBuf>,
    /// Files deleted, from the worktree root.
    pub deleted: Vec<RepoPathBuf>,
    /// Bytes written into the worktree.
    pub bytes: u64,
}

/// Checks out `opts.target` (or only its named paths) under the writers' lock, which the
/// caller holds throughout: `checkout` for this alone, pull and clone for longer. Named
/// paths are the user's consent to overwrite them, as in git.
pub(crate) fn checkout(
    repo: &Locked,
    common: &Common,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let mode = match (opts.paths.is_empty(), opts.force) {
        (false, _) => Mode::Overlay,
        (true, true) => Mode::Mirror,
        (true, false) => Mode::Switch,
    };
    checkout_in(repo, common, opts, mode, progress)
}

/// `checkout` with the way paths are treated chosen by the caller: a path-limited pull
/// mirrors its paths and refuses to lose local edits unless forced.
fn checkout_in(
    repo: &Locked,
    common: &Common,
    opts: &CheckoutOptions,
    mode: Mode,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    if let Some(name) = &opts.new_line {
        if let Some(out) = new_unborn_line(repo, opts, name)? {
            return Ok(out);
        }
    }
    let mut index = repo.load_index()?;
    let mut resolved = revparse::resolve_full(repo, &opts.target)?;
    if opts.new_line.is_some() {
        resolved.line = opts.new_line.clone();
    }
    let tree = repo.read_layer(&resolved.layer)?.tree;
    let scope: Vec<RepoPathBuf> = opts
        .paths
        .iter()
        .map(|p| worktree::resolve(repo.root(), &common.cwd, p))
        .collect::<Result<_>>()?;
    let plan = plan(repo, &index, &tree, &scope, mode)?;
    refuse(repo, &index, &plan, mode, opts.force)?;
    let bytes = apply(repo, &mut index, &plan, resolved.layer, progress)?;
    crate::failpoint::hit("checkout:before-head");
    let full = scope.is_empty();
    if full {
        move_head(repo, &resolved, opts.new_line.as_deref(), &opts.target)?;
    }
    index.base_tree = if full { Some(tree) } else { None };
    index.walk_cache = None; // the tracked set and the directories changed
    crate::failpoint::hit("checkout:before-index");
    repo.save_index(&mut index)?;
    finished(repo)?;
    // After named paths HEAD is where it was: report that, not the layer read from.
    let (line, head) = match full {
        true => (resolved.line.clone(), Some(resolved.layer)),
        false => repo.head()?,
    };
    Ok(CheckoutOutcome {
        layer: Some(resolved.layer),
        line,
        head,
        paths_only: !full,
        created_line: opts.new_line.clone(),
        detached: full && resolved.line.is_none(),
        written: plan.write,
        deleted: plan.delete,
        bytes,
    })
}

/// The safety checks a checkout makes before touching anything. Named paths are consent to
/// overwrite them, as in git, and so is --force; what neither covers still refuses.
fn refuse(repo: &Locked, index: &StagingIndex, plan: &Plan, mode: Mode, force: bool) -> Result<()> {
    if mode == Mode::Overlay {
        refuse_unnamed_blockers(repo, index, plan)?;
    }
    match force || mode == Mode::Overlay {
        true => refuse_dirs_in_the_way(repo, plan),
        false => refuse_losses(repo, index, plan),
    }
}

/// Points HEAD at the checked-out line (creating it first for `-b`) or detaches it.
fn move_head(
    repo: &Locked,
    resolved: &Resolved,
    new_line: Option<&str>,
    target: &str,
) -> Result<()> {
    if let Some(name) = new_line {
        repo.refs()
            .because(format!("line: created from {target}"))
            .set(RefKind::Line, name, &resolved.layer)?;
    }
    let head = match &resolved.line {
        Some(line) => Head::Line(line.clone()),
        None => Head::Detached(resolved.layer),
    };
    let to = new_line.unwrap_or(target);
    repo.refs()
        .because(repo.refs().checkout_reason(to))
        .set_head(&head)
}

/// `checkout -b` refuses a name that is invalid, or taken by a line or tag.
fn refuse_taken_line(repo: &Locked, name: &str) -> Result<()> {
    let refs = repo.refs();
    refs.check_new(RefKind::Line, name)?;
    if refs.get(RefKind::Line, name)?.is_some() {
        return Err(Error::AlreadyExists {
            what: "line",
            name: name.to_string(),
            path: refs.ref_path(RefKind::Line, name),
        });
    }
    Ok(())
}

/// `checkout -b NAME` before the first commit (HEAD on a line with no layers, no layer
/// named): as in git, HEAD simply moves to the new, still unborn, line. `None` otherwise.
/// Refuses a taken or invalid name, or paths with `-b`, first of all.
fn new_unborn_line(
    repo: &Locked,
    opts: &CheckoutOptions,
    name: &str,
) -> Result<Option<CheckoutOutcome>> {
    refuse_taken_line(repo, name)?;
    if !opts.paths.is_empty() {
        return Err(Error::BadArgument {
            what: "-b makes a new line and checks it out whole: name no paths with it".into(),
            path: repo.root().to_path_buf(),
        });
    }
    let unborn = repo.head()?.1.is_none();
    if !(unborn && matches!(opts.target.as_str(), "HEAD" | "@")) {
        return Ok(None);
    }
    repo.refs()
        .because(repo.refs().checkout_reason(name))
        .set_head(&Head::Line(name.to_string()))?;
    Ok(Some(CheckoutOutcome {
        layer: None,
        line: Some(name.to_string()),
        head: None,
        paths_only: false,
        created_line: Some(name.to_string()),
        detached: false,
        written: Vec::new(),
        deleted: Vec::new(),
        bytes: 0,
    }))
}

/// Puts the worktree and the index exactly at `layer`, whose tree is `tree` (`reset
/// --hard`): local changes to tracked files go, but directories of untracked files in the
/// way still make it refuse. HEAD is the caller's to move. Returns files written and
/// deleted.
pub(crate) fn reset_hard(
    repo: &Locked,
    layer: ObjectId,
    tree: ObjectId,
    progress: &dyn Progress,
) -> Result<(u64, u64)> {
    let mut index = repo.load_index()?;
    let p = plan(repo, &index, &tree, &[], Mode::Mirror)?;
    refuse_dirs_in_the_way(repo, &p)?;
    apply(repo, &mut index, &p, layer, progress)?;
    index.base_tree = Some(tree);
    index.walk_cache = None;
    repo.save_index(&mut index)?;
    finished(repo)?;
    Ok((p.write.len() as u64, p.delete.len() as u64))
}

/// The worktree matches the saved index again: the checkout's record goes.
fn finished(repo: &Repository) -> Result<()> {
    recover::end(repo)
}
