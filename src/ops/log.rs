//! `cairn log`: layers from HEAD (or any layer) back, newest first; optionally only those
//! that changed some paths, or fall in a time window, with the paths each changed.

use std::path::PathBuf;

use serde::Serialize;

use crate::date;
use crate::decorate::{Decorations, LayerRefs};
use crate::diff::ChangedPath;
use crate::error::Result;
use crate::hash::ObjectId;
use crate::history::{PathChanges, VerifiedTrees};
use crate::layer_graph::Parents;
use crate::object::{Layer, LayerCounts};
use crate::patch::{changed_paths, NewSide, PatchOptions};
use crate::renames::{detect, RenameOptions, StoreLists};
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;
use crate::revparse;
use crate::session::Common;
use crate::worktree;

/// Where to start, how far back to go and which layers to keep.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// The layer to start from (any reference `revparse` reads); `None`: HEAD.
    pub start: Option<String>,
    /// The most layers to list; `None`: all of them, back to the first.
    pub max: Option<usize>,
    /// Only layers that changed something at or below these paths (as typed, relative to
    /// the current directory; they need not exist now). Empty: every layer.
    pub paths: Vec<PathBuf>,
    /// Only layers made at or after this instant (nanoseconds since the epoch).
    pub since_ns: Option<i64>,
    /// Only layers made at or before this instant (nanoseconds since the epoch).
    pub until_ns: Option<i64>,
    /// Report each layer's changed paths (below `paths` when some are given).
    pub changes: bool,
    /// How renames among those changes are found.
    pub renames: RenameOptions,
    /// With `Some`, each change carries its content patch.
    pub patch: Option<PatchOptions>,
}

/// One layer as stored.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LogEntry {
    /// The layer's id, in hex.
    pub id: ObjectId,
    /// The layer before it; null for the first layer of a history.
    pub parent: Option<ObjectId>,
    /// The id of its root tree.
    pub tree: ObjectId,
    /// When it was committed: nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
    /// When it was committed, ISO 8601 in UTC to the second: `2026-12-06T12:00:00Z`.
    pub time: String,
    /// Who committed it.
    pub author: String,
    /// The whole message (`log --oneline` prints its first line).
    pub message: String,
    /// Files and bytes in its tree, and paths added, modified and deleted since its parent.
    pub counts: LayerCounts,
    /// The references pointing at it: `{"head": bool, "lines": [...], "tags": [...]}`.
    pub refs: LayerRefs,
    /// With `--stat`, `--name-status` or `--name-only`: the paths it changed against its
    /// parent (below the paths asked for), in path order; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<ChangedPath>>,
}

/// A history, newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LogOutcome {
    /// The line HEAD is on; null when HEAD is detached.
    pub line: Option<String>,
    /// From the start layer back through the parents, newest first, those kept by the
    /// paths and the time window; empty before the first commit.
    pub layers: Vec<LogEntry>,
}

/// Lists the layers from `opts.start` (default HEAD) back through their parents, newest
/// first, at most `opts.max` of them. Layer times need not grow along the chain (clocks
/// are wrong, histories are imported), so the time window filters every layer and never
/// ends the walk early.
pub fn log(repo: &Repository, common: &Common, opts: &LogOptions) -> Result<LogOutcome> {
    let (line, head) = repo.head()?;
    let mut next = match &opts.start {
        Some(spec) => Some(revparse::resolve(repo, spec)?),
        None => head,
    };
    let paths: Vec<RepoPathBuf> = opts
        .paths
        .iter()
        .map(|p| worktree::resolve(repo.root(), &common.cwd, p))
        .collect::<Result<_>>()?;
    let decorations = Decorations::load(&repo.refs())?;
    let trees = VerifiedTrees::new(repo);
    let mut changes = PathChanges::new(&trees, repo.algo(), &paths);
    let mut layers = Vec::new();
    // Only a walk that may skip layers gains from the graph: one that lists every layer
    // reads each object anyway.
    let skips = !paths.is_empty() || opts.since_ns.is_some() || opts.until_ns.is_some();
    let mut walk = Walk {
        repo,
        parents: match skips {
            true => Parents::new(repo),
            false => Parents::objects_only(repo),
        },
        read_ahead: None,
    };
    while let Some(id) = next {
        if opts.max.is_some_and(|m| layers.len() >= m) {
            break;
        }
        let step = walk.step(&id)?;
        next = step.parent;
        if !in_window(opts, step.time_ns) {
            continue;
        }
        let changed = if paths.is_empty() && !opts.changes {
            None
        } else {
            let parent_tree = step.parent.map(|p| walk.tree_ahead(&p)).transpose()?;
            let c = changes.changes(parent_tree, step.tree)?;
            if !paths.is_empty() && c.is_empty() {
                continue;
            }
            if opts.changes {
                // Renames and patches as show finds and writes them.
                let lists = StoreLists {
                    repo,
                    known: Default::default(),
                };
                let found = detect(c, &opts.renames, &lists)?;
                let patch = opts.patch.as_ref();
                Some(changed_paths(
                    repo,
                    found.changes,
                    patch,
                    &lists,
                    NewSide::Store,
                )?)
            } else {
                Some(c.into_iter().map(ChangedPath::from).collect())
            }
        };
        let refs = decorations.of(&id);
        let l = match step.layer {
            Some(l) => l,
            None => repo.read_layer(&id)?,
        };
        layers.push(entry(id, l, refs, changed.filter(|_| opts.changes)));
    }
    Ok(LogOutcome { line, layers })
}

/// The walk down the parents: each layer's parent, tree and time from the layer graph
/// where it lists the layer (the object is read only for a layer listed), else from the
/// object. The parent read to compare trees is kept: it is the next layer of the walk.
struct Walk<'r> {
    repo: &'r Repository,
    parents: Parents<'r>,
    read_ahead: Option<(ObjectId, Layer)>,
}

/// One layer of the walk; `layer` when its object was read.
struct Step {
    parent: Option<ObjectId>,
    tree: ObjectId,
    time_ns: i64,
    layer: Option<Layer>,
}

impl Walk<'_> {
    fn step(&mut self, id: &ObjectId) -> Result<Step> {
        if let Some((parent, tree, time_ns)) = self.parents.listed(id) {
            return Ok(Step {
                parent,
                tree,
                time_ns,
                layer: None,
            });
        }
        let l = match self.read_ahead.take() {
            Some((ahead, l)) if ahead == *id => l,
            _ => self.repo.read_layer(id)?,
        };
        Ok(Step {
            parent: l.parent,
            tree: l.tree,
            time_ns: l.time_ns,
            layer: Some(l),
        })
    }

    /// The tree of the layer `id`, the next one of the walk.
    fn tree_ahead(&mut self, id: &ObjectId) -> Result<ObjectId> {
        if let Some((_, tree, _)) = self.parents.listed(id) {
            return Ok(tree);
        }
        let l = self.repo.read_layer(id)?;
        let tree = l.tree;
        self.read_ahead = Some((*id, l));
        Ok(tree)
    }
}

fn in_window(opts: &LogOptions, time_ns: i64) -> bool {
    opts.since_ns.is_none_or(|s| time_ns >= s) && opts.until_ns.is_none_or(|u| time_ns <= u)
}

fn entry(id: ObjectId, l: Layer, refs: LayerRefs, changes: Option<Vec<ChangedPath>>) -> LogEntry {
    LogEntry {
        id,
        parent: l.parent,
        tree: l.tree,
        time_ns: l.time_ns,
        time: date::iso8601(l.time_ns),
        author: l.author,
        message: l.message,
        counts: l.counts,
        refs,
        changes,
    }
}
