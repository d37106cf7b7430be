//! Fetching only what some layer, or some paths of it, need.
//!
//! Metadata packs (layers, trees, file objects: small) are fetched whole, so every layer's
//! history and listing work locally. Chunks are fetched by byte range: the remote indexes say
//! where each needed chunk's record lies, the ranges are read with ranged GETs (neighbours
//! coalesced by the client), every record is checked against the index and its id, and the
//! records are written, unchanged, into new local packs. A data pack of which at least half
//! is needed is fetched whole instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Mutex;

use super::index::{RemoteIndex, RemotePack};
use super::layout;
use super::transfer::{self, Transferred};
use super::Remote;
use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::tree::MAX_DEPTH;
use crate::object::EntryKind;
use crate::pack::{
    check_content, decompress, Encoded, IdxEntry, ObjectKind, PackClass, PackWriter,
    RECORD_HEADER_LEN,
};
use crate::progress::{Progress, Unit};
use crate::reach::{At, Step, Visitor, Walk};
use crate::read::lookup;
use crate::repo::Repository;

/// Bytes of records fetched per batch of ranged reads.
const BATCH: u64 = 16 << 20;

/// What a path- or layer-limited fetch brought.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PartialFetch {
    /// Whole packs downloaded (metadata packs, and data packs mostly needed).
    pub packs: u64,
    /// Chunks fetched by byte range.
    pub ranged_chunks: u64,
    /// Bytes downloaded: whole packs and ranged records.
    pub bytes: u64,
}

/// Downloads every metadata pack the repository lacks. Returns what was fetched and the
/// remote index of all complete remote packs, for [`fetch_chunks`].
pub fn fetch_metadata(
    repo: &Repository,
    remote: &Remote,
    listing: &BTreeMap<ObjectId, RemotePack>,
    progress: &dyn Progress,
) -> Result<(Transferred, RemoteIndex)> {
    let names: Vec<ObjectId> = listing
        .iter()
        .filter(|(_, p)| p.complete())
        .map(|(n, _)| *n)
        .collect();
    let index = RemoteIndex::load(repo, remote, &names)?;
    let meta: Vec<(ObjectId, u64)> = index
        .packs
        .iter()
        .filter(|(_, idx)| RemoteIndex::is_meta(idx))
        .map(|(n, _)| (*n, listing[n].pack.unwrap_or(0)))
        .collect();
    let got = transfer::download(repo, remote, &meta, progress)?;
    Ok((got, index))
}

/// The chunks the layer `tree` needs below `paths` (all of it when empty) that the
/// repository lacks. Reads only metadata, which must be local.
pub fn needed_chunks(
    repo: &Repository,
    tree: &ObjectId,
    paths: &[Vec<u8>],
) -> Result<HashSet<ObjectId>> {
    // Only the missing chunks are kept: remembering every chunk met would cost more.
    let mut walk = Walk::new(repo).forget_chunks();
    let mut need = Needed {
        repo,
        path: b"",
        chunks: HashSet::new(),
    };
    if paths.is_empty() {
        walk.tree(*tree, 0, &mut need)?;
    }
    for p in paths {
        let e = lookup(repo, tree, p)?.ok_or_else(|| Error::NotInLayer {
            path: crate::worktree::display(p).into(),
        })?;
        let depth = crate::repo_path::RepoPath::new(p).depth();
        need.path = p;
        if e.kind == EntryKind::Dir {
            walk.tree(e.id, depth, &mut need)?;
        } else {
            walk.file(e.id, depth, &mut need)?;
        }
    }
    Ok(need.chunks)
}

/// The visitor of [`needed_chunks`]: keeps the chunks the repository lacks, and refuses
/// nesting deeper than [`MAX_DEPTH`], which nothing could check out.
struct Needed<'a> {
    repo: &'a Repository,
    /// The path being fetched, which a refusal names.
    path: &'a [u8],
    chunks: HashSet<ObjectId>,
}

impl Needed<'_> {
    fn bound(&self, at: &At) -> Result<()> {
        if at.depth() <= MAX_DEPTH {
            return Ok(());
        }
        let at = if self.path.is_empty() {
            b"."
        } else {
            self.path
        };
        Err(Error::too_deep(crate::worktree::display(at).into()))
    }
}

impl Visitor for Needed<'_> {
    fn tree(&mut self, at: &At, _: &ObjectId) -> Result<Step> {
        self.bound(at).map(|()| Step::Descend)
    }

    fn tree_again(&mut self, at: &At, _: &ObjectId) -> Result<()> {
        self.bound(at)
    }

    fn chunk(&mut self, _: &At, id: &ObjectId) -> Result<()> {
        if !self.repo.store.contains(id) {
            self.chunks.insert(*id);
        }
        Ok(())
    }
}

/// Fetches `chunks` from the remote packs `index` covers: whole packs when most of a pack is
/// needed, byte ranges otherwise.
pub fn fetch_chunks(
    repo: &Repository,
    remote: &Remote,
    index: &RemoteIndex,
    listing: &BTreeMap<ObjectId, RemotePack>,
    chunks: &HashSet<ObjectId>,
    progress: &dyn Progress,
) -> Result<PartialFetch> {
    let mut by_pack: HashMap<ObjectId, Vec<IdxEntry>> = HashMap::new();
    for id in chunks {
        let (pack, e) = index.locate(id).ok_or_else(|| {
            remote.invalid(format!(
                "chunk {id} is in no pack of the remote (damaged remote?)"
            ))
        })?;
        by_pack.entry(pack).or_default().push(e);
    }
    let mut whole = Vec::new();
    let mut ranged: Vec<(ObjectId, Vec<IdxEntry>)> = Vec::new();
    for (pack, mut entries) in by_pack {
        let size = listing.get(&pack).and_then(|p| p.pack).unwrap_or(0);
        let needed: u64 = entries.iter().map(record_len).sum();
        if needed * 2 >= size {
            whole.push((pack, size));
        } else {
            entries.sort_unstable_by_key(|e| e.offset);
            ranged.push((pack, entries));
        }
    }
    let mut out = PartialFetch::default();
    let got = transfer::download(repo, remote, &whole, progress)?;
    out.packs = got.packs;
    out.bytes = got.bytes;
    let total: u64 = ranged
        .iter()
        .flat_map(|(_, es)| es.iter().map(record_len))
        .sum();
    let count: usize = ranged.iter().map(|(_, es)| es.len()).sum();
    progress.begin("fetching chunks", Unit::Chunks, count as u64, total);
    let writer = Mutex::new(PackWriter::for_repo(repo, PackClass::Data));
    for (pack, entries) in &ranged {
        for batch in batches(entries) {
            out.bytes += fetch_records(repo, remote, pack, batch, &writer, progress)?;
            out.ranged_chunks += batch.len() as u64;
        }
    }
    progress.end();
    writer
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .finish()?;
    Ok(out)
}

fn record_len(e: &IdxEntry) -> u64 {
    RECORD_HEADER_LEN as u64 + u64::from(e.stored_len)
}

/// Splits records (sorted by offset) into runs of about [`BATCH`] bytes.
fn batches(entries: &[IdxEntry]) -> Vec<&[IdxEntry]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        bytes += record_len(e);
        if bytes >= BATCH {
            out.push(&entries[start..=i]);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}

/// Reads some records of one remote pack by range, checks each against its index entry and
/// its id, and appends it to the local pack being written. Returns bytes received.
fn fetch_records(
    repo: &Repository,
    remote: &Remote,
    pack: &ObjectId,
    entries: &[IdxEntry],
    writer: &Mutex<PackWriter>,
    progress: &dyn Progress,
) -> Result<u64> {
    let key = layout::pack(pack);
    let ranges: Vec<Range<u64>> = entries
        .iter()
        .map(|e| e.offset..e.offset + record_len(e))
        .collect();
    let got = remote
        .backend()
        .get_ranges(&key, &ranges)
        .map_err(|err| remote.err("read ranges of", &key, err))?;
    let mut bytes = 0;
    for (e, record) in entries.iter().zip(got) {
        bytes += record.len() as u64;
        let stored = check_record(repo, e, &record)
            .map_err(|why| remote.invalid(format!("{key}: object {}: {why}", e.id)))?;
        let payload = Encoded {
            codec: e.codec,
            raw_len: e.raw_len,
            bytes: stored,
        };
        writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .add(e.id, ObjectKind::Chunk, &payload)?;
        progress.advance(1, record.len() as u64);
    }
    Ok(bytes)
}

/// The stored bytes of a fetched record, after checking its header against the index and its
/// content against its id.
fn check_record(
    repo: &Repository,
    e: &IdxEntry,
    record: &[u8],
) -> std::result::Result<Vec<u8>, String> {
    if record.len() as u64 != record_len(e) {
        return Err("the remote returned a short range".into());
    }
    let h = &record[..RECORD_HEADER_LEN];
    if h != e.record_header() {
        return Err("record header does not match the index".into());
    }
    let stored = record[RECORD_HEADER_LEN..].to_vec();
    let raw = decompress(e.kind, e.codec, stored.clone(), e.raw_len)
        .map_err(|err| format!("cannot decompress: {err}"))?;
    check_content(repo.algo(), e.kind, &e.id, &raw)?;
    Ok(stored)
}
