//! What a remote holds: its packs (from one listing), and the union of their indexes for
//! lookups, read from `.cairn/packs` when the pack is also local and otherwise downloaded
//! once into `.cairn/cache/idx/` (indexes are immutable and named by their pack, so the cache
//! never goes stale).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::layout;
use super::Remote;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::pack::{
    record_header, IdxEntry, ObjectKind, PackIndex, PACK_HEADER_LEN, RECORD_HEADER_LEN,
};
use crate::repo::Repository;

/// One pack on the remote: the sizes of its two objects, when present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemotePack {
    /// The pack file's size in bytes; `None` when it is not on the remote.
    pub pack: Option<u64>,
    /// The index's size in bytes; `None` when it is not on the remote (yet).
    pub idx: Option<u64>,
}

impl RemotePack {
    /// A pack is published once its index is there (the index goes up last).
    pub fn complete(&self) -> bool {
        self.pack.is_some() && self.idx.is_some()
    }
}

/// Every pack key on the remote, by pack name.
pub fn list_packs(remote: &Remote) -> Result<BTreeMap<ObjectId, RemotePack>> {
    let mut out: BTreeMap<ObjectId, RemotePack> = BTreeMap::new();
    for m in remote.list(layout::PACKS)? {
        if let Some((name, is_idx)) = layout::parse_pack_key(&m.key) {
            let e = out.entry(name).or_default();
            if is_idx {
                e.idx = Some(m.size);
            } else {
                e.pack = Some(m.size);
            }
        }
    }
    Ok(out)
}

/// The indexes of a set of remote packs.
pub struct RemoteIndex {
    /// Each pack's name and index, in the order asked.
    pub packs: Vec<(ObjectId, PackIndex)>,
}

impl RemoteIndex {
    /// Opens (downloading when needed) the index of each pack in `names`.
    pub fn load(repo: &Repository, remote: &Remote, names: &[ObjectId]) -> Result<RemoteIndex> {
        let mut packs = Vec::with_capacity(names.len());
        for name in names {
            packs.push((*name, open_index(repo, remote, name)?));
        }
        Ok(RemoteIndex { packs })
    }

    /// True when some pack lists `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.packs.iter().any(|(_, idx)| idx.lookup(id).is_some())
    }

    /// The pack and record of `id`.
    pub fn locate(&self, id: &ObjectId) -> Option<(ObjectId, IdxEntry)> {
        self.packs
            .iter()
            .find_map(|(name, idx)| idx.lookup(id).map(|e| (*name, e)))
    }

    /// True when the pack holds no chunks: a metadata pack (layers, trees, file objects).
    pub fn is_meta(idx: &PackIndex) -> bool {
        idx.entries().flatten().all(|e| e.kind != ObjectKind::Chunk)
    }
}

/// `.cairn/cache/idx`, where downloaded indexes of remote packs are kept.
pub fn cache_dir(repo: &Repository) -> PathBuf {
    repo.dir().join("cache").join("idx")
}

/// The index of remote pack `name`: the local copy, the cached one, or a fresh download,
/// checked (structure, checksum, order, and that the records it lists hash to the pack's
/// name) before it is cached.
pub fn open_index(repo: &Repository, remote: &Remote, name: &ObjectId) -> Result<PackIndex> {
    let local = repo.packs_dir().join(format!("{name}.idx"));
    if local.exists() {
        return PackIndex::open(&local);
    }
    let cache = cache_dir(repo);
    let cached = cache.join(format!("{name}.idx"));
    if cached.exists() {
        if let Ok(idx) = PackIndex::open(&cached) {
            return Ok(idx);
        }
    }
    let key = layout::idx(name);
    let (bytes, _) = remote
        .get(&key)?
        .ok_or_else(|| remote.invalid(format!("{key} is listed but cannot be read")))?;
    std::fs::create_dir_all(&cache).ctx("could not create directory", &cache)?;
    // Staged in the cache itself, not in tmp/: push reads remote indexes without the writers'
    // lock, and gc empties tmp/ under it.
    let tmp = fsutil::temp_path(&cache, "idx");
    std::fs::write(&tmp, &bytes).ctx("could not write file", &tmp)?;
    let checked = check_index(&tmp, repo.algo(), name);
    let result = checked.and_then(|_| fsutil::rename_durable(&tmp, &cached));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| remote.invalid(format!("pack index {name}: {e}")))?;
    PackIndex::open(&cached)
}

/// Opens and fully checks a pack index whose pack is called `name`; returns the size the
/// pack must have.
pub fn check_index(path: &Path, algo: HashAlgo, name: &ObjectId) -> Result<(PackIndex, u64)> {
    let idx = PackIndex::open(path)?;
    idx.verify(algo)
        .map_err(|d| Error::corrupt("pack index", path, d))?;
    let (computed, size) = name_from_index(algo, &idx)
        .ok_or_else(|| Error::corrupt("pack index", path, "records overlap or leave gaps"))?;
    if computed != *name {
        return Err(Error::corrupt(
            "pack index",
            path,
            format!("its records make pack {computed}, not {name}"),
        ));
    }
    Ok((idx, size))
}

/// The name of the pack an index describes (the hash of its record headers in file order,
/// FORMAT.md section 12) and the pack's size; `None` when the records are not laid end to end
/// from the header on, as cairn writes them.
pub fn name_from_index(algo: HashAlgo, idx: &PackIndex) -> Option<(ObjectId, u64)> {
    let mut entries: Vec<IdxEntry> = idx.entries().collect::<Option<_>>()?;
    entries.sort_unstable_by_key(|e| e.offset);
    let mut h = algo.hasher(Domain::Pack);
    let mut end = PACK_HEADER_LEN as u64;
    for e in &entries {
        if e.offset != end {
            return None;
        }
        h.update(&record_header(
            &e.id,
            e.kind,
            e.codec,
            e.raw_len,
            e.stored_len,
        ));
        end += (RECORD_HEADER_LEN as u64) + u64::from(e.stored_len);
    }
    Some((h.finish(), end))
}
