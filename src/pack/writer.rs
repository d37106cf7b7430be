//! Appends objects to pack files and publishes each full pack with its index.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::held::{self, HeldListing};
use super::index::{write_index, IdxEntry};
use super::seen::IdSet;
use super::{pack_header, record_header, Encoded, ObjectKind, PackClass, PACK_HEADER_LEN};
use super::{PACK_TARGET, RECORD_HEADER_LEN};
use crate::error::{IoContext, Result};
use crate::failpoint;
use crate::fsutil;
use crate::hash::{Domain, HashAlgo, Hasher, ObjectId};
use crate::repo::Repository;

struct OpenPack {
    file: PackFile,
    tmp: PathBuf,
    offset: u64,
    /// Bytes already handed to the kernel for write-back (buffered files only).
    synced: u64,
    entries: Vec<IdxEntry>,
    name: Hasher,
}

/// A pack is closed once it holds this many objects, whatever its size. The writer keeps
/// each object's index entry (56 bytes) until the pack is published, and a first commit of
/// a million files writes a million file objects of about 60 bytes each: one pack of them
/// held 56 MB of entries, a quarter of the commit's peak memory. At this many a pack of
/// small objects is still about 16 MB; merging does not count such a pack as small
/// ([`crate::pack::consolidate::small`]), so merging never rewrites it into its own shape.
const MAX_ENTRIES: usize = 1 << 18;

/// [`MAX_ENTRIES`], or what a test asks for.
pub(crate) fn entry_limit() -> usize {
    failpoint::pack_entries().unwrap_or(MAX_ENTRIES)
}

/// Bytes go to the file in blocks of this size.
const BLOCK: usize = 1 << 20;
const ALIGN: usize = fsutil::DIRECT_ALIGN;

/// A pack file being written, through a block buffer of its own. Where the file system
/// allows it the file is written with `O_DIRECT`: every full block goes from the buffer to
/// the device, instead of being copied into newly allocated page-cache pages, which cost
/// more than the disk itself (on the benchmark machine, `dd` wrote 2 GiB and fsynced it in
/// 8.0 s through the page cache and in 1.45 s with `O_DIRECT`). Nothing reads a pack before
/// it is published, so the cache pages would serve no one. The last, partial block is padded
/// with zeros to the alignment and the file is then cut to its length. A file system that
/// refuses a direct write gets the block again through the page cache.
struct PackFile {
    file: File,
    direct: bool,
    block: fsutil::AlignedBuf,
    /// Bytes in the block.
    len: usize,
    /// Bytes in the file.
    pos: u64,
}

impl PackFile {
    fn create(path: &Path) -> Result<PackFile> {
        let file = fsutil::create_new(path)?;
        let direct = fsutil::set_direct(&file, true);
        Ok(PackFile {
            file,
            direct,
            block: fsutil::AlignedBuf::new(BLOCK),
            len: 0,
            pos: 0,
        })
    }

    fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let n = (BLOCK - self.len).min(data.len());
            self.block.as_mut_slice()[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len == BLOCK {
                self.write_block(BLOCK)?;
            }
        }
        Ok(())
    }

    /// Writes the first `len` bytes of the block at the end of the file and empties it.
    fn write_block(&mut self, len: usize) -> std::io::Result<()> {
        let block = &self.block.as_slice()[..len];
        if fsutil::write_at_direct(&self.file, block, self.pos)? {
            self.direct = false;
        }
        self.pos += len as u64;
        self.len = 0;
        Ok(())
    }

    /// Bytes appended so far.
    fn offset(&self) -> u64 {
        self.pos + self.len as u64
    }

    /// Writes what the block holds and returns the file, ready to be synced.
    fn finish(mut self) -> std::io::Result<File> {
        let end = self.offset();
        let len = if self.direct {
            self.len.next_multiple_of(ALIGN)
        } else {
            self.len
        };
        self.block.as_mut_slice()[self.len..len].fill(0);
        self.write_block(len)?;
        if self.pos != end {
            // A direct file was padded: cut the padding off.
            self.file.set_len(end)?;
        }
        Ok(self.file)
    }
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
    /// Entries at which a pack is closed whatever its size: see [`MAX_ENTRIES`].
    max_entries: usize,
    /// Every id this writer appended, whichever pack holds it; `None` when its caller hands
    /// it each id once ([`PackWriter::given_each_id_once`]).
    seen: Option<IdSet>,
    /// The entries of the last pack published, emptied, for the next pack: a pack's list
    /// grows to a few hundred thousand entries (13 MB of small chunks), and growing it anew
    /// for each pack allocated and freed that much again and again.
    spare: Vec<IdxEntry>,
    written: Vec<ObjectId>,
    /// Packs made permanent by [`PackWriter::seal`]: a later failure leaves them.
    sealed: Vec<ObjectId>,
    /// Packs this writer closed that were published already, byte for byte: kept as they
    /// were, never withdrawn by this writer, but holding what it wrote.
    existing: Vec<ObjectId>,
    bytes: u64,
    /// The packs present, when this process holds the writers' lock: what this writer
    /// publishes or withdraws is added or removed, and the multi-pack index is extended
    /// from it without listing `packs/`.
    held: Option<HeldListing>,
    /// Whether this writer, not the lock holder's, put the marker of unnamed packs.
    marked: bool,
}

impl PackWriter {
    /// A writer of `class` packs into `packs_dir`, writing through `tmp_dir` (on the same file
    /// system) before renaming into place.
    pub fn new(algo: HashAlgo, class: PackClass, packs_dir: &Path, tmp_dir: &Path) -> PackWriter {
        PackWriter {
            algo,
            class,
            packs_dir: packs_dir.to_path_buf(),
            tmp_dir: tmp_dir.to_path_buf(),
            target: failpoint::pack_target().unwrap_or(PACK_TARGET),
            current: None,
            max_entries: entry_limit(),
            seen: Some(IdSet::default()),
            spare: Vec::new(),
            written: Vec::new(),
            sealed: Vec::new(),
            existing: Vec::new(),
            bytes: 0,
            held: None,
            marked: false,
        }
    }

    /// A writer of `class` packs into the repository's `packs/`, through its `tmp/`.
    pub fn for_repo(repo: &Repository, class: PackClass) -> PackWriter {
        let mut w = PackWriter::new(repo.algo(), class, &repo.packs_dir(), &repo.tmp_dir());
        w.held = repo.store.held_listing();
        w
    }

    /// Smaller packs, for tests that want several.
    pub fn with_target(mut self, target: u64) -> PackWriter {
        self.target = target;
        self
    }

    /// A writer for a caller that never hands it the same id twice, as the store sink, whose
    /// own set already decided that each chunk is new: this writer keeps no set of the ids
    /// it wrote (40 bytes an object, 40 MB at a million small files), and appends whatever
    /// it is given.
    pub fn given_each_id_once(mut self) -> PackWriter {
        self.seen = None;
        self
    }

    /// Appends one object, unless this writer already holds it (or, given each id once,
    /// appends it).
    pub fn add(&mut self, id: ObjectId, kind: ObjectKind, payload: &Encoded) -> Result<()> {
        if self.seen.as_mut().is_some_and(|seen| !seen.insert(id)) {
            return Ok(());
        }
        if self.current.is_none() {
            self.current = Some(self.open()?);
        }
        let pack = self.current.as_mut().expect("opened above");
        let stored_len = payload.bytes.len() as u32;
        let header = record_header(&id, kind, payload.codec, payload.raw_len, stored_len);
        failpoint::error("pack:write-error")
            .and_then(|()| pack.file.write(&header))
            .and_then(|()| pack.file.write(&payload.bytes))
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
        if pack.offset >= self.target || pack.entries.len() >= self.max_entries {
            self.close_current()?;
        } else {
            start_writeback(pack);
        }
        Ok(())
    }

    fn open(&mut self) -> Result<OpenPack> {
        let tmp = fsutil::temp_path(&self.tmp_dir, "pack");
        let mut file = PackFile::create(&tmp)?;
        let written = file.write(&pack_header(self.class));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).ctx("could not write pack", &tmp);
        }
        Ok(OpenPack {
            file,
            tmp,
            offset: PACK_HEADER_LEN as u64,
            synced: 0,
            entries: std::mem::take(&mut self.spare),
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
        let file = pack.file.finish().ctx("could not write pack", &pack.tmp)?;
        file.sync_all().ctx("could not sync pack", &pack.tmp)?;
        drop(file);
        failpoint::hit("pack:before-rename");
        let name = pack.name.finish();
        let idx_path = self.packs_dir.join(format!("{name}.idx"));
        if idx_path.exists() {
            // The same pack is published already: keep it, never replace a pack in place.
            // It holds what was written, so it is among the packs `finish` names (a merge
            // must not then delete it as an old pack).
            std::fs::remove_file(&pack.tmp).ctx("could not remove temporary pack", &pack.tmp)?;
            self.existing.push(name);
            if let Some(held) = &self.held {
                held::lock(held).insert(name);
            }
            self.keep_room(pack.entries);
            return Ok(());
        }
        if let Some(held) = &self.held {
            held::lock(held).begin_publish(&self.packs_dir)?;
        } else if !self.marked {
            // Not the lock holder's writer: nothing here names its packs in a table the
            // next holder trusts, so the marker stays for it to list `packs/`.
            held::mark(&self.packs_dir)?;
            self.marked = true;
        }
        let installed = self.install(&pack.tmp, name, &mut pack.entries, &idx_path);
        if let Some(held) = &self.held {
            held::lock(held).end_publish(installed.is_ok().then_some(name), &self.packs_dir);
        }
        installed?;
        self.written.push(name);
        failpoint::hit("pack:after-index");
        self.keep_room(pack.entries);
        Ok(())
    }

    /// Moves the synced pack at `tmp` into `packs/` as `name` and writes its index; on a
    /// failure the pack is removed again.
    fn install(
        &self,
        tmp: &Path,
        name: ObjectId,
        entries: &mut [IdxEntry],
        idx_path: &Path,
    ) -> Result<()> {
        let dest = self.packs_dir.join(format!("{name}.pack"));
        std::fs::rename(tmp, &dest).ctx("could not move pack into place", &dest)?;
        failpoint::hit("pack:before-index");
        let algo = self.algo;
        // write_atomic syncs the directory, which also makes the pack's rename (and the
        // marker of unnamed packs) durable.
        let written = fsutil::write_atomic_with(&self.tmp_dir, idx_path, |f| {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, f);
            write_index(algo, entries, &mut out)?;
            std::io::Write::flush(&mut out)
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&dest);
            return Err(e);
        }
        Ok(())
    }

    /// Keeps a published pack's list of entries, emptied, for the next pack.
    fn keep_room(&mut self, mut entries: Vec<IdxEntry>) {
        entries.clear();
        self.spare = entries;
    }

    /// Makes room for `n` more objects in the list of the pack being written (or of the
    /// next one), for a caller that knows how many it will add: grown by doubling, the list
    /// for a million file objects took 59 MB where 41 MB hold them.
    pub fn reserve(&mut self, n: usize) {
        let room = |len: usize| n.min(self.max_entries.saturating_sub(len));
        match &mut self.current {
            Some(pack) => pack.entries.reserve_exact(room(pack.entries.len())),
            None => self.spare.reserve_exact(room(0)),
        }
    }

    /// Publishes the pack being written, if any, and frees the memory kept for the next
    /// one, for a caller that wants the writer's memory back before other work: what it
    /// published stays withdrawn on a later failure, as any pack not yet sealed.
    pub fn publish_current(&mut self) -> Result<()> {
        self.close_current()?;
        self.spare = Vec::new();
        Ok(())
    }

    /// Bytes appended so far (record headers included).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Publishes the current pack and makes every pack written so far permanent: dropping
    /// the writer after a later failure no longer withdraws them. For a checkpoint, after
    /// which an index may name their objects.
    pub fn seal(&mut self) -> Result<()> {
        self.close_current()?;
        self.sealed.append(&mut self.written);
        Ok(())
    }

    /// Publishes the last pack and returns the names of all packs that hold what was
    /// written (published by this writer, or already published with the same bytes). On an
    /// error, every pack this writer published and did not seal is deleted again.
    pub fn finish(mut self) -> Result<Vec<ObjectId>> {
        self.close_current()?;
        let mut all = std::mem::take(&mut self.sealed);
        all.append(&mut self.written);
        all.append(&mut self.existing);
        if !all.is_empty() {
            self.name_in_table()?;
        }
        Ok(all)
    }
}

impl PackWriter {
    /// Extends the multi-pack index over the packs present: as the lock holder knows them,
    /// after which the marker of unnamed packs goes if no pack was published meanwhile; or
    /// else as listed.
    fn name_in_table(&self) -> Result<()> {
        let (algo, packs, tmp) = (self.algo, &self.packs_dir, &self.tmp_dir);
        let Some(held) = &self.held else {
            let listed = super::midx_write::list_packs(packs)?;
            return super::midx_write::maintain_listed(algo, packs, tmp, listed).map(drop);
        };
        let (listed, stamp) = held::lock(held).snapshot();
        super::midx_write::maintain_listed(algo, packs, tmp, listed)?;
        held::lock(held).named(stamp, packs)
    }
}

/// Asks the kernel to start writing what the pack holds so far, every few MiB, so disk
/// writes overlap reading and hashing and the fsync at the end of the pack finds little left.
/// It is only a hint: errors surface at the fsync. A direct file needs none.
fn start_writeback(pack: &mut OpenPack) {
    const STEP: u64 = 8 << 20;
    let in_kernel = pack.file.pos;
    if pack.file.direct || in_kernel - pack.synced < STEP {
        return;
    }
    fsutil::start_writeback(&pack.file.file, pack.synced, in_kernel - pack.synced);
    pack.synced = in_kernel;
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        // An unfinished pack is never published, and packs published before the failure are
        // withdrawn, index first so that readers never see an index without its pack.
        if let Some(pack) = self.current.take() {
            let _ = std::fs::remove_file(&pack.tmp);
        }
        if let (Some(held), false) = (&self.held, self.written.is_empty()) {
            held::lock(held).withdraw(&self.written, &self.packs_dir);
        }
        for name in self.written.drain(..) {
            let _ = std::fs::remove_file(self.packs_dir.join(format!("{name}.idx")));
            let _ = std::fs::remove_file(self.packs_dir.join(format!("{name}.pack")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::Store;
    use crate::testutil::random_bytes;
    use std::sync::Arc;

    /// The held listing follows what the lock holder's writers publish and withdraw, and a
    /// writer extending the multi-pack index from it names exactly the packs present.
    #[test]
    fn the_held_listing_follows_publishing_and_withdrawal() {
        let (_d, packs, tmp) = crate::testutil::pack_dirs();
        let algo = HashAlgo::Blake3;
        let store = Store::open(&packs, algo).unwrap();
        assert!(store.held_listing().is_none(), "only under the lock");
        let _settled = store.settle().unwrap();
        let held = store.held_listing().unwrap();
        let writer = || {
            let mut w = PackWriter::new(algo, PackClass::Data, &packs, &tmp).with_target(1);
            w.held = Some(Arc::clone(&held));
            w
        };
        let chunk = |i: u32| {
            let b = i.to_le_bytes();
            (algo.hash(Domain::Chunk, &b), Encoded::raw(&b))
        };
        let mut w = writer();
        for i in 0..12 {
            let (id, enc) = chunk(i);
            w.add(id, ObjectKind::Chunk, &enc).unwrap();
        }
        w.finish().unwrap();
        let listed = super::super::midx_write::list_packs(&packs).unwrap();
        assert_eq!(
            held::lock(&held).names,
            listed,
            "every pack published is held"
        );
        let m = super::super::Midx::open(&packs.join(super::super::midx::MIDX_FILE), algo);
        assert_eq!(m.unwrap().names(), listed, "and named by the table");
        let marker = packs.join(super::held::UNNAMED_FILE);
        assert!(!marker.exists(), "a table names every pack: no marker");
        let mut w = writer();
        let (id, enc) = chunk(99);
        w.add(id, ObjectKind::Chunk, &enc).unwrap();
        assert_eq!(
            held::lock(&held).names.len(),
            13,
            "a closed pack is held at once"
        );
        assert!(marker.exists(), "marked before it was published");
        // Another writer's table names the first one's pack too, and the marker goes ...
        let mut other = writer();
        let (id, enc) = chunk(100);
        other.add(id, ObjectKind::Chunk, &enc).unwrap();
        other.finish().unwrap();
        assert!(!marker.exists());
        // ... so withdrawing that pack puts it back: the table names a pack that is gone.
        drop(w);
        let now = super::super::midx_write::list_packs(&packs).unwrap();
        assert_eq!(held::lock(&held).names, now, "a withdrawn pack is dropped");
        assert_eq!(now.len(), 13);
        assert!(marker.exists(), "the next holder lists `packs/`");
    }

    /// Pieces of many lengths, some longer than a block, some ending on a block boundary,
    /// come back byte for byte: through direct I/O, through an ordinary file, and through
    /// the fallback when a direct write is refused (here: a misaligned buffer).
    #[test]
    fn pack_file_writes_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let data = random_bytes(1, 3 * BLOCK + 777);
        let cuts = [
            0,
            42,
            4096,
            100_000,
            BLOCK - 1,
            BLOCK + 5,
            2 * BLOCK + 7,
            3 * BLOCK,
        ];
        for (case, end) in [(0, 3 * BLOCK), (1, 3 * BLOCK + 777), (2, 4096), (3, 0)] {
            for mode in ["direct", "buffered", "refused"] {
                let path = dir.path().join(format!("{mode}-{case}"));
                let mut f = PackFile::create(&path).unwrap();
                match mode {
                    "buffered" => {
                        f.file = File::create(&path).unwrap();
                        f.direct = false;
                    }
                    "refused" => f.block.misalign(),
                    _ => {}
                }
                let direct = f.direct;
                let mut at = 0;
                for cut in cuts.iter().map(|c| (*c).min(end)).chain([end]) {
                    f.write(&data[at..cut.max(at)]).unwrap();
                    at = cut.max(at);
                }
                assert_eq!(f.offset(), end as u64);
                if mode == "refused" && end >= BLOCK {
                    assert!(!f.direct, "a refused direct write falls back");
                } else {
                    assert_eq!(f.direct, direct);
                }
                f.finish().unwrap().sync_all().unwrap();
                let back = std::fs::read(&path).unwrap();
                assert!(back == data[..end], "{mode}, {end} bytes");
            }
        }
    }

    /// A pack is closed at the entry limit whatever its size, every object stays readable,
    /// and room made for more objects than a pack holds stops at the limit. Merging counts a
    /// pack closed for its count as full, one of half as many objects as small.
    #[test]
    fn packs_close_at_the_entry_limit() {
        let (_d, packs, tmp) = crate::testutil::pack_dirs();
        let algo = HashAlgo::Blake3;
        let mut w = PackWriter::new(algo, PackClass::Meta, &packs, &tmp);
        w.max_entries = 3;
        w.reserve(1_000);
        assert!(
            w.spare.capacity() < 1_000,
            "room for one pack's entries at most"
        );
        let ids: Vec<ObjectId> = (0..7u32)
            .map(|i| {
                let (id, b) = (
                    algo.hash(Domain::FileLeaf, &i.to_le_bytes()),
                    i.to_le_bytes(),
                );
                w.add(id, ObjectKind::File, &Encoded::raw(&b)).unwrap();
                id
            })
            .collect();
        assert_eq!(w.finish().unwrap().len(), 3, "3 + 3 + 1 objects");
        let store = Store::open(&packs, algo).unwrap();
        let mut counts: Vec<usize> = store.packs().iter().map(|p| p.index.len()).collect();
        counts.sort_unstable();
        assert_eq!(counts, [1, 3, 3]);
        assert!(ids.iter().all(|id| store.contains(id)));

        let full = MAX_ENTRIES / 2;
        let (_d2, packs, tmp) = crate::testutil::pack_dirs();
        for n in [full, full - 1] {
            let mut w = PackWriter::new(algo, PackClass::Meta, &packs, &tmp);
            for i in 0..n as u64 {
                let b = (i << 1 | (n & 1) as u64).to_le_bytes();
                let id = algo.hash(Domain::FileLeaf, &b);
                w.add(id, ObjectKind::File, &Encoded::raw(&b[..1])).unwrap();
            }
            w.finish().unwrap();
        }
        let store = Store::open(&packs, algo).unwrap();
        let small = crate::pack::consolidate::small(&store.packs());
        let lens: Vec<usize> = small.iter().map(|p| p.index.len()).collect();
        assert_eq!(
            lens,
            [full - 1],
            "only the pack under half the limit is small"
        );
    }
}
