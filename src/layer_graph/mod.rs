//! The layer graph (`.cairn/layer-graph`): every layer the refs reached when it was
//! written, sorted by id, each with its parent's position in the table, its root tree and
//! its time, so that a walk back through parents (`HEAD~5000`, ancestry) is a table lookup
//! per step instead of a layer object read from a pack of its own (git's commit-graph).
//!
//! ```text
//! header (24):   magic "CAIRNLGR" | version u32 = 1 | hash u32 (1 BLAKE3, 2 SHA-256) |
//!                count u32 | reserved u32 = 0
//! fan-out:       256 x u32, fanout[b] = number of entries whose id's first byte <= b
//! entries:       count x (id 32 | tree 32 | time_ns i64 | parent u32 | depth u32), sorted
//!                by id, no duplicates; parent = 0xffff_ffff for a first layer
//! checksum (32): H(Checksum, every byte before it)
//! ```
//! All integers little-endian. `depth` is the number of layers in the chain ending at the
//! entry (1 for a first layer), so every step to a parent lowers it by one: a table whose
//! parents loop cannot pass the checks. The file is derived data: opening checks every byte
//! (checksum, order, positions, depths), and a table that fails is not used at all.

mod walk;
mod write;

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{Error, IoContext, Result};
use crate::hash::{Domain, HashAlgo, ObjectId};

pub use walk::{is_stored_layer, nth_ancestor, Parents};
pub use write::{after_commit, after_pull, check, rebuild, update, LayerFacts, UNCOVERED_LIMIT};

/// The file's name inside `.cairn`.
pub const GRAPH_FILE: &str = "layer-graph";
const MAGIC: &[u8; 8] = b"CAIRNLGR";
/// The layer graph format version.
pub const GRAPH_VERSION: u32 = 1;
const HEADER: usize = 24;
const FANOUT: usize = 256 * 4;
const SUM: usize = 32;
/// Bytes per entry.
pub const ENTRY_LEN: usize = 32 + 32 + 8 + 4 + 4;
/// The parent field of a first layer.
const NO_PARENT: u32 = u32::MAX;

/// One layer as the graph lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphEntry {
    /// The layer's id.
    pub id: ObjectId,
    /// Its root tree.
    pub tree: ObjectId,
    /// Its time, as the layer records it.
    pub time_ns: i64,
    /// Its parent's position in the table; `None` for a first layer.
    pub parent: Option<u32>,
    /// The number of layers in its chain, itself included.
    pub depth: u32,
}

/// A layer as the writer gives it: the parent by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// The layer's id.
    pub id: ObjectId,
    /// Its root tree.
    pub tree: ObjectId,
    /// Its time.
    pub time_ns: i64,
    /// Its parent's id.
    pub parent: Option<ObjectId>,
}

enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

/// An opened layer graph, every byte of it checked.
pub struct LayerGraph {
    bytes: Bytes,
    count: usize,
}

impl LayerGraph {
    /// Maps the layer graph at `path` and checks it; `Ok(None)` when there is none.
    pub fn open(path: &Path, algo: HashAlgo) -> Result<Option<LayerGraph>> {
        let file = match File::open(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            r => r.ctx("could not open the layer graph", path)?,
        };
        let map = crate::fsutil::map_immutable(&file).ctx("could not map the layer graph", path)?;
        LayerGraph::new(Bytes::Mapped(map), algo)
            .map(Some)
            .map_err(|d| Error::corrupt("layer graph", path, d))
    }

    /// A layer graph held in memory (tests and fuzzing), checked.
    pub fn from_bytes(bytes: Vec<u8>, algo: HashAlgo) -> std::result::Result<LayerGraph, String> {
        LayerGraph::new(Bytes::Owned(bytes), algo)
    }

    fn new(bytes: Bytes, algo: HashAlgo) -> std::result::Result<LayerGraph, String> {
        let count = check_all(bytes.as_slice(), algo)?;
        Ok(LayerGraph { bytes, count })
    }

    /// The number of layers it lists.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when it lists no layer.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// The id at position `pos` (below [`LayerGraph::len`]).
    pub fn id(&self, pos: u32) -> ObjectId {
        ObjectId::from_slice(id_at(self.bytes(), pos as usize)).expect("32 bytes")
    }

    /// The entry at position `pos` (below [`LayerGraph::len`]).
    pub fn entry(&self, pos: u32) -> GraphEntry {
        decode_entry(self.bytes(), pos as usize)
    }

    /// The position of `id`, by binary search in its fan-out bucket.
    pub fn find(&self, id: &ObjectId) -> Option<u32> {
        let b = id.0[0] as usize;
        let lo = if b == 0 {
            0
        } else {
            fanout_at(self.bytes(), b - 1)
        };
        let hi = fanout_at(self.bytes(), b);
        let ids = |i: usize| id_at(self.bytes(), i);
        crate::pack::search_bucket((lo, hi), id, ids).map(|i| i as u32)
    }

    /// Every entry in id order.
    pub fn entries(&self) -> impl Iterator<Item = GraphEntry> + '_ {
        (0..self.count as u32).map(|p| self.entry(p))
    }
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn fanout_at(b: &[u8], i: usize) -> usize {
    le32(b, HEADER + i * 4) as usize
}

fn entry_at(i: usize) -> usize {
    HEADER + FANOUT + i * ENTRY_LEN
}

fn id_at(b: &[u8], i: usize) -> &[u8] {
    &b[entry_at(i)..entry_at(i) + 32]
}

fn decode_entry(b: &[u8], i: usize) -> GraphEntry {
    let s = entry_at(i);
    let e = &b[s..s + ENTRY_LEN];
    let parent = le32(e, 72);
    GraphEntry {
        id: ObjectId::from_slice(&e[..32]).expect("32 bytes"),
        tree: ObjectId::from_slice(&e[32..64]).expect("32 bytes"),
        time_ns: i64::from_le_bytes(e[64..72].try_into().expect("8 bytes")),
        parent: (parent != NO_PARENT).then_some(parent),
        depth: le32(e, 76),
    }
}

/// The hash algorithm's number in the header.
fn algo_code(algo: HashAlgo) -> u32 {
    match algo {
        HashAlgo::Blake3 => 1,
        HashAlgo::Sha256 => 2,
    }
}

/// Checks every byte: magic, version, hash, reserved word, length, checksum, a monotone
/// fan-out ending at the count, ids strictly ascending in their buckets, parents in range,
/// depths one below each child's. Returns the count.
fn check_all(b: &[u8], algo: HashAlgo) -> std::result::Result<usize, String> {
    if b.len() < HEADER + FANOUT + SUM || &b[..8] != MAGIC {
        return Err("not a cairn layer graph".into());
    }
    let version = le32(b, 8);
    if version != GRAPH_VERSION {
        return Err(format!("unsupported layer graph version {version}"));
    }
    if le32(b, 12) != algo_code(algo) {
        return Err(format!(
            "not written for this repository's hash, {}",
            algo.name()
        ));
    }
    let count = le32(b, 16) as usize;
    if le32(b, 20) != 0 {
        return Err("reserved bytes are not zero".into());
    }
    if b.len() as u64 != entry_at(0) as u64 + count as u64 * ENTRY_LEN as u64 + SUM as u64 {
        return Err("length does not match the entry count".into());
    }
    let end = b.len() - SUM;
    if algo.hash(Domain::Checksum, &b[..end]).as_bytes() != &b[end..] {
        return Err("checksum does not match".into());
    }
    crate::pack::check_fanout(count, |i| fanout_at(b, i))?;
    check_entries(b, count)?;
    Ok(count)
}

/// Order, buckets, parents and depths. A parent's depth is read from its own entry, so
/// depths that fit each step cannot form a loop (they would have to fall forever).
fn check_entries(b: &[u8], count: usize) -> std::result::Result<(), String> {
    let mut bucket = 0usize;
    for i in 0..count {
        while fanout_at(b, bucket) <= i {
            bucket += 1;
        }
        let id = id_at(b, i);
        if id[0] as usize != bucket || (i > 0 && id_at(b, i - 1) >= id) {
            return Err(format!("entry {i} is out of order"));
        }
        let e = decode_entry(b, i);
        let want = match e.parent {
            None => Some(1),
            Some(p) if (p as usize) < count => decode_entry(b, p as usize).depth.checked_add(1),
            Some(p) => return Err(format!("entry {i} names parent position {p}, out of range")),
        };
        if Some(e.depth) != want {
            return Err(format!(
                "entry {i} has depth {}, not one more than its parent's",
                e.depth
            ));
        }
    }
    Ok(())
}

/// Encodes the graph of `nodes` (any order, duplicates dropped). `None` when a node's
/// parent is not among them, when their parents loop, or when there are too many for the
/// format: the writer then leaves the graph as it was.
pub fn encode(algo: HashAlgo, mut nodes: Vec<Node>) -> Option<Vec<u8>> {
    nodes.sort_unstable_by_key(|n| n.id);
    nodes.dedup_by_key(|n| n.id);
    if nodes.len() >= NO_PARENT as usize {
        return None;
    }
    let pos = |id: &ObjectId| nodes.binary_search_by_key(id, |n| n.id).ok();
    let mut parents = Vec::with_capacity(nodes.len());
    for n in &nodes {
        parents.push(match &n.parent {
            None => None,
            Some(p) => Some(pos(p)?),
        });
    }
    let depths = depths(&parents)?;
    let mut out = Vec::with_capacity(entry_at(nodes.len()) + SUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&GRAPH_VERSION.to_le_bytes());
    out.extend_from_slice(&algo_code(algo).to_le_bytes());
    out.extend_from_slice(&(nodes.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut ends = [0u32; 256];
    for n in &nodes {
        ends[n.id.0[0] as usize] += 1;
    }
    let mut total = 0;
    for n in ends {
        total += n;
        out.extend_from_slice(&total.to_le_bytes());
    }
    for (i, n) in nodes.iter().enumerate() {
        out.extend_from_slice(n.id.as_bytes());
        out.extend_from_slice(n.tree.as_bytes());
        out.extend_from_slice(&n.time_ns.to_le_bytes());
        let parent = parents[i].map_or(NO_PARENT, |p| p as u32);
        out.extend_from_slice(&parent.to_le_bytes());
        out.extend_from_slice(&depths[i].to_le_bytes());
    }
    let sum = algo.hash(Domain::Checksum, &out);
    out.extend_from_slice(sum.as_bytes());
    Some(out)
}

/// The depth of every node from its parent's position: an explicit stack, since a chain
/// can be as long as the history. `None` when the parents loop or a depth overflows.
fn depths(parents: &[Option<usize>]) -> Option<Vec<u32>> {
    let mut depth = vec![0u32; parents.len()];
    let mut stack = Vec::new();
    for start in 0..parents.len() {
        let mut at = start;
        while depth[at] == 0 {
            stack.push(at);
            if stack.len() > parents.len() {
                return None;
            }
            match parents[at] {
                Some(p) if depth[p] == 0 => at = p,
                _ => break,
            }
        }
        while let Some(i) = stack.pop() {
            depth[i] = match parents[i] {
                None => 1,
                Some(p) => depth[p].checked_add(1)?,
            };
        }
    }
    Some(depth)
}

#[cfg(test)]
mod tests;
