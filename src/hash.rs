//! Object ids and domain-separated hashing.
//!
//! Every kind of object hashes in its own domain so that, for example, a chunk whose bytes
//! happen to equal a tree encoding can never share its id. With BLAKE3 the domain selects a
//! key (`derive_key(context, "")`) for keyed hashing; with SHA-256 the domain's context string
//! and a NUL byte are hashed before the data. Both are described in docs/FORMAT.md.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A 32-byte object id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, bincode::Encode, bincode::Decode)]
pub struct ObjectId(pub [u8; 32]);

/// The bytes' order, as a slice compares them, but decided by the first eight bytes read as
/// one number nearly always: sorting thousands of pack names or millions of entries spent
/// most of its time in a byte-by-byte compare call per pair.
impl Ord for ObjectId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let head = |id: &ObjectId| u64::from_be_bytes(id.0[..8].try_into().expect("8 bytes"));
        head(self)
            .cmp(&head(other))
            .then_with(|| self.0[8..].cmp(&other.0[8..]))
    }
}

impl PartialOrd for ObjectId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl ObjectId {
    /// The length of an id in bytes, whatever the algorithm.
    pub const LEN: usize = 32;

    /// The id's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id as 64 lowercase hex digits, as cairn prints and stores it in text.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The first 12 hex digits, for one-line displays.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// The id held in `bytes`, or `None` unless there are exactly 32 of them.
    pub fn from_slice(bytes: &[u8]) -> Option<ObjectId> {
        <[u8; 32]>::try_from(bytes).ok().map(ObjectId)
    }
}

/// Bytes as lowercase hex: the one hex encoder of cairn (ids, proofs, keys).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Decodes lowercase hex; uppercase, odd lengths and anything else are errors, so every
/// byte has exactly one spelling.
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

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

/// Why a string is not an object id: not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError;

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object id is 64 hexadecimal digits")
    }
}

impl std::error::Error for ParseIdError {}

impl FromStr for ObjectId {
    type Err = ParseIdError;

    /// Accepts either case, as people copy ids from anywhere; proofs, which must have one
    /// spelling per byte, decode with the strict [`from_hex`].
    /// Decoded in place, without a copy: a writer parses the name of every pack it lists
    /// (thousands, where allocating two strings each was a sixth of a one-file commit).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(ParseIdError);
        }
        let mut id = [0u8; 32];
        for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
            *byte =
                nibble(pair[0]).ok_or(ParseIdError)? << 4 | nibble(pair[1]).ok_or(ParseIdError)?;
        }
        Ok(ObjectId(id))
    }
}

impl Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// In JSON an id is its 64 lowercase hex digits.
impl schemars::JsonSchema for ObjectId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ObjectId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "An object id: 64 lowercase hex digits."
        })
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The hash algorithm of a repository, fixed at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// BLAKE3, keyed per domain.
    Blake3,
    /// SHA-256, with the domain's context string hashed first.
    Sha256,
}

impl HashAlgo {
    /// The algorithm's name in the repository config and in proofs.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Blake3 => "blake3",
            HashAlgo::Sha256 => "sha256",
        }
    }

    /// The algorithm a config or proof name means, or `None` for a name cairn does not know.
    pub fn parse(name: &str) -> Option<HashAlgo> {
        match name {
            "blake3" => Some(HashAlgo::Blake3),
            "sha256" => Some(HashAlgo::Sha256),
            _ => None,
        }
    }

    /// Hashes `data` in `domain`.
    pub fn hash(self, domain: Domain, data: &[u8]) -> ObjectId {
        if self == HashAlgo::Blake3 {
            // One shot: no 1.9 KB hasher to allocate and copy, which cost more than hashing
            // a small object.
            return ObjectId(*blake3::keyed_hash(domain.key(), data).as_bytes());
        }
        let mut h = self.hasher(domain);
        h.update(data);
        h.finish()
    }

    /// Hashes the concatenation of `parts` in `domain`.
    pub fn hash_parts(self, domain: Domain, parts: &[&[u8]]) -> ObjectId {
        // Small inputs (merkle leaves and nodes) are joined on the stack and hashed in one
        // shot, as in `hash`.
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if self == HashAlgo::Blake3 && total <= 256 {
            let mut buf = [0u8; 256];
            let mut at = 0;
            for p in parts {
                buf[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            return self.hash(domain, &buf[..at]);
        }
        let mut h = self.hasher(domain);
        for p in parts {
            h.update(p);
        }
        h.finish()
    }

    /// A hasher for data streamed in pieces, in `domain`.
    pub fn hasher(self, domain: Domain) -> Hasher {
        match self {
            HashAlgo::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new_keyed(domain.key()))),
            HashAlgo::Sha256 => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(domain.context().as_bytes());
                h.update([0u8]);
                Hasher::Sha256(h)
            }
        }
    }
}

/// An incremental hasher in one domain.
pub enum Hasher {
    /// A BLAKE3 hasher keyed by the domain (boxed: it is large).
    Blake3(Box<blake3::Hasher>),
    /// A SHA-256 hasher that has already taken the domain's context string.
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// Feeds the next piece of data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    /// The id of everything fed so far.
    pub fn finish(self) -> ObjectId {
        match self {
            Hasher::Blake3(h) => ObjectId(*h.finalize().as_bytes()),
            Hasher::Sha256(h) => ObjectId(sha2::Digest::finalize(h).into()),
        }
    }
}

/// The hashing domains. The context strings are part of the format: changing one changes
/// every id of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    /// The bytes of one chunk.
    Chunk,
    /// A leaf of a file's merkle tree: chunk id, offset, length.
    FileLeaf,
    /// An inner node of a file's merkle tree, and the root of an empty file.
    FileNode,
    /// A leaf of a tree's merkle tree: one encoded entry.
    TreeLeaf,
    /// An inner node of a tree's merkle tree, and the root of an empty tree.
    TreeNode,
    /// The encoding of a layer.
    Layer,
    /// The ids of a pack's objects, in order: names the pack.
    Pack,
    /// Trailing checksums of index files.
    Checksum,
    /// The encoding of a chunk list: a run of a large file's chunk refs.
    ChunkList,
}

impl Domain {
    /// Every domain, in `key` table order: the BLAKE3 keys are derived from these once.
    pub const ALL: [Domain; 9] = [
        Domain::Chunk,
        Domain::FileLeaf,
        Domain::FileNode,
        Domain::TreeLeaf,
        Domain::TreeNode,
        Domain::Layer,
        Domain::Pack,
        Domain::Checksum,
        Domain::ChunkList,
    ];

    /// The domain's context string: the BLAKE3 key derivation context, or the SHA-256 prefix.
    pub fn context(self) -> &'static str {
        match self {
            Domain::Chunk => "cairn 2026 chunk v1",
            Domain::FileLeaf => "cairn 2026 file leaf v1",
            Domain::FileNode => "cairn 2026 file node v1",
            Domain::TreeLeaf => "cairn 2026 tree leaf v1",
            Domain::TreeNode => "cairn 2026 tree node v1",
            Domain::Layer => "cairn 2026 layer v1",
            Domain::Pack => "cairn 2026 pack v1",
            Domain::Checksum => "cairn 2026 checksum v1",
            Domain::ChunkList => "cairn 2026 chunk list v1",
        }
    }

    /// The BLAKE3 key of this domain, derived once per process.
    fn key(self) -> &'static [u8; 32] {
        static KEYS: OnceLock<[[u8; 32]; 9]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| Domain::ALL.map(|d| blake3::derive_key(d.context(), b"")));
        &keys[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = HashAlgo::Blake3.hash(Domain::Chunk, b"abc");
        let back: ObjectId = id.to_hex().parse().unwrap();
        assert_eq!(id, back);
        assert!("zz".parse::<ObjectId>().is_err());
        assert!("g".repeat(64).parse::<ObjectId>().is_err());
        assert_eq!(id.to_hex().to_uppercase().parse::<ObjectId>(), Ok(id));
        let hex = id.to_hex();
        for bad in [&hex[..63], &format!("{hex}0"), &format!("é{}", &hex[2..])] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_order_as_their_bytes() {
        let mut ids: Vec<ObjectId> = (0..600u32)
            .map(|i| HashAlgo::Blake3.hash(Domain::Chunk, &i.to_le_bytes()))
            .collect();
        // Ids that share their first eight bytes and differ after them.
        for last in [0u8, 1, 255] {
            let mut id = ids[0];
            id.0[31] = last;
            ids.push(id);
        }
        let mut by_bytes = ids.clone();
        by_bytes.sort_by(|a, b| a.0.as_slice().cmp(b.0.as_slice()));
        ids.sort();
        assert_eq!(ids, by_bytes);
    }

    #[test]
    fn domains_separate() {
        for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
            let mut ids: Vec<_> = Domain::ALL.iter().map(|d| algo.hash(*d, b"x")).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), Domain::ALL.len());
        }
    }

    #[test]
    fn incremental_equals_one_shot() {
        for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
            let one = algo.hash(Domain::Layer, b"hello world");
            let two = algo.hash_parts(Domain::Layer, &[b"hello", b" world"]);
            assert_eq!(one, two);
        }
    }

    #[test]
    fn sha256_domain_is_prefix() {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"cairn 2026 chunk v1\0abc");
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(HashAlgo::Sha256.hash(Domain::Chunk, b"abc").0, want);
    }
}
