//! `cairn show`: one layer, with the paths it changed.

use serde::Serialize;

use crate::diff::{diff_trees, ChangedPath};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::LayerCounts;
use crate::repo::Repository;
use crate::revparse;

/// One layer, and the paths it changed.
#[derive(Debug, Serialize)]
pub struct ShowOutcome {
    /// The layer's id, in hex.
    pub id: ObjectId,
    /// The layer before it; null for the first layer of a history.
    pub parent: Option<ObjectId>,
    /// The id of its root tree.
    pub tree: ObjectId,
    /// Who committed it.
    pub author: String,
    /// When it was committed: nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
    /// The whole message.
    pub message: String,
    /// Files and bytes in its tree, and paths added, modified and deleted since its parent.
    pub counts: LayerCounts,
    /// The paths it changed against its parent's tree (against nothing, so every path is
    /// added, for a first layer), in path order.
    pub changes: Vec<ChangedPath>,
}

/// Reads the layer that `layer` names and diffs its tree against its parent's.
pub fn show(repo: &Repository, layer: &str) -> Result<ShowOutcome> {
    let id = revparse::resolve(repo, layer)?;
    let l = repo.read_layer(&id)?;
    let parent_tree = l
        .parent
        .map(|p| repo.read_layer(&p))
        .transpose()?
        .map(|p| p.tree);
    let changes = diff_trees(repo, parent_tree, Some(l.tree))?
        .into_iter()
        .map(ChangedPath::from)
        .collect();
    Ok(ShowOutcome {
        id,
        parent: l.parent,
        tree: l.tree,
        author: l.author,
        time_ns: l.time_ns,
        message: l.message,
        counts: l.counts,
        changes,
    })
}
