//! `cairn diff`: index against worktree (no layer), a layer against the worktree (one), or
//! two layers. Every side becomes a tree (the worktree's and the index's are built in
//! memory), and trees are compared skipping shared subtrees.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use crate::build::build;
use crate::diff::{diff_trees, ChangeKind, ChangedPath, Overlay};
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::ingest::Ingester;
use crate::patch::{changed_paths, NewSide, PatchOptions};
use crate::renames::{detect, RenameOptions, StoreLists};
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;
use crate::revparse;
use crate::session::Common;
use crate::worktree::{self, worktree_change};

/// Which two sides to compare, and where to look.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// The layer to compare from; `None`: the index, against the worktree (`to` is then
    /// ignored), or HEAD with `cached`.
    pub from: Option<String>,
    /// The layer to compare to; `None`: the worktree.
    pub to: Option<String>,
    /// Compare a layer (`from`, HEAD by default) with the index, as git's `--cached`.
    pub cached: bool,
    /// Limit the output to these paths (as typed, relative to the current directory).
    pub paths: Vec<PathBuf>,
    /// How renames and copies are found.
    pub renames: RenameOptions,
    /// Content diffs, when asked for (`-p`).
    pub patch: Option<PatchOptions>,
}

/// The paths that differ between two sides.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DiffOutcome {
    /// A layer id (full hex), `index`, or `empty` (`--cached` before the first commit).
    pub from: String,
    /// A layer id (full hex), `index` or `worktree`.
    pub to: String,
    /// The files and symlinks that differ, in path order, with their sizes in bytes before and
    /// after; only those under `paths` when some were given. A rename is one entry at its
    /// new path, with `old_path` and `similarity`.
    pub changes: Vec<ChangedPath>,
    /// More unpaired files than the rename limit: renames by shared chunks were not looked
    /// for (renames of unchanged content were).
    pub rename_limit_exceeded: bool,
}

impl DiffOutcome {
    /// Whether the two sides differ (`--exit-code`).
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Compares the index with the worktree, a layer with the worktree, a layer with the index
/// (`cached`), or two layers. The worktree side is its tracked files as they are now;
/// untracked files are not compared.
pub fn diff(repo: &Repository, common: &Common, opts: &DiffOptions) -> Result<DiffOutcome> {
    if opts.cached && opts.to.is_some() {
        return Err(Error::BadArgument {
            what: "--cached compares one layer with the index: name at most one layer".into(),
            path: repo.root().to_path_buf(),
        });
    }
    let index = repo.load_index()?;
    let layer_tree = |r: &str| -> Result<(String, Option<ObjectId>)> {
        let id = revparse::resolve(repo, r)?;
        Ok((id.to_hex(), Some(repo.read_layer(&id)?.tree)))
    };
    // `--cached` before the first commit compares the index with nothing, as git's empty
    // tree: every staged path is added.
    let head_or_empty = || -> Result<(String, Option<ObjectId>)> {
        match repo.head()?.1 {
            Some(_) => layer_tree("HEAD"),
            None => Ok(("empty".to_string(), None)),
        }
    };
    let mut trees = HashMap::new();
    let mut side = |name: &str, idx: &StagingIndex| -> Result<(String, Option<ObjectId>)> {
        let built = build(idx, repo.algo())?;
        trees.extend(built.trees);
        Ok((name.to_string(), Some(built.root)))
    };
    let work = |index: &StagingIndex| worktree_index(repo, index);
    let (from, to, worktree_view) = match (&opts.from, &opts.to, opts.cached) {
        (from, _, true) => (
            match from {
                Some(f) => layer_tree(f)?,
                None => head_or_empty()?,
            },
            side("index", &index)?,
            None,
        ),
        (None, _, false) => {
            let w = work(&index)?;
            (side("index", &index)?, side("worktree", &w)?, Some(w))
        }
        (Some(a), None, false) => {
            let w = work(&index)?;
            (layer_tree(a)?, side("worktree", &w)?, Some(w))
        }
        (Some(a), Some(b), false) => (layer_tree(a)?, layer_tree(b)?, None),
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
        from.1,
        to.1,
    )?
    .into_iter()
    .filter(|c| scope.is_empty() || scope.iter().any(|s| c.path.is_under(s)))
    .collect();
    // Chunk lists of staged and hashed content may not be in the store as file objects.
    let mut known = HashMap::new();
    for idx in std::iter::once(&index).chain(worktree_view.as_ref()) {
        for e in idx.entries.values() {
            known.insert(e.file_id(), e.chunks());
        }
    }
    let lists = StoreLists { repo, known };
    let found = detect(changes, &opts.renames, &lists)?;
    let new_side = match worktree_view {
        Some(_) => NewSide::Worktree,
        None => NewSide::Store,
    };
    let changes = changed_paths(repo, found.changes, opts.patch.as_ref(), &lists, new_side)?;
    Ok(DiffOutcome {
        from: from.0,
        to: to.0,
        changes,
        rename_limit_exceeded: found.limit_exceeded,
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
                Some(ChangeKind::Deleted) => Some((rel.to_vec(), None)),
                Some(_) => Some((
                    rel.to_vec(),
                    ingester.ingest(&worktree::abs(repo.root(), rel))?,
                )),
            })
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut view = index.view();
    let mut deleted = Vec::new();
    for (rel, e) in updates {
        match e {
            Some(e) => {
                view.entries.insert(rel, e);
            }
            None => deleted.push(rel),
        }
    }
    view.entries.remove_all(&deleted);
    Ok(view)
}
