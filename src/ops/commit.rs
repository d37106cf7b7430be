//! `cairn commit`: write the staged state as a new layer. Trees and file objects go to a
//! metadata pack; the line moves last, so a crash before it leaves HEAD where it was.

use std::collections::HashSet;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use crate::build::Built;
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::index::{index_path, StagingIndex};
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
    let mut index = repo.load_index()?;
    let (line, head) = repo.head()?;
    let line = target_line(repo, line, opts.new_line.as_deref())?;
    let mut w = PackWriter::for_repo(repo, PackClass::Meta).given_each_id_once();
    let mut trees = TreeWriter::new(repo);
    let head_tree = layer_tree(repo, head)?;
    let (mut built, staged) = stage_counted(repo, &index, head_tree, &mut |id, tree| {
        trees.push(repo, &mut w, id, tree)
    })?;
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
    let layer = Layer {
        parent: head,
        tree: built.root,
        time_ns: now_ns(),
        counts,
        author,
        message: opts.message.clone(),
    };
    let id = layer.id(repo.algo());
    write_objects(
        repo,
        &mut w,
        trees,
        &index,
        &mut built,
        staged.changed,
        progress,
    )?;
    w.add(id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))?;
    // The pack is published (and withdrawn again on a later failure) before the index is
    // saved: the writer's list of a million entries is freed first, and the index then
    // dropped before `finish` folds the pack into the multi-pack index.
    w.publish_current()?;
    index.base_tree = Some(built.root);
    index
        .entries
        .remember_trees(std::mem::take(&mut built.cache));
    let pending = PendingIndex::write(repo, index)?;
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

/// The staging index as the commit leaves it, written and synced under `tmp/` once the
/// pack is published and before it is folded into the multi-pack index, and moved into
/// place only once the line has moved (as it was saved before): the index's memory (about
/// 190 MB at a million files) is then free while the multi-pack index is written. Removed if the commit stops before it is published; a kill leaves it in `tmp/`,
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

/// Writes the trees and file objects the store lacks, each once: the trees through
/// `trees`, the files asked for by distinct id, and a chunk list two files share is
/// remembered here, so the writer keeps no set of the ids it wrote (40 MB at a million
/// files). The built trees are written first and freed as they are; the file objects are
/// encoded from the index's entries in place, one at a time: a copy of the files to write
/// (their ids and chunk lists, 80 MB at a million files) was held beside the index.
fn write_objects(
    repo: &Locked,
    w: &mut PackWriter,
    mut trees: TreeWriter,
    index: &StagingIndex,
    built: &mut Built,
    changed: Vec<usize>,
    progress: &dyn Progress,
) -> Result<()> {
    let total = built.trees.len() + changed.len();
    progress.begin("writing trees", Unit::Objects, total as u64, 0);
    let mut built_trees: Vec<_> = std::mem::take(&mut built.trees).into_iter().collect();
    // In id order, so the same trees make the same pack whatever the map's order.
    built_trees.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
    while let Some((id, tree)) = built_trees.pop() {
        trees.push(repo, w, id, tree)?;
        progress.advance(1, 0);
    }
    trees.flush(w)?;
    let asked = changed.len();
    let files = missing_files(repo, index, changed)?;
    // Files the store holds already count as done.
    progress.advance((asked - files.len()) as u64, 0);
    // The files and the layer: one list of entries for all of them.
    w.reserve(files.len() + 1);
    let mut lists = HashSet::new();
    for (id, at) in files {
        let e = &index.entries[at as usize];
        write_file(repo, w, &mut lists, id, e.chunks())?;
        progress.advance(1, 0);
    }
    Ok(())
}

/// Lookups between two releases of the store's mapped pages in [`missing_files`]: the
/// lookups go in id order, so each run of them reads one narrow stretch of each table, and
/// the release drops what the run read. Asked without releases, a million file ids mapped
/// every page of the tables of the chunks `add` wrote (50 to 70 MB at a million files)
/// into the process's memory, beside the index; in runs of 131,072 between fresh listings
/// they still did, since each run reads a page of nearly every bucket.
const LOOKUPS_PER_RELEASE: usize = 4096;

/// The files among `changed` (index positions) whose file objects the store lacks, one
/// per distinct object, with their ids, in index order (so a pack holds a directory's files
/// together). The store is asked in id order: at a first commit of a million files, a
/// million lookups in path order missed the CPU caches on nearly every probe of the
/// multi-pack index, and were a fifth of the commit's time; in id order, neighbouring
/// lookups share their probes.
///
/// Each id is computed once, on every core (a one-chunk entry's id is a hash), and kept
/// beside its position: 36 bytes a file. Keeping only their first 8 bytes (16 bytes a file)
/// and hashing again for the lookup and the write took a first commit of a million files
/// from 184 to 159 MB at its peak, but from 2.2 to 2.9 s of CPU time.
fn missing_files(
    repo: &Repository,
    index: &StagingIndex,
    changed: Vec<usize>,
) -> Result<Vec<(ObjectId, u32)>> {
    missing_in_runs(repo, index, changed, LOOKUPS_PER_RELEASE)
}

/// [`missing_files`], releasing the store's mapped pages every `per_run` lookups.
fn missing_in_runs(
    repo: &Repository,
    index: &StagingIndex,
    changed: Vec<usize>,
    per_run: usize,
) -> Result<Vec<(ObjectId, u32)>> {
    // An exact-length map, so that rayon collects in place rather than in pieces joined.
    let mut by_id: Vec<(ObjectId, u32)> = changed
        .into_par_iter()
        .map(|at| (index.entries[at].file_id(), at as u32))
        .collect();
    // Equal ids by position: the first file of each content is the one written.
    by_id.par_sort_unstable();
    by_id.dedup_by(|a, b| a.0 == b.0);
    // The ones the store lacks close up in place, run by run.
    let per_run = per_run.max(1);
    let mut kept = 0;
    for start in (0..by_id.len()).step_by(per_run) {
        for i in start..by_id.len().min(start + per_run) {
            if !repo.store.contains(&by_id[i].0) {
                by_id[kept] = by_id[i];
                kept += 1;
            }
        }
        repo.store.release_pages();
    }
    by_id.truncate(kept);
    by_id.sort_unstable_by_key(|&(_, at)| at);
    Ok(by_id)
}

/// Writes trees the store lacks into the pack, each once, compressing them on every core a
/// batch at a time: compressing a million files' trees was a tenth of a first commit, and
/// a batch is all that is held (a first commit hands each tree over as it is built).
struct TreeWriter {
    level: i32,
    /// Trees already taken: two directories of the same content have one tree.
    seen: HashSet<ObjectId>,
    batch: Vec<(ObjectId, Vec<u8>)>,
    /// Store lookups made, for releasing the pages they read every few.
    asked: usize,
}

impl TreeWriter {
    const BATCH: usize = 64;
    /// Tree ids are asked in no order, so each lookup reads pages of its own in every
    /// table (with the kernel's read-around, about a megabyte): the pages read are dropped
    /// every this many lookups, or a first commit's thousand trees mapped every page of the
    /// chunks' tables into memory, beside the index.
    const LOOKUPS_PER_RELEASE: usize = 8;

    fn new(repo: &Repository) -> TreeWriter {
        TreeWriter {
            level: repo.config.zstd_level(),
            seen: HashSet::new(),
            batch: Vec::with_capacity(Self::BATCH),
            asked: 0,
        }
    }

    /// Takes a tree to write, unless it was taken before or the store holds it.
    fn push(
        &mut self,
        repo: &Repository,
        w: &mut PackWriter,
        id: ObjectId,
        tree: Vec<u8>,
    ) -> Result<()> {
        if !self.seen.insert(id) {
            return Ok(());
        }
        self.asked += 1;
        if self.asked.is_multiple_of(Self::LOOKUPS_PER_RELEASE) {
            repo.store.release_pages();
        }
        if repo.store.contains(&id) {
            return Ok(());
        }
        self.batch.push((id, tree));
        if self.batch.len() >= Self::BATCH {
            self.flush(w)?;
        }
        Ok(())
    }

    /// Compresses and appends the trees taken so far, in the order taken.
    fn flush(&mut self, w: &mut PackWriter) -> Result<()> {
        let level = self.level;
        let encoded: Vec<Encoded> = self
            .batch
            .par_iter()
            .map(|(_, tree)| compress(tree, level))
            .collect();
        for ((id, _), e) in self.batch.iter().zip(&encoded) {
            w.add(*id, ObjectKind::Tree, e)?;
        }
        self.batch.clear();
        Ok(())
    }
}

/// Writes a staged file's object, and the chunk lists it names that the store lacks and
/// `lists` does not hold (those this commit wrote): a new version of a large file shares the
/// lists its edits did not touch.
fn write_file(
    repo: &Repository,
    w: &mut PackWriter,
    lists: &mut HashSet<ObjectId>,
    id: ObjectId,
    chunks: &[ChunkRef],
) -> Result<()> {
    let file = FileObject {
        chunks: chunks.to_vec(),
    };
    let (object, stored) = file.encode_stored(repo.algo());
    for (id, list) in stored {
        if !lists.contains(&id) && !repo.store.contains(&id) {
            w.add(id, ObjectKind::List, &Encoded::raw(&list))?;
            lists.insert(id);
        }
    }
    w.add(id, ObjectKind::File, &Encoded::raw(&object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkParams;
    use crate::hash::{Domain, HashAlgo};
    use crate::index::{IndexEntry, Stat};
    use crate::object::EntryKind;

    /// 120 files of 41 contents, two of whose ids share their first 8 bytes, 10 of them
    /// stored already: each content the store lacks is asked for once, at its first file,
    /// however many listings the lookups are spread over.
    #[test]
    fn missing_files_are_the_distinct_ids_the_store_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let algo = HashAlgo::Blake3;
        let repo = Repository::init(dir.path(), algo, ChunkParams::default()).unwrap();
        let mut ids: Vec<ObjectId> = (0..40u32)
            .map(|i| algo.hash(Domain::Chunk, &i.to_le_bytes()))
            .collect();
        let mut twin = ids[13];
        twin.0[20] ^= 1;
        ids.push(twin);
        let mut index = StagingIndex::default();
        for n in 0..120 {
            let (kind, id) = (EntryKind::File as u8, ids[n * 7 % ids.len()]);
            let entry = IndexEntry::new(kind, 0o644, Stat::default(), algo, id, Vec::new());
            index.entries.insert(format!("f{n:03}").into_bytes(), entry);
        }
        let (packs, tmp) = (repo.packs_dir(), repo.tmp_dir());
        let mut w = PackWriter::new(algo, PackClass::Meta, &packs, &tmp);
        for id in &ids[..10] {
            w.add(*id, ObjectKind::File, &Encoded::raw(b"x")).unwrap();
        }
        w.finish().unwrap();
        repo.store.reload().unwrap();
        let mut want: Vec<u32> = ids[10..]
            .iter()
            .map(|id| {
                (0..120)
                    .find(|n| ids[*n as usize * 7 % ids.len()] == *id)
                    .unwrap()
            })
            .collect();
        want.sort_unstable();
        for per in [1, 3, 1 << 17] {
            let got = missing_in_runs(&repo, &index, (0..120).collect(), per).unwrap();
            for (id, at) in &got {
                assert_eq!(*id, index.entries[*at as usize].file_id());
            }
            let got: Vec<u32> = got.into_iter().map(|(_, at)| at).collect();
            assert_eq!(got, want, "{per} lookups a listing");
        }
    }
}
