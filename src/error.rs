//! The library's errors. Each one says what failed and on which path; `hint` says what to do.

use std::io;
use std::path::{Path, PathBuf};

use crate::remote::backend::StoreError;

/// The library's `Result`: every fallible call fails with an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the library returns. Programs match on the variant or on [`Error::kind`],
/// whose strings are a stable contract (docs/JSON.md); the text is for people and may change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system call failed.
    #[error("{op}: {source} ({})", path.display())]
    Io {
        /// What cairn was doing, as the message starts: "could not read file".
        op: &'static str,
        /// The file or directory the call was on.
        path: PathBuf,
        /// What the operating system answered.
        #[source]
        source: io::Error,
    },
    /// Neither the directory nor any directory above it holds a `.cairn` repository.
    #[error("not a cairn repository ({})", path.display())]
    NotARepository {
        /// The directory the search started from.
        path: PathBuf,
    },
    /// `init` or `clone` found a repository where it would create one.
    #[error("a cairn repository already exists here ({})", path.display())]
    AlreadyARepository {
        /// The `.cairn` directory that exists already.
        path: PathBuf,
    },
    /// A path the user named is nowhere the command looks: not on disk, or neither in the
    /// layer nor tracked.
    #[error("path does not exist ({})", path.display())]
    PathNotFound {
        /// The path as the user gave it.
        path: PathBuf,
    },
    /// The layer read from has no file or directory at that path.
    #[error("path is not in the layer ({})", path.display())]
    NotInLayer {
        /// The path inside the layer, relative to the worktree root.
        path: PathBuf,
    },
    /// A path resolves to somewhere outside the repository's worktree.
    #[error("path is outside the worktree ({})", path.display())]
    OutsideWorktree {
        /// The path as the user gave it.
        path: PathBuf,
    },
    /// `add` was named a path an ignore file excludes, without `--force`.
    #[error("path is ignored by an ignore file ({})", path.display())]
    Ignored {
        /// The ignored path.
        path: PathBuf,
    },
    /// `rm` was named a path neither staged nor in HEAD.
    #[error("path is not tracked ({})", path.display())]
    NotTracked {
        /// The path as the user gave it.
        path: PathBuf,
    },
    /// `rm` would delete a file whose worktree copy differs from what is staged.
    #[error("file has changes that are not staged ({})", path.display())]
    LocalChanges {
        /// The file, absolute.
        path: PathBuf,
    },
    /// A file changed size or time every time `add` read it, so no consistent copy was taken.
    #[error("file kept changing while it was read ({})", path.display())]
    Unstable {
        /// The file, absolute.
        path: PathBuf,
    },
    /// A path that was a regular file or symlink when listed was something else when read.
    #[error("not a regular file or symlink any more ({})", path.display())]
    ChangedType {
        /// The path, absolute.
        path: PathBuf,
    },
    /// `commit` found the staging index identical to HEAD's layer.
    #[error("nothing to commit, the staging area matches HEAD ({})", path.display())]
    NothingToCommit {
        /// The worktree root.
        path: PathBuf,
    },
    /// Another process holds the repository lock and did not let go within the lock timeout.
    #[error("repository is locked by process {pid} ({})", path.display())]
    Locked {
        /// The holder's process id as its lock file says, or "unknown" when it says nothing.
        pid: String,
        /// The lock file.
        path: PathBuf,
    },
    /// Stored data fails its checks: a hash that does not match, a truncated or garbled
    /// object, index or pack.
    #[error("damaged {what}: {detail} ({})", path.display())]
    Corrupt {
        /// Which kind of data: "tree", "pack", "index" and so on.
        what: &'static str,
        /// What exactly is wrong with it.
        detail: String,
        /// The damaged file, or the worktree file that needed it (see [`Error::at`]).
        path: PathBuf,
    },
    /// An object a layer or tree points to is in no pack or loose file.
    #[error("object {id} is missing ({})", path.display())]
    MissingObject {
        /// The missing object's id, in hex.
        id: String,
        /// Where it was looked for, or the file that needed it (see [`Error::at`]).
        path: PathBuf,
    },
    /// A name is no line, tag, layer id or relative revision cairn can resolve.
    #[error("unknown reference {name} ({})", path.display())]
    UnknownRef {
        /// The name as given.
        name: String,
        /// The refs directory or repository it was looked up in.
        path: PathBuf,
    },
    /// A checkout would overwrite or delete worktree changes that are not committed.
    #[error("{count} paths have changes that would be lost: {list} ({})", path.display())]
    WouldLoseChanges {
        /// How many paths would lose changes.
        count: usize,
        /// The first ten of them, comma-separated, with ", ..." when there are more.
        list: String,
        /// The worktree root.
        path: PathBuf,
    },
    /// A value given on the command line cannot be used: a range, an id, a setting, a
    /// missing argument. `what` says which and why.
    #[error("{what} ({})", path.display())]
    BadArgument {
        /// What is wrong with the argument, as a sentence.
        what: String,
        /// The directory or file the argument concerns, else the worktree root.
        path: PathBuf,
    },
    /// A line, tag or remote name cairn refuses; `why` says which rule it breaks.
    #[error("{why} ({})", path.display())]
    BadName {
        /// The rule the name breaks.
        why: String,
        /// The refs directory or remotes file the name was meant for.
        path: PathBuf,
    },
    /// A line, tag or remote of that name exists; `what` is "line", "tag" or "remote".
    #[error("{what} {name} exists already{} ({})", hint_suffix(what), path.display())]
    AlreadyExists {
        /// "line", "tag" or "remote".
        what: &'static str,
        /// The name that is taken.
        name: String,
        /// The refs directory or remotes file holding it.
        path: PathBuf,
    },
    /// `line -d` would delete a line whose layers no other line, tag or HEAD reaches.
    #[error("line {line} holds layers no other line, tag or HEAD reaches ({})", path.display())]
    Unmerged {
        /// The line.
        line: String,
        /// Its reference file.
        path: PathBuf,
    },
    /// A restore or clone destination holds files; `force` says whether --force would help.
    #[error("the destination {} not empty{} ({})",
        if *force { "is" } else { "exists and is" },
        if *force { ": use --force to restore into it" } else { "" },
        path.display())]
    NotEmpty {
        /// True when `--force` would restore into it anyway (restore), false where nothing would
        /// (clone).
        force: bool,
        /// The destination directory.
        path: PathBuf,
    },
    /// Something stands where cairn must write, and cairn will not remove it.
    #[error("{what} ({})", path.display())]
    InTheWay {
        /// What is in the way of what, and what to do.
        what: &'static str,
        /// What stands in the way.
        path: PathBuf,
    },
    /// A directory where the command needs a file; `what` says what to do instead.
    #[error("is a directory: {what} ({})", path.display())]
    IsADirectory {
        /// What to do instead, as the hint that follows.
        what: &'static str,
        /// The directory.
        path: PathBuf,
    },
    /// A path goes through a symbolic link inside the worktree; cairn stores links but never
    /// follows them.
    #[error("path is beyond a symbolic link, and cairn does not follow links ({})", path.display())]
    BeyondSymlink {
        /// The path as the user gave it.
        path: PathBuf,
    },
    /// `rm` would delete a file whose staged content is not yet committed.
    #[error("has changes staged but not committed: use --cached to keep the file, or -f to delete it ({})", path.display())]
    StagedChanges {
        /// The file, absolute.
        path: PathBuf,
    },
    /// An earlier checkout was interrupted; `what` says what to do about it.
    #[error("{what} ({})", path.display())]
    UnfinishedCheckout {
        /// What happened and how to finish it.
        what: String,
        /// The path that was named, absolute, or the worktree root.
        path: PathBuf,
    },
    /// The command needs HEAD on a line; `what` says what to name instead.
    #[error("HEAD is detached: {what} ({})", path.display())]
    DetachedHead {
        /// What to name instead of the current line.
        what: &'static str,
        /// The HEAD file.
        path: PathBuf,
    },
    /// A line with no layers yet was asked to be pushed.
    #[error("nothing to push: line {line} has no layers yet ({})", path.display())]
    NothingToPush {
        /// The line that has no layers.
        line: String,
        /// The `.cairn` directory.
        path: PathBuf,
    },
    /// Pushing needs an object that is neither here nor on the remote.
    #[error("cannot push: {what} {id}, which the pushed layers need, is neither in this repository nor on the remote ({})", path.display())]
    Unpushable {
        /// The kind of object: "layer", "tree", "file" or "chunk".
        what: &'static str,
        /// Its id, in hex.
        id: String,
        /// The `.cairn` directory.
        path: PathBuf,
    },
    /// A path cairn cannot store or write: a NUL byte, too many directories, a file and a
    /// directory of the same name.
    #[error("{what} ({})", path.display())]
    BadPath {
        /// What is wrong with it, as a sentence.
        what: String,
        /// The path, absolute when it names a worktree file.
        path: PathBuf,
    },
    /// A proof file that is not a proof cairn can read (as opposed to one that fails).
    #[error("{what} ({})", path.display())]
    MalformedProof {
        /// Why it cannot be read.
        what: String,
        /// The proof file.
        path: PathBuf,
    },
    /// The remote could not be set up: its URL, credentials or local settings.
    #[error("{what} ({})", path.display())]
    RemoteSetup {
        /// What is wrong, as a sentence.
        what: String,
        /// The remotes file, or the remote's URL as a path.
        path: PathBuf,
    },
    /// A request to the remote failed; `source` is the store's answer.
    #[error("remote {remote}: could not {op} {key}: {source}{} ({})",
        if source.is_denied() { " (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)" } else { "" },
        path.display())]
    Remote {
        /// The remote's name, as configured.
        remote: String,
        /// What was being done, as a verb: "read", "write", "upload", "list".
        op: &'static str,
        /// The object key in the remote's bucket.
        key: String,
        /// The remote's URL, as a path.
        path: PathBuf,
        /// Boxed: the store's error is large, and every `Result` would carry its size.
        #[source]
        source: Box<StoreError>,
    },
    /// The remote answered, but what it holds is not what a cairn remote holds.
    #[error("remote {remote}: {what} ({})", path.display())]
    RemoteState {
        /// The remote's name, as configured.
        remote: String,
        /// What is wrong with what it holds.
        what: String,
        /// The remote's URL, as a path.
        path: PathBuf,
    },
    /// The file-system monitor cannot run here: a file system inotify cannot see, watches
    /// that ran out, another monitor already running.
    #[error("{what} ({})", path.display())]
    Watch {
        /// What stops it, as a sentence.
        what: String,
        /// The worktree or directory concerned.
        path: PathBuf,
    },
    /// A background part of cairn stopped (its own error is reported instead when known).
    #[error("{what}")]
    Internal {
        /// Which part stopped.
        what: &'static str,
    },
}

fn hint_suffix(what: &str) -> &'static str {
    match what {
        "tag" => ": use --force to move it",
        _ => "",
    }
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

    /// A stable, machine-readable name for what went wrong: programs match on it (it is the
    /// `kind` of `--json` errors); it never changes once released, whatever the message says.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::NotARepository { .. } => "not_a_repository",
            Error::AlreadyARepository { .. } => "already_a_repository",
            Error::PathNotFound { .. } => "path_not_found",
            Error::NotInLayer { .. } => "not_in_layer",
            Error::OutsideWorktree { .. } => "outside_worktree",
            Error::Ignored { .. } => "ignored",
            Error::NotTracked { .. } => "not_tracked",
            Error::LocalChanges { .. } => "local_changes",
            Error::Unstable { .. } => "unstable",
            Error::ChangedType { .. } => "changed_type",
            Error::NothingToCommit { .. } => "nothing_to_commit",
            Error::Locked { .. } => "locked",
            Error::Corrupt { .. } => "corrupt",
            Error::MissingObject { .. } => "missing_object",
            Error::UnknownRef { .. } => "unknown_ref",
            Error::WouldLoseChanges { .. } => "would_lose_changes",
            Error::BadArgument { .. } => "bad_argument",
            Error::BadName { .. } => "bad_name",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Unmerged { .. } => "unmerged_line",
            Error::NotEmpty { .. } => "not_empty",
            Error::InTheWay { .. } => "in_the_way",
            Error::IsADirectory { .. } => "is_a_directory",
            Error::BeyondSymlink { .. } => "beyond_symlink",
            Error::StagedChanges { .. } => "staged_changes",
            Error::UnfinishedCheckout { .. } => "unfinished_checkout",
            Error::DetachedHead { .. } => "detached_head",
            Error::NothingToPush { .. } => "nothing_to_push",
            Error::Unpushable { .. } => "unpushable",
            Error::BadPath { .. } => "bad_path",
            Error::MalformedProof { .. } => "malformed_proof",
            Error::RemoteSetup { .. } => "remote_setup",
            Error::Remote { source, .. } if source.is_denied() => "remote_denied",
            Error::Remote { .. } => "remote_failed",
            Error::RemoteState { .. } => "remote_state",
            Error::Watch { .. } => "watch",
            Error::Internal { .. } => "internal",
        }
    }

    /// The file or directory the error names: every error but [`Error::Internal`] names
    /// one (it is the `path` of `--json` errors).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::NotARepository { path, .. }
            | Error::AlreadyARepository { path, .. }
            | Error::PathNotFound { path, .. }
            | Error::NotInLayer { path, .. }
            | Error::OutsideWorktree { path, .. }
            | Error::Ignored { path, .. }
            | Error::NotTracked { path, .. }
            | Error::LocalChanges { path, .. }
            | Error::Unstable { path, .. }
            | Error::ChangedType { path, .. }
            | Error::NothingToCommit { path, .. }
            | Error::Locked { path, .. }
            | Error::Corrupt { path, .. }
            | Error::MissingObject { path, .. }
            | Error::UnknownRef { path, .. }
            | Error::WouldLoseChanges { path, .. }
            | Error::BadArgument { path, .. }
            | Error::BadName { path, .. }
            | Error::AlreadyExists { path, .. }
            | Error::Unmerged { path, .. }
            | Error::NotEmpty { path, .. }
            | Error::InTheWay { path, .. }
            | Error::IsADirectory { path, .. }
            | Error::BeyondSymlink { path, .. }
            | Error::StagedChanges { path, .. }
            | Error::UnfinishedCheckout { path, .. }
            | Error::DetachedHead { path, .. }
            | Error::NothingToPush { path, .. }
            | Error::Unpushable { path, .. }
            | Error::BadPath { path, .. }
            | Error::MalformedProof { path, .. }
            | Error::RemoteSetup { path, .. }
            | Error::Remote { path, .. }
            | Error::RemoteState { path, .. }
            | Error::Watch { path, .. } => Some(path),
            Error::Internal { .. } => None,
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
            Error::InTheWay { .. } => "move it out of the way and run the command again",
            Error::Unmerged { .. } => {
                "use -D (or --force) to delete it anyway; `cairn gc` may then remove its layers"
            }
            Error::Remote { source, .. } if !source.is_denied() => {
                "check the network and the remote's address; running the command again resumes it"
            }
            Error::RemoteState { .. } => "`cairn verify --remote` checks what the remote holds",
            Error::Watch { .. } => {
                "status and add work as before without the monitor, checking every file"
            }
            _ => return None,
        })
    }

    /// A `map_err` adapter turning an `io::Error` into [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// An [`Error::Corrupt`] for damaged `what` ("tree", "pack") found at `path`.
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
pub(crate) trait IoContext<T> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> Vec<Error> {
        let p = || PathBuf::from("x");
        let io = || io::Error::other("x");
        let store = |denied: bool| {
            let source = object_store::Error::Generic {
                store: "test",
                source: Box::new(io()),
            };
            match denied {
                true => StoreError::Denied {
                    message: "403".into(),
                    source,
                },
                false => StoreError::Failed {
                    message: "500".into(),
                    source,
                },
            }
        };
        let remote = |denied| Error::Remote {
            remote: "origin".into(),
            op: "read",
            key: "k".into(),
            path: p(),
            source: Box::new(store(denied)),
        };
        let s = String::new;
        vec![
            Error::io("read", p())(io()),
            Error::NotARepository { path: p() },
            Error::AlreadyARepository { path: p() },
            Error::PathNotFound { path: p() },
            Error::NotInLayer { path: p() },
            Error::OutsideWorktree { path: p() },
            Error::Ignored { path: p() },
            Error::NotTracked { path: p() },
            Error::LocalChanges { path: p() },
            Error::Unstable { path: p() },
            Error::ChangedType { path: p() },
            Error::NothingToCommit { path: p() },
            Error::Locked {
                pid: s(),
                path: p(),
            },
            Error::corrupt("tree", &p(), "x"),
            Error::MissingObject { id: s(), path: p() },
            Error::UnknownRef {
                name: s(),
                path: p(),
            },
            Error::WouldLoseChanges {
                count: 1,
                list: s(),
                path: p(),
            },
            Error::BadArgument {
                what: s(),
                path: p(),
            },
            Error::BadName {
                why: s(),
                path: p(),
            },
            Error::AlreadyExists {
                what: "tag",
                name: s(),
                path: p(),
            },
            Error::Unmerged {
                line: s(),
                path: p(),
            },
            Error::NotEmpty {
                force: true,
                path: p(),
            },
            Error::InTheWay {
                what: "x",
                path: p(),
            },
            Error::IsADirectory {
                what: "x",
                path: p(),
            },
            Error::BeyondSymlink { path: p() },
            Error::StagedChanges { path: p() },
            Error::UnfinishedCheckout {
                what: s(),
                path: p(),
            },
            Error::DetachedHead {
                what: "x",
                path: p(),
            },
            Error::NothingToPush {
                line: s(),
                path: p(),
            },
            Error::Unpushable {
                what: "x",
                id: s(),
                path: p(),
            },
            Error::BadPath {
                what: s(),
                path: p(),
            },
            Error::MalformedProof {
                what: s(),
                path: p(),
            },
            Error::RemoteSetup {
                what: s(),
                path: p(),
            },
            remote(true),
            remote(false),
            Error::RemoteState {
                remote: s(),
                what: s(),
                path: p(),
            },
            Error::Watch {
                what: s(),
                path: p(),
            },
            Error::Internal { what: "x" },
        ]
    }

    /// Kinds are a contract: one per case, snake_case, never reused.
    #[test]
    fn kinds_are_distinct_and_plain() {
        let kinds: Vec<&str> = one_of_each().iter().map(Error::kind).collect();
        let mut unique = kinds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), kinds.len(), "{kinds:?}");
        for k in kinds {
            assert!(
                k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{k}"
            );
        }
    }

    /// Every error but `Internal` names its path (the `path` of `--json` errors), and the
    /// message shows the same path.
    #[test]
    fn every_error_names_its_path() {
        for e in one_of_each() {
            match e.path() {
                Some(p) => assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}"),
                None => assert_eq!(e.kind(), "internal"),
            }
        }
    }

    /// A refusal is told from a failure by the store's answer, not by searching its text.
    #[test]
    fn a_refused_request_names_the_credentials() {
        let errors = one_of_each();
        let denied = errors.iter().find(|e| e.kind() == "remote_denied").unwrap();
        assert!(denied.to_string().contains("AWS_ACCESS_KEY_ID"), "{denied}");
        let failed = errors.iter().find(|e| e.kind() == "remote_failed").unwrap();
        assert!(
            !failed.to_string().contains("AWS_ACCESS_KEY_ID"),
            "{failed}"
        );
        assert!(failed.hint().is_some());
    }
}
