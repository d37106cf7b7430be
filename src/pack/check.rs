//! Checking a pack against its index, and with `data` every object against its id.

use std::fs::File;

use rayon::prelude::*;

use super::bytes::{FileBytes, PacksDir, READ_MAX};
use super::index::IdxEntry;
use super::store::Pack;
use super::{
    check_lengths, decompress, Codec, ObjectKind, PackClass, PACK_HEADER_LEN, PACK_MAGIC,
    PACK_VERSION, RECORD_HEADER_LEN,
};
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::object::file::{decode_list, decode_stored, StoredFile};
use crate::object::Tree;

/// What checking one pack and its index found.
#[derive(Debug, Default)]
pub struct PackReport {
    /// Problems with the pack or index as a whole.
    pub problems: Vec<String>,
    /// Objects whose record is damaged.
    pub bad: Vec<(ObjectId, String)>,
    /// Objects the index lists.
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

/// What the checks read of a pack: the whole file when objects are re-hashed or records are
/// small (read when the pack is small, mapped when large; see [`FileBytes`]), or else the
/// pack header and record headers read 42 bytes at a time.
/// Mapping a pack only to read one header every chunk (64 KiB apart by default) made the
/// kernel map the neighbouring pages on every fault and unmap them all at the end: most of
/// what these checks added to gc. Where records are small, one fault serves many headers
/// and a read per record would cost more.
enum PackBytes {
    Whole(FileBytes),
    Read(File, u64),
}

impl PackBytes {
    /// Opens the pack `name` of `dir`, whose records end at `end` by its index.
    fn open(
        dir: &PacksDir,
        name: &str,
        data: bool,
        records: usize,
        end: u64,
    ) -> std::io::Result<PackBytes> {
        const SPARSE: u64 = 16 << 10;
        let file = dir.open(name)?;
        if end <= READ_MAX {
            // One read of the length the index gives, no `fstat`: with thousands of small
            // packs every system call counts. A longer file is read whole all the same.
            return Ok(PackBytes::Whole(FileBytes::read_guessed(
                &file,
                end as usize,
            )?));
        }
        let len = file.metadata()?.len();
        if data || len <= READ_MAX || len / (records.max(1) as u64) < SPARSE {
            return Ok(PackBytes::Whole(FileBytes::load(&file, len)?));
        }
        // No read-ahead: from a cold cache each 42-byte header read pulled in up to the
        // device's read-ahead window (megabytes here) around it, so the structural verify
        // read a quarter of every large pack, and right after `add` (whose direct I/O
        // leaves nothing cached) took longer than `verify --data` run after it. Now each
        // header costs one page.
        crate::fsutil::advise(&file, 0, 0, libc::POSIX_FADV_RANDOM);
        Ok(PackBytes::Read(file, len))
    }

    fn len(&self) -> u64 {
        match self {
            PackBytes::Whole(m) => m.len() as u64,
            PackBytes::Read(_, len) => *len,
        }
    }

    /// Asks the kernel to start reading every record header of a pack read by headers,
    /// all at once: read one by one, a cold pack's headers cost one disk round trip each
    /// (16,000 for a GiB of 64 KiB chunks), about what reading all of it costs.
    fn prefetch(&self, entries: &[IdxEntry]) {
        if let PackBytes::Read(f, _) = self {
            for e in entries {
                let len = RECORD_HEADER_LEN as u64;
                crate::fsutil::advise(f, e.offset, len, libc::POSIX_FADV_WILLNEED);
            }
        }
    }

    /// The `n` bytes at `at`.
    fn get(&self, at: u64, n: usize) -> Result<Vec<u8>, String> {
        if at.checked_add(n as u64).is_none_or(|end| end > self.len()) {
            return Err("record lies past the end of the pack (truncated?)".into());
        }
        match self {
            PackBytes::Whole(m) => Ok(m[at as usize..at as usize + n].to_vec()),
            PackBytes::Read(f, _) => {
                let mut buf = vec![0u8; n];
                std::os::unix::fs::FileExt::read_exact_at(f, &mut buf, at)
                    .map_err(|e| format!("pack unreadable: {e}"))?;
                Ok(buf)
            }
        }
    }
}

/// [`check`] without the index's checksum and order, for callers that checked those.
pub fn check_records(pack: &Pack, algo: HashAlgo, data: bool) -> PackReport {
    let mut report = PackReport::default();
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
    let end = entries.last().map_or(PACK_HEADER_LEN as u64, |e| {
        e.offset
            .saturating_add((RECORD_HEADER_LEN as u64).saturating_add(e.stored_len.into()))
    });
    let name = format!("{}.pack", pack.name);
    let opened = PackBytes::open(pack.data().dir(), &name, data, entries.len(), end);
    let bytes = match opened {
        Ok(b) => b,
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
    bytes.prefetch(&entries);
    // A small pack is one task: thousands of them (one per commit until merged) are
    // checked at once by verify, and splitting each into a task per record cost more in
    // handing tasks between threads than the checks themselves.
    let min_split = if bytes.len() <= READ_MAX {
        entries.len()
    } else {
        1
    }
    .max(1);
    // Each record's header, or why it cannot be read.
    let headers: Vec<Result<Vec<u8>, String>> = entries
        .par_iter()
        .with_min_len(min_split)
        .map(|e| bytes.get(e.offset, RECORD_HEADER_LEN))
        .collect();
    let head = bytes.get(0, PACK_HEADER_LEN).ok();
    report
        .problems
        .extend(check_header(head.as_deref(), &entries));
    let layout = check_layout(bytes.len(), &entries, &headers, algo, &pack.name);
    report.problems.extend(layout);
    report.objects = entries.len() as u64;
    let map = match &bytes {
        PackBytes::Whole(m) if data => Some(&m[..]),
        _ => None,
    };
    report.bad = entries
        .par_iter()
        .with_min_len(min_split)
        .zip(&headers)
        .filter_map(|(e, h)| {
            check_record((map, bytes.len()), e, h, algo)
                .err()
                .map(|why| (e.id, why))
        })
        .collect();
    if data {
        report.bytes = entries.iter().map(|e| u64::from(e.stored_len)).sum();
    }
    keep_sound_meta(pack, bytes, head.as_deref(), &report);
    report
}

/// Hands a small metadata pack's bytes, found sound, to its pack for the reads that follow
/// (`verify` walks the layers and trees it holds next; see `PackData::keep`).
fn keep_sound_meta(pack: &Pack, bytes: PackBytes, head: Option<&[u8]>, report: &PackReport) {
    let meta = head.is_some_and(|h| h[12] == PackClass::Meta as u8);
    if let PackBytes::Whole(FileBytes::Owned(all)) = bytes {
        if meta && report.problems.is_empty() && report.bad.is_empty() {
            pack.data().keep(all);
        }
    }
}

/// The pack header: magic, version, a known class that matches the objects (chunks in data
/// packs, everything else in metadata packs, as every writer puts them), reserved zeros.
fn check_header(head: Option<&[u8]>, entries: &[IdxEntry]) -> Option<String> {
    let Some(head) = head.filter(|h| &h[..8] == PACK_MAGIC) else {
        return Some("pack header is damaged".into());
    };
    let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if version != PACK_VERSION {
        return Some(format!("unsupported pack version {version}"));
    }
    let chunks = match head[12] {
        c if c == PackClass::Data as u8 => true,
        c if c == PackClass::Meta as u8 => false,
        c => return Some(format!("unknown pack class {c}")),
    };
    if head[13..PACK_HEADER_LEN] != [0, 0, 0] {
        return Some("pack header's reserved bytes are not zero".into());
    }
    if let Some(e) = entries
        .iter()
        .find(|e| (e.kind == ObjectKind::Chunk) != chunks)
    {
        return Some(format!(
            "a {} in a pack of class {}",
            e.kind.name(),
            head[12]
        ));
    }
    None
}

/// The records (sorted by offset) must tile the pack from its header to its end, so no byte
/// lies outside a record, and their headers in that order must hash to the pack's name.
fn check_layout(
    len: u64,
    entries: &[IdxEntry],
    headers: &[Result<Vec<u8>, String>],
    algo: HashAlgo,
    name: &ObjectId,
) -> Option<String> {
    let mut at = PACK_HEADER_LEN as u64;
    let mut hasher = algo.hasher(Domain::Pack);
    for (e, header) in entries.iter().zip(headers) {
        if e.offset != at {
            return Some(format!(
                "record at offset {} does not follow the one before (expected {at})",
                e.offset
            ));
        }
        at = e.offset + (RECORD_HEADER_LEN as u64) + u64::from(e.stored_len);
        // A record that cannot be read is reported with its object.
        hasher.update(header.as_ref().ok()?);
    }
    if at != len {
        return (at < len).then(|| {
            format!(
                "{} bytes after the last record belong to no record",
                len - at
            )
        });
    }
    (hasher.finish() != *name).then(|| "the record headers do not hash to the pack's name".into())
}

/// Checks one record: its header against the index entry, its lengths, and given the mapped
/// pack, its object against its id.
fn check_record(
    (map, len): (Option<&[u8]>, u64),
    e: &IdxEntry,
    header: &Result<Vec<u8>, String>,
    algo: HashAlgo,
) -> Result<(), String> {
    let header = header.as_ref().map_err(String::clone)?;
    let start = e.offset + RECORD_HEADER_LEN as u64;
    if start + u64::from(e.stored_len) > len {
        return Err("record lies past the end of the pack (truncated?)".into());
    }
    let (start, end) = (start as usize, start as usize + e.stored_len as usize);
    if header[..] != e.record_header() {
        return Err("record header does not match the index".into());
    }
    check_lengths(e.kind, e.codec, e.raw_len, e.stored_len)?;
    let Some(map) = map else {
        return Ok(());
    };
    let stored = &map[start..end];
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
