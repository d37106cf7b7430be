//! Layers: one commit. The layer id is `H(Layer, encoding)`; the encoding holds the root
//! tree id, so the layer id commits to every path, mode, size and byte below it.
//!
//! Encoding: `version u8 (1) | has_parent u8 | parent 32 (zeros when none) | tree 32 |
//! time_ns i64 | files u64 | bytes u64 | added u64 | modified u64 | deleted u64 |
//! author_len u32 | author (UTF-8) | message_len u32 | message (UTF-8)`.

use serde::Serialize;

use super::Reader;
use crate::hash::{Domain, HashAlgo, ObjectId};

/// The layer encoding's version byte.
pub const LAYER_VERSION: u8 = 1;

/// Totals of a layer and its changes against the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
pub struct LayerCounts {
    /// Files (and symlinks) in the layer.
    pub files: u64,
    /// Bytes of all files in the layer.
    pub bytes: u64,
    /// Paths in this layer that the parent lacks.
    pub added: u64,
    /// Paths in both whose content or mode changed, or that turned from file to symlink or back.
    pub modified: u64,
    /// Paths in the parent that this layer lacks.
    pub deleted: u64,
}

/// One commit: a root tree, the layer before it, and who made it when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The layer this one was made on top of; `None` for a line's first layer.
    pub parent: Option<ObjectId>,
    /// The root tree's id.
    pub tree: ObjectId,
    /// When the layer was made, in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Totals of the layer and its changes against `parent`.
    pub counts: LayerCounts,
    /// Who made the layer: `--author`, else `CAIRN_AUTHOR`, else `USER`, else "unknown".
    pub author: String,
    /// The commit message.
    pub message: String,
}

impl Layer {
    /// The layer's encoding, as stored and hashed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.author.len() + self.message.len());
        out.push(LAYER_VERSION);
        out.push(u8::from(self.parent.is_some()));
        out.extend_from_slice(self.parent.unwrap_or_default().as_bytes());
        out.extend_from_slice(self.tree.as_bytes());
        out.extend_from_slice(&self.time_ns.to_le_bytes());
        let c = &self.counts;
        for n in [c.files, c.bytes, c.added, c.modified, c.deleted] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for s in [&self.author, &self.message] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    /// The layer id: `H(Layer, encoding)`.
    pub fn id(&self, algo: HashAlgo) -> ObjectId {
        algo.hash(Domain::Layer, &self.encode())
    }

    /// Decodes a layer encoding, rejecting an unknown version, a bad parent flag or trailing bytes.
    pub fn decode(b: &[u8]) -> Result<Layer, String> {
        let mut r = Reader::new(b);
        let v = r.u8()?;
        if v != LAYER_VERSION {
            return Err(format!("unsupported layer version {v}"));
        }
        let has_parent = r.u8()?;
        let parent = r.id()?;
        let parent = match has_parent {
            0 if parent == ObjectId::default() => None,
            1 => Some(parent),
            _ => return Err("bad parent flag".into()),
        };
        let tree = r.id()?;
        let time_ns = r.i64()?;
        let mut n = [0u64; 5];
        for x in &mut n {
            *x = r.u64()?;
        }
        let counts = LayerCounts {
            files: n[0],
            bytes: n[1],
            added: n[2],
            modified: n[3],
            deleted: n[4],
        };
        let author = string(&mut r)?;
        let message = string(&mut r)?;
        r.finish()?;
        Ok(Layer {
            parent,
            tree,
            time_ns,
            counts,
            author,
            message,
        })
    }
}

fn string(r: &mut Reader) -> Result<String, String> {
    let len = r.u32()? as usize;
    let bytes = r.bytes(len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "text is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(msg in ".{0,100}", author in ".{0,30}", t in any::<i64>(), files in any::<u64>(), parent in any::<bool>()) {
            let l = Layer {
                parent: parent.then(|| HashAlgo::Blake3.hash(Domain::Layer, b"p")),
                tree: HashAlgo::Blake3.hash(Domain::TreeNode, b""),
                time_ns: t,
                counts: LayerCounts { files, bytes: 1, added: 2, modified: 3, deleted: 4 },
                author,
                message: msg,
            };
            prop_assert_eq!(Layer::decode(&l.encode()).unwrap(), l);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Layer::decode(&bytes);
        }
    }
}
