//! The FUSE file system: requests from the kernel answered from layers, read-only.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, Request,
};

use super::cache::Cache;
use super::dir::Entry;
use super::files::{Handle, Reader};
use super::inodes::{DirNode, Ino, Inodes, HEAD, LAYERS, LINES, ROOT, TAGS};
use super::refs::{self as mrefs, Listed};
use super::Log;
use crate::error::Error;
use crate::object::EntryKind;
use crate::refs::RefKind;
use crate::repo::Repository;

/// How long the kernel may keep what it learnt about a layer's content: it never changes,
/// and its inode numbers are never reused.
const CONTENT_TTL: Duration = Duration::from_secs(3600);
/// How long for the names that move (lines, tags, HEAD): a commit shows within a second.
const REF_TTL: Duration = Duration::from_secs(1);

/// The names at the root of a whole-repository mount.
fn root_names() -> [(u64, &'static str); 4] {
    [
        (LINES, RefKind::Line.dir()),
        (TAGS, RefKind::Tag.dir()),
        (LAYERS, "layers"),
        (HEAD, "HEAD"),
    ]
}

/// What the mount's root shows.
pub(crate) enum Root {
    /// `lines/`, `tags/`, `layers/` and `HEAD`.
    Refs,
    /// One layer's tree, whose node has the root's inode number.
    Layer,
}

/// The mounted file system.
pub(crate) struct CairnFs {
    pub repo: Arc<Repository>,
    pub inodes: Inodes,
    pub cache: Arc<Cache>,
    pub reader: Arc<Reader>,
    pub root: Root,
    pub log: Log,
    pub uid: u32,
    pub gid: u32,
    pub started: SystemTime,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    next_fh: AtomicU64,
}

/// One name a directory lists.
struct Item<'a> {
    ino: u64,
    kind: FileType,
    name: &'a [u8],
    attr: FileAttr,
}

impl CairnFs {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        repo: Arc<Repository>,
        inodes: Inodes,
        cache: Arc<Cache>,
        reader: Arc<Reader>,
        root: Root,
        log: Log,
        ids: (u32, u32),
    ) -> CairnFs {
        CairnFs {
            repo,
            inodes,
            cache,
            reader,
            root,
            log,
            uid: ids.0,
            gid: ids.1,
            started: SystemTime::now(),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
        }
    }

    fn refs_root(&self) -> bool {
        matches!(self.root, Root::Refs)
    }

    /// Damage and missing objects are I/O errors, said on stderr: the reader sees EIO.
    fn fail(&self, what: &str, e: &Error) -> Errno {
        (self.log)(&format!("{what}: {e}"));
        Errno::EIO
    }

    fn attr(&self, ino: u64, kind: FileType, perm: u16, size: u64, time: SystemTime) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: if kind == FileType::RegularFile {
                size.div_ceil(512)
            } else {
                0
            },
            atime: time,
            mtime: time,
            ctime: time,
            crtime: time,
            kind,
            perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            // Tools size their reads by it (cat, cp): 1 MiB, the largest FUSE request, costs
            // an eighth of the round trips of 128 KiB.
            blksize: 1 << 20,
            flags: 0,
        }
    }

    fn node_attr(&self, n: &DirNode) -> FileAttr {
        self.attr(n.ino, FileType::Directory, 0o755, n.size, time(n.time_ns))
    }

    /// The attributes of `e`, entry `index` of `parent`. Set-id bits are never shown, as
    /// restore never writes them.
    fn entry_attr(&self, parent: &DirNode, index: usize, e: &Entry<'_>) -> FileAttr {
        let ino = parent.base.unwrap_or(0) + index as u64;
        match e.kind {
            EntryKind::Dir => self.attr(
                ino,
                FileType::Directory,
                0o755,
                e.size,
                time(parent.time_ns),
            ),
            EntryKind::File => {
                let perm = (e.mode & 0o1777) as u16;
                self.attr(ino, FileType::RegularFile, perm, e.size, time(e.mtime_ns))
            }
            EntryKind::Symlink => {
                self.attr(ino, FileType::Symlink, 0o777, e.size, time(e.mtime_ns))
            }
        }
    }

    fn fixed_attr(&self, ino: u64) -> Option<FileAttr> {
        match ino {
            ROOT | LINES | TAGS | LAYERS => {
                Some(self.attr(ino, FileType::Directory, 0o555, 0, self.started))
            }
            HEAD => {
                let len = mrefs::head_target(&self.repo).ok()??.len() as u64;
                Some(self.attr(HEAD, FileType::Symlink, 0o777, len, self.started))
            }
            _ => None,
        }
    }

    fn attr_of(&self, ino: u64) -> Result<FileAttr, Errno> {
        if self.refs_root() && ino <= HEAD {
            return self.fixed_attr(ino).ok_or(Errno::ENOENT);
        }
        match self.inodes.get(ino).ok_or(Errno::ENOENT)? {
            Ino::Dir(n) => Ok(self.node_attr(&n)),
            Ino::Entry { parent, index } => {
                let view = self.view(&parent)?;
                Ok(self.entry_attr(&parent, index, &view.entry(index)))
            }
        }
    }

    fn view(&self, n: &DirNode) -> Result<Arc<super::dir::DirView>, Errno> {
        self.cache
            .tree(&self.repo, &n.tree)
            .map_err(|e| self.fail("could not read a directory", &e))
    }

    /// The directory `ino` names, with its entries' numbers allocated.
    fn dir(&self, ino: u64) -> Result<(DirNode, Arc<super::dir::DirView>), Errno> {
        let node = match self.inodes.get(ino).ok_or(Errno::ENOENT)? {
            Ino::Dir(n) => n,
            Ino::Entry { parent, index } => {
                let view = self.view(&parent)?;
                let e = view.entry(index);
                if e.kind != EntryKind::Dir {
                    return Err(Errno::ENOTDIR);
                }
                self.inodes.child_dir(&parent, index, e.id, e.size)
            }
        };
        let view = self.view(&node)?;
        Ok((self.inodes.with_range(&node, view.len()), view))
    }

    /// The layer root `name` under `parent` (`lines/`, `tags/`, `layers/`).
    fn ref_root(&self, parent: u64, name: &[u8]) -> Result<Option<DirNode>, Errno> {
        let found = mrefs::lookup(&self.repo, parent, name)
            .map_err(|e| self.fail("could not read a reference", &e))?;
        Ok(found.map(|l| self.root_node(parent, &l)))
    }

    fn root_node(&self, parent: u64, l: &Listed) -> DirNode {
        self.inodes
            .root(parent, l.name.as_bytes(), l.tree, l.time_ns, l.bytes, None)
    }

    fn lookup_in(&self, parent: u64, name: &[u8]) -> Result<(FileAttr, Duration), Errno> {
        if self.refs_root() && parent == ROOT {
            let ino = root_names()
                .iter()
                .find(|(_, n)| n.as_bytes() == name)
                .map(|(i, _)| *i)
                .ok_or(Errno::ENOENT)?;
            return Ok((self.fixed_attr(ino).ok_or(Errno::ENOENT)?, REF_TTL));
        }
        if self.refs_root() && matches!(parent, LINES | TAGS | LAYERS) {
            let n = self.ref_root(parent, name)?.ok_or(Errno::ENOENT)?;
            return Ok((self.node_attr(&n), REF_TTL));
        }
        let (node, view) = self.dir(parent)?;
        let index = view.find(name).ok_or(Errno::ENOENT)?;
        Ok((
            self.entry_attr(&node, index, &view.entry(index)),
            CONTENT_TTL,
        ))
    }

    /// Lists `ino` from position `offset`, handing each name to `add` until it says the
    /// reply is full. Positions: 0 is `.`, 1 is `..`, then the entries.
    fn list(
        &self,
        ino: u64,
        offset: u64,
        add: &mut dyn FnMut(&Item<'_>, u64) -> bool,
    ) -> Result<(), Errno> {
        if self.refs_root() && ino <= HEAD {
            return self.list_fixed(ino, offset, add);
        }
        let (node, view) = self.dir(ino)?;
        let dots = [(node.ino, &b"."[..]), (node.parent, &b".."[..])];
        for (pos, (ino, name)) in dots.iter().enumerate().skip(offset as usize) {
            let attr = self.node_attr(&node);
            let item = Item {
                ino: *ino,
                kind: FileType::Directory,
                name,
                attr,
            };
            if add(&item, pos as u64 + 1) {
                return Ok(());
            }
        }
        for i in (offset.saturating_sub(2) as usize)..view.len() {
            let e = view.entry(i);
            let attr = self.entry_attr(&node, i, &e);
            let item = Item {
                ino: attr.ino.0,
                kind: attr.kind,
                name: e.name,
                attr,
            };
            if add(&item, i as u64 + 3) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The root's four names, or the layers under `lines/`, `tags/` and `layers/`, read
    /// afresh: a commit made while mounted shows at the next listing.
    fn list_fixed(
        &self,
        ino: u64,
        offset: u64,
        add: &mut dyn FnMut(&Item<'_>, u64) -> bool,
    ) -> Result<(), Errno> {
        let dir = self.fixed_attr(ino).ok_or(Errno::ENOTDIR)?;
        if dir.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let mut items: Vec<(u64, FileAttr, Vec<u8>)> = vec![
            (ino, dir, b".".to_vec()),
            (
                ROOT,
                self.fixed_attr(ROOT).ok_or(Errno::EIO)?,
                b"..".to_vec(),
            ),
        ];
        if ino == ROOT {
            for (i, name) in root_names() {
                if let Some(a) = self.fixed_attr(i) {
                    items.push((i, a, name.as_bytes().to_vec()));
                }
            }
        } else {
            let listed = mrefs::list(&self.repo, ino)
                .map_err(|e| self.fail("could not list references", &e))?;
            for l in listed {
                let n = self.root_node(ino, &l);
                items.push((n.ino, self.node_attr(&n), l.name.into_bytes()));
            }
        }
        for (pos, (ino, attr, name)) in items.iter().enumerate().skip(offset as usize) {
            let item = Item {
                ino: *ino,
                kind: attr.kind,
                name,
                attr: *attr,
            };
            if add(&item, pos as u64 + 1) {
                break;
            }
        }
        Ok(())
    }

    fn readlink_of(&self, ino: u64) -> Result<Vec<u8>, Errno> {
        if self.refs_root() && ino == HEAD {
            let target =
                mrefs::head_target(&self.repo).map_err(|e| self.fail("could not read HEAD", &e))?;
            return target.map(String::into_bytes).ok_or(Errno::ENOENT);
        }
        let Some(Ino::Entry { parent, index }) = self.inodes.get(ino) else {
            return Err(Errno::EINVAL);
        };
        let view = self.view(&parent)?;
        let e = view.entry(index);
        if e.kind != EntryKind::Symlink {
            return Err(Errno::EINVAL);
        }
        let what = format!(
            "could not read the link {}",
            String::from_utf8_lossy(e.name)
        );
        let obj = self
            .repo
            .read_file(&e.id)
            .map_err(|err| self.fail(&what, &err))?;
        let target = self
            .reader
            .read_small(&obj)
            .map_err(|err| self.fail(&what, &err))?;
        // What restore would refuse (verify reports it): a target of the wrong size, empty,
        // or holding NUL, which no symlink can have.
        if target.len() as u64 != e.size || target.is_empty() || target.contains(&0) {
            return Err(self.fail(
                &what,
                &Error::corrupt(
                    "link",
                    self.repo.dir(),
                    "its target is empty, holds NUL or differs from its entry's size",
                ),
            ));
        }
        Ok(target)
    }

    fn open_file(&self, ino: u64) -> Result<u64, Errno> {
        let Some(Ino::Entry { parent, index }) = self.inodes.get(ino) else {
            return Err(Errno::EISDIR);
        };
        let view = self.view(&parent)?;
        let e = view.entry(index);
        match e.kind {
            EntryKind::File => {}
            EntryKind::Dir => return Err(Errno::EISDIR),
            EntryKind::Symlink => return Err(Errno::ELOOP),
        }
        let name = String::from_utf8_lossy(e.name).into_owned();
        let what = format!("could not open {name}");
        let obj = self
            .repo
            .read_file(&e.id)
            .map_err(|err| self.fail(&what, &err))?;
        let h = Handle::new(obj, e.size, name).map_err(|err| self.fail(&what, &err))?;
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.lock_handles().insert(fh, Arc::new(h));
        Ok(fh)
    }

    fn lock_handles(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Handle>>> {
        self.handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Nanoseconds since the epoch (before it when negative) as a time.
fn time(ns: i64) -> SystemTime {
    let d = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

impl Filesystem for CairnFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Each capability is asked for alone: an older kernel lacking one keeps the rest.
        for cap in [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP,
            InitFlags::FUSE_PARALLEL_DIROPS,
        ] {
            let _ = config.add_capabilities(cap);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.lookup_in(parent.0, name.as_bytes()) {
            Ok((attr, ttl)) => reply.entry(&ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let ttl = if self.refs_root() && ino.0 <= HEAD {
            REF_TTL
        } else {
            CONTENT_TTL
        };
        match self.attr_of(ino.0) {
            Ok(attr) => reply.attr(&ttl, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.readlink_of(ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match self.open_file(ino.0) {
            // Direct I/O: every read reaches cairn with the caller's exact range, so a
            // damaged chunk fails exactly the reads that cover it (through the page cache,
            // a neighbour's read-ahead would fail too); maps still work (allowed at init).
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(h) = self.lock_handles().get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        match self.reader.read(&h, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => {
                let what = format!("could not read {} at {offset}+{size}", h.name);
                reply.error(self.fail(&what, &e));
            }
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock_handles().remove(&fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.list(ino.0, offset, &mut |it, next| {
            reply.add(INodeNo(it.ino), next, it.kind, OsStr::from_bytes(it.name))
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let fixed = self.refs_root() && ino.0 <= HEAD;
        let ttl = if fixed { REF_TTL } else { CONTENT_TTL };
        let r = self.list(ino.0, offset, &mut |it, next| {
            reply.add(
                INodeNo(it.ino),
                next,
                OsStr::from_bytes(it.name),
                &ttl,
                &it.attr,
                Generation(0),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
