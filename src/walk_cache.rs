//! The walk cache in use (git's "untracked cache"): whether the last whole walk of the
//! worktree still describes it, what a walk would find now when it does, and the cache a
//! whole walk leaves behind. Status and add both ask here, so they cannot disagree about
//! when the cache may stand in for a walk.
//!
//! The cache holds while no ignore file changed stat data (what is ignored changes only with
//! an ignore file) and no directory it entered is gone. Adding, removing or renaming a name
//! changes its directory's mtime: a few directories that changed so are listed again, with
//! directories modified too shortly before the walk to trust their mtime ("racy", as for
//! files), and the rest of what the cache found stands. A changed directory that gained a
//! subdirectory or an ignore file, or more than [`RELIST_LIMIT`] changed ones, takes a walk.

use std::path::Path;

use rayon::prelude::*;

use crate::index::{StagingIndex, Stat, WalkCache};
use crate::repo_path::RepoPath;
use crate::worktree::{self, Found};

/// A directory modified less than this before a walk started is racy: a later change within
/// the same timestamp tick would not show in its mtime.
const RACY_NS: i64 = 50_000_000;

/// Changed directories listed again, at most: listing picks its way from the root to each
/// one (the walker asks of every name on the way whether it leads to one of them), so a
/// few are cheap and many are better walked whole.
const RELIST_LIMIT: usize = 64;

/// What the walk cache says a whole walk would find now.
pub(crate) struct Cached {
    /// The files a walk would find that the index may not track.
    pub(crate) files: Vec<Vec<u8>>,
    /// The directories listed again, with their stat data taken before their names were
    /// read (as a walk takes it): what a cache written now records for them.
    pub(crate) relisted: Vec<(Vec<u8>, Stat)>,
}

/// The files a whole walk would find now that the index may not track, when the walk cache
/// still holds: the cache's untracked files, with the changed and racy directories listed
/// again. `None` when there is no cache, an ignore file changed, a directory is gone, too
/// many changed, or a directory listed again gained a subdirectory or an ignore file: then
/// only a walk can tell.
pub(crate) fn files(root: &Path, index: &StagingIndex) -> Option<Cached> {
    let cache = index.walk_cache.as_ref()?;
    let unchanged = |(rel, stat): &(Vec<u8>, Stat)| {
        std::fs::symlink_metadata(worktree::abs(root, rel))
            .is_ok_and(|m| Stat::from_metadata(&m) == *stat)
    };
    if !cache.ignore_files.iter().all(unchanged) {
        return None;
    }
    let mut relist = changed_dirs(root, &cache.dirs)?;
    if relist.len() > RELIST_LIMIT {
        return None;
    }
    if relist.is_empty() && cache.racy.is_empty() {
        return Some(Cached {
            files: cache.untracked.clone(),
            relisted: Vec::new(),
        });
    }
    if relist.iter().any(|d| gained_ignore_file(root, d, cache)) {
        return None;
    }
    relist.extend(cache.racy.iter().cloned());
    relist.sort_unstable();
    relist.dedup();
    let listed = worktree::list_dirs(root, &relist, rayon::current_num_threads())
        .and_then(crate::worktree::Walk::complete)
        .ok()?;
    if !listed.dirs.keys().all(|d| cache.has_dir(d)) {
        return None; // a new directory: walk it all
    }
    let relisted = |p: &[u8]| {
        let dir = RepoPath::new(p).parent().as_bytes();
        relist.binary_search_by(|d| d.as_slice().cmp(dir)).is_ok()
    };
    let mut files: Vec<Vec<u8>> = cache
        .untracked
        .iter()
        .filter(|p| !relisted(p))
        .cloned()
        .collect();
    files.extend(listed.files.into_iter().map(|(p, _)| p));
    let relisted = relist
        .into_iter()
        .filter_map(|d| {
            let stat = listed.dirs.get(&d).copied().flatten()?;
            Some((d, stat))
        })
        .collect();
    Some(Cached { files, relisted })
}

/// The cached directories whose stat data changed, or `None` when one is gone or is no
/// longer a directory (what was below it is for a walk to find).
fn changed_dirs(root: &Path, dirs: &[(Vec<u8>, Stat)]) -> Option<Vec<Vec<u8>>> {
    let state: Vec<Option<bool>> = dirs
        .par_iter()
        .map(
            |(rel, stat)| match std::fs::symlink_metadata(worktree::abs(root, rel)) {
                Ok(m) if m.is_dir() => Some(Stat::from_metadata(&m) != *stat),
                _ => None,
            },
        )
        .collect();
    let mut changed = Vec::new();
    for ((rel, _), state) in dirs.iter().zip(state) {
        if state? {
            changed.push(rel.clone());
        }
    }
    Some(changed)
}

/// Whether the directory `dir` now holds an ignore file the cache does not know: its rules
/// would apply to the directories below, which are not listed again. Asked of the file
/// system, not of the listing, because an ignore file can ignore itself.
fn gained_ignore_file(root: &Path, dir: &[u8], cache: &WalkCache) -> bool {
    [b".gitignore".as_slice(), worktree::IGNORE_FILE.as_bytes()]
        .into_iter()
        .any(|name| {
            let rel = RepoPath::new(dir).join(name).into_bytes();
            let known = cache.ignore_files.iter().any(|(p, _)| *p == rel);
            !known && std::fs::symlink_metadata(worktree::abs(root, &rel)).is_ok()
        })
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
    /// recorded them, but those listed again, as their listing found them.
    pub(crate) fn from_cache(
        cache: &WalkCache,
        relisted: &[(Vec<u8>, Stat)],
        started_ns: i64,
    ) -> Walked {
        let mut dirs = cache.dirs.clone();
        for (d, stat) in relisted {
            if let Ok(at) = dirs.binary_search_by(|(p, _)| p.as_slice().cmp(d)) {
                dirs[at].1 = *stat;
            }
        }
        Walked {
            dirs,
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
