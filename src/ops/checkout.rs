//! `cairn checkout`: move the worktree and the index to a layer (or bring some paths back
//! from it). It works out everything it would change first, and refuses before touching
//! anything when that would lose staged or unstaged changes or overwrite untracked files.

mod recover;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::status::worktree_change;
use super::Common;
use crate::build::build;
use crate::diff::{diff_trees, Overlay};
use crate::error::{Error, IoContext, Result};
use crate::hash::ObjectId;
use crate::index::{is_under, IndexEntry, StagingIndex, Stat};
use crate::ingest::{Discard, Ingester};
use crate::materialize::{ensure_dirs, Materializer};
use crate::object::{EntryKind, TreeEntry};
use crate::progress::Progress;
use crate::read::flatten;
use crate::refs::Head;
use crate::repo::{RepoLock, Repository};
use crate::revparse;
use crate::worktree::{self, RealDirs, RepoPath};

#[derive(Debug, Clone)]
pub struct CheckoutOptions {
    pub target: String,
    /// Only these paths (as the user typed them); HEAD stays where it is.
    pub paths: Vec<PathBuf>,
    pub force: bool,
}

#[derive(Debug, Serialize)]
pub struct CheckoutOutcome {
    pub layer: ObjectId,
    pub line: Option<String>,
    pub detached: bool,
    pub written: Vec<RepoPath>,
    pub deleted: Vec<RepoPath>,
    pub bytes: u64,
}

pub(crate) struct Plan {
    pub target: HashMap<Vec<u8>, TreeEntry>,
    pub write: Vec<Vec<u8>>,
    pub delete: Vec<Vec<u8>>,
    /// Paths an unfinished earlier checkout changed: rewritten, never counted as losses.
    pub recovered: HashSet<Vec<u8>>,
}

pub fn checkout(
    repo: &Repository,
    common: &Common,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let lock = repo.lock(common.lock_timeout)?;
    checkout_locked(repo, &lock, common, opts, progress)
}

/// [`checkout`] inside an operation that holds the writers' lock throughout (pull, clone).
pub(crate) fn checkout_locked(
    repo: &Repository,
    _lock: &RepoLock,
    common: &Common,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let mut index = repo.load_index()?;
    let resolved = revparse::resolve_full(repo, &opts.target)?;
    let tree = repo.read_layer(&resolved.layer)?.tree;
    let scope: Vec<Vec<u8>> = opts
        .paths
        .iter()
        .map(|p| worktree::resolve(repo.root(), &common.cwd, p))
        .collect::<Result<_>>()?;
    // Named paths and --force put the worktree back exactly; a plain switch carries local
    // edits of files both layers share over, as git does.
    let rewrite = opts.force || !scope.is_empty();
    let plan = plan(repo, &index, &tree, &scope, rewrite)?;
    if opts.force {
        refuse_dirs_in_the_way(repo, &plan)?;
    } else {
        refuse_losses(repo, &index, &plan)?;
    }
    let bytes = apply(repo, &mut index, &plan, resolved.layer, progress)?;
    crate::failpoint::hit("checkout:before-head");
    let full = scope.is_empty();
    if full {
        let head = match &resolved.line {
            Some(line) => Head::Line(line.clone()),
            None => Head::Detached(resolved.layer),
        };
        repo.refs().set_head(&head)?;
    }
    index.base_tree = if full { Some(tree) } else { None };
    index.walk_cache = None; // the tracked set and the directories changed
    crate::failpoint::hit("checkout:before-index");
    repo.save_index(&mut index)?;
    finished(repo)?;
    Ok(CheckoutOutcome {
        layer: resolved.layer,
        line: if full {
            resolved.line.clone()
        } else {
            repo.head()?.0
        },
        detached: full && resolved.line.is_none(),
        written: plan.write.into_iter().map(RepoPath).collect(),
        deleted: plan.delete.into_iter().map(RepoPath).collect(),
        bytes,
    })
}

fn in_scope(p: &[u8], scope: &[Vec<u8>]) -> bool {
    scope.is_empty() || scope.iter().any(|s| is_under(p, s))
}

/// What a checkout of `tree` (below `scope`, or everything) writes and deletes. Paths an
/// unfinished earlier checkout changed (see [`recover`]) are rewritten or deleted too; those
/// outside `scope` make a checkout of named paths refuse, since it would leave them.
pub(crate) fn plan(
    repo: &Repository,
    index: &StagingIndex,
    tree: &ObjectId,
    scope: &[Vec<u8>],
    rewrite_edited: bool,
) -> Result<Plan> {
    let real = RealDirs::new(repo.root());
    let pending = recover::pending(repo)?;
    let recovered = match pending.is_empty() {
        true => HashSet::new(),
        false => recover::interrupted_paths(repo, index, &pending, &real)?,
    };
    if let Some(p) = recovered.iter().find(|p| !in_scope(p, scope)) {
        return Err(Error::Invalid {
            what: "an earlier checkout did not finish: check out a layer without naming paths to finish it".into(),
            path: worktree::abs(repo.root(), p),
        });
    }
    let mut all = Vec::new();
    flatten(repo, tree, b"", &mut all)?;
    let target: HashMap<Vec<u8>, TreeEntry> = all
        .into_iter()
        .filter(|(p, e)| e.kind != EntryKind::Dir && in_scope(p, scope))
        .collect();
    if let Some(p) = target
        .keys()
        .find(|p| is_under(p, crate::repo::CAIRN_DIR.as_bytes()))
    {
        return Err(Error::corrupt(
            "tree",
            &worktree::abs(repo.root(), p),
            "an entry would be written into the repository's own directory",
        ));
    }
    for s in scope {
        let known = target.keys().any(|p| is_under(p, s)) || index.under(s).next().is_some();
        if !known {
            return Err(Error::PathNotFound {
                path: PathBuf::from(worktree::display(s)),
            });
        }
    }
    let mut edited = if rewrite_edited {
        edited_paths(repo, index, scope, &real)?
    } else {
        HashSet::new()
    };
    edited.extend(recovered.iter().cloned());
    let mut write: Vec<Vec<u8>> = target
        .iter()
        .filter(|(p, e)| edited.contains(*p) || index.entries.get(*p).is_none_or(|i| !same(i, e)))
        .map(|(p, _)| p.clone())
        .collect();
    // Untracked files an unfinished checkout wrote go too when the target lacks them.
    let mut delete: Vec<Vec<u8>> = index
        .entries
        .keys()
        .chain(&recovered)
        .filter(|p| in_scope(p, scope) && !target.contains_key(*p))
        .cloned()
        .collect();
    // A tracked file standing where a written path needs a directory goes too, even when it
    // lies outside the named paths.
    for p in &write {
        for (i, b) in p.iter().enumerate() {
            if *b == b'/' && index.entries.contains_key(&p[..i]) {
                delete.push(p[..i].to_vec());
            }
        }
    }
    write.sort_unstable();
    delete.sort_unstable();
    delete.dedup();
    Ok(Plan {
        target,
        write,
        delete,
        recovered,
    })
}

/// Tracked paths in scope whose worktree file differs from the index.
fn edited_paths(
    repo: &Repository,
    index: &StagingIndex,
    scope: &[Vec<u8>],
    real: &RealDirs,
) -> Result<HashSet<Vec<u8>>> {
    let ingester = Ingester {
        algo: repo.algo(),
        chunker: repo.chunker(),
        sink: &Discard,
    };
    let edited: Vec<Option<Vec<u8>>> = index
        .entries
        .par_iter()
        .filter(|(p, _)| in_scope(p, scope))
        .map(|(p, e)| {
            let change = local_change(repo.root(), index, &ingester, real, p, e)?;
            Ok(change.map(|_| p.clone()))
        })
        .collect::<Result<_>>()?;
    Ok(edited.into_iter().flatten().collect())
}

/// How the worktree file at `p` differs from its entry. A file beyond a symlink (or a file)
/// standing where its directory was is deleted: it is never read through the link.
fn local_change(
    root: &Path,
    index: &StagingIndex,
    ingester: &Ingester,
    real: &RealDirs,
    p: &[u8],
    e: &IndexEntry,
) -> Result<Option<crate::diff::ChangeKind>> {
    match real.reaches(p)? {
        true => worktree_change(root, index, ingester, p, e),
        false => Ok(Some(crate::diff::ChangeKind::Deleted)),
    }
}

fn same(i: &IndexEntry, e: &TreeEntry) -> bool {
    i.file_id == e.id && i.kind() == e.kind && (e.kind != EntryKind::File || i.mode == e.mode)
}

/// Refuses when a path the checkout touches has staged or unstaged changes, or when an
/// untracked file stands where the checkout would write.
fn refuse_losses(repo: &Repository, index: &StagingIndex, plan: &Plan) -> Result<()> {
    let touched: Vec<&Vec<u8>> = plan
        .write
        .iter()
        .chain(&plan.delete)
        .filter(|p| !plan.recovered.contains(*p))
        .collect();
    let deleted: HashSet<&[u8]> = plan.delete.iter().map(|p| p.as_slice()).collect();
    let real = RealDirs::new(repo.root());
    let staged = staged_paths(repo, index)?;
    let ingester = Ingester {
        algo: repo.algo(),
        chunker: repo.chunker(),
        sink: &Discard,
    };
    let lost: Vec<String> = touched
        .par_iter()
        .map(|p| -> Result<Option<String>> {
            let lossy = match index.entries.get(*p) {
                Some(e) => {
                    staged.contains(*p)
                        || local_change(repo.root(), index, &ingester, &real, p, e)?.is_some()
                }
                None => real.reaches(p)? && untracked_in_the_way(repo.root(), p, &deleted, 0)?,
            } || blocked_by_untracked(repo, index, p, &deleted);
            Ok(lossy.then(|| worktree::display(p)))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    let mut list = lost.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if lost.len() > 10 {
        list.push_str(", ...");
    }
    Err(Error::WouldLoseChanges {
        count: lost.len(),
        list,
        path: repo.root().to_path_buf(),
    })
}

/// Even `--force` (and `reset --hard`) never deletes a directory holding untracked files to
/// put a file or symlink in its place (git would): it refuses before anything is touched,
/// so the user can move them.
pub(crate) fn refuse_dirs_in_the_way(repo: &Repository, plan: &Plan) -> Result<()> {
    let deleted: HashSet<&[u8]> = plan.delete.iter().map(|p| p.as_slice()).collect();
    let real = RealDirs::new(repo.root());
    for p in &plan.write {
        let is_dir =
            std::fs::symlink_metadata(worktree::abs(repo.root(), p)).is_ok_and(|m| m.is_dir());
        if is_dir && real.reaches(p)? && holds_more(repo.root(), p, &deleted, 1)? {
            return Err(Error::Invalid {
                what: "a directory holding untracked files stands where the layer has a file; \
                       move them away first"
                    .into(),
                path: worktree::abs(repo.root(), p),
            });
        }
    }
    Ok(())
}

/// True when something untracked stands at `p`: a file, or a directory holding anything the
/// checkout does not delete itself. `depth` counts the directories above `p` this search
/// entered, bounded by the deepest nesting cairn stores.
fn untracked_in_the_way(
    root: &Path,
    p: &[u8],
    deleted: &HashSet<&[u8]>,
    depth: usize,
) -> Result<bool> {
    match std::fs::symlink_metadata(worktree::abs(root, p)) {
        Err(_) => Ok(false),
        Ok(m) if !m.is_dir() => Ok(true),
        Ok(_) if depth >= crate::object::tree::MAX_DEPTH => {
            Err(Error::too_deep(worktree::abs(root, p)))
        }
        Ok(_) => holds_more(root, p, deleted, depth + 1),
    }
}

fn holds_more(root: &Path, dir: &[u8], deleted: &HashSet<&[u8]>, depth: usize) -> Result<bool> {
    let Ok(entries) = std::fs::read_dir(worktree::abs(root, dir)) else {
        return Ok(true);
    };
    for e in entries.flatten() {
        let rel = crate::diff::join(
            dir,
            std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str()),
        );
        let more = match e.file_type() {
            Ok(t) if t.is_dir() => untracked_in_the_way(root, &rel, deleted, depth)?,
            _ => !deleted.contains(rel.as_slice()),
        };
        if more {
            return Ok(true);
        }
    }
    Ok(false)
}

/// True when an untracked file (not one the checkout deletes) stands where `p` needs a
/// directory.
fn blocked_by_untracked(
    repo: &Repository,
    index: &StagingIndex,
    p: &[u8],
    deleted: &HashSet<&[u8]>,
) -> bool {
    p.iter().enumerate().any(|(i, b)| {
        *b == b'/'
            && !index.entries.contains_key(&p[..i])
            && !deleted.contains(&p[..i])
            && std::fs::symlink_metadata(worktree::abs(repo.root(), &p[..i]))
                .is_ok_and(|m| !m.is_dir())
    })
}

/// Paths whose staged state differs from HEAD.
fn staged_paths(repo: &Repository, index: &StagingIndex) -> Result<HashSet<Vec<u8>>> {
    let head_tree = repo
        .head()?
        .1
        .map(|h| repo.read_layer(&h))
        .transpose()?
        .map(|l| l.tree);
    if head_tree.is_some() && index.base_tree == head_tree {
        return Ok(HashSet::new());
    }
    let built = build(index, repo.algo())?;
    let changes = diff_trees(
        &Overlay {
            trees: &built.trees,
            repo,
        },
        head_tree,
        Some(built.root),
    )?;
    Ok(changes.into_iter().map(|c| c.path).collect())
}

/// Records `layer` as the target (see [`recover`]), then deletes, then writes, then records
/// what was written in the index. Returns bytes written. The caller saves the index and then
/// calls [`finished`].
pub(crate) fn apply(
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
        index.entries.shift_remove(p);
    }
    remover.finish()?;
    let m = Materializer::for_worktree(repo, recover::TEMP_STEM);
    let total: u64 = plan.write.iter().map(|p| plan.target[p].size).sum();
    progress.begin("checking out", plan.write.len() as u64, total);
    // Each parent directory once, parents first, before the parallel writes.
    let parents: BTreeSet<&[u8]> = plan
        .write
        .iter()
        .filter_map(|p| p.iter().rposition(|b| *b == b'/').map(|i| &p[..i]))
        .collect();
    for dir in parents {
        clear_blockers(root, dir)?;
        ensure_dirs(root, dir)?;
    }
    let written: Vec<(Vec<u8>, IndexEntry)> = plan
        .write
        .par_iter()
        .map(|p| {
            let e = &plan.target[p];
            let dest = worktree::abs(root, p);
            clear_dir(&dest)?;
            let obj = repo.read_file(&e.id).map_err(|err| err.at(&dest))?;
            m.write_object(e, &obj, &dest)?;
            crate::failpoint::hit("checkout:after-write");
            progress.advance(1, e.size);
            Ok((p.clone(), index_entry(e, obj.chunks, &dest)?))
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
    e: &TreeEntry,
    chunks: Vec<crate::object::ChunkRef>,
    dest: &std::path::Path,
) -> Result<IndexEntry> {
    let meta = std::fs::symlink_metadata(dest).ctx("could not stat", dest)?;
    Ok(IndexEntry {
        kind: e.kind as u8,
        mode: e.mode,
        stat: Stat::from_metadata(&meta),
        file_id: e.id,
        chunks,
    })
}

/// A file (from the old layer) standing where the new layer has a directory is removed; the
/// safety check already made sure it held nothing to lose.
fn clear_blockers(root: &std::path::Path, dir: &[u8]) -> Result<()> {
    for (i, b) in dir
        .iter()
        .enumerate()
        .chain(std::iter::once((dir.len(), &b'/')))
    {
        if *b != b'/' {
            continue;
        }
        let p = worktree::abs(root, &dir[..i]);
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if !m.is_dir() {
                std::fs::remove_file(&p).ctx("could not remove file", &p)?;
            }
        }
    }
    Ok(())
}

/// The worktree matches the saved index again: the checkout's record goes.
pub(crate) fn finished(repo: &Repository) -> Result<()> {
    recover::end(repo)
}

/// An empty directory standing where the new layer has a file is removed.
fn clear_dir(dest: &std::path::Path) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir(dest).ctx("could not replace directory (it is not empty)", dest)
        }
        _ => Ok(()),
    }
}
