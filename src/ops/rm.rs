//! `cairn rm`: stop tracking paths, and delete them from the worktree unless `--cached`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::index::StagingIndex;
use crate::ingest::Ingester;
use crate::repo::{Locked, Repository};
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::session::Common;
use crate::stage::layer_tree;
use crate::worktree::{self, worktree_change};

/// Which paths to stop tracking, and how.
#[derive(Debug, Clone, Default)]
pub struct RmOptions {
    /// As typed, relative to the current directory: tracked paths, or with `recursive`
    /// directories holding some.
    pub paths: Vec<PathBuf>,
    /// Only stop tracking: leave the files in the worktree.
    pub cached: bool,
    /// Remove even files whose staged or unstaged changes would be lost.
    pub force: bool,
    /// Let a directory stand for every tracked path beneath it.
    pub recursive: bool,
}

/// The paths no longer tracked.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RmOutcome {
    /// Relative to the worktree root, '/'-separated, in path order.
    pub removed: Vec<RepoPathBuf>,
    /// Whether the files were left in the worktree (`cached`).
    pub cached: bool,
}

/// Removes paths from the index, and from the worktree unless `opts.cached`. Without
/// `cached` or `force`, refuses before changing anything when changes not committed would
/// be lost.
pub fn rm(repo: &Locked, common: &Common, opts: &RmOptions) -> Result<RmOutcome> {
    let mut index = repo.load_index()?;
    let mut targets = Vec::new();
    for p in &opts.paths {
        targets.extend(matches(repo, common, &index, p, opts.recursive)?);
    }
    targets.sort_unstable();
    targets.dedup();
    if !opts.cached && !opts.force {
        refuse_local_changes(repo, &index, &targets)?;
    }
    index.entries.remove_all(&targets);
    index.base_tree = None;
    index.walk_cache = None; // removed files may stay in the worktree, untracked
    repo.save_index(&mut index)?;
    if !opts.cached {
        // Never through a symlink standing where a tracked directory was.
        let mut remover = worktree::Remover::new(repo.root());
        for t in &targets {
            remover.remove(RepoPath::new(t))?;
        }
        remover.finish()?;
    }
    Ok(RmOutcome {
        removed: targets.into_iter().map(RepoPathBuf::from).collect(),
        cached: opts.cached,
    })
}

/// The tracked paths a user path names: itself, or with `-r` everything below it.
fn matches(
    repo: &Repository,
    common: &Common,
    index: &StagingIndex,
    p: &Path,
    recursive: bool,
) -> Result<Vec<Vec<u8>>> {
    let rel = worktree::resolve(repo.root(), &common.cwd, p)?;
    if index.entries.contains_key(rel.as_bytes()) {
        return Ok(vec![rel.into_bytes()]);
    }
    let below: Vec<Vec<u8>> = index
        .entries
        .keys()
        .filter(|k| RepoPath::new(k).is_under(&rel))
        .map(<[u8]>::to_vec)
        .collect();
    if below.is_empty() {
        return Err(Error::NotTracked {
            path: p.to_path_buf(),
        });
    }
    if !recursive {
        return Err(Error::IsADirectory {
            what: "use -r to remove it and everything below it",
            path: p.to_path_buf(),
        });
    }
    Ok(below)
}

/// Deleting a file whose changes were never staged would lose them.
fn refuse_local_changes(
    repo: &Repository,
    index: &StagingIndex,
    targets: &[Vec<u8>],
) -> Result<()> {
    let head_tree = layer_tree(repo, repo.head()?.1)?;
    for t in targets {
        let e = &index.entries[t];
        let committed = match &head_tree {
            Some(tree) => crate::read::lookup(repo, tree, t)?,
            None => None,
        };
        if committed.is_none_or(|c| c.id != e.file_id() || c.mode != e.mode) {
            return Err(Error::StagedChanges {
                path: worktree::abs(repo.root(), t),
            });
        }
    }
    let ingester = Ingester::hashing(repo);
    let real = worktree::RealDirs::new(repo.root());
    for t in targets {
        let e = &index.entries[t];
        if !real.reaches(RepoPath::new(t))? {
            continue; // beyond a symlink: not in the worktree, and never read through it
        }
        if let Some(kind) = worktree_change(repo.root(), index, &ingester, t, e)? {
            if kind != crate::diff::ChangeKind::Deleted {
                return Err(Error::LocalChanges {
                    path: worktree::abs(repo.root(), t),
                });
            }
        }
    }
    Ok(())
}
