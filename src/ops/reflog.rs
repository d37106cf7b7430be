//! `cairn reflog [LINE|HEAD]`: the moves of HEAD or of a line, newest first, each with the
//! name that reaches its layer (`HEAD@{2}`).

use serde::Serialize;

use crate::error::Result;
use crate::hash::ObjectId;
use crate::repo::Repository;
use crate::revparse;

/// Which log, and how many entries.
#[derive(Debug, Clone, Default)]
pub struct ReflogOptions {
    /// `HEAD`, a line, or `lines/NAME`; HEAD when absent.
    pub reference: Option<String>,
    /// At most this many entries, newest first.
    pub limit: Option<usize>,
}

/// The entries of one log, newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReflogOutcome {
    /// Whose log: `HEAD` or the line's name.
    pub reference: String,
    /// The entries, newest first.
    pub entries: Vec<ReflogItem>,
}

/// One move.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReflogItem {
    /// The name of the layer moved to: `HEAD@{0}` for the newest.
    pub selector: String,
    /// The layer before the move; null when there was none.
    pub old: Option<ObjectId>,
    /// The layer after the move; null when there was none.
    pub new: Option<ObjectId>,
    /// When, in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// When, in ISO 8601 (UTC).
    pub time: String,
    /// What moved it.
    pub message: String,
}

/// The entries of the log `opts.reference` names, newest first.
pub fn reflog(repo: &Repository, opts: &ReflogOptions) -> Result<ReflogOutcome> {
    let name = opts.reference.as_deref().unwrap_or("HEAD");
    let log = revparse::log_for(repo, name, name)?;
    let entries = repo.refs().reflog(&log)?;
    let limit = opts.limit.unwrap_or(usize::MAX);
    let items = entries
        .into_iter()
        .rev()
        .take(limit)
        .enumerate()
        .map(|(n, e)| ReflogItem {
            selector: format!("{log}@{{{n}}}"),
            old: e.old,
            new: e.new,
            time_ns: e.time_ns,
            time: iso8601(e.time_ns),
            message: e.message,
        })
        .collect();
    Ok(ReflogOutcome {
        reference: log.to_string(),
        entries: items,
    })
}

/// `2026-12-06T12:22:35.123456789Z`.
fn iso8601(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
