//! The mount's memory: verified chunks and trees under one byte budget (`--cache-size`),
//! counted in bytes allocated, not bytes used.
//!
//! Chunks are not kept one allocation each. Evicting them one by one leaves the
//! allocator's pages with holes it cannot return (chunks of 16 to 256 KiB fall in dozens
//! of size classes, each with pages per thread), which doubled the mount's peak memory.
//! Instead chunks are copied into slabs of up to 2 MiB, one slab filled at a time, and a
//! slab is evicted whole: the allocator only ever sees slab-sized blocks come and go, and
//! reuses a freed one for the next. Chunks too big to share a slab stand alone. Trees are
//! units of their own. Slabs and trees share one least-recently-used order, so a `find`
//! fills the budget with trees and a large read with chunks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use lru::LruCache;

use super::dir::DirView;
use crate::error::Result;
use crate::hash::ObjectId;
use crate::repo::Repository;

/// The largest slab: big enough that slabs are few and the allocator maps each alone, small
/// enough that evicting one drops a small part of a 64 MiB cache.
const SLAB_MAX: usize = 2 << 20;
/// The smallest slab, for caches under 8 MiB: still above the size the allocator serves
/// from shared pages (512 KiB), and four of the largest chunks of a 64 KiB average. A
/// cache smaller than this holds one slab.
const SLAB_MIN: usize = 1 << 20;
/// Bytes of bookkeeping per cached chunk (its map entry and its slab's list), counted as
/// held.
const PER_CHUNK: usize = 96;

/// What is evicted at once: a slab (with every chunk in it) or a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unit {
    Slab(u64),
    Tree(ObjectId),
}

/// What a unit holds: bytes it alone holds (a tree, a big chunk), or, for a slab, the
/// chunks in it and, once closed, the handle that takes the slab back after eviction.
struct Held {
    bytes: usize,
    chunks: Vec<ObjectId>,
    tail: Option<BytesMut>,
}

/// The slab being filled: its number and the part not handed out yet.
struct Open {
    slab: u64,
    free: BytesMut,
}

/// Verified chunks and trees, least recently used evicted first past `cap` bytes.
pub(crate) struct Cache {
    inner: Mutex<Inner>,
}

struct Inner {
    chunks: HashMap<ObjectId, (u64, Bytes)>,
    trees: HashMap<ObjectId, Arc<DirView>>,
    units: LruCache<Unit, Held>,
    open: Option<Open>,
    /// Evicted slabs, kept to be filled again once no reader holds their chunks: so the
    /// allocator does not see them freed and allocated again on another thread (where it
    /// would keep the freed ones for a while as well).
    spare: Vec<BytesMut>,
    next_slab: u64,
    /// Bytes allocated for units and spare slabs.
    held: usize,
    cap: usize,
    slab: usize,
}

/// What the cache holds, for tests.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub held: usize,
    pub chunks: usize,
    pub trees: usize,
}

impl Cache {
    /// An empty cache of `cap` bytes.
    pub(crate) fn new(cap: usize) -> Cache {
        Cache {
            inner: Mutex::new(Inner {
                chunks: HashMap::new(),
                trees: HashMap::new(),
                units: LruCache::unbounded(),
                open: None,
                spare: Vec::new(),
                next_slab: 0,
                held: 0,
                cap,
                // Eight slabs in the budget at least, when it is 4 MiB or more.
                slab: (cap / 8).clamp(SLAB_MIN, SLAB_MAX),
            }),
        }
    }

    /// Chunk `id`, from the cache or read from the repository and checked against its id.
    pub(crate) fn chunk(&self, repo: &Repository, id: &ObjectId) -> Result<Bytes> {
        if let Some(hit) = self.lock().hit_chunk(id) {
            return Ok(hit);
        }
        let data = repo.read_chunk(id)?;
        let Some((slab, mut piece)) = self.lock().reserve(data.len()) else {
            return Ok(self.lock().insert_alone(*id, data));
        };
        // Copied outside the lock: the other threads go on finding and keeping chunks.
        piece.extend_from_slice(&data);
        Ok(self.lock().insert_piece(*id, slab, piece.freeze()))
    }

    /// Tree `id`, from the cache or read and checked.
    pub(crate) fn tree(&self, repo: &Repository, id: &ObjectId) -> Result<Arc<DirView>> {
        if let Some(hit) = self.lock().hit_tree(id) {
            return Ok(hit);
        }
        let view = Arc::new(DirView::load(repo, id)?);
        Ok(self.lock().insert_tree(*id, view))
    }

    /// The bytes the cache may hold.
    pub(crate) fn cap(&self) -> usize {
        self.lock().cap
    }

    #[cfg(test)]
    pub(crate) fn usage(&self) -> Usage {
        let inner = self.lock();
        Usage {
            held: inner.held,
            chunks: inner.chunks.len(),
            trees: inner.trees.len(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change below leaves the maps and the count consistent before anything that
        // could panic; at worst a panic mid-way leaves a unit counted until it is evicted.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn hit_chunk(&mut self, id: &ObjectId) -> Option<Bytes> {
        let (slab, bytes) = self.chunks.get(id)?;
        let bytes = bytes.clone();
        self.units.promote(&Unit::Slab(*slab));
        Some(bytes)
    }

    fn hit_tree(&mut self, id: &ObjectId) -> Option<Arc<DirView>> {
        let view = Arc::clone(self.trees.get(id)?);
        self.units.promote(&Unit::Tree(*id));
        Some(view)
    }

    /// Keeps `data` (chunk `id`, just read) and returns it as the cache holds it.
    #[cfg(test)]
    fn insert_chunk(&mut self, id: ObjectId, data: Vec<u8>) -> Bytes {
        match self.reserve(data.len()) {
            Some((slab, mut piece)) => {
                piece.extend_from_slice(&data);
                self.insert_piece(id, slab, piece.freeze())
            }
            None => self.insert_alone(id, data),
        }
    }

    /// Room for a chunk of `len` bytes in the open slab, opening a new one when it is full:
    /// the slab's number and an empty buffer of that capacity. None for a chunk too big to
    /// share a slab.
    fn reserve(&mut self, len: usize) -> Option<(u64, BytesMut)> {
        if len > self.slab / 2 {
            return None;
        }
        if self.open.as_ref().is_none_or(|o| o.free.capacity() < len) {
            self.open_slab();
        }
        let open = self
            .open
            .as_mut()
            .expect("a slab with room was just opened");
        let rest = open.free.split_off(len);
        Some((open.slab, std::mem::replace(&mut open.free, rest)))
    }

    /// Keeps chunk `id`, copied into room `reserve` gave in `slab`, unless another thread
    /// kept it first or the slab was evicted meanwhile.
    fn insert_piece(&mut self, id: ObjectId, slab: u64, bytes: Bytes) -> Bytes {
        if let Some(hit) = self.hit_chunk(&id) {
            return hit;
        }
        let Some(held) = self.units.get_mut(&Unit::Slab(slab)) else {
            return bytes;
        };
        held.chunks.push(id);
        self.chunks.insert(id, (slab, bytes.clone()));
        self.held += PER_CHUNK;
        bytes
    }

    /// Keeps chunk `id`, too big to share a slab, as a unit of its own, its allocation
    /// kept as it is.
    fn insert_alone(&mut self, id: ObjectId, data: Vec<u8>) -> Bytes {
        if let Some(hit) = self.hit_chunk(&id) {
            return hit;
        }
        let bytes = data.capacity();
        self.make_room(bytes + PER_CHUNK);
        let slab = self.new_unit_number();
        self.add(Unit::Slab(slab), bytes, None);
        self.insert_piece(id, slab, Bytes::from(data))
    }

    /// Closes the open slab (what is left of it stays unused, and counted) and opens a new
    /// one: an evicted slab no reader holds any more if there is one, else a new one once
    /// there is room for it.
    fn open_slab(&mut self) {
        self.close_slab();
        let free = loop {
            if let Some(free) = self.reuse_spare() {
                break free;
            }
            if self.held + self.slab <= self.cap {
                self.held += self.slab;
                break BytesMut::with_capacity(self.slab);
            }
            if !self.evict_one() {
                // Only spares still read from are left: they are let go (their memory
                // returns to the allocator once their readers are done) for a new slab.
                self.held -= self.slab * self.spare.len();
                self.spare.clear();
                self.held += self.slab;
                break BytesMut::with_capacity(self.slab);
            }
        };
        let slab = self.new_unit_number();
        self.add(Unit::Slab(slab), 0, None);
        self.open = Some(Open { slab, free });
    }

    /// Keeps what is left of the open slab with it, to take the slab back once evicted.
    fn close_slab(&mut self) {
        if let Some(open) = self.open.take() {
            if let Some(held) = self.units.peek_mut(&Unit::Slab(open.slab)) {
                held.tail = Some(open.free);
            }
        }
    }

    /// An evicted slab whose chunks no reader holds any more, emptied for reuse.
    fn reuse_spare(&mut self) -> Option<BytesMut> {
        let slab = self.slab;
        let i = self.spare.iter_mut().position(|b| b.try_reclaim(slab))?;
        Some(self.spare.swap_remove(i))
    }

    fn insert_tree(&mut self, id: ObjectId, view: Arc<DirView>) -> Arc<DirView> {
        if let Some(hit) = self.hit_tree(&id) {
            return hit;
        }
        self.make_room(view.weight());
        self.add(Unit::Tree(id), view.weight(), None);
        self.trees.insert(id, Arc::clone(&view));
        view
    }

    fn new_unit_number(&mut self) -> u64 {
        self.next_slab += 1;
        self.next_slab
    }

    /// Adds `unit` and the `bytes` it newly holds.
    fn add(&mut self, unit: Unit, bytes: usize, tail: Option<BytesMut>) {
        let held = Held {
            bytes,
            chunks: Vec::new(),
            tail,
        };
        self.units.put(unit, held);
        self.held += bytes;
    }

    /// Makes room for `need` bytes outside slabs: spare slabs are let go first, then least
    /// recently used units evicted. What is in use stays alive with its users (an open
    /// file's read, a listing) and is freed after them.
    fn make_room(&mut self, need: usize) {
        while self.held + need > self.cap {
            if self.spare.pop().is_some() {
                self.held -= self.slab;
            } else if !self.evict_one() {
                return;
            }
        }
    }

    /// Evicts the least recently used unit: a tree or a big chunk is freed, a slab becomes
    /// a spare (still counted). False when there is nothing to evict.
    fn evict_one(&mut self) -> bool {
        let Some((unit, held)) = self.units.pop_lru() else {
            return false;
        };
        self.held -= PER_CHUNK * held.chunks.len();
        for id in &held.chunks {
            self.chunks.remove(id);
        }
        match unit {
            Unit::Tree(id) => {
                self.trees.remove(&id);
                self.held -= held.bytes;
            }
            Unit::Slab(slab) => {
                let open = self.open.take_if(|o| o.slab == slab).map(|o| o.free);
                match open.or(held.tail) {
                    Some(tail) => self.spare.push(tail),
                    None => self.held -= held.bytes,
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> ObjectId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        ObjectId::from_slice(&b).unwrap()
    }

    fn fill(n: u32, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u32 ^ n) as u8).collect()
    }

    #[test]
    fn chunks_are_kept_and_found_with_their_bytes() {
        let c = Cache::new(8 << 20);
        let mut inner = c.lock();
        for n in 0..20 {
            let got = inner.insert_chunk(id(n), fill(n, 10_000 + n as usize));
            assert_eq!(&got[..], &fill(n, 10_000 + n as usize)[..]);
        }
        for n in 0..20 {
            let hit = inner.hit_chunk(&id(n)).expect("cached");
            assert_eq!(&hit[..], &fill(n, 10_000 + n as usize)[..]);
        }
        assert!(inner.hit_chunk(&id(99)).is_none());
    }

    #[test]
    fn what_is_held_never_passes_the_budget() {
        let cap = 8 << 20;
        let c = Cache::new(cap);
        for n in 0..2000 {
            // 16 to 256 KiB, as chunks of a 64 KiB average are.
            let len = (16 << 10) + (n as usize * 7919) % (240 << 10);
            c.lock().insert_chunk(id(n), fill(n, len));
            let u = c.usage();
            assert!(u.held <= cap, "{} held of {cap}", u.held);
        }
        let u = c.usage();
        assert!(u.held > cap * 3 / 4, "the budget is used: {}", u.held);
        assert!(u.chunks > 30);
    }

    #[test]
    fn the_least_recently_used_slab_goes_first_and_whole() {
        // 1 MiB slabs, 256 KiB chunks: four to a slab, seven slabs in the budget.
        let c = Cache::new(8 << 20);
        let mut inner = c.lock();
        assert_eq!(inner.slab, 1 << 20);
        for n in 0..28 {
            inner.insert_chunk(id(n), fill(n, 256 << 10));
        }
        assert_eq!(inner.chunks.len(), 28, "nothing evicted yet");
        // Chunk 0's slab is used again: the next eviction takes the second slab.
        assert!(inner.hit_chunk(&id(0)).is_some());
        for n in 28..32 {
            inner.insert_chunk(id(n), fill(n, 256 << 10));
        }
        let first = (0..4).all(|n| inner.hit_chunk(&id(n)).is_some());
        assert!(first, "chunk 0 and its slab mates stay");
        let second = (4..8).all(|n| inner.hit_chunk(&id(n)).is_none());
        assert!(second, "the second slab was evicted whole");
        assert!((8..32).all(|n| inner.hit_chunk(&id(n)).is_some()));
    }

    #[test]
    fn trees_and_chunks_share_the_budget() {
        let c = Cache::new(8 << 20);
        let mut inner = c.lock();
        for n in 0..28 {
            inner.insert_chunk(id(n), fill(n, 256 << 10));
        }
        let tree = Arc::new(DirView::for_test(7 << 19));
        inner.insert_tree(id(1000), Arc::clone(&tree));
        assert!(inner.held <= 8 << 20, "{}", inner.held);
        assert!(inner.hit_tree(&id(1000)).is_some());
        let gone = (0..12).all(|n| inner.hit_chunk(&id(n)).is_none());
        assert!(gone, "the three oldest slabs made room for the tree");
        assert!((12..28).all(|n| inner.hit_chunk(&id(n)).is_some()));
    }

    #[test]
    fn a_big_chunk_stands_alone_and_counts_its_allocation() {
        let c = Cache::new(8 << 20);
        let mut data = Vec::with_capacity(700_000);
        data.extend_from_slice(&fill(1, 600_000));
        let got = c.lock().insert_chunk(id(1), data);
        assert_eq!(&got[..], &fill(1, 600_000)[..]);
        assert_eq!(c.usage().held, 700_000 + PER_CHUNK);
    }

    #[test]
    fn a_chunk_in_use_outlives_its_eviction() {
        let c = Cache::new(1 << 20);
        let held = c.lock().insert_chunk(id(0), fill(0, 16 << 10));
        for n in 1..200 {
            c.lock().insert_chunk(id(n), fill(n, 16 << 10));
        }
        assert!(c.lock().hit_chunk(&id(0)).is_none(), "evicted");
        assert_eq!(
            &held[..],
            &fill(0, 16 << 10)[..],
            "still readable by its user"
        );
    }
}
