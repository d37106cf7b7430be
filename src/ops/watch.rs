//! `cairn watch`: the file-system monitor of a worktree (src/watch/). `start` is the CLI's
//! (it spawns `cairn watch run` in the background and waits until it is ready); here are
//! what it runs, and `status` and `stop`. No other command ever starts a monitor.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::repo::Repository;
use crate::watch::daemon::{self, Ended, Ready};
use crate::watch::protocol::{Answer, Question};

/// The monitor of a worktree, as a watch command leaves it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchOutcome {
    /// Whether a monitor answers for this worktree now.
    pub running: bool,
    /// What the command did: `"started"`, `"already-running"`, `"stopped"`,
    /// `"not-running"` (stop, with nothing to stop) or `"status"`.
    pub action: String,
    /// The monitor's process id; null when none runs.
    pub pid: Option<u32>,
    /// Directories it watches; null when none runs.
    pub directories: Option<u32>,
    /// Why it answers "everything may have changed" to every question (watches ran out),
    /// so that status and add check every file; null when it answers exactly.
    pub degraded: Option<String>,
    /// Its socket.
    pub socket: PathBuf,
}

impl WatchOutcome {
    fn none(repo: &Repository, action: &str) -> WatchOutcome {
        WatchOutcome {
            running: false,
            action: action.into(),
            pid: None,
            directories: None,
            degraded: None,
            socket: crate::watch::socket_path(repo.dir()),
        }
    }
}

/// Whether a monitor runs for `repo`'s worktree, and how.
pub fn status(repo: &Repository) -> Result<WatchOutcome> {
    let Ok(Answer::Status(_, health)) = crate::watch::ask(repo.dir(), Question::Status) else {
        return Ok(WatchOutcome::none(repo, "status"));
    };
    Ok(WatchOutcome {
        running: true,
        action: "status".into(),
        pid: Some(health.pid),
        directories: Some(health.directories),
        degraded: (!health.reason.is_empty()).then_some(health.reason),
        socket: crate::watch::socket_path(repo.dir()),
    })
}

/// Ends the monitor of `repo`'s worktree, returning once its socket is gone (a few
/// seconds at most); nothing to do when none runs.
pub fn stop(repo: &Repository) -> Result<WatchOutcome> {
    let Ok(Answer::Stopping(_, pid)) = crate::watch::ask(repo.dir(), Question::Stop) else {
        return Ok(WatchOutcome::none(repo, "not-running"));
    };
    let socket = crate::watch::socket_path(repo.dir());
    let deadline = Instant::now() + Duration::from_secs(5);
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(WatchOutcome {
        pid: Some(pid),
        ..WatchOutcome::none(repo, "stopped")
    })
}

/// Runs the monitor in this process until it is stopped or the worktree or repository go
/// away; `ready` gets the outcome once it answers on its socket.
pub fn run(repo: &Repository, ready: impl FnOnce(&WatchOutcome)) -> Result<Ended> {
    daemon::run(repo.root(), repo.dir(), |r: Ready| {
        ready(&WatchOutcome {
            running: true,
            action: "started".into(),
            pid: Some(r.pid),
            directories: Some(u32::try_from(r.directories).unwrap_or(u32::MAX)),
            degraded: None,
            socket: crate::watch::socket_path(repo.dir()),
        });
    })
}
