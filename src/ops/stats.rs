//! `cairn stats`: what the repository holds and how well it deduplicates and compresses.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::Layer;
use crate::pack::ObjectKind;
use crate::reach::{At, Step, Visitor, Walk};
use crate::repo::Repository;

/// The distinct chunks in one power-of-two size range.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Bucket {
    /// Chunks of at least `from` and less than `to` bytes.
    pub from: u64,
    /// Twice `from` (1 for the bucket of empty chunks).
    pub to: u64,
    /// How many distinct chunks fall in the range.
    pub count: u64,
}

/// What the repository holds. Stored objects count once each, reachable or not (gc removes
/// the rest); sizes are in bytes.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct StatsOutcome {
    /// Layers reachable from HEAD, lines and tags.
    pub layers: u64,
    /// Files and symlinks at HEAD; 0 before the first commit.
    pub head_files: u64,
    /// The bytes of those files and symlinks.
    pub head_bytes: u64,
    /// The bytes of every reachable layer added up: what full copies would take.
    pub logical_bytes: u64,
    /// Distinct chunks stored.
    pub chunks: u64,
    /// Chunk bytes before compression, each distinct chunk once.
    pub chunk_bytes: u64,
    /// Chunk bytes as stored.
    pub chunk_bytes_stored: u64,
    /// Distinct objects other than chunks: file objects, chunk lists, trees and layers.
    pub metadata_objects: u64,
    /// Pack files.
    pub packs: u64,
    /// Bytes of all pack and index files.
    pub pack_bytes: u64,
    /// `logical_bytes / chunk_bytes`: how many times over the layers use the distinct chunks;
    /// 0 with no chunks.
    pub dedup_ratio: f64,
    /// `chunk_bytes / chunk_bytes_stored`; 0 with no chunks.
    pub compression_ratio: f64,
    /// Chunk counts by size, smallest first, ranges holding no chunk left out.
    pub chunk_sizes: Vec<Bucket>,
}

/// Adds up every pack's index and every reachable layer's counts; reads no tree, so it
/// answers quickly whatever the size of the data.
pub fn stats(repo: &Repository) -> Result<StatsOutcome> {
    let mut out = StatsOutcome::default();
    let mut buckets = [0u64; 33];
    let mut seen = HashSet::new();
    for p in repo.store.packs() {
        out.packs += 1;
        out.pack_bytes += file_size(p.path()) + file_size(&p.path().with_extension("idx"));
        for e in p.index.entries().flatten() {
            if !seen.insert(e.id) {
                continue;
            }
            if e.kind == ObjectKind::Chunk {
                out.chunks += 1;
                out.chunk_bytes += u64::from(e.raw_len);
                out.chunk_bytes_stored += u64::from(e.stored_len);
                buckets[(u32::BITS - e.raw_len.leading_zeros()) as usize] += 1;
            } else {
                out.metadata_objects += 1;
            }
        }
    }
    layer_totals(repo, &mut out)?;
    out.dedup_ratio = ratio(out.logical_bytes, out.chunk_bytes);
    out.compression_ratio = ratio(out.chunk_bytes, out.chunk_bytes_stored);
    out.chunk_sizes = buckets
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(b, n)| Bucket {
            from: if b == 0 { 0 } else { 1 << (b - 1) },
            to: 1 << b,
            count: *n,
        })
        .collect();
    Ok(out)
}

/// Layer totals: every reachable layer is read (its counts say its files and bytes), none of
/// its trees.
fn layer_totals(repo: &Repository, out: &mut StatsOutcome) -> Result<()> {
    let refs = repo.refs();
    let mut totals = Totals {
        head: repo.head()?.1,
        out,
    };
    let roots = refs.roots(&mut crate::refs::fail_unreadable)?;
    Walk::new(repo).layers(roots, &mut totals)
}

/// stats' visitor: adds up the layers' counts, and prunes every tree.
struct Totals<'a> {
    head: Option<ObjectId>,
    out: &'a mut StatsOutcome,
}

impl Visitor for Totals<'_> {
    fn layer_read(&mut self, id: &ObjectId, l: &Layer) -> Result<()> {
        self.out.layers += 1;
        self.out.logical_bytes += l.counts.bytes;
        if Some(*id) == self.head {
            self.out.head_files = l.counts.files;
            self.out.head_bytes = l.counts.bytes;
        }
        Ok(())
    }

    fn tree(&mut self, _: &At, _: &ObjectId) -> Result<Step> {
        Ok(Step::Prune)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn file_size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}
