//! Merging packs: copying records unchanged (no recompression) from old packs into new ones,
//! then retiring the old ones. `gc` merges every small pack while it drops dead objects;
//! after a commit, [`auto`] merges small packs once there are more than a threshold of them.
//!
//! Crash safety is gc's: the new packs are durable (and indexed) before anything else; then
//! the multi-pack index is rewritten without the old packs; then each old index is deleted
//! (hiding its pack), the directory synced, and the pack deleted. A kill at any instant
//! leaves every object in an old pack or a new one, both readable; at worst an object is
//! in two packs until the next merge, or an orphan pack waits for gc. A reader that holds an
//! old pack open keeps reading it; one that does not finds the pack gone, lists the packs
//! again and reads the new one (`Store::read`).

use std::sync::Arc;

use super::{check_content, decompress, Encoded, ObjectKind, Pack, PackClass, PackWriter};
use super::{midx_write, PACK_TARGET, RECORD_HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::failpoint;
use crate::fsutil;
use crate::hash::ObjectId;
use crate::progress::{Progress, Unit};
use crate::repo::{Locked, Repository};

/// Packs smaller than this are small: merging them is worth their copy. A pack the writer
/// closed full is at least [`PACK_TARGET`].
pub const SMALL_PACK: u64 = PACK_TARGET / 2;

/// More small packs than this make a commit merge them (git's `gc.autoPackLimit` is also
/// 50). With the multi-pack index a lookup no longer slows down with the number of packs,
/// but every pack is a file to list, open and map, and a nightly repository writes two a
/// day; fifty keeps that cost to a few milliseconds, and a merge then copies at most the
/// small packs' bytes (each under [`SMALL_PACK`]), rarely.
pub const AUTO_PACKS: usize = 50;

/// gc merges the small packs of a class once there are more than this many. With the
/// multi-pack index a handful of packs costs lookups nothing, so rewriting them would only
/// spend writes (and gc on a sound, compact repository changes no pack); past it, every pack
/// is one more file that gc, verify and a listing of `packs/` open.
pub const GC_MERGE_ABOVE: usize = midx_write::MIDX_SLACK;

/// The setting (`.cairn/settings.toml`) that changes [`AUTO_PACKS`]; 0 turns it off.
pub const AUTO_KEY: &str = "gc.auto";

/// What a merge after a commit did.
#[derive(Debug, Default, Clone)]
pub struct Merged {
    /// Small packs whose records were copied into new packs and which were then deleted.
    pub packs_merged: u64,
    /// Packs written.
    pub packs_written: u64,
    /// Bytes copied (record headers included).
    pub bytes_copied: u64,
    /// Small packs left as they were because a record in them is damaged (`verify`
    /// reports it); nothing of them was lost.
    pub packs_damaged: u64,
}

/// New packs being filled with records copied from old ones, data and metadata apart.
pub struct Copier {
    data: PackWriter,
    meta: PackWriter,
}

impl Copier {
    /// Writers into the repository's packs.
    pub fn new(repo: &Repository) -> Copier {
        Copier {
            data: PackWriter::for_repo(repo, PackClass::Data),
            meta: PackWriter::for_repo(repo, PackClass::Meta),
        }
    }

    /// Copies the records of `pack` whose ids `keep` accepts, their stored bytes unchanged,
    /// each first checked against its id so damage is never carried forward. The outer
    /// error is a failure to write; the inner one damage in `pack` (then some of its records
    /// may have been copied, which is harmless: the writer keeps each id once).
    pub fn copy(
        &mut self,
        repo: &Repository,
        pack: &Pack,
        keep: &dyn Fn(&ObjectId) -> bool,
    ) -> Result<std::result::Result<(), Error>> {
        for e in pack.index.entries().flatten().filter(|e| keep(&e.id)) {
            let stored = match checked_record(repo, pack, &e) {
                Ok(stored) => stored,
                Err(damage) => return Ok(Err(damage)),
            };
            let enc = Encoded {
                codec: e.codec,
                raw_len: e.raw_len,
                bytes: stored,
            };
            let w = match e.kind {
                ObjectKind::Chunk => &mut self.data,
                _ => &mut self.meta,
            };
            w.add(e.id, e.kind, &enc)?;
        }
        Ok(Ok(()))
    }

    /// Publishes the last packs; returns the names of the packs written and their bytes.
    pub fn finish(self) -> Result<(Vec<ObjectId>, u64)> {
        let bytes = self.data.bytes_written() + self.meta.bytes_written();
        let mut names = self.data.finish()?;
        names.extend(self.meta.finish()?);
        Ok((names, bytes))
    }
}

/// A record's stored bytes, checked against its index entry and its id.
fn checked_record(repo: &Repository, pack: &Pack, e: &super::IdxEntry) -> Result<Vec<u8>> {
    let stored = pack.read_stored(e)?;
    let damaged =
        |why: String| Error::corrupt("pack", pack.path(), format!("object {}: {why}", e.id));
    let raw = decompress(e.kind, e.codec, stored.clone(), e.raw_len)
        .map_err(|err| damaged(err.to_string()))?;
    check_content(repo.algo(), e.kind, &e.id, &raw).map_err(damaged)?;
    Ok(stored)
}

/// Deletes `packs` once their records are safe elsewhere: the multi-pack index is rewritten
/// without them first, then every index is deleted (hiding its pack), the directory synced,
/// and only then the packs: two directory syncs in all, not two per pack (a gc of 2,000
/// packs spent 16 s syncing). A pack among those just `written` is kept: a copy can produce
/// exactly a pack that exists (a merge killed after its new packs, run again), and the
/// writer then keeps the existing one, which holds the copied records. Returns the bytes
/// freed.
pub fn retire(repo: &Repository, packs: &[Arc<Pack>], written: &[ObjectId]) -> Result<u64> {
    let packs: Vec<&Arc<Pack>> = packs
        .iter()
        .filter(|p| !written.contains(&p.name))
        .collect();
    if packs.is_empty() {
        return Ok(0);
    }
    let leaving: Vec<ObjectId> = packs.iter().map(|p| p.name).collect();
    midx_write::replace(repo.algo(), &repo.packs_dir(), &repo.tmp_dir(), &leaving)?;
    let freed = packs.iter().map(|p| files_size(p)).sum();
    for p in &packs {
        let idx = p.path().with_extension("idx");
        std::fs::remove_file(&idx).ctx("could not delete pack index", &idx)?;
        failpoint::hit("gc:after-first-delete");
    }
    fsutil::sync_dir(&repo.packs_dir())?;
    for p in &packs {
        match std::fs::remove_file(p.path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx("could not delete pack", p.path());
            }
            _ => {}
        }
    }
    Ok(freed)
}

/// The bytes of a pack and its index.
pub fn files_size(p: &Pack) -> u64 {
    file_size(p.path()) + file_size(&p.path().with_extension("idx"))
}

fn file_size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The stored bytes of a pack's records, from its index (no file is read).
pub fn pack_bytes(p: &Pack) -> u64 {
    let records = p.index.entries().flatten();
    records
        .map(|e| RECORD_HEADER_LEN as u64 + u64::from(e.stored_len))
        .sum()
}

/// The small packs among `packs`: under [`SMALL_PACK`] bytes, and under half the objects
/// at which a writer closes a pack, so that a pack of many tiny objects, closed for its
/// count, is full too.
pub fn small(packs: &[Arc<Pack>]) -> Vec<Arc<Pack>> {
    let few = |p: &Pack| p.index.len() < super::writer::entry_limit() / 2;
    let small = packs
        .iter()
        .filter(|p| pack_bytes(p) < SMALL_PACK && few(p));
    small.cloned().collect()
}

/// Whether a pack holds chunks (a data pack) rather than metadata: records of the two
/// classes go to different packs, so only packs of one class merge into fewer.
pub fn holds_chunks(p: &Pack) -> bool {
    p.index
        .entry(0)
        .is_some_and(|e| e.kind == ObjectKind::Chunk)
}

/// `packs` split by class: data packs, then metadata packs.
pub fn by_class(packs: Vec<Arc<Pack>>) -> [Vec<Arc<Pack>>; 2] {
    let (data, meta) = packs.into_iter().partition(|p| holds_chunks(p));
    [data, meta]
}

/// The threshold of small packs above which a commit merges them: the `gc.auto` setting,
/// or [`AUTO_PACKS`]; 0 turns merging off. A value that is not a number is an error.
pub fn auto_limit(repo: &Repository) -> Result<usize> {
    let path = repo.dir().join(crate::settings::REPO_FILE);
    let settings = crate::settings::Settings::load(&path)?;
    match settings.get(AUTO_KEY) {
        None => Ok(AUTO_PACKS),
        Some(v) => v.trim().parse().map_err(|_| Error::BadArgument {
            what: format!(
                "{AUTO_KEY} is {v:?}; it must be a number of packs (0 turns merging off)"
            ),
            path,
        }),
    }
}

/// After a commit: when more than the threshold of small packs exist, merges the smaller
/// ones (see [`pick`]) into new packs. Cheap when under the threshold: the packs are only
/// counted. A damaged small pack is left as it is (and counted); nothing is lost, and
/// `verify` reports it.
pub fn auto(repo: &Locked, progress: &dyn Progress) -> Result<Option<Merged>> {
    let limit = auto_limit(repo)?;
    if limit == 0 {
        return Ok(None);
    }
    repo.store.refresh()?;
    if repo.store.names().len() <= limit {
        return Ok(None);
    }
    let small = small(&repo.store.packs());
    if small.len() <= limit {
        return Ok(None);
    }
    let picked: Vec<Arc<Pack>> = by_class(small).into_iter().flat_map(pick).collect();
    merge(repo, &picked, progress).map(Some)
}

/// Copies every record of `packs` into new packs and retires them (those not damaged).
pub fn merge(repo: &Repository, packs: &[Arc<Pack>], progress: &dyn Progress) -> Result<Merged> {
    let mut out = Merged::default();
    let mut copier = Copier::new(repo);
    let mut done = Vec::new();
    progress.begin("merging packs", Unit::Packs, packs.len() as u64, 0);
    for p in packs {
        match copier.copy(repo, p, &|_| true)? {
            Ok(()) => done.push(Arc::clone(p)),
            Err(_) => out.packs_damaged += 1,
        }
        progress.advance(1, 0);
    }
    progress.end();
    let (written, bytes) = copier.finish()?;
    (out.packs_written, out.bytes_copied) = (written.len() as u64, bytes);
    failpoint::hit("merge:after-new-packs");
    done.retain(|p| !written.contains(&p.name));
    retire(repo, &done, &written)?;
    repo.store.refresh()?;
    out.packs_merged = done.len() as u64;
    Ok(out)
}

/// Which small packs of one class to merge, so that each byte is copied a few times over the life of a
/// repository, not once per merge (git's geometric repacking): from the smallest up, a
/// pack joins the merge while it is less than twice the size of all smaller ones taken
/// together; the larger packs above that point stay as they are.
pub fn pick(mut small: Vec<Arc<Pack>>) -> Vec<Arc<Pack>> {
    let mut sized: Vec<(u64, Arc<Pack>)> = small.drain(..).map(|p| (pack_bytes(&p), p)).collect();
    sized.sort_by_key(|(size, p)| (*size, p.name));
    // Two at least, or merging would not reduce anything.
    let mut split = if sized.len() < 2 { 0 } else { 2 };
    let mut below = 0;
    for (i, (size, _)) in sized.iter().enumerate() {
        if i > 0 && *size < 2 * below {
            split = i + 1;
        }
        below += size;
    }
    sized.truncate(split);
    sized.into_iter().map(|(_, p)| p).collect()
}
