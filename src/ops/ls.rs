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

#[derive(Debug, Clone)]
pub struct LsOptions {
    pub layer: String,
    /// A repository path; empty: the root.
    pub path: RepoPathBuf,
    pub recursive: bool,
}

#[derive(Debug, Serialize)]
pub struct LsEntry {
    pub path: RepoPathBuf,
    pub kind: EntryKind,
    pub mode: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub id: ObjectId,
}

#[derive(Debug, Serialize)]
pub struct LsOutcome {
    pub layer: ObjectId,
    pub entries: Vec<LsEntry>,
}

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
