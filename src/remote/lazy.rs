//! Fetching chunks when they are first read: a partial clone's mount reads a file whose
//! chunks were never fetched, and they come from the remote it was cloned from, by byte
//! range, checked against their ids and kept in new local packs (`partial::fetch_chunks`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use super::config::Remotes;
use super::index::{list_packs, RemoteIndex, RemotePack};
use super::partial::{fetch_chunks, PartialFetch};
use super::Remote;
use crate::error::Result;
use crate::hash::ObjectId;
use crate::progress::NoProgress;
use crate::repo::Repository;

/// The remote's pack listing and indexes, loaded at the first miss.
type Known = (BTreeMap<ObjectId, RemotePack>, RemoteIndex);

/// The remote a repository's missing chunks are fetched from.
pub struct LazyRemote {
    remote: Remote,
    known: Mutex<Option<Known>>,
    lock_timeout: Duration,
}

impl LazyRemote {
    /// The repository's remote (`origin`, or its only one), or `None` when it has none.
    /// Nothing is sent until the first fetch.
    pub fn for_repo(repo: &Repository, lock_timeout: Duration) -> Result<Option<LazyRemote>> {
        let remotes = Remotes::load(repo.dir())?;
        if remotes.remote.is_empty() {
            return Ok(None);
        }
        let (name, spec) = remotes.pick(None, repo.dir())?;
        Ok(Some(LazyRemote {
            remote: Remote::open(&name, &spec, false)?,
            known: Mutex::new(None),
            lock_timeout,
        }))
    }

    /// The remote's name and URL, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.remote.name, self.remote.url())
    }

    /// Fetches those of `chunks` the repository lacks and lists the packs again, so the
    /// store sees them. Takes the writers' lock while it writes packs (gc must not take
    /// a half-written pack for an orphan); one fetch at a time.
    pub fn fetch(&self, repo: &Repository, chunks: &HashSet<ObjectId>) -> Result<PartialFetch> {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let locked = repo.lock(self.lock_timeout)?;
        let missing: HashSet<ObjectId> = chunks
            .iter()
            .filter(|id| locked.store.locate(id).is_none())
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(PartialFetch::default());
        }
        if known.is_none() {
            let listing = list_packs(&self.remote)?;
            let names: Vec<ObjectId> = listing
                .iter()
                .filter(|(_, p)| p.complete())
                .map(|(n, _)| *n)
                .collect();
            let index = RemoteIndex::load(&locked, &self.remote, &names)?;
            *known = Some((listing, index));
        }
        let (listing, index) = known.as_ref().expect("loaded just above");
        let got = fetch_chunks(&locked, &self.remote, index, listing, &missing, &NoProgress)?;
        drop(locked);
        repo.store.refresh()?;
        Ok(got)
    }
}
