//! Writing layer entries to disk, for restore and checkout. Paths come from trees whose
//! names were checked on decode (no `..`, `/`, NUL or empty names), and directories are
//! created one component at a time, refusing to pass through anything that is not a real
//! directory, so a hostile repository cannot write outside the destination.

use std::ffi::CString;
use std::fs::{self, FileTimes, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::error::{Error, IoContext, Result};
use crate::object::{EntryKind, TreeEntry};
use crate::read::{read_small, write_content, ChunkCache};
use crate::repo::Repository;

pub struct Materializer<'a> {
    pub repo: &'a Repository,
    pub cache: ChunkCache,
}

impl<'a> Materializer<'a> {
    pub fn new(repo: &'a Repository) -> Materializer<'a> {
        Materializer {
            repo,
            cache: ChunkCache::default(),
        }
    }

    /// Creates the file or symlink `e` at `dest`, replacing a file or symlink already there.
    /// The content is written to a temporary sibling and renamed into place, so a damaged
    /// object never leaves wrong bytes at `dest` and never costs the file that was there.
    /// The parent directory must exist.
    pub fn write_entry(&self, e: &TreeEntry, dest: &Path) -> Result<()> {
        if e.kind == EntryKind::Dir {
            return ensure_dir_at(dest);
        }
        refuse_dir(dest)?;
        let tmp = sibling_temp(dest);
        let written = match e.kind {
            EntryKind::Symlink => self.write_symlink(e, &tmp, dest),
            _ => self.write_file(e, &tmp, dest),
        };
        let placed = written
            .and_then(|()| fs::rename(&tmp, dest).ctx("could not move file into place", dest));
        if placed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        placed
    }

    fn write_file(&self, e: &TreeEntry, tmp: &Path, dest: &Path) -> Result<()> {
        let obj = self.repo.read_file(&e.id).map_err(|err| err.at(dest))?;
        if obj.size() != e.size {
            return Err(size_mismatch(e, obj.size(), dest));
        }
        // create_new (O_EXCL) never follows a symlink planted at the temporary name.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .ctx("could not create file", dest)?;
        file.set_len(e.size).ctx("could not write file", dest)?;
        write_content(self.repo, &self.cache, &obj, &file, dest).map_err(|err| err.at(dest))?;
        file.set_permissions(fs::Permissions::from_mode(e.mode & 0o7777))
            .ctx("could not set file mode", dest)?;
        file.set_times(FileTimes::new().set_modified(time(e.mtime_ns)))
            .ctx("could not set file time", dest)?;
        Ok(())
    }

    fn write_symlink(&self, e: &TreeEntry, tmp: &Path, dest: &Path) -> Result<()> {
        let obj = self.repo.read_file(&e.id).map_err(|err| err.at(dest))?;
        let target = read_small(self.repo, &self.cache, &obj).map_err(|err| err.at(dest))?;
        if target.len() as u64 != e.size {
            return Err(size_mismatch(e, target.len() as u64, dest));
        }
        if target.is_empty() || target.contains(&0) {
            return Err(Error::corrupt(
                "tree",
                dest,
                format!("object {}: symlink target is empty or holds NUL", e.id),
            ));
        }
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), tmp)
            .ctx("could not create symlink", dest)?;
        set_link_time(tmp, e.mtime_ns)
    }
}

/// The error for a tree entry whose size differs from its file object's.
pub fn size_mismatch(e: &TreeEntry, actual: u64, path: &Path) -> Error {
    Error::corrupt(
        "tree",
        path,
        format!(
            "file {}: the entry says {} bytes, its content has {actual}",
            e.id, e.size
        ),
    )
}

/// A temporary name beside `dest`, short enough for any file system.
fn sibling_temp(dest: &Path) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(".cairn-tmp-{}-{n}", std::process::id());
    dest.parent().unwrap_or(Path::new(".")).join(name)
}

fn time(ns: i64) -> std::time::SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// Sets a symlink's own mtime (not its target's).
fn set_link_time(path: &Path, ns: i64) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Invalid {
        what: "path holds a NUL byte".into(),
        path: path.to_path_buf(),
    })?;
    let t = libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000),
        tv_nsec: ns.rem_euclid(1_000_000_000),
    };
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        t,
    ];
    // SAFETY: c is a valid NUL-terminated path and times points at two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(Error::io("could not set symlink time", path)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// A directory at `dest` cannot be replaced by a file.
fn refuse_dir(dest: &Path) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(Error::Invalid {
            what: "a directory is in the way of a file".into(),
            path: dest.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

fn ensure_dir_at(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Invalid {
            what: "refusing to write through something that is not a directory".into(),
            path: p.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::create_dir(p) {
            // Another worker created it in the meantime: check what is there now.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => ensure_dir_at(p),
            r => r.ctx("could not create directory", p),
        },
        Err(e) => Err(Error::io("could not stat", p)(e)),
    }
}

/// Creates `root/rel` one component at a time, never through a symlink.
pub fn ensure_dirs(root: &Path, rel: &[u8]) -> Result<()> {
    let mut p = root.to_path_buf();
    for part in rel.split(|b| *b == b'/').filter(|s| !s.is_empty()) {
        p.push(std::ffi::OsStr::from_bytes(part));
        ensure_dir_at(&p)?;
    }
    Ok(())
}

/// True when `dir` does not exist or holds nothing.
pub fn is_empty_dir(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io("could not read directory", dir)(e)),
    }
}
