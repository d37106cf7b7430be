//! Progress reporting, injected by the caller. The library never draws anything itself.

/// Receives progress from long operations. Implementations must be cheap: `advance` is
/// called from worker threads once per file.
pub trait Progress: Sync {
    /// A phase starts, with its totals when known.
    fn begin(&self, _phase: &'static str, _files: u64, _bytes: u64) {}
    /// Some files and bytes of the current phase are done: these are increments, not totals.
    fn advance(&self, _files: u64, _bytes: u64) {}
    /// The current phase is over.
    fn end(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
