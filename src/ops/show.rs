//! `cairn show`: one layer, with the paths it changed.

use serde::Serialize;

use crate::diff::{diff_trees, ChangedPath};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::LayerCounts;
use crate::repo::Repository;
use crate::revparse;

#[derive(Debug, Serialize)]
pub struct ShowOutcome {
    pub id: ObjectId,
    pub parent: Option<ObjectId>,
    pub tree: ObjectId,
    pub author: String,
    pub time_ns: i64,
    pub message: String,
    pub counts: LayerCounts,
    pub changes: Vec<ChangedPath>,
}

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
