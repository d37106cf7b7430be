//! Sets of object ids, for the pack writer and the store sink to write each object once.
//!
//! A `HashSet<ObjectId>` holds each id in a bucket of its own, 33 bytes a bucket, and a
//! table is between 7/16 and 7/8 full: 38 to 75 bytes an id, 69 MB for the million chunks
//! of a million small files. Here the ids lie packed in a list (32 bytes each) and the table
//! holds their positions (4 bytes and a control byte a bucket): 38 to 44 bytes an id, and
//! the list of ids grows by doubling without a table of ids to rehash.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::HashTable;

use crate::hash::ObjectId;

/// A set of object ids; see the module comment.
pub(crate) struct IdSet {
    ids: Vec<ObjectId>,
    /// Positions in `ids`.
    table: HashTable<u32>,
    /// Keyed by the process: ids are hashes of content anyone can choose, and a table
    /// indexed by their bytes alone could be filled with colliding ones.
    keys: RandomState,
}

impl Default for IdSet {
    fn default() -> IdSet {
        IdSet {
            ids: Vec::new(),
            table: HashTable::new(),
            keys: RandomState::new(),
        }
    }
}

impl IdSet {
    /// Adds `id`; whether it was new.
    pub(crate) fn insert(&mut self, id: ObjectId) -> bool {
        let hash = self.keys.hash_one(id);
        let ids = &self.ids;
        if self.table.find(hash, |&i| ids[i as usize] == id).is_some() {
            return false;
        }
        let at = u32::try_from(ids.len()).expect("fewer than 4 billion objects in one run");
        let keys = &self.keys;
        self.table
            .insert_unique(hash, at, |&i| keys.hash_one(ids[i as usize]));
        self.ids.push(id);
        true
    }
}

/// An [`IdSet`] that threads share, in shards locked one at a time.
pub(crate) struct SharedIdSet {
    shards: Box<[Mutex<IdSet>]>,
}

/// Enough shards that hashing threads rarely wait for one another.
const SHARDS: usize = 64;

impl Default for SharedIdSet {
    fn default() -> SharedIdSet {
        SharedIdSet {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl SharedIdSet {
    /// Adds `id`; whether it was new (to exactly one of the threads adding it at once).
    pub(crate) fn insert(&self, id: ObjectId) -> bool {
        // The shard goes by an id's last byte, the table's hash by the whole id.
        let shard = &self.shards[usize::from(id.0[31]) % SHARDS];
        shard.lock().expect("no panics holding a shard").insert(id)
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
    /// last one, which picks the shard, or the first) stay apart.
    #[test]
    fn each_id_is_new_once() {
        let mut set = IdSet::default();
        for i in 0..50_000 {
            assert!(set.insert(id(i)), "{i}");
        }
        for i in 0..50_000 {
            assert!(!set.insert(id(i)), "{i}");
        }
        assert_eq!(set.ids.len(), 50_000);
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
