//! Moving the worktree and the index to a layer, for `checkout`, `reset --hard`, `pull` and
//! `clone`. Everything the move would change is worked out first (`plan.rs`); the safety
//! checks refuse before anything is touched when that would lose staged or unstaged changes
//! or overwrite untracked files (`safety.rs`); then files are deleted and written
//! (`apply.rs`), and an interrupted move is finished by the next one (`recover.rs`).

mod apply;
mod plan;
mod recover;
mod safety;
mod sparse;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::hash::ObjectId;
use crate::progress::Progress;
use crate::refs::Head;
use crate::repo::{Locked, Repository};
use crate::repo_path::RepoPathBuf;
use crate::revparse;
use crate::session::Common;
use crate::worktree;

use apply::apply;
use plan::{plan, Plan};
use safety::{refuse_dirs_in_the_way, refuse_losses};
pub(crate) use sparse::sparse_checkout;

/// What `checkout` is asked to do.
#[derive(Debug, Clone)]
pub struct CheckoutOptions {
    /// The layer to move to: a line, a tag, a layer id or a relative revision.
    pub target: String,
    /// Only these paths (as the user typed them); HEAD stays where it is.
    pub paths: Vec<PathBuf>,
    /// Discard local changes to tracked files instead of refusing to lose them.
    pub force: bool,
}

/// What a checkout did.
#[derive(Debug, Serialize)]
pub struct CheckoutOutcome {
    /// The layer checked out.
    pub layer: ObjectId,
    /// The line HEAD is on afterwards; `None` when detached.
    pub line: Option<String>,
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
/// caller holds throughout: `checkout` for this alone, pull and clone for longer.
pub(crate) fn checkout(
    repo: &Locked,
    common: &Common,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let mut index = repo.load_index()?;
    let resolved = revparse::resolve_full(repo, &opts.target)?;
    let tree = repo.read_layer(&resolved.layer)?.tree;
    let scope: Vec<RepoPathBuf> = opts
        .paths
        .iter()
        .map(|p| worktree::resolve(repo.root(), &common.cwd, p))
        .collect::<Result<_>>()?;
    // Named paths and --force put the worktree back exactly; a plain switch carries local
    // edits of files both layers share over, as git does.
    let rewrite = opts.force || !scope.is_empty();
    let plan = plan(repo, &index, &tree, &scope, rewrite)?;
    if opts.force {
        refuse_dirs_in_the_way(repo, &plan)?;
    } else {
        refuse_losses(repo, &index, &plan)?;
    }
    let bytes = apply(repo, &mut index, &plan, resolved.layer, progress)?;
    crate::failpoint::hit("checkout:before-head");
    let full = scope.is_empty();
    if full {
        let head = match &resolved.line {
            Some(line) => Head::Line(line.clone()),
            None => Head::Detached(resolved.layer),
        };
        repo.refs()
            .because(repo.refs().checkout_reason(&opts.target))
            .set_head(&head)?;
    }
    index.base_tree = if full { Some(tree) } else { None };
    index.walk_cache = None; // the tracked set and the directories changed
    crate::failpoint::hit("checkout:before-index");
    repo.save_index(&mut index)?;
    finished(repo)?;
    Ok(CheckoutOutcome {
        layer: resolved.layer,
        line: if full {
            resolved.line.clone()
        } else {
            repo.head()?.0
        },
        detached: full && resolved.line.is_none(),
        written: plan.write,
        deleted: plan.delete,
        bytes,
    })
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
    let p = plan(repo, &index, &tree, &[], true)?;
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
