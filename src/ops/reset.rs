//! `cairn reset`: move the current line (or a detached HEAD) to a layer. Layers after it
//! stay stored until gc, unless a tag or another line keeps them. With `hard`, the index and
//! the worktree follow, discarding local changes to tracked files.

use serde::Serialize;

use crate::checkout::reset_hard;
use crate::error::Result;
use crate::hash::ObjectId;
use crate::progress::Progress;
use crate::refs::{Head, RefKind};
use crate::repo::Locked;
use crate::revparse;

/// Where to move, and whether the worktree follows.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// The layer to move to: an id or a unique prefix of one, `HEAD~N`, a line or a tag.
    pub target: String,
    /// Also put the index and the worktree at the layer, discarding changes to tracked files.
    pub hard: bool,
}

/// What moved, from where to where.
#[derive(Debug, Serialize)]
pub struct ResetOutcome {
    /// The line that moved; null when HEAD was detached and moved itself.
    pub line: Option<String>,
    /// The layer it pointed at before; null on a line with no layers yet.
    pub from: Option<ObjectId>,
    /// The layer it points at now.
    pub to: ObjectId,
    /// Whether the index and the worktree followed (`hard`).
    pub hard: bool,
    /// Files and symlinks written into the worktree; 0 without `hard`.
    pub written: u64,
    /// Files and symlinks deleted from the worktree; 0 without `hard`.
    pub deleted: u64,
}

/// Moves the current line, or a detached HEAD, to `opts.target`; with `opts.hard` the index
/// and the worktree follow first.
pub fn reset(repo: &Locked, opts: &ResetOptions, progress: &dyn Progress) -> Result<ResetOutcome> {
    let to = revparse::resolve(repo, &opts.target)?;
    let tree = repo.read_layer(&to)?.tree;
    let (line, from) = repo.head()?;
    let mut out = ResetOutcome {
        line: line.clone(),
        from,
        to,
        hard: opts.hard,
        written: 0,
        deleted: 0,
    };
    if opts.hard {
        (out.written, out.deleted) = reset_hard(repo, to, tree, progress)?;
    }
    match &line {
        Some(name) => repo.refs().set(RefKind::Line, name, &to)?,
        None => repo.refs().set_head(&Head::Detached(to))?,
    }
    Ok(out)
}
