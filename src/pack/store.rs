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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use super::index::{IdxEntry, PackIndex};
use super::{check_lengths, decompress, ObjectKind, RECORD_HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::hash::{HashAlgo, ObjectId};

/// One published pack: its name, its index and (opened on first read) its data file.
pub struct Pack {
    /// The pack's name: the hash of its objects' ids, in order.
    pub name: ObjectId,
    /// Its index, mapped.
    pub index: PackIndex,
    /// The data file and its length, taken once: packs never change after publication.
    file: OnceLock<(File, u64)>,
    path: PathBuf,
}

impl Pack {
    /// The pack data file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data file, opened once: an open handle keeps reading after gc deletes the file.
    fn file(&self) -> Result<&(File, u64)> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = File::open(&self.path).ctx("could not open pack", &self.path)?;
        let len = f.metadata().ctx("could not open pack", &self.path)?.len();
        Ok(self.file.get_or_init(|| (f, len)))
    }

    /// Reads the stored bytes of the record `e`, checking the record header against the
    /// index entry. The record must lie inside the pack, so a hostile index cannot make a
    /// read reserve more memory than the pack's size.
    pub fn read_stored(&self, e: &IdxEntry) -> Result<Vec<u8>> {
        check_lengths(e.kind, e.codec, e.raw_len, e.stored_len).map_err(|w| self.damaged(e, &w))?;
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

    fn damaged(&self, e: &IdxEntry, detail: &str) -> Error {
        Error::corrupt("pack", &self.path, format!("object {}: {detail}", e.id))
    }
}

/// One listing of `packs/`.
#[derive(Default)]
struct PackSet {
    packs: Vec<Arc<Pack>>,
    /// Indexes that could not be opened, with the reason. Their objects read as missing;
    /// `verify` reports them.
    damaged: Vec<(ObjectId, String)>,
}

/// All packs of a repository.
pub struct Store {
    algo: HashAlgo,
    dir: PathBuf,
    set: RwLock<Arc<PackSet>>,
    /// True while this process holds the writers' lock: no other process can publish or
    /// delete packs then, so a lookup that misses needs no new listing.
    settled: Arc<AtomicBool>,
}

impl Store {
    /// Opens every pack that has an index. Packs without one are orphans of an interrupted
    /// write and are not visible.
    pub fn open(dir: &Path, algo: HashAlgo) -> Result<Store> {
        let store = Store {
            algo,
            dir: dir.to_path_buf(),
            set: RwLock::new(Arc::default()),
            settled: Arc::new(AtomicBool::new(false)),
        };
        store.refresh()?;
        Ok(store)
    }

    /// Lists `packs/` again: packs published since are opened, packs deleted since (by gc)
    /// are dropped. Packs still listed keep their open files.
    pub fn refresh(&self) -> Result<()> {
        let names = self.list()?;
        let old = self.current();
        let mut next = PackSet::default();
        for name in names {
            match old.packs.iter().find(|p| p.name == name) {
                Some(p) => next.packs.push(Arc::clone(p)),
                None => self.open_pack(name, &mut next),
            }
        }
        *self
            .set
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// The pack names that have an index, sorted.
    fn list(&self) -> Result<Vec<ObjectId>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx("could not list packs", &self.dir)? {
            let entry = entry.ctx("could not list packs", &self.dir)?;
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

    fn open_pack(&self, name: ObjectId, set: &mut PackSet) {
        match PackIndex::open(&self.dir.join(format!("{name}.idx"))) {
            Ok(index) => set.packs.push(Arc::new(Pack {
                name,
                index,
                file: OnceLock::new(),
                path: self.dir.join(format!("{name}.pack")),
            })),
            // Deleted by gc between the listing and the open: it is simply gone.
            Err(e) if is_not_found(&e) => {}
            Err(e) => set.damaged.push((name, e.to_string())),
        }
    }

    /// Lists and opens every pack afresh, dropping the indexes held so far: after an index
    /// was rebuilt, the damaged one must not stay in use.
    pub fn reload(&self) -> Result<()> {
        *self
            .set
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::default();
        self.refresh()
    }

    /// Every pack index that is damaged, with the reason: those that could not be opened and
    /// those whose checksum or order is wrong. Hashes every index, so only gc and verify ask.
    pub fn damaged_indexes(&self) -> Vec<(ObjectId, String)> {
        let set = self.current();
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

    fn current(&self) -> Arc<PackSet> {
        Arc::clone(
            &self
                .set
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Declares that this process holds the writers' lock, until the returned flag is
    /// cleared: lookups that miss no longer list `packs/` again (see `contains`).
    pub fn settle(&self) -> Arc<AtomicBool> {
        self.settled.store(true, Ordering::Release);
        Arc::clone(&self.settled)
    }

    /// Pack indexes that could not be opened.
    pub fn damaged(&self) -> Vec<(ObjectId, String)> {
        self.current().damaged.clone()
    }

    /// The packs directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hash algorithm of the repository the store belongs to.
    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The packs as of the last listing. Each stays readable while held, even if gc deletes
    /// it meanwhile, unless its data file was never opened.
    pub fn packs(&self) -> Vec<Arc<Pack>> {
        self.current().packs.clone()
    }

    /// Finds the pack and entry of `id` in the packs as of the last listing.
    pub fn locate(&self, id: &ObjectId) -> Option<(Arc<Pack>, IdxEntry)> {
        // Newest packs first: a recent add's objects are the likeliest to be asked for.
        self.current()
            .packs
            .iter()
            .rev()
            .find_map(|p| p.index.lookup(id).map(|e| (Arc::clone(p), e)))
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
    /// object that is missing, or whose pack file is gone, is looked for once more after
    /// listing the packs again: a concurrent commit may have published it, or gc may have
    /// moved it to a new pack.
    pub fn read(&self, id: &ObjectId, kind: ObjectKind, context: &Path) -> Result<Vec<u8>> {
        match self.read_listed(id, kind, context) {
            Err(e) if is_stale(&e) => {
                self.refresh()?;
                self.read_listed(id, kind, context)
            }
            other => other,
        }
    }

    fn read_listed(&self, id: &ObjectId, kind: ObjectKind, context: &Path) -> Result<Vec<u8>> {
        let (pack, e) = self.locate(id).ok_or_else(|| Error::MissingObject {
            id: format!("{} {id}", kind.name()),
            path: context.to_path_buf(),
        })?;
        if e.kind != kind {
            return Err(pack.damaged(
                &e,
                &format!("is a {}, not a {}", e.kind.name(), kind.name()),
            ));
        }
        let stored = pack.read_stored(&e)?;
        decompress(e.kind, e.codec, stored, e.raw_len)
            .map_err(|err| pack.damaged(&e, &format!("cannot decompress: {err}")))
    }
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

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let (packs, tmp) = (d.path().join("packs"), d.path().join("tmp"));
        std::fs::create_dir(&packs).unwrap();
        std::fs::create_dir(&tmp).unwrap();
        (d, packs, tmp)
    }

    fn remove_pack(packs: &Path, name: ObjectId) {
        std::fs::remove_file(packs.join(format!("{name}.idx"))).unwrap();
        std::fs::remove_file(packs.join(format!("{name}.pack"))).unwrap();
    }

    #[test]
    fn a_read_follows_an_object_to_its_new_pack() {
        let (_d, packs, tmp) = dirs();
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
        let (_d, packs, tmp) = dirs();
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
        let (_d, packs, tmp) = dirs();
        let algo = HashAlgo::Blake3;
        let store = Store::open(&packs, algo).unwrap();
        let settled = store.settle();
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

    #[test]
    fn a_vanished_index_is_not_damage() {
        let (_d, packs, _tmp) = dirs();
        let mut set = PackSet::default();
        let store = Store::open(&packs, HashAlgo::Blake3).unwrap();
        store.open_pack(ObjectId([7; 32]), &mut set);
        assert!(set.packs.is_empty() && set.damaged.is_empty());
        std::fs::write(packs.join(format!("{}.idx", ObjectId([8; 32]))), b"junk").unwrap();
        store.refresh().unwrap();
        assert_eq!(store.damaged().len(), 1);
    }
}
