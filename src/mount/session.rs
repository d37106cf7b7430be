//! Mounting, serving until unmounted or signalled, unmounting.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fuser::{BackgroundSession, Config, MountOption, SessionACL};

use super::cache::Cache;
use super::files::Reader;
use super::fs::{CairnFs, Root};
use super::inodes::{Inodes, ROOT};
use super::Log;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::remote::lazy::LazyRemote;
use crate::repo::Repository;

/// The FUSE device: without it nothing can be mounted.
const DEV_FUSE: &str = "/dev/fuse";
/// What the error says when FUSE is missing.
const NO_FUSE: &str =
    "FUSE is not available: install fuse3 (apt-get install fuse3) and load the fuse module (modprobe fuse)";

/// What to mount and how.
pub struct MountConfig {
    /// The (existing, empty) directory to mount on.
    pub dir: PathBuf,
    /// One layer at the root instead of `lines/`, `tags/`, `layers/` and `HEAD`.
    pub layer: Option<ObjectId>,
    /// Bytes of verified chunks and trees kept in memory, read-ahead included.
    pub cache_size: u64,
    /// Threads answering the kernel; as many again read ahead.
    pub threads: usize,
    /// Where missing chunks come from (a partial clone's remote).
    pub lazy: Option<LazyRemote>,
    /// Where errors met while serving are said.
    pub log: Log,
}

/// A mounted repository, served by background threads until unmounted.
pub struct Mounted {
    session: BackgroundSession,
    dir: PathBuf,
}

/// Why serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Someone unmounted it (`cairn umount`, `fusermount3 -u`, `umount`).
    Unmounted,
    /// SIGINT, SIGTERM or SIGHUP; cairn unmounted it.
    Signal,
}

/// Mounts `repo` on `cfg.dir`, read-only. Returns once the kernel has accepted the mount.
pub fn mount(repo: Repository, cfg: MountConfig) -> Result<Mounted> {
    check_fuse()?;
    let meta = std::fs::metadata(&cfg.dir).map_err(|_| Error::PathNotFound {
        path: cfg.dir.clone(),
    })?;
    if !meta.is_dir() {
        return Err(Error::BadArgument {
            what: "the mount point must be a directory".into(),
            path: cfg.dir.clone(),
        });
    }
    let dir =
        std::fs::canonicalize(&cfg.dir).map_err(Error::io("could not open directory", &cfg.dir))?;
    let repo = Arc::new(repo);
    let inodes = Inodes::new();
    let root = match &cfg.layer {
        Some(layer) => {
            let l = repo.read_layer(layer)?;
            inodes.root(ROOT, b"", l.tree, l.time_ns, l.counts.bytes, Some(ROOT));
            Root::Layer
        }
        None => Root::Refs,
    };
    let cache = Arc::new(Cache::new(cfg.cache_size as usize));
    let lazy = cfg.lazy.map(Arc::new);
    let reader = Reader::new(Arc::clone(&repo), Arc::clone(&cache), lazy, cfg.threads);
    let fs = CairnFs::new(repo, inodes, cache, reader, root, cfg.log, owner());
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::NoSuid,
        MountOption::NoDev,
        MountOption::DefaultPermissions,
        MountOption::FSName("cairn".into()),
        MountOption::Subtype("cairn".into()),
    ];
    config.acl = SessionACL::Owner;
    config.n_threads = Some(cfg.threads.max(1));
    let session = fuser::spawn_mount(fs, &dir, &config).map_err(|e| mount_error(e, &dir))?;
    Ok(Mounted { session, dir })
}

impl Mounted {
    /// The mount point, absolute.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Serves until the file system is unmounted from outside, or SIGINT, SIGTERM or
    /// SIGHUP arrives (then unmounts it). Signals are caught only while this runs.
    pub fn wait(self) -> Result<Ended> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("could not start the signal handler", &self.dir))?;
        let signalled = rt.block_on(wait_for(&self.session));
        drop(rt);
        match signalled? {
            // Detached lazily: files still open there keep being served until closed,
            // then the kernel ends the session and the join returns.
            true if detach(&self.dir) => {
                let _ = self.session.join();
                Ok(Ended::Signal)
            }
            true => {
                self.unmount()?;
                Ok(Ended::Signal)
            }
            false => {
                let _ = self.session.join();
                Ok(Ended::Unmounted)
            }
        }
    }

    /// Unmounts and waits for the serving threads to stop.
    pub fn unmount(self) -> Result<()> {
        let dir = self.dir.clone();
        self.session
            .umount_and_join()
            .map_err(Error::io("could not unmount (is a file open there?)", dir))
    }
}

/// True when a signal came, false when the session ended by itself.
async fn wait_for(session: &BackgroundSession) -> Result<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let err = |e| Error::io("could not catch signals", "/")(e);
    let mut int = signal(SignalKind::interrupt()).map_err(err)?;
    let mut term = signal(SignalKind::terminate()).map_err(err)?;
    let mut hup = signal(SignalKind::hangup()).map_err(err)?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = int.recv() => return Ok(true),
            _ = term.recv() => return Ok(true),
            _ = hup.recv() => return Ok(true),
            _ = tick.tick() => {
                if session.guard.is_finished() {
                    return Ok(false);
                }
            }
        }
    }
}

/// Detaches the mount at `dir` from the file system tree at once, busy or not
/// (`fusermount3 -uz`, `fusermount -uz`, or as root `umount -l`); false when none of them
/// could.
fn detach(dir: &Path) -> bool {
    let tries: [(&str, &[&str]); 3] = [
        ("fusermount3", &["-u", "-z", "-q"]),
        ("fusermount", &["-u", "-z", "-q"]),
        ("umount", &["-l"]),
    ];
    tries.iter().any(|(tool, args)| {
        Command::new(tool)
            .args(*args)
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Unmounts the cairn mount at `dir`: `fusermount3 -u`, else `fusermount -u`, else (as
/// root) `umount`. The process serving it then exits.
pub fn umount(dir: &Path) -> Result<()> {
    if !is_cairn_mount(dir)? {
        return Err(Error::BadArgument {
            what: "no cairn mount is there".into(),
            path: dir.to_path_buf(),
        });
    }
    let tries: [(&str, &[&str]); 3] = [
        ("fusermount3", &["-u"]),
        ("fusermount", &["-u"]),
        ("umount", &[]),
    ];
    let mut last = None;
    for (tool, args) in tries {
        match Command::new(tool).args(args).arg(dir).output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => last = Some(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("could not run fusermount3", dir)(e)),
        }
    }
    Err(Error::BadArgument {
        what: match last {
            Some(why) => format!("could not unmount: {why}"),
            None => NO_FUSE.to_string(),
        },
        path: dir.to_path_buf(),
    })
}

/// True when `/proc/self/mounts` lists a cairn FUSE mount at `dir`.
fn is_cairn_mount(dir: &Path) -> Result<bool> {
    let dir = std::fs::canonicalize(dir).map_err(|_| Error::PathNotFound {
        path: dir.to_path_buf(),
    })?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(Error::io(
        "could not read the mount table",
        "/proc/self/mounts",
    ))?;
    // Fields are separated by spaces, with spaces in paths written as \040.
    let want = dir.to_string_lossy().replace(' ', "\\040");
    Ok(mounts.lines().any(|l| {
        let mut f = l.split(' ');
        let (src, point, kind) = (f.next(), f.next(), f.next());
        point == Some(want.as_str()) && (src == Some("cairn") || kind == Some("fuse.cairn"))
    }))
}

fn check_fuse() -> Result<()> {
    std::fs::metadata(DEV_FUSE)
        .map(|_| ())
        .map_err(Error::io(NO_FUSE, DEV_FUSE))
}

/// A failed mount; a missing helper program means FUSE is not installed.
fn mount_error(e: std::io::Error, dir: &Path) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        return Error::io(NO_FUSE, dir)(e);
    }
    Error::io("could not mount", dir)(e)
}

/// The user and group the files are shown as: this process's, as `/proc/self` says
/// (no system call needs `unsafe` for it).
fn owner() -> (u32, u32) {
    std::fs::metadata("/proc/self").map_or((0, 0), |m| (m.uid(), m.gid()))
}
