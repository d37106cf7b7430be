//! `cairn add`: stage paths. Reads, chunks, deduplicates and stores their content in packs,
//! then records them in the staging index. `commit` never reads the worktree again.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::index::{IndexEntry, StagingIndex, Stat};
use crate::ingest::{store_with, Ingester, ReadEnd};
use crate::pathspec::{Excludes, PathSet};
use crate::progress::{Progress, Unit};
use crate::repo::{Locked, Repository};
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::resume::{self, Partial};
use crate::session::{pathspecs, Common};
use crate::walk_cache::{self, Walked};
use crate::worktree::{self, Found};

/// Which paths to stage, and how.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// As typed, relative to the current directory: files, symlinks or directories.
    pub paths: Vec<PathBuf>,
    /// Stage the whole worktree, whatever `paths` names.
    pub all: bool,
    /// Report what would be staged, reading and storing nothing.
    pub dry_run: bool,
    /// Include files the ignore files (`.cairnignore`, `.gitignore`) exclude.
    pub force: bool,
    /// Skip and report files and directories that cannot be read, instead of failing.
    pub ignore_errors: bool,
    /// Patterns in gitignore syntax for paths to leave as they are: not read, not added, not
    /// deleted from the index, whether named, found by the walk or tracked (`--exclude`).
    pub exclude: Vec<String>,
    /// Count the paths staged without listing them in [`AddOutcome::staged`] (the text
    /// output without `-v` prints only the counts): a first add of a million files would
    /// otherwise hold a copy of every path to print none of them.
    pub counts_only: bool,
}

/// How staging changed a path's index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Staged {
    /// Not tracked before. In JSON the names are status's: `"added"`, `"modified"`,
    /// `"deleted"`.
    #[serde(rename = "added")]
    New,
    /// Tracked, and its content, mode or kind changed (`"modified"`).
    Modified,
    /// Tracked, and gone from the worktree: no longer tracked (`"deleted"`).
    #[serde(rename = "deleted")]
    Removed,
}

/// One path whose index entry changed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StagedPath {
    /// Relative to the worktree root, '/'-separated.
    pub path: RepoPathBuf,
    /// `"added"`, `"modified"` or `"deleted"`.
    pub change: Staged,
}

/// A path left as it was, and why.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    /// Relative to the worktree root, '/'-separated; empty when the error named no path.
    pub path: RepoPathBuf,
    /// What went wrong, as the error message reads it (for a special file: `fifo: not
    /// stored`).
    pub reason: String,
}

/// What was staged, and what storing it cost.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct AddOutcome {
    /// Whether this was a dry run: nothing read, stored or staged, and the counts below are 0.
    pub dry_run: bool,
    /// Paths whose index entry changed, in path order. In a dry run: the paths that would be
    /// read (a tracked file whose stat data changed counts as modified, whatever its content),
    /// then those that would be removed.
    pub staged: Vec<StagedPath>,
    /// Paths not staged: special files (FIFOs, sockets, devices), files that vanished while
    /// being read, and with `ignore_errors` whatever could not be read or stored.
    pub skipped: Vec<Skipped>,
    /// Files and symlinks read; tracked ones whose stat data matched the index are not.
    pub files_read: u64,
    /// Their total size in bytes.
    pub bytes_read: u64,
    /// Chunks the store did not hold before.
    pub chunks_new: u64,
    /// Those chunks' bytes before compression.
    pub bytes_new: u64,
    /// Those chunks' bytes after compression, as written to packs.
    pub bytes_stored: u64,
    /// Data packs written.
    pub packs_written: u64,
    /// Bytes of large files not read again: an earlier add that was killed or failed had
    /// read them, and its checkpoint kept where it stopped (included in `bytes_read`).
    pub bytes_resumed: u64,
    /// How many paths were staged, by change: `staged` counted, or what it would have
    /// listed under [`AddOptions::counts_only`]. Not in the JSON document, which lists them.
    #[serde(skip)]
    pub counts: StagedCounts,
}

/// Paths staged, by change.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StagedCounts {
    /// Not tracked before.
    pub new: u64,
    /// Tracked, with other content, mode or kind.
    pub modified: u64,
    /// Gone from the worktree.
    pub removed: u64,
}

impl AddOutcome {
    /// Records that `path` was staged as `change`: counted, and listed unless `counts_only`.
    fn stage(&mut self, path: &[u8], change: Staged, counts_only: bool) {
        let n = match change {
            Staged::New => &mut self.counts.new,
            Staged::Modified => &mut self.counts.modified,
            Staged::Removed => &mut self.counts.removed,
        };
        *n += 1;
        if !counts_only {
            let path = RepoPathBuf::from(path);
            self.staged.push(StagedPath { path, change });
        }
    }
}

/// Stages the paths named, or the whole worktree: new and changed files are read and
/// chunked, chunks the store lacks go to data packs, and tracked files gone from the
/// worktree are no longer tracked. The index is saved last.
pub fn add(
    repo: &Locked,
    common: &Common,
    opts: &AddOptions,
    progress: &dyn Progress,
) -> Result<AddOutcome> {
    let mut index = repo.load_index()?;
    let look = crate::watch::Look::take(repo, &index);
    let excludes = Excludes::new(&opts.exclude)?;
    let specs = if opts.all {
        vec![RepoPathBuf::new()]
    } else {
        pathspecs(repo, &common.cwd, &opts.paths, &index)?
    };
    if specs.is_empty() {
        // An empty list of names (`--files-from` of a search that found nothing).
        return Ok(AddOutcome {
            dry_run: opts.dry_run,
            ..Default::default()
        });
    }
    let plan = plan(repo, &index, &specs, &excludes, opts, look.as_ref())?;
    let mut outcome = AddOutcome {
        dry_run: opts.dry_run,
        skipped: plan.skipped,
        ..Default::default()
    };
    if opts.dry_run {
        for rel in &plan.work {
            outcome.stage(rel, change_of(rel, &index), false);
        }
        for rel in &plan.removed {
            outcome.stage(rel, Staged::Removed, false);
        }
        return Ok(outcome);
    }
    remove(&mut index, plan.removed, &mut outcome, opts.counts_only);
    let staging = Staging {
        index: &mut index,
        outcome: &mut outcome,
        counts_only: opts.counts_only,
    };
    let readers = common.threads.unwrap_or(READERS);
    ingest_all(
        repo,
        plan.work,
        opts.ignore_errors,
        readers,
        progress,
        staging,
    )?;
    outcome.staged.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(walked) = plan.walked {
        // Every file found is now tracked but for those skipped.
        let untracked = outcome.skipped.iter();
        let untracked = untracked.map(|s| s.path.as_bytes().to_vec()).collect();
        index.walk_cache = walked.into_cache(repo.root(), untracked);
    }
    let counts = outcome.counts;
    if counts.new + counts.modified + counts.removed > 0 {
        index.base_tree = None;
    }
    crate::failpoint::hit("add:before-index");
    repo.save_index(&mut index)?;
    if let (Some(look), true) = (&look, plan.watched) {
        look.carry(repo, &index);
    }
    // Every read this add stopped inside a file has ended.
    resume::clear(repo.dir())?;
    Ok(outcome)
}

struct Plan {
    /// Paths to read: new, or tracked with stat data that no longer matches.
    work: Vec<Vec<u8>>,
    /// Tracked paths that are gone from the worktree.
    removed: Vec<Vec<u8>>,
    skipped: Vec<Skipped>,
    /// What a walk of the whole worktree saw, for the walk cache.
    walked: Option<Walked>,
    /// Whether the tracked files were checked as a file-system monitor's look said (so the
    /// monitor state carries over to the index this add writes).
    watched: bool,
}

impl Plan {
    /// Takes in a file the walk found (or would find): to read, or skipped.
    fn take(&mut self, root: &Path, rel: Vec<u8>, found: Found, opts: &AddOptions) -> Result<()> {
        if crate::build::too_deep(&rel) {
            let e = too_deep_to_store(root, &rel);
            match opts.ignore_errors {
                true => self.skipped.push(skipped(root, e)),
                false => return Err(e),
            }
            return Ok(());
        }
        match found {
            Found::Special(kind) => self.skipped.push(Skipped {
                path: RepoPathBuf::from(rel),
                reason: format!("{kind}: not stored"),
            }),
            Found::File | Found::Symlink => self.work.push(rel),
        }
        Ok(())
    }
}

/// The plan of a walk, without walking, when the walk cache still holds for every path
/// named (the root or directories the cache entered) and every tracked file named is still
/// a file or symlink: no name was added, removed or newly ignored, so the files a walk
/// would find are the tracked ones and the cache's untracked ones. The tracked files are
/// `lstat`ed where they stand in the index, copying no path. `None` to walk: no cache or a
/// stale one, `-f` or `--exclude` (which a cache of a walk without them cannot answer), or
/// a tracked path that is gone or of another kind, whose fate a walk decides.
fn cached_plan(
    repo: &Repository,
    index: &StagingIndex,
    specs: &[RepoPathBuf],
    excludes: &Excludes,
    opts: &AddOptions,
    started_ns: i64,
    look: Option<&crate::watch::Look>,
) -> Result<Option<Plan>> {
    let root = repo.root();
    let Some(cache) = index.walk_cache.as_ref() else {
        return Ok(None);
    };
    let dir_in_cache =
        |s: &RepoPathBuf| cache.has_dir(s.as_bytes()) && index.files_above(s).next().is_none();
    if opts.force || !excludes.is_empty() || !specs.iter().all(dir_in_cache) {
        return Ok(None);
    }
    let Some(walk_cache::Cached {
        files: found,
        relisted,
    }) = walk_cache::files(root, index)
    else {
        return Ok(None);
    };
    let named = PathSet::new(specs);
    let picked = look.and_then(|l| l.candidates(index));
    let Some(mut work) = changed_tracked(root, index, &named, picked.as_deref()) else {
        return Ok(None);
    };
    let whole = specs.iter().any(|s| s.is_root());
    let mut plan = Plan {
        work: Vec::new(),
        removed: Vec::new(),
        skipped: Vec::new(),
        walked: whole.then(|| Walked::from_cache(cache, &relisted, started_ns)),
        watched: picked.is_some(),
    };
    let new = found
        .into_iter()
        .filter(|p| !index.entries.contains_key(p) && named.covers(RepoPath::new(p)));
    for rel in new {
        let Some(kind) = walk_cache::found(root, &rel) else {
            return Ok(None);
        };
        plan.take(root, rel, kind, opts)?;
    }
    work.append(&mut plan.work);
    work.sort_unstable();
    work.dedup();
    plan.work = work;
    Ok(Some(plan))
}

/// The tracked files named whose stat data changed (or is racy), in path order; `None`
/// when one is no longer a file or symlink, cannot be examined, or is nested too deep to
/// store (an index no add wrote: the walk refuses it). Only the entries at `picked` are
/// examined when a file-system monitor vouches for the others.
fn changed_tracked(
    root: &Path,
    index: &StagingIndex,
    named: &PathSet,
    picked: Option<&[usize]>,
) -> Option<Vec<Vec<u8>>> {
    let wanted = |rel: &[u8]| named.covers(RepoPath::new(rel));
    let check = |rel: &[u8], e: &IndexEntry, st: Option<Stat>| -> Option<Option<Vec<u8>>> {
        let kind = st.map(|s| s.mode & libc::S_IFMT);
        match (st, kind) {
            _ if crate::build::too_deep(rel) => Some(None),
            (Some(s), Some(libc::S_IFREG | libc::S_IFLNK)) => {
                (s != e.stat || index.is_racy(e)).then(|| Some(rel.to_vec()))
            }
            _ => Some(None),
        }
    };
    let checked = match picked {
        Some(picked) => worktree::lstat_picked(root, &index.entries, picked, wanted, check),
        None => worktree::lstat_tracked(root, &index.entries, wanted, check),
    };
    checked.into_iter().collect()
}

/// A path below more directories than a layer may nest: refused here, so that the index
/// never holds what commit and status could not build.
fn too_deep_to_store(root: &std::path::Path, rel: &[u8]) -> Error {
    Error::BadPath {
        what: format!(
            "directories nested deeper than {} levels cannot be stored",
            crate::object::tree::MAX_DEPTH
        ),
        path: worktree::abs(root, rel),
    }
}

fn plan(
    repo: &Repository,
    index: &StagingIndex,
    specs: &[RepoPathBuf],
    excludes: &Excludes,
    opts: &AddOptions,
    look: Option<&crate::watch::Look>,
) -> Result<Plan> {
    let root = repo.root();
    let started_ns = now_ns();
    if let Some(plan) = cached_plan(repo, index, specs, excludes, opts, started_ns, look)? {
        return Ok(plan);
    }
    let threads = rayon::current_num_threads();
    let mut walk = worktree::walk_excluding(root, specs, opts.force, excludes, threads)?;
    let mut unreadable = std::mem::take(&mut walk.errors);
    if !opts.ignore_errors && !unreadable.is_empty() {
        return Err(unreadable.swap_remove(0));
    }
    walk.files.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    check_ignored(repo, specs, &walk, index, excludes)?;
    // A walk that left excluded files out has not seen the whole worktree.
    let whole = specs.iter().any(|s| s.is_root())
        && !opts.force
        && unreadable.is_empty()
        && excludes.is_empty();
    let walked = whole.then(|| Walked {
        dirs: walk
            .dirs
            .drain()
            .filter_map(|(p, s)| Some((p, s?)))
            .collect(),
        ignore_files: walk
            .files
            .iter()
            .filter(|(p, _)| worktree::is_ignore_file(RepoPath::new(p)))
            .map(|(p, _)| p.clone())
            .collect(),
        started_ns,
    });
    let mut plan = Plan {
        work: Vec::new(),
        removed: Vec::new(),
        skipped: unreadable.into_iter().map(|e| skipped(root, e)).collect(),
        walked,
        watched: false,
    };
    for (rel, found) in walk.files {
        plan.take(root, rel, found, opts)?;
    }
    // Tracked paths the walk did not report: deleted, replaced by a directory, or ignored
    // (tracked files stay tracked when an ignore rule later matches them, as in git). A
    // tracked file that is an ancestor of a named path has become a directory.
    let walked = plan.work.len(); // the walk's files, sorted
    let real = worktree::RealDirs::new(root);
    // A partial clone's never-fetched files are absent on purpose, not deleted.
    let sparse = crate::checkout::Sparse::load(repo)?;
    let kept = |rel: &[u8]| !excludes.excludes(RepoPath::new(rel), false);
    for spec in specs {
        let files_above = index.files_above(spec).map(|d| d.as_bytes().to_vec());
        plan.removed.extend(files_above.filter(|d| kept(d)));
    }
    // One pass over the index, however many paths were named.
    let named = PathSet::new(specs);
    let tracked = index
        .entries
        .iter()
        .filter(|(rel, _)| named.covers(RepoPath::new(rel)) && kept(rel));
    for (rel, e) in tracked {
        if plan.work[..walked]
            .binary_search_by(|w| w.as_slice().cmp(rel))
            .is_ok()
        {
            continue;
        }
        match unwalked(root, &real, rel) {
            Ok(true) => plan.work.push(rel.to_vec()),
            Ok(false) if sparse.skips(rel, e) => {}
            Ok(false) => plan.removed.push(rel.to_vec()),
            // Skipped means untouched: a file that cannot be examined is not deleted.
            Err(e) if opts.ignore_errors => plan.skipped.push(skipped(root, e)),
            Err(e) => return Err(e),
        }
    }
    plan.work.par_sort_unstable();
    plan.work.dedup();
    plan.removed.sort_unstable();
    plan.removed.dedup();
    let read = worktree::lstat_each(root, &plan.work, |rel, st| needs_read(index, rel, st));
    let work = std::mem::take(&mut plan.work).into_iter().zip(read);
    plan.work = work.filter_map(|(rel, read)| read.then_some(rel)).collect();
    Ok(plan)
}

/// What became of a tracked path the walk did not report: true to read it (a file or
/// symlink the walk did not reach, as under an ignored directory), false when it is gone
/// from the worktree: deleted, replaced by a directory or another kind, or beyond a symlink
/// or a file standing where its directory was (never read through it). An error when it
/// cannot be examined.
fn unwalked(root: &std::path::Path, real: &worktree::RealDirs, rel: &[u8]) -> Result<bool> {
    if !real.reaches(RepoPath::new(rel))? {
        return Ok(false);
    }
    let path = worktree::abs(root, rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) => Ok(m.is_file() || m.file_type().is_symlink()),
        Err(e)
            if e.raw_os_error()
                .is_some_and(|c| c == libc::ENOENT || c == libc::ENOTDIR) =>
        {
            Ok(false)
        }
        Err(e) => Err(Error::io("could not stat file", path)(e)),
    }
}

/// An explicitly named path that exists but that the walk never reached is ignored, unless
/// `--exclude` took it out: the user asked for that on the same command line.
fn check_ignored(
    repo: &Repository,
    specs: &[RepoPathBuf],
    walk: &worktree::Walk,
    index: &StagingIndex,
    excludes: &Excludes,
) -> Result<()> {
    for spec in specs {
        let reached = walk.dirs.contains_key(spec.as_bytes())
            || walk
                .files
                .binary_search_by(|(p, _)| p.as_slice().cmp(spec.as_bytes()))
                .is_ok();
        if reached {
            continue;
        }
        let path = worktree::abs(repo.root(), spec.as_bytes());
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // A tracked file is a hash lookup; only a directory needs the scan.
        let tracked = index.entries.contains_key(spec.as_bytes())
            || (meta.is_dir() && index.under(spec).next().is_some());
        if !tracked && !excludes.excludes(spec, meta.is_dir()) {
            return Err(Error::Ignored { path });
        }
    }
    Ok(())
}

/// The stat fast path: a tracked file whose stat data (`stat`, `None` when it has none)
/// matches, and that is not racy, is not read again.
fn needs_read(index: &StagingIndex, rel: &[u8], stat: Option<Stat>) -> bool {
    let Some(e) = index.entries.get(rel) else {
        return true;
    };
    stat.is_none_or(|s| s != e.stat || index.is_racy(e))
}

/// How staging `rel` would change its entry, its content unread: a dry run's guess.
fn change_of(rel: &[u8], index: &StagingIndex) -> Staged {
    if index.entries.contains_key(rel) {
        Staged::Modified
    } else {
        Staged::New
    }
}

/// A long add stops its readers to save what it staged so far once it has read this much
/// since the last checkpoint, or after [`CHECKPOINT_EVERY`]: the packs are sealed first,
/// then the index, so a checkpoint never names a chunk that is not stored, and running the
/// add again after a kill or a failure reads only what it had not reached. A checkpoint of
/// an add of large files costs a few milliseconds of fsync (measured with strace on 2 GiB),
/// and a kill loses on average half this much reading: 128 MiB is a quarter of a second at
/// the speed of this machine's disk, about the floor of [`CHECKPOINT_GAP`].
const CHECKPOINT_BYTES: u64 = 128 << 20;
/// See [`CHECKPOINT_BYTES`]: the checkpoint of an add of many small files.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);
/// Never sooner than this after the last checkpoint, nor than five times what the last
/// one took: saving a large index stays a small share of the add's time.
const CHECKPOINT_GAP: Duration = Duration::from_millis(250);

/// When the next checkpoint is due.
#[derive(Debug, Clone, Copy)]
struct Cadence {
    every: Duration,
    bytes: u64,
    gap: Duration,
    /// Whether `gap` grows with what checkpoints take (not when a test sets the pace).
    adaptive: bool,
}

impl Cadence {
    /// The defaults, or what a test asks for (`CAIRN_TEST_CHECKPOINT_MS`: that often, at
    /// any size).
    fn new() -> Cadence {
        match crate::failpoint::checkpoint_every() {
            Some(every) => Cadence {
                every,
                bytes: 0,
                gap: every,
                adaptive: false,
            },
            None => Cadence {
                every: CHECKPOINT_EVERY,
                bytes: CHECKPOINT_BYTES,
                gap: CHECKPOINT_GAP,
                adaptive: true,
            },
        }
    }
}

/// The files still to read, in order, and where earlier reads stopped inside some of them.
/// A path leaves the queue when a reader takes it and moves into the index once read, so
/// the queue's room is given back as it empties: the list of every file to read and the
/// index being built are never both whole at once.
struct Queue {
    paths: VecDeque<Vec<u8>>,
    /// Where an earlier read of a path still queued stopped: the resume file's records,
    /// and the large files a checkpoint stopped.
    from: HashMap<Vec<u8>, Partial>,
}

impl Queue {
    /// The files of `work` (sorted), each with where an interrupted add's read of it stopped
    /// (the resume file), when every chunk that record names is still stored: gc may have
    /// removed chunks that only the record named.
    fn new(repo: &Repository, work: Vec<Vec<u8>>) -> Queue {
        let from = resume::load(repo.dir())
            .into_iter()
            .filter(|(rel, p)| {
                work.binary_search(rel).is_ok()
                    && p.chunks.iter().all(|c| repo.store.contains(&c.id))
            })
            .collect();
        Queue {
            paths: work.into(),
            from,
        }
    }

    /// The next file to read, and where an earlier read of it stopped.
    fn pop(&mut self) -> Option<(Vec<u8>, Option<Partial>)> {
        let rel = self.paths.pop_front()?;
        let (len, room) = (self.paths.len(), self.paths.capacity());
        if room > 1024 && len < room / 4 {
            self.paths.shrink_to(len * 2);
        }
        let from = match self.from.is_empty() {
            true => None,
            false => self.from.remove(&rel),
        };
        Some((rel, from))
    }

    /// Puts a file whose read stopped back at the front, to go on from `p`.
    fn push_front(&mut self, rel: Vec<u8>, p: Partial) {
        self.from.insert(rel.clone(), p);
        self.paths.push_front(rel);
    }

    /// Where the reads of the files still queued stopped, for the resume file.
    fn records(&self) -> Vec<(&[u8], &Partial)> {
        self.from.iter().map(|(r, p)| (r.as_slice(), p)).collect()
    }
}

/// What readers put what they read into, one file at a time.
struct Staging<'a> {
    index: &'a mut StagingIndex,
    outcome: &'a mut AddOutcome,
    /// [`AddOptions::counts_only`].
    counts_only: bool,
}

/// Reads `work` (sorted) into the store and the index: each file's entry goes into `index`
/// (and `outcome`) as soon as it is read, and each checkpoint saves the index.
fn ingest_all(
    repo: &Locked,
    work: Vec<Vec<u8>>,
    ignore_errors: bool,
    readers: usize,
    progress: &dyn Progress,
    staging: Staging,
) -> Result<()> {
    // Room for every new path at once: growing the map (its entries, table or paths) by
    // doubling would copy it, and hold the old and new copies together, several times over
    // a large add.
    let entries = &mut staging.index.entries;
    let new = work.iter().filter(|rel| !entries.contains_key(*rel));
    let (count, path_bytes) = new.fold((0, 0), |(n, b), rel| (n + 1, b + rel.len()));
    entries.reserve(count, path_bytes);
    let resumed = AtomicU64::new(0);
    let staging = Mutex::new(staging);
    let ((), stored) = store_with(repo, progress, |ingester, checkpoint| {
        let reader = Readers {
            repo,
            ingester,
            count: readers,
            ignore_errors,
            progress,
            resumed: &resumed,
        };
        let queue = Queue::new(repo, work);
        reader.read_all(queue, &staging, Cadence::new(), |st, records| {
            checkpoint.seal()?;
            // The walk cache describes a finished walk: a checkpoint has none.
            st.index.walk_cache = None;
            st.index.base_tree = None;
            repo.save_index(st.index)?;
            resume::save(repo.dir(), &repo.tmp_dir(), records)?;
            crate::failpoint::hit("add:after-checkpoint");
            Ok(())
        })
    })?;
    let outcome = staging.into_inner().expect("no panics").outcome;
    outcome.bytes_resumed = resumed.into_inner();
    outcome.chunks_new = stored.counts.chunks;
    outcome.bytes_new = stored.counts.raw;
    outcome.bytes_stored = stored.counts.stored;
    outcome.packs_written = stored.packs;
    Ok(())
}

/// The size of what is at `rel`, 0 when it cannot be examined: only for a progress total.
fn lstat_size(repo: &Repository, rel: &[u8]) -> u64 {
    std::fs::symlink_metadata(worktree::abs(repo.root(), rel)).map_or(0, |m| m.len())
}

/// Threads reading files at once unless `--threads` says how many, however few cores: a
/// small file not in the page cache keeps its reader waiting on the disk, and more reads
/// in flight keep the disk's queue full. On two cores, an add of a million small files
/// none of which was cached took 53 s with two readers, 24 s with 8, 21 s with 16 and 15 s
/// with 32 (and 7 MB more memory with 16 than with 2, 30 with 32); with the files cached,
/// as long with 16 as with 2. Large files are read one a core whatever this is
/// (`ingest::Gate`).
const READERS: usize = 16;

/// What every reader thread shares.
struct Readers<'a> {
    repo: &'a Repository,
    ingester: &'a Ingester<'a>,
    /// Threads reading at once, at least one a core ([`READERS`], or `--threads`).
    count: usize,
    ignore_errors: bool,
    progress: &'a dyn Progress,
    /// Bytes read by an earlier add, for [`AddOutcome::bytes_resumed`].
    resumed: &'a AtomicU64,
}

impl Readers<'_> {
    /// Reads every file of `queue` on every worker thread, each file's entry going into
    /// `staging` as soon as it is read. When one of them sees that a checkpoint is due, each
    /// stops after its current small file or the current window of a large one, and
    /// `checkpoint` gets the staging and where the reads of large files stopped (and had
    /// stopped before: the resume file's records still to use); then reading goes on, the
    /// stopped files first, from where they stopped. A file that cannot be read fails the add
    /// unless `ignore_errors` (then it is reported as skipped).
    fn read_all(
        &self,
        queue: Queue,
        staging: &Mutex<Staging>,
        mut cadence: Cadence,
        mut checkpoint: impl FnMut(&mut Staging, &[(&[u8], &Partial)]) -> Result<()>,
    ) -> Result<()> {
        let total = if self.progress.wants_totals() {
            let size = |rel: &Vec<u8>| lstat_size(self.repo, rel);
            let done = |rel: &Vec<u8>| queue.from.get(rel).map_or(0, |p| p.offset);
            let paths = queue.paths.par_iter();
            paths.map(|r| size(r).saturating_sub(done(r))).sum()
        } else {
            0
        };
        let files = queue.paths.len() as u64;
        self.progress.begin("adding", Unit::Files, files, total);
        let queue = Mutex::new(queue);
        let stopped = Mutex::new(Vec::new());
        let failed = Mutex::new(None);
        loop {
            let round = Round {
                started: Instant::now(),
                cadence,
                read: AtomicU64::new(0),
                pause: AtomicBool::new(false),
            };
            let shared = Shared {
                queue: &queue,
                staging,
                stopped: &stopped,
                failed: &failed,
                round: &round,
            };
            self.run_readers(&shared);
            if let Some(e) = failed.lock().expect("no panics").take() {
                return Err(e);
            }
            if !round.pause.load(Relaxed) {
                break;
            }
            let took = Instant::now();
            let queue = &mut *queue.lock().expect("no panics");
            let stopped = std::mem::take(&mut *stopped.lock().expect("no panics"));
            for (rel, p) in stopped.into_iter().rev() {
                queue.push_front(rel, p);
            }
            checkpoint(&mut staging.lock().expect("no panics"), &queue.records())?;
            if cadence.adaptive {
                cadence.gap = cadence.gap.max(took.elapsed() * 5);
            }
        }
        self.progress.end();
        Ok(())
    }

    /// Runs [`Readers::worker`] on `count` threads, or one a core when there are more
    /// cores, and never more than files to read; on this thread alone should no thread
    /// start (a process limit).
    fn run_readers(&self, shared: &Shared<'_, '_>) {
        let files = shared.queue.lock().expect("no panics").paths.len();
        let n = rayon::current_num_threads()
            .max(self.count)
            .min(files.max(1));
        std::thread::scope(|s| {
            let started = (0..n)
                .map(|i| {
                    let b = std::thread::Builder::new().name(format!("reader-{i}"));
                    b.spawn_scoped(s, || self.worker(shared))
                })
                .filter(Result::is_ok)
                .count();
            if started == 0 {
                self.worker(shared);
            }
        });
    }

    /// One reader: files from the queue until it is empty, the round pauses, or a file
    /// fails.
    fn worker(&self, sh: &Shared<'_, '_>) {
        let round = sh.round;
        loop {
            if round.pause.load(Relaxed) || sh.failed.lock().expect("no panics").is_some() {
                return;
            }
            let Some((rel, from)) = sh.queue.lock().expect("no panics").pop() else {
                return;
            };
            // A large file's windows count as they are read, and may end the round.
            let counted = AtomicU64::new(0);
            let stop = |n: u64| {
                counted.fetch_add(n, Relaxed);
                round.read.fetch_add(n, Relaxed);
                round.pause_if_due()
            };
            let read = self
                .ingester
                .read_from(&worktree::abs(self.repo.root(), &rel), from, &stop);
            let entry = match read {
                Ok(ReadEnd::Stopped(partial)) => {
                    sh.stopped.lock().expect("no panics").push((rel, partial));
                    return;
                }
                Ok(ReadEnd::Done { entry, resumed }) => {
                    self.resumed.fetch_add(resumed, Relaxed);
                    Ok(entry)
                }
                Err(e) => Err(e),
            };
            // The bytes were reported chunk by chunk as they were read.
            self.progress.advance(1, 0);
            match entry {
                Err(e) if !self.ignore_errors || e.is_disk_full() => {
                    sh.failed.lock().expect("no panics").get_or_insert(e);
                    return;
                }
                other => {
                    let size = match &other {
                        Ok(Some(e)) => e.stat.size,
                        _ => 0,
                    };
                    let root = self.repo.root();
                    sh.staging
                        .lock()
                        .expect("no panics")
                        .absorb(root, rel, other);
                    round
                        .read
                        .fetch_add(size.saturating_sub(counted.into_inner()), Relaxed);
                }
            }
            round.pause_if_due();
        }
    }
}

/// What the readers of one round share.
struct Shared<'a, 's> {
    queue: &'a Mutex<Queue>,
    staging: &'a Mutex<Staging<'s>>,
    /// Large files whose read stopped for the checkpoint, and where.
    stopped: &'a Mutex<Vec<(Vec<u8>, Partial)>>,
    failed: &'a Mutex<Option<Error>>,
    round: &'a Round,
}

/// One stretch of reading between checkpoints.
struct Round {
    started: Instant,
    cadence: Cadence,
    /// Bytes of the files read in this round.
    read: AtomicU64,
    /// Set by the first reader to see a checkpoint due: all stop after their current file.
    pause: AtomicBool,
}

impl Round {
    fn due(&self) -> bool {
        let (elapsed, c) = (self.started.elapsed(), &self.cadence);
        elapsed >= c.gap && (elapsed >= c.every || self.read.load(Relaxed) >= c.bytes)
    }

    /// Pauses the round when a checkpoint is due; whether it is paused.
    fn pause_if_due(&self) -> bool {
        if !self.pause.load(Relaxed) && self.due() {
            self.pause.store(true, Relaxed);
        }
        self.pause.load(Relaxed)
    }
}

impl Staging<'_> {
    /// Puts what reading `rel` gave into the index and the outcome: its entry staged, or
    /// the file reported as skipped when it vanished or (with `--ignore-errors`) could not
    /// be read.
    fn absorb(&mut self, root: &Path, rel: Vec<u8>, read: Result<Option<IndexEntry>>) {
        let (index, outcome) = (&mut *self.index, &mut *self.outcome);
        let entry = match read {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                outcome.skipped.push(Skipped {
                    path: RepoPathBuf::from(rel),
                    reason: "vanished while adding".into(),
                });
                return;
            }
            Err(e) => {
                outcome.skipped.push(skipped(root, e));
                return;
            }
        };
        outcome.files_read += 1;
        outcome.bytes_read += entry.stat.size;
        let change = match index.entries.get(&rel) {
            None => Some(Staged::New),
            Some(old)
                if !old.same_content(&entry)
                    || old.mode != entry.mode
                    || old.kind != entry.kind =>
            {
                Some(Staged::Modified)
            }
            Some(_) => None,
        };
        if let Some(change) = change {
            outcome.stage(&rel, change, self.counts_only);
        }
        index.entries.insert(rel, entry);
    }
}

/// A file or directory skipped by `--ignore-errors`, with what went wrong.
fn skipped(root: &std::path::Path, e: Error) -> Skipped {
    let path = match &e {
        Error::Io { path, .. }
        | Error::Unstable { path }
        | Error::ChangedType { path }
        | Error::BadPath { path, .. } => path.strip_prefix(root).unwrap_or(path),
        _ => std::path::Path::new(""),
    };
    Skipped {
        path: RepoPathBuf::from(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())),
        reason: e.to_string(),
    }
}

/// Takes the paths gone from the worktree (sorted, no duplicates) out of the index, in one
/// pass that keeps its order: removing them one by one would shift the entries once per
/// path, and 50,000 deletions took minutes.
fn remove(
    index: &mut StagingIndex,
    removed: Vec<Vec<u8>>,
    outcome: &mut AddOutcome,
    counts_only: bool,
) {
    if removed.is_empty() {
        return;
    }
    index
        .entries
        .retain(|rel, _| removed.binary_search_by(|r| r.as_slice().cmp(rel)).is_err());
    for rel in &removed {
        outcome.stage(rel, Staged::Removed, counts_only);
    }
}
