//! Fault injection for tests, driven by the environment and read once per process. Only
//! a build with the `failpoints` feature reads the environment; in any other build every
//! point is inert, so the shipped binary cannot be made to abort from outside.
//!
//! `CAIRN_FAILPOINT=NAME` makes the process abort (as if killed) the first time it reaches
//! the point `NAME`; `NAME@N` the `N`-th time. `NAME=pause` stops there instead until the
//! process is killed, and `NAME=sleepMS` waits MS milliseconds and goes on, for tests of
//! what other processes see meanwhile. Points checked with [`error`] instead make the
//! operation fail there with "no space left on device", as a full disk would.
//! `CAIRN_TEST_PACK_TARGET=BYTES` closes packs at that size instead of the default, so tests
//! get several packs out of little data. `CAIRN_TEST_CHECKPOINT_MS=MS` makes a long add
//! checkpoint that often instead of every ten seconds.
//!
//! Points: `add:before-index`, `add:after-checkpoint`; `commit:before-ref`, `commit:before-index`;
//! `forget:before-ref` (new layers published, line not moved), `forget:before-tags`;
//! `checkout:after-write` (after each file written), `checkout:before-head`,
//! `checkout:before-index`; `gc:after-new-packs`, `gc:after-first-delete`; `refs:after-log` (each reference move,
//! between its reflog entry and the reference);
//! `pack:before-rename`, `pack:before-index`, `pack:after-index` (closing each pack);
//! `midx:before-write`, `midx:after-write` (each multi-pack index or tail written),
//! `midx:after-fold` (the tail folded into the base, the tail not yet deleted);
//! `merge:after-new-packs` (a merge after a commit; `gc:after-first-delete` also fires there);
//! `atomic:before-rename` (each small file replaced: pack indexes, refs, HEAD, the staging
//! index); `index:mid-write` (each 256 KiB block of a staging index handed to its writer, and
//! the last). Error points: `pack:write-error` (each record appended), `atomic:write-error`,
//! `index:write-error` (each block of a staging index, on its writer thread).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

// Without the feature nothing is ever armed, so these are built by no one.
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
struct Armed {
    name: String,
    /// Fire at this hit of the point, counting from 1.
    at: u64,
    hits: AtomicU64,
    action: Action,
}

#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
enum Action {
    Abort,
    Pause,
    Sleep(Duration),
}

#[cfg(not(feature = "failpoints"))]
fn armed() -> Option<&'static Armed> {
    None
}

#[cfg(feature = "failpoints")]
fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let v = std::env::var("CAIRN_FAILPOINT").ok()?;
            let (v, action) = match v.split_once('=') {
                None => (v.as_str(), Action::Abort),
                Some((v, "abort")) => (v, Action::Abort),
                Some((v, "pause")) => (v, Action::Pause),
                Some((v, a)) => {
                    let ms = a.strip_prefix("sleep")?.parse().ok()?;
                    (v, Action::Sleep(Duration::from_millis(ms)))
                }
            };
            let (name, at) = match v.rsplit_once('@') {
                Some((name, n)) => (name, n.parse().ok()?),
                None => (v, 1),
            };
            Some(Armed {
                name: name.to_string(),
                at,
                hits: AtomicU64::new(0),
                action,
            })
        })
        .as_ref()
}

/// True when `name` is armed and this is the hit it fires at.
fn fires(name: &str) -> bool {
    match armed() {
        Some(a) if a.name == name => a.hits.fetch_add(1, Ordering::Relaxed) + 1 == a.at,
        _ => false,
    }
}

/// Aborts (or pauses) the process when the environment names this fail point.
pub(crate) fn hit(name: &str) {
    if !fires(name) {
        return;
    }
    match armed().map(|a| &a.action) {
        Some(Action::Pause) => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        Some(Action::Sleep(d)) => std::thread::sleep(*d),
        _ => std::process::abort(),
    }
}

/// Fails with ENOSPC when the environment names this fail point.
pub(crate) fn error(name: &str) -> std::io::Result<()> {
    if fires(name) {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Ok(())
}

/// The pack size tests ask for, if any.
pub(crate) fn pack_target() -> Option<u64> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    static TARGET: OnceLock<Option<u64>> = OnceLock::new();
    *TARGET.get_or_init(|| std::env::var("CAIRN_TEST_PACK_TARGET").ok()?.parse().ok())
}

/// Objects at which tests close a pack (`CAIRN_TEST_PACK_ENTRIES`), if they set it.
pub(crate) fn pack_entries() -> Option<usize> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    static ENTRIES: OnceLock<Option<usize>> = OnceLock::new();
    *ENTRIES.get_or_init(|| std::env::var("CAIRN_TEST_PACK_ENTRIES").ok()?.parse().ok())
}

/// How often tests ask a long add to checkpoint (`CAIRN_TEST_CHECKPOINT_MS`), if they do.
pub(crate) fn checkpoint_every() -> Option<Duration> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    static EVERY: OnceLock<Option<u64>> = OnceLock::new();
    let ms = *EVERY.get_or_init(|| std::env::var("CAIRN_TEST_CHECKPOINT_MS").ok()?.parse().ok());
    ms.map(Duration::from_millis)
}
