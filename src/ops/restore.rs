//! `cairn restore`: materialise a layer, or some of its paths, into a directory without
//! touching the worktree or the index.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::hash::ObjectId;
use crate::materialize::{ensure_dirs, is_empty_dir, Materializer};
use crate::object::{EntryKind, TreeEntry};
use crate::progress::Progress;
use crate::read::{flatten, lookup};
use crate::repo::Repository;
use crate::revparse;
use crate::worktree;

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub layer: String,
    /// Repository paths (relative to the worktree root); empty: everything.
    pub paths: Vec<Vec<u8>>,
    pub to: PathBuf,
    pub force: bool,
}

#[derive(Debug, Serialize)]
pub struct RestoreOutcome {
    pub layer: ObjectId,
    pub to: PathBuf,
    pub files: u64,
    pub symlinks: u64,
    pub dirs: u64,
    pub bytes: u64,
}

pub fn restore(
    repo: &Repository,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    let layer = revparse::resolve(repo, &opts.layer)?;
    let tree = repo.read_layer(&layer)?.tree;
    let entries = select(repo, &tree, &opts.paths)?;
    if !opts.force && !is_empty_dir(&opts.to)? {
        return Err(Error::Invalid {
            what: "the destination is not empty: use --force to restore into it".into(),
            path: opts.to.clone(),
        });
    }
    std::fs::create_dir_all(&opts.to).ctx("could not create directory", &opts.to)?;
    let to = std::fs::canonicalize(&opts.to).ctx("could not open directory", &opts.to)?;
    let m = Materializer::new(repo);
    let (dirs, items): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(_, e)| e.kind == EntryKind::Dir);
    for (rel, _) in &dirs {
        ensure_dirs(&to, rel)?;
    }
    let total: u64 = items.iter().map(|(_, e)| e.size).sum();
    progress.begin("restoring", items.len() as u64, total);
    let bytes = AtomicU64::new(0);
    items.par_iter().try_for_each(|(rel, e)| {
        if let Some(parent) = rel.iter().rposition(|b| *b == b'/') {
            ensure_dirs(&to, &rel[..parent])?;
        }
        m.write_entry(e, &worktree::abs(&to, rel))?;
        bytes.fetch_add(e.size, Relaxed);
        progress.advance(1, e.size);
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

/// The entries to restore, with their paths, parents before children.
fn select(
    repo: &Repository,
    tree: &ObjectId,
    paths: &[Vec<u8>],
) -> Result<Vec<(Vec<u8>, TreeEntry)>> {
    let mut out = Vec::new();
    if paths.is_empty() {
        flatten(repo, tree, b"", &mut out)?;
        return Ok(out);
    }
    for p in paths {
        let e = lookup(repo, tree, p)?.ok_or_else(|| Error::NotInLayer {
            path: PathBuf::from(worktree::display(p)),
        })?;
        if e.kind == EntryKind::Dir {
            if !p.is_empty() {
                out.push((p.clone(), e.clone()));
            }
            flatten(repo, &e.id, p, &mut out)?;
        } else {
            out.push((p.clone(), e));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}
