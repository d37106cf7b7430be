//! Progress reporting, injected by the caller. The library never draws anything itself.

/// What a phase counts, besides bytes: a bar must not call packs files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Files and symlinks of a tree or the worktree.
    Files,
    /// Pack files.
    Packs,
    /// Chunks of file content.
    Chunks,
    /// Stored objects: files, trees and layers.
    Objects,
}

impl Unit {
    /// The noun for `n` of them: "1 file", "2 files".
    pub fn noun(self, n: u64) -> &'static str {
        let (one, many) = match self {
            Unit::Files => ("file", "files"),
            Unit::Packs => ("pack", "packs"),
            Unit::Chunks => ("chunk", "chunks"),
            Unit::Objects => ("object", "objects"),
        };
        if n == 1 {
            one
        } else {
            many
        }
    }
}

/// Receives progress from long operations. Implementations must be cheap: `advance` is
/// called from worker threads once per file and once per chunk of a large file.
pub trait Progress: Sync {
    /// A phase starts: `items` of `unit` and `bytes` in all, each 0 when not known.
    fn begin(&self, _phase: &'static str, _unit: Unit, _items: u64, _bytes: u64) {}
    /// Some items and bytes of the current phase are done: increments, not totals. Bytes
    /// may come before the item they belong to is done (a large file, chunk by chunk).
    fn advance(&self, _items: u64, _bytes: u64) {}
    /// The current phase is over.
    fn end(&self) {}
    /// True when totals are worth some work to compute (a bar is drawn): an operation may
    /// then `lstat` what it is about to read to give a byte total.
    fn wants_totals(&self) -> bool {
        false
    }
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
