//! Bringing a remote's packs here: all the complete packs this repository lacks, or for a
//! partial clone or pull the metadata and only the chunks one layer's paths need.

use std::path::Path;

use serde::Serialize;

use super::index::list_packs;
use super::partial::{fetch_chunks, fetch_metadata, needed_chunks};
use super::{transfer, Remote};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::progress::Progress;
use crate::repo::{Locked, Repository};

/// What a fetch brought.
#[derive(Debug, Default, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Fetched {
    /// Whole packs downloaded.
    pub packs: u64,
    /// Chunks fetched by byte range (path-limited and layer-limited fetches).
    pub ranged_chunks: u64,
    /// Bytes downloaded: whole packs and ranged records.
    pub bytes: u64,
}

/// Downloads every complete remote pack this repository lacks, and names them in the
/// multi-pack index as a writer names the packs it writes (so readers need not list
/// `packs/` to find them).
pub fn fetch_all(repo: &Locked, remote: &Remote, progress: &dyn Progress) -> Result<Fetched> {
    // A set: a scan of the local packs per remote pack was quadratic in their number.
    let local: std::collections::HashSet<ObjectId> =
        repo.store.packs().iter().map(|p| p.name).collect();
    let missing: Vec<(ObjectId, u64)> = list_packs(remote)?
        .into_iter()
        .filter(|(n, p)| p.complete() && !local.contains(n))
        .map(|(n, p)| (n, p.pack.unwrap_or(0)))
        .collect();
    let got = transfer::download(repo, remote, &missing, progress)?;
    if got.packs > 0 {
        // This process's writers take the packs present from the store's listing.
        repo.store.refresh()?;
        crate::pack::midx_write::maintain(repo.algo(), &repo.packs_dir(), &repo.tmp_dir())?;
    }
    Ok(Fetched {
        packs: got.packs,
        ranged_chunks: 0,
        bytes: got.bytes,
    })
}

/// Downloads every metadata pack, then only the chunks that the layer `resolve` picks (it
/// runs once the metadata is here) needs below `paths` (everything when empty). Returns what
/// was fetched and the layer.
pub fn fetch_partial(
    root: &Path,
    remote: &Remote,
    resolve: impl FnOnce(&Repository) -> Result<ObjectId>,
    paths: &[Vec<u8>],
    progress: &dyn Progress,
) -> Result<(Fetched, ObjectId)> {
    let repo = Repository::open(root)?;
    let listing = list_packs(remote)?;
    let (meta, index) = fetch_metadata(&repo, remote, &listing, progress)?;
    let repo = Repository::open(root)?;
    let layer = resolve(&repo)?;
    let tree = repo.read_layer(&layer)?.tree;
    let chunks = needed_chunks(&repo, &tree, paths)?;
    let got = fetch_chunks(&repo, remote, &index, &listing, &chunks, progress)?;
    let fetched = Fetched {
        packs: meta.packs + got.packs,
        ranged_chunks: got.ranged_chunks,
        bytes: meta.bytes + got.bytes,
    };
    Ok((fetched, layer))
}
