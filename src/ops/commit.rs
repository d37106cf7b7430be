//! `cairn commit`: write the staged state as a new layer. Trees and file objects go to a
//! metadata pack; the line moves last, so a crash before it leaves HEAD where it was.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use crate::build::Built;
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::index::{index_path, Chunks, StagingIndex};
use crate::object::{ChunkRef, FileObject, Layer, LayerCounts};
use crate::pack::{compress, Encoded, ObjectKind, PackClass, PackWriter};
use crate::progress::{Progress, Unit};
use crate::refs::{check_name, Head, RefKind};
use crate::repo::{Locked, Repository};
use crate::stage::{layer_tree, stage_counted};

/// The new layer's message and author, and the line it goes on.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The layer's message; one of only white space is refused.
    pub message: String,
    /// Recorded as the layer's author, over every other source; `None`: the environment
    /// and the settings decide (see [`crate::settings::author`]).
    pub author: Option<String>,
    /// Start a new line at the new layer and move HEAD onto it.
    pub new_line: Option<String>,
    /// Write a layer even when the staged state equals HEAD's (git's `--allow-empty`).
    pub allow_empty: bool,
    /// When the staged state equals HEAD's, write nothing and succeed with `committed`
    /// false (restic's `--skip-if-unchanged`), instead of failing with "nothing to commit".
    pub skip_if_unchanged: bool,
}

/// The layer written, or with `skip_if_unchanged` the layer that already holds the staged
/// state.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommitOutcome {
    /// Whether a layer was written: false only when `skip_if_unchanged` found nothing to
    /// commit, and then the other fields describe HEAD's layer, which already holds it.
    pub committed: bool,
    /// The new layer's id (HEAD's when nothing was committed; null when nothing was
    /// committed and the line has no layer yet).
    pub layer: Option<ObjectId>,
    /// The layer it follows (HEAD's before the commit); null for the first layer.
    pub parent: Option<ObjectId>,
    /// The id of its root tree (null exactly when `layer` is).
    pub tree: Option<ObjectId>,
    /// The line now at the new layer: HEAD's, or the one `new_line` started.
    pub line: String,
    /// Files and bytes in its tree, and paths added, modified (a change of kind counts) and
    /// deleted since its parent.
    pub counts: LayerCounts,
    /// Bytes of the metadata pack written (record headers included): trees, file objects, chunk
    /// lists and the layer. The chunks themselves were stored by `add`.
    pub bytes_written: u64,
}

/// Writes the staged state as a layer on HEAD's line (or a new one), then moves the line.
/// Refuses an empty message, a detached HEAD with no new line, and nothing to commit
/// (unless `allow_empty`, or `skip_if_unchanged`, which writes nothing and succeeds).
pub fn commit(
    repo: &Locked,
    opts: &CommitOptions,
    progress: &dyn Progress,
) -> Result<CommitOutcome> {
    if opts.message.trim().is_empty() {
        return Err(Error::BadArgument {
            what: "the commit message is empty: say what the layer holds with -m".into(),
            path: repo.root().to_path_buf(),
        });
    }
    // Before anything is written: a bad setting refuses the commit cleanly.
    let author = match &opts.author {
        Some(a) => a.clone(),
        None => crate::settings::author(repo.dir())?,
    };
    let index = repo.load_index()?;
    let (line, head) = repo.head()?;
    let line = target_line(repo, line, opts.new_line.as_deref())?;
    let (mut built, staged) = stage_counted(repo, &index, layer_tree(repo, head)?)?;
    let tally = staged.tally;
    let unchanged = tally.is_empty() && (head.is_some() || index.entries.is_empty());
    if unchanged && opts.skip_if_unchanged {
        return unchanged_outcome(repo, line, head);
    }
    if unchanged && !opts.allow_empty {
        return Err(Error::NothingToCommit {
            path: repo.root().to_path_buf(),
        });
    }
    let counts = LayerCounts {
        files: built.files,
        bytes: built.bytes,
        added: tally.added,
        modified: tally.modified,
        deleted: tally.deleted,
    };
    let mut w = PackWriter::for_repo(repo, PackClass::Meta);
    let pending = write_objects(repo, &mut w, index, &mut built, staged.changed, progress)?;
    let layer = Layer {
        parent: head,
        tree: built.root,
        time_ns: now_ns(),
        counts,
        author,
        message: opts.message.clone(),
    };
    let id = layer.id(repo.algo());
    w.add(id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))?;
    let bytes_written = w.bytes_written();
    w.finish()?;
    progress.end();
    crate::failpoint::hit("commit:before-ref");
    let refs = repo
        .refs()
        .because(crate::reflog::commit_reason(head.is_none(), &opts.message));
    refs.set(RefKind::Line, &line, &id)?;
    crate::failpoint::hit("commit:before-index");
    if opts.new_line.is_some() {
        refs.set_head(&Head::Line(line.clone()))?;
    }
    // The new index has the same entries: the monitor state kept for the old one holds.
    let carry = crate::watch::Carry::before(repo.dir());
    pending.publish(repo)?;
    carry.after(repo.dir());
    let merged = crate::pack::consolidate::auto(repo, progress)?;
    crate::layer_graph::after_commit(repo, head, merged.is_some())?;
    Ok(CommitOutcome {
        committed: true,
        layer: Some(id),
        parent: head,
        tree: Some(built.root),
        line,
        counts,
        bytes_written,
    })
}

/// The staging index as the commit leaves it, written and synced under `tmp/` before the
/// pack is finished, and moved into place only once the line has moved (as it was saved
/// before): the index's memory (about 190 MB at a million files) is then free while the
/// pack's index and the multi-pack index are written, which was the peak of a first
/// commit. Removed if the commit stops before it is published; a kill leaves it in `tmp/`,
/// as it leaves any file written there, for gc to clear.
struct PendingIndex {
    tmp: PathBuf,
    published: bool,
}

impl PendingIndex {
    fn write(repo: &Locked, mut index: StagingIndex) -> Result<PendingIndex> {
        let tmp = fsutil::temp_path(&repo.tmp_dir(), "commit-index");
        let pending = PendingIndex {
            tmp,
            published: false,
        };
        index.save(&pending.tmp, &repo.tmp_dir(), repo.algo())?;
        Ok(pending)
    }

    fn publish(mut self, repo: &Locked) -> Result<()> {
        fsutil::rename_durable(&self.tmp, &index_path(repo.dir()))?;
        self.published = true;
        Ok(())
    }
}

impl Drop for PendingIndex {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// What `skip_if_unchanged` reports when there is nothing to commit: HEAD's layer, which
/// already holds the staged state, and nothing written.
fn unchanged_outcome(repo: &Locked, line: String, head: Option<ObjectId>) -> Result<CommitOutcome> {
    let layer = head.map(|id| repo.read_layer(&id)).transpose()?;
    Ok(CommitOutcome {
        committed: false,
        layer: head,
        parent: layer.as_ref().and_then(|l| l.parent),
        tree: layer.as_ref().map(|l| l.tree),
        line,
        counts: layer.map(|l| l.counts).unwrap_or_default(),
        bytes_written: 0,
    })
}

/// The line the new layer goes on: a new one named by the user, or HEAD's. Committing on a
/// detached HEAD without naming a line is refused, so no layer is ever orphaned.
fn target_line(repo: &Repository, current: Option<String>, new: Option<&str>) -> Result<String> {
    if let Some(name) = new {
        check_name(name).map_err(|why| Error::BadName {
            why,
            path: repo.refs().kind_dir(RefKind::Line),
        })?;
        repo.refs().check_new(RefKind::Line, name)?;
        if repo.refs().get(RefKind::Line, name)?.is_some() {
            return Err(Error::AlreadyExists {
                what: "line",
                name: name.to_string(),
                path: repo.refs().ref_path(RefKind::Line, name),
            });
        }
        return Ok(name.to_string());
    }
    current.ok_or_else(|| Error::DetachedHead {
        what: "name a new line with `commit -b NAME` so the layer is not orphaned",
        path: repo.dir().join("HEAD"),
    })
}

/// Writes the trees and file objects the store lacks, and the index as the commit leaves it
/// (pending, see [`PendingIndex`]). The order bounds memory: the built trees are freed as
/// they are written; the files to write are copied out of the index (their ids and chunk
/// lists, under half of what the index takes); the index is written and dropped; only then
/// do the pack writer's records of a million file objects grow.
fn write_objects(
    repo: &Locked,
    w: &mut PackWriter,
    mut index: StagingIndex,
    built: &mut Built,
    changed: Vec<usize>,
    progress: &dyn Progress,
) -> Result<PendingIndex> {
    let trees = missing_trees(repo, std::mem::take(&mut built.trees));
    let total = trees.len() + changed.len();
    progress.begin("writing trees", Unit::Objects, total as u64, 0);
    write_trees(w, trees, repo.config.zstd_level(), progress)?;
    let asked = changed.len();
    let files = missing_files(repo, &index, changed);
    // Files the store holds already count as done.
    progress.advance((asked - files.len()) as u64, 0);
    if asked > MANY_LOOKUPS {
        // So many lookups read nearly every bucket of the multi-pack index; a fresh listing
        // unmaps it before `finish` folds the table, which maps it again: both mappings
        // count in the process's memory (108 MB at a first commit of a million files).
        repo.store.reload()?;
    }
    index.base_tree = Some(built.root);
    index
        .entries
        .remember_trees(std::mem::take(&mut built.cache));
    let pending = PendingIndex::write(repo, index)?;
    for (id, chunks) in files {
        write_file(repo, w, id, &chunks)?;
        progress.advance(1, 0);
    }
    Ok(pending)
}

/// Past this many store lookups, a commit drops the store's listing afterwards (see
/// [`write_objects`]); below it, the few buckets read cost less than listing `packs/`.
const MANY_LOOKUPS: usize = 4096;

/// The ids and chunk lists of the files among `changed` (index positions) whose file
/// objects the store lacks, each object once, in index order (so a pack holds a
/// directory's files together). The store is asked
/// in id order: at a first commit of a million files, a million lookups in path order
/// missed the CPU caches on nearly every probe of the multi-pack index, and were a fifth
/// of the commit's time; in id order, neighbouring lookups share their probes.
fn missing_files(
    repo: &Repository,
    index: &StagingIndex,
    changed: Vec<usize>,
) -> Vec<(ObjectId, Chunks)> {
    let mut by_id: Vec<(ObjectId, u32)> = changed
        .into_iter()
        .filter_map(|at| {
            let (_, e) = index.entries.get_index(at)?;
            Some((e.file_id, u32::try_from(at).ok()?))
        })
        .collect();
    by_id.sort_unstable();
    by_id.dedup_by_key(|(id, _)| *id);
    let mut missing: Vec<usize> = by_id
        .into_iter()
        .filter(|(id, _)| !repo.store.contains(id))
        .map(|(_, at)| at as usize)
        .collect();
    missing.sort_unstable();
    let entry = |at: usize| &index.entries[at];
    missing
        .into_iter()
        .map(|at| (entry(at).file_id, entry(at).chunks.clone()))
        .collect()
}

/// The built trees the store lacks (all but those of a tree committed before).
fn missing_trees(repo: &Repository, trees: HashMap<ObjectId, Vec<u8>>) -> Vec<(ObjectId, Vec<u8>)> {
    let mut missing: Vec<_> = trees
        .into_iter()
        .filter(|(id, _)| !repo.store.contains(id))
        .collect();
    // In id order, so the same trees make the same pack whatever the map's order.
    missing.sort_unstable_by_key(|(id, _)| *id);
    missing
}

/// Compresses the trees on every core, a batch at a time, and appends them in order,
/// freeing each batch once written: a million files' trees (60 MB encoded) are not held
/// while the pack is finished, and compressing them was a tenth of a first commit.
fn write_trees(
    w: &mut PackWriter,
    mut trees: Vec<(ObjectId, Vec<u8>)>,
    level: i32,
    progress: &dyn Progress,
) -> Result<()> {
    const BATCH: usize = 64;
    trees.reverse();
    while !trees.is_empty() {
        let batch = trees.split_off(trees.len().saturating_sub(BATCH));
        let encoded: Vec<Encoded> = batch
            .par_iter()
            .rev()
            .map(|(_, tree)| compress(tree, level))
            .collect();
        for ((id, _), e) in batch.iter().rev().zip(&encoded) {
            w.add(*id, ObjectKind::Tree, e)?;
            progress.advance(1, 0);
        }
    }
    Ok(())
}

/// Writes a staged file's object, and the chunk lists it names that the store lacks: a new
/// version of a large file shares the lists its edits did not touch.
fn write_file(
    repo: &Repository,
    w: &mut PackWriter,
    id: ObjectId,
    chunks: &[ChunkRef],
) -> Result<()> {
    let file = FileObject {
        chunks: chunks.to_vec(),
    };
    let (object, lists) = file.encode_stored(repo.algo());
    for (id, list) in lists {
        if !repo.store.contains(&id) {
            w.add(id, ObjectKind::List, &Encoded::raw(&list))?;
        }
    }
    w.add(id, ObjectKind::File, &Encoded::raw(&object))
}
