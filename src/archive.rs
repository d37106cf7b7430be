//! Tar streams out of layers (`export`) and into the staging index (`import`). Names are raw
//! bytes and may be any length (GNU long names and link targets, PAX records); content is
//! streamed chunk by chunk, so memory stays flat whatever the file sizes.
//!
//! A tar stream read here is untrusted: names are normalised and refused when absolute,
//! when they climb out with `..` or reach into `.cairn`; symlinks may not point out of the
//! tree nor hard links to members not seen before; and the bytes the tar reader may take
//! between two members (extension headers it holds in memory) are bounded, so a small
//! archive announcing a gigabyte-long name is refused rather than allocated.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use tar::{EntryType, Header};

use crate::error::{Error, Result};
use crate::materialize::written_mode;
use crate::object::{EntryKind, FileObject, TreeEntry};
use crate::progress::{Progress, Unit};
use crate::read::{read_small, ChunkCache};
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;

/// What went into a tar stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TarCounts {
    /// Regular files.
    pub files: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Directories.
    pub dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Writes `entries` (paths from the layer's root, parents before children, as
/// [`crate::read::select`] gives them) as a tar stream to `out`, then the end-of-archive
/// blocks. Directories, which a layer stores without a mode or a time, are written with mode
/// 755 and the layer's time `dir_time_ns`. `out_name` names the output in errors.
pub fn write_tar<W: Write>(
    repo: &Repository,
    entries: &[(Vec<u8>, TreeEntry)],
    dir_time_ns: i64,
    out: W,
    out_name: &Path,
    progress: &dyn Progress,
) -> Result<(TarCounts, W)> {
    let total = entries
        .iter()
        .filter(|(_, e)| e.kind != EntryKind::Dir)
        .map(|(_, e)| e.size)
        .sum();
    let files = entries.iter().filter(|(_, e)| e.kind != EntryKind::Dir);
    progress.begin("exporting", Unit::Files, files.count() as u64, total);
    let mut w = TarWriter {
        repo,
        cache: ChunkCache::new(4 << 20),
        builder: tar::Builder::new(out),
        out_name,
        counts: TarCounts::default(),
        progress,
    };
    for (path, e) in entries {
        w.entry(path, e, dir_time_ns)?;
    }
    progress.end();
    let counts = w.counts;
    let out = w.builder.into_inner().map_err(|e| w_err(e, out_name))?;
    Ok((counts, out))
}

struct TarWriter<'a, W: Write> {
    repo: &'a Repository,
    cache: ChunkCache,
    builder: tar::Builder<W>,
    out_name: &'a Path,
    counts: TarCounts,
    progress: &'a dyn Progress,
}

impl<W: Write> TarWriter<'_, W> {
    fn entry(&mut self, path: &[u8], e: &TreeEntry, dir_time_ns: i64) -> Result<()> {
        let name = Path::new(std::ffi::OsStr::from_bytes(path));
        let mut h = Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        let time_ns = match e.kind {
            EntryKind::Dir => dir_time_ns,
            _ => e.mtime_ns,
        };
        self.time(&mut h, time_ns)?;
        match e.kind {
            EntryKind::Dir => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                self.counts.dirs += 1;
                self.append(&mut h, name, std::io::empty())
            }
            EntryKind::Symlink => {
                let obj = self.object(e, path)?;
                let target = read_small(self.repo, &self.cache, &obj)?;
                h.set_entry_type(EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                let target = Path::new(std::ffi::OsStr::from_bytes(&target));
                self.builder
                    .append_link(&mut h, name, target)
                    .map_err(|err| w_err(err, self.out_name))?;
                self.counts.symlinks += 1;
                self.progress.advance(1, e.size);
                Ok(())
            }
            EntryKind::File => {
                let obj = self.object(e, path)?;
                h.set_entry_type(EntryType::Regular);
                h.set_mode(written_mode(e.mode));
                h.set_size(e.size);
                let failed = std::cell::RefCell::new(None);
                let at = Path::new(std::ffi::OsStr::from_bytes(path));
                let content = Content {
                    repo: self.repo,
                    path: at,
                    cache: &self.cache,
                    obj: &obj,
                    next: 0,
                    chunk: Arc::new(Vec::new()),
                    pos: 0,
                    failed: &failed,
                    progress: self.progress,
                };
                // The builder and the cache are separate fields: borrowed apart.
                let r = self
                    .builder
                    .append_data(&mut h, name, content)
                    .map_err(|err| w_err(err, self.out_name));
                if let Some(err) = failed.into_inner() {
                    return Err(err);
                }
                r?;
                self.counts.files += 1;
                self.counts.bytes += e.size;
                self.progress.advance(1, 0);
                Ok(())
            }
        }
    }

    /// The file object of `e`, checked against the size its tree gives.
    fn object(&self, e: &TreeEntry, path: &[u8]) -> Result<FileObject> {
        let at = || std::path::PathBuf::from(std::ffi::OsStr::from_bytes(path));
        let obj = self.repo.read_file(&e.id).map_err(|err| err.at(&at()))?;
        if obj.size() != e.size {
            return Err(crate::materialize::size_mismatch(e, obj.size(), &at()));
        }
        Ok(obj)
    }

    /// Seconds in the header; a PAX `mtime` record before it carries the nanoseconds.
    fn time(&mut self, h: &mut Header, ns: i64) -> Result<()> {
        let (secs, nanos) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
        h.set_mtime(u64::try_from(secs).unwrap_or(0));
        if nanos != 0 && secs >= 0 {
            let value = format!("{secs}.{nanos:09}");
            self.builder
                .append_pax_extensions([("mtime", value.as_bytes())])
                .map_err(|err| w_err(err, self.out_name))?;
        }
        Ok(())
    }

    fn append(&mut self, h: &mut Header, name: &Path, data: impl Read) -> Result<()> {
        self.builder
            .append_data(h, name, data)
            .map_err(|err| w_err(err, self.out_name))
    }
}

fn w_err(e: std::io::Error, out: &Path) -> Error {
    Error::Io {
        op: "could not write the tar stream",
        path: out.to_path_buf(),
        source: e,
    }
}

/// A file's content read chunk by chunk from the store. A chunk that cannot be read or is
/// damaged ends the read with an error, kept in `failed` so the caller reports it rather
/// than the tar writer's "unexpected end".
struct Content<'a> {
    repo: &'a Repository,
    /// The file's path in the layer, for errors.
    path: &'a Path,
    cache: &'a ChunkCache,
    obj: &'a FileObject,
    next: usize,
    chunk: Arc<Vec<u8>>,
    pos: usize,
    failed: &'a std::cell::RefCell<Option<Error>>,
    progress: &'a dyn Progress,
}

impl Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.chunk.len() {
            let Some(c) = self.obj.chunks.get(self.next) else {
                return Ok(0);
            };
            match self.cache.get(self.repo, &c.id) {
                Ok(data) if data.len() == c.len as usize => {
                    self.progress.advance(0, data.len() as u64);
                    self.chunk = data;
                    self.pos = 0;
                    self.next += 1;
                }
                Ok(_) => {
                    let why = format!("chunk {} has the wrong length", c.id);
                    let err = Error::corrupt("file", self.path, why);
                    return Err(self.fail(err));
                }
                Err(e) => return Err(self.fail(e.at(self.path))),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Content<'_> {
    fn fail(&self, e: Error) -> std::io::Error {
        let io = std::io::Error::other(e.to_string());
        *self.failed.borrow_mut() = Some(e);
        io
    }
}

/// The most bytes the tar reader may consume between two members: their headers and any
/// extension records (long names, PAX), which it holds in memory.
const MEMBER_HEADERS_MAX: u64 = 1 << 20;

/// One member of a tar stream, as `import` stages it.
pub enum Member<'a> {
    /// A regular file: its content is `reader`, exactly `size` bytes.
    File {
        /// The normalised path.
        path: RepoPathBuf,
        /// Permission, set-id and sticky bits.
        mode: u32,
        /// Modification time (nanoseconds when a PAX record gives them).
        mtime_ns: i64,
        /// The content's length.
        size: u64,
        /// The content.
        reader: &'a mut dyn Read,
    },
    /// A symbolic link whose target stays inside the tree.
    Symlink {
        /// The normalised path.
        path: RepoPathBuf,
        /// The target, as stored.
        target: Vec<u8>,
        /// Modification time.
        mtime_ns: i64,
    },
    /// A hard link to an earlier member.
    HardLink {
        /// The normalised path.
        path: RepoPathBuf,
        /// The earlier member's normalised path.
        target: RepoPathBuf,
    },
    /// A device, fifo or socket: not stored.
    Special {
        /// The normalised path.
        path: RepoPathBuf,
        /// What it is.
        kind: &'static str,
    },
}

/// Reads a tar stream (plain, gzip or zstd, told apart by their first bytes) and hands each
/// member but directories (trees imply them) to `f`, in order. `name` names the input in
/// errors. A hostile member fails the whole read.
pub fn read_tar(
    input: impl Read,
    name: &Path,
    mut f: impl FnMut(Member<'_>) -> Result<()>,
) -> Result<()> {
    let budget = Rc::new(Cell::new(u64::MAX));
    let mut archive = tar::Archive::new(Budgeted {
        inner: decompressed(input, name)?,
        budget: Rc::clone(&budget),
    });
    let bad = |what: String| Error::corrupt("tar stream", name, what);
    budget.set(MEMBER_HEADERS_MAX);
    let entries = archive.entries().map_err(|e| read_err(e, name))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            if budget.get() == 0 {
                bad(format!(
                    "more than {MEMBER_HEADERS_MAX} bytes of headers before a member"
                ))
            } else {
                read_err(e, name)
            }
        })?;
        budget.set(u64::MAX); // the member's content is streamed, not held
        member(&mut entry, name, &mut f)?;
        // Whatever of the member was not read is skipped here, within no budget.
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| read_err(e, name))?;
        budget.set(MEMBER_HEADERS_MAX);
    }
    Ok(())
}

/// Hands one member to `f`, normalised and checked.
fn member<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &Path,
    f: &mut impl FnMut(Member<'_>) -> Result<()>,
) -> Result<()> {
    let bad = |what: String| Error::corrupt("tar stream", name, what);
    let raw = entry.path_bytes().into_owned();
    let path = normalise(&raw).map_err(|why| bad(format!("{}: {why}", shown(&raw))))?;
    let header = entry.header();
    let kind = header.entry_type();
    let mtime_ns = mtime_ns(entry).map_err(|e| read_err(e, name))?;
    let mode = entry.header().mode().map_err(|e| read_err(e, name))? & 0o7777;
    if path.is_root() {
        return match kind {
            EntryType::Directory => Ok(()),
            _ => Err(bad(format!("{}: a member must have a name", shown(&raw)))),
        };
    }
    let link = || {
        entry
            .link_name_bytes()
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| bad(format!("{}: a link without a target", shown(&raw))))
    };
    match kind {
        EntryType::Regular | EntryType::Continuous => {
            let size = entry.size();
            f(Member::File {
                path,
                mode,
                mtime_ns,
                size,
                reader: entry,
            })
        }
        EntryType::Directory => Ok(()),
        EntryType::Symlink => {
            let target = link()?;
            if !stays_inside(&path, &target) {
                return Err(bad(format!(
                    "{}: a symlink to {} points out of the tree",
                    shown(&raw),
                    shown(&target)
                )));
            }
            f(Member::Symlink {
                path,
                target,
                mtime_ns,
            })
        }
        EntryType::Link => {
            let target = link()?;
            let target = normalise(&target).map_err(|why| {
                bad(format!(
                    "{}: hard link to {}: {why}",
                    shown(&raw),
                    shown(&target)
                ))
            })?;
            f(Member::HardLink { path, target })
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let kind = match kind {
                EntryType::Char => "character device",
                EntryType::Block => "block device",
                _ => "fifo",
            };
            f(Member::Special { path, kind })
        }
        other => Err(bad(format!(
            "{}: members of type {:?} are not supported",
            shown(&raw),
            other.as_byte() as char
        ))),
    }
}

/// A member's name as a repository path: `.` components and a trailing `/` dropped;
/// refused when absolute, when it has `..`, or when it reaches into `.cairn`.
fn normalise(raw: &[u8]) -> std::result::Result<RepoPathBuf, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute names are refused");
    }
    let mut out = RepoPathBuf::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("names with `..` are refused"),
            p => out = out.join(p),
        }
    }
    if out.components().next() == Some(crate::repo::CAIRN_DIR.as_bytes()) {
        return Err("names inside the repository's own directory are refused");
    }
    if crate::build::too_deep(out.as_bytes()) {
        return Err("directories nested this deep cannot be stored");
    }
    Ok(out)
}

/// Whether a symlink at `path` to `target` resolves, lexically, inside the tree: not
/// absolute, and never above the root however its `..` fall.
fn stays_inside(path: &RepoPathBuf, target: &[u8]) -> bool {
    if target.is_empty() || target.first() == Some(&b'/') {
        return false;
    }
    let mut depth = path.depth().saturating_sub(1) as i64; // the link's directory
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// The member's modification time: the header's seconds, or a PAX `mtime` record's
/// seconds and fraction.
fn mtime_ns<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::io::Result<i64> {
    let secs = entry.header().mtime()?;
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000_000);
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax.flatten() {
            if ext.key_bytes() == b"mtime" {
                if let Some(ns) = pax_time(ext.value_bytes()) {
                    return Ok(ns);
                }
            }
        }
    }
    Ok(secs.saturating_mul(1_000_000_000))
}

/// `SECONDS[.FRACTION]` as nanoseconds.
fn pax_time(v: &[u8]) -> Option<i64> {
    let v = std::str::from_utf8(v).ok()?;
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = format!("{digits:0<9}").parse().ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn shown(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn read_err(e: std::io::Error, name: &Path) -> Error {
    Error::Io {
        op: "could not read the tar stream",
        path: name.to_path_buf(),
        source: e,
    }
}

/// `input`, decompressed when its first bytes are gzip's or zstd's magic.
fn decompressed<'a>(input: impl Read + 'a, name: &Path) -> Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(|e| read_err(e, name))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::Decoder::with_buffer(buffered).map_err(|e| read_err(e, name))?)
    } else {
        Box::new(buffered)
    })
}

/// A reader that fails once it has given `budget` bytes, so that what the tar reader holds
/// in memory between two members stays bounded. `u64::MAX` is no bound.
struct Budgeted<R> {
    inner: R,
    budget: Rc<Cell<u64>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.budget.get();
        if left == 0 {
            return Err(std::io::Error::other("tar headers too large"));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if left != u64::MAX {
            self.budget.set(left - n as u64);
        }
        Ok(n)
    }
}
