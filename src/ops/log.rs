//! `cairn log`: layers from HEAD back, newest first.

use serde::Serialize;

use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::LayerCounts;
use crate::repo::Repository;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub max: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct LogEntry {
    pub id: ObjectId,
    pub parent: Option<ObjectId>,
    pub tree: ObjectId,
    pub time_ns: i64,
    pub author: String,
    pub message: String,
    pub counts: LayerCounts,
}

#[derive(Debug, Serialize)]
pub struct LogOutcome {
    pub line: Option<String>,
    pub layers: Vec<LogEntry>,
}

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
