//! Finishing a checkout that did not finish. Before a checkout (or `reset --hard`) changes
//! the worktree it records its target layer in `.cairn/checkout`, and removes the file once
//! the staging index matches the worktree again. A checkout killed in between leaves some
//! files of its target written, some old files deleted, and the index and HEAD as they were:
//! without the record, the next checkout would trust the index and leave that mix behind.
//!
//! With the record, the next checkout knows which worktree files an interrupted checkout
//! changed: those whose content equals the target's entry but not the index's, and tracked
//! files that are gone where the target has none. Those hold nothing that is not stored in
//! a layer, so they are rewritten (or deleted) without counting as local changes. Everything
//! else, such as a user's edits carried over by a plain switch, is judged as usual.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::ingest::Ingester;
use crate::object::{EntryKind, TreeEntry};
use crate::read::flatten;
use crate::repo::Repository;
use crate::worktree::{self, RealDirs};

pub(super) use crate::checkout_record::{begin, end, pending};

/// Removes the files killed checkouts were writing in `.cairn/tmp` (see
/// `Materializer::for_worktree`). Safe under the writers' lock: no live checkout has any.
/// Best effort: what cannot be removed is invisible where it lies, and `gc` tries again.
pub(super) fn sweep_temp(repo: &Repository) {
    let Ok(entries) = std::fs::read_dir(repo.tmp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let stem = name
            .as_encoded_bytes()
            .strip_suffix(b".tmp")
            .unwrap_or_default();
        if stem
            .strip_prefix(TEMP_STEM.as_bytes())
            .is_some_and(|r| r.starts_with(b"-"))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The stem of the temporary files a checkout writes in `.cairn/tmp`.
pub(super) const TEMP_STEM: &str = "checkout";

/// The paths the unfinished checkouts to `layers` changed in the worktree.
pub(super) fn interrupted_paths(
    repo: &Repository,
    index: &StagingIndex,
    layers: &[ObjectId],
    real: &RealDirs,
) -> Result<HashSet<Vec<u8>>> {
    let targets: Vec<HashMap<Vec<u8>, TreeEntry>> = layers
        .iter()
        .map(|l| files_of(repo, l).map_err(|e| gone_target(repo, l, e)))
        .collect::<Result<_>>()?;
    let mut paths: BTreeSet<&[u8]> = index.entries.keys().collect();
    for t in &targets {
        paths.extend(t.keys().map(std::vec::Vec::as_slice));
    }
    let ingester = Ingester::hashing(repo);
    let found: Vec<Option<Vec<u8>>> = paths
        .into_par_iter()
        .map(|p| {
            let changed = changed_by(repo.root(), index, &targets, &ingester, real, p)?;
            Ok(changed.then(|| p.to_vec()))
        })
        .collect::<Result<_>>()?;
    Ok(found.into_iter().flatten().collect())
}

/// A recorded target that cannot be read any more (`gc` removed a layer nothing else
/// named) blocks every checkout until the user says the worktree is as they want it.
fn gone_target(repo: &Repository, layer: &ObjectId, e: Error) -> Error {
    match e {
        Error::MissingObject { .. } => Error::UnfinishedCheckout {
            what: format!(
                "an unfinished checkout's target layer {layer} is gone: check the worktree with `cairn status`, then delete this file"
            ),
            path: crate::checkout_record::path(repo),
        },
        other => other,
    }
}

/// The files and symlinks of a layer, by path.
fn files_of(repo: &Repository, layer: &ObjectId) -> Result<HashMap<Vec<u8>, TreeEntry>> {
    let tree = repo.read_layer(layer)?.tree;
    let mut all = Vec::new();
    flatten(repo, &tree, b"", &mut all)?;
    Ok(all
        .into_iter()
        .filter(|(_, e)| e.kind != EntryKind::Dir)
        .collect())
}

/// True when the worktree at `p` is what one of the interrupted checkouts made of it and
/// not what the index records.
fn changed_by(
    root: &Path,
    index: &StagingIndex,
    targets: &[HashMap<Vec<u8>, TreeEntry>],
    ingester: &Ingester,
    real: &RealDirs,
    p: &[u8],
) -> Result<bool> {
    let tracked = index.entries.get(p);
    let same_as_index = |t: &HashMap<Vec<u8>, TreeEntry>| match (t.get(p), tracked) {
        (Some(e), Some(i)) => e.id == i.file_id() && e.kind == i.kind(),
        (None, None) => true,
        _ => false,
    };
    if targets.iter().all(same_as_index) {
        return Ok(false); // no checkout had anything to change here
    }
    let path = worktree::abs(root, p);
    let stat = match real.reaches(crate::repo_path::RepoPath::new(p))? {
        true => std::fs::symlink_metadata(&path).ok(),
        false => None,
    };
    // Gone, or a directory now: deleted by a checkout whose target has no such file (and
    // perhaps a directory there). Deleting it again never touches a directory.
    let gone_by_checkout = || tracked.is_some() && targets.iter().any(|t| !t.contains_key(p));
    let Some(stat) = stat.filter(|s| !s.is_dir()) else {
        return Ok(gone_by_checkout());
    };
    let unchanged = tracked
        .is_some_and(|i| i.stat == crate::index::Stat::from_metadata(&stat) && !index.is_racy(i));
    if unchanged || !(stat.is_file() || stat.file_type().is_symlink()) {
        return Ok(false);
    }
    let Some(now) = ingester.ingest(&path)? else {
        return Ok(false);
    };
    Ok(targets.iter().any(|t| {
        t.get(p)
            .is_some_and(|e| e.id == now.file_id() && e.kind == now.kind())
    }))
}
