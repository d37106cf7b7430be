//! Finding, creating and opening a repository; its lock; verified object reads.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::chunk::{ChunkParams, Chunker};
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::index::{index_path, StagingIndex};
use crate::layer_graph::{LayerGraph, GRAPH_FILE};
use crate::object::file::{self, StoredFile};
use crate::object::{ChunkRef, FileObject, Layer, Tree};
use crate::pack::{ObjectKind, Store};
use crate::refs::{Head, Refs, RefsMut, DEFAULT_LINE};

/// The name of the repository directory at the worktree's root.
pub const CAIRN_DIR: &str = ".cairn";

/// An open repository: its worktree root, its `.cairn` directory, its settings and its object
/// store.
pub struct Repository {
    root: PathBuf,
    dir: PathBuf,
    /// The settings read from `config.toml` at open.
    pub config: Config,
    /// The object store: the packs, as listed at open or at the last refresh.
    pub store: Store,
    /// Layers read through [`Repository::read_layer`]: what a walk of the history costs,
    /// counted so that tests can hold each command to the layers it must read.
    layers_read: AtomicU64,
    /// The layer graph, opened at first use: `None` inside until then, and `Some(None)`
    /// when there is none or it fails its checks.
    layer_graph: Mutex<Option<Option<Arc<LayerGraph>>>>,
}

impl Repository {
    /// Creates `.cairn/` in `root`. `config.toml` is written last, atomically, and a
    /// directory is a repository only once it holds one, so a crash never leaves half a
    /// repository. Nor does it leave anything the worktree walk would see (it never enters
    /// `.cairn`): the next init finds the unfinished `.cairn` and starts again.
    pub fn init(root: &Path, hash: HashAlgo, chunker: ChunkParams) -> Result<Repository> {
        let root = fs::canonicalize(root).ctx("could not open directory", root)?;
        if let Some(existing) = find_root(&root) {
            return Err(Error::AlreadyARepository {
                path: existing.join(CAIRN_DIR),
            });
        }
        let dir = root.join(CAIRN_DIR);
        if unfinished_init(&dir) {
            fs::remove_dir_all(&dir).ctx("could not remove an unfinished init", &dir)?;
        }
        match fs::create_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::InTheWay {
                    what: "a .cairn that is not a repository (it has no config.toml) is in the way: move it away",
                    path: dir,
                })
            }
            r => r.ctx("could not create directory", &dir)?,
        }
        if let Err(e) = write_skeleton(&dir, &Config::new(hash, chunker)) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        fsutil::sync_dir(&root)?;
        Repository::open(&root)
    }

    /// Creates a repository directory at `dir` itself, kept apart from any worktree (as
    /// `git init --separate-git-dir`, or restic's repository): `dir` must be missing or
    /// an empty directory. Open it with [`Repository::open_at`] and a worktree.
    pub fn init_separate(dir: &Path, hash: HashAlgo, chunker: ChunkParams) -> Result<PathBuf> {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let empty = fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
                if !empty && !unfinished_init(dir) {
                    return Err(Error::InTheWay {
                        what: "the repository directory must be new or empty",
                        path: dir.to_path_buf(),
                    });
                }
                if !empty {
                    fs::remove_dir_all(dir).ctx("could not remove an unfinished init", dir)?;
                    fs::create_dir(dir).ctx("could not create directory", dir)?;
                }
            }
            Err(e) => return Err(Error::io("could not create directory", dir)(e)),
        }
        let dir = fs::canonicalize(dir).ctx("could not open directory", dir)?;
        write_skeleton(&dir, &Config::new(hash, chunker))?;
        if let Some(parent) = dir.parent() {
            fsutil::sync_dir(parent)?;
        }
        Ok(dir)
    }

    /// Opens the repository directory `dir` with the worktree `root`, as `--repo` and
    /// `--work-tree` give them. Refused when `dir` is not a repository, and when it lies
    /// inside the worktree under another name than `.cairn` at its root: the worktree's
    /// walk would then store the repository in itself.
    pub fn open_at(dir: &Path, root: &Path) -> Result<Repository> {
        let dir = fs::canonicalize(dir).map_err(|_| Error::NotARepository {
            path: dir.to_path_buf(),
        })?;
        if !dir.join("config.toml").is_file() {
            return Err(Error::NotARepository { path: dir });
        }
        let root = fs::canonicalize(root).ctx("could not open directory", root)?;
        if dir.starts_with(&root) && dir != root.join(CAIRN_DIR) {
            return Err(Error::BadArgument {
                what: format!(
                    "the repository {} is inside the worktree {}: give --work-tree, move the repository out, or name it .cairn at the worktree's root",
                    dir.display(),
                    root.display()
                ),
                path: dir,
            });
        }
        let config = Config::load(&dir.join("config.toml"))?;
        let store = Store::open(&dir.join("packs"), config.hash)?;
        Ok(Repository {
            root,
            dir,
            config,
            store,
            layers_read: AtomicU64::new(0),
            layer_graph: Mutex::new(None),
        })
    }

    /// Opens the repository whose worktree contains `start`.
    pub fn discover(start: &Path) -> Result<Repository> {
        let abs = fs::canonicalize(start).ctx("could not open directory", start)?;
        let root = find_root(&abs).ok_or(Error::NotARepository { path: abs })?;
        Repository::open(&root)
    }

    /// Opens the repository whose worktree root is `root` (no search upwards), reading its config
    /// and listing its packs.
    pub fn open(root: &Path) -> Result<Repository> {
        let dir = root.join(CAIRN_DIR);
        let config = Config::load(&dir.join("config.toml"))?;
        let store = Store::open(&dir.join("packs"), config.hash)?;
        Ok(Repository {
            root: root.to_path_buf(),
            dir,
            config,
            store,
            layers_read: AtomicU64::new(0),
            layer_graph: Mutex::new(None),
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

    /// The repository's hash algorithm, fixed at init.
    pub fn algo(&self) -> HashAlgo {
        self.config.hash
    }

    /// A chunker with the repository's chunking parameters, fixed at init.
    pub fn chunker(&self) -> Chunker {
        Chunker::new(self.config.chunker)
    }

    /// `.cairn/packs`, where pack and index files live.
    pub fn packs_dir(&self) -> PathBuf {
        self.dir.join("packs")
    }

    /// `.cairn/tmp`, where files are written before being renamed into place.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// The lines, tags and HEAD under `.cairn`.
    pub fn refs(&self) -> Refs {
        Refs::new(&self.dir)
    }

    /// The staging index; an empty one when there is no index file yet.
    pub fn load_index(&self) -> Result<StagingIndex> {
        StagingIndex::load(&index_path(&self.dir), self.algo())
    }

    /// Takes the writers' lock, waiting up to `timeout` for another writer to finish. The
    /// packs present are taken again once it is held (from the multi-pack index, which the
    /// previous holder extended, or a listing: see `Store::settle`): a writer that waited
    /// sees what the previous one stored, and nothing changes the packs under it from then
    /// on.
    pub fn lock(&self, timeout: Duration) -> Result<Locked<'_>> {
        let mut guard = RepoLock::acquire(&self.dir.join("lock"), timeout)?;
        guard.settled = Some(self.store.settle()?);
        Ok(Locked {
            repo: self,
            _guard: guard,
        })
    }

    /// The layer `id`, checked against its id; damage or a mismatch is [`Error::Corrupt`].
    pub fn read_layer(&self, id: &ObjectId) -> Result<Layer> {
        self.layers_read.fetch_add(1, Ordering::Relaxed);
        let bytes = self.store.read(id, ObjectKind::Layer, &self.dir)?;
        if self.algo().hash(Domain::Layer, &bytes) != *id {
            return Err(self.mismatch("layer", id));
        }
        Layer::decode(&bytes).map_err(|d| self.bad("layer", id, d))
    }

    /// The layer graph, when there is one that passes its checks (a damaged one is
    /// ignored: it is derived data, and `verify` reports it). Opened once per repository.
    pub fn layer_graph(&self) -> Option<Arc<LayerGraph>> {
        let mut held = self
            .layer_graph
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.get_or_insert_with(|| {
            let path = self.dir.join(GRAPH_FILE);
            LayerGraph::open(&path, self.algo())
                .ok()
                .flatten()
                .map(Arc::new)
        })
        .clone()
    }

    /// Forgets the layer graph opened, so the next use opens the file again (after a
    /// writer replaced it).
    pub(crate) fn forget_layer_graph(&self) {
        *self
            .layer_graph
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// How many layers [`Repository::read_layer`] has read since the repository was opened.
    pub fn layers_read(&self) -> u64 {
        self.layers_read.load(Ordering::Relaxed)
    }

    /// The tree `id`, checked against its id; damage or a mismatch is [`Error::Corrupt`].
    pub fn read_tree(&self, id: &ObjectId) -> Result<Tree> {
        let bytes = self.store.read(id, ObjectKind::Tree, &self.dir)?;
        let tree = Tree::decode(&bytes).map_err(|d| self.bad("tree", id, d))?;
        if tree.id(self.algo()) != *id {
            return Err(self.mismatch("tree", id));
        }
        Ok(tree)
    }

    /// The file object `id`, its chunk lists joined, checked against its id.
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

    /// The bytes of chunk `id`, checked against its id.
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

/// The directories of a new repository, parents first.
fn skeleton_dirs() -> Vec<String> {
    let mut dirs = vec!["packs".to_string(), "tmp".to_string()];
    dirs.extend(crate::refs::ref_dirs());
    dirs
}

/// Fills the new, empty `.cairn` at `dir`: directories, HEAD and lock, each synced; then
/// `config.toml` through `tmp/` and a rename, which makes it a repository.
fn write_skeleton(dir: &Path, config: &Config) -> Result<()> {
    for sub in skeleton_dirs() {
        let p = dir.join(sub);
        fs::create_dir(&p).ctx("could not create directory", &p)?;
    }
    let files = [
        ("HEAD", crate::refs::head_text(DEFAULT_LINE)),
        ("lock", String::new()),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        let mut f = fsutil::create_new(&p)?;
        f.write_all(text.as_bytes())
            .ctx("could not write file", &p)?;
        f.sync_all().ctx("could not sync file", &p)?;
    }
    for sub in skeleton_dirs().iter().rev() {
        fsutil::sync_dir(&dir.join(sub))?;
    }
    crate::failpoint::hit("init:before-config");
    let toml = config.to_toml();
    fsutil::write_atomic(&dir.join("tmp"), &dir.join("config.toml"), toml.as_bytes())
}

/// True for a `.cairn` that a killed init left: no `config.toml`, and nothing but what
/// init creates (its directories, HEAD, lock, and temporary files in `tmp/`). Anything
/// else might be someone's data, and is left alone.
pub(crate) fn unfinished_init(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join("config.toml")).is_err() && skeleton_only(dir, "")
}

/// True when `dir`, which is `rel` inside `.cairn`, is a real directory holding only what
/// init creates.
fn skeleton_only(dir: &Path, rel: &str) -> bool {
    let is_dir = fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    is_dir
        && entries.into_iter().all(|e| {
            let Ok(e) = e else { return false };
            let name = e.file_name().to_string_lossy().into_owned();
            let sub = match rel {
                "" => name.clone(),
                _ => format!("{rel}/{name}"),
            };
            if skeleton_dirs().contains(&sub) {
                return skeleton_only(&e.path(), &sub);
            }
            let temp = rel == "tmp" && name.starts_with("write-") && name.ends_with(".tmp");
            e.file_type().is_ok_and(|t| t.is_file()) && (sub == "HEAD" || sub == "lock" || temp)
        })
}

/// The nearest directory at or above `start` that holds `.cairn/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(CAIRN_DIR).join("config.toml").is_file())
        .map(Path::to_path_buf)
}

/// A repository whose writers' lock this process holds, for as long as the value lives.
/// Operations that change the index, the refs or the packs take one instead of locking
/// inside, so none of them can run without the lock, and a composite operation (pull,
/// reset, clone) holds the one lock from its start to its end. It reads like the
/// repository it derefs to.
pub struct Locked<'r> {
    repo: &'r Repository,
    _guard: RepoLock,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Repository;

    fn deref(&self) -> &Repository {
        self.repo
    }
}

impl Locked<'_> {
    /// The references, with the methods that move them: only a lock holder may.
    pub fn refs(&self) -> RefsMut {
        RefsMut::new(self.repo.refs())
    }

    /// Replaces the staging index on disk (atomically): only a lock holder may.
    pub fn save_index(&self, index: &mut StagingIndex) -> Result<()> {
        index.save(&index_path(self.dir()), &self.tmp_dir(), self.algo())
    }
}

/// The writers' lock: an OS advisory lock on `.cairn/lock`, released when dropped or when
/// the process dies, so a killed writer never leaves a stale lock. The holder writes its
/// process id into the file for the message other writers show.
struct RepoLock {
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
