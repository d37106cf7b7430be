//! Durable file writes: temp file in the same file system, fsync, rename, fsync the directory.
//! A reader sees either the old file or the complete new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};
use crate::failpoint;

/// A unique path in `tmp_dir` for a file that will be renamed into place.
pub fn temp_path(tmp_dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    tmp_dir.join(format!("{stem}-{}-{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `dest` atomically and durably, staging the file in `tmp_dir`.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(tmp_dir, "write");
    let result = (|| {
        let mut f = create_new(&tmp)?;
        failpoint::error("atomic:write-error")
            .and_then(|()| f.write_all(bytes))
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

pub fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .ctx("could not create file", path)
}

/// Creates a new file for writing that bypasses the page cache (`O_DIRECT`), so large
/// writes are not copied into freshly allocated cache pages. The second value says whether
/// that worked: a file system without direct I/O gives an ordinary file instead.
pub fn create_direct(path: &Path) -> Result<(File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok((f, true)),
        // The file system refused O_DIRECT, possibly after creating the file.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map(|f| (f, false))
            .ctx("could not create file", path),
        Err(e) => Err(e).ctx("could not create file", path),
    }
}

/// Renames `from` to `to` and syncs the destination's directory, so the rename survives a
/// crash.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).ctx("could not move file into place", to)?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("could not sync directory", dir)
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
}
