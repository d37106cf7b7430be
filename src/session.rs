//! What one run of cairn brings to every operation: the directory the user ran it from and
//! how long a writer waits for the lock; and turning that user's paths into repository
//! paths. It sits below the operations so that none of them imports another.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::index::StagingIndex;
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;
use crate::worktree;

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// The directory the user ran cairn from.
    pub cwd: PathBuf,
    /// How long a writer waits for another writer's lock.
    pub lock_timeout: Duration,
    /// The worker threads asked for (`--threads`), which also bounds how many files `add`
    /// reads at once; `None` for the defaults.
    pub threads: Option<usize>,
}

impl Common {
    /// Settings for a command run from `cwd`, waiting 5 seconds for the lock.
    pub fn new(cwd: &Path) -> Common {
        Common {
            cwd: cwd.to_path_buf(),
            lock_timeout: Duration::from_secs(5),
            threads: None,
        }
    }
}

/// Turns the user's paths into repository paths. Each must exist in the worktree or be
/// tracked by the index.
pub(crate) fn pathspecs(
    repo: &Repository,
    cwd: &Path,
    paths: &[PathBuf],
    index: &StagingIndex,
) -> Result<Vec<RepoPathBuf>> {
    paths
        .iter()
        .map(|p| {
            let rel = worktree::resolve(repo.root(), cwd, p)?;
            worktree::refuse_beyond_symlink(repo.root(), &rel, p)?;
            let exists =
                std::fs::symlink_metadata(worktree::abs(repo.root(), rel.as_bytes())).is_ok();
            // A tracked file is a hash lookup: a long list of deleted files must not scan
            // the index once per name.
            let tracked =
                || index.entries.contains_key(rel.as_bytes()) || index.under(&rel).next().is_some();
            if exists || tracked() {
                Ok(rel)
            } else {
                Err(Error::PathNotFound { path: p.clone() })
            }
        })
        .collect()
}
