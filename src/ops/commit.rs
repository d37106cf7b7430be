//! `cairn commit`: write the staged state as a new layer. Trees and file objects go to a
//! metadata pack; the line moves last, so a crash before it leaves HEAD where it was.

use serde::Serialize;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::IndexEntry;
use crate::object::{Layer, LayerCounts};
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
    let (built, tally) = stage_counted(repo, &index, layer_tree(repo, head)?)?;
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
    progress.begin(
        "writing trees",
        Unit::Objects,
        (built.new_files.len() + built.trees.len()) as u64,
        0,
    );
    let mut w = PackWriter::for_repo(repo, PackClass::Meta);
    let level = repo.config.zstd_level();
    // Only files in the trees built now: a cached tree's files were written with it.
    for &at in &built.new_files {
        let (_, e) = index.entries.get_index(at).expect("built from this index");
        if !repo.store.contains(&e.file_id) {
            write_file(repo, &mut w, e)?;
        }
        progress.advance(1, 0);
    }
    for (id, tree) in &built.trees {
        if !repo.store.contains(id) {
            w.add(*id, ObjectKind::Tree, &compress(tree, level))?;
        }
        progress.advance(1, 0);
    }
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
    index.base_tree = Some(built.root);
    index.entries.remember_trees(built.cache);
    repo.save_index(&mut index)?;
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

/// Writes a staged file's object, and the chunk lists it names that the store lacks: a new
/// version of a large file shares the lists its edits did not touch.
fn write_file(repo: &Repository, w: &mut PackWriter, e: &IndexEntry) -> Result<()> {
    let (object, lists) = e.file_object().encode_stored(repo.algo());
    for (id, list) in lists {
        if !repo.store.contains(&id) {
            w.add(id, ObjectKind::List, &Encoded::raw(&list))?;
        }
    }
    w.add(e.file_id, ObjectKind::File, &Encoded::raw(&object))
}
