//! `cairn add --stdin PATH`: content streamed from standard input into one path of the
//! staging index (`pg_dump | cairn add --stdin db.sql`), through the streaming chunker, in
//! flat memory whatever its size. The worktree is not written: the path is staged only.

use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::ingest::store_with;
use crate::progress::{Progress, Unit};
use crate::repo::Locked;
use crate::repo_path::{RepoPath, RepoPathBuf};
use crate::session::Common;
use crate::worktree;

/// Where the stream goes.
#[derive(Debug, Clone)]
pub struct AddStdinOptions {
    /// The path to stage, relative to the current directory; it need not exist.
    pub path: PathBuf,
    /// Its permission bits (0o644 unless said otherwise).
    pub mode: u32,
}

/// What was staged.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AddStdinOutcome {
    /// The staged path, from the worktree root.
    pub path: RepoPathBuf,
    /// True when the path was tracked before (its entry was replaced).
    pub replaced: bool,
    /// The stream's length in bytes.
    pub size: u64,
    /// The content's file id.
    pub file_id: ObjectId,
    /// Chunks the content has, and how many of them were new to the store.
    pub chunks: u64,
    /// New chunks written.
    pub chunks_new: u64,
    /// Their bytes before compression.
    pub bytes_new: u64,
    /// Their bytes as stored.
    pub bytes_stored: u64,
}

/// Stores `input` to its end and stages it at `opts.path`. The packs are published before
/// the index is saved, and nothing is staged when the stream fails part way.
pub fn add_stdin(
    repo: &Locked,
    common: &Common,
    opts: &AddStdinOptions,
    input: &mut dyn Read,
    progress: &dyn Progress,
) -> Result<AddStdinOutcome> {
    let mut index = repo.load_index()?;
    let rel = worktree::resolve(repo.root(), &common.cwd, &opts.path)?;
    check_path(&index, &rel, &opts.path)?;
    progress.begin("adding", Unit::Files, 0, 0); // a stream: no totals
    let name = PathBuf::from("<stdin>");
    let (entry, stored) = store_with(repo, progress, |ingester, _| {
        ingester.ingest_stream(input, None, opts.mode, now_ns(), &name)
    })?;
    progress.advance(1, 0);
    progress.end();
    let outcome = AddStdinOutcome {
        path: rel.clone(),
        replaced: index.entries.contains_key(rel.as_bytes()),
        size: entry.stat.size,
        file_id: entry.file_id(),
        chunks: entry.chunks().len() as u64,
        chunks_new: stored.counts.chunks,
        bytes_new: stored.counts.raw,
        bytes_stored: stored.counts.stored,
    };
    index.entries.insert(rel.into_bytes(), entry);
    index.base_tree = None;
    crate::failpoint::hit("add:before-index");
    repo.save_index(&mut index)?;
    Ok(outcome)
}

/// A path a file can be staged at: not the root, not too deep, not a tracked directory,
/// and not below a tracked file.
fn check_path(index: &StagingIndex, rel: &RepoPath, user: &std::path::Path) -> Result<()> {
    let bad = |what: &str| Error::BadPath {
        what: what.into(),
        path: user.to_path_buf(),
    };
    if rel.is_root() {
        return Err(bad(
            "add --stdin needs the path of a file, not the worktree root",
        ));
    }
    if crate::build::too_deep(rel.as_bytes()) {
        return Err(bad("directories nested this deep cannot be stored"));
    }
    if index.under(rel).any(|(p, _)| p != rel.as_bytes()) {
        return Err(bad("a tracked directory is there: name a file path"));
    }
    if index.files_above(rel).next().is_some() {
        return Err(bad(
            "a tracked file stands where a directory of this path would be",
        ));
    }
    Ok(())
}
