//! Checking out only some paths of a layer while the index keeps all of it: what a
//! path-limited clone or pull leaves.

use super::{checkout, CheckoutOptions};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::index::{IndexEntry, Stat};
use crate::object::EntryKind;
use crate::progress::Progress;
use crate::read::flatten;
use crate::repo::Locked;
use crate::repo_path::RepoPath;
use crate::session::Common;
use crate::worktree;

/// Checks out only `paths` of `layer`, and records every other path of the layer in the
/// staging index as it is in the layer (with no stat data, so `status` shows them as deleted
/// from the worktree, not as staged deletions: a commit keeps them). HEAD is left alone.
/// Returns files written.
pub(crate) fn sparse_checkout(
    repo: &Locked,
    common: &Common,
    layer: ObjectId,
    paths: &[Vec<u8>],
    force: bool,
    progress: &dyn Progress,
) -> Result<u64> {
    let opts = CheckoutOptions {
        target: layer.to_hex(),
        paths: paths
            .iter()
            .map(|p| worktree::abs(repo.root(), p))
            .collect(),
        force,
    };
    let written = checkout(repo, common, &opts, progress)?.written.len() as u64;
    let tree = repo.read_layer(&layer)?.tree;
    let mut all = Vec::new();
    flatten(repo, &tree, b"", &mut all)?;
    let mut index = repo.load_index()?;
    let inside = |p: &[u8]| {
        paths
            .iter()
            .any(|s| RepoPath::new(p).is_under(RepoPath::new(s)))
    };
    // Outside the paths, what the user has in the worktree stays as it is.
    let here = |p: &[u8]| std::fs::symlink_metadata(worktree::abs(repo.root(), p)).is_ok();
    index.entries.retain(|p, _| inside(p) || here(p));
    for (p, e) in all {
        if e.kind == EntryKind::Dir || inside(&p) || here(&p) {
            continue;
        }
        let chunks = repo.read_file(&e.id)?.chunks;
        let entry = IndexEntry {
            kind: e.kind as u8,
            mode: e.mode,
            stat: Stat::default(),
            file_id: e.id,
            chunks,
        };
        index.entries.insert(p, entry);
    }
    // Only an optimisation for status; it would be wrong if the user kept other files.
    index.base_tree = None;
    repo.save_index(&mut index)?;
    Ok(written)
}
