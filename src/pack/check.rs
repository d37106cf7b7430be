//! Checking a pack against its index, and with `data` every object against its id.

use std::fs::File;

use memmap2::Mmap;
use rayon::prelude::*;

use super::index::IdxEntry;
use super::store::Pack;
use super::{
    check_lengths, decompress, Codec, ObjectKind, PackClass, PACK_HEADER_LEN, PACK_MAGIC,
    PACK_VERSION, RECORD_HEADER_LEN,
};
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::object::file::{decode_list, decode_stored, StoredFile};
use crate::object::Tree;

#[derive(Debug, Default)]
pub struct PackReport {
    /// Problems with the pack or index as a whole.
    pub problems: Vec<String>,
    /// Objects whose record is damaged.
    pub bad: Vec<(ObjectId, String)>,
    pub objects: u64,
    /// Stored bytes read and checked (with `data`).
    pub bytes: u64,
}

/// Checks a pack against its index: the index's checksum and order, the pack header, that
/// the records lie back to back from the header to the end of the file, that every record
/// header repeats its index entry byte for byte and hashes into the pack's name, and with
/// `data` every object against its id. Every byte of the pack and its index is covered by
/// one of these checks.
pub fn check(pack: &Pack, algo: HashAlgo, data: bool) -> PackReport {
    let mut report = check_records(pack, algo, data);
    if let Err(e) = pack.index.verify(algo) {
        report.problems.insert(0, format!("index: {e}"));
    }
    report
}

/// [`check`] without the index's checksum and order, for callers that checked those.
pub fn check_records(pack: &Pack, algo: HashAlgo, data: bool) -> PackReport {
    let mut report = PackReport::default();
    let map = match File::open(pack.path()).and_then(|f| unsafe { Mmap::map(&f) }) {
        // SAFETY: packs are immutable once published; gc deletes whole files only.
        Ok(m) => m,
        // Deleted with its index since the packs were listed (by gc, which first copied
        // its live objects, or by a failed writer): not damage, just gone.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && !pack.path().with_extension("idx").exists() =>
        {
            return report;
        }
        Err(e) => {
            report.problems.push(format!("pack unreadable: {e}"));
            return report;
        }
    };
    let mut entries: Vec<IdxEntry> = Vec::with_capacity(pack.index.len());
    for (i, e) in pack.index.entries().enumerate() {
        match e {
            Some(e) => entries.push(e),
            None => report
                .problems
                .push(format!("index entry {i} has an unknown kind or codec")),
        }
    }
    entries.sort_unstable_by_key(|e| e.offset);
    report.problems.extend(check_header(&map, &entries));
    report
        .problems
        .extend(check_layout(&map, &entries, algo, &pack.name));
    report.objects = entries.len() as u64;
    report.bad = entries
        .par_iter()
        .filter_map(|e| {
            check_record(&map, e, algo, data)
                .err()
                .map(|why| (e.id, why))
        })
        .collect();
    if data {
        report.bytes = entries.iter().map(|e| e.stored_len as u64).sum();
    }
    report
}

/// The pack header: magic, version, a known class that matches the objects (chunks in data
/// packs, everything else in metadata packs, as every writer puts them), reserved zeros.
fn check_header(map: &[u8], entries: &[IdxEntry]) -> Option<String> {
    if map.len() < PACK_HEADER_LEN || &map[..8] != PACK_MAGIC {
        return Some("pack header is damaged".into());
    }
    let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
    if version != PACK_VERSION {
        return Some(format!("unsupported pack version {version}"));
    }
    let chunks = match map[12] {
        c if c == PackClass::Data as u8 => true,
        c if c == PackClass::Meta as u8 => false,
        c => return Some(format!("unknown pack class {c}")),
    };
    if map[13..PACK_HEADER_LEN] != [0, 0, 0] {
        return Some("pack header's reserved bytes are not zero".into());
    }
    if let Some(e) = entries
        .iter()
        .find(|e| (e.kind == ObjectKind::Chunk) != chunks)
    {
        return Some(format!(
            "a {} in a pack of class {}",
            e.kind.name(),
            map[12]
        ));
    }
    None
}

/// The records (sorted by offset) must tile the pack from its header to its end, so no byte
/// lies outside a record, and their headers in that order must hash to the pack's name.
fn check_layout(
    map: &[u8],
    entries: &[IdxEntry],
    algo: HashAlgo,
    name: &ObjectId,
) -> Option<String> {
    let mut at = PACK_HEADER_LEN as u64;
    let mut hasher = algo.hasher(Domain::Pack);
    for e in entries {
        if e.offset != at {
            return Some(format!(
                "record at offset {} does not follow the one before (expected {at})",
                e.offset
            ));
        }
        at = e.offset + (RECORD_HEADER_LEN as u64) + e.stored_len as u64;
        // A record past the end is reported with its object.
        let header = map.get(e.offset as usize..e.offset as usize + RECORD_HEADER_LEN)?;
        hasher.update(header);
    }
    if at != map.len() as u64 {
        return (at < map.len() as u64).then(|| {
            format!(
                "{} bytes after the last record belong to no record",
                map.len() as u64 - at
            )
        });
    }
    (hasher.finish() != *name).then(|| "the record headers do not hash to the pack's name".into())
}

fn check_record(map: &[u8], e: &IdxEntry, algo: HashAlgo, data: bool) -> Result<(), String> {
    let start = e.offset as usize;
    let end = start
        .checked_add(RECORD_HEADER_LEN + e.stored_len as usize)
        .filter(|end| *end <= map.len())
        .ok_or("record lies past the end of the pack (truncated?)")?;
    if map[start..start + RECORD_HEADER_LEN] != e.record_header() {
        return Err("record header does not match the index".into());
    }
    check_lengths(e.kind, e.codec, e.raw_len, e.stored_len)?;
    if !data {
        return Ok(());
    }
    let stored = &map[start + RECORD_HEADER_LEN..end];
    // Most bytes are chunks stored raw: hash them where they lie in the map. Copying each
    // into a fresh buffer first cost 4% to 20% of verify's CPU time, depending on how the
    // allocator backs such buffers. Lengths were checked above.
    if e.codec == Codec::Raw {
        return check_content(algo, e.kind, &e.id, stored);
    }
    let raw = decompress(e.kind, e.codec, stored.to_vec(), e.raw_len)
        .map_err(|err| format!("cannot decompress: {err}"))?;
    check_content(algo, e.kind, &e.id, &raw)
}

/// Checks an object's content against its id.
pub fn check_content(
    algo: HashAlgo,
    kind: ObjectKind,
    id: &ObjectId,
    raw: &[u8],
) -> Result<(), String> {
    let actual = match kind {
        ObjectKind::Chunk => algo.hash(Domain::Chunk, raw),
        ObjectKind::Layer => algo.hash(Domain::Layer, raw),
        ObjectKind::Tree => Tree::decode(raw)?.id(algo),
        ObjectKind::List => {
            decode_list(raw)?;
            algo.hash(Domain::ChunkList, raw)
        }
        ObjectKind::File => match decode_stored(raw)? {
            StoredFile::Whole(f) => f.id(algo),
            // The id of a file of chunk lists needs the lists: `Repository::read_file`
            // checks it, and verify and gc read every file they keep that way.
            StoredFile::Lists(_) => return Ok(()),
        },
    };
    if actual == *id {
        Ok(())
    } else {
        Err("content does not match its id".into())
    }
}
