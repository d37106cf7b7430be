//! The set of packs of a repository: lookups through the memory-mapped indexes, reads with
//! decompression. Each read is checked by its caller against the id (see `object`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::index::{IdxEntry, PackIndex};
use super::{decompress, ObjectKind, RECORD_HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::hash::{HashAlgo, ObjectId};

/// One published pack: its name, its index and (opened on first read) its data file.
pub struct Pack {
    pub name: ObjectId,
    pub index: PackIndex,
    file: OnceLock<File>,
    path: PathBuf,
}

impl Pack {
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self) -> Result<&File> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = File::open(&self.path).ctx("could not open pack", &self.path)?;
        Ok(self.file.get_or_init(|| f))
    }

    /// Reads the stored bytes of the record `e`, checking the record header against the
    /// index entry.
    pub fn read_stored(&self, e: &IdxEntry) -> Result<Vec<u8>> {
        let f = self.file()?;
        let mut header = [0u8; RECORD_HEADER_LEN];
        f.read_exact_at(&mut header, e.offset)
            .map_err(|err| self.damaged(e, &format!("record header unreadable: {err}")))?;
        if header[..32] != e.id.0 || header[32] != e.kind as u8 || header[33] != e.codec as u8 {
            return Err(self.damaged(e, "record header does not match the index"));
        }
        let size = f.metadata().map_or(0, |m| m.len());
        let end = e.offset + RECORD_HEADER_LEN as u64 + e.stored_len as u64;
        if end > size {
            return Err(self.damaged(e, "record lies past the end of the pack (truncated?)"));
        }
        let mut buf = vec![0u8; e.stored_len as usize];
        f.read_exact_at(&mut buf, e.offset + RECORD_HEADER_LEN as u64)
            .map_err(|err| self.damaged(e, &format!("record unreadable: {err}")))?;
        Ok(buf)
    }

    fn damaged(&self, e: &IdxEntry, detail: &str) -> Error {
        Error::corrupt("pack", &self.path, format!("object {}: {detail}", e.id))
    }
}

/// All packs of a repository.
pub struct Store {
    algo: HashAlgo,
    dir: PathBuf,
    packs: Vec<Pack>,
    /// Indexes that could not be opened, with the reason. Their objects read as missing;
    /// `verify` reports them.
    damaged: Vec<(ObjectId, String)>,
}

impl Store {
    /// Opens every pack that has an index. Packs without one are orphans of an interrupted
    /// write and are not visible.
    pub fn open(dir: &Path, algo: HashAlgo) -> Result<Store> {
        let mut store = Store {
            algo,
            dir: dir.to_path_buf(),
            packs: Vec::new(),
            damaged: Vec::new(),
        };
        store.refresh()?;
        Ok(store)
    }

    /// Picks up packs published since the store was opened.
    pub fn refresh(&mut self) -> Result<()> {
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
        // Packs deleted since (by gc) are dropped, new ones opened.
        self.packs.retain(|p| names.binary_search(&p.name).is_ok());
        self.damaged.clear();
        for name in names {
            if !self.packs.iter().any(|p| p.name == name) {
                self.add_pack(name);
            }
        }
        Ok(())
    }

    fn add_pack(&mut self, name: ObjectId) {
        match PackIndex::open(&self.dir.join(format!("{name}.idx"))) {
            Ok(index) => self.packs.push(Pack {
                name,
                index,
                file: OnceLock::new(),
                path: self.dir.join(format!("{name}.pack")),
            }),
            Err(e) => self.damaged.push((name, e.to_string())),
        }
    }

    /// Pack indexes that could not be opened.
    pub fn damaged(&self) -> &[(ObjectId, String)] {
        &self.damaged
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    pub fn packs(&self) -> &[Pack] {
        &self.packs
    }

    /// Finds the pack and entry of `id`.
    pub fn locate(&self, id: &ObjectId) -> Option<(&Pack, IdxEntry)> {
        // Newest packs first: a recent add's objects are the likeliest to be asked for.
        self.packs
            .iter()
            .rev()
            .find_map(|p| p.index.lookup(id).map(|e| (p, e)))
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.locate(id).is_some()
    }

    /// Reads and decompresses an object of the expected kind. The caller checks its id.
    pub fn read(&self, id: &ObjectId, kind: ObjectKind, context: &Path) -> Result<Vec<u8>> {
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
        decompress(e.codec, stored, e.raw_len)
            .map_err(|err| pack.damaged(&e, &format!("cannot decompress: {err}")))
    }
}
