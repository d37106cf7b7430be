//! The library's errors. Each one says what failed and on which path; `hint` says what to do.

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: {source} ({})", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("not a cairn repository ({})", path.display())]
    NotARepository { path: PathBuf },
    #[error("a cairn repository already exists here ({})", path.display())]
    AlreadyARepository { path: PathBuf },
    #[error("path does not exist ({})", path.display())]
    PathNotFound { path: PathBuf },
    #[error("path is not in the layer ({})", path.display())]
    NotInLayer { path: PathBuf },
    #[error("path is outside the worktree ({})", path.display())]
    OutsideWorktree { path: PathBuf },
    #[error("path is ignored by an ignore file ({})", path.display())]
    Ignored { path: PathBuf },
    #[error("path is not tracked ({})", path.display())]
    NotTracked { path: PathBuf },
    #[error("file has changes that are not staged ({})", path.display())]
    LocalChanges { path: PathBuf },
    #[error("file kept changing while it was read ({})", path.display())]
    Unstable { path: PathBuf },
    #[error("unsupported file type, {kind} ({})", path.display())]
    Unsupported { kind: &'static str, path: PathBuf },
    #[error("nothing to commit, the staging area matches HEAD ({})", path.display())]
    NothingToCommit { path: PathBuf },
    #[error("repository is locked by process {pid} ({})", path.display())]
    Locked { pid: String, path: PathBuf },
    #[error("damaged {what}: {detail} ({})", path.display())]
    Corrupt {
        what: &'static str,
        detail: String,
        path: PathBuf,
    },
    #[error("object {id} is missing ({})", path.display())]
    MissingObject { id: String, path: PathBuf },
    #[error("unknown reference {name} ({})", path.display())]
    UnknownRef { name: String, path: PathBuf },
    #[error("{what} ({})", path.display())]
    Invalid { what: String, path: PathBuf },
    #[error("{count} paths have changes that would be lost: {list} ({})", path.display())]
    WouldLoseChanges {
        count: usize,
        list: String,
        path: PathBuf,
    },
}

impl Error {
    /// Directories nested deeper than [`crate::object::tree::MAX_DEPTH`], at `path`: damage or
    /// a hostile repository, never something `add` writes.
    pub fn too_deep(path: PathBuf) -> Error {
        Error::Corrupt {
            what: "tree",
            detail: format!(
                "directories nested deeper than {} levels",
                crate::object::tree::MAX_DEPTH
            ),
            path,
        }
    }

    /// One line telling the user what to do about the error, where there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::NotARepository { .. } => {
                "run `cairn init` first, or run cairn inside a repository"
            }
            Error::AlreadyARepository { .. } => "use the existing repository, or init elsewhere",
            Error::PathNotFound { .. } => {
                "check the spelling; paths are relative to the current directory"
            }
            Error::NotInLayer { .. } => {
                "paths in a layer are relative to the worktree root; `cairn ls LAYER -r` lists them"
            }
            Error::OutsideWorktree { .. } => {
                "only paths inside the repository's worktree can be staged"
            }
            Error::Ignored { .. } => "use --force to add it anyway",
            Error::NotTracked { .. } => "`cairn status` lists what is tracked",
            Error::LocalChanges { .. } => "commit or stage the changes first, or use --force",
            Error::Unstable { .. } => "stop whatever is writing the file and run the command again",
            Error::NothingToCommit { .. } => "stage changes with `cairn add` first",
            Error::Locked { .. } => {
                "wait for the other cairn command to finish, or raise --lock-timeout"
            }
            Error::Corrupt { .. } | Error::MissingObject { .. } => {
                "run `cairn verify` to see what is affected"
            }
            Error::UnknownRef { .. } => "`cairn log` lists the layers, `cairn tag --list` the tags",
            Error::WouldLoseChanges { .. } => "commit them, or use --force to discard them",
            _ => return None,
        })
    }

    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub fn corrupt(what: &'static str, path: &Path, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            what,
            detail: detail.into(),
            path: path.to_path_buf(),
        }
    }

    /// Names `path` as where a damaged or missing object was met, so the user learns which
    /// file is affected (the object id stays in the message).
    pub fn at(self, path: &Path) -> Error {
        match self {
            Error::Corrupt { what, detail, .. } => Error::Corrupt {
                what,
                detail,
                path: path.to_path_buf(),
            },
            Error::MissingObject { id, .. } => Error::MissingObject {
                id,
                path: path.to_path_buf(),
            },
            other => other,
        }
    }

    /// True when the error is a full disk, so callers can say so plainly.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }
}

/// Adds the operation and path to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
