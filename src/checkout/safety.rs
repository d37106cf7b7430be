//! The checks that make a checkout refuse before it touches anything: local changes it
//! would lose, untracked files it would overwrite, directories of untracked files in the way.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;

use super::ignored::Ignored;
use super::plan::{local_change, Plan};
use crate::diff::ChangeKind;
use crate::error::{Error, Result};
use crate::index::{IndexEntry, StagingIndex};
use crate::ingest::Ingester;
use crate::object::{EntryKind, TreeEntry};
use crate::repo::Repository;
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::stage::{layer_tree, staged_changes};
use crate::worktree::{self, RealDirs};

/// Refuses when a path the checkout touches has staged or unstaged changes, or when an
/// untracked file stands where the checkout would write, naming each path and what is in
/// the way. As in git, nothing is in the way that holds what the checkout would write
/// anyway (a file byte-identical to the layer's), nor an untracked file the ignore files
/// exclude: such files are overwritten.
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
    let ignored = Ignored::new(repo.root());
    let judge = Judge {
        repo,
        index,
        plan,
        ingester: Ingester::hashing(repo),
        real: &real,
        staged: &staged,
        deleted: &deleted,
        ignored: &ignored,
    };
    let lost: Vec<String> = touched
        .par_iter()
        .map(|p| judge.in_the_way(p))
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

/// What a plain checkout needs to tell what it would lose.
struct Judge<'a> {
    repo: &'a Repository,
    index: &'a StagingIndex,
    plan: &'a Plan,
    ingester: Ingester<'a>,
    real: &'a RealDirs,
    staged: &'a HashSet<RepoPathBuf>,
    deleted: &'a Deleted<'a>,
    ignored: &'a Ignored,
}

impl Judge<'_> {
    /// `None` when the checkout may touch `p`; else `p` and what would be lost there.
    fn in_the_way(&self, p: &RepoPath) -> Result<Option<String>> {
        let why = match self.index.entries.get(p.as_bytes()) {
            Some(e) => self.tracked_loss(p, e)?,
            None => self.untracked_loss(p)?,
        };
        let why = why.or_else(|| self.blocked(p));
        Ok(why.map(|w| format!("{} ({w})", p.display())))
    }

    /// A tracked file loses staged changes the target lacks, or local changes unless the
    /// worktree already holds exactly what the target has there. A directory standing where
    /// the tracked file was counts as the file deleted, but when the target writes the path
    /// it is in the way as an untracked directory would be.
    fn tracked_loss(&self, p: &RepoPath, e: &IndexEntry) -> Result<Option<&'static str>> {
        let target = self.plan.target.get(p.as_bytes());
        let root = self.repo.root();
        // The index's version would be dropped when it is neither HEAD's nor the target's.
        if self.staged.contains(p) && target.is_none_or(|t| !same(e, t)) {
            return Ok(Some("staged changes"));
        }
        let change = local_change(root, self.index, &self.ingester, self.real, p, e)?;
        // A directory reads as deleted: only then is one worth looking for (no extra stat
        // for the files of an ordinary switch).
        let deleted = change == Some(ChangeKind::Deleted);
        if deleted && target.is_some() && self.dir_in_the_way(p)? {
            return Ok(Some("a directory holding untracked files"));
        }
        // Deleted here: the target deletes it too, or puts a stored version back.
        if change.is_none() || deleted || self.holds_target(p, target)? {
            return Ok(None);
        }
        Ok(Some(match self.kind_at(p) {
            Found::Symlink => "a symlink with local changes",
            _ => "a file with local changes",
        }))
    }

    /// True when a real directory (not one reached through a symlink) stands at `p` and
    /// holds something the checkout does not delete itself: writing `p` would have to
    /// remove it, and the move would fail halfway (even `-f` refuses that, before touching
    /// anything).
    fn dir_in_the_way(&self, p: &RepoPath) -> Result<bool> {
        if !self.real.reaches(p)? || !matches!(self.kind_at(p), Found::Dir) {
            return Ok(false);
        }
        untracked_in_the_way(self.repo.root(), p, self.deleted, 0)
    }

    /// An untracked file or symlink is in the way unless it holds the target's content or
    /// is ignored; a directory is unless the checkout deletes all it holds.
    fn untracked_loss(&self, p: &RepoPath) -> Result<Option<&'static str>> {
        if !self.real.reaches(p)? {
            return Ok(None);
        }
        let root = self.repo.root();
        Ok(match self.kind_at(p) {
            Found::Nothing => None,
            Found::Dir => untracked_in_the_way(root, p, self.deleted, 0)?
                .then_some("a directory holding untracked files"),
            kind => {
                let spared = self.ignored.is_ignored(p, false)
                    || self.holds_target(p, self.plan.target.get(p.as_bytes()))?;
                match (spared, kind) {
                    (true, _) => None,
                    (false, Found::Symlink) => Some("an untracked symlink"),
                    (false, Found::File) => Some("an untracked file"),
                    (false, _) => Some("an untracked special file"),
                }
            }
        })
    }

    /// An untracked file (not one the checkout deletes, nor an ignored one) standing where
    /// `p` needs a directory.
    fn blocked(&self, p: &RepoPath) -> Option<&'static str> {
        let root = self.repo.root();
        let blocker = p.ancestors().find(|d| {
            !self.index.entries.contains_key(d.as_bytes())
                && !self.deleted.contains(d)
                && std::fs::symlink_metadata(worktree::abs(root, d.as_bytes()))
                    .is_ok_and(|m| !m.is_dir())
                && !self.ignored.is_ignored(d, false)
        });
        blocker.map(|_| "an untracked file stands where its directory must go")
    }

    /// True when the worktree file at `p` is byte for byte (and kind and mode) what the
    /// target has there.
    fn holds_target(&self, p: &RepoPath, target: Option<&TreeEntry>) -> Result<bool> {
        let Some(t) = target else { return Ok(false) };
        let path = worktree::abs(self.repo.root(), p.as_bytes());
        Ok(self
            .ingester
            .ingest(&path)?
            .is_some_and(|now| same(&now, t)))
    }

    fn kind_at(&self, p: &RepoPath) -> Found {
        match std::fs::symlink_metadata(worktree::abs(self.repo.root(), p.as_bytes())) {
            Err(_) => Found::Nothing,
            Ok(m) if m.is_dir() => Found::Dir,
            Ok(m) if m.file_type().is_symlink() => Found::Symlink,
            Ok(m) if m.is_file() => Found::File,
            Ok(_) => Found::Other,
        }
    }
}

/// What stands at a path in the worktree.
enum Found {
    Nothing,
    File,
    Symlink,
    Dir,
    Other,
}

/// True when an index entry (or a file just read) holds what a layer's entry does.
fn same(e: &IndexEntry, t: &TreeEntry) -> bool {
    e.file_id() == t.id && e.kind() == t.kind && (t.kind != EntryKind::File || e.mode == t.mode)
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

/// A checkout of named paths overwrites what stands at them (naming them is consent), but
/// never an untracked file standing where one of their directories must go: that file was
/// not named. Ignored files make way, as in a plain checkout.
pub(super) fn refuse_unnamed_blockers(
    repo: &Repository,
    index: &StagingIndex,
    plan: &Plan,
) -> Result<()> {
    let deleted = deleted_paths(plan);
    let ignored = Ignored::new(repo.root());
    for p in &plan.write {
        for d in p.ancestors() {
            let path = worktree::abs(repo.root(), d.as_bytes());
            let file = std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir());
            let untracked = !index.entries.contains_key(d.as_bytes()) && !deleted.contains(d);
            if file && untracked && !ignored.is_ignored(d, false) {
                return Err(Error::InTheWay {
                    what: "an untracked file stands where a directory of the named paths must go",
                    path,
                });
            }
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

/// Paths whose staged state differs from HEAD.
fn staged_paths(repo: &Repository, index: &StagingIndex) -> Result<HashSet<RepoPathBuf>> {
    let head_tree = layer_tree(repo, repo.head()?.1)?;
    let changes = staged_changes(repo, index, head_tree)?;
    Ok(changes.into_iter().map(|c| c.path).collect())
}
