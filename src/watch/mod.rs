//! The file-system monitor: a background process (`cairn watch start`) that watches every
//! directory of the worktree with inotify and tells `status` and `add` which paths changed
//! since the last time they asked, so that they `lstat` those instead of every tracked file.
//!
//! Nothing here is ever needed: with no monitor answering, or any doubt (a token of another
//! monitor, a state file for another index, a damaged file or answer), a command does the
//! full stat pass it always did. What the client keeps between commands is the state file
//! (`state.rs`); what it says to the monitor is the protocol (`protocol.rs`); the monitor
//! itself is `daemon.rs`.
//!
//! Why an answer can be trusted: before answering "what changed since token T", the monitor
//! creates a cookie file in `.cairn/watch/` and waits until it reads the cookie's own event;
//! inotify delivers one instance's events in order, so by then it has read the event of
//! every change made before the question. The token it returns counts the events read, and
//! the client takes it before its stat pass: a change made during the pass is read after
//! the token, and shows the next time.

mod client;
pub mod daemon;
mod listener;
pub mod protocol;
pub mod state;

use std::path::{Path, PathBuf};

pub use client::{ask, Carry, Look};

/// Where the monitor's answers stand in its stream of events: which monitor process
/// (`instance`, random per process; 0 is none) and how many changes it had recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Token {
    /// The monitor process's random id.
    pub instance: u64,
    /// Changes it had recorded when it answered.
    pub seq: u64,
}

/// `.cairn/watch`: the socket, the state file, the monitor's lock and its cookies.
pub fn dir(cairn_dir: &Path) -> PathBuf {
    cairn_dir.join("watch")
}

/// The monitor's socket.
pub fn socket_path(cairn_dir: &Path) -> PathBuf {
    dir(cairn_dir).join("sock")
}

/// The client's state file.
pub fn state_path(cairn_dir: &Path) -> PathBuf {
    dir(cairn_dir).join("state")
}

/// Bounded reads of little-endian fields: running out is an error, never a panic.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn left(&self) -> usize {
        self.rest.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err("truncated".into());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}
