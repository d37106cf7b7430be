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

#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub target: String,
    pub hard: bool,
}

#[derive(Debug, Serialize)]
pub struct ResetOutcome {
    pub line: Option<String>,
    pub from: Option<ObjectId>,
    pub to: ObjectId,
    pub hard: bool,
    pub written: u64,
    pub deleted: u64,
}

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
