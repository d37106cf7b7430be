//! Checking out only some paths of a layer while the index keeps all of it: what a
//! path-limited clone or pull leaves.

use super::{checkout_in, CheckoutOptions, Mode};
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
        new_line: None,
    };
    let written = checkout_in(repo, common, &opts, Mode::Mirror, progress)?
        .written
        .len() as u64;
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
        let stat = Stat::default();
        let entry = IndexEntry::new(e.kind as u8, e.mode, stat, repo.algo(), e.id, chunks);
        index.entries.insert(p, entry);
    }
    // Only an optimisation for status; it would be wrong if the user kept other files.
    index.base_tree = None;
    repo.save_index(&mut index)?;
    Ok(written)
}

/// The paths a path-limited clone keeps in the worktree, as git's sparse checkout: the
/// other files of its layers stay in the index (a commit keeps them) but were never
/// fetched or written, so their absence is no deletion. The paths are those the remotes
/// were cloned with (`paths` in `.cairn/remotes.toml`, which `pull` keeps to).
pub(crate) struct Sparse {
    paths: Vec<Vec<u8>>,
}

impl Sparse {
    /// The repository's sparse paths; none (nothing is skipped) for a full clone or a
    /// repository made by `init`.
    pub(crate) fn load(repo: &crate::repo::Repository) -> Result<Sparse> {
        let remotes = crate::remote::config::Remotes::load(repo.dir())?;
        let paths = remotes
            .remote
            .values()
            .flat_map(|r| r.paths.iter().map(|p| worktree::layer_path(p)))
            .collect();
        Ok(Sparse { paths })
    }

    /// True when the tracked file `p` was left out of the worktree on purpose: outside the
    /// sparse paths and never written here (its entry has no stat data, as
    /// [`sparse_checkout`] records it). A file the user checked out, added or committed
    /// there has stat data, so its deletion still shows.
    pub(crate) fn skips(&self, p: &[u8], e: &IndexEntry) -> bool {
        !self.paths.is_empty()
            && e.stat == Stat::default()
            && !self
                .paths
                .iter()
                .any(|s| RepoPath::new(p).is_under(RepoPath::new(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stat: Stat) -> IndexEntry {
        let (algo, id) = (crate::hash::HashAlgo::Blake3, ObjectId::default());
        IndexEntry::new(EntryKind::File as u8, 0o644, stat, algo, id, Vec::new())
    }

    #[test]
    fn only_never_written_files_outside_the_paths_are_skipped() {
        let never = entry(Stat::default());
        let written = entry(Stat {
            size: 1,
            mtime_ns: 5,
            ..Stat::default()
        });
        let sparse = Sparse {
            paths: vec![b"keep".to_vec(), b"data/raw".to_vec()],
        };
        assert!(sparse.skips(b"other/c", &never));
        assert!(sparse.skips(b"data/rawx", &never), "a sibling, not below");
        assert!(!sparse.skips(b"keep/a", &never), "inside the paths");
        assert!(!sparse.skips(b"data/raw/x", &never));
        assert!(
            !sparse.skips(b"other/c", &written),
            "written here: a real deletion"
        );
        let full = Sparse { paths: Vec::new() };
        assert!(!full.skips(b"other/c", &never), "not a partial clone");
    }
}
