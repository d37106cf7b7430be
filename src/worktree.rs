//! The worktree: turning user paths into repository paths, and walking with ignore rules.
//!
//! Repository paths are raw bytes relative to the worktree root, `/`-separated, so names
//! that are not UTF-8 survive. The walk honours `.gitignore` and `.cairnignore` files
//! (gitignore syntax, no git repository needed) and never enters a `.cairn` directory.
//! How a tracked file in the worktree differs from its index entry is decided here too
//! (`worktree_change`), for every operation that asks.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;

use ignore::{WalkBuilder, WalkState};

use crate::diff::ChangeKind;
use crate::error::{Error, Result};
use crate::index::{IndexEntry, StagingIndex, Stat};
use crate::ingest::Ingester;
use crate::object::EntryKind;
use crate::pathspec::{Excludes, PathSet};
use crate::repo::CAIRN_DIR;
// `Rel` because this module still defines the old `RepoPath` newtype (see below).
use crate::repo_path::{RepoPath as Rel, RepoPathBuf};

/// The name of the ignore files the walk honours, in any directory of the worktree.
pub const IGNORE_FILE: &str = ".cairnignore";

/// What the walk found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A regular file.
    File,
    /// A symbolic link (never followed).
    Symlink,
    /// A socket, fifo or device: never stored, reported.
    Special(&'static str),
}

impl Found {
    /// What a walk reports a name of this type as; `None` for a directory.
    pub fn of(ft: std::fs::FileType) -> Option<Found> {
        Some(if ft.is_dir() {
            return None;
        } else if ft.is_file() {
            Found::File
        } else if ft.is_symlink() {
            Found::Symlink
        } else if ft.is_fifo() {
            Found::Special("fifo")
        } else if ft.is_socket() {
            Found::Special("socket")
        } else {
            Found::Special("device")
        })
    }
}

/// What a walk of the worktree found: its files, the directories it entered, and what it could not
/// read.
#[derive(Debug, Default)]
pub struct Walk {
    /// Files, symlinks and special files, in no particular order.
    pub files: Vec<(Vec<u8>, Found)>,
    /// Directories entered (the root is `""`).
    /// Their stat data is taken when the walk reaches them, before their entries are read,
    /// so a later change to a directory always shows as a different mtime.
    pub dirs: HashMap<Vec<u8>, Option<Stat>>,
    /// Directories that could not be read, and other walk failures.
    pub errors: Vec<Error>,
}

impl Walk {
    /// The walk, or its first failure for callers that cannot skip what they could not read.
    pub fn complete(mut self) -> Result<Walk> {
        match self.errors.is_empty() {
            true => Ok(self),
            false => Err(self.errors.swap_remove(0)),
        }
    }
}

/// The absolute path of a repository path.
pub fn abs(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        return root.to_path_buf();
    }
    // Plain concatenation: `Path::join` re-parses components and costs several hundred
    // instructions, which status pays once per tracked file.
    let root = root.as_os_str().as_bytes();
    let mut p = Vec::with_capacity(root.len() + 1 + rel.len());
    p.extend_from_slice(root);
    if !root.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(rel);
    PathBuf::from(std::ffi::OsString::from_vec(p))
}

/// Turns a path given by the user (relative to `cwd`) into a repository path, lexically:
/// symlinks are not followed, so `dir/link` names the link itself.
pub fn resolve(root: &Path, cwd: &Path, user: &Path) -> Result<RepoPathBuf> {
    let joined = cwd.join(user);
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in joined.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(s) => parts.push(s),
        }
    }
    let norm: PathBuf = std::iter::once(OsStr::new("/")).chain(parts).collect();
    let rel = norm
        .strip_prefix(root)
        .map_err(|_| Error::OutsideWorktree {
            path: user.to_path_buf(),
        })?;
    let rel = RepoPathBuf::from(rel.as_os_str().as_bytes());
    if rel.components().next() == Some(CAIRN_DIR.as_bytes()) {
        return Err(Error::OutsideWorktree {
            path: user.to_path_buf(),
        });
    }
    Ok(rel)
}

/// True for `.gitignore` and `.cairnignore` files, whose changes invalidate a walk cache.
pub fn is_ignore_file(rel: &Rel) -> bool {
    let name = rel.file_name();
    name == b".gitignore" || name == IGNORE_FILE.as_bytes()
}

/// A path inside a layer as the user typed it (`./data/`, `data//a.csv`, `.`), as a
/// repository path: empty and `.` components dropped.
pub fn layer_path(s: &str) -> Vec<u8> {
    layer_path_bytes(s.as_bytes())
}

/// [`layer_path`] for any bytes, as names in a layer need not be UTF-8.
pub fn layer_path_bytes(s: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = s
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    parts.join(&b'/')
}

/// Refuses a path that goes through a symlink (`link/file`): cairn stores links as links and
/// never follows them, so nothing below one can be tracked.
pub fn refuse_beyond_symlink(root: &Path, rel: &Rel, user: &Path) -> Result<()> {
    for dir in rel.ancestors() {
        let is_link = std::fs::symlink_metadata(abs(root, dir.as_bytes()))
            .is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            return Err(Error::BeyondSymlink {
                path: user.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Walks the worktree below `specs` (repository paths; `""` for everything). With
/// `no_ignore`, ignore files are not consulted.
pub fn walk(root: &Path, specs: &[RepoPathBuf], no_ignore: bool, threads: usize) -> Result<Walk> {
    walk_excluding(root, specs, no_ignore, &Excludes::none(), threads)
}

/// [`walk`], leaving out (and not entering) what `excludes` matches, whatever ignore files
/// say. Each entry costs a few hash lookups however many specs there are.
pub fn walk_excluding(
    root: &Path,
    specs: &[RepoPathBuf],
    no_ignore: bool,
    excludes: &Excludes,
    threads: usize,
) -> Result<Walk> {
    let mut b = builder(root, no_ignore, threads);
    let root_len = root.as_os_str().len();
    let set = PathSet::new(specs);
    let excludes = excludes.clone();
    b.filter_entry(move |e| {
        let rel = rel_of(e.path(), root_len);
        let is_dir = e.file_type().is_some_and(|t| t.is_dir());
        // What is below a spec, and the directories on the way to one; a file or symlink
        // standing where a spec's directory was is neither (`add x/a` must not stage the
        // file `x` that replaced the directory `x/`).
        own_dir(e, no_ignore)
            && (set.covers(rel) || (is_dir && set.leads_to(rel)))
            && !excludes.matches_here(rel, is_dir)
    });
    run(b, root, |_| false)
}

/// Lists the directories `dirs` (repository paths, sorted; `""` is the root) with the same
/// ignore rules as a whole walk: their files, and their subdirectories, which are reported
/// but not entered (unless listed too). For checking a cached walk of directories whose
/// mtimes were too recent to trust.
pub fn list_dirs(root: &Path, dirs: &[Vec<u8>], threads: usize) -> Result<Walk> {
    let root_len = root.as_os_str().len();
    let listed: Vec<RepoPathBuf> = dirs
        .iter()
        .map(|d| RepoPathBuf::from(d.as_slice()))
        .collect();
    let listed = std::sync::Arc::new(listed);
    // Directories on the way to a listed one are entered, and only those.
    let on_way = {
        let listed = listed.clone();
        move |rel: &Rel| listed.iter().any(|d| d.is_under(rel))
    };
    let mut b = builder(root, false, threads);
    // The walker reads a directory before it asks whether to enter it: the depth limit keeps
    // it from reading the subdirectories of the deepest listed directories.
    b.max_depth(listed.iter().map(|d| d.depth()).max().map(|d| d + 1));
    let is_listed = move |rel: &Rel| listed.binary_search_by(|d| d.as_path().cmp(rel)).is_ok();
    let enter = on_way.clone();
    b.filter_entry(move |e| {
        let rel = rel_of(e.path(), root_len);
        own_dir(e, false) && (enter(rel) || is_listed(rel.parent()))
    });
    run(b, root, move |rel| !on_way(rel))
}

/// A walker with cairn's ignore rules: `.gitignore` and `.cairnignore` files of the worktree
/// only (none above it, no global or git-specific ones), hidden files included.
fn builder(root: &Path, no_ignore: bool, threads: usize) -> WalkBuilder {
    let mut b = WalkBuilder::new(root);
    b.threads(threads.max(1)).follow_links(false);
    if no_ignore {
        b.standard_filters(false);
    } else {
        b.hidden(false)
            .parents(false)
            .ignore(false)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .git_ignore(true)
            .add_custom_ignore_filename(IGNORE_FILE);
    }
    b
}

/// False for cairn's own directory, and git's: a worktree that is also a git checkout should
/// not have git's internals archived (use `cairn add -f .git` to store them anyway).
fn own_dir(e: &ignore::DirEntry, no_ignore: bool) -> bool {
    !(e.file_name() == CAIRN_DIR || (!no_ignore && e.file_name() == ".git" && e.depth() > 0))
}

/// Runs the walk, not entering the directories for which `stop` is true (they are still
/// reported).
fn run(
    b: WalkBuilder,
    root: &Path,
    stop: impl Fn(&Rel) -> bool + Send + Sync + Clone + 'static,
) -> Result<Walk> {
    let root_len = root.as_os_str().len();
    let (tx, rx) = mpsc::channel();
    b.build_parallel().run(|| {
        let tx = tx.clone();
        let stop = stop.clone();
        Box::new(move |res| {
            let item = classify(res, root_len);
            let state = match &item {
                Item::Dir(rel, _) if stop(Rel::new(rel)) => WalkState::Skip,
                _ => WalkState::Continue,
            };
            let _ = tx.send(item);
            state
        })
    });
    drop(tx);
    collect(rx.into_iter(), root)
}

/// [`walk`], failing on the first directory it could not read.
pub fn walk_complete(
    root: &Path,
    specs: &[RepoPathBuf],
    no_ignore: bool,
    threads: usize,
) -> Result<Walk> {
    walk(root, specs, no_ignore, threads)?.complete()
}

fn rel_of(p: &Path, root_len: usize) -> &Rel {
    let b = p.as_os_str().as_bytes();
    if b.len() <= root_len {
        Rel::root()
    } else {
        Rel::new(&b[root_len + 1..])
    }
}

enum Item {
    File(Vec<u8>, Found),
    Dir(Vec<u8>, Option<Stat>),
    Failed(Error),
}

fn classify(res: std::result::Result<ignore::DirEntry, ignore::Error>, root_len: usize) -> Item {
    let e = match res {
        Ok(e) => e,
        Err(err) => return Item::Failed(walk_error(err)),
    };
    let rel = rel_of(e.path(), root_len).as_bytes().to_vec();
    let Some(ft) = e.file_type() else {
        return Item::Dir(rel, None);
    };
    match Found::of(ft) {
        Some(found) => Item::File(rel, found),
        None => Item::Dir(rel, e.metadata().ok().map(|m| Stat::from_metadata(&m))),
    }
}

fn collect(items: impl Iterator<Item = Item>, root: &Path) -> Result<Walk> {
    let mut walk = Walk::default();

    for item in items {
        match item {
            Item::File(rel, f) => walk.files.push((rel, f)),
            Item::Dir(rel, stat) => {
                walk.dirs.insert(rel, stat);
            }
            Item::Failed(e) => walk.errors.push(e),
        }
    }

    walk.dirs.entry(Vec::new()).or_insert(None);
    let _ = root;

    Ok(walk)
}

fn walk_error(err: ignore::Error) -> Error {
    let mut err = err;
    let mut path = None;
    loop {
        match err {
            ignore::Error::WithPath {
                path: p,
                err: inner,
            } => {
                path.get_or_insert(p);
                err = *inner;
            }
            ignore::Error::WithDepth { err: inner, .. }
            | ignore::Error::WithLineNumber { err: inner, .. } => err = *inner,
            ignore::Error::Io(source) => {
                return Error::Io {
                    op: "could not read directory",
                    path: path.unwrap_or_default(),
                    source,
                }
            }
            other => {
                return Error::Io {
                    op: "could not walk the worktree",
                    path: path.unwrap_or_default(),
                    source: std::io::Error::other(other),
                }
            }
        }
    }
}

/// Deletes tracked files without ever following a symlink below the worktree root: each
/// file's directory is opened one component at a time with `O_NOFOLLOW | O_DIRECTORY`, and
/// the file is removed relative to it (`unlinkat`). A file whose directory is a symlink, a
/// file or gone is not in the worktree any more, so there is nothing to delete; the target
/// of a link is never touched, even if it is swapped in during the deletion. Consecutive
/// files of one directory share its descriptor: one `unlinkat` per file, and one open per
/// component per directory. Directories left empty are removed by [`Remover::finish`].
pub struct Remover {
    root: PathBuf,
    /// The directory of the last deletion and its descriptor (`None` when it is not a real
    /// directory below the root).
    open: Option<(RepoPathBuf, Option<std::os::fd::OwnedFd>)>,
    /// Directories that had a file removed, to be removed in turn when left empty.
    emptied: std::collections::BTreeSet<RepoPathBuf>,
}

impl Remover {
    /// A remover for the worktree at `root`, with no directory open yet.
    pub fn new(root: &Path) -> Remover {
        Remover {
            root: root.to_path_buf(),
            open: None,
            emptied: Default::default(),
        }
    }

    /// Deletes the tracked file `rel`; nothing happens when it is gone already, or beyond a symlink
    /// or a file where a directory was.
    pub fn remove(&mut self, rel: &Rel) -> Result<()> {
        let dir = rel.parent();
        if self.open.as_ref().is_none_or(|(d, _)| d.as_path() != dir) {
            let fd = self.open_dir(dir)?;
            self.open = Some((dir.to_buf(), fd));
        }
        let Some((_, Some(fd))) = &self.open else {
            return Ok(()); // beyond a symlink or gone: nothing of the worktree is there
        };
        match unlink_at(fd, rel.file_name(), 0) {
            Ok(()) => {}
            // A directory the user made where the tracked file was: the file is gone
            // already, and what the directory holds is not ours to delete.
            Err(e) if is_gone(&e) || e.raw_os_error() == Some(libc::EISDIR) => {}
            Err(e) => {
                let path = abs(&self.root, rel.as_bytes());
                return Err(Error::io("could not delete file", path)(e));
            }
        }
        if !dir.is_root() {
            self.emptied.insert(dir.to_buf());
        }
        Ok(())
    }

    /// Removes the directories the deletions left empty, deepest first, up to the root.
    /// A directory that still holds something stays (its removal fails, and that is fine).
    pub fn finish(mut self) -> Result<()> {
        self.open = None;
        let mut dirs = std::mem::take(&mut self.emptied);
        for d in dirs.clone() {
            dirs.extend(d.ancestors().map(Rel::to_buf));
        }
        // Reverse order visits a directory before any of its ancestors.
        for d in dirs.iter().rev() {
            if let Some(fd) = self.open_dir(d.parent())? {
                let _ = unlink_at(&fd, d.file_name(), libc::AT_REMOVEDIR);
            }
        }
        Ok(())
    }

    /// Opens `dir` below the root without following any symlink; `None` when something on
    /// the way is not a real directory, or is gone.
    fn open_dir(&self, dir: &Rel) -> Result<Option<std::os::fd::OwnedFd>> {
        match open_dir_beneath(&self.root, dir) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if is_gone(&e) || e.raw_os_error() == Some(libc::ELOOP) => Ok(None),
            Err(e) => {
                let path = abs(&self.root, dir.as_bytes());
                Err(Error::io("could not open directory", path)(e))
            }
        }
    }
}

/// An error that means nothing is at the path (or a parent is no directory).
pub(crate) fn is_gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// `root/rel` as an `O_PATH` descriptor, opened one component at a time with `O_NOFOLLOW`,
/// so a symlink anywhere below the root fails it (`ENOTDIR`) instead of being followed.
pub fn open_dir_beneath(root: &Path, rel: &Rel) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::OwnedFd;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    let mut fd: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(root)?
        .into();
    for part in rel.components() {
        fd = crate::fsutil::open_at_nofollow(&fd, part, flags)?;
    }
    Ok(fd)
}

fn unlink_at(dir: &std::os::fd::OwnedFd, name: &[u8], flags: i32) -> std::io::Result<()> {
    crate::fsutil::unlink_at(dir, name, flags)
}

/// `f` of each of `paths` (sorted) and its `lstat` data, `None` when it has none to give
/// (gone, beyond a symlink or a file standing where a directory was, or unreadable), in
/// order. Each directory is opened beneath the root and its files `lstat`ed relative to it
/// (`fstatat`), in parallel: the kernel resolves one name per file instead of the whole
/// path, which was the largest cost of checking a million files.
pub fn lstat_each<T: Send>(
    root: &Path,
    paths: &[Vec<u8>],
    f: impl Fn(&[u8], Option<Stat>) -> T + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    paths
        .par_iter()
        .map_init(|| DirCursor::new(root), |dir, rel| f(rel, dir.lstat(rel)))
        .collect()
}

/// [`lstat_each`] over the tracked entries that `wanted` accepts, in the index's order,
/// without copying a path: what `f` returns for each, with its `lstat` data, where it
/// returns something. For a check of every tracked file that finds few of them changed.
pub fn lstat_tracked<'a, T: Send>(
    root: &Path,
    entries: &'a crate::index::Map,
    wanted: impl Fn(&[u8]) -> bool + Sync,
    f: impl Fn(&'a [u8], &'a IndexEntry, Option<Stat>) -> Option<T> + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    entries
        .par_iter()
        .map_init(
            || DirCursor::new(root),
            |dir, (rel, e)| match wanted(rel) {
                true => f(rel, e, dir.lstat(rel)),
                false => None,
            },
        )
        .flatten()
        .collect()
}

/// As [`lstat_tracked`], for the entries at `picked` (positions in path order) only: those
/// a file-system monitor says may have changed.
pub(crate) fn lstat_picked<'a, T: Send>(
    root: &Path,
    entries: &'a crate::index::Map,
    picked: &[usize],
    wanted: impl Fn(&[u8]) -> bool + Sync,
    f: impl Fn(&'a [u8], &'a IndexEntry, Option<Stat>) -> Option<T> + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    picked
        .par_iter()
        .map_init(
            || DirCursor::new(root),
            |dir, &i| {
                let (rel, e) = entries.get_index(i).expect("a position of the index");
                match wanted(rel) {
                    true => f(rel, e, dir.lstat(rel)),
                    false => None,
                }
            },
        )
        .flatten()
        .collect()
}

/// `lstat`s files relative to their directory, kept open from one file to the next: files
/// in path order cost one `fstatat` each and one directory open per directory (and per
/// share of the work a thread takes up).
struct DirCursor<'a> {
    root: &'a Path,
    /// The open directory's path, and the directory (`None` when it could not be opened
    /// beneath the root); nothing opened yet at first.
    open: Option<(Vec<u8>, Option<std::fs::File>)>,
}

impl<'a> DirCursor<'a> {
    fn new(root: &'a Path) -> DirCursor<'a> {
        DirCursor { root, open: None }
    }

    fn lstat(&mut self, rel: &[u8]) -> Option<Stat> {
        let rel = Rel::new(rel);
        let parent = rel.parent();
        if self
            .open
            .as_ref()
            .is_none_or(|(d, _)| d != parent.as_bytes())
        {
            // Never through a symlink standing where a directory was.
            let dir = open_dir_beneath(self.root, parent).map(std::fs::File::from);
            self.open = Some((parent.as_bytes().to_vec(), dir.ok()));
        }
        let dir = self.open.as_ref()?.1.as_ref()?;
        let st = crate::fsutil::lstat_at(dir, rel.file_name()).ok()?;
        Some(Stat::from_raw(&st))
    }
}

/// Which directories of the worktree are real directories, so that no path is read or
/// deleted through a symlink (or a file) standing where a tracked directory was. Each
/// directory is `lstat`ed once: checking a path costs one hash lookup of its parent once
/// that is known. Shared by threads.
pub struct RealDirs {
    root: PathBuf,
    known: dashmap::DashMap<RepoPathBuf, bool, rustc_hash::FxBuildHasher>,
}

impl RealDirs {
    /// Knows only the root, a real directory; everything below is examined when first asked.
    pub fn new(root: &Path) -> RealDirs {
        let known = dashmap::DashMap::with_hasher(Default::default());
        known.insert(RepoPathBuf::new(), true);
        RealDirs {
            root: root.to_path_buf(),
            known,
        }
    }

    /// True when every directory above `rel` is a real directory below the root, so `rel`
    /// names something inside the worktree, reached without following a link; false when
    /// one is a symlink, another kind of file, or gone. An error when one cannot be
    /// examined (a directory without search permission above it): that says nothing.
    pub fn reaches(&self, rel: &Rel) -> Result<bool> {
        let dir = rel.parent();
        if let Some(v) = self.known.get(dir).map(|v| *v) {
            return Ok(v);
        }
        // From the top down, so each answer rests on its parent's.
        for d in dir.prefixes() {
            if !self.is_dir(d)? {
                self.known.insert(dir.to_buf(), false);
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn is_dir(&self, d: &Rel) -> Result<bool> {
        if let Some(v) = self.known.get(d).map(|v| *v) {
            return Ok(v);
        }
        let path = abs(&self.root, d.as_bytes());
        let real = match std::fs::symlink_metadata(&path) {
            Ok(m) => m.is_dir(),
            Err(e) if is_gone(&e) => false,
            Err(e) => return Err(Error::io("could not stat directory", path)(e)),
        };
        self.known.insert(d.to_buf(), real);
        Ok(real)
    }
}

/// How the worktree file at `rel` differs from its index entry, reading it only when its
/// stat data changed or is racy.
pub fn worktree_change(
    root: &Path,
    index: &StagingIndex,
    ingester: &Ingester,
    rel: &[u8],
    e: &IndexEntry,
) -> Result<Option<ChangeKind>> {
    let path = abs(root, rel);
    let found = std::fs::symlink_metadata(&path).map(|m| Stat::from_metadata(&m));
    change_from_stat(found, index, ingester, || path.clone(), e)
}

/// The change given the file's `lstat` result; `path` is wanted only to read the file or
/// to name it in an error.
pub(crate) fn change_from_stat(
    found: std::io::Result<Stat>,
    index: &StagingIndex,
    ingester: &Ingester,
    path: impl Fn() -> PathBuf,
    e: &IndexEntry,
) -> Result<Option<ChangeKind>> {
    let stat = match found {
        Ok(stat) => stat,
        Err(err) if is_gone(&err) => return Ok(Some(ChangeKind::Deleted)),
        Err(err) => return Err(Error::io("could not stat file", &path())(err)),
    };
    let kind = match stat.mode & libc::S_IFMT {
        libc::S_IFLNK => EntryKind::Symlink,
        libc::S_IFREG => EntryKind::File,
        _ => return Ok(Some(ChangeKind::Deleted)),
    };
    if kind != e.kind() {
        return Ok(Some(ChangeKind::TypeChange));
    }
    if stat == e.stat && !index.is_racy(e) {
        return Ok(None);
    }
    let mode_changed = kind == EntryKind::File && (stat.mode & 0o7777) != e.mode;
    if mode_changed || stat.size != e.stat.size {
        return Ok(Some(ChangeKind::Modified));
    }
    match ingester.ingest(&path()) {
        Ok(None) => Ok(Some(ChangeKind::Deleted)),
        Ok(Some(now)) if !now.same_content(e) => Ok(Some(ChangeKind::Modified)),
        Ok(Some(_)) => Ok(None),
        // Being written as it is read, with stat data unlike the entry's: nothing says it
        // still holds what was staged, and status reports rather than fails (as git does).
        Err(Error::Unstable { .. }) => Ok(Some(ChangeKind::Modified)),
        Err(err) => Err(err),
    }
}

/// Repository paths rendered for people and JSON: lossy UTF-8.
pub fn display(rel: &[u8]) -> String {
    String::from_utf8_lossy(rel).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_paths() {
        let root = Path::new("/w");
        assert_eq!(
            resolve(root, Path::new("/w/a"), Path::new("b"))
                .unwrap()
                .as_bytes(),
            b"a/b"
        );
        assert_eq!(
            resolve(root, Path::new("/w/a"), Path::new(".."))
                .unwrap()
                .as_bytes(),
            b""
        );
        assert_eq!(
            resolve(root, Path::new("/w"), Path::new("./x/../y"))
                .unwrap()
                .as_bytes(),
            b"y"
        );
        assert!(resolve(root, Path::new("/w"), Path::new("../z")).is_err());
        assert!(resolve(root, Path::new("/w"), Path::new("/etc")).is_err());
        assert!(resolve(root, Path::new("/w"), Path::new(".cairn/config.toml")).is_err());
        assert!(resolve(root, Path::new("/"), Path::new("wx")).is_err());
    }

    /// A symlink standing where `d` was: nothing is deleted through it, and RealDirs says
    /// its paths are not in the worktree; real directories left empty are removed.
    #[test]
    fn removal_never_follows_a_symlinked_directory() {
        let d = tempfile::tempdir().unwrap();
        let (r, outside) = (d.path().join("w"), d.path().join("outside"));
        for p in [r.join("keep/x/y"), outside.clone()] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(outside.join("a"), b"outside").unwrap();
        std::fs::write(r.join("keep/x/y/f"), b"1").unwrap();
        std::fs::write(r.join("keep/g"), b"2").unwrap();
        std::os::unix::fs::symlink(&outside, r.join("d")).unwrap();
        let real = RealDirs::new(&r);
        assert!(!real.reaches(Rel::new(b"d/a")).unwrap());
        assert!(!real.reaches(Rel::new(b"d/deeper/a")).unwrap());
        assert!(real.reaches(Rel::new(b"keep/x/y/f")).unwrap());
        assert!(real.reaches(Rel::new(b"top")).unwrap());
        let mut rm = Remover::new(&r);
        for p in [&b"d/a"[..], b"keep/x/y/f", b"keep/x/y/gone"] {
            rm.remove(Rel::new(p)).unwrap();
        }
        rm.finish().unwrap();
        assert_eq!(std::fs::read(outside.join("a")).unwrap(), b"outside");
        assert!(!r.join("keep/x").exists(), "emptied directories go");
        assert!(r.join("keep/g").exists(), "a directory holding more stays");
    }

    /// Every wanted entry gets its own file's stat data, across directories and in order;
    /// nothing through a symlink standing where a directory was, nothing for a missing file.
    #[test]
    fn lstat_tracked_stats_each_entry_where_it_stands() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for p in ["a/b", "c", "elsewhere"] {
            std::fs::create_dir_all(r.join(p)).unwrap();
        }
        for (p, len) in [
            ("a/1", 1),
            ("a/b/2", 2),
            ("a/3", 3),
            ("c/4", 4),
            ("elsewhere/5", 5),
        ] {
            std::fs::write(r.join(p), vec![b'x'; len]).unwrap();
        }
        std::os::unix::fs::symlink("elsewhere", r.join("l")).unwrap();
        let (algo, id) = (
            crate::hash::HashAlgo::Blake3,
            crate::hash::ObjectId([0; 32]),
        );
        let entry = IndexEntry::new(1, 0o644, Stat::default(), algo, id, Vec::new());
        let paths = ["a/1", "a/3", "a/b/2", "c/4", "c/gone", "l/5", "top"];
        let map: crate::index::Map = paths
            .iter()
            .map(|p| (p.as_bytes().to_vec(), entry.clone()))
            .collect();
        let wanted = |p: &[u8]| p != b"top";
        let got = lstat_tracked(r, &map, wanted, |p, _, st| Some((p, st.map(|s| s.size))));
        let want: Vec<(&[u8], Option<u64>)> = vec![
            (b"a/1", Some(1)),
            (b"a/3", Some(3)),
            (b"a/b/2", Some(2)),
            (b"c/4", Some(4)),
            (b"c/gone", None),
            (b"l/5", None),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn walk_honours_ignores() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().canonicalize().unwrap();
        for p in [
            "a/x.txt",
            "a/y.log",
            "b/z.txt",
            ".cairn/config.toml",
            "c/.cairn/q",
        ] {
            let f = r.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b"1").unwrap();
        }
        std::fs::write(r.join(".cairnignore"), b"*.log\n").unwrap();
        std::fs::write(r.join("b/.gitignore"), b"z.txt\n").unwrap();
        let w = walk(&r, &[RepoPathBuf::new()], false, 2).unwrap();
        let mut names: Vec<_> = w.files.iter().map(|(p, _)| display(p)).collect();
        names.sort();
        assert_eq!(names, vec![".cairnignore", "a/x.txt", "b/.gitignore"]);
        let w = walk(&r, &[RepoPathBuf::from(&b"a"[..])], false, 2).unwrap();
        assert_eq!(w.files.len(), 1);
        let w = walk(&r, &[RepoPathBuf::new()], true, 2).unwrap();
        assert_eq!(w.files.len(), 5);
    }
}
