//! The staged changes: the staging index built into trees (in memory) and compared with
//! HEAD's tree. `status` reports them, `checkout` refuses to lose them and `commit` counts
//! and writes them; all three ask here.

use crate::build::{build_cached, build_handing, Built, TreeOut};
use crate::diff::{diff_each, Change, ChangeKind, Overlay};
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::index::StagingIndex;
use crate::repo::Repository;

/// The root tree of `layer`, if there is one (HEAD of an empty repository has none).
pub(crate) fn layer_tree(repo: &Repository, layer: Option<ObjectId>) -> Result<Option<ObjectId>> {
    Ok(layer
        .map(|l| repo.read_layer(&l))
        .transpose()?
        .map(|l| l.tree))
}

/// Builds the index's trees, taking every tree it remembers as it is, and hands each change
/// from `head_tree` to them to `add` (over a copy of `sink`).
///
/// Trusting the remembered trees costs no lookup in the store, and still commits none the
/// store lacks: the diff reads every remembered tree that differs from HEAD's at its path
/// (a read checks a tree against its id), and one equal to HEAD's is reachable from HEAD,
/// which gc keeps. Asking the store about each of a million-file tree's 1,001 remembered
/// trees instead mapped the whole multi-pack index (100 MB) into a one-file commit. Only
/// when the diff meets a missing tree (gc deletes trees no layer reaches, as after
/// `reset --soft`) is it all done again, building every remembered tree the store lacks.
fn diff_built<S: Clone>(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
    sink: S,
    add: &dyn Fn(&mut S, Change),
) -> Result<(Built, S)> {
    let trusted = build_cached(index, repo.algo(), &|_| true)?;
    match diff_into(repo, &trusted, head_tree, sink.clone(), add) {
        Err(Error::MissingObject { .. }) => {}
        other => return other.map(|s| (trusted, s)),
    }
    drop(trusted);
    let built = build_cached(index, repo.algo(), &|id| repo.store.contains(id))?;
    let s = diff_into(repo, &built, head_tree, sink, add)?;
    Ok((built, s))
}

/// The changes from `head_tree` to the built trees, read from memory or else the store.
fn diff_into<S>(
    repo: &Repository,
    built: &Built,
    head_tree: Option<ObjectId>,
    mut sink: S,
    add: &dyn Fn(&mut S, Change),
) -> Result<S> {
    let overlay = Overlay {
        trees: &built.trees,
        repo,
    };
    diff_each(&overlay, head_tree, Some(built.root), &mut |c| {
        add(&mut sink, c);
    })?;
    Ok(sink)
}

/// How many paths of each kind the staged state changes: what a commit records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub added: u64,
    /// Type changes (a file become a symlink or the reverse) included.
    pub modified: u64,
    pub deleted: u64,
}

impl Tally {
    /// Whether nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Tally::default()
    }

    fn count(&mut self, kind: ChangeKind) {
        match kind {
            ChangeKind::Added => self.added += 1,
            ChangeKind::Modified | ChangeKind::TypeChange => self.modified += 1,
            ChangeKind::Deleted => self.deleted += 1,
            // Found only by rename detection, which a tree diff does not run.
            ChangeKind::Renamed | ChangeKind::Copied => {}
        }
    }
}

/// What a commit needs of the staged changes: how many of each kind, and where the files
/// whose content may be new lie in the index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Staged {
    pub tally: Tally,
    /// Index positions of the files added or changed since `head_tree`: the only ones whose
    /// objects the store may lack. A file equal to HEAD's at its path is reachable from
    /// HEAD, which gc keeps.
    pub changed: Vec<usize>,
}

/// The index built into trees and how it changes `head_tree`: what a commit needs. The
/// changes are counted, not kept: a first commit of a million files would otherwise hold a
/// million paths beside the index and the trees. A first commit's trees go to `first` as
/// they are built (see [`build_handing`]), any other commit's are in [`Built::trees`].
pub(crate) fn stage_counted(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
    first: TreeOut<'_>,
) -> Result<(Built, Staged)> {
    if head_tree.is_none() && index.entries.trees().is_empty() {
        return first_commit(index, repo, first);
    }
    let add = |s: &mut Staged, c: Change| {
        s.tally.count(c.kind);
        if c.new.is_some() {
            s.changed
                .extend(index.entries.get_index_of(c.path.as_bytes()));
        }
    };
    diff_built(repo, index, head_tree, Staged::default(), &add)
}

/// A first commit's staged changes, without a diff: every file is added. Comparing with no
/// tree decoded every tree built and made a path for each file, a tenth of a first commit
/// of a million files. (With remembered trees, which a first commit on a new line may
/// have, the diff runs: it is what vouches for them.)
fn first_commit(
    index: &StagingIndex,
    repo: &Repository,
    trees: TreeOut<'_>,
) -> Result<(Built, Staged)> {
    let built = build_handing(index, repo.algo(), trees)?;
    let staged = Staged {
        tally: Tally {
            added: built.files,
            ..Tally::default()
        },
        changed: (0..index.entries.len()).collect(),
    };
    Ok((built, staged))
}

/// Only the changes: none, without building anything, when the index still records that
/// it was made from `head_tree` and nothing was staged since.
pub(crate) fn staged_changes(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
) -> Result<Vec<Change>> {
    if head_tree.is_some() && index.base_tree == head_tree {
        return Ok(Vec::new());
    }
    let add = |out: &mut Vec<Change>, c| out.push(c);
    let (_, mut out) = diff_built(repo, index, head_tree, Vec::new(), &add)?;
    out.sort_unstable_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}
