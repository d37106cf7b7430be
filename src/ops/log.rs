//! `cairn log`: layers from HEAD back, newest first.

use serde::Serialize;

use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::LayerCounts;
use crate::repo::Repository;

/// How far back to go.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// The most layers to list; `None`: all of them, back to the first.
    pub max: Option<usize>,
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
    /// Who committed it.
    pub author: String,
    /// The whole message (`log --oneline` prints its first line).
    pub message: String,
    /// Files and bytes in its tree, and paths added, modified and deleted since its parent.
    pub counts: LayerCounts,
}

/// HEAD's history.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LogOutcome {
    /// The line HEAD is on; null when HEAD is detached.
    pub line: Option<String>,
    /// From HEAD back through the parents, newest first; empty before the first commit.
    pub layers: Vec<LogEntry>,
}

/// Lists the layers from HEAD back through their parents, at most `opts.max` of them.
pub fn log(repo: &Repository, opts: &LogOptions) -> Result<LogOutcome> {
    let (line, mut next) = repo.head()?;
    let mut layers = Vec::new();
    while let Some(id) = next {
        if opts.max.is_some_and(|m| layers.len() >= m) {
            break;
        }
        let l = repo.read_layer(&id)?;
        next = l.parent;
        layers.push(LogEntry {
            id,
            parent: l.parent,
            tree: l.tree,
            time_ns: l.time_ns,
            author: l.author,
            message: l.message,
            counts: l.counts,
        });
    }
    Ok(LogOutcome { line, layers })
}
