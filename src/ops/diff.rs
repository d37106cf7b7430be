//! `cairn diff`: index against worktree (no layer), a layer against the worktree (one), or
//! two layers. Every side becomes a tree (the worktree's and the index's are built in
//! memory), and trees are compared skipping shared subtrees.

use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use crate::build::build;
use crate::diff::{diff_trees, ChangeKind, ChangedPath, Overlay};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::ingest::Ingester;
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;
use crate::revparse;
use crate::session::Common;
use crate::worktree::{self, worktree_change};

/// Which two sides to compare, and where to look.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// The layer to compare from; `None`: the index, against the worktree (`to` is then
    /// ignored).
    pub from: Option<String>,
    /// The layer to compare to; `None`: the worktree.
    pub to: Option<String>,
    /// Limit the output to these paths (as typed, relative to the current directory).
    pub paths: Vec<PathBuf>,
}

/// The paths that differ between two sides.
#[derive(Debug, Serialize)]
pub struct DiffOutcome {
    /// A layer id (full hex), or `index`.
    pub from: String,
    /// A layer id (full hex), or `worktree`.
    pub to: String,
    /// The files and symlinks that differ, in path order, with their sizes in bytes before and
    /// after; only those under `paths` when some were given.
    pub changes: Vec<ChangedPath>,
}

/// Compares the index with the worktree, a layer with the worktree, or two layers. The
/// worktree side is its tracked files as they are now; untracked files are not compared.
pub fn diff(repo: &Repository, common: &Common, opts: &DiffOptions) -> Result<DiffOutcome> {
    let index = repo.load_index()?;
    let layer_tree = |r: &str| -> Result<(String, ObjectId)> {
        let id = revparse::resolve(repo, r)?;
        Ok((id.to_hex(), repo.read_layer(&id)?.tree))
    };
    let mut trees = std::collections::HashMap::new();
    let mut side = |name: &str, idx: &StagingIndex| -> Result<(String, ObjectId)> {
        let built = build(idx, repo.algo())?;
        trees.extend(built.trees);
        Ok((name.to_string(), built.root))
    };
    let (from, to) = match (&opts.from, &opts.to) {
        (None, _) => (
            side("index", &index)?,
            side("worktree", &worktree_index(repo, &index)?)?,
        ),
        (Some(a), None) => (
            layer_tree(a)?,
            side("worktree", &worktree_index(repo, &index)?)?,
        ),
        (Some(a), Some(b)) => (layer_tree(a)?, layer_tree(b)?),
    };
    let scope: Vec<RepoPathBuf> = opts
        .paths
        .iter()
        .map(|p| worktree::resolve(repo.root(), &common.cwd, p))
        .collect::<Result<_>>()?;
    let changes = diff_trees(
        &Overlay {
            trees: &trees,
            repo,
        },
        Some(from.1),
        Some(to.1),
    )?
    .into_iter()
    .filter(|c| scope.is_empty() || scope.iter().any(|s| c.path.is_under(s)))
    .map(ChangedPath::from)
    .collect();
    Ok(DiffOutcome {
        from: from.0,
        to: to.0,
        changes,
    })
}

/// The tracked files as they are in the worktree now: the index with every changed file
/// re-hashed and every deleted one dropped. Untracked files are not part of it.
pub(crate) fn worktree_index(repo: &Repository, index: &StagingIndex) -> Result<StagingIndex> {
    let ingester = Ingester::hashing(repo);
    let updates: Vec<(Vec<u8>, Option<crate::index::IndexEntry>)> = index
        .entries
        .par_iter()
        .map(|(rel, e)| {
            let change = worktree_change(repo.root(), index, &ingester, rel, e)?;
            Ok(match change {
                None => None,
                Some(ChangeKind::Deleted) => Some((rel.clone(), None)),
                Some(_) => Some((
                    rel.clone(),
                    ingester.ingest(&worktree::abs(repo.root(), rel))?,
                )),
            })
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut view = StagingIndex {
        walk_cache: None,
        entries: index.entries.clone(),
        base_tree: None,
        loaded_mtime_ns: index.loaded_mtime_ns,
    };
    for (rel, e) in updates {
        match e {
            Some(e) => {
                view.entries.insert(rel, e);
            }
            None => {
                view.entries.shift_remove(&rel);
            }
        }
    }
    Ok(view)
}
