//! Moving whole packs: uploads for push, downloads for pull and clone, several at once.
//!
//! Uploads send the pack, then its index (a pack without an index is invisible on the remote
//! too), skipping a pack already there at the right size: an interrupted push resumes where
//! it stopped. Downloads go to `.cairn/tmp/` as `<name>.idx` and `<name>.pack.part` (continued
//! from its length on the next run, renamed `<name>.pack` when complete), are checked there
//! record by record against their ids, and only then are moved into `.cairn/packs`, pack
//! first, index last.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use super::index::{check_index, RemotePack};
use super::layout;
use super::Remote;
use crate::error::{Error, IoContext, Result};
use crate::failpoint;
use crate::fsutil;
use crate::hash::ObjectId;
use crate::pack::{self, Store};
use crate::progress::{Progress, Unit};
use crate::repo::Repository;

/// Packs in flight at once.
pub const CONCURRENCY: usize = 4;

/// What a pack transfer moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Transferred {
    /// Packs uploaded or downloaded.
    pub packs: u64,
    /// Bytes sent or received, pack files and indexes.
    pub bytes: u64,
}

/// Runs `job` on every item with [`CONCURRENCY`] threads; stops taking new items after the
/// first error and returns it.
fn parallel<T: Sync>(items: &[T], job: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..CONCURRENCY.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= items.len() || failed.load(Relaxed) {
                    return;
                }
                if let Err(e) = job(&items[i]) {
                    failed.store(true, Relaxed);
                    let mut slot = first_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    slot.get_or_insert(e);
                }
            });
        }
    });
    match first_error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Uploads local packs `names` and their indexes. `remote_packs` is the remote's listing: a
/// pack already there with the right size is not sent again.
pub fn upload(
    repo: &Repository,
    remote: &Remote,
    names: &[ObjectId],
    remote_packs: &BTreeMap<ObjectId, RemotePack>,
    progress: &dyn Progress,
) -> Result<Transferred> {
    let dir = repo.packs_dir();
    let size = |p: &PathBuf| {
        fs::metadata(p)
            .map(|m| m.len())
            .ctx("could not read pack", p)
    };
    let mut total = 0;
    for n in names {
        total += size(&dir.join(format!("{n}.pack")))?;
    }
    progress.begin("pushing", Unit::Packs, names.len() as u64, total);
    let bytes = AtomicU64::new(0);
    let sent = |n: u64| {
        bytes.fetch_add(n, Relaxed);
        progress.advance(0, n);
    };
    parallel(names, |name| {
        let pack_path = dir.join(format!("{name}.pack"));
        let there = remote_packs.get(name).and_then(|p| p.pack);
        let pack_size = size(&pack_path)?;
        if there != Some(pack_size) {
            let key = layout::pack(name);
            remote
                .backend()
                .upload(&key, &pack_path, &sent)
                .map_err(|e| remote.err("upload", &key, e))?;
        } else {
            progress.advance(0, pack_size);
        }
        // Tests interrupt a push here: the pack is up, its index is not.
        failpoint::hit("push:after-pack");
        let key = layout::idx(name);
        remote
            .backend()
            .upload(&key, &dir.join(format!("{name}.idx")), &sent)
            .map_err(|e| remote.err("upload", &key, e))?;
        progress.advance(1, 0);
        Ok(())
    })?;
    progress.end();
    Ok(Transferred {
        packs: names.len() as u64,
        bytes: bytes.into_inner(),
    })
}

/// Downloads remote packs `names` (with their sizes from the listing), checks every object
/// against its id, and installs them.
pub fn download(
    repo: &Repository,
    remote: &Remote,
    names: &[(ObjectId, u64)],
    progress: &dyn Progress,
) -> Result<Transferred> {
    let packs = repo.packs_dir();
    let names: Vec<(ObjectId, u64)> = names
        .iter()
        .filter(|(n, _)| !packs.join(format!("{n}.idx")).exists())
        .copied()
        .collect();
    let total = names.iter().map(|(_, s)| s).sum();
    progress.begin("fetching", Unit::Packs, names.len() as u64, total);
    let bytes = AtomicU64::new(0);
    parallel(&names, |(name, size)| {
        let got = fetch_one(repo, remote, name, *size, progress)?;
        bytes.fetch_add(got, Relaxed);
        progress.advance(1, 0);
        Ok(())
    })?;
    progress.end();
    Ok(Transferred {
        packs: names.len() as u64,
        bytes: bytes.into_inner(),
    })
}

/// One pack: resume or start its download, check it, install it. Returns bytes received.
fn fetch_one(
    repo: &Repository,
    remote: &Remote,
    name: &ObjectId,
    size: u64,
    progress: &dyn Progress,
) -> Result<u64> {
    let packs = repo.packs_dir();
    if packs.join(format!("{name}.idx")).exists() {
        return Ok(0);
    }
    let tmp = repo.tmp_dir();
    let received = fetch_into(&tmp, repo, remote, name, size, progress)?;
    if let Err(e) = check_fetched(&tmp, repo, name) {
        // Start over next time rather than resume a damaged download.
        discard(&tmp, name);
        return Err(remote.invalid(format!("pack {name} failed its check on arrival: {e}")));
    }
    let idx_path = tmp.join(format!("{name}.idx"));
    // Named in the multi-pack index only after every download: until then the marker makes
    // the next writer list `packs/`, also when this process is killed first.
    crate::pack::mark_unnamed(&packs)?;
    fsutil::rename_durable(
        &tmp.join(format!("{name}.pack")),
        &packs.join(format!("{name}.pack")),
    )?;
    fsutil::rename_durable(&idx_path, &packs.join(format!("{name}.idx")))?;
    Ok(received)
}

/// Removes what [`fetch_into`] left in `dir` for pack `name`.
pub(crate) fn discard(dir: &Path, name: &ObjectId) {
    for ext in ["idx", "pack", "pack.part"] {
        let _ = fs::remove_file(dir.join(format!("{name}.{ext}")));
    }
}

/// Downloads the index and the pack `name` into `dir` as `<name>.idx` and `<name>.pack`,
/// continuing a `<name>.pack.part` an interrupted run left. The index is checked (checksum,
/// order, that its records make the pack's name and its size) before the pack is fetched.
/// Returns bytes received.
pub(crate) fn fetch_into(
    dir: &Path,
    repo: &Repository,
    remote: &Remote,
    name: &ObjectId,
    size: u64,
    progress: &dyn Progress,
) -> Result<u64> {
    let idx_path = dir.join(format!("{name}.idx"));
    let mut received = 0;
    if !idx_path.exists() {
        let key = layout::idx(name);
        let (bytes, _) = remote
            .get(&key)?
            .ok_or_else(|| remote.invalid(format!("{key} vanished during the transfer")))?;
        received += bytes.len() as u64;
        fsutil::write_atomic(&repo.tmp_dir(), &idx_path, &bytes)?;
    }
    let expected = match check_index(&idx_path, repo.algo(), name) {
        Ok((_, expected)) => expected,
        Err(e) => {
            discard(dir, name);
            return Err(remote.invalid(format!("damaged pack index {name}: {e}")));
        }
    };
    if expected != size {
        discard(dir, name);
        return Err(remote.invalid(format!(
            "pack {name} is {size} bytes but its index says {expected} (an unfinished upload?)"
        )));
    }
    received += download_pack(remote, name, dir, size, progress)?;
    Ok(received)
}

/// Brings `<dir>/<name>.pack` to `size` bytes, continuing a `.part` file left by an
/// interrupted run.
fn download_pack(
    remote: &Remote,
    name: &ObjectId,
    dir: &Path,
    size: u64,
    progress: &dyn Progress,
) -> Result<u64> {
    let done = dir.join(format!("{name}.pack"));
    if fs::metadata(&done).is_ok_and(|m| m.len() == size) {
        return Ok(0);
    }
    let part = dir.join(format!("{name}.pack.part"));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .ctx("could not create file", &part)?;
    let mut from = file.metadata().ctx("could not read file", &part)?.len();
    if from > size {
        file.set_len(0).ctx("could not truncate file", &part)?;
        from = 0;
    }
    progress.advance(0, from);
    let key = layout::pack(name);
    let got = AtomicU64::new(0);
    if from < size {
        remote
            .backend()
            .download(&key, from, &mut file, &|n| {
                got.fetch_add(n, Relaxed);
                progress.advance(0, n);
            })
            .map_err(|e| remote.err("download", &key, e))?;
    }
    file.sync_all().ctx("could not sync file", &part)?;
    drop(file);
    fs::rename(&part, &done).ctx("could not move file into place", &done)?;
    Ok(got.into_inner())
}

/// Checks the fetched pack `name` in `dir` against its index, re-hashing every object.
pub(crate) fn check_fetched(dir: &Path, repo: &Repository, name: &ObjectId) -> Result<()> {
    // A store over the directory sees the pack through its index, as readers will.
    let store = Store::open(dir, repo.algo())?;
    let packs = store.packs();
    let pack = packs
        .iter()
        .find(|p| p.name == *name)
        .ok_or_else(|| Error::corrupt("pack index", dir, "does not open"))?;
    let report = pack::check(pack, repo.algo(), true);
    if let Some(p) = report.problems.first() {
        return Err(Error::corrupt("pack", pack.path(), p.clone()));
    }
    if let Some((id, why)) = report.bad.first() {
        return Err(Error::corrupt(
            "pack",
            pack.path(),
            format!("object {id}: {why} ({} damaged objects)", report.bad.len()),
        ));
    }
    Ok(())
}
