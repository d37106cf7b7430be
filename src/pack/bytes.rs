//! A published file's bytes, read whole when small and mapped when large.
//!
//! Mapping a file costs an `mmap`, a page fault per page touched and an `munmap`, whose TLB
//! shootdown interrupts every core. For the few-KiB indexes and packs that one commit
//! leaves, that was most of what `verify` spent per pack with thousands of them (strace of
//! `verify --data` on 2,000 packs: 4,063 `munmap`s, a fifth of its system time); one `read`
//! costs less than the fault alone.

use std::fs::File;
use std::io::Read;

use memmap2::Mmap;

/// Files up to this size are read into memory rather than mapped.
pub(crate) const READ_MAX: u64 = 256 << 10;

/// The bytes of a file cairn never changes once published (packs and their indexes).
pub(crate) enum FileBytes {
    /// Mapped: a large file, of which a command reads a few pages.
    Mapped(Mmap),
    /// Read whole: a small file, or bytes built in memory.
    Owned(Vec<u8>),
}

impl FileBytes {
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
        }
        let path = dir.path().join("short");
        std::fs::write(&path, b"abc").unwrap();
        let f = File::open(&path).unwrap();
        assert!(FileBytes::load(&f, 10).is_err());
    }
}
