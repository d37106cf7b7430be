//! What a checkout writes and deletes, worked out before anything is touched.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::recover;
use crate::diff::ChangeKind;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::{IndexEntry, StagingIndex};
use crate::ingest::Ingester;
use crate::object::{EntryKind, TreeEntry};
use crate::read::flatten;
use crate::repo::{Repository, CAIRN_DIR};
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::worktree::{self, worktree_change, RealDirs};

pub(super) struct Plan {
    pub target: HashMap<Vec<u8>, TreeEntry>,
    pub write: Vec<RepoPathBuf>,
    pub delete: Vec<RepoPathBuf>,
    /// Paths an unfinished earlier checkout changed: rewritten, never counted as losses.
    pub recovered: HashSet<Vec<u8>>,
}

fn in_scope(p: &[u8], scope: &[RepoPathBuf]) -> bool {
    scope.is_empty() || scope.iter().any(|s| RepoPath::new(p).is_under(s))
}

/// How a checkout treats the paths it is given and the local edits it meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A plain switch: local edits of files both layers share are carried over.
    Switch,
    /// Everything (or everything in scope) is put back exactly as the layer has it, and
    /// tracked files in scope that the layer lacks are deleted (`--force`, `reset --hard`,
    /// a path-limited pull).
    Mirror,
    /// The user named paths (`checkout LAYER -- PATHS`): they are written exactly as the
    /// layer has them, and, as git's default "overlay" checkout, tracked files below them
    /// that the layer lacks are kept. Every named path must be in the layer.
    Overlay,
}

/// What a checkout of `tree` (below `scope`, or everything) writes and deletes. Paths an
/// unfinished earlier checkout changed (see [`recover`]) are rewritten or deleted too; those
/// outside `scope` make a checkout of named paths refuse, since it would leave them.
pub(super) fn plan(
    repo: &Repository,
    index: &StagingIndex,
    tree: &ObjectId,
    scope: &[RepoPathBuf],
    mode: Mode,
) -> Result<Plan> {
    let real = RealDirs::new(repo.root());
    let pending = recover::pending(repo)?;
    let recovered = match pending.is_empty() {
        true => HashSet::new(),
        false => recover::interrupted_paths(repo, index, &pending, &real)?,
    };
    if let Some(p) = recovered.iter().find(|p| !in_scope(p, scope)) {
        return Err(Error::UnfinishedCheckout {
            what: "an earlier checkout did not finish: check out a layer without naming paths to finish it".into(),
            path: worktree::abs(repo.root(), p),
        });
    }
    let mut all = Vec::new();
    flatten(repo, tree, b"", &mut all)?;
    let target: HashMap<Vec<u8>, TreeEntry> = all
        .into_iter()
        .filter(|(p, e)| e.kind != EntryKind::Dir && in_scope(p, scope))
        .collect();
    let own = RepoPath::new(CAIRN_DIR.as_bytes());
    if let Some(p) = target.keys().find(|p| RepoPath::new(p).is_under(own)) {
        return Err(Error::corrupt(
            "tree",
            &worktree::abs(repo.root(), p),
            "an entry would be written into the repository's own directory",
        ));
    }
    for s in scope {
        let in_layer = target.keys().any(|p| RepoPath::new(p).is_under(s));
        let known = in_layer || (mode != Mode::Overlay && index.under(s).next().is_some());
        if !known {
            return Err(match mode {
                Mode::Overlay => Error::NotInLayer {
                    path: PathBuf::from(s.to_string()),
                },
                _ => Error::PathNotFound {
                    path: PathBuf::from(s.to_string()),
                },
            });
        }
    }
    let mut edited = if mode != Mode::Switch {
        edited_paths(repo, index, scope, &real)?
    } else {
        HashSet::new()
    };
    edited.extend(recovered.iter().cloned());
    let mut write: Vec<RepoPathBuf> = target
        .iter()
        .filter(|(p, e)| edited.contains(*p) || index.entries.get(*p).is_none_or(|i| !same(i, e)))
        .map(|(p, _)| RepoPathBuf::from(p.clone()))
        .collect();
    // Untracked files an unfinished checkout wrote go too when the target lacks them.
    let mut delete: Vec<RepoPathBuf> = index
        .entries
        .keys()
        .chain(recovered.iter().map(Vec::as_slice))
        .filter(|p| in_scope(p, scope) && !target.contains_key(*p))
        .filter(|p| mode != Mode::Overlay || recovered.contains(*p))
        .map(|p| RepoPathBuf::from(p.to_vec()))
        .collect();
    // A tracked file standing where a written path needs a directory goes too, even when it
    // lies outside the named paths.
    for p in &write {
        delete.extend(index.files_above(p).map(RepoPath::to_buf));
    }
    write.sort_unstable();
    delete.sort_unstable();
    delete.dedup();
    Ok(Plan {
        target,
        write,
        delete,
        recovered,
    })
}

/// Tracked paths in scope whose worktree file differs from the index.
fn edited_paths(
    repo: &Repository,
    index: &StagingIndex,
    scope: &[RepoPathBuf],
    real: &RealDirs,
) -> Result<HashSet<Vec<u8>>> {
    let ingester = Ingester::hashing(repo);
    let edited: Vec<Option<Vec<u8>>> = index
        .entries
        .par_iter()
        .filter(|(p, _)| in_scope(p, scope))
        .map(|(p, e)| {
            let change = local_change(repo.root(), index, &ingester, real, RepoPath::new(p), e)?;
            Ok(change.map(|_| p.to_vec()))
        })
        .collect::<Result<_>>()?;
    Ok(edited.into_iter().flatten().collect())
}

/// How the worktree file at `p` differs from its entry. A file beyond a symlink (or a file)
/// standing where its directory was is deleted: it is never read through the link.
pub(super) fn local_change(
    root: &Path,
    index: &StagingIndex,
    ingester: &Ingester,
    real: &RealDirs,
    p: &RepoPath,
    e: &IndexEntry,
) -> Result<Option<ChangeKind>> {
    match real.reaches(p)? {
        true => worktree_change(root, index, ingester, p.as_bytes(), e),
        false => Ok(Some(ChangeKind::Deleted)),
    }
}

fn same(i: &IndexEntry, e: &TreeEntry) -> bool {
    i.file_id() == e.id && i.kind() == e.kind && (e.kind != EntryKind::File || i.mode == e.mode)
}
