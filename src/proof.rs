//! Merkle proofs: a self-contained JSON document that binds one path of a layer (its kind,
//! mode, size and content id, and optionally some of its bytes) to the layer's id, checkable
//! with no repository.
//!
//! The chain is: layer id = `H(Layer, layer encoding)`; the encoding holds the root tree id;
//! each directory level carries one encoded tree entry and its audit path up to the tree id
//! of the level above; a content section carries the chunks covering a byte range and the
//! hashes that complete the file id from their leaves. Everything is specified, with a worked
//! example, in docs/PROOFS.md.
//!
//! Two things the hashes cannot bind are pinned otherwise, so that no byte of a proof can
//! change unnoticed: the leaf counts and the byte range (a different count can give the same
//! audit path shape; a different range within the same chunks is still true) are covered by
//! the `check` digest, and the verifier only accepts the canonical JSON serialisation.

mod audit;
mod bounded;
mod hex;
mod range;
mod verify;

use serde::{Deserialize, Serialize};

use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::object::{ChunkRef, EntryKind, FileObject};

pub use audit::root_and_path;
pub use hex::{from_hex, to_hex, Hex, HexId};
pub use range::{range_proof, root_from_range};
pub use verify::{verify, verify_json};

/// The `format` string every proof document carries.
pub const PROOF_FORMAT: &str = "cairn-proof";
/// The proof format version this build writes and accepts.
pub const PROOF_VERSION: u32 = 1;
/// The most chunk bytes one proof carries (the chunks covering the range, not the range).
pub const MAX_CONTENT_BYTES: u64 = 64 << 20;
/// The largest proof file the verifier reads: the content in hex and room for the rest.
pub const MAX_PROOF_BYTES: u64 = 2 * MAX_CONTENT_BYTES + (32 << 20);
/// Directory levels: more than any file system allows in a path.
const MAX_LEVELS: usize = 4096;
/// Trees and files have at most `u32::MAX` leaves, so an audit path has at most 32 hashes
/// and a range proof at most two per level.
const MAX_LEAVES: u64 = u32::MAX as u64;
const MAX_AUDIT: usize = 32;
const MAX_RANGE_PROOF: usize = 64;
/// Chunks in a content section: its at most [`MAX_CONTENT_BYTES`] in chunks of at least 64
/// bytes (the chunker's smallest minimum), and a last one that may be shorter.
const MAX_CHUNKS: usize = (MAX_CONTENT_BYTES / 64) as usize + 1;

/// Why a proof was not accepted. `Malformed`: not a proof document at all (bad JSON, bad
/// hex, an unknown version or algorithm). `Invalid`: a well-formed proof that does not prove
/// what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not a proof document: bad JSON, bad hex, an unknown version or algorithm. Says what.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// A well-formed proof that does not prove what it claims. Says which check failed.
    #[error("proof does not verify: {0}")]
    Invalid(String),
}

fn invalid<T>(why: impl Into<String>) -> Result<T, ProofError> {
    Err(ProofError::Invalid(why.into()))
}

/// The kind of the proven entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (its content is the target).
    Symlink,
}

impl From<EntryKind> for Kind {
    fn from(k: EntryKind) -> Kind {
        match k {
            EntryKind::File => Kind::File,
            EntryKind::Dir => Kind::Dir,
            EntryKind::Symlink => Kind::Symlink,
        }
    }
}

/// A proof document. Field order is the serialisation order, which is part of the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// Always `cairn-proof`.
    pub format: String,
    /// The proof format version: [`PROOF_VERSION`].
    pub version: u32,
    /// The hash algorithm of the repository the layer came from.
    pub hash: HashAlgo,
    /// The layer id the proof binds the path to.
    pub layer: HexId,
    /// The layer object's encoding, which hashes to `layer` and names the root tree.
    pub layer_encoding: Hex,
    /// The path, `/`-separated, as UTF-8 (lossy); `path_hex` holds the exact bytes.
    pub path: String,
    /// The exact bytes of the path, in hex.
    pub path_hex: Hex,
    /// What the proof establishes about the entry, repeated from the last level's encoding.
    pub kind: Kind,
    /// Permission bits of the entry (zero for a directory).
    pub mode: u32,
    /// Length in bytes for a file or symlink, the bytes of all files below for a directory.
    pub size: u64,
    /// The entry's content id: a file id, or a tree id for a directory.
    pub id: HexId,
    /// One per path component, from the root down.
    #[serde(deserialize_with = "bounded::vec::<_, _, MAX_LEVELS>")]
    pub levels: Vec<Level>,
    /// Some bytes of the file with what proves them; `None` when the proof covers the entry only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Binds the numbers the merkle hashes cannot: see [`Proof::expected_check`].
    pub check: HexId,
}

/// One directory level: an entry of the tree named by the level above (the layer's root
/// tree for the first level), and its RFC 6962 audit path in that tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// The encoded tree entry, hashed as the leaf `H(TreeLeaf, entry)`.
    pub entry: Hex,
    /// The entry's position in its tree, from zero.
    pub index: u64,
    /// How many entries the tree holds.
    pub count: u64,
    /// Sibling hashes, lowest first.
    #[serde(deserialize_with = "bounded::vec::<_, _, MAX_AUDIT>")]
    pub audit_path: Vec<HexId>,
}

/// Bytes of a file and what it takes to rebuild the file id from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// The proven bytes: `start..end`, end exclusive.
    pub start: u64,
    /// End of the proven bytes, exclusive.
    pub end: u64,
    /// Leaves (chunks) of the whole file.
    pub leaf_count: u64,
    /// The index of the first chunk below.
    pub first_leaf: u64,
    /// The consecutive chunks that cover `start..end`.
    #[serde(deserialize_with = "bounded::vec::<_, _, MAX_CHUNKS>")]
    pub chunks: Vec<ChunkProof>,
    /// The roots of the subtrees outside the chunks, depth first, left to right.
    #[serde(deserialize_with = "bounded::vec::<_, _, MAX_RANGE_PROOF>")]
    pub range_proof: Vec<HexId>,
}

/// One chunk of the file, with its bytes, in a content section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkProof {
    /// The chunk's id, recomputed from `data` by the verifier.
    pub id: HexId,
    /// Where the chunk starts in the file, in bytes.
    pub offset: u64,
    /// The chunk's length in bytes.
    pub len: u32,
    /// The chunk's bytes.
    pub data: Hex,
}

/// What a proof established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verified {
    /// The layer id the proof was checked against.
    pub layer: ObjectId,
    /// The hash algorithm the proof was checked with.
    pub hash: HashAlgo,
    /// The layer's root tree id.
    pub tree: ObjectId,
    /// The path, `/`-separated, as UTF-8 (lossy).
    pub path: String,
    /// The exact bytes of the path, in hex.
    pub path_hex: String,
    /// What the entry is.
    pub kind: Kind,
    /// Permission bits of the entry (zero for a directory).
    pub mode: u32,
    /// Length in bytes for a file or symlink, the bytes of all files below for a directory.
    pub size: u64,
    /// The entry's modification time in nanoseconds since the Unix epoch, as committed (zero for a
    /// directory).
    pub mtime_ns: i64,
    /// The entry's content id: a file id, or a tree id for a directory.
    pub id: ObjectId,
    /// The bytes the proof carried and proved; `None` for a proof of the entry only.
    pub range: Option<ProvenBytes>,
}

/// Proven bytes, with plain (unkeyed) digests for comparing with `b3sum` and `sha256sum`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ProvenBytes {
    /// First proven byte's offset in the file.
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    /// Number of proven bytes: `end - start`.
    pub len: u64,
    /// Plain BLAKE3 of the bytes, in hex, as `b3sum` prints it.
    pub blake3: String,
    /// Plain SHA-256 of the bytes, in hex, as `sha256sum` prints it.
    pub sha256: String,
    /// The proven bytes themselves (not serialised).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl Level {
    /// The level proving entry `index` (encoded as `entry`) of a tree of `count` entries,
    /// with its audit path from [`root_and_path`].
    pub fn new(entry: Vec<u8>, index: usize, count: usize, path: Vec<ObjectId>) -> Level {
        Level {
            entry: Hex(entry),
            index: index as u64,
            count: count as u64,
            audit_path: path.into_iter().map(HexId).collect(),
        }
    }
}

/// The chunks `a..b` of `chunks` that cover bytes `start..end` (`start == end`: none).
pub fn covering(chunks: &[ChunkRef], start: u64, end: u64) -> (usize, usize) {
    let (mut a, mut b, mut off) = (chunks.len(), 0, 0u64);
    for (i, c) in chunks.iter().enumerate() {
        let ce = off + u64::from(c.len);
        if ce > start && off < end {
            a = a.min(i);
            b = i + 1;
        }
        off = ce;
    }
    if b == 0 {
        return (0, 0);
    }
    (a, b)
}

impl Content {
    /// The content section for bytes `start..end` of `obj`, given the data of the covering
    /// chunks `first..first + data.len()`.
    pub fn new(
        algo: HashAlgo,
        obj: &FileObject,
        start: u64,
        end: u64,
        first: usize,
        data: Vec<Vec<u8>>,
    ) -> Content {
        let leaves = obj.leaves(algo);
        let mut offset: u64 = obj.chunks[..first].iter().map(|c| u64::from(c.len)).sum();
        let mut chunks = Vec::with_capacity(data.len());
        for (c, d) in obj.chunks[first..].iter().zip(data) {
            chunks.push(ChunkProof {
                id: HexId(c.id),
                offset,
                len: c.len,
                data: Hex(d),
            });
            offset += u64::from(c.len);
        }
        let last = first + chunks.len();
        let proof = range_proof(algo, Domain::FileNode, &leaves, first, last);
        Content {
            start,
            end,
            leaf_count: leaves.len() as u64,
            first_leaf: first as u64,
            chunks,
            range_proof: proof.into_iter().map(HexId).collect(),
        }
    }
}

impl Proof {
    /// The digest in `check`: `H(Checksum, u64 LE values)` over the level count, each
    /// level's index and count, and (with content) start, end, leaf count and first leaf.
    /// It is not a security measure (anyone can recompute it); it makes an accidental change
    /// to those numbers fail, where the merkle hashes alone would accept an equally true
    /// statement.
    pub fn expected_check(&self) -> ObjectId {
        let mut h = self.hash.hasher(Domain::Checksum);
        h.update(&(self.levels.len() as u64).to_le_bytes());
        for l in &self.levels {
            h.update(&l.index.to_le_bytes());
            h.update(&l.count.to_le_bytes());
        }
        if let Some(c) = &self.content {
            for n in [c.start, c.end, c.leaf_count, c.first_leaf] {
                h.update(&n.to_le_bytes());
            }
        }
        h.finish()
    }

    /// Sets `check` from the other fields.
    pub fn seal(&mut self) {
        self.check = HexId(self.expected_check());
    }

    /// The canonical serialisation: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a proof always serialises");
        s.push('\n');
        s
    }

    /// Parses a proof document (no verification).
    pub fn from_json(bytes: &[u8]) -> Result<Proof, ProofError> {
        serde_json::from_slice(bytes).map_err(|e| ProofError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
