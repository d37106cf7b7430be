//! `cairn import TARBALL|-`: a tar stream (plain, gzip or zstd) staged as a tree, streaming,
//! in flat memory, with modes, times and symlinks kept. Like `tar -x` followed by `add` of
//! what it wrote, without writing the worktree: members are staged over what the index
//! holds (under `--prefix` when given), other entries are left alone.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use crate::archive::{read_tar, Member};
use crate::error::{Error, Result};
use crate::index::{IndexEntry, StagingIndex};
use crate::ingest::{store_with, Ingester};
use crate::progress::{Progress, Unit};
use crate::repo::Locked;
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::session::Common;
use crate::worktree;

/// Where the members go.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The directory to stage the members under, relative to the current directory
    /// (`None`: the worktree root).
    pub prefix: Option<PathBuf>,
}

/// A member that was not staged, and why.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NotStored {
    /// Where it would have been staged.
    pub path: RepoPathBuf,
    /// Why not (`fifo: not stored`).
    pub reason: String,
}

/// What was staged.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct ImportOutcome {
    /// Regular files staged (hard links included).
    pub files: u64,
    /// Symbolic links staged.
    pub symlinks: u64,
    /// Of the files, hard links to earlier members (staged with the same content).
    pub hardlinks: u64,
    /// Staged paths that replaced a tracked entry.
    pub replaced: u64,
    /// Bytes of file content read.
    pub bytes: u64,
    /// Devices and fifos, which cairn does not store.
    pub skipped: Vec<NotStored>,
    /// New chunks written.
    pub chunks_new: u64,
    /// Their bytes before compression.
    pub bytes_new: u64,
    /// Their bytes as stored.
    pub bytes_stored: u64,
}

/// Reads the tar stream `input` (`name` names it in errors) and stages its members. A
/// hostile or damaged stream fails the import with nothing staged.
pub fn import(
    repo: &Locked,
    common: &Common,
    opts: &ImportOptions,
    input: &mut dyn Read,
    name: &Path,
    progress: &dyn Progress,
) -> Result<ImportOutcome> {
    let mut index = repo.load_index()?;
    let prefix = match &opts.prefix {
        Some(p) => worktree::resolve(repo.root(), &common.cwd, p)?,
        None => RepoPathBuf::new(),
    };
    let mut out = ImportOutcome::default();
    progress.begin("importing", Unit::Files, 0, 0); // a stream: no totals
    let (staged, stored) = store_with(repo, progress, |ingester, _| {
        let mut staged = IndexMap::new();
        read_tar(input, name, |m| {
            stage(ingester, &prefix, m, &mut staged, &mut out, name)?;
            progress.advance(1, 0);
            Ok(())
        })?;
        Ok(staged)
    })?;
    progress.end();
    check_shape(&index, &staged, name)?;
    out.chunks_new = stored.counts.chunks;
    out.bytes_new = stored.counts.raw;
    out.bytes_stored = stored.counts.stored;
    merge(&mut index, staged, &mut out);
    crate::failpoint::hit("add:before-index");
    repo.save_index(&mut index)?;
    Ok(out)
}

type Staged = IndexMap<RepoPathBuf, IndexEntry>;

/// Stores one member and records its entry (a later member of the same name wins, as
/// `tar -x` leaves it).
fn stage(
    ingester: &Ingester,
    prefix: &RepoPath,
    m: Member<'_>,
    staged: &mut Staged,
    out: &mut ImportOutcome,
    name: &Path,
) -> Result<()> {
    let at = |p: &RepoPath| prefix.join(p.as_bytes()); // root-relative paths below `prefix`
    match m {
        Member::File {
            path,
            mode,
            mtime_ns,
            size,
            reader,
        } => {
            let shown = PathBuf::from(path.to_string());
            let e = ingester.ingest_stream(reader, Some(size), mode, mtime_ns, &shown)?;
            out.files += 1;
            out.bytes += size;
            staged.insert(at(&path), e);
        }
        Member::Symlink {
            path,
            target,
            mtime_ns,
        } => {
            out.symlinks += 1;
            staged.insert(at(&path), ingester.symlink_entry(&target, mtime_ns)?);
        }
        Member::HardLink { path, target } => {
            let e = staged.get(&at(&target)).cloned().ok_or_else(|| {
                Error::corrupt(
                    "tar stream",
                    name,
                    format!("{path}: a hard link to {target}, which no earlier member is"),
                )
            })?;
            out.files += 1;
            out.hardlinks += 1;
            staged.insert(at(&path), e);
        }
        Member::Special { path, kind } => out.skipped.push(NotStored {
            path: at(&path),
            reason: format!("{kind}: not stored"),
        }),
    }
    Ok(())
}

/// Refuses a result that would put a file where a directory is: a member below another
/// member or a tracked file, or a member file where members or tracked files are below.
/// One pass over each side, whatever their sizes.
fn check_shape(index: &StagingIndex, staged: &Staged, name: &Path) -> Result<()> {
    let is_file = |p: &RepoPath| staged.contains_key(p) || index.entries.contains_key(p.as_bytes());
    let mut dirs: HashSet<&RepoPath> = staged.keys().flat_map(|p| p.ancestors()).collect();
    if !staged.is_empty() {
        dirs.extend(
            index
                .entries
                .keys()
                .flat_map(|p| RepoPath::new(p).ancestors()),
        );
    }
    for p in staged.keys() {
        if let Some(d) = p.ancestors().find(|d| is_file(d)) {
            return Err(clash(name, p, d));
        }
        if dirs.contains(p.as_ref()) {
            return Err(clash(name, p, p));
        }
    }
    Ok(())
}

fn clash(name: &Path, p: &RepoPath, d: &RepoPath) -> Error {
    Error::corrupt(
        "tar stream",
        name,
        format!("{p}: {d} would be both a file and a directory"),
    )
}

/// Puts the staged entries into the index.
fn merge(index: &mut StagingIndex, staged: Staged, out: &mut ImportOutcome) {
    let path_bytes = staged.iter().map(|(p, _)| p.as_bytes().len()).sum();
    index.entries.reserve(staged.len(), path_bytes);
    for (p, e) in staged {
        if index.entries.insert(p.into_bytes(), e).is_some() {
            out.replaced += 1;
        }
    }
    if out.files + out.symlinks > 0 {
        index.base_tree = None;
    }
}
