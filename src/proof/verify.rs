//! Verification: recomputes, from the proof alone, every hash from the carried bytes up to
//! the layer id.

use super::*;
use crate::merkle;
use crate::object::{file, ChunkRef, EntryKind, Layer, Tree, TreeEntry};
use crate::repo_path::RepoPathBuf;

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
    let pretty = |w: &mut Same| serde_json::to_writer_pretty(w, &proof);
    let compact = |w: &mut Same| serde_json::to_writer(w, &proof);
    if !Same::as_written(body, pretty) && !Same::as_written(body, compact) {
        return invalid(
            "the file is not in canonical form (was it reformatted or edited?); \
             use the proof exactly as `cairn prove` wrote it",
        );
    }
    verify(&proof, expect)
}

/// A writer that compares what is written with `rest` and fails at the first difference, so
/// the canonical form is checked without a second copy of a proof that may be 160 MiB.
struct Same<'a> {
    rest: &'a [u8],
}

impl Same<'_> {
    /// True when `write` writes exactly `expected`.
    fn as_written(
        expected: &[u8],
        write: impl FnOnce(&mut Same) -> serde_json::Result<()>,
    ) -> bool {
        let mut w = Same { rest: expected };
        write(&mut w).is_ok() && w.rest.is_empty()
    }
}

impl std::io::Write for Same<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) => {
                self.rest = rest;
                Ok(buf.len())
            }
            None => Err(std::io::Error::other("differs from the proof as read")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    // Names decode through the tree decoder, which refuses empty ones and ones holding `/`.
    let mut path = RepoPathBuf::new();
    for (depth, level) in p.levels.iter().enumerate() {
        if current.kind != EntryKind::Dir {
            return invalid(format!(
                "level {depth}: {:?} is not a directory",
                path.display()
            ));
        }
        let entry = check_level(p.hash, depth, level, &current.id)?;
        path = path.join(&entry.name);
        current = entry;
    }
    Ok((current, path.into_bytes()))
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
            .checked_add(u64::from(ch.len))
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
