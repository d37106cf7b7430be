//! Layers as a read-only file system through FUSE (`cairn mount`).
//!
//! `cache.rs` keeps verified chunks and trees under one byte budget (`--cache-size`),
//! `dir.rs` keeps verified trees whole and reads entries in place, `inodes.rs` numbers
//! entries by ranges so nothing is allocated per file, `refs.rs` reads lines, tags and
//! layers afresh at each lookup, `files.rs` serves byte ranges from the cache with
//! read-ahead (and, in a partial clone, fetches missing chunks from the
//! remote), `fs.rs` answers the kernel, and `session.rs` mounts, waits and unmounts.

mod cache;
mod dir;
mod files;
mod fs;
mod inodes;
mod refs;
mod session;

use std::sync::Arc;

pub use session::{mount, umount, Ended, MountConfig, Mounted};

/// Where the mount says what went wrong while serving (a damaged chunk, a failed fetch):
/// the reader gets EIO, the person running the mount gets this line.
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;
