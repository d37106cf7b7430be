//! `cairn status`: staged changes (HEAD against the index), unstaged changes (the index
//! against the worktree) and untracked files. Unchanged stat data means a file is not read.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::diff::ChangeKind;
use crate::error::Result;
use crate::hash::ObjectId;
use crate::index::{StagingIndex, Stat};
use crate::ingest::Ingester;
use crate::renames::{detect, RenameOptions, StoreLists};
use crate::repo::Repository;
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::stage::{layer_tree, staged_changes};
use crate::worktree::{self, change_from_stat, is_gone, worktree_change};

/// One changed path.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PathChange {
    /// Relative to the worktree root, '/'-separated.
    pub path: RepoPathBuf,
    /// `"added"`, `"modified"`, `"deleted"`, `"typechange"` (a file became a symlink or the
    /// reverse), `"renamed"` or `"copied"`.
    pub change: ChangeKind,
    /// Where a renamed file came from; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<RepoPathBuf>,
    /// Shared content of a rename with its source, in percent; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<u8>,
}

impl PathChange {
    fn plain(path: RepoPathBuf, change: ChangeKind) -> PathChange {
        PathChange {
            path,
            change,
            old_path: None,
            similarity: None,
        }
    }
}

/// How HEAD, the index and the worktree differ.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusOutcome {
    /// The line HEAD is on; null when HEAD is detached.
    pub line: Option<String>,
    /// The layer HEAD points at; null before the first commit.
    pub head: Option<ObjectId>,
    /// HEAD's layer against the index: what a commit would record, in path order.
    pub staged: Vec<PathChange>,
    /// The index against the worktree: changes `add` has not staged, in path order.
    pub unstaged: Vec<PathChange>,
    /// Untracked files; a directory holding no tracked file is listed once, with a `/` (for
    /// display: the only paths here that end with one).
    pub untracked: Vec<RepoPathBuf>,
    /// Too many unpaired staged files to look for renames by shared chunks.
    pub rename_limit_exceeded: bool,
}

impl StatusOutcome {
    /// Whether nothing is staged, unstaged or untracked.
    pub fn is_clean(&self) -> bool {
        self.staged.is_empty() && self.unstaged.is_empty() && self.untracked.is_empty()
    }
}

/// Compares HEAD with the index and the index with the worktree, and lists untracked
/// files. A file whose stat data matches the index is not read.
pub fn status(repo: &Repository) -> Result<StatusOutcome> {
    status_with(repo, &RenameOptions::default())
}

/// As [`status`], with the rename options. Renames are found among the staged changes only:
/// the unstaged side never has added paths (an untracked file is not in the index), so a
/// file moved in the worktree is a deletion and an untracked file until it is added, as in
/// git.
pub fn status_with(repo: &Repository, renames: &RenameOptions) -> Result<StatusOutcome> {
    let index = repo.load_index()?;
    // Before the stat pass: a change made during it shows the next time.
    let look = crate::watch::Look::take(repo, &index);
    let (line, head) = repo.head()?;
    let (worktree, staged) = rayon::join(
        || {
            rayon::join(
                || unstaged(repo, &index, look.as_ref()),
                || untracked(repo, &index),
            )
        },
        || staged(repo, &index, head, renames),
    );
    let (unstaged, untracked) = worktree;
    let (staged, rename_limit_exceeded) = staged?;
    Ok(StatusOutcome {
        line,
        head,
        staged,
        unstaged: unstaged?,
        untracked: untracked?,
        rename_limit_exceeded,
    })
}

fn staged(
    repo: &Repository,
    index: &StagingIndex,
    head: Option<ObjectId>,
    renames: &RenameOptions,
) -> Result<(Vec<PathChange>, bool)> {
    let head_tree = layer_tree(repo, head)?;
    let changes = staged_changes(repo, index, head_tree)?;
    if changes.is_empty() {
        return Ok((Vec::new(), false));
    }
    // The staged content of the changed paths: its file objects are not stored until a
    // commit. Every other side of a rename or copy is HEAD's, in the store.
    let known = changes
        .iter()
        .filter_map(|c| index.entries.get(c.path.as_bytes()))
        .map(|e| (e.file_id(), e.chunks()))
        .collect();
    let found = detect(changes, renames, &StoreLists { repo, known })?;
    let staged = found
        .changes
        .into_iter()
        .map(|c| PathChange {
            path: c.path,
            change: c.kind,
            old_path: c.old_path,
            similarity: c.similarity,
        })
        .collect();
    Ok((staged, found.limit_exceeded))
}

/// The index against the worktree. With a monitor's `look`, only the entries it names are
/// examined (the others are unchanged since a pass that found them clean), and what this
/// pass found is kept for the next one.
fn unstaged(
    repo: &Repository,
    index: &StagingIndex,
    look: Option<&crate::watch::Look>,
) -> Result<Vec<PathChange>> {
    let ingester = Ingester::hashing(repo);
    let entries = index.entries.as_slice();
    let runs = match look.and_then(|l| l.candidates(index)) {
        Some(picked) => picked_runs(entries, &picked),
        None => directory_runs(entries),
    };
    let changes: Vec<PathChange> = runs
        .into_par_iter()
        .map(|run| directory_changes(repo.root(), index, &ingester, entries.slice(run)))
        .collect::<Result<Vec<Vec<PathChange>>>>()?
        .into_iter()
        .flatten()
        .collect();
    if let Some(look) = look {
        look.save(repo, index, changes.iter().map(|c| c.path.as_bytes()));
    }
    // A partial clone is a sparse checkout: files it never fetched are not deleted.
    let sparse = crate::checkout::Sparse::load(repo)?;
    let skipped = |c: &PathChange| {
        c.change == ChangeKind::Deleted
            && sparse.skips(c.path.as_bytes(), &index.entries[c.path.as_bytes()])
    };
    Ok(changes.into_iter().filter(|c| !skipped(c)).collect())
}

type Entries<'a> = crate::index::Slice<'a>;

/// The runs of consecutive (sorted) entries in the same directory, as position ranges: a
/// list of one reference per entry took 16 MB at a million files.
fn directory_runs(entries: Entries) -> Vec<Range<usize>> {
    let parent = |i: usize| {
        let (p, _) = entries.get_index(i).expect("below the length");
        RepoPath::new(p).parent()
    };
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=entries.len() {
        if i == entries.len() || parent(i) != parent(start) {
            runs.push(start..i);
            start = i;
        }
    }
    runs
}

/// The entries at `picked` (sorted positions) as runs of consecutive entries in the same
/// directory, for [`directory_changes`].
fn picked_runs(entries: Entries, picked: &[usize]) -> Vec<Range<usize>> {
    let parent = |i: usize| {
        let (p, _) = entries.get_index(i).expect("a position of the index");
        RepoPath::new(p).parent()
    };
    let mut runs: Vec<Range<usize>> = Vec::new();
    for &i in picked {
        match runs.last_mut() {
            Some(run) if run.end == i && parent(run.start) == parent(i) => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

/// The changes of one directory's entries. Each file is `lstat`ed relative to the open
/// directory (`fstatat`), so the kernel resolves one name instead of the whole path: path
/// lookups were the largest cost of a no-op status.
fn directory_changes(
    root: &Path,
    index: &StagingIndex,
    ingester: &Ingester,
    group: Entries,
) -> Result<Vec<PathChange>> {
    // Never through a symlink standing where a tracked directory was: its files are gone.
    let Some((first, _)) = group.first() else {
        return Ok(Vec::new());
    };
    let dir = RepoPath::new(first).parent();
    let dir = worktree::open_dir_beneath(root, dir).map(std::fs::File::from);
    let mut out = Vec::new();
    for (rel, e) in group {
        let change = match &dir {
            Ok(dir) => {
                let name = RepoPath::new(rel).file_name();
                let found = stat_at(dir, name);
                let path = || worktree::abs(root, rel);
                change_from_stat(found, index, ingester, path, e)?
            }
            // Gone or not a directory: its files are deleted; anything else is told apart
            // per file, with the path in the error.
            Err(err) if is_gone(err) => Some(ChangeKind::Deleted),
            Err(_) => worktree_change(root, index, ingester, rel, e)?,
        };
        out.extend(change.map(|change| PathChange::plain(RepoPathBuf::from(rel.to_vec()), change)));
    }
    Ok(out)
}

/// `lstat` of `name` inside `dir`.
fn stat_at(dir: &std::fs::File, name: &[u8]) -> std::io::Result<Stat> {
    crate::fsutil::lstat_at(dir, name).map(|st| Stat::from_raw(&st))
}

fn untracked(repo: &Repository, index: &StagingIndex) -> Result<Vec<RepoPathBuf>> {
    let found = match crate::walk_cache::files(repo.root(), index) {
        Some(cached) => cached.files,
        None => {
            let walk = worktree::walk_complete(
                repo.root(),
                &[RepoPathBuf::new()],
                false,
                rayon::current_num_threads(),
            )?;
            walk.files.into_iter().map(|(p, _)| p).collect()
        }
    };
    let mut loose: Vec<Vec<u8>> = found
        .into_iter()
        .filter(|p| !index.entries.contains_key(p))
        .collect();
    if loose.is_empty() {
        return Ok(Vec::new());
    }
    loose.sort_unstable();
    let tracked_dirs = tracked_dirs(index);
    let mut out: Vec<RepoPathBuf> = Vec::new();
    for p in loose {
        let shown = collapse(RepoPath::new(&p), &tracked_dirs);
        if out.last().is_none_or(|l| l.as_bytes() != shown) {
            out.push(RepoPathBuf::from(shown));
        }
    }
    Ok(out)
}

/// Every directory that holds a tracked file somewhere below it.
fn tracked_dirs(index: &StagingIndex) -> HashSet<&RepoPath> {
    let mut dirs = HashSet::new();
    for p in index.entries.keys() {
        dirs.extend(RepoPath::new(p).ancestors());
    }
    dirs
}

/// The highest ancestor directory of `p` that holds no tracked file, with a trailing `/`,
/// or `p` itself (as git shows untracked files by default).
fn collapse(p: &RepoPath, tracked_dirs: &HashSet<&RepoPath>) -> Vec<u8> {
    let highest = p.ancestors().filter(|d| !tracked_dirs.contains(d)).last();
    match highest {
        Some(d) => [d.as_bytes(), b"/"].concat(),
        None => p.as_bytes().to_vec(),
    }
}
