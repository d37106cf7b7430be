//! Durable file writes: temp file in the same file system, fsync, rename, fsync the directory.
//! A reader sees either the old file or the complete new one, never a mix.

#![allow(
    unsafe_code,
    reason = "the one home of raw system calls: each wrapper is safe to call and says why"
)]

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};
use crate::failpoint;

/// A unique path in `tmp_dir` for a file that will be renamed into place.
pub(crate) fn temp_path(tmp_dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    tmp_dir.join(format!("{stem}-{}-{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `dest` atomically and durably, staging the file in `tmp_dir`.
pub(crate) fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(tmp_dir, dest, |f| f.write_all(bytes))
}

/// As [`write_atomic`], with the content written by `write` (a large file streamed, never
/// held whole in memory).
pub(crate) fn write_atomic_with(
    tmp_dir: &Path,
    dest: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path(tmp_dir, "write");
    let result = (|| {
        let mut f = create_new(&tmp)?;
        failpoint::error("atomic:write-error")
            .and_then(|()| write(&mut f))
            .ctx("could not write file", &tmp)?;
        f.sync_all().ctx("could not sync file", &tmp)?;
        failpoint::hit("atomic:before-rename");
        rename_durable(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .ctx("could not create file", path)
}

/// Direct I/O wants buffers, lengths and file offsets aligned to the device's logical block
/// size; 4096 covers 512-byte and 4 KiB devices.
pub(crate) const DIRECT_ALIGN: usize = 4096;

/// A zeroed buffer of `len` bytes whose start is aligned to [`DIRECT_ALIGN`], for direct I/O.
pub(crate) struct AlignedBuf {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn new(len: usize) -> AlignedBuf {
        let buf = vec![0u8; len + DIRECT_ALIGN];
        let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
        AlignedBuf { buf, start, len }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Moves the start one byte off the alignment, so that direct I/O refuses the buffer.
    #[cfg(test)]
    pub(crate) fn misalign(&mut self) {
        self.start += 1;
    }
}

/// Turns direct I/O on or off for an open file. False when the file system refuses it.
pub(crate) fn set_direct(file: &File, on: bool) -> bool {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` owns, with flag arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return false;
        }
        let flags = match on {
            true => flags | libc::O_DIRECT,
            false => flags & !libc::O_DIRECT,
        };
        libc::fcntl(fd, libc::F_SETFL, flags) == 0
    }
}

/// Writes `block` at `offset`, falling back to the page cache for this write and the later
/// ones when direct I/O refuses it (`EINVAL`: a device whose blocks are larger than
/// [`DIRECT_ALIGN`], or a file system that takes the flag but not the write). True when it
/// fell back.
pub(crate) fn write_at_direct(file: &File, block: &[u8], offset: u64) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    match file.write_all_at(block, offset) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && set_direct(file, false) => {
            file.write_all_at(block, offset).map(|()| true)
        }
        r => r.map(|()| false),
    }
}

/// Renames `from` to `to` and syncs the destination's directory, so the rename survives a
/// crash.
pub(crate) fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).ctx("could not move file into place", to)?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Renames `from` to `to` unless something already stands at `to` (`AlreadyExists` then),
/// in one step where the file system can (`renameat2` with `RENAME_NOREPLACE`), so a file
/// another program creates meanwhile is never replaced. Elsewhere: a check, then a rename.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let (f, t) = (
        c_name(from.as_os_str().as_bytes())?,
        c_name(to.as_os_str().as_bytes())?,
    );
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
        _ => Err(e),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("could not sync directory", dir)
}

/// Maps a whole file read-only. Callers only map files cairn never writes into once they
/// are published (packs and pack indexes: a repaired index replaces the old one by rename,
/// and gc deletes whole files), so the bytes cannot change under the map.
pub(crate) fn map_immutable(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: see above; the map is read-only and the file is never truncated while mapped.
    unsafe { memmap2::Mmap::map(file) }
}

/// Drops the pages of `map` from this process's memory; the next read of them maps them
/// again from the page cache. The pages of a mapped file count in the process's resident
/// memory once read: a million lookups read every page of a table of tens of megabytes.
/// Only for maps of files no one writes ([`map_immutable`]), whose bytes come back the same.
pub(crate) fn release_pages(map: &memmap2::Mmap) {
    // SAFETY: a shared, read-only map of a file that never changes while mapped: dropping
    // its pages loses nothing, and a thread reading them meanwhile faults the same bytes
    // back in. Only a hint: a failure leaves the pages where they were.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

/// Advice to the kernel about `len` bytes at `offset` (0 for the whole file). Only a hint:
/// failure changes nothing, so it is not reported.
pub(crate) fn advise(file: &File, offset: u64, len: u64, advice: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor; the call reads no memory of ours.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), offset as i64, len as i64, advice) };
}

/// Reserves `size` bytes of blocks for `file`. A hint too: the writes that follow report
/// any real failure.
pub(crate) fn preallocate(file: &File, size: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor this function borrows.
    unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) };
}

/// `lstat` of `name` inside the directory `dir`.
pub(crate) fn lstat_at(
    dir: &impl std::os::fd::AsRawFd,
    name: &[u8],
) -> std::io::Result<libc::stat> {
    let name = c_name(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a valid directory descriptor, a NUL-terminated name, and a buffer the call
    // fills completely when it returns 0.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: filled by the successful call above.
    Ok(unsafe { st.assume_init() })
}

/// Opens `name` inside the directory `dir` with `flags` plus `O_NOFOLLOW`, so a symlink
/// there fails the call instead of being followed.
pub(crate) fn open_at_nofollow(
    dir: &impl std::os::fd::AsRawFd,
    name: &[u8],
    flags: libc::c_int,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let name = c_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Removes `name` inside the directory `dir` (`flags`: 0 or `AT_REMOVEDIR`), never through
/// a symlink standing where a directory of the path was.
pub(crate) fn unlink_at(
    dir: &impl std::os::fd::AsRawFd,
    name: &[u8],
    flags: libc::c_int,
) -> std::io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    match unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Sets a symlink's own modification time (not its target's), in nanoseconds.
pub(crate) fn set_link_mtime(path: &Path, ns: i64) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = c_name(path.as_os_str().as_bytes())?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: ns.div_euclid(1_000_000_000),
            tv_nsec: ns.rem_euclid(1_000_000_000),
        },
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
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// True when `dir` certainly has no default ACL (which would replace the umask for what is
/// created below it); false when it has one or the file system does not say.
pub(crate) fn lacks_default_acl(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = c_name(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: two NUL-terminated strings; a null buffer of size 0 only asks for the size.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"system.posix_acl_default".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error();
    n < 0 && matches!(errno, Some(libc::ENODATA | libc::EOPNOTSUPP))
}

/// This machine's host name, if the kernel gives one.
pub(crate) fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// True unless process `pid` certainly does not exist (a process we may not signal exists).
pub(crate) fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        // 0 and negative numbers name process groups, never one process.
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Starts writing back `len` bytes of `file` at `offset` without waiting, so that a later
/// fsync finds little left. Only a hint: errors surface at the fsync.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a descriptor `file` owns; the kernel only reads the numbers.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Reads `head.len()` bytes at `offset` into `head` and the `len` bytes after them into a
/// new buffer, with one `preadv` a round. The buffer is not zeroed first: restore reads
/// chunks by the gigabyte, and zeroing each buffer before overwriting it was 4% of its CPU.
pub(crate) fn read_head_and_body(
    file: &File,
    offset: u64,
    head: &mut [u8],
    len: usize,
) -> std::io::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let h_len = head.len();
    let mut body = Vec::<u8>::with_capacity(len);
    let mut done = 0usize;
    while done < h_len + len {
        let (h, b) = (done.min(h_len), done.saturating_sub(h_len));
        let iov = [
            libc::iovec {
                iov_base: head[h..].as_mut_ptr().cast(),
                iov_len: h_len - h,
            },
            libc::iovec {
                // SAFETY: b <= len, the body's capacity.
                iov_base: unsafe { body.as_mut_ptr().add(b) }.cast(),
                iov_len: len - b,
            },
        ];
        let at = (offset + done as u64) as libc::off_t;
        // SAFETY: each iovec points at memory this function owns, with room for its length.
        let n = unsafe { libc::preadv(file.as_raw_fd(), iov.as_ptr(), 2, at) };
        match n {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n if n < 0 => {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            n => done += n as usize,
        }
    }
    // SAFETY: the loop stopped once all `len` bytes of the body were read into it.
    unsafe { body.set_len(len) };
    Ok(body)
}

/// A name for the C calls above: EINVAL when it holds a NUL byte, as the kernel would say.
fn c_name(name: &[u8]) -> std::io::Result<std::ffi::CString> {
    std::ffi::CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// The file system type of the one holding `path` (statfs's `f_type`, e.g. 0x6969 for NFS).
pub(crate) fn fs_magic(path: &Path) -> std::io::Result<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: all-zero bytes are a valid `statfs` (plain integers), which the call fills.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid place for the answer.
    if unsafe { libc::statfs(c.as_ptr(), &raw mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type's integer type differs by target"
    )]
    Ok(st.f_type as i64)
}

/// Waits up to `timeout_ms` (-1: without end) until one of `fds` can be read; whether each
/// can. An interrupted wait answers "none".
pub(crate) fn poll_readable(
    fds: &[std::os::fd::BorrowedFd<'_>],
    timeout_ms: i32,
) -> std::io::Result<Vec<bool>> {
    use std::os::fd::AsRawFd;
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` is a valid array of its length, of descriptors the caller borrows.
    let rc = unsafe {
        libc::poll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(polled.iter().map(|p| p.revents != 0).collect())
}

/// mimalloc hands memory freed in large runs back to the system only a second later (its
/// version 3's default) and only when it next collects: a command that drops the staging
/// index (190 MB at a million files) and then maps the multi-pack index, or frees the
/// files of a walk before the index fills, kept both in its resident memory (a first commit
/// of a million files peaked at 340 MB instead of 270, a full add at 275 instead of 253).
/// Purging at once cost no measurable time there. For the binary, whose allocator is
/// mimalloc; harmless where it is not (the option is only read by mimalloc).
pub fn purge_freed_memory_at_once() {
    /// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same in its versions 2 and
    /// 3); the bindings crate does not name it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets an integer option of the linked allocator before any thread starts (the
    // call is not thread safe); reads no memory of ours.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

/// 32 bytes from the kernel's random source, for keys that must not be guessed (the
/// fingerprints of `pack::seen`). Where the kernel lacks the call (before Linux 3.17),
/// std's per-process random keys, which it draws from the same source, hashed into them.
pub(crate) fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    // SAFETY: the kernel writes at most `key.len()` bytes into `key`, which lives on.
    let got = unsafe { libc::getrandom(key.as_mut_ptr().cast(), key.len(), 0) };
    if usize::try_from(got) != Ok(key.len()) {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        for (i, part) in key.chunks_exact_mut(8).enumerate() {
            part.copy_from_slice(&state.hash_one(i).to_le_bytes());
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        write_atomic(dir.path(), &dest, b"one").unwrap();
        write_atomic(dir.path(), &dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp files are left behind");
    }

    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() {
        // Under the working directory: tmpfs (where temp dirs may live) may refuse direct I/O.
        let dir = tempfile::tempdir_in(".").unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("f"))
            .unwrap();
        let mut buf = AlignedBuf::new(3 * DIRECT_ALIGN);
        assert_eq!(buf.as_slice().as_ptr() as usize % DIRECT_ALIGN, 0);
        buf.as_mut_slice().fill(7);
        let direct = set_direct(&file, true);
        write_at_direct(&file, &buf.as_slice()[..DIRECT_ALIGN], 0).unwrap();
        // A misaligned buffer and length: direct I/O says EINVAL, the retry is buffered.
        let fell_back =
            write_at_direct(&file, &buf.as_slice()[1..101], DIRECT_ALIGN as u64).unwrap();
        assert_eq!(fell_back, direct, "only a direct file falls back");
        let flags = {
            use std::os::fd::AsRawFd;
            // SAFETY: F_GETFL on a descriptor this test owns.
            unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) }
        };
        assert_eq!(
            flags & libc::O_DIRECT,
            0,
            "direct I/O is off after the refusal"
        );
        let want = vec![7u8; DIRECT_ALIGN + 100];
        assert_eq!(
            fs::read(dir.path().join("f")).unwrap(),
            want,
            "direct: {direct}"
        );
    }
}
