//! `cairn reset`: move the current line (or a detached HEAD) to a layer, as git's reset.
//! `soft` moves only the line; `mixed` (the default) also sets the index to the layer's
//! tree, leaving the worktree alone, so the changes since show as unstaged; `hard` puts the
//! index and the worktree at the layer, discarding local changes to tracked files. With
//! paths, the line does not move: those paths' index entries go back to the layer's
//! (unstaging them). Layers left behind stay reachable through the reflog (`HEAD@{1}`) and
//! gc keeps them for its grace period.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::checkout::reset_hard;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::{IndexEntry, StagingIndex};
use crate::object::{EntryKind, TreeEntry};
use crate::progress::Progress;
use crate::read;
use crate::refs::{Head, RefKind};
use crate::repo::{Locked, Repository};
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::revparse;
use crate::session::Common;
use crate::worktree;

/// What follows the line: nothing else, the index, or the index and the worktree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResetMode {
    /// Only the line (or a detached HEAD) moves.
    Soft,
    /// The index follows too; the worktree stays as it is.
    #[default]
    Mixed,
    /// The index and the worktree follow, discarding changes to tracked files.
    Hard,
}

/// Where to move, and what follows.
#[derive(Debug, Clone, Default)]
pub struct ResetOptions {
    /// The layer: an id or a unique prefix of one, `HEAD~N`, `HEAD@{N}`, a line or a tag;
    /// HEAD when absent. Without `paths`, a target that names no layer but a tracked or
    /// existing path is taken as that path, as git does.
    pub target: Option<String>,
    /// What follows the line.
    pub mode: ResetMode,
    /// Only these paths' index entries go back to the layer's; the line does not move.
    /// Relative to the current directory, as `add` takes them.
    pub paths: Vec<PathBuf>,
}

/// What moved, from where to where.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResetOutcome {
    /// The line that moved; null when HEAD was detached and moved itself, or when paths
    /// were named (nothing moved).
    pub line: Option<String>,
    /// The layer it pointed at before; null on a line with no layers yet.
    pub from: Option<ObjectId>,
    /// The layer it points at now (with paths: the layer the entries came from); null when
    /// HEAD has no layers yet and the index was only emptied (of the paths named).
    pub to: Option<ObjectId>,
    /// What followed the line.
    pub mode: ResetMode,
    /// Whether the index and the worktree followed (`mode` is `hard`).
    pub hard: bool,
    /// Whether only named paths were reset (the line did not move).
    pub paths_only: bool,
    /// Paths whose index entries changed (mixed, or with paths), sorted.
    pub unstaged: Vec<RepoPathBuf>,
    /// Files and symlinks written into the worktree; 0 unless hard.
    pub written: u64,
    /// Files and symlinks deleted from the worktree; 0 unless hard.
    pub deleted: u64,
}

/// Moves the current line, or a detached HEAD, to the target; or, with paths, sets their
/// index entries to the target's.
pub fn reset(
    repo: &Locked,
    common: &Common,
    opts: &ResetOptions,
    progress: &dyn Progress,
) -> Result<ResetOutcome> {
    let (target, paths) = target_and_paths(repo, common, opts)?;
    if !paths.is_empty() && opts.mode != ResetMode::Mixed {
        return Err(Error::BadArgument {
            what: "reset with paths only sets their index entries: leave out --soft and \
                   --hard (`cairn checkout LAYER -- PATHS` rewrites files)"
                .into(),
            path: repo.root().to_path_buf(),
        });
    }
    let (line, from) = repo.head()?;
    // `reset` and `reset -- PATHS` on a line with no layers yet unstage against nothing.
    let unborn = opts.target.is_none() && from.is_none() && opts.mode == ResetMode::Mixed;
    let to = match unborn {
        true => None,
        false => Some(revparse::resolve(repo, &target)?),
    };
    let tree = to
        .map(|id| repo.read_layer(&id))
        .transpose()?
        .map(|l| l.tree);
    let mut out = ResetOutcome {
        line: line.clone(),
        from,
        to,
        mode: opts.mode,
        hard: opts.mode == ResetMode::Hard,
        paths_only: !paths.is_empty(),
        unstaged: Vec::new(),
        written: 0,
        deleted: 0,
    };
    if !paths.is_empty() {
        out.line = None;
        let scope = paths
            .iter()
            .map(|p| worktree::resolve(repo.root(), &common.cwd, p))
            .collect::<Result<Vec<_>>>()?;
        out.unstaged = unstage(repo, tree, &scope, &paths)?;
        return Ok(out);
    }
    let (Some(to), Some(tree)) = (to, tree) else {
        out.unstaged = unstage(repo, None, &[RepoPathBuf::new()], &[])?;
        return Ok(out);
    };
    match opts.mode {
        ResetMode::Soft => {}
        ResetMode::Mixed => out.unstaged = unstage(repo, Some(tree), &[RepoPathBuf::new()], &[])?,
        ResetMode::Hard => (out.written, out.deleted) = reset_hard(repo, to, tree, progress)?,
    }
    let refs = repo.refs().because(format!("reset: moving to {target}"));
    match &line {
        Some(name) => refs.set(RefKind::Line, name, &to)?,
        None => refs.set_head(&Head::Detached(to))?,
    }
    Ok(out)
}

/// The layer to reset to and the paths: `reset FILE` (no `--`) is taken as `reset -- FILE`
/// when FILE names no layer but a path, as git does.
fn target_and_paths(
    repo: &Repository,
    common: &Common,
    opts: &ResetOptions,
) -> Result<(String, Vec<PathBuf>)> {
    let head = "HEAD".to_string();
    let Some(t) = &opts.target else {
        return Ok((head, opts.paths.clone()));
    };
    if !opts.paths.is_empty() {
        return Ok((t.clone(), opts.paths.clone()));
    }
    match revparse::resolve(repo, t) {
        Err(Error::UnknownRef { .. }) if names_a_path(repo, common, t) => {
            Ok((head, vec![PathBuf::from(t)]))
        }
        _ => Ok((t.clone(), Vec::new())),
    }
}

/// Whether `t` exists in the worktree (relative to the current directory) or is tracked.
fn names_a_path(repo: &Repository, common: &Common, t: &str) -> bool {
    let Ok(rel) = worktree::resolve(repo.root(), &common.cwd, std::path::Path::new(t)) else {
        return false;
    };
    let exists = std::fs::symlink_metadata(worktree::abs(repo.root(), rel.as_bytes())).is_ok();
    exists
        || repo
            .load_index()
            .is_ok_and(|i| i.under(&rel).next().is_some())
}

/// Sets the index entries under `scope` to the tree's: entries the tree lacks go, those it
/// has differently are replaced (see [`IndexEntry::from_layer`]), equal ones keep their
/// stat data. The worktree is not touched. A named path (`given`, for messages) must be in
/// the index or the tree. Returns the paths whose entries changed.
fn unstage(
    repo: &Locked,
    tree: Option<ObjectId>,
    scope: &[RepoPathBuf],
    given: &[PathBuf],
) -> Result<Vec<RepoPathBuf>> {
    let mut index = repo.load_index()?;
    let mut layer = BTreeMap::new();
    for (i, path) in scope.iter().enumerate() {
        let found = layer_entries(repo, tree, path, &mut layer)?;
        if !found && index.under(path).next().is_none() {
            return Err(Error::PathNotFound {
                path: given.get(i).cloned().unwrap_or_default(),
            });
        }
    }
    let inside = |p: &[u8]| scope.iter().any(|s| RepoPath::new(p).is_under(s));
    let mut changed: Vec<RepoPathBuf> = Vec::new();
    index.entries.retain(|p, _| {
        let keep = !inside(p) || layer.contains_key(p);
        if !keep {
            changed.push(RepoPathBuf::from(p));
        }
        keep
    });
    for (p, e) in layer {
        if index.entries.get(&p).is_some_and(|ie| ie.stages(&e)) {
            continue;
        }
        let chunks = repo.read_file(&e.id)?.chunks;
        changed.push(RepoPathBuf::from(p.clone()));
        index
            .entries
            .insert(p, IndexEntry::from_layer(repo.algo(), &e, chunks));
    }
    if !changed.is_empty() {
        set_base(&mut index, scope, tree);
        repo.save_index(&mut index)?;
    }
    changed.sort();
    Ok(changed)
}

/// The index equals the whole tree after a full mixed reset; after a partial one, nothing
/// is known. Tracked paths changed, so the walk cache is stale.
fn set_base(index: &mut StagingIndex, scope: &[RepoPathBuf], tree: Option<ObjectId>) {
    let whole = scope.iter().any(|s| s.as_bytes().is_empty());
    index.base_tree = tree.filter(|_| whole);
    index.walk_cache = None;
}

/// The files and symlinks of the tree at or below `path`, into `out`; false when the
/// tree (none: an empty one) has nothing there.
fn layer_entries(
    repo: &Repository,
    tree: Option<ObjectId>,
    path: &RepoPath,
    out: &mut BTreeMap<Vec<u8>, TreeEntry>,
) -> Result<bool> {
    let Some(tree) = tree else {
        return Ok(false);
    };
    let Some(e) = read::lookup(repo, &tree, path.as_bytes())? else {
        return Ok(false);
    };
    if e.kind != EntryKind::Dir {
        out.insert(path.as_bytes().to_vec(), e);
        return Ok(true);
    }
    let mut flat = Vec::new();
    read::flatten(repo, &e.id, path.as_bytes(), &mut flat)?;
    out.extend(flat.into_iter().filter(|(_, e)| e.kind != EntryKind::Dir));
    Ok(true)
}
