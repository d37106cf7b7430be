//! `cairn restore`: materialise a layer, or some of its paths, into a directory without
//! touching the worktree or the index.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::hash::ObjectId;
use crate::materialize::{ensure_dir_at, is_empty_dir, Materializer};
use crate::object::{EntryKind, TreeEntry};
use crate::progress::{Progress, Unit};
use crate::read::select;
use crate::repo::Repository;
use crate::repo_path::RepoPath;
use crate::revparse;
use crate::worktree;

/// Which layer (or paths of it) to write out, and where.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The layer: an id or a unique prefix of one, `HEAD~N`, a line or a tag.
    pub layer: String,
    /// Repository paths (relative to the worktree root); empty: everything.
    pub paths: Vec<Vec<u8>>,
    /// The destination directory, created when missing; outside `.cairn`.
    pub to: PathBuf,
    /// Write into a destination that is not empty, replacing files of the same names.
    pub force: bool,
}

/// What was written, and where.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RestoreOutcome {
    /// The layer restored, resolved to its id.
    pub layer: ObjectId,
    /// The destination, absolute (symlinks resolved).
    pub to: PathBuf,
    /// Regular files written.
    pub files: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// Directories of the layer restored (parents made for the paths asked for are not
    /// counted).
    pub dirs: u64,
    /// Bytes of the files' content and the symlinks' targets written.
    pub bytes: u64,
}

/// Writes a layer, or the paths asked for, into a directory; the worktree and the index
/// are not touched. A destination that is not empty is refused unless `opts.force`.
pub fn restore(
    repo: &Repository,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    let layer = revparse::resolve(repo, &opts.layer)?;
    let tree = repo.read_layer(&layer)?.tree;
    let entries = select(repo, &tree, &opts.paths)?;
    refuse_own_dir(repo, &opts.to, &entries)?;
    let empty = is_empty_dir(&opts.to)?;
    if !opts.force && !empty {
        return Err(Error::NotEmpty {
            force: true,
            path: opts.to.clone(),
        });
    }
    std::fs::create_dir_all(&opts.to).ctx("could not create directory", &opts.to)?;
    let to = std::fs::canonicalize(&opts.to).ctx("could not open directory", &opts.to)?;
    let m = if empty {
        Materializer::into_empty(repo, &to)
    } else if same_device(&to, &repo.tmp_dir()) {
        // A killed restore into a directory of the worktree leaves nothing there for status
        // to list; gc removes what it left in `tmp/`.
        Materializer::for_worktree(repo, "restore")
    } else {
        Materializer::new(repo)
    };
    let (dirs, items): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(_, e)| e.kind == EntryKind::Dir);
    // Every directory once, parents first, before any file: the writers need no checks.
    for rel in needed_dirs(&dirs, &items) {
        ensure_dir_at(&worktree::abs(&to, rel))?;
    }
    let m = m.with_progress(progress);
    let total: u64 = items.iter().map(|(_, e)| e.size).sum();
    progress.begin("restoring", Unit::Files, items.len() as u64, total);
    let bytes = AtomicU64::new(0);
    items.par_iter().try_for_each(|(rel, e)| {
        m.write_entry(e, &worktree::abs(&to, rel))?;
        bytes.fetch_add(e.size, Relaxed);
        progress.advance(1, 0); // its bytes were reported as they were written
        Ok::<(), Error>(())
    })?;
    progress.end();
    let symlinks = items
        .iter()
        .filter(|(_, e)| e.kind == EntryKind::Symlink)
        .count() as u64;
    Ok(RestoreOutcome {
        layer,
        to,
        files: items.len() as u64 - symlinks,
        symlinks,
        dirs: dirs.len() as u64,
        bytes: bytes.into_inner(),
    })
}

/// Refuses a destination inside the repository's own directory (`.cairn`), and entries that
/// would land there (a layer holding `.cairn/...` restored into the worktree root), before
/// anything is created: a restore must never change the repository it reads.
fn refuse_own_dir(repo: &Repository, to: &Path, entries: &[(Vec<u8>, TreeEntry)]) -> Result<()> {
    let own = std::fs::canonicalize(repo.dir()).ctx("could not open directory", repo.dir())?;
    let dest = resolved(to)?;
    let inside = match own.strip_prefix(&dest) {
        Ok(rel) => {
            let rel = RepoPath::new(rel.as_os_str().as_bytes());
            entries.iter().any(|(p, _)| RepoPath::new(p).is_under(rel))
        }
        Err(_) => dest.starts_with(&own),
    };
    if inside {
        return Err(Error::BadArgument {
            what: format!(
                "refusing to restore into the repository's own directory {}: choose a destination outside it",
                own.display()
            ),
            path: to.to_path_buf(),
        });
    }
    Ok(())
}

/// `p` with its existing part resolved (symlinks followed, as the writes will) and the rest
/// normalised lexically: where a restore to `p` would write.
fn resolved(p: &Path) -> Result<PathBuf> {
    let (base, rest) = p
        .ancestors()
        .find_map(|a| {
            let dir = if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            };
            let rest = p.strip_prefix(a).ok()?;
            Some((std::fs::canonicalize(dir).ok()?, rest))
        })
        .ok_or_else(|| Error::PathNotFound {
            path: p.to_path_buf(),
        })?;
    let mut out = base;
    for c in rest.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    Ok(out)
}

/// True when `a` and `b` are on one file system, so a file can be renamed from one to the
/// other.
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    dev(a).is_some_and(|d| Some(d) == dev(b))
}

/// The layer's directories and every directory above an entry, sorted, so each comes after
/// its parent.
fn needed_dirs<'e>(
    dirs: &'e [(Vec<u8>, TreeEntry)],
    items: &'e [(Vec<u8>, TreeEntry)],
) -> BTreeSet<&'e [u8]> {
    let mut out: BTreeSet<&[u8]> = dirs.iter().map(|(p, _)| p.as_slice()).collect();
    for (p, _) in dirs.iter().chain(items) {
        out.extend(RepoPath::new(p).ancestors().map(RepoPath::as_bytes));
    }
    out
}
