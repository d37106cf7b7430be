//! The set of packs of a repository: lookups through the memory-mapped indexes, reads with
//! decompression. Each read is checked by its caller against the id (see `object`).
//!
//! Readers take no lock, so the set of packs can change under them: a writer publishes new
//! packs, and gc deletes packs after copying their live objects elsewhere. The set is
//! therefore behind a lock of its own and re-scanned when a read misses: an object that is
//! not found, or a pack file that is gone, is looked up once more in a fresh listing before
//! the miss is reported.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use rayon::prelude::*;

use super::bytes::PacksDir;
use super::held::{self, Held, HeldListing};
use super::index::{IdxEntry, PackIndex};
use super::midx::{Midx, MIDX_FILE, TAIL_FILE};
use super::{check_lengths, decompress, ObjectKind, RECORD_HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::hash::{HashAlgo, ObjectId};

/// A published pack's data file, opened on first read and shared by every listing that
/// names the pack, so an open handle survives a listing again.
pub struct PackData {
    name: ObjectId,
    /// The data file and its length, taken once: packs never change after publication.
    file: OnceLock<(File, u64)>,
    /// The whole pack, when a check that read it kept it (see [`PackData::keep`]): reads
    /// then cost no system call.
    kept: OnceLock<Vec<u8>>,
    dir: Arc<PacksDir>,
    /// Made on first use: a listing taken from the multi-pack index names thousands of packs
    /// and a command reads a few of them (their paths were a sixth of `ls`'s own CPU time
    /// with 2,000 packs).
    path: OnceLock<PathBuf>,
}

impl PackData {
    fn new(dir: &Arc<PacksDir>, name: ObjectId) -> PackData {
        PackData {
            name,
            file: OnceLock::new(),
            kept: OnceLock::new(),
            dir: Arc::clone(dir),
            path: OnceLock::new(),
        }
    }

    /// The pack's name.
    pub fn name(&self) -> ObjectId {
        self.name
    }

    /// The pack data file's path.
    pub fn path(&self) -> &Path {
        self.path
            .get_or_init(|| self.dir.path().join(format!("{}.pack", self.name)))
    }

    /// The directory the pack is in.
    pub(crate) fn dir(&self) -> &PacksDir {
        &self.dir
    }

    /// Keeps `bytes`, the whole pack as a check read it, for the reads that follow, within
    /// a budget of [`KEEP_MAX`] bytes for the process: `verify` walks the metadata packs it
    /// has just checked, and with thousands of small packs each open and `fstat` again cost
    /// more than the bytes. Returns whether they were kept.
    pub(crate) fn keep(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len() as u64;
        let taken = KEPT.fetch_add(len, Ordering::Relaxed);
        if taken + len > KEEP_MAX || self.kept.set(bytes).is_err() {
            KEPT.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The data file, opened once: an open handle keeps reading after gc deletes the file.
    fn file(&self) -> Result<&(File, u64)> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let path = self.path();
        let f = File::open(path).ctx("could not open pack", path)?;
        let len = f.metadata().ctx("could not open pack", path)?.len();
        Ok(self.file.get_or_init(|| (f, len)))
    }

    /// Reads the stored bytes of the record `e`, checking the record header against the
    /// index entry. The record must lie inside the pack, so a hostile index cannot make a
    /// read reserve more memory than the pack's size.
    pub fn read_stored(&self, e: &IdxEntry) -> Result<Vec<u8>> {
        check_lengths(e.kind, e.codec, e.raw_len, e.stored_len).map_err(|w| self.damaged(e, &w))?;
        if let Some(kept) = self.kept.get() {
            return self.read_kept(kept, e);
        }
        let (f, size) = self.file()?;
        let end = e.offset + RECORD_HEADER_LEN as u64 + u64::from(e.stored_len);
        if end > *size {
            return Err(self.damaged(e, "record lies past the end of the pack (truncated?)"));
        }
        let mut header = [0u8; RECORD_HEADER_LEN];
        let buf =
            crate::fsutil::read_head_and_body(f, e.offset, &mut header, e.stored_len as usize)
                .map_err(|err| self.damaged(e, &format!("record unreadable: {err}")))?;
        if header != e.record_header() {
            return Err(self.damaged(e, "record header does not match the index"));
        }
        Ok(buf)
    }

    fn read_kept(&self, kept: &[u8], e: &IdxEntry) -> Result<Vec<u8>> {
        let at = e.offset as usize;
        let body = at + RECORD_HEADER_LEN;
        let Some(record) = kept.get(at..body + e.stored_len as usize) else {
            return Err(self.damaged(e, "record lies past the end of the pack (truncated?)"));
        };
        if record[..RECORD_HEADER_LEN] != e.record_header() {
            return Err(self.damaged(e, "record header does not match the index"));
        }
        Ok(record[RECORD_HEADER_LEN..].to_vec())
    }

    fn damaged(&self, e: &IdxEntry, detail: &str) -> Error {
        Error::corrupt("pack", self.path(), format!("object {}: {detail}", e.id))
    }
}

/// The most bytes of packs a process keeps in memory (see [`PackData::keep`]).
pub(crate) const KEEP_MAX: u64 = 64 << 20;

/// Bytes kept so far by [`PackData::keep`].
static KEPT: AtomicU64 = AtomicU64::new(0);

/// One published pack with its own index.
pub struct Pack {
    /// The pack's name: the hash of its objects' ids, in order.
    pub name: ObjectId,
    /// Its index, mapped.
    pub index: PackIndex,
    data: Arc<PackData>,
}

impl Pack {
    /// The pack data file's path.
    pub fn path(&self) -> &Path {
        self.data.path()
    }

    /// Its data file, as lookups return it.
    pub fn data(&self) -> &Arc<PackData> {
        &self.data
    }

    /// Reads the stored bytes of the record `e` (see [`PackData::read_stored`]).
    pub fn read_stored(&self, e: &IdxEntry) -> Result<Vec<u8>> {
        self.data.read_stored(e)
    }
}

/// Every pack's own index opened: what `packs()` lists, and how lookups go when there is
/// no trustworthy multi-pack index.
#[derive(Default)]
struct PackSet {
    packs: Vec<Arc<Pack>>,
    /// Indexes that could not be opened, with the reason. Their objects read as missing;
    /// `verify` reports them.
    damaged: Vec<(ObjectId, String)>,
}

/// How lookups go in one listing.
enum Route {
    /// Through the multi-pack index (its base, then its tail when that is usable), then the
    /// own indexes of the packs neither covers (published since they were written).
    Midx {
        /// Each table with the position in the listing of each pack it names.
        tables: Vec<(Midx, Vec<usize>)>,
        /// Position and index of each listed pack no table names.
        extra: Vec<(usize, PackIndex)>,
    },
    /// Through every pack's own index: there is no multi-pack index, or it names a pack
    /// that is gone, or its head is damaged.
    PerPack,
}

/// The position in `all` of each name of `part`, both ascending and `part` within `all` (a
/// table's names among the names of all tables): one walk instead of a binary search each,
/// which with thousands of packs was a visible share of every command's start.
fn positions(all: &[ObjectId], part: &[ObjectId]) -> Vec<usize> {
    let mut at = 0;
    part.iter()
        .map(|name| {
            while at + 1 < all.len() && all[at] < *name {
                at += 1;
            }
            at
        })
        .collect()
}

/// One listing of `packs/`: the packs that have an index, and what was opened of them.
/// Indexes are opened only when first needed, so a command that reads a few objects opens
/// the multi-pack index and nothing else.
struct Listing {
    /// Sorted by name.
    data: Vec<Arc<PackData>>,
    /// Taken from the names in the multi-pack index instead of from listing `packs/`, which
    /// costs a reader milliseconds with thousands of packs. Packs published since it was
    /// written are missing from it until a lookup misses and lists `packs/` (as any miss
    /// does), and whatever needs every pack (`packs`, `names`) lists first.
    from_midx: bool,
    route: OnceLock<Route>,
    full: OnceLock<PackSet>,
}

impl Listing {
    fn new(data: Vec<Arc<PackData>>) -> Listing {
        Listing {
            data,
            from_midx: false,
            route: OnceLock::new(),
            full: OnceLock::new(),
        }
    }

    /// The packs the multi-pack index of `dir` (base and tail) names, with lookups through
    /// it, or `None` when its base does not open.
    fn from_midx(dir: &Arc<PacksDir>, algo: HashAlgo) -> Option<Listing> {
        let path = dir.path();
        let mut tables = vec![Midx::open(&path.join(MIDX_FILE), algo).ok()?];
        tables.extend(Midx::open(&path.join(TAIL_FILE), algo).ok());
        Some(Listing::of_tables(dir, tables))
    }

    /// [`Listing::from_midx`] for the writers' lock holder, who extends the tables from what
    /// they name: `None` also when a tail is there that does not open (the packs it names
    /// would be named by neither table again).
    fn from_sound_midx(dir: &Arc<PacksDir>, algo: HashAlgo) -> Option<Listing> {
        let path = dir.path();
        let base = Midx::open(&path.join(MIDX_FILE), algo).ok()?;
        let tail = match Midx::open(&path.join(TAIL_FILE), algo) {
            Ok(tail) => Some(tail),
            Err(_) if path.join(TAIL_FILE).exists() => return None,
            Err(_) => None,
        };
        Some(Listing::of_tables(
            dir,
            [base].into_iter().chain(tail).collect(),
        ))
    }

    fn of_tables(dir: &Arc<PacksDir>, tables: Vec<Midx>) -> Listing {
        let named: Vec<Vec<ObjectId>> = tables.iter().map(Midx::names).collect();
        let mut names: Vec<ObjectId> = named.concat();
        // Two ascending runs: the stable sort merges them in one pass.
        names.sort();
        names.dedup();
        let tables = tables
            .into_iter()
            .zip(&named)
            .map(|(t, own)| (t, positions(&names, own)))
            .collect();
        let data = names
            .iter()
            .map(|n| Arc::new(PackData::new(dir, *n)))
            .collect();
        let route = Route::Midx {
            tables,
            extra: Vec::new(),
        };
        Listing {
            data,
            from_midx: true,
            route: OnceLock::from(route),
            full: OnceLock::new(),
        }
    }

    fn position(&self, name: &ObjectId) -> Option<usize> {
        self.data.binary_search_by_key(name, |d| d.name).ok()
    }

    fn full(&self, dir: &PacksDir) -> &PackSet {
        self.full.get_or_init(|| {
            // Opened on every core: with thousands of packs (verify, gc) the opens and
            // reads of their indexes were a sequential phase of their own.
            let opened: Vec<_> = self
                .data
                .par_iter()
                .map(|d| PackIndex::open_in(dir, &d.name))
                .collect();
            let mut set = PackSet::default();
            for (d, index) in self.data.iter().zip(opened) {
                match index {
                    Ok(index) => set.packs.push(Arc::new(Pack {
                        name: d.name,
                        index,
                        data: Arc::clone(d),
                    })),
                    // Deleted by gc between the listing and the open: it is simply gone.
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => set.damaged.push((d.name, e.to_string())),
                }
            }
            set
        })
    }

    fn route(&self, dir: &PacksDir, algo: HashAlgo) -> &Route {
        self.route.get_or_init(|| self.open_route(dir, algo))
    }

    /// The multi-pack index, when its base opens and every pack it names is listed; its
    /// tail too when that opens and every pack it names is listed.
    fn open_route(&self, dir: &PacksDir, algo: HashAlgo) -> Route {
        let Some(base) = self.table(&dir.path().join(MIDX_FILE), algo) else {
            return Route::PerPack;
        };
        let mut tables = vec![base];
        tables.extend(self.table(&dir.path().join(TAIL_FILE), algo));
        let mut named = vec![false; self.data.len()];
        for i in tables.iter().flat_map(|(_, packs)| packs) {
            named[*i] = true;
        }
        let extra = self
            .data
            .iter()
            .enumerate()
            .filter(|(i, _)| !named[*i])
            .filter_map(|(i, d)| {
                // One that does not open reads as missing here, as without a multi-pack
                // index; `verify` reports it through `packs`.
                let index = PackIndex::open_in(dir, &d.name).ok()?;
                Some((i, index))
            })
            .collect();
        Route::Midx { tables, extra }
    }

    /// The table at `path` with the position in this listing of each pack it names, when
    /// it opens and every pack it names is listed.
    fn table(&self, path: &Path, algo: HashAlgo) -> Option<(Midx, Vec<usize>)> {
        let table = Midx::open(path, algo).ok()?;
        let packs = table
            .names()
            .iter()
            .map(|n| self.position(n))
            .collect::<Option<_>>()?;
        Some((table, packs))
    }

    fn locate(
        &self,
        dir: &PacksDir,
        algo: HashAlgo,
        id: &ObjectId,
    ) -> Option<(Arc<PackData>, IdxEntry)> {
        let Route::Midx { tables, extra } = self.route(dir, algo) else {
            return self.locate_per_pack(dir, id);
        };
        for (table, packs) in tables {
            match table.lookup(id) {
                Ok(Some((n, e))) => return Some((Arc::clone(&self.data[packs[n]]), e)),
                Ok(None) => {}
                // A damaged part of the multi-pack index answers nothing: the packs' own
                // indexes do.
                Err(_) => return self.locate_per_pack(dir, id),
            }
        }
        extra
            .iter()
            .rev()
            .find_map(|(i, index)| index.lookup(id).map(|e| (Arc::clone(&self.data[*i]), e)))
    }

    /// Drops the pages of the tables and indexes opened so far from the process's memory.
    fn release_pages(&self) {
        if let Some(Route::Midx { tables, extra }) = self.route.get() {
            tables.iter().for_each(|(t, _)| t.release_pages());
            extra.iter().for_each(|(_, index)| index.release_pages());
        }
        if let Some(set) = self.full.get() {
            set.packs.iter().for_each(|p| p.index.release_pages());
        }
    }

    fn locate_per_pack(&self, dir: &PacksDir, id: &ObjectId) -> Option<(Arc<PackData>, IdxEntry)> {
        // Newest packs first: a recent add's objects are the likeliest to be asked for.
        self.full(dir)
            .packs
            .iter()
            .rev()
            .find_map(|p| p.index.lookup(id).map(|e| (Arc::clone(&p.data), e)))
    }
}

/// All packs of a repository.
pub struct Store {
    algo: HashAlgo,
    dir: PathBuf,
    /// `dir`, for opening its files by name.
    packs: Arc<PacksDir>,
    listing: RwLock<Arc<Listing>>,
    /// True while this process holds the writers' lock: no other process can publish or
    /// delete packs then, so a lookup that misses needs no new listing.
    settled: Arc<AtomicBool>,
    /// The packs present while settled (see [`HeldListing`]).
    held: HeldListing,
}

impl Store {
    /// The packs named by the multi-pack index when it opens (see `Listing::from_midx`),
    /// else those that have an index (packs without one are orphans of an interrupted write
    /// and are not visible). No pack index is opened yet.
    pub fn open(dir: &Path, algo: HashAlgo) -> Result<Store> {
        let packs = Arc::new(PacksDir::new(dir));
        let from_midx = Listing::from_midx(&packs, algo);
        let listed = from_midx.is_some();
        let store = Store {
            algo,
            dir: dir.to_path_buf(),
            packs,
            listing: RwLock::new(Arc::new(from_midx.unwrap_or(Listing::new(Vec::new())))),
            settled: Arc::new(AtomicBool::new(false)),
            held: HeldListing::default(),
        };
        if !listed {
            store.refresh()?;
        }
        Ok(store)
    }

    /// The current listing, listing `packs/` first if it came from the multi-pack index:
    /// for what needs every pack. A failure to list keeps the one held.
    fn listed(&self) -> Arc<Listing> {
        if self.current().from_midx {
            let _kept_on_failure = self.refresh();
        }
        self.current()
    }

    /// Lists `packs/` again: packs published since become visible, packs deleted since (by
    /// gc) are dropped. Packs still listed keep their open files; when nothing changed, the
    /// indexes opened so far stay in use.
    pub fn refresh(&self) -> Result<()> {
        self.relist(false)
    }

    fn relist(&self, reopen: bool) -> Result<()> {
        let names = self.list()?;
        if self.settled.load(Ordering::Acquire) {
            names.clone_into(&mut held::lock(&self.held).names);
        }
        let old = self.current();
        let same = names.iter().eq(old.data.iter().map(|d| &d.name));
        if !reopen && !old.from_midx && same {
            return Ok(());
        }
        let dir = &self.packs;
        // Both ascending: one walk finds each name's old entry.
        let mut kept = old.data.iter().peekable();
        let data = names
            .into_iter()
            .map(|name| {
                while kept.next_if(|d| d.name < name).is_some() {}
                match kept.next_if(|d| d.name == name) {
                    Some(d) if !reopen => Arc::clone(d),
                    _ => Arc::new(PackData::new(dir, name)),
                }
            })
            .collect();
        *self
            .listing
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Listing::new(data));
        Ok(())
    }

    fn list(&self) -> Result<Vec<ObjectId>> {
        super::midx_write::list_packs(&self.dir)
    }

    /// Lists and opens every pack afresh, dropping the indexes held so far: after an index
    /// was rebuilt, or the multi-pack index rewritten, the old ones must not stay in use.
    pub fn reload(&self) -> Result<()> {
        self.relist(true)
    }

    /// Every pack index that is damaged, with the reason: those that could not be opened and
    /// those whose checksum or order is wrong. Hashes every index, so only gc and verify ask.
    pub fn damaged_indexes(&self) -> Vec<(ObjectId, String)> {
        let listing = self.listed();
        let set = listing.full(&self.packs);
        let mut out = set.damaged.clone();
        for p in &set.packs {
            if let Err(why) = p.index.verify(self.algo) {
                out.push((p.name, why));
            }
        }
        out
    }

    /// Packs with no index: left by an interrupted write, or whose index was lost.
    pub fn orphans(&self) -> Result<Vec<ObjectId>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx("could not list packs", &self.dir)? {
            let path = entry.ctx("could not list packs", &self.dir)?.path();
            let stem = path.file_stem().and_then(|s| s.to_str());
            let name = stem.and_then(|s| s.parse::<ObjectId>().ok());
            if let Some(name) = name.filter(|_| path.extension().is_some_and(|e| e == "pack")) {
                if !path.with_extension("idx").exists() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    /// Rebuilds the index of pack `name` from the pack and puts it in place atomically. Only
    /// under the writers' lock. The outer error is a failure to write; the inner one says
    /// why the pack cannot vouch for an index (then nothing was written).
    pub fn repair_index(
        &self,
        name: &ObjectId,
        tmp_dir: &Path,
    ) -> Result<std::result::Result<(), String>> {
        let pack = self.dir.join(format!("{name}.pack"));
        match super::rebuild_index(&pack, name, self.algo) {
            Ok(bytes) => {
                let idx = pack.with_extension("idx");
                crate::fsutil::write_atomic(tmp_dir, &idx, &bytes)?;
                Ok(Ok(()))
            }
            Err(why) => Ok(Err(why)),
        }
    }

    fn current(&self) -> Arc<Listing> {
        Arc::clone(
            &self
                .listing
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Declares that this process holds the writers' lock, until the returned flag is
    /// cleared: lookups that miss no longer list `packs/` again (see `contains`). The packs
    /// present are taken from the multi-pack index, which every holder extends over the
    /// packs it publishes before it lets go, unless a holder was stopped before it could
    /// (the marker of [`held`] is there) or the table is missing or damaged: then from a
    /// listing of `packs/`, which the writers of this process keep up to date from then on.
    pub fn settle(&self) -> Result<Arc<AtomicBool>> {
        let marked = held::is_marked(&self.dir);
        let table = (!marked)
            .then(|| Listing::from_sound_midx(&self.packs, self.algo))
            .flatten();
        match table {
            Some(listing) => self.install_table(listing),
            None => self.relist(false)?,
        }
        let names = self.current().data.iter().map(|d| d.name).collect();
        *held::lock(&self.held) = Held::new(names, marked);
        self.settled.store(true, Ordering::Release);
        Ok(Arc::clone(&self.settled))
    }

    /// Puts `listing` (from the tables) in use, keeping the packs already opened when the
    /// listing held names the same packs.
    fn install_table(&self, listing: Listing) {
        let old = self.current();
        let same = old.from_midx
            && listing
                .data
                .iter()
                .map(|d| d.name)
                .eq(old.data.iter().map(|d| d.name));
        if !same {
            *self
                .listing
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(listing);
        }
    }

    /// The packs present, kept up to date by this process's writers, while it holds the
    /// writers' lock; `None` otherwise.
    pub fn held_listing(&self) -> Option<HeldListing> {
        let settled = self.settled.load(Ordering::Acquire);
        settled.then(|| Arc::clone(&self.held))
    }

    /// Pack indexes that could not be opened.
    pub fn damaged(&self) -> Vec<(ObjectId, String)> {
        self.listed().full(&self.packs).damaged.clone()
    }

    /// The packs directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hash algorithm of the repository the store belongs to.
    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The names of the packs as of the last listing, sorted; opens nothing.
    pub fn names(&self) -> Vec<ObjectId> {
        self.listed().data.iter().map(|d| d.name).collect()
    }

    /// Whether the lookups of the last listing go through a multi-pack index (opening it
    /// if not yet done).
    pub fn uses_midx(&self) -> bool {
        let listing = self.current();
        let route = listing.route(&self.packs, self.algo);
        matches!(route, Route::Midx { .. })
    }

    /// The packs as of the last listing, each with its own index (opened on the first call
    /// for a listing). Each stays readable while held, even if gc deletes it meanwhile,
    /// unless its data file was never opened.
    pub fn packs(&self) -> Vec<Arc<Pack>> {
        self.listed().full(&self.packs).packs.clone()
    }

    /// Finds the pack and entry of `id` in the packs as of the last listing.
    pub fn locate(&self, id: &ObjectId) -> Option<(Arc<PackData>, IdxEntry)> {
        self.current().locate(&self.packs, self.algo, id)
    }

    /// Drops the pages of the mapped lookup tables from the process's memory, for a caller
    /// that asked about many ids: each lookup reads a few pages of each table, and the pages
    /// read stay counted in the process's memory (at a first commit of a million files, 57
    /// MB of pack indexes beside the staging index). Lookups after it read them again.
    pub fn release_pages(&self) {
        self.current().release_pages();
    }

    /// True when some pack holds `id`. A miss lists `packs/` again first, unless this
    /// process holds the writers' lock (then nothing else changes the packs, and `add`
    /// asks about every new chunk).
    pub fn contains(&self, id: &ObjectId) -> bool {
        if self.locate(id).is_some() {
            return true;
        }
        if self.settled.load(Ordering::Acquire) || self.refresh().is_err() {
            return false;
        }
        self.locate(id).is_some()
    }

    /// Reads and decompresses an object of the expected kind. The caller checks its id. An
    /// object that is missing, or whose pack file is gone, is looked for again after
    /// listing the packs again, as long as the listing changes (a few times at most): a
    /// concurrent commit may have published it, or gc may have moved it to a new pack, and a
    /// listing taken while gc deletes old packs may still name one it deletes next.
    pub fn read(&self, id: &ObjectId, kind: ObjectKind, context: &Path) -> Result<Vec<u8>> {
        let mut tries = 0;
        loop {
            match self.read_listed(id, kind, context) {
                Err(e) if is_stale(&e) && tries < 4 => {
                    let before = self.current();
                    self.refresh()?;
                    if Arc::ptr_eq(&before, &self.current()) && tries > 0 {
                        return Err(e);
                    }
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    fn read_listed(&self, id: &ObjectId, kind: ObjectKind, context: &Path) -> Result<Vec<u8>> {
        let listing = self.current();
        let (pack, e) =
            listing
                .locate(&self.packs, self.algo, id)
                .ok_or_else(|| Error::MissingObject {
                    id: format!("{} {id}", kind.name()),
                    path: context.to_path_buf(),
                })?;
        match read_entry(&pack, &e, kind) {
            // The multi-pack index points at a record that does not match (a table crafted
            // or damaged past its checksums): it must not hide a sound pack, so the packs'
            // own indexes answer. The same entry there is damage in the pack itself.
            Err(err)
                if !is_stale(&err) && matches!(listing.route.get(), Some(Route::Midx { .. })) =>
            {
                match listing.locate_per_pack(&self.packs, id) {
                    Some((p, f)) if (p.name, f) != (pack.name, e) => read_entry(&p, &f, kind),
                    _ => Err(err),
                }
            }
            other => other,
        }
    }
}

/// Reads the record `e` of `pack`, of the expected kind, decompressed.
fn read_entry(pack: &PackData, e: &IdxEntry, kind: ObjectKind) -> Result<Vec<u8>> {
    if e.kind != kind {
        let what = format!("is a {}, not a {}", e.kind.name(), kind.name());
        return Err(pack.damaged(e, &what));
    }
    let stored = pack.read_stored(e)?;
    decompress(e.kind, e.codec, stored, e.raw_len)
        .map_err(|err| pack.damaged(e, &format!("cannot decompress: {err}")))
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// A miss that a newer listing of the packs may answer.
fn is_stale(e: &Error) -> bool {
    matches!(e, Error::MissingObject { .. }) || is_not_found(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Domain;
    use crate::pack::{Encoded, PackClass, PackWriter};
    use crate::testutil::pack_dirs;

    #[test]
    fn positions_of_a_table_among_all_names() {
        let all: Vec<ObjectId> = [1u8, 3, 5, 7, 9].map(|b| ObjectId([b; 32])).to_vec();
        let of = |bs: &[u8]| -> Vec<usize> {
            let part: Vec<ObjectId> = bs.iter().map(|b| ObjectId([*b; 32])).collect();
            positions(&all, &part)
        };
        assert_eq!(of(&[3, 9]), vec![1, 4]);
        assert_eq!(of(&[1]), vec![0]);
        assert_eq!(of(&[1, 3, 5, 7, 9]), vec![0, 1, 2, 3, 4]);
        assert_eq!(of(&[]), Vec::<usize>::new());
    }

    fn write_pack(packs: &Path, tmp: &Path, items: &[&[u8]]) -> ObjectId {
        let algo = HashAlgo::Blake3;
        let mut w = PackWriter::new(algo, PackClass::Data, packs, tmp);
        for b in items {
            w.add(
                algo.hash(Domain::Chunk, b),
                ObjectKind::Chunk,
                &Encoded::raw(b),
            )
            .unwrap();
        }
        w.finish().unwrap()[0]
    }

    fn remove_pack(packs: &Path, name: ObjectId) {
        std::fs::remove_file(packs.join(format!("{name}.idx"))).unwrap();
        std::fs::remove_file(packs.join(format!("{name}.pack"))).unwrap();
    }

    #[test]
    fn a_read_follows_an_object_to_its_new_pack() {
        let (_d, packs, tmp) = pack_dirs();
        let algo = HashAlgo::Blake3;
        let old = write_pack(&packs, &tmp, &[b"live", b"dead"]);
        let store = Store::open(&packs, algo).unwrap();
        // What gc does: copy the live object to a new pack, then delete the old pack.
        write_pack(&packs, &tmp, &[b"live"]);
        remove_pack(&packs, old);
        let id = algo.hash(Domain::Chunk, b"live");
        assert_eq!(store.read(&id, ObjectKind::Chunk, &packs).unwrap(), b"live");
        assert_eq!(store.packs().len(), 1, "the deleted pack is dropped");
        let dead = algo.hash(Domain::Chunk, b"dead");
        assert!(matches!(
            store.read(&dead, ObjectKind::Chunk, &packs),
            Err(Error::MissingObject { .. })
        ));
    }

    #[test]
    fn an_open_pack_stays_readable_after_deletion() {
        let (_d, packs, tmp) = pack_dirs();
        let algo = HashAlgo::Blake3;
        let name = write_pack(&packs, &tmp, &[b"one", b"two"]);
        let store = Store::open(&packs, algo).unwrap();
        let one = algo.hash(Domain::Chunk, b"one");
        store.read(&one, ObjectKind::Chunk, &packs).unwrap();
        remove_pack(&packs, name);
        let two = algo.hash(Domain::Chunk, b"two");
        assert_eq!(store.read(&two, ObjectKind::Chunk, &packs).unwrap(), b"two");
    }

    #[test]
    fn new_packs_are_found_unless_settled() {
        let (_d, packs, tmp) = pack_dirs();
        let algo = HashAlgo::Blake3;
        let store = Store::open(&packs, algo).unwrap();
        let settled = store.settle().unwrap();
        write_pack(&packs, &tmp, &[b"new"]);
        let id = algo.hash(Domain::Chunk, b"new");
        assert!(!store.contains(&id), "a settled store does not list again");
        settled.store(false, Ordering::Release);
        assert!(store.contains(&id));
        write_pack(&packs, &tmp, &[b"newer"]);
        let id = algo.hash(Domain::Chunk, b"newer");
        assert_eq!(
            store.read(&id, ObjectKind::Chunk, &packs).unwrap(),
            b"newer"
        );
    }

    /// A small metadata pack that a check found sound is read from the bytes the check
    /// read, not from its file again (here deleted meanwhile); a data pack is not kept.
    #[test]
    fn a_checked_metadata_pack_is_read_from_memory() {
        let (_d, packs, tmp) = pack_dirs();
        let algo = HashAlgo::Blake3;
        let tree = b"not a tree, but no check here decodes it";
        let tree_id = algo.hash(Domain::Chunk, b"any id");
        let mut w = PackWriter::new(algo, PackClass::Meta, &packs, &tmp);
        w.add(tree_id, ObjectKind::Tree, &Encoded::raw(tree))
            .unwrap();
        let meta = w.finish().unwrap()[0];
        let data = write_pack(&packs, &tmp, &[b"a chunk"]);
        let store = Store::open(&packs, algo).unwrap();
        for p in store.packs() {
            let report = crate::pack::check_records(&p, algo, false);
            assert!(report.problems.is_empty() && report.bad.is_empty());
        }
        remove_pack(&packs, meta);
        remove_pack(&packs, data);
        assert_eq!(
            store.read(&tree_id, ObjectKind::Tree, &packs).unwrap(),
            tree
        );
        let chunk = algo.hash(Domain::Chunk, b"a chunk");
        assert!(store.read(&chunk, ObjectKind::Chunk, &packs).is_err());
    }

    #[test]
    fn a_vanished_index_is_not_damage() {
        let (_d, packs, _tmp) = pack_dirs();
        let store = Store::open(&packs, HashAlgo::Blake3).unwrap();
        let dir = Arc::new(PacksDir::new(&packs));
        let listing = Listing::new(vec![Arc::new(PackData::new(&dir, ObjectId([7; 32])))]);
        let set = listing.full(&dir);
        assert!(set.packs.is_empty() && set.damaged.is_empty());
        std::fs::write(packs.join(format!("{}.idx", ObjectId([8; 32]))), b"junk").unwrap();
        store.refresh().unwrap();
        assert_eq!(store.damaged().len(), 1);
    }
}
