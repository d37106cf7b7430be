//! Finding, creating and opening a repository; its lock; verified object reads.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chunk::{ChunkParams, Chunker};
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::index::{index_path, StagingIndex};
use crate::object::file::{self, StoredFile};
use crate::object::{ChunkRef, FileObject, Layer, Tree};
use crate::pack::{ObjectKind, Store};
use crate::refs::{Head, Refs, DEFAULT_LINE};

pub const CAIRN_DIR: &str = ".cairn";

pub struct Repository {
    root: PathBuf,
    dir: PathBuf,
    pub config: Config,
    pub store: Store,
}

impl Repository {
    /// Creates `.cairn/` in `root`. The directory is built under a temporary name and renamed,
    /// so a crash never leaves half a repository.
    pub fn init(root: &Path, hash: HashAlgo, chunker: ChunkParams) -> Result<Repository> {
        let root = fs::canonicalize(root).ctx("could not open directory", root)?;
        if let Some(existing) = find_root(&root) {
            return Err(Error::AlreadyARepository {
                path: existing.join(CAIRN_DIR),
            });
        }
        let staging = root.join(format!(".cairn-init-{}", std::process::id()));
        let result = write_skeleton(&staging, &Config::new(hash, chunker));
        if let Err(e) =
            result.and_then(|()| fsutil::rename_durable(&staging, &root.join(CAIRN_DIR)))
        {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        Repository::open(&root)
    }

    /// Opens the repository whose worktree contains `start`.
    pub fn discover(start: &Path) -> Result<Repository> {
        let abs = fs::canonicalize(start).ctx("could not open directory", start)?;
        let root = find_root(&abs).ok_or(Error::NotARepository { path: abs })?;
        Repository::open(&root)
    }

    pub fn open(root: &Path) -> Result<Repository> {
        let dir = root.join(CAIRN_DIR);
        let config = Config::load(&dir.join("config.toml"))?;
        let store = Store::open(&dir.join("packs"), config.hash)?;
        Ok(Repository {
            root: root.to_path_buf(),
            dir,
            config,
            store,
        })
    }

    /// The worktree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.cairn` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn algo(&self) -> HashAlgo {
        self.config.hash
    }

    pub fn chunker(&self) -> Chunker {
        Chunker::new(self.config.chunker)
    }

    pub fn packs_dir(&self) -> PathBuf {
        self.dir.join("packs")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    pub fn refs(&self) -> Refs {
        Refs::new(&self.dir)
    }

    pub fn load_index(&self) -> Result<StagingIndex> {
        StagingIndex::load(&index_path(&self.dir), self.algo())
    }

    pub fn save_index(&self, index: &mut StagingIndex) -> Result<()> {
        index.save(&index_path(&self.dir), &self.tmp_dir(), self.algo())
    }

    /// Takes the writers' lock, waiting up to `timeout` for another writer to finish. The
    /// packs are listed again once it is held: a writer that waited sees what the previous
    /// one stored, and nothing changes the packs under it from then on.
    pub fn lock(&self, timeout: Duration) -> Result<RepoLock> {
        let mut lock = RepoLock::acquire(&self.dir.join("lock"), timeout)?;
        self.store.refresh()?;
        lock.settled = Some(self.store.settle());
        Ok(lock)
    }

    pub fn read_layer(&self, id: &ObjectId) -> Result<Layer> {
        let bytes = self.store.read(id, ObjectKind::Layer, &self.dir)?;
        if self.algo().hash(Domain::Layer, &bytes) != *id {
            return Err(self.mismatch("layer", id));
        }
        Layer::decode(&bytes).map_err(|d| self.bad("layer", id, d))
    }

    pub fn read_tree(&self, id: &ObjectId) -> Result<Tree> {
        let bytes = self.store.read(id, ObjectKind::Tree, &self.dir)?;
        let tree = Tree::decode(&bytes).map_err(|d| self.bad("tree", id, d))?;
        if tree.id(self.algo()) != *id {
            return Err(self.mismatch("tree", id));
        }
        Ok(tree)
    }

    pub fn read_file(&self, id: &ObjectId) -> Result<FileObject> {
        Ok(self.read_file_lists(id)?.0)
    }

    /// A file object and the ids of the chunk lists it is stored as (none when stored
    /// whole), for walks that must reach every object a file needs.
    pub fn read_file_lists(&self, id: &ObjectId) -> Result<(FileObject, Vec<ObjectId>)> {
        let bytes = self.store.read(id, ObjectKind::File, &self.dir)?;
        let bad = |d| self.bad("file", id, d);
        let (file, lists) = match file::decode_stored(&bytes).map_err(bad)? {
            StoredFile::Whole(file) => (file, Vec::new()),
            StoredFile::Lists(ids) => {
                let lists = ids
                    .iter()
                    .map(|l| self.read_list(l))
                    .collect::<Result<_>>()?;
                (FileObject::from_lists(lists).map_err(bad)?, ids)
            }
        };
        if file.id(self.algo()) != *id {
            return Err(self.mismatch("file", id));
        }
        Ok((file, lists))
    }

    fn read_list(&self, id: &ObjectId) -> Result<Vec<ChunkRef>> {
        let bytes = self.store.read(id, ObjectKind::List, &self.dir)?;
        if file::list_id(self.algo(), &bytes) != *id {
            return Err(self.mismatch("chunk list", id));
        }
        file::decode_list(&bytes).map_err(|d| self.bad("chunk list", id, d))
    }

    pub fn read_chunk(&self, id: &ObjectId) -> Result<Vec<u8>> {
        let bytes = self.store.read(id, ObjectKind::Chunk, &self.dir)?;
        if self.algo().hash(Domain::Chunk, &bytes) != *id {
            return Err(self.mismatch("chunk", id));
        }
        Ok(bytes)
    }

    fn mismatch(&self, what: &'static str, id: &ObjectId) -> Error {
        Error::corrupt(
            what,
            &self.dir,
            format!("object {id} does not match its id"),
        )
    }

    fn bad(&self, what: &'static str, id: &ObjectId, detail: String) -> Error {
        Error::corrupt(what, &self.dir, format!("object {id}: {detail}"))
    }

    /// The current line (if HEAD is on one) and the layer HEAD points at (if any).
    pub fn head(&self) -> Result<(Option<String>, Option<ObjectId>)> {
        self.refs().resolve_head()
    }
}

fn write_skeleton(dir: &Path, config: &Config) -> Result<()> {
    for sub in ["", "packs", "tmp", "refs", "refs/lines", "refs/tags"] {
        let p = dir.join(sub);
        fs::create_dir(&p).ctx("could not create directory", &p)?;
    }
    let files = [
        ("config.toml", config.to_toml()),
        ("HEAD", format!("ref: lines/{DEFAULT_LINE}\n")),
        ("lock", String::new()),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        let mut f = fsutil::create_new(&p)?;
        f.write_all(text.as_bytes())
            .ctx("could not write file", &p)?;
        f.sync_all().ctx("could not sync file", &p)?;
    }
    for sub in ["refs", "refs/lines", "refs/tags", "packs", "tmp", ""] {
        fsutil::sync_dir(&dir.join(sub))?;
    }
    Ok(())
}

/// The nearest directory at or above `start` that holds `.cairn/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(CAIRN_DIR).join("config.toml").is_file())
        .map(Path::to_path_buf)
}

/// The writers' lock: an OS advisory lock on `.cairn/lock`, released when dropped or when
/// the process dies, so a killed writer never leaves a stale lock. The holder writes its
/// process id into the file for the message other writers show.
pub struct RepoLock {
    /// The store's "nothing else changes the packs" flag, cleared on release.
    settled: Option<Arc<AtomicBool>>,
    _file: File,
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        if let Some(flag) = &self.settled {
            flag.store(false, Ordering::Release);
        }
    }
}

impl RepoLock {
    fn acquire(path: &Path, timeout: Duration) -> Result<RepoLock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx("could not open the lock file", path)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        pid: holder(&mut file),
                        path: path.to_path_buf(),
                    })
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("could not lock", path)(e))
                }
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .ctx("could not write the lock file", path)?;
        Ok(RepoLock {
            settled: None,
            _file: file,
        })
    }
}

/// The process id the lock's holder wrote. A holder that has just taken the lock may not
/// have written it yet: look again for a moment before saying "unknown".
fn holder(file: &mut File) -> String {
    for _ in 0..10 {
        let mut pid = String::new();
        let _ = file.rewind().and_then(|()| file.read_to_string(&mut pid));
        if !pid.trim().is_empty() {
            return pid.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    "unknown".into()
}

/// Where HEAD's line is, for moving it after a commit.
pub fn head_line(refs: &Refs) -> Result<Option<String>> {
    Ok(match refs.head()? {
        Head::Line(name) => Some(name),
        Head::Detached(_) => None,
    })
}
