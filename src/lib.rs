//! cairn: a content-addressed, layered store for files and datasets.
//!
//! The library holds every operation (`ops`) and the on-disk formats; it never prints and
//! never reads the command line. The `cairn` binary renders what the operations return.

pub mod archive;
pub mod build;
mod checkout;
mod checkout_record;
pub mod chunk;
mod clock;
pub mod config;
pub mod date;
pub mod decorate;
pub mod diff;
mod error;
mod failpoint;
mod fsutil;
pub use fsutil::purge_freed_memory_at_once;
pub mod hash;
mod history;
pub mod index;
mod ingest;
pub mod integrity;
pub mod layer_graph;
mod materialize;
pub mod merkle;
pub mod mount;
pub mod object;
pub mod ops;
pub mod pack;
pub mod patch;
pub mod pathspec;
pub mod progress;
pub mod proof;
mod reach;
pub mod read;
pub mod reflog;
pub mod refs;
pub mod remote;
pub mod renames;
pub mod repo;
pub mod repo_path;
pub mod resume;
pub mod retention;
mod revparse;
pub mod session;
pub mod settings;
mod spec;
mod stage;
#[cfg(test)]
mod testutil;
mod walk_cache;
pub mod watch;
pub mod worktree;

pub use error::{Error, Result};
pub use hash::{HashAlgo, ObjectId};
pub use progress::{NoProgress, Progress, Unit};
pub use repo::Repository;
