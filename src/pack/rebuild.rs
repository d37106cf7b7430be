//! Rebuilding a pack's index from the pack. A pack is self-describing: its records lie back
//! to back after the header, each header names its object, kind, codec and lengths, and the
//! pack's name is the hash of those headers in order. So when the headers read from the pack
//! hash to its name, they are the ones the writer wrote, and the index encoded from them is
//! byte for byte the index the writer wrote.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use super::index::{encode_index, IdxEntry};
use super::{
    check_lengths, Codec, ObjectKind, PACK_HEADER_LEN, PACK_MAGIC, PACK_VERSION, RECORD_HEADER_LEN,
};
use crate::hash::{Domain, HashAlgo, ObjectId};

/// The index of the pack at `path`, whose name is `name`, encoded from the pack's record
/// headers; an error says why the pack cannot vouch for it.
pub fn rebuild_index(path: &Path, name: &ObjectId, algo: HashAlgo) -> Result<Vec<u8>, String> {
    let map = File::open(path)
        .and_then(|f| crate::fsutil::map_immutable(&f))
        .map_err(|e| format!("pack unreadable: {e}"))?;
    let mut entries = records(&map, name, algo)?;
    Ok(encode_index(algo, &mut entries))
}

/// Every record of a pack, read from its headers, checked to tile the pack and to hash to
/// its name.
fn records(map: &[u8], name: &ObjectId, algo: HashAlgo) -> Result<Vec<IdxEntry>, String> {
    if map.len() < PACK_HEADER_LEN || &map[..8] != PACK_MAGIC {
        return Err("pack header is damaged".into());
    }
    if map[8..12] != PACK_VERSION.to_le_bytes() {
        return Err("unsupported pack version".into());
    }
    let mut hasher = algo.hasher(Domain::Pack);
    let (mut entries, mut ids) = (Vec::new(), HashSet::new());
    let mut at = PACK_HEADER_LEN;
    while at < map.len() {
        let e = record(map, at)?;
        if !ids.insert(e.id) {
            return Err(format!("object {} is stored twice", e.id));
        }
        hasher.update(&map[at..at + RECORD_HEADER_LEN]);
        at += RECORD_HEADER_LEN + e.stored_len as usize;
        entries.push(e);
    }
    if hasher.finish() != *name {
        return Err("the record headers do not hash to the pack's name".into());
    }
    Ok(entries)
}

/// The record whose header starts at `at`.
fn record(map: &[u8], at: usize) -> Result<IdxEntry, String> {
    let h = map
        .get(at..at + RECORD_HEADER_LEN)
        .ok_or_else(|| format!("a record header at offset {at} is cut short"))?;
    let le32 = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let bad = || format!("the record at offset {at} has an unknown kind or codec");
    let e = IdxEntry {
        id: ObjectId::from_slice(&h[..32]).expect("32 bytes"),
        offset: at as u64,
        kind: ObjectKind::from_u8(h[32]).ok_or_else(bad)?,
        codec: Codec::from_u8(h[33]).ok_or_else(bad)?,
        raw_len: le32(34),
        stored_len: le32(38),
    };
    check_lengths(e.kind, e.codec, e.raw_len, e.stored_len)
        .map_err(|w| format!("the record at offset {at}: {w}"))?;
    if (map.len() - at - RECORD_HEADER_LEN) < e.stored_len as usize {
        return Err(format!("the record at offset {at} runs past the end"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{PackClass, PackWriter};

    /// A pack of three objects: its rebuilt index is its index, byte for byte; a pack whose
    /// headers were changed, cut short or extended cannot vouch for an index.
    #[test]
    fn rebuilds_the_written_index_and_nothing_else() {
        let (_d, packs, tmp) = crate::testutil::pack_dirs();
        let algo = HashAlgo::Blake3;
        let mut w = PackWriter::new(algo, PackClass::Data, &packs, &tmp);
        for b in [&b"one"[..], b"two", &[7u8; 5000]] {
            let enc = crate::pack::compress(b, 3);
            w.add(algo.hash(Domain::Chunk, b), ObjectKind::Chunk, &enc)
                .unwrap();
        }
        let name = w.finish().unwrap()[0];
        let pack = packs.join(format!("{name}.pack"));
        let idx = std::fs::read(pack.with_extension("idx")).unwrap();
        assert_eq!(rebuild_index(&pack, &name, algo).unwrap(), idx);
        let good = std::fs::read(&pack).unwrap();
        let mut changed = good.clone();
        changed[PACK_HEADER_LEN + 35] ^= 1; // the first record's raw length
        let mut longer = good.clone();
        longer.push(0);
        for (what, bytes) in [
            ("changed", changed),
            ("short", good[..good.len() - 1].to_vec()),
            ("longer", longer),
        ] {
            std::fs::write(&pack, bytes).unwrap();
            assert!(rebuild_index(&pack, &name, algo).is_err(), "{what}");
        }
    }
}
