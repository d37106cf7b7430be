//! `cairn show`: one layer, with the paths it changed.

use serde::Serialize;

use crate::decorate::{Decorations, LayerRefs};
use crate::diff::{diff_trees, ChangedPath};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::LayerCounts;
use crate::patch::{changed_paths, NewSide, PatchOptions};
use crate::renames::{detect, RenameOptions, StoreLists};
use crate::repo::Repository;
use crate::revparse;

/// What `show` finds and computes beyond the layer itself.
#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// How renames and copies are found.
    pub renames: RenameOptions,
    /// Content diffs, when asked for (`-p`).
    pub patch: Option<PatchOptions>,
}

/// One layer, and the paths it changed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// The same time as ISO 8601 in UTC (`2026-12-06T12:00:00Z`).
    pub time: String,
    /// The lines, tags and HEAD that point at this layer.
    pub refs: LayerRefs,
    /// The whole message.
    pub message: String,
    /// Files and bytes in its tree, and paths added, modified and deleted since its parent.
    pub counts: LayerCounts,
    /// The paths it changed against its parent's tree (against nothing, so every path is
    /// added, for a first layer), in path order; a rename is one entry at its new path.
    pub changes: Vec<ChangedPath>,
    /// Too many unpaired files to look for renames by shared chunks.
    pub rename_limit_exceeded: bool,
}

/// Reads the layer that `layer` names and diffs its tree against its parent's, with renames
/// found and no patches.
pub fn show(repo: &Repository, layer: &str) -> Result<ShowOutcome> {
    show_with(repo, layer, &ShowOptions::default())
}

/// As [`show`], with the rename and patch options.
pub fn show_with(repo: &Repository, layer: &str, opts: &ShowOptions) -> Result<ShowOutcome> {
    let id = revparse::resolve(repo, layer)?;
    let l = repo.read_layer(&id)?;
    let parent_tree = l
        .parent
        .map(|p| repo.read_layer(&p))
        .transpose()?
        .map(|p| p.tree);
    let changes = diff_trees(repo, parent_tree, Some(l.tree))?;
    let lists = StoreLists {
        repo,
        known: Default::default(),
    };
    let found = detect(changes, &opts.renames, &lists)?;
    let changes = changed_paths(
        repo,
        found.changes,
        opts.patch.as_ref(),
        &lists,
        NewSide::Store,
    )?;
    Ok(ShowOutcome {
        id,
        parent: l.parent,
        tree: l.tree,
        author: l.author,
        time_ns: l.time_ns,
        time: crate::date::iso8601(l.time_ns),
        refs: Decorations::load(&repo.refs())?.of(&id),
        message: l.message,
        counts: l.counts,
        changes,
        rename_limit_exceeded: found.limit_exceeded,
    })
}
