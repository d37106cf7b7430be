//! Keeping the multi-pack index in step with the packs, under the writers' lock.
//!
//! Readers take the packs it names as the packs present (listing `packs/` costs milliseconds
//! with thousands of packs), look up packs it does not name through their own indexes once
//! a miss made them list `packs/` (as git does), and do not use a table that names a pack
//! that is gone; so it never gives a wrong answer.
//!
//! It is two files of the same format: the base (`multi-pack-index`) and a tail
//! (`multi-pack-index-tail`) over the packs published since the base was written, as git's
//! incremental multi-pack index chains. A writer of one small pack rewrites only the tail
//! (a few KiB), not the base (600 KiB over 2,000 packs, whose write and sync made a one-file
//! commit 1.3x slower than in a repository of few packs); the tail is folded into the base
//! once it names more than [`TAIL_PACKS`] packs or half as many objects as the base, so
//! the base is rewritten once per many writes. Both always name every pack between them.

use std::path::Path;

use super::index::PackIndex;
use super::midx::{write_merged, Midx, MIDX_FILE, TAIL_FILE};
use crate::error::{IoContext, Result};
use crate::failpoint;
use crate::hash::{HashAlgo, ObjectId};

/// The number of packs from which there is a multi-pack index at all: fewer cost readers
/// a few index opens, less than writing a table.
pub const MIDX_SLACK: usize = 8;

/// A tail naming more packs than this is folded into the base: readers search the tail
/// after the base, and a long tail costs writers more to rewrite each time.
pub const TAIL_PACKS: usize = 64;

/// Puts the multi-pack index in step with the packs: writes the tail over the packs that
/// neither table names, folds it into the base when it grows past [`TAIL_PACKS`] packs or
/// half the base's objects, and rebuilds the base when it is missing or damaged (with
/// [`MIDX_SLACK`] packs or more) or names a pack that is gone. Returns whether a table was
/// written. Only under the writers' lock.
pub fn maintain(algo: HashAlgo, packs_dir: &Path, tmp_dir: &Path) -> Result<bool> {
    maintain_listed(algo, packs_dir, tmp_dir, list_packs(packs_dir)?)
}

/// [`maintain`] with the packs present `listed` (sorted) as the writers' lock holder knows
/// them (`Store::held_listing`), instead of listing `packs/`.
pub fn maintain_listed(
    algo: HashAlgo,
    packs_dir: &Path,
    tmp_dir: &Path,
    listed: Vec<ObjectId>,
) -> Result<bool> {
    let base = match Midx::open(&packs_dir.join(MIDX_FILE), algo) {
        Err(_) if listed.len() < MIDX_SLACK => return Ok(false),
        Ok(base) if present(&base, &listed) => base,
        _ => return replace(algo, packs_dir, tmp_dir, &[]).map(|()| true),
    };
    // A tail naming a gone pack, or a pack of the base (left by a kill between a fold and
    // the tail's deletion), is not used: its packs count as outside both tables.
    let tail = Midx::open(&packs_dir.join(TAIL_FILE), algo)
        .ok()
        .filter(|t| present(t, &listed) && disjoint(t, &base));
    let mut named = base.names();
    named.extend(tail.iter().flat_map(Midx::names));
    // Ascending runs, one a table: the stable sort merges them.
    named.sort();
    let outside: Vec<ObjectId> = listed
        .into_iter()
        .filter(|n| named.binary_search(n).is_err())
        .collect();
    if outside.is_empty() {
        if tail.is_none() {
            remove(&packs_dir.join(TAIL_FILE))?;
        }
        return Ok(false);
    }
    let indexes = sound_indexes(algo, packs_dir, &outside);
    let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
    let tail_packs = tail.as_ref().map_or(0, |t| t.names().len()) + outside.len();
    let tail_objects =
        tail.as_ref().map_or(0, Midx::len) + refs.iter().map(|(_, i)| i.len()).sum::<usize>();
    let olds: Vec<&Midx> = tail.iter().collect();
    if tail_packs > TAIL_PACKS || tail_objects * 2 > base.len() {
        let olds: Vec<&Midx> = [&base].into_iter().chain(olds).collect();
        publish(algo, packs_dir, tmp_dir, &olds, &refs, MIDX_FILE)?;
        failpoint::hit("midx:after-fold");
        remove(&packs_dir.join(TAIL_FILE))?;
    } else {
        publish(algo, packs_dir, tmp_dir, &olds, &refs, TAIL_FILE)?;
    }
    Ok(true)
}

/// Writes the table `file` over the tables `olds` and the packs `added`, streamed to the
/// file as their entries merge; when a bucket of `olds` fails its check, rebuilds the base
/// from every pack's index instead.
fn publish(
    algo: HashAlgo,
    packs_dir: &Path,
    tmp_dir: &Path,
    olds: &[&Midx],
    added: &[(ObjectId, &PackIndex)],
    file: &str,
) -> Result<()> {
    if olds.iter().any(|m| m.verify().is_err()) {
        return write(algo, packs_dir, tmp_dir, &[]);
    }
    failpoint::hit("midx:before-write");
    crate::fsutil::write_atomic_with(tmp_dir, &packs_dir.join(file), |f| {
        write_merged(algo, olds, added, f)
    })?;
    failpoint::hit("midx:after-write");
    Ok(())
}

/// Whether every pack the table names is listed.
fn present(table: &Midx, listed: &[ObjectId]) -> bool {
    table
        .names()
        .iter()
        .all(|n| listed.binary_search(n).is_ok())
}

/// Whether the two tables name no pack in common.
fn disjoint(a: &Midx, b: &Midx) -> bool {
    let b = b.names();
    !a.names().iter().any(|n| b.binary_search(n).is_ok())
}

/// Deletes `path`; one already gone is fine.
fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx("could not delete the multi-pack index", path)
        }
        _ => Ok(()),
    }
}

/// The indexes of the packs `names` that open and pass their checksum and order; a damaged
/// one is left out, so its damage is not copied into a table that vouches for it.
fn sound_indexes(
    algo: HashAlgo,
    packs_dir: &Path,
    names: &[ObjectId],
) -> Vec<(ObjectId, PackIndex)> {
    let open = |name: &ObjectId| PackIndex::open(&packs_dir.join(format!("{name}.idx"))).ok();
    names
        .iter()
        .filter_map(|n| open(n).map(|i| (*n, i)))
        .filter(|(_, i)| i.verify(algo).is_ok())
        .collect()
}

/// Puts the multi-pack index in step with the packs but those `leaving`: the base written
/// over them when [`MIDX_SLACK`] packs or more stay, deleted otherwise (a few packs need
/// none, and a table naming packs about to go must not stay); the tail deleted either way.
/// Only under the writers' lock.
pub fn replace(
    algo: HashAlgo,
    packs_dir: &Path,
    tmp_dir: &Path,
    leaving: &[ObjectId],
) -> Result<()> {
    let staying = list_packs(packs_dir)?
        .into_iter()
        .filter(|n| !leaving.contains(n))
        .count();
    if staying >= MIDX_SLACK {
        return write(algo, packs_dir, tmp_dir, leaving);
    }
    remove(&packs_dir.join(TAIL_FILE))?;
    remove(&packs_dir.join(MIDX_FILE))
}

/// Writes the base over every listed pack but those `leaving` (which the caller is about to
/// delete), atomically, then deletes the tail, which the base now covers. A pack whose
/// index does not pass its checksum is left out, so its damage is not copied into a table
/// that vouches for it: readers search its own index, as before.
pub fn write(algo: HashAlgo, packs_dir: &Path, tmp_dir: &Path, leaving: &[ObjectId]) -> Result<()> {
    let mut names = list_packs(packs_dir)?;
    names.retain(|n| !leaving.contains(n));
    let indexes = sound_indexes(algo, packs_dir, &names);
    let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
    failpoint::hit("midx:before-write");
    // Streamed as the packs' entries merge, as a fold is: the table is never held whole
    // (108 MB for two million objects).
    crate::fsutil::write_atomic_with(tmp_dir, &packs_dir.join(MIDX_FILE), |f| {
        write_merged(algo, &[], &refs, f)
    })?;
    failpoint::hit("midx:after-write");
    remove(&packs_dir.join(TAIL_FILE))
}

/// The names of the packs that have an index, sorted.
pub fn list_packs(dir: &Path) -> Result<Vec<ObjectId>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).ctx("could not list packs", dir)? {
        let entry = entry.ctx("could not list packs", dir)?;
        let file_name = entry.file_name();
        let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
            continue;
        };
        if let Ok(id) = stem.parse::<ObjectId>() {
            names.push(id);
        }
    }
    names.sort();
    Ok(names)
}
