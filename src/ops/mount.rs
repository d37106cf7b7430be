//! `cairn mount DIR [--layer L]`: the repository's layers as a read-only file system,
//! served until unmounted or signalled; `cairn umount DIR`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::hash::ObjectId;
use crate::mount::{self, Ended, Log, MountConfig, Mounted};
use crate::remote::lazy::LazyRemote;
use crate::repo::Repository;
use crate::revparse;

/// What to mount, and how much memory to give it.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// The directory to mount on.
    pub dir: PathBuf,
    /// A layer (any name `cat` takes) to show at the root, instead of every line and tag.
    pub layer: Option<String>,
    /// Bytes of verified chunks and trees kept in memory (read-ahead included): the mount's
    /// peak is this plus a fixed baseline.
    pub cache_size: u64,
    /// Threads serving requests.
    pub threads: usize,
    /// How long a fetch of missing chunks waits for the writers' lock.
    pub lock_timeout: Duration,
}

/// How a mount ended.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MountOutcome {
    /// The mount point, absolute.
    pub dir: PathBuf,
    /// The layer shown at the root, with `--layer`.
    pub layer: Option<ObjectId>,
    /// True when the repository has a remote: chunks it lacks are fetched from there when
    /// first read (a partial clone).
    pub lazy: bool,
    /// `unmounted` (from outside) or `signal` (SIGINT, SIGTERM, SIGHUP; cairn unmounted
    /// it); with `--daemon`, `running`: the mount is up and served by `pid`.
    pub ended: String,
    /// The process serving the mount.
    pub pid: u32,
}

/// What `umount` did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UmountOutcome {
    /// The mount point that was unmounted.
    pub dir: PathBuf,
}

/// Mounts the repository; returns the live mount once the kernel accepted it, and the
/// outcome so far.
pub fn mount(repo: Repository, opts: &MountOptions, log: Log) -> Result<(Mounted, MountOutcome)> {
    let layer = match &opts.layer {
        Some(spec) => Some(revparse::resolve(&repo, spec)?),
        None => None,
    };
    let lazy = LazyRemote::for_repo(&repo, opts.lock_timeout)?;
    let outcome = MountOutcome {
        dir: opts.dir.clone(),
        layer,
        lazy: lazy.is_some(),
        ended: String::new(),
        pid: std::process::id(),
    };
    let cfg = MountConfig {
        dir: opts.dir.clone(),
        layer,
        cache_size: opts.cache_size,
        threads: opts.threads,
        lazy,
        log,
    };
    let mounted = mount::mount(repo, cfg)?;
    let outcome = MountOutcome {
        dir: mounted.dir().to_path_buf(),
        ..outcome
    };
    Ok((mounted, outcome))
}

/// Serves `mounted` until it is unmounted or a signal ends it.
pub fn serve(mounted: Mounted, mut outcome: MountOutcome) -> Result<MountOutcome> {
    outcome.ended = match mounted.wait()? {
        Ended::Unmounted => "unmounted",
        Ended::Signal => "signal",
    }
    .into();
    Ok(outcome)
}

/// Unmounts the cairn mount at `dir`.
pub fn umount(dir: &std::path::Path) -> Result<UmountOutcome> {
    mount::umount(dir)?;
    Ok(UmountOutcome {
        dir: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
    })
}
