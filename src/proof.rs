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

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;
use crate::object::{file, ChunkRef, EntryKind, FileObject, Layer, Tree, TreeEntry};

pub const PROOF_FORMAT: &str = "cairn-proof";
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

/// Why a proof was not accepted. `Malformed`: not a proof document at all (bad JSON, bad
/// hex, an unknown version or algorithm). `Invalid`: a well-formed proof that does not prove
/// what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("malformed proof: {0}")]
    Malformed(String),
    #[error("proof does not verify: {0}")]
    Invalid(String),
}

fn invalid<T>(why: impl Into<String>) -> Result<T, ProofError> {
    Err(ProofError::Invalid(why.into()))
}

/// Bytes as lowercase hex; decoding accepts nothing else, so every byte has one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hex(pub Vec<u8>);

/// An object id as 64 lowercase hex digits, strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HexId(pub ObjectId);

pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Decodes lowercase hex; uppercase, odd lengths and anything else are errors.
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    b.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| "not lowercase hexadecimal".into())
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl Serialize for HexId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_hex())
    }
}

/// Decodes a hex string without first copying it into a `String`.
struct HexVisitor;

impl Visitor<'_> for HexVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string of lowercase hex digits")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        from_hex(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(HexVisitor).map(Hex)
    }
}

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = d.deserialize_str(HexVisitor)?;
        ObjectId::from_slice(&bytes)
            .map(HexId)
            .ok_or_else(|| de::Error::custom("an object id is 64 hex digits"))
    }
}

/// The kind of the proven entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// Always `cairn-proof`.
    pub format: String,
    pub version: u32,
    pub hash: HashAlgo,
    pub layer: HexId,
    pub layer_encoding: Hex,
    /// The path, `/`-separated, as UTF-8 (lossy); `path_hex` holds the exact bytes.
    pub path: String,
    pub path_hex: Hex,
    /// What the proof establishes about the entry, repeated from the last level's encoding.
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    pub id: HexId,
    /// One per path component, from the root down.
    pub levels: Vec<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Binds the numbers the merkle hashes cannot: see [`Proof::expected_check`].
    pub check: HexId,
}

/// One directory level: an entry of the tree named by the level above (the layer's root
/// tree for the first level), and its RFC 6962 audit path in that tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// The encoded tree entry, hashed as the leaf `H(TreeLeaf, entry)`.
    pub entry: Hex,
    pub index: u64,
    pub count: u64,
    /// Sibling hashes, lowest first.
    pub audit_path: Vec<HexId>,
}

/// Bytes of a file and what it takes to rebuild the file id from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// The proven bytes: `start..end`, end exclusive.
    pub start: u64,
    pub end: u64,
    /// Leaves (chunks) of the whole file.
    pub leaf_count: u64,
    /// The index of the first chunk below.
    pub first_leaf: u64,
    /// The consecutive chunks that cover `start..end`.
    pub chunks: Vec<ChunkProof>,
    /// The roots of the subtrees outside the chunks, depth first, left to right.
    pub range_proof: Vec<HexId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkProof {
    pub id: HexId,
    pub offset: u64,
    pub len: u32,
    pub data: Hex,
}

/// What a proof established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub layer: ObjectId,
    pub hash: HashAlgo,
    pub tree: ObjectId,
    pub path: String,
    pub path_hex: String,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub id: ObjectId,
    pub range: Option<ProvenBytes>,
}

/// Proven bytes, with plain (unkeyed) digests for comparing with `b3sum` and `sha256sum`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenBytes {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    pub len: u64,
    pub blake3: String,
    pub sha256: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl Level {
    /// The level proving `tree.entries[index]`.
    pub fn new(algo: HashAlgo, tree: &Tree, index: usize) -> Level {
        let leaves: Vec<ObjectId> = tree.entries.iter().map(|e| e.leaf(algo)).collect();
        let mut entry = Vec::new();
        tree.entries[index].encode(&mut entry);
        let path = merkle::audit_path(algo, Domain::TreeNode, &leaves, index);
        Level {
            entry: Hex(entry),
            index: index as u64,
            count: leaves.len() as u64,
            audit_path: path.into_iter().map(HexId).collect(),
        }
    }
}

/// The chunks `a..b` of `chunks` that cover bytes `start..end` (`start == end`: none).
pub fn covering(chunks: &[ChunkRef], start: u64, end: u64) -> (usize, usize) {
    let (mut a, mut b, mut off) = (chunks.len(), 0, 0u64);
    for (i, c) in chunks.iter().enumerate() {
        let ce = off + c.len as u64;
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
        let mut offset: u64 = obj.chunks[..first].iter().map(|c| c.len as u64).sum();
        let mut chunks = Vec::with_capacity(data.len());
        for (c, d) in obj.chunks[first..].iter().zip(data) {
            chunks.push(ChunkProof {
                id: HexId(c.id),
                offset,
                len: c.len,
                data: Hex(d),
            });
            offset += c.len as u64;
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

/// The compact proof for the leaves `a..b` (a < b): the roots of the maximal subtrees
/// outside `a..b`, depth first, left to right, with the RFC 6962 split.
pub fn range_proof(
    algo: HashAlgo,
    node: Domain,
    leaves: &[ObjectId],
    a: usize,
    b: usize,
) -> Vec<ObjectId> {
    fn walk(
        ctx: (HashAlgo, Domain, &[ObjectId], usize, usize),
        lo: usize,
        hi: usize,
        out: &mut Vec<ObjectId>,
    ) {
        let (algo, node, leaves, a, b) = ctx;
        if hi <= a || lo >= b {
            out.push(merkle::root(algo, node, &leaves[lo..hi]));
        } else if lo < a || hi > b {
            let k = lo + merkle::split(hi - lo);
            walk(ctx, lo, k, out);
            walk(ctx, k, hi, out);
        }
    }
    let mut out = Vec::new();
    if a < b && b <= leaves.len() {
        walk((algo, node, leaves, a, b), 0, leaves.len(), &mut out);
    }
    out
}

/// Rebuilds the root of `count` leaves from the consecutive leaves `first..` and their
/// range proof. `None` when the proof does not fit the shape (too few or too many hashes).
pub fn root_from_range(
    algo: HashAlgo,
    node: Domain,
    count: usize,
    first: usize,
    leaves: &[ObjectId],
    proof: &[ObjectId],
) -> Option<ObjectId> {
    struct Walk<'a> {
        algo: HashAlgo,
        node: Domain,
        a: usize,
        b: usize,
        leaves: &'a [ObjectId],
        proof: std::slice::Iter<'a, ObjectId>,
    }
    impl Walk<'_> {
        fn go(&mut self, lo: usize, hi: usize) -> Option<ObjectId> {
            if hi <= self.a || lo >= self.b {
                return self.proof.next().copied();
            }
            if lo >= self.a && hi <= self.b {
                let inside = &self.leaves[lo - self.a..hi - self.a];
                return Some(merkle::root(self.algo, self.node, inside));
            }
            let k = lo + merkle::split(hi - lo);
            let l = self.go(lo, k)?;
            let r = self.go(k, hi)?;
            Some(merkle::parent(self.algo, self.node, &l, &r))
        }
    }
    if leaves.is_empty() {
        let empty = count == 0 && first == 0 && proof.is_empty();
        return empty.then(|| merkle::root(algo, node, &[]));
    }
    let b = first.checked_add(leaves.len())?;
    if b > count {
        return None;
    }
    let mut w = Walk {
        algo,
        node,
        a: first,
        b,
        leaves,
        proof: proof.iter(),
    };
    let root = w.go(0, count)?;
    w.proof.next().is_none().then_some(root)
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

/// Parses and verifies a proof file. Besides [`verify`], insists on the canonical
/// serialisation (pretty as `cairn prove` writes it, or compact; a final newline optional),
/// so that whitespace cannot change either.
pub fn verify_json(bytes: &[u8], expect: Option<&ObjectId>) -> Result<Verified, ProofError> {
    if bytes.len() as u64 > MAX_PROOF_BYTES {
        return Err(ProofError::Malformed(format!(
            "{} bytes is more than a proof can hold ({} MiB)",
            bytes.len(),
            MAX_PROOF_BYTES >> 20
        )));
    }
    let proof = Proof::from_json(bytes)?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let pretty = serde_json::to_vec_pretty(&proof).expect("a proof always serialises");
    if body != pretty.as_slice() && body != serde_json::to_vec(&proof).expect("serialises") {
        return invalid(
            "the file is not in canonical form (was it reformatted or edited?); \
             use the proof exactly as `cairn prove` wrote it",
        );
    }
    verify(&proof, expect)
}

/// Recomputes everything a proof claims, from the proof alone. `expect`: the layer id the
/// proof must be for.
pub fn verify(p: &Proof, expect: Option<&ObjectId>) -> Result<Verified, ProofError> {
    if p.format != PROOF_FORMAT {
        return Err(ProofError::Malformed(format!(
            "format is {:?}, not {PROOF_FORMAT:?}",
            p.format
        )));
    }
    if p.version != PROOF_VERSION {
        return Err(ProofError::Malformed(format!(
            "proof format version {} is not supported (this cairn reads version {PROOF_VERSION})",
            p.version
        )));
    }
    let layer = check_layer(p, expect)?;
    let (entry, path) = walk_levels(p, &layer)?;
    check_claims(p, &entry, &path)?;
    let range = match &p.content {
        Some(c) => Some(check_content(p.hash, c, &entry)?),
        None => None,
    };
    if p.check.0 != p.expected_check() {
        return invalid("the check digest does not match the proof's leaf counts and range");
    }
    Ok(Verified {
        layer: p.layer.0,
        hash: p.hash,
        tree: layer.tree,
        path: p.path.clone(),
        path_hex: to_hex(&path),
        kind: entry.kind.into(),
        mode: entry.mode,
        size: entry.size,
        mtime_ns: entry.mtime_ns,
        id: entry.id,
        range,
    })
}

/// The layer encoding hashes to the layer id, which is the one expected.
fn check_layer(p: &Proof, expect: Option<&ObjectId>) -> Result<Layer, ProofError> {
    if let Some(want) = expect {
        if *want != p.layer.0 {
            return invalid(format!("the proof is for layer {}, not {want}", p.layer.0));
        }
    }
    if p.hash.hash(Domain::Layer, &p.layer_encoding.0) != p.layer.0 {
        return invalid(format!(
            "the layer encoding does not hash to the layer id {} ({})",
            p.layer.0,
            p.hash.name()
        ));
    }
    Layer::decode(&p.layer_encoding.0)
        .or_else(|e| invalid(format!("the layer encoding does not decode: {e}")))
}

/// Follows the levels from the layer's root tree; returns the proven entry and its path.
fn walk_levels(p: &Proof, layer: &Layer) -> Result<(TreeEntry, Vec<u8>), ProofError> {
    if p.levels.len() > MAX_LEVELS {
        return Err(ProofError::Malformed(format!(
            "{} directory levels (at most {MAX_LEVELS})",
            p.levels.len()
        )));
    }
    let mut current = TreeEntry {
        name: Vec::new(),
        kind: EntryKind::Dir,
        mode: 0,
        size: layer.counts.bytes,
        mtime_ns: 0,
        id: layer.tree,
    };
    let mut path = Vec::new();
    for (depth, level) in p.levels.iter().enumerate() {
        if current.kind != EntryKind::Dir {
            return invalid(format!(
                "level {depth}: {:?} is not a directory",
                String::from_utf8_lossy(&path)
            ));
        }
        let entry = check_level(p.hash, depth, level, &current.id)?;
        if depth > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(&entry.name);
        current = entry;
    }
    Ok((current, path))
}

/// One level: the entry decodes, and its audit path leads to the tree id `tree`.
fn check_level(
    algo: HashAlgo,
    depth: usize,
    level: &Level,
    tree: &ObjectId,
) -> Result<TreeEntry, ProofError> {
    let entry = decode_entry(&level.entry.0).or_else(|e| {
        invalid(format!(
            "level {depth}: the tree entry does not decode: {e}"
        ))
    })?;
    if level.count > MAX_LEAVES || level.index >= level.count {
        return invalid(format!(
            "level {depth}: index {} of {} entries is impossible",
            level.index, level.count
        ));
    }
    if level.audit_path.len() > MAX_AUDIT {
        return Err(ProofError::Malformed(format!(
            "level {depth}: audit path of {} hashes (at most {MAX_AUDIT})",
            level.audit_path.len()
        )));
    }
    let leaf = algo.hash(Domain::TreeLeaf, &level.entry.0);
    let path: Vec<ObjectId> = level.audit_path.iter().map(|h| h.0).collect();
    let (index, count) = (level.index as usize, level.count as usize);
    let root = merkle::root_from_path(algo, Domain::TreeNode, leaf, index, count, &path);
    if root != Some(*tree) {
        return invalid(format!(
            "level {depth}: the entry {:?} is not in tree {tree}",
            String::from_utf8_lossy(&entry.name)
        ));
    }
    Ok(entry)
}

/// Decodes exactly one tree entry, through the tree decoder (a one-entry tree).
fn decode_entry(bytes: &[u8]) -> Result<TreeEntry, String> {
    let mut tree = Vec::with_capacity(5 + bytes.len());
    tree.push(crate::object::tree::TREE_VERSION);
    tree.extend_from_slice(&1u32.to_le_bytes());
    tree.extend_from_slice(bytes);
    let mut t = Tree::decode(&tree)?;
    t.entries.pop().ok_or_else(|| "no entry".to_string())
}

/// The readable fields repeat the proven entry exactly.
fn check_claims(p: &Proof, e: &TreeEntry, path: &[u8]) -> Result<(), ProofError> {
    if p.path_hex.0 != path {
        return invalid("path_hex does not match the names in the tree entries");
    }
    if p.path != String::from_utf8_lossy(path) {
        return invalid("path does not match the names in the tree entries");
    }
    let same = p.kind == Kind::from(e.kind) && p.mode == e.mode && p.size == e.size;
    if !same || p.id.0 != e.id {
        return invalid(format!(
            "the stated kind, mode, size or id differ from the tree entry's \
             ({:?}, mode {:o}, {} bytes, id {})",
            Kind::from(e.kind),
            e.mode,
            e.size,
            e.id
        ));
    }
    Ok(())
}

/// The chunks hash to their ids, their leaves rebuild the file id, and they cover the range.
fn check_content(algo: HashAlgo, c: &Content, e: &TreeEntry) -> Result<ProvenBytes, ProofError> {
    if e.kind == EntryKind::Dir {
        return invalid("a directory has no content; the content section must be absent");
    }
    if c.leaf_count > MAX_LEAVES || c.range_proof.len() > MAX_RANGE_PROOF {
        return Err(ProofError::Malformed(
            "leaf count or range proof too large".into(),
        ));
    }
    let (span_start, span_end, leaves) = chunk_leaves(algo, c)?;
    let proof: Vec<ObjectId> = c.range_proof.iter().map(|h| h.0).collect();
    let (n, first) = (c.leaf_count as usize, c.first_leaf as usize);
    let root = root_from_range(algo, Domain::FileNode, n, first, &leaves, &proof);
    if root != Some(e.id) {
        return invalid(format!(
            "the chunks and range proof do not rebuild the file id {}",
            e.id
        ));
    }
    if (first + leaves.len() == n && span_end != e.size) || span_end > e.size {
        return invalid(format!(
            "the chunks end at byte {span_end}, but the file has {} bytes",
            e.size
        ));
    }
    let covered = c.start >= span_start && c.end <= span_end;
    if !covered || c.start > c.end || (c.start == c.end && !c.chunks.is_empty()) {
        return invalid(format!(
            "the range {}..{} is not covered by the chunks {span_start}..{span_end}",
            c.start, c.end
        ));
    }
    Ok(proven_bytes(c, span_start))
}

/// Each chunk's data hashes to its id and has its length; offsets follow each other.
/// Returns the bytes spanned and the file-tree leaves.
fn chunk_leaves(algo: HashAlgo, c: &Content) -> Result<(u64, u64, Vec<ObjectId>), ProofError> {
    let start = c.chunks.first().map_or(0, |ch| ch.offset);
    let mut off = start;
    let mut leaves = Vec::with_capacity(c.chunks.len());
    for (i, ch) in c.chunks.iter().enumerate() {
        if ch.data.0.len() != ch.len as usize || ch.len == 0 {
            return invalid(format!("chunk {i}: length {} is wrong", ch.len));
        }
        if ch.offset != off {
            return invalid(format!("chunk {i}: offset {} should be {off}", ch.offset));
        }
        if algo.hash(Domain::Chunk, &ch.data.0) != ch.id.0 {
            return invalid(format!("chunk {i}: the data does not hash to {}", ch.id.0));
        }
        let r = ChunkRef {
            id: ch.id.0,
            len: ch.len,
        };
        leaves.push(file::leaf(algo, &r, off));
        off = off
            .checked_add(ch.len as u64)
            .ok_or_else(|| ProofError::Invalid("offsets overflow".into()))?;
    }
    Ok((start, off, leaves))
}

fn proven_bytes(c: &Content, span_start: u64) -> ProvenBytes {
    let (lo, hi) = (
        (c.start - span_start) as usize,
        (c.end - span_start) as usize,
    );
    let mut bytes = Vec::with_capacity(hi - lo);
    let mut pos = 0usize;
    for ch in &c.chunks {
        let d = &ch.data.0;
        let (a, b) = (lo.clamp(pos, pos + d.len()), hi.clamp(pos, pos + d.len()));
        bytes.extend_from_slice(&d[a - pos..b - pos]);
        pos += d.len();
    }
    let sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
    ProvenBytes {
        start: c.start,
        end: c.end,
        len: c.end - c.start,
        blake3: blake3::hash(&bytes).to_hex().to_string(),
        sha256: to_hex(&sha),
        bytes,
    }
}

#[cfg(test)]
mod tests;
