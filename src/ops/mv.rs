//! `cairn mv`: move or rename tracked files and directories in the worktree and the index,
//! as `git mv`.
//!
//! Everything is checked before anything moves. Then the worktree moves (each source with
//! one `rename`, a directory with everything in it, untracked files too), and the index is
//! saved last. A crash between the two leaves every file at its new place and the index
//! naming the old one: `status` shows the old paths deleted and the new ones untracked, and
//! `cairn add` of both records the move. Nothing is lost either way: the worktree holds
//! every file, and the store every staged version. A rename that fails puts the ones before
//! it back, so an error leaves the worktree as it was.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::index::{IndexEntry, StagingIndex, Stat};
use crate::repo::{Locked, Repository};
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::session::Common;
use crate::worktree;

/// What to move where.
#[derive(Debug, Clone, Default)]
pub struct MvOptions {
    /// The tracked files or directories to move, relative to the current directory.
    pub sources: Vec<PathBuf>,
    /// The new name (one source), or an existing directory to move them into.
    pub destination: PathBuf,
    /// Overwrite a file at the destination (never a directory).
    pub force: bool,
    /// Only say what would move.
    pub dry_run: bool,
}

/// One source and where it went.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Moved {
    /// Where it was, from the worktree root.
    pub from: RepoPathBuf,
    /// Where it is now.
    pub to: RepoPathBuf,
    /// The tracked files that moved with it (1 for a file).
    pub files: u64,
}

/// What `mv` moved (or with `dry_run`, would move).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MvOutcome {
    /// Each source, in the order given.
    pub moved: Vec<Moved>,
    /// True when nothing was moved (`--dry-run`).
    pub dry_run: bool,
}

/// Moves the sources in the worktree and the index, after checking every move.
pub fn mv(repo: &Locked, common: &Common, opts: &MvOptions) -> Result<MvOutcome> {
    let mut index = repo.load_index()?;
    let plan = plan(repo, common, &index, opts)?;
    let moved = plan
        .iter()
        .map(|m| Moved {
            from: m.from.clone(),
            to: m.to.clone(),
            files: index.under(&m.from).count() as u64,
        })
        .collect();
    if opts.dry_run {
        return Ok(MvOutcome {
            moved,
            dry_run: true,
        });
    }
    let clean = clean_by_stat(repo, &index, &plan);
    move_worktree(repo.root(), &plan)?;
    crate::failpoint::hit("mv:before-index");
    rename_entries(repo.root(), &mut index, &plan, &clean);
    index.base_tree = None;
    index.walk_cache = None;
    repo.save_index(&mut index)?;
    Ok(MvOutcome {
        moved,
        dry_run: false,
    })
}

/// One checked move.
struct Move {
    from: RepoPathBuf,
    to: RepoPathBuf,
    /// A file stands at `to` and `--force` says to replace it.
    replace: bool,
}

/// Every move, checked: sources tracked and present, destinations free (or files replaced
/// with `--force`), never into a source itself, never through a symlink.
fn plan(
    repo: &Repository,
    common: &Common,
    index: &StagingIndex,
    opts: &MvOptions,
) -> Result<Vec<Move>> {
    let root = repo.root();
    let dest = worktree::resolve(root, &common.cwd, &opts.destination)?;
    worktree::refuse_beyond_symlink(root, &dest, &opts.destination)?;
    let into_dir = is_real_dir(root, &dest);
    if opts.sources.len() > 1 && !into_dir {
        return Err(Error::BadArgument {
            what: "moving several paths needs an existing directory as the destination".into(),
            path: opts.destination.clone(),
        });
    }
    let mut moves: Vec<Move> = Vec::new();
    for user in &opts.sources {
        let from = source(repo, common, index, user)?;
        let to = match into_dir {
            true => dest.join(from.file_name()),
            false => dest.clone(),
        };
        let m = check_move(root, index, from, to, opts.force, user)?;
        if moves
            .iter()
            .any(|o| o.to == m.to || m.to.is_under(&o.from) || m.from.is_under(&o.from))
        {
            return Err(Error::BadArgument {
                what: "two of the paths would move to the same place, or one into another".into(),
                path: user.clone(),
            });
        }
        moves.push(m);
    }
    Ok(moves)
}

/// A source: a tracked file, or a directory holding tracked files, present in the worktree.
fn source(
    repo: &Repository,
    common: &Common,
    index: &StagingIndex,
    user: &Path,
) -> Result<RepoPathBuf> {
    let root = repo.root();
    let from = worktree::resolve(root, &common.cwd, user)?;
    if from.is_root() {
        return Err(Error::BadArgument {
            what: "cannot move the worktree's root".into(),
            path: user.to_path_buf(),
        });
    }
    worktree::refuse_beyond_symlink(root, &from, user)?;
    if index.under(&from).next().is_none() {
        return Err(Error::NotTracked {
            path: user.to_path_buf(),
        });
    }
    if std::fs::symlink_metadata(worktree::abs(root, from.as_bytes())).is_err() {
        return Err(Error::PathNotFound {
            path: user.to_path_buf(),
        });
    }
    Ok(from)
}

fn check_move(
    root: &Path,
    index: &StagingIndex,
    from: RepoPathBuf,
    to: RepoPathBuf,
    force: bool,
    user: &Path,
) -> Result<Move> {
    if to.is_under(&from) {
        return Err(Error::BadArgument {
            what: format!(
                "cannot move {} into itself ({})",
                from.display(),
                to.display()
            ),
            path: user.to_path_buf(),
        });
    }
    let parent = to.parent();
    if !parent.is_root() && !is_real_dir(root, parent) {
        return Err(Error::PathNotFound {
            path: worktree::abs(root, parent.as_bytes()),
        });
    }
    let target = worktree::abs(root, to.as_bytes());
    let replace = match std::fs::symlink_metadata(&target) {
        Err(_) => false,
        Ok(m) if m.is_dir() => {
            return Err(Error::InTheWay {
                what: "a directory stands at the destination; cairn mv never replaces one",
                path: target,
            })
        }
        Ok(_) if force && index.entries.contains_key(from.as_bytes()) => true,
        Ok(_) => {
            return Err(Error::InTheWay {
                what: "the destination exists (use -f to replace a file with a file)",
                path: target,
            })
        }
    };
    // A tracked directory below the destination's name (the worktree may lack it).
    if index.under(&to).any(|(p, _)| p != to.as_bytes()) {
        return Err(Error::InTheWay {
            what: "tracked files are below the destination; cairn mv never replaces them",
            path: target,
        });
    }
    Ok(Move { from, to, replace })
}

fn is_real_dir(root: &Path, p: &RepoPath) -> bool {
    std::fs::symlink_metadata(worktree::abs(root, p.as_bytes())).is_ok_and(|m| m.is_dir())
}

/// Tracked files unchanged by their stat data, and that data.
type Clean = std::collections::HashMap<Vec<u8>, Stat>;

/// The tracked files below the sources whose stat data shows them unchanged: after the
/// move only their ctime differs, and their entries take the new stat data so the next
/// `status` need not read them again. A file with local edits keeps its old data, so the
/// edits still show.
fn clean_by_stat(repo: &Repository, index: &StagingIndex, plan: &[Move]) -> Clean {
    let mut clean = Clean::new();
    for m in plan {
        for (p, e) in index.under(&m.from) {
            let now = std::fs::symlink_metadata(worktree::abs(repo.root(), p));
            if now.is_ok_and(|s| Stat::from_metadata(&s) == e.stat) && !index.is_racy(e) {
                clean.insert(p.to_vec(), e.stat);
            }
        }
    }
    clean
}

/// Renames each source; on a failure puts back the ones already moved.
fn move_worktree(root: &Path, plan: &[Move]) -> Result<()> {
    for (i, m) in plan.iter().enumerate() {
        let (from, to) = (
            worktree::abs(root, m.from.as_bytes()),
            worktree::abs(root, m.to.as_bytes()),
        );
        let r = match m.replace {
            true => std::fs::rename(&from, &to),
            false => crate::fsutil::rename_noreplace(&from, &to),
        };
        if let Err(e) = r {
            for done in plan[..i].iter().rev() {
                let back = worktree::abs(root, done.from.as_bytes());
                let _ = std::fs::rename(worktree::abs(root, done.to.as_bytes()), back);
            }
            return Err(e).ctx("could not move", &from);
        }
    }
    for m in plan {
        let to = worktree::abs(root, m.to.as_bytes());
        crate::fsutil::sync_dir(to.parent().unwrap_or(root))?;
    }
    Ok(())
}

/// The stat data of a file that was unchanged before the move, when only the rename's ctime
/// differs now: the same inode, size, mode and mtime. A file written meanwhile keeps its
/// old data, so the change shows.
fn moved_stat(root: &Path, rel: &[u8], before: &Stat) -> Option<Stat> {
    let now = Stat::from_metadata(&std::fs::symlink_metadata(worktree::abs(root, rel)).ok()?);
    let same = Stat {
        ctime_ns: before.ctime_ns,
        ..now
    };
    (same == *before).then_some(now)
}

/// Renames the index entries of every move, in place of any entry replaced at a destination.
fn rename_entries(root: &Path, index: &mut StagingIndex, plan: &[Move], clean: &Clean) {
    for m in plan {
        let below: Vec<(Vec<u8>, IndexEntry)> = index
            .under(&m.from)
            .map(|(p, e)| (p.to_vec(), e.clone()))
            .collect();
        let mut gone: Vec<&[u8]> = below.iter().map(|(p, _)| p.as_slice()).collect();
        gone.push(m.to.as_bytes());
        index.entries.remove_all(&gone);
        for (p, mut e) in below {
            let new = [m.to.as_bytes(), &p[m.from.as_bytes().len()..]].concat();
            if let Some(before) = clean.get(&p) {
                e.stat = moved_stat(root, &new, before).unwrap_or(e.stat);
            }
            index.entries.insert(new, e);
        }
    }
}
