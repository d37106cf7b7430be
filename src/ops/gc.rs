//! `cairn gc`: remove what nothing references. Live objects are those reachable from HEAD,
//! lines, tags and an unfinished checkout's record, plus everything the staging index names,
//! plus recent history: the layers reflog entries younger than the grace period name (two
//! weeks unless `--prune` says otherwise), so that a `reset --hard` can still be undone.
//! Packs with no live object are deleted; packs whose live fraction is low are rewritten. New
//! packs are durable before any old one is deleted, and an index is deleted before its pack,
//! so a crash at any instant leaves every live object readable and at worst an orphan pack
//! for the next gc.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::failpoint;
use crate::fsutil;
use crate::hash::ObjectId;
use crate::object::file;
use crate::object::Layer;
use crate::pack::consolidate::{self, Copier};
use crate::pack::{self, midx_write, ObjectKind, Pack, RECORD_HEADER_LEN};
use crate::progress::{Progress, Unit};
use crate::reach::{self, At, Step, Visitor, Walk};
use crate::reflog::Grace;
use crate::repo::{Locked, Repository};

/// Whether to delete or only report, and how much recent history to keep.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Report what would go, deleting and writing nothing.
    pub dry_run: bool,
    /// Reflog entries younger than this keep the layers they name (default two weeks).
    pub grace: Grace,
}

/// What was removed, or in a dry run would be.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct GcOutcome {
    /// Whether this was a dry run: nothing was deleted or written.
    pub dry_run: bool,
    /// Records of objects something still references (an object in two packs counts twice).
    pub live_objects: u64,
    /// Records of objects nothing references. Those in kept packs stay until a later gc
    /// rewrites their pack.
    pub dead_objects: u64,
    /// Packs holding no live object, deleted whole.
    pub packs_deleted: u64,
    /// Packs mostly dead (live bytes under half), or small (under 32 MiB) with any dead object,
    /// whose live objects were copied to new packs before they were deleted.
    pub packs_rewritten: u64,
    /// Small packs (under 32 MiB of records) whose live objects were copied into larger new
    /// packs before they were deleted, so a repository of thousands of commits keeps a few
    /// packs. Not counted in `packs_rewritten`.
    pub packs_merged: u64,
    /// Packs left as they were.
    pub packs_kept: u64,
    /// Packs without an index (left by an interrupted write) and temporary files removed; 0 in
    /// a dry run, which does not look for them.
    pub orphan_files_removed: u64,
    /// Bytes of pack, index and temporary files deleted, less the bytes of the new packs. A
    /// dry run's estimate: the deleted packs' files and the rewritten packs' dead records.
    pub bytes_freed: u64,
    /// Damaged pack indexes rebuilt from their packs before anything else was done.
    pub indexes_rebuilt: u64,
    /// Layers kept only because a recent reflog entry names them (or one of their
    /// descendants): what `--prune=now` would drop.
    pub layers_kept_by_reflog: u64,
}

/// Packs whose live bytes are below this fraction are rewritten.
const REWRITE_BELOW: f64 = 0.5;

/// Deletes and rewrites packs so only live objects stay stored, after checking that every
/// pack is sound and every live object readable: nothing is deleted on a guess.
pub fn gc(repo: &Locked, opts: &GcOptions, progress: &dyn Progress) -> Result<GcOutcome> {
    let mut out = GcOutcome {
        dry_run: opts.dry_run,
        indexes_rebuilt: repair_indexes(repo, opts.dry_run)?,
        ..GcOutcome::default()
    };
    // Nothing is deleted on a guess: every pack must be sound and every live object in one.
    let bad = check_packs(repo)?;
    let (live, may_be_absent, kept) = live_set(repo, opts.grace)?;
    out.layers_kept_by_reflog = kept;
    check_live(repo, &live, &may_be_absent, &bad)?;
    let (delete, rewrite, would_free) = plan(repo, &live, &mut out);
    if opts.dry_run {
        out.bytes_freed = would_free;
        return Ok(out);
    }
    progress.begin("rewriting packs", Unit::Packs, rewrite.len() as u64, 0);
    let (written, bytes) = copy_live(repo, &rewrite, &live, progress)?;
    progress.end();
    failpoint::hit("gc:after-new-packs");
    let gone: Vec<Arc<Pack>> = delete.into_iter().chain(rewrite).collect();
    out.bytes_freed = consolidate::retire(repo, &gone, &written)?.saturating_sub(bytes);
    out.orphan_files_removed = remove_orphans(repo, &mut out.bytes_freed)?;
    fsutil::sync_dir(&repo.packs_dir())?;
    // A multi-pack index that was damaged or missing is rewritten even when no pack went.
    midx_write::maintain(repo.algo(), &repo.packs_dir(), &repo.tmp_dir())?;
    // From the layers that stay, so a table naming layers gone now is not carried over.
    crate::layer_graph::rebuild(repo)?;
    Ok(out)
}

/// Which packs go whole (no live object) and which are rewritten (mostly dead, small with
/// any dead record, or small beside many other small ones: merged), with the bytes a dry run says would be freed: the
/// deleted packs' files and the rewritten packs' dead records.
fn plan(
    repo: &Repository,
    live: &HashSet<ObjectId>,
    out: &mut GcOutcome,
) -> (Vec<Arc<Pack>>, Vec<Arc<Pack>>, u64) {
    let (mut delete, mut rewrite, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    let mut would_free = 0;
    for p in repo.store.packs() {
        let (live_bytes, dead_bytes) = usage(&p, live, out);
        let total = live_bytes + dead_bytes;
        if live_bytes == 0 {
            would_free += consolidate::files_size(&p);
            delete.push(p);
        } else if dead_bytes > 0
            && ((live_bytes as f64) < REWRITE_BELOW * total as f64
                || total < consolidate::SMALL_PACK)
        {
            // A small pack is cheap to copy: its dead records go now, not when they reach
            // half of it (a merged pack holding what a reset dropped would keep it).
            would_free += dead_bytes;
            rewrite.push(p);
        } else {
            kept.push(p);
        }
    }
    out.packs_deleted = delete.len() as u64;
    out.packs_rewritten = rewrite.len() as u64;
    // Small packs of a class are merged once there are more than a few, counting those of
    // the class rewritten anyway (see `consolidate::GC_MERGE_ABOVE`).
    let rewritten = consolidate::by_class(consolidate::small(&rewrite));
    let kept_small = consolidate::by_class(consolidate::small(&kept));
    for (small, others) in kept_small.into_iter().zip(rewritten) {
        if small.len() + others.len() > consolidate::GC_MERGE_ABOVE {
            kept.retain(|p| !small.iter().any(|s| s.name == p.name));
            out.packs_merged += small.len() as u64;
            rewrite.extend(small);
        }
    }
    out.packs_kept = kept.len() as u64;
    (delete, rewrite, would_free)
}

/// Rebuilds every damaged pack index from its pack (see `pack::rebuild_index`): safe under
/// the writers' lock, because a rebuilt index is used only when the pack's record headers
/// hash to its name, which makes it the index its writer wrote. An index that cannot be
/// rebuilt stops gc: which objects its pack holds is unknown, so nothing may be deleted. A
/// dry run writes nothing, so it stops at any damaged index.
fn repair_indexes(repo: &Repository, dry_run: bool) -> Result<u64> {
    let damaged = repo.store.damaged_indexes();
    for (name, why) in &damaged {
        let idx = repo.packs_dir().join(format!("{name}.idx"));
        let stop = |detail: String| {
            let detail = format!("{detail}; gc deletes nothing until it is repaired");
            Err(Error::corrupt("pack index", &idx, detail))
        };
        if dry_run {
            return stop(format!(
                "{why}; `cairn gc` or `cairn verify --repair` rebuilds it"
            ));
        }
        if let Err(cannot) = repo.store.repair_index(name, &repo.tmp_dir())? {
            return stop(format!("{why}, and its pack cannot rebuild it: {cannot}"));
        }
    }
    if !damaged.is_empty() {
        repo.store.reload()?;
    }
    Ok(damaged.len() as u64)
}

/// Checks every pack's layout and record headers against its index (not the objects'
/// bytes: that is `verify --data`). A damaged pack stops gc; damaged records are returned,
/// and stop gc only if something live is stored in them.
fn check_packs(repo: &Repository) -> Result<HashSet<ObjectId>> {
    let mut bad = HashSet::new();
    for p in repo.store.packs() {
        let report = pack::check_records(&p, repo.algo(), false);
        if let Some(problem) = report.problems.into_iter().next() {
            let detail = format!("{problem}; gc deletes nothing while a pack is damaged");
            return Err(Error::corrupt("pack", p.path(), detail));
        }
        bad.extend(report.bad.into_iter().map(|(id, _)| id));
    }
    Ok(bad)
}

/// Every live object must be in some pack, in a record that is not damaged: otherwise a
/// damaged index may be hiding where it is, and deleting anything could lose it. Two
/// exceptions (`may_be_absent`): the file objects and chunk lists of staged files, which
/// `commit` writes, so they exist only once committed, and then the walk from the layers
/// has read them; and what only reflog entries reach, which an earlier `--prune` may have
/// dropped.
fn check_live(
    repo: &Repository,
    live: &HashSet<ObjectId>,
    may_be_absent: &HashSet<ObjectId>,
    bad: &HashSet<ObjectId>,
) -> Result<()> {
    let dir = repo.packs_dir();
    if let Some(id) = live.iter().find(|id| bad.contains(*id)) {
        let detail = format!("object {id}: its record is damaged; gc deletes nothing");
        return Err(Error::corrupt("pack", &dir, detail));
    }
    // One pass over every index entry, not a lookup per live object in every pack: that
    // would cost objects x packs binary searches.
    let mut missing: rustc_hash::FxHashSet<&ObjectId> = live.difference(may_be_absent).collect();
    for p in repo.store.packs() {
        for e in p.index.entries().flatten() {
            missing.remove(&e.id);
        }
    }
    match missing.into_iter().next() {
        Some(id) => Err(Error::MissingObject {
            id: format!("{id}, which a layer or the staging index needs,"),
            path: dir,
        }),
        None => Ok(()),
    }
}

/// Live and dead stored bytes of a pack; counts objects into `out`.
fn usage(p: &Pack, live: &HashSet<ObjectId>, out: &mut GcOutcome) -> (u64, u64) {
    let (mut l, mut d) = (0, 0);
    for e in p.index.entries().flatten() {
        let size = RECORD_HEADER_LEN as u64 + u64::from(e.stored_len);
        if live.contains(&e.id) {
            l += size;
            out.live_objects += 1;
        } else {
            d += size;
            out.dead_objects += 1;
        }
    }
    (l, d)
}

/// Every object reachable from HEAD, lines, tags, an unfinished checkout's record, the
/// staging index and recent reflog entries; apart, what of it may be absent (see
/// [`check_live`]); and how many layers only the reflog keeps. Fails if a layer, tree or
/// file object reachable from a reference cannot be read: deleting on a guess could lose
/// data.
fn live_set(
    repo: &Repository,
    grace: Grace,
) -> Result<(HashSet<ObjectId>, HashSet<ObjectId>, u64)> {
    let mut walk = Walk::new(repo);
    walk.layers(reach::roots(repo)?, &mut Keep)?;
    // Second, so that what the references reach was walked strictly first.
    let mut recent = Recent::default();
    walk.layers(reach::reflog_roots(repo, grace.cutoff_now())?, &mut recent)?;
    let mut live = walk.into_seen();
    let mut staged = recent.met;
    for e in repo.load_index()?.entries.values() {
        staged.insert(e.file_id());
        live.extend(e.chunks().iter().map(|c| c.id));
        // A staged file committed before may be stored as chunk lists; keep them with it.
        staged.extend(file::list_ids(repo.algo(), e.chunks()));
    }
    live.extend(&staged);
    Ok((live, staged, recent.layers))
}

/// gc's visitor for what recent reflog entries reach beyond the references: kept like the
/// rest, but an object already gone (dropped by an earlier `--prune`) ends that branch of
/// the walk instead of failing gc. Damage still fails it.
#[derive(Default)]
struct Recent {
    /// Every object met: any of them may be absent from the store.
    met: HashSet<ObjectId>,
    /// Layers read.
    layers: u64,
}

impl Visitor for Recent {
    fn layer(&mut self, id: &ObjectId) -> Result<Step> {
        self.met.insert(*id);
        Ok(Step::Descend)
    }

    fn layer_read(&mut self, _: &ObjectId, _: &Layer) -> Result<()> {
        self.layers += 1;
        Ok(())
    }

    fn tree(&mut self, _: &At, id: &ObjectId) -> Result<Step> {
        self.met.insert(*id);
        Ok(Step::Descend)
    }

    fn file(&mut self, _: &At, id: &ObjectId) -> Result<Step> {
        self.met.insert(*id);
        Ok(Step::Descend)
    }

    fn chunk_list(&mut self, _: &At, id: &ObjectId) -> Result<()> {
        self.met.insert(*id);
        Ok(())
    }

    fn chunk(&mut self, _: &At, id: &ObjectId) -> Result<()> {
        self.met.insert(*id);
        Ok(())
    }

    fn unreadable(&mut self, _: &At, _: ObjectKind, _: &ObjectId, err: Error) -> Result<()> {
        match err {
            Error::MissingObject { .. } => Ok(()),
            err => Err(err),
        }
    }
}

/// gc's visitor: everything the walk meets is live, so it needs no callback; the default
/// for what cannot be read, failing, is what gc must do.
struct Keep;

impl Visitor for Keep {}

/// Copies the live objects of `packs` into new packs, unchanged, checking each against its
/// id on the way so damage is never carried forward silently: damage stops gc. Returns the
/// packs written and their bytes.
fn copy_live(
    repo: &Repository,
    packs: &[Arc<Pack>],
    live: &HashSet<ObjectId>,
    progress: &dyn Progress,
) -> Result<(Vec<ObjectId>, u64)> {
    let mut copier = Copier::new(repo);
    for p in packs {
        copier.copy(repo, p, &|id| live.contains(id))??;
        progress.advance(1, 0);
    }
    copier.finish()
}

/// Packs without an index (left by an interrupted write) and temporary files. Safe because
/// gc holds the writers' lock: no writer is between writing a pack and its index.
fn remove_orphans(repo: &Repository, freed: &mut u64) -> Result<u64> {
    let mut removed = 0;
    let packs_dir = repo.packs_dir();
    for entry in std::fs::read_dir(&packs_dir).ctx("could not list packs", &packs_dir)? {
        let path = entry.ctx("could not list packs", &packs_dir)?.path();
        let orphan =
            path.extension().is_some_and(|e| e == "pack") && !path.with_extension("idx").exists();
        if orphan {
            *freed += file_size(&path);
            std::fs::remove_file(&path).ctx("could not delete orphan pack", &path)?;
            removed += 1;
        }
    }
    let tmp = repo.tmp_dir();
    for entry in std::fs::read_dir(&tmp).ctx("could not list temporary files", &tmp)? {
        let entry = entry.ctx("could not list temporary files", &tmp)?;
        let path = entry.path();
        *freed += file_size(&path);
        // Only cairn writes here; a directory (left by an older version or by hand) must
        // not make every gc fail.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let gone = match is_dir {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        };
        gone.ctx("could not delete temporary file", &path)?;
        removed += 1;
    }
    Ok(removed)
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}
