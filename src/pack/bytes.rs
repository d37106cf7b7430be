//! A published file's bytes, read whole when small and mapped when large.
//!
//! Mapping a file costs an `mmap`, a page fault per page touched and an `munmap`, whose TLB
//! shootdown interrupts every core. For the few-KiB indexes and packs that one commit
//! leaves, that was most of what `verify` spent per pack with thousands of them (strace of
//! `verify --data` on 2,000 packs: 4,063 `munmap`s, a fifth of its system time); one `read`
//! costs less than the fault alone.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::Mmap;

/// Files up to this size are read into memory rather than mapped.
pub(crate) const READ_MAX: u64 = 256 << 10;

thread_local! {
    /// The buffer of [`FileBytes::read_guessed`].
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The bytes of a file cairn never changes once published (packs and their indexes).
pub(crate) enum FileBytes {
    /// Mapped: a large file, of which a command reads a few pages.
    Mapped(Mmap),
    /// Read whole: a small file, or bytes built in memory.
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Drops the pages a map holds in the process's memory (see
    /// [`crate::fsutil::release_pages`]); bytes read whole stay.
    pub(crate) fn release_pages(&self) {
        if let FileBytes::Mapped(map) = self {
            crate::fsutil::release_pages(map);
        }
    }

    /// The whole of `file`, `len` bytes long as its metadata says: read when it is at most
    /// [`READ_MAX`], else mapped. A file shorter than `len` (cut meanwhile) is an error.
    pub(crate) fn load(file: &File, len: u64) -> std::io::Result<FileBytes> {
        if len > READ_MAX {
            return crate::fsutil::map_immutable(file).map(FileBytes::Mapped);
        }
        let mut buf = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(FileBytes::Owned(buf))
    }

    /// The whole of `file`, read with one `read` of up to `guess` bytes when it is shorter
    /// than that (no `fstat` first: with thousands of small packs and indexes, each call
    /// counts), else as [`FileBytes::load`] does with the length `fstat` gives. A read that
    /// returns fewer bytes than asked ends the file: Linux returns a short read from a
    /// regular file only at its end, and every caller checks the length against what the
    /// bytes say (an index its entry count, a pack its records), so a short read could only
    /// show as damage, never pass for sound.
    pub(crate) fn read_guessed(file: &File, guess: usize) -> std::io::Result<FileBytes> {
        if guess as u64 >= READ_MAX {
            return Self::load(file, file.metadata()?.len());
        }
        let read = SCRATCH.with_borrow_mut(|buf| {
            // Read into a buffer this thread reuses, then copied out at its length: a new
            // buffer of the guessed size for each of thousands of files was zeroed and
            // faulted in page by page, a tenth of verify's time.
            if buf.len() <= guess {
                buf.resize(guess + 1, 0);
            }
            loop {
                // At offset 0 without moving the file's own offset, which `load` reads from.
                match std::os::unix::fs::FileExt::read_at(file, &mut buf[..=guess], 0) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                    Ok(n) => return Ok((n <= guess).then(|| buf[..n].to_vec())),
                }
            }
        })?;
        match read {
            Some(bytes) => Ok(FileBytes::Owned(bytes)),
            None => Self::load(file, file.metadata()?.len()),
        }
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// A directory of packs, whose files bulk readers (verify and gc, through every pack and
/// index) open by name relative to one descriptor of it, instead of resolving the whole
/// path for each of thousands of files. Opened on first use; where it cannot be, files are
/// opened by path.
#[derive(Debug)]
pub(crate) struct PacksDir {
    path: PathBuf,
    fd: OnceLock<Option<OwnedFd>>,
}

impl PacksDir {
    pub(crate) fn new(path: &Path) -> PacksDir {
        PacksDir {
            path: path.to_path_buf(),
            fd: OnceLock::new(),
        }
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file `name` of the directory for reading, by name relative to the
    /// directory's descriptor. A symlink there (cairn makes none) is opened by path, as
    /// readers open it.
    pub(crate) fn open(&self, name: &str) -> std::io::Result<File> {
        let fd = self
            .fd
            .get_or_init(|| File::open(&self.path).ok().map(OwnedFd::from));
        let Some(fd) = fd else {
            return File::open(self.path.join(name));
        };
        let flags = libc::O_RDONLY | libc::O_CLOEXEC;
        match crate::fsutil::open_at_nofollow(fd, name.as_bytes(), flags) {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => File::open(self.path.join(name)),
            other => other.map(File::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways give the file's bytes; a file cut after its length was taken is refused.
    #[test]
    fn small_files_are_read_and_large_ones_mapped() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4096, READ_MAX as usize, READ_MAX as usize + 1] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let f = File::open(&path).unwrap();
            let bytes = FileBytes::load(&f, len as u64).unwrap();
            assert_eq!(bytes.as_slice(), &data[..]);
            let mapped = matches!(bytes, FileBytes::Mapped(_));
            assert_eq!(mapped, len as u64 > READ_MAX, "{len}");
            // Released pages come back from the file: the same bytes, read or mapped.
            bytes.release_pages();
            assert_eq!(bytes.as_slice(), &data[..], "{len}, after release");
        }
        let packs = PacksDir::new(dir.path());
        for (len, guess) in [
            (0, 0),
            (5000, 4096),
            (5000, 5000),
            (5000, 8192),
            (4096, 4095),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            std::fs::write(dir.path().join("g"), &data).unwrap();
            let bytes = FileBytes::read_guessed(&packs.open("g").unwrap(), guess).unwrap();
            assert_eq!(bytes.as_slice(), &data[..], "{len} bytes, {guess} guessed");
        }
        assert!(packs.open("absent").is_err());
        let path = dir.path().join("short");
        std::fs::write(&path, b"abc").unwrap();
        let f = File::open(&path).unwrap();
        assert!(FileBytes::load(&f, 10).is_err());
    }
}
