//! Carrying out a checkout's plan: deletions, then the parallel writes, then the index.

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;

use super::{recover, Plan};
use crate::error::{IoContext, Result};
use crate::hash::{HashAlgo, ObjectId};
use crate::index::{IndexEntry, StagingIndex, Stat};
use crate::materialize::{ensure_dirs, Materializer};
use crate::object::{ChunkRef, TreeEntry};
use crate::progress::{Progress, Unit};
use crate::repo::Repository;
use crate::repo_path::RepoPath;
use crate::worktree;

/// Records `layer` as the target (see [`recover`]), then deletes, then writes, then records
/// what was written in the index. Returns bytes written. The caller saves the index and then
/// calls `finished` (mod.rs).
pub(super) fn apply(
    repo: &Repository,
    index: &mut StagingIndex,
    plan: &Plan,
    layer: ObjectId,
    progress: &dyn Progress,
) -> Result<u64> {
    let root = repo.root();
    recover::sweep_temp(repo);
    let pending = recover::pending(repo)?;
    if !plan.write.is_empty() || !plan.delete.is_empty() {
        recover::begin(repo, &pending, layer)?;
    }
    let mut remover = worktree::Remover::new(root);
    for p in &plan.delete {
        remover.remove(p)?;
    }
    remover.finish()?;
    let deleted: Vec<&[u8]> = plan.delete.iter().map(|p| p.as_bytes()).collect();
    index.entries.remove_all(&deleted);
    let m = Materializer::for_worktree(repo, recover::TEMP_STEM).with_progress(progress);
    let total: u64 = plan
        .write
        .iter()
        .map(|p| plan.target[p.as_bytes()].size)
        .sum();
    progress.begin("checking out", Unit::Files, plan.write.len() as u64, total);
    // Each parent directory once, parents first, before the parallel writes.
    let parents: BTreeSet<&RepoPath> = plan
        .write
        .iter()
        .map(|p| p.parent())
        .filter(|d| !d.is_root())
        .collect();
    for dir in parents {
        clear_blockers(root, dir)?;
        ensure_dirs(root, dir)?;
    }
    let written: Vec<(Vec<u8>, IndexEntry)> = plan
        .write
        .par_iter()
        .map(|p| {
            let e = &plan.target[p.as_bytes()];
            let dest = worktree::abs(root, p.as_bytes());
            clear_dir(&dest)?;
            let obj = repo.read_file(&e.id).map_err(|err| err.at(&dest))?;
            m.write_object(e, &obj, &dest)?;
            crate::failpoint::hit("checkout:after-write");
            progress.advance(1, 0); // its bytes were reported as they were written
            Ok((
                p.as_bytes().to_vec(),
                index_entry(repo.algo(), e, obj.chunks, &dest)?,
            ))
        })
        .collect::<Result<_>>()?;
    progress.end();
    for (p, e) in written {
        index.entries.insert(p, e);
    }
    Ok(total)
}

/// The index entry of a freshly written file: its stat data (taken after the rename, which
/// changes the ctime) and the layer's chunk list.
fn index_entry(
    algo: HashAlgo,
    e: &TreeEntry,
    chunks: Vec<ChunkRef>,
    dest: &Path,
) -> Result<IndexEntry> {
    let meta = std::fs::symlink_metadata(dest).ctx("could not stat", dest)?;
    let stat = Stat::from_metadata(&meta);
    Ok(IndexEntry::new(
        e.kind as u8,
        e.mode,
        stat,
        algo,
        e.id,
        chunks,
    ))
}

/// A file (from the old layer) standing where the new layer has a directory is removed; the
/// safety check already made sure it held nothing to lose.
fn clear_blockers(root: &Path, dir: &RepoPath) -> Result<()> {
    for d in dir.prefixes() {
        let p = worktree::abs(root, d.as_bytes());
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if !m.is_dir() {
                std::fs::remove_file(&p).ctx("could not remove file", &p)?;
            }
        }
    }
    Ok(())
}

/// A directory standing where the new layer has a file holds nothing to lose (the safety
/// checks saw to that): at most empty directories, which go, deepest first.
fn clear_dir(dest: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => remove_empty_dirs(dest),
        _ => Ok(()),
    }
}

/// Removes the directory `top` and the directories below it, children before parents. Only
/// directories are removed, never a file: one that appeared meanwhile fails the removal of
/// its directory instead. The directories are listed breadth first (no recursion, however
/// deep the tree), so reversed, each comes before its parent.
fn remove_empty_dirs(top: &Path) -> Result<()> {
    let mut found = vec![top.to_path_buf()];
    let mut next = 0;
    while let Some(dir) = found.get(next).cloned() {
        for e in std::fs::read_dir(&dir).ctx("could not read directory", &dir)? {
            let e = e.ctx("could not read directory", &dir)?;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                found.push(e.path());
            }
        }
        next += 1;
    }
    for dir in found.iter().rev() {
        std::fs::remove_dir(dir).ctx("could not replace directory (it is not empty)", dir)?;
    }
    Ok(())
}
