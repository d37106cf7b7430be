//! The staged changes: the staging index built into trees (in memory) and compared with
//! HEAD's tree. `status` reports them, `checkout` refuses to lose them and `commit` writes
//! them; all three ask here.

use crate::build::{build_cached, Built};
use crate::diff::{diff_trees, Change, Overlay};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::repo::Repository;

/// The index as trees, and how it differs from the tree it was compared with.
pub(crate) struct Stage {
    pub built: Built,
    /// Sorted by path.
    pub changes: Vec<Change>,
}

/// The root tree of `layer`, if there is one (HEAD of an empty repository has none).
pub(crate) fn layer_tree(repo: &Repository, layer: Option<ObjectId>) -> Result<Option<ObjectId>> {
    Ok(layer
        .map(|l| repo.read_layer(&l))
        .transpose()?
        .map(|l| l.tree))
}

/// Builds the index's trees (but those it remembers and the store holds) and compares them
/// with `head_tree`; the diff reads the trees not built here from the store.
pub(crate) fn stage(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
) -> Result<Stage> {
    let built = build_cached(index, repo.algo(), &|id| repo.store.contains(id))?;
    let overlay = Overlay {
        trees: &built.trees,
        repo,
    };
    let changes = diff_trees(&overlay, head_tree, Some(built.root))?;
    Ok(Stage { built, changes })
}

/// Only the changes: none, without building anything, when the index still records that
/// it was made from `head_tree` and nothing was staged since.
pub(crate) fn staged_changes(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
) -> Result<Vec<Change>> {
    if head_tree.is_some() && index.base_tree == head_tree {
        return Ok(Vec::new());
    }
    Ok(stage(repo, index, head_tree)?.changes)
}
