//! Sets of object ids, for the pack writer and the store sink to write each object once.
//!
//! A set holds a 128-bit fingerprint of each id, not the id: the first half of BLAKE3's
//! keyed hash of the id, under a 256-bit key drawn from the kernel's random source for each
//! set, in a packed list, with a table of their positions (4 bytes and a control byte a
//! bucket). That is 22 to 27 bytes an id; the ids themselves (32 bytes
//! each, and a table of positions) took 38 to 44, 44 MB of a full add's peak at a million
//! small files, and a `HashSet<ObjectId>` 38 to 75.
//!
//! Two different ids share a fingerprint with probability 2^-128 a pair: about 2^-89 among
//! the million chunks of a million-file add, far below the odds that the machine's memory
//! flips the bit that matters. The key is secret and new for every set, so content
//! chosen by anyone cannot be crafted to collide (nor to crowd one shard or one stretch of
//! a table), as it could with a fingerprint cut from the ids, which are hashes of content.

use std::sync::Mutex;

use hashbrown::HashTable;

use crate::hash::ObjectId;

/// The key of the fingerprints one set (or every shard of one set) holds.
struct Keys([u8; 32]);

impl Keys {
    fn new() -> Keys {
        Keys(crate::fsutil::random_key())
    }

    fn fingerprint(&self, id: &ObjectId) -> u128 {
        let h = blake3::keyed_hash(&self.0, &id.0);
        let half: [u8; 16] = h.as_bytes()[..16].try_into().expect("16 of 32 bytes");
        u128::from_le_bytes(half)
    }
}

/// The table's hash of a fingerprint: its low half (the shard goes by the high bits).
fn table_hash(fp: u128) -> u64 {
    fp as u64
}

/// Fingerprints, each once; see the module comment.
#[derive(Default)]
struct Fingerprints {
    fps: Vec<u128>,
    /// Positions in `fps`.
    table: HashTable<u32>,
}

impl Fingerprints {
    /// Adds `fp`; whether it was new.
    fn insert(&mut self, fp: u128) -> bool {
        let fps = &self.fps;
        if self
            .table
            .find(table_hash(fp), |&i| fps[i as usize] == fp)
            .is_some()
        {
            return false;
        }
        let at = u32::try_from(fps.len()).expect("fewer than 4 billion objects in one run");
        self.table
            .insert_unique(table_hash(fp), at, |&i| table_hash(fps[i as usize]));
        self.fps.push(fp);
        true
    }
}

/// A set of object ids; see the module comment.
pub(crate) struct IdSet {
    keys: Keys,
    set: Fingerprints,
}

impl Default for IdSet {
    fn default() -> IdSet {
        IdSet {
            keys: Keys::new(),
            set: Fingerprints::default(),
        }
    }
}

impl IdSet {
    /// Adds `id`; whether it was new.
    pub(crate) fn insert(&mut self, id: ObjectId) -> bool {
        self.set.insert(self.keys.fingerprint(&id))
    }
}

/// An [`IdSet`] that threads share, in shards locked one at a time.
pub(crate) struct SharedIdSet {
    keys: Keys,
    shards: Box<[Mutex<Fingerprints>]>,
}

/// Enough shards that hashing threads rarely wait for one another.
const SHARDS: usize = 64;

impl Default for SharedIdSet {
    fn default() -> SharedIdSet {
        SharedIdSet {
            keys: Keys::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl SharedIdSet {
    /// Adds `id`; whether it was new (to exactly one of the threads adding it at once).
    pub(crate) fn insert(&self, id: ObjectId) -> bool {
        let fp = self.keys.fingerprint(&id);
        // The shard goes by the fingerprint's top bits, the table's hash by its low half.
        let shard = &self.shards[(fp >> 122) as usize % SHARDS];
        shard.lock().expect("no panics holding a shard").insert(fp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Domain, HashAlgo};

    fn id(i: u32) -> ObjectId {
        HashAlgo::Blake3.hash(Domain::Chunk, &i.to_le_bytes())
    }

    /// Each id is new once, through the table's growth, and ids differing in one byte (the
    /// first or the last) stay apart.
    #[test]
    fn each_id_is_new_once() {
        let mut set = IdSet::default();
        for i in 0..50_000 {
            assert!(set.insert(id(i)), "{i}");
        }
        for i in 0..50_000 {
            assert!(!set.insert(id(i)), "{i}");
        }
        assert_eq!(set.set.fps.len(), 50_000);
        let mut near = id(1);
        near.0[0] ^= 1;
        assert!(set.insert(near));
        near.0[31] ^= 1;
        assert!(set.insert(near));
        assert!(!set.insert(near));
    }

    /// Threads adding the same ids at once: each id is new to exactly one of them.
    #[test]
    fn shared_ids_are_new_to_one_thread() {
        let set = SharedIdSet::default();
        let new = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..20_000 {
                        if set.insert(id(i)) {
                            new.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(new.into_inner(), 20_000);
    }
}
