//! The walk cache in use (git's "untracked cache"): whether the last whole walk of the
//! worktree still describes it, what a walk would find now when it does, and the cache a
//! whole walk leaves behind. Status and add both ask here, so they cannot disagree about
//! when the cache may stand in for a walk.
//!
//! The cache holds while no directory it entered and no ignore file changed stat data:
//! adding, removing or renaming a name changes its directory's mtime, and what is ignored
//! changes only with an ignore file. Directories modified too shortly before the walk to
//! trust their mtime ("racy", as for files) are listed again every time.

use std::path::Path;

use rayon::prelude::*;

use crate::index::{StagingIndex, Stat, WalkCache};
use crate::repo_path::RepoPath;
use crate::worktree::{self, Found};

/// A directory modified less than this before a walk started is racy: a later change within
/// the same timestamp tick would not show in its mtime.
const RACY_NS: i64 = 50_000_000;

/// The files a whole walk would find now that the index may not track, when the walk cache
/// still holds: the cache's untracked files, with the racy directories listed again. `None`
/// when there is no cache, a directory or ignore file changed, or a racy directory gained a
/// subdirectory: then only a walk can tell.
pub(crate) fn files(root: &Path, index: &StagingIndex) -> Option<Vec<Vec<u8>>> {
    let cache = index.walk_cache.as_ref()?;
    let unchanged = |(rel, stat): &(Vec<u8>, Stat)| {
        std::fs::symlink_metadata(worktree::abs(root, rel))
            .is_ok_and(|m| Stat::from_metadata(&m) == *stat)
    };
    let valid = cache.dirs.par_iter().all(unchanged) && cache.ignore_files.iter().all(unchanged);
    if !valid {
        return None;
    }
    if cache.racy.is_empty() {
        return Some(cache.untracked.clone());
    }
    let listed = worktree::list_dirs(root, &cache.racy, rayon::current_num_threads())
        .and_then(crate::worktree::Walk::complete)
        .ok()?;
    if !listed.dirs.keys().all(|d| cache.has_dir(d)) {
        return None; // a new directory: walk it all
    }
    let relisted = |p: &[u8]| {
        let dir = RepoPath::new(p).parent().as_bytes();
        cache
            .racy
            .binary_search_by(|d| d.as_slice().cmp(dir))
            .is_ok()
    };
    let mut files: Vec<Vec<u8>> = cache
        .untracked
        .iter()
        .filter(|p| !relisted(p))
        .cloned()
        .collect();
    files.extend(listed.files.into_iter().map(|(p, _)| p));
    Some(files)
}

/// What a walk would report `rel` as, from its `lstat` data (as the walk reads the type):
/// `None` for a directory or when it cannot be examined.
pub(crate) fn found(root: &Path, rel: &[u8]) -> Option<Found> {
    let m = std::fs::symlink_metadata(worktree::abs(root, rel)).ok()?;
    Found::of(m.file_type())
}

/// The directories and ignore files a whole walk saw, and when it started.
pub(crate) struct Walked {
    /// Every directory entered, with its stat data taken before its names were read.
    pub(crate) dirs: Vec<(Vec<u8>, Stat)>,
    /// The ignore files found.
    pub(crate) ignore_files: Vec<Vec<u8>>,
    /// When the walk started (before any directory was read), in nanoseconds.
    pub(crate) started_ns: i64,
}

impl Walked {
    /// What the walk `cache` describes saw, as of `started_ns`, for a command that found the
    /// cache still holding (checked after `started_ns`): its directories are as the cache
    /// recorded them.
    pub(crate) fn from_cache(cache: &WalkCache, started_ns: i64) -> Walked {
        Walked {
            dirs: cache.dirs.clone(),
            ignore_files: cache.ignore_files.iter().map(|(p, _)| p.clone()).collect(),
            started_ns,
        }
    }

    /// The cache of this walk, after which the index tracks every file found but `untracked`.
    /// A directory changed so recently that a further change might not show in its mtime is
    /// marked racy; `None` when an ignore file is racy (its stat data is taken now, after
    /// the walk read it, so a change meanwhile must not be cached as seen).
    pub(crate) fn into_cache(self, root: &Path, mut untracked: Vec<Vec<u8>>) -> Option<WalkCache> {
        let racy = |s: &Stat| s.mtime_ns >= self.started_ns - RACY_NS;
        let mut ignore_files = Vec::with_capacity(self.ignore_files.len());
        for p in self.ignore_files {
            let m = std::fs::symlink_metadata(worktree::abs(root, &p)).ok()?;
            ignore_files.push((p, Stat::from_metadata(&m)));
        }
        if ignore_files.iter().any(|(_, s)| racy(s)) {
            return None;
        }
        let mut dirs = self.dirs;
        dirs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let racy_dirs = dirs
            .iter()
            .filter(|(_, s)| racy(s))
            .map(|(p, _)| p.clone())
            .collect();
        untracked.sort_unstable();
        untracked.dedup();
        Some(WalkCache {
            dirs,
            ignore_files,
            untracked,
            racy: racy_dirs,
        })
    }
}
