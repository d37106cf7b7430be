//! The staged changes: the staging index built into trees (in memory) and compared with
//! HEAD's tree. `status` reports them, `checkout` refuses to lose them and `commit` counts
//! and writes them; all three ask here.

use crate::build::{build_cached, Built};
use crate::diff::{diff_each, Change, ChangeKind, Overlay};
use crate::error::Result;
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

/// Builds the index's trees (but those it remembers and the store holds), hands each
/// change from `head_tree` to them to `out`, and returns them; the diff reads the trees not
/// built here from the store.
fn diff_built(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
    out: &mut dyn FnMut(Change),
) -> Result<Built> {
    let built = build_cached(index, repo.algo(), &|id| repo.store.contains(id))?;
    let overlay = Overlay {
        trees: &built.trees,
        repo,
    };
    diff_each(&overlay, head_tree, Some(built.root), out)?;
    Ok(built)
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

/// The index built into trees and how many paths it changes from `head_tree`: what a
/// commit needs. The changes are counted, not kept: a first commit of a million files would
/// otherwise hold a million paths beside the index and the trees.
pub(crate) fn stage_counted(
    repo: &Repository,
    index: &StagingIndex,
    head_tree: Option<ObjectId>,
) -> Result<(Built, Tally)> {
    let mut tally = Tally::default();
    let built = diff_built(repo, index, head_tree, &mut |c| tally.count(c.kind))?;
    Ok((built, tally))
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
    let mut out = Vec::new();
    diff_built(repo, index, head_tree, &mut |c| out.push(c))?;
    out.sort_unstable_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}
