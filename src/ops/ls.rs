//! `cairn ls`: the tree of any layer.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::{EntryKind, TreeEntry};
use crate::read::{flatten, lookup};
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;
use crate::revparse;

/// Which directory of which layer to list, and how deep.
#[derive(Debug, Clone)]
pub struct LsOptions {
    /// The layer: an id or a unique prefix of one, `HEAD`, a line or a tag, optionally with
    /// `~N` or `^` steps back.
    pub layer: String,
    /// A repository path; empty: the root.
    pub path: RepoPathBuf,
    /// List every file and symlink beneath the directory (not the directories themselves)
    /// instead of only its own entries.
    pub recursive: bool,
}

/// One tree entry.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LsEntry {
    /// Relative to the worktree root, '/'-separated.
    pub path: RepoPathBuf,
    /// `"file"`, `"dir"` or `"symlink"`.
    pub kind: EntryKind,
    /// Permission bits as added (at most `0o7777`, a decimal number in JSON); 0 for a
    /// directory, `0o777` for a symlink.
    pub mode: u32,
    /// In bytes: a file's length, a symlink's target's length, or for a directory the total of
    /// the files and symlinks beneath it.
    pub size: u64,
    /// The modification time when added, in nanoseconds since the Unix epoch; 0 for a
    /// directory.
    pub mtime_ns: i64,
    /// The object holding the content: the file's (a symlink's target is stored as a file), or
    /// the directory's tree.
    pub id: ObjectId,
}

/// One layer's entries at a path.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LsOutcome {
    /// The layer listed, resolved to its id.
    pub layer: ObjectId,
    /// Depth first, each directory's entries in name-byte order; one entry when the path is not
    /// a directory.
    pub entries: Vec<LsEntry>,
}

/// Lists the entries of a directory in a layer (or all beneath it, with `recursive`), or the
/// one entry a path to a file or symlink names.
pub fn ls(repo: &Repository, opts: &LsOptions) -> Result<LsOutcome> {
    let layer = revparse::resolve(repo, &opts.layer)?;
    let root = repo.read_layer(&layer)?.tree;
    let at = lookup(repo, &root, opts.path.as_bytes())?.ok_or_else(|| Error::NotInLayer {
        path: PathBuf::from(opts.path.to_string()),
    })?;
    let mut found: Vec<(Vec<u8>, TreeEntry)> = Vec::new();
    if at.kind != EntryKind::Dir {
        found.push((opts.path.as_bytes().to_vec(), at));
    } else if opts.recursive {
        flatten(repo, &at.id, opts.path.as_bytes(), &mut found)?;
        found.retain(|(_, e)| e.kind != EntryKind::Dir);
    } else {
        for e in repo.read_tree(&at.id)?.entries {
            found.push((opts.path.join(&e.name).into_bytes(), e));
        }
    }
    let entries = found
        .into_iter()
        .map(|(p, e)| LsEntry {
            path: RepoPathBuf::from(p),
            kind: e.kind,
            mode: e.mode,
            size: e.size,
            mtime_ns: e.mtime_ns,
            id: e.id,
        })
        .collect();
    Ok(LsOutcome { layer, entries })
}
