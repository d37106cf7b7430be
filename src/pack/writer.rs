//! Appends objects to pack files and publishes each full pack with its index.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::index::{encode_index, IdxEntry};
use super::{pack_header, record_header, Encoded, ObjectKind, PackClass, PACK_HEADER_LEN};
use super::{PACK_TARGET, RECORD_HEADER_LEN};
use crate::error::{IoContext, Result};
use crate::failpoint;
use crate::fsutil;
use crate::hash::{Domain, HashAlgo, Hasher, ObjectId};

struct OpenPack {
    file: BufWriter<File>,
    tmp: PathBuf,
    offset: u64,
    /// Bytes already handed to the kernel for write-back.
    synced: u64,
    entries: Vec<IdxEntry>,
    name: Hasher,
}

/// Writes objects into packs of about [`PACK_TARGET`] bytes. Each pack is fsynced and renamed
/// into `packs/`, then its index is written the same way: a pack's objects become visible
/// only when both are durable.
///
/// A writer dropped without a successful [`finish`](PackWriter::finish) (an error, such as a
/// full disk, or a panic) deletes what it wrote, the packs it already published included:
/// nothing refers to their objects yet, since callers only refer to objects after `finish`,
/// and the writers' lock keeps any other process from referring to them meanwhile. A failed
/// command thus leaves the repository as it found it.
pub struct PackWriter {
    algo: HashAlgo,
    class: PackClass,
    packs_dir: PathBuf,
    tmp_dir: PathBuf,
    target: u64,
    current: Option<OpenPack>,
    seen: HashSet<ObjectId>,
    written: Vec<ObjectId>,
    bytes: u64,
}

impl PackWriter {
    pub fn new(algo: HashAlgo, class: PackClass, packs_dir: &Path, tmp_dir: &Path) -> PackWriter {
        PackWriter {
            algo,
            class,
            packs_dir: packs_dir.to_path_buf(),
            tmp_dir: tmp_dir.to_path_buf(),
            target: failpoint::pack_target().unwrap_or(PACK_TARGET),
            current: None,
            seen: HashSet::new(),
            written: Vec::new(),
            bytes: 0,
        }
    }

    /// Smaller packs, for tests that want several.
    pub fn with_target(mut self, target: u64) -> PackWriter {
        self.target = target;
        self
    }

    /// Appends one object, unless this writer already holds it.
    pub fn add(&mut self, id: ObjectId, kind: ObjectKind, payload: &Encoded) -> Result<()> {
        if !self.seen.insert(id) {
            return Ok(());
        }
        if self.current.is_none() {
            self.current = Some(self.open()?);
        }
        let pack = self.current.as_mut().expect("opened above");
        let stored_len = payload.bytes.len() as u32;
        let header = record_header(&id, kind, payload.codec, payload.raw_len, stored_len);
        failpoint::error("pack:write-error")
            .and_then(|()| pack.file.write_all(&header))
            .and_then(|()| pack.file.write_all(&payload.bytes))
            .ctx("could not write pack", &pack.tmp)?;
        pack.entries.push(IdxEntry {
            id,
            offset: pack.offset,
            raw_len: payload.raw_len,
            stored_len,
            kind,
            codec: payload.codec,
        });
        // The name commits to every record header, so two packs with the same name hold the
        // same objects in the same layout.
        pack.name.update(&header);
        pack.offset += (RECORD_HEADER_LEN + payload.bytes.len()) as u64;
        self.bytes += (RECORD_HEADER_LEN + payload.bytes.len()) as u64;
        if pack.offset >= self.target {
            self.close_current()?;
        } else {
            start_writeback(pack);
        }
        Ok(())
    }

    fn open(&self) -> Result<OpenPack> {
        let tmp = fsutil::temp_path(&self.tmp_dir, "pack");
        let file = fsutil::create_new(&tmp)?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&pack_header(self.class))
            .ctx("could not write pack", &tmp)?;
        Ok(OpenPack {
            file,
            tmp,
            offset: PACK_HEADER_LEN as u64,
            synced: 0,
            entries: Vec::new(),
            name: self.algo.hasher(Domain::Pack),
        })
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(pack) = self.current.take() else {
            return Ok(());
        };
        let tmp = pack.tmp.clone();
        let result = self.publish(pack);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Syncs the pack, moves it into `packs/` and writes its index.
    fn publish(&mut self, mut pack: OpenPack) -> Result<()> {
        let file = pack
            .file
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("could not write pack", &pack.tmp)?;
        file.sync_all().ctx("could not sync pack", &pack.tmp)?;
        drop(file);
        failpoint::hit("pack:before-rename");
        let name = pack.name.finish();
        let idx_path = self.packs_dir.join(format!("{name}.idx"));
        if idx_path.exists() {
            // The same pack is published already: keep it, never replace a pack in place.
            std::fs::remove_file(&pack.tmp).ctx("could not remove temporary pack", &pack.tmp)?;
            return Ok(());
        }
        let dest = self.packs_dir.join(format!("{name}.pack"));
        std::fs::rename(&pack.tmp, &dest).ctx("could not move pack into place", &dest)?;
        failpoint::hit("pack:before-index");
        let idx = encode_index(self.algo, &mut pack.entries);
        // write_atomic syncs the directory, which also makes the pack's rename durable.
        if let Err(e) = fsutil::write_atomic(&self.tmp_dir, &idx_path, &idx) {
            let _ = std::fs::remove_file(&dest);
            return Err(e);
        }
        self.written.push(name);
        failpoint::hit("pack:after-index");
        Ok(())
    }

    /// Bytes appended so far (record headers included).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Publishes the last pack and returns the names of all packs written. On an error,
    /// every pack this writer published is deleted again.
    pub fn finish(mut self) -> Result<Vec<ObjectId>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.written))
    }
}

/// Asks the kernel to start writing what the pack holds so far, every few MiB, so disk
/// writes overlap reading and hashing and the fsync at the end of the pack finds little left.
/// It is only a hint: errors surface at the fsync.
fn start_writeback(pack: &mut OpenPack) {
    const STEP: u64 = 8 << 20;
    let in_kernel = pack.offset - pack.file.buffer().len() as u64;
    if in_kernel - pack.synced < STEP {
        return;
    }
    use std::os::fd::AsRawFd;
    let fd = pack.file.get_ref().as_raw_fd();
    // SAFETY: fd is an open file owned by `pack`; the range lies within what was written.
    unsafe {
        libc::sync_file_range(
            fd,
            pack.synced as i64,
            (in_kernel - pack.synced) as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
    pack.synced = in_kernel;
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        // An unfinished pack is never published, and packs published before the failure are
        // withdrawn, index first so that readers never see an index without its pack.
        if let Some(pack) = self.current.take() {
            let _ = std::fs::remove_file(&pack.tmp);
        }
        for name in self.written.drain(..) {
            let _ = std::fs::remove_file(self.packs_dir.join(format!("{name}.idx")));
            let _ = std::fs::remove_file(self.packs_dir.join(format!("{name}.pack")));
        }
    }
}
