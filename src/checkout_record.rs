//! `.cairn/checkout`: the target layers of checkouts (and `reset --hard`s) that changed the
//! worktree and did not finish, one hex id and `\n` each, oldest first (FORMAT.md). Written
//! atomically before the worktree changes, removed once the staging index matches it again.
//! `checkout` reads it to finish an interrupted one (checkout/recover.rs); `gc` keeps
//! the layers it names, since the next checkout needs them.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::repo::Repository;

/// Where the record lives: `.cairn/checkout`.
pub(crate) fn path(repo: &Repository) -> PathBuf {
    repo.dir().join("checkout")
}

/// The target layers of checkouts that did not finish, oldest first (usually none).
pub(crate) fn pending(repo: &Repository) -> Result<Vec<ObjectId>> {
    let path = path(repo);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("could not read the checkout record", path)(e)),
    };
    text.lines()
        .map(|l| {
            l.parse::<ObjectId>().map_err(|_| {
                Error::corrupt("checkout record", &path, format!("not a layer id: {l:?}"))
            })
        })
        .collect()
}

/// Records `target` (after the layers of earlier unfinished checkouts, whose files may still
/// be in the worktree) before the worktree changes. Atomic: the record is whole or absent.
pub(crate) fn begin(repo: &Repository, pending: &[ObjectId], target: ObjectId) -> Result<()> {
    let mut text = String::new();
    for id in pending.iter().filter(|id| **id != target).chain([&target]) {
        text.push_str(&id.to_hex());
        text.push('\n');
    }
    fsutil::write_atomic(&repo.tmp_dir(), &path(repo), text.as_bytes())
}

/// The worktree and the index agree again. Not synced: should the removal be lost in a
/// crash, the next checkout looks for changes and finds none.
pub(crate) fn end(repo: &Repository) -> Result<()> {
    match std::fs::remove_file(path(repo)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(
            "could not remove the checkout record",
            path(repo),
        )(e)),
        _ => Ok(()),
    }
}
