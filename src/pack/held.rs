//! What the writers' lock holder knows of the packs present, and the marker that lets the
//! next holder take them from the multi-pack index instead of listing `packs/`.
//!
//! Listing `packs/` costs a writer milliseconds with thousands of packs (the file system
//! hashes every name again on each listing: a sixth of a one-file commit's CPU with 2,000
//! packs). Every writer under the lock names the packs it publishes in the multi-pack index
//! before it lets go, so the next holder can take the packs present from the table. What
//! the table cannot know is a writer killed between publishing a pack and extending it:
//! such a writer leaves the marker [`UNNAMED_FILE`], created before its first pack is
//! renamed into `packs/` (and durable with it: the index's write syncs the directory that
//! holds both), and removed only once a table names every pack the holder knows of. The
//! next holder lists `packs/` while the marker is there.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{IoContext, Result};
use crate::hash::ObjectId;

/// The marker in `packs/`: an empty file, present while packs may exist that the multi-pack
/// index does not name.
pub const UNNAMED_FILE: &str = "unnamed-packs";

/// The packs present while this process holds the writers' lock, shared by its store and
/// its pack writers.
pub type HeldListing = Arc<Mutex<Held>>;

/// See [`HeldListing`].
#[derive(Debug, Default)]
pub struct Held {
    /// The names of the packs present, sorted: taken with the lock and kept up to date by
    /// this process's pack writers.
    pub names: Vec<ObjectId>,
    /// Whether the marker is there (as far as this process knows: only lock holders touch it).
    marked: bool,
    /// Whether it was there when the lock was taken.
    marked_before: bool,
    /// Packs this process published and has not withdrawn.
    own: usize,
    /// Whether this process began writing a table since it took the lock.
    tabled: bool,
    /// Publications begun and not yet ended.
    publishing: usize,
    /// Publications begun, ever: a table written from names taken before another begins
    /// cannot vouch for it.
    begun: u64,
}

impl Held {
    /// The state with the lock just taken: `names` present, and whether the marker was seen.
    pub(super) fn new(names: Vec<ObjectId>, marked: bool) -> Held {
        Held {
            names,
            marked,
            marked_before: marked,
            ..Held::default()
        }
    }

    /// Before a pack is renamed into `packs_dir`: the marker is put in place first.
    pub(super) fn begin_publish(&mut self, packs_dir: &Path) -> Result<()> {
        if !self.marked {
            mark(packs_dir)?;
            self.marked = true;
        }
        self.publishing += 1;
        self.begun += 1;
        Ok(())
    }

    /// After a publication: `name` when the pack and its index are in place, `None` when
    /// it failed.
    pub(super) fn end_publish(&mut self, name: Option<ObjectId>, packs_dir: &Path) {
        self.publishing -= 1;
        match name {
            Some(name) => {
                self.own += 1;
                self.insert(name);
            }
            None => self.unmark_if_untouched(packs_dir),
        }
    }

    /// Adds `name` to the names present.
    pub(super) fn insert(&mut self, name: ObjectId) {
        if let Err(at) = self.names.binary_search(&name) {
            self.names.insert(at, name);
        }
    }

    /// Before the packs `names`, published by this process, are deleted again (a writer
    /// that failed): a table written meanwhile may name them, so the marker goes back for
    /// the next holder to list `packs/` and write one without them.
    pub(super) fn withdraw(&mut self, names: &[ObjectId], packs_dir: &Path) {
        // Best effort: this runs while a failure unwinds. Without the marker a table that
        // names a gone pack is still never trusted alone by readers (see `Store`).
        self.marked = mark(packs_dir).is_ok() || self.marked;
        self.begun += 1;
        self.own = self.own.saturating_sub(names.len());
        self.names.retain(|n| !names.contains(n));
        self.unmark_if_untouched(packs_dir);
    }

    /// Removes the marker this process put when nothing it did remains: no table written,
    /// every pack it published deleted again. A failed command then leaves `packs/` as it
    /// found it.
    fn unmark_if_untouched(&mut self, packs_dir: &Path) {
        let untouched = !self.tabled && self.own == 0 && self.publishing == 0;
        if self.marked && !self.marked_before && untouched && unmark(packs_dir).is_ok() {
            self.marked = false;
        }
    }

    /// The names present, for a table to be written from, with the stamp to hand to
    /// [`Held::named`] afterwards (`None` while a pack is being published: a table written
    /// now may miss it).
    pub(super) fn snapshot(&mut self) -> (Vec<ObjectId>, Option<u64>) {
        self.tabled = true;
        let quiet = self.publishing == 0;
        (self.names.clone(), quiet.then_some(self.begun))
    }

    /// A table now names every pack of the snapshot `stamp`: the marker goes, unless a
    /// publication began since.
    pub(super) fn named(&mut self, stamp: Option<u64>, packs_dir: &Path) -> Result<()> {
        if self.marked && stamp == Some(self.begun) {
            unmark(packs_dir)?;
            self.marked = false;
        }
        Ok(())
    }
}

/// The held state, also after a panic elsewhere: a plain list of names and counters.
pub(super) fn lock(held: &HeldListing) -> MutexGuard<'_, Held> {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the marker is in `packs_dir`.
pub(super) fn is_marked(packs_dir: &Path) -> bool {
    std::fs::symlink_metadata(packs_dir.join(UNNAMED_FILE)).is_ok()
}

/// Puts the marker in `packs_dir` (an existing one is fine). No sync of its own: the index
/// of the pack published next syncs the directory.
pub fn mark(packs_dir: &Path) -> Result<()> {
    let path = packs_dir.join(UNNAMED_FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map(drop)
        .ctx("could not mark packs/ for listing", &path)
}

/// Removes the marker from `packs_dir`; one already gone is fine. Unsynced: a marker that
/// comes back after a crash only makes the next writer list `packs/`.
fn unmark(packs_dir: &Path) -> Result<()> {
    let path = packs_dir.join(UNNAMED_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx("could not remove the marker of unnamed packs", &path)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_goes_only_when_no_publication_began_since_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let packs = dir.path();
        let mut held = Held::new(Vec::new(), false);
        held.begin_publish(packs).unwrap();
        assert!(is_marked(packs), "marked before the rename");
        assert_eq!(held.snapshot().1, None, "not while publishing");
        held.end_publish(Some(ObjectId([2; 32])), packs);
        let (names, stamp) = held.snapshot();
        assert_eq!(names, vec![ObjectId([2; 32])]);
        held.begin_publish(packs).unwrap();
        held.end_publish(Some(ObjectId([1; 32])), packs);
        held.named(stamp, packs).unwrap();
        assert!(is_marked(packs), "a pack published since keeps it");
        let (names, stamp) = held.snapshot();
        assert_eq!(names, vec![ObjectId([1; 32]), ObjectId([2; 32])]);
        held.named(stamp, packs).unwrap();
        assert!(!is_marked(packs));
        held.begin_publish(packs).unwrap();
        held.end_publish(None, packs);
        assert!(
            is_marked(packs),
            "a failed publication after a table leaves it"
        );
    }

    #[test]
    fn a_holder_that_leaves_nothing_behind_takes_its_marker_away() {
        let dir = tempfile::tempdir().unwrap();
        let packs = dir.path();
        let (a, b) = (ObjectId([1; 32]), ObjectId([2; 32]));
        let mut held = Held::new(Vec::new(), false);
        held.begin_publish(packs).unwrap();
        held.end_publish(None, packs);
        assert!(!is_marked(packs), "a failed publication, nothing else");
        held.begin_publish(packs).unwrap();
        held.end_publish(Some(a), packs);
        held.begin_publish(packs).unwrap();
        held.end_publish(Some(b), packs);
        held.withdraw(&[a], packs);
        assert!(is_marked(packs), "one of its packs stays");
        held.withdraw(&[b], packs);
        assert!(!is_marked(packs), "none stays and no table was written");
        let mut found = Held::new(Vec::new(), true);
        mark(packs).unwrap();
        found.begin_publish(packs).unwrap();
        found.end_publish(Some(a), packs);
        found.withdraw(&[a], packs);
        assert!(is_marked(packs), "a marker found with the lock stays");
    }
}
