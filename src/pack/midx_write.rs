//! Keeping `packs/multi-pack-index` in step with the packs, under the writers' lock.
//!
//! Readers take the packs it names as the packs present (listing `packs/` costs milliseconds
//! with thousands of packs), look up packs it does not name through their own indexes once
//! a miss made them list `packs/` (as git does), and do not use it when it names a pack that
//! is gone; so it never gives a wrong answer. A writer extends it after every write while it
//! is small (up to 16 MiB, some 300,000 objects), so it names every pack; a larger one only
//! when [`MIDX_SLACK`] packs are outside it, since extending hashes the whole table and a
//! one-file commit in a repository of a million objects should not write a hundred
//! megabytes.

use std::path::Path;

use super::index::PackIndex;
use super::midx::{encode, Midx, MIDX_FILE};
use crate::error::{IoContext, Result};
use crate::failpoint;
use crate::hash::{HashAlgo, ObjectId};

/// Packs outside the multi-pack index that make the next writer rewrite it: each costs
/// readers one more index to open and search. Also the number of packs from which there is
/// one at all.
pub const MIDX_SLACK: usize = 8;

/// A multi-pack index up to this size is extended after every write, so it names every
/// pack (extending it hashes it whole: about 5 ms at this size); a larger one lags by up to
/// [`MIDX_SLACK`] packs.
const EXACT_MAX: usize = 16 << 20;

/// Rewrites the multi-pack index when it is missing or damaged and there are
/// [`MIDX_SLACK`] packs or more, names a pack that is gone, or leaves a pack outside it
/// (while small; when large, [`MIDX_SLACK`] packs). Returns whether it was written. Only
/// under the writers' lock.
pub fn maintain(algo: HashAlgo, packs_dir: &Path, tmp_dir: &Path) -> Result<bool> {
    let listed = list_packs(packs_dir)?;
    let old = Midx::open(&packs_dir.join(MIDX_FILE), algo).ok();
    let named = old.as_ref().map(Midx::names).unwrap_or_default();
    let gone = named.iter().any(|n| listed.binary_search(n).is_err());
    let outside: Vec<ObjectId> = listed
        .into_iter()
        .filter(|n| named.binary_search(n).is_err())
        .collect();
    // A table up to EXACT_MAX is kept naming every pack: readers then need no listing of
    // `packs/`. A larger one is extended only every MIDX_SLACK packs.
    let exact = old.as_ref().is_some_and(|m| m.byte_len() <= EXACT_MAX);
    let slack = if exact { 1 } else { MIDX_SLACK };
    if !gone && outside.len() < slack {
        return Ok(false);
    }
    match old.filter(|_| !gone) {
        Some(old) => extend(algo, packs_dir, tmp_dir, &old, &outside)?,
        None => replace(algo, packs_dir, tmp_dir, &[])?,
    }
    Ok(true)
}

/// Writes the table `old` extended by the packs `outside` it: reading only their indexes,
/// not those of the thousands of packs it covers. Falls back to a rebuild when a bucket of
/// `old` is damaged.
fn extend(
    algo: HashAlgo,
    packs_dir: &Path,
    tmp_dir: &Path,
    old: &Midx,
    outside: &[ObjectId],
) -> Result<()> {
    let indexes = sound_indexes(algo, packs_dir, outside);
    let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
    let Some(bytes) = super::midx::encode_extended(algo, old, &refs) else {
        return write(algo, packs_dir, tmp_dir, &[]);
    };
    failpoint::hit("midx:before-write");
    crate::fsutil::write_atomic(tmp_dir, &packs_dir.join(MIDX_FILE), &bytes)?;
    failpoint::hit("midx:after-write");
    Ok(())
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

/// Puts the multi-pack index in step with the packs but those `leaving`: written over them
/// when [`MIDX_SLACK`] packs or more stay, deleted otherwise (a few packs need none, and a
/// table naming packs about to go must not stay). Only under the writers' lock.
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
    let path = packs_dir.join(MIDX_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx("could not delete the multi-pack index", &path)
        }
        _ => Ok(()),
    }
}

/// Writes the multi-pack index over every listed pack but those `leaving` (which the caller
/// is about to delete), atomically. A pack whose index does not pass its checksum is left
/// out, so its damage is not copied into a table that vouches for it: readers search its
/// own index, as before.
pub fn write(algo: HashAlgo, packs_dir: &Path, tmp_dir: &Path, leaving: &[ObjectId]) -> Result<()> {
    let mut names = list_packs(packs_dir)?;
    names.retain(|n| !leaving.contains(n));
    let indexes = sound_indexes(algo, packs_dir, &names);
    let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
    let bytes = encode(algo, &refs);
    failpoint::hit("midx:before-write");
    crate::fsutil::write_atomic(tmp_dir, &packs_dir.join(MIDX_FILE), &bytes)?;
    failpoint::hit("midx:after-write");
    Ok(())
}

/// The names of the packs that have an index, sorted.
pub(super) fn list_packs(dir: &Path) -> Result<Vec<ObjectId>> {
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
