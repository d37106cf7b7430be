//! The checks that make a checkout refuse before it touches anything: local changes it
//! would lose, untracked files it would overwrite, directories of untracked files in the way.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;

use super::plan::{local_change, Plan};
use crate::error::{Error, Result};
use crate::index::StagingIndex;
use crate::ingest::Ingester;
use crate::repo::Repository;
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::stage::{layer_tree, staged_changes};
use crate::worktree::{self, RealDirs};

/// Refuses when a path the checkout touches has staged or unstaged changes, or when an
/// untracked file stands where the checkout would write.
pub(super) fn refuse_losses(repo: &Repository, index: &StagingIndex, plan: &Plan) -> Result<()> {
    let touched: Vec<&RepoPath> = plan
        .write
        .iter()
        .chain(&plan.delete)
        .map(RepoPathBuf::as_path)
        .filter(|p| !plan.recovered.contains(p.as_bytes()))
        .collect();
    let deleted = deleted_paths(plan);
    let real = RealDirs::new(repo.root());
    let staged = staged_paths(repo, index)?;
    let ingester = Ingester::hashing(repo);
    let lost: Vec<String> = touched
        .par_iter()
        .map(|p| -> Result<Option<String>> {
            let lossy = match index.entries.get(p.as_bytes()) {
                Some(e) => {
                    staged.contains(*p)
                        || local_change(repo.root(), index, &ingester, &real, p, e)?.is_some()
                }
                None => real.reaches(p)? && untracked_in_the_way(repo.root(), p, &deleted, 0)?,
            } || blocked_by_untracked(repo, index, p, &deleted);
            Ok(lossy.then(|| p.to_string()))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    let mut list = lost.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if lost.len() > 10 {
        list.push_str(", ...");
    }
    Err(Error::WouldLoseChanges {
        count: lost.len(),
        list,
        path: repo.root().to_path_buf(),
    })
}

/// Even `--force` (and `reset --hard`) never deletes a directory holding untracked files to
/// put a file or symlink in its place (git would): it refuses before anything is touched,
/// so the user can move them.
pub(super) fn refuse_dirs_in_the_way(repo: &Repository, plan: &Plan) -> Result<()> {
    let deleted = deleted_paths(plan);
    let real = RealDirs::new(repo.root());
    for p in &plan.write {
        let path = worktree::abs(repo.root(), p.as_bytes());
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir && real.reaches(p)? && holds_more(repo.root(), p, &deleted, 1)? {
            return Err(Error::InTheWay {
                what: "a directory holding untracked files stands where the layer has a file; \
                       move them away first",
                path,
            });
        }
    }
    Ok(())
}

/// The paths the checkout deletes itself: not in the way of anything.
type Deleted<'a> = HashSet<&'a RepoPath>;

fn deleted_paths(plan: &Plan) -> Deleted<'_> {
    plan.delete.iter().map(RepoPathBuf::as_path).collect()
}

/// True when something untracked stands at `p`: a file, or a directory holding anything the
/// checkout does not delete itself. `depth` counts the directories above `p` this search
/// entered, bounded by the deepest nesting cairn stores.
fn untracked_in_the_way(
    root: &Path,
    p: &RepoPath,
    deleted: &Deleted,
    depth: usize,
) -> Result<bool> {
    match std::fs::symlink_metadata(worktree::abs(root, p.as_bytes())) {
        Err(_) => Ok(false),
        Ok(m) if !m.is_dir() => Ok(true),
        Ok(_) if depth >= crate::object::tree::MAX_DEPTH => {
            Err(Error::too_deep(worktree::abs(root, p.as_bytes())))
        }
        Ok(_) => holds_more(root, p, deleted, depth + 1),
    }
}

fn holds_more(root: &Path, dir: &RepoPath, deleted: &Deleted, depth: usize) -> Result<bool> {
    let Ok(entries) = std::fs::read_dir(worktree::abs(root, dir.as_bytes())) else {
        return Ok(true);
    };
    for e in entries.flatten() {
        let rel = dir.join(std::os::unix::ffi::OsStrExt::as_bytes(
            e.file_name().as_os_str(),
        ));
        let more = match e.file_type() {
            Ok(t) if t.is_dir() => untracked_in_the_way(root, &rel, deleted, depth)?,
            _ => !deleted.contains(rel.as_path()),
        };
        if more {
            return Ok(true);
        }
    }
    Ok(false)
}

/// True when an untracked file (not one the checkout deletes) stands where `p` needs a
/// directory.
fn blocked_by_untracked(
    repo: &Repository,
    index: &StagingIndex,
    p: &RepoPath,
    deleted: &Deleted,
) -> bool {
    p.ancestors().any(|d| {
        !index.entries.contains_key(d.as_bytes())
            && !deleted.contains(d)
            && std::fs::symlink_metadata(worktree::abs(repo.root(), d.as_bytes()))
                .is_ok_and(|m| !m.is_dir())
    })
}

/// Paths whose staged state differs from HEAD.
fn staged_paths(repo: &Repository, index: &StagingIndex) -> Result<HashSet<RepoPathBuf>> {
    let head_tree = layer_tree(repo, repo.head()?.1)?;
    let changes = staged_changes(repo, index, head_tree)?;
    Ok(changes.into_iter().map(|c| c.path).collect())
}
