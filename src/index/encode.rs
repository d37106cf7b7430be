//! The writer of the staging index payload's bulk: `base_tree` and the entries, in bincode
//! 2's varints (FORMAT.md section 14), encoded by hand like [`super::entries`] decodes them.
//!
//! bincode's generic encoder took two passes over a million entries (one to count the
//! payload's bytes, one to write them) at several times the instructions of this one. The
//! pinned vectors in tests/it/format_vectors.rs hold the two to the same bytes.

use std::io::Write;
use std::sync::mpsc;

use super::tracked::Map;
use super::{Content, IndexEntry};
use crate::hash::{Hasher, ObjectId};
use crate::object::ChunkRef;

/// Bytes handed to the writing thread at a time. Three blocks exist at most (one filling,
/// one queued, one being written): less than the 1 MiB buffer the save had before.
const BLOCK: usize = 1 << 18;

/// The length of `v` as a bincode varint.
fn varint_len(v: u64) -> usize {
    match v {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xffff => {
            out.push(251);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(252);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(253);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Zigzag: `2n` for `n >= 0`, `-2n - 1` below.
fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// The encoded length of an entry and its path.
fn entry_len(path: &[u8], e: &IndexEntry) -> usize {
    let s = &e.stat;
    varint_len(path.len() as u64)
        + path.len()
        + 1
        + varint_len(u64::from(e.mode))
        + varint_len(s.size)
        + varint_len(zigzag(s.mtime_ns))
        + varint_len(zigzag(s.ctime_ns))
        + varint_len(s.ino)
        + varint_len(u64::from(s.mode))
        + content_len(e)
}

fn chunk_len(c: &ChunkRef) -> usize {
    ObjectId::LEN + varint_len(u64::from(c.len))
}

/// The content's length: shape 0 and one chunk (the file id is its leaf's hash), or the
/// chunk count plus one, the file id and the chunks.
fn content_len(e: &IndexEntry) -> usize {
    match &e.content {
        Content::One { chunk, .. } => 1 + chunk_len(chunk),
        _ => {
            let chunks = e.chunks();
            varint_len(chunks.len() as u64 + 1)
                + ObjectId::LEN
                + chunks.iter().map(chunk_len).sum::<usize>()
        }
    }
}

fn entry(out: &mut Vec<u8>, path: &[u8], e: &IndexEntry) {
    varint(out, path.len() as u64);
    out.extend_from_slice(path);
    out.push(e.kind);
    varint(out, u64::from(e.mode));
    let s = &e.stat;
    varint(out, s.size);
    varint(out, zigzag(s.mtime_ns));
    varint(out, zigzag(s.ctime_ns));
    varint(out, s.ino);
    varint(out, u64::from(s.mode));
    let chunk = |out: &mut Vec<u8>, c: &ChunkRef| {
        out.extend_from_slice(c.id.as_bytes());
        varint(out, u64::from(c.len));
    };
    match &e.content {
        Content::One { chunk: c, .. } => {
            out.push(0);
            chunk(out, c);
        }
        _ => {
            let chunks = e.chunks();
            varint(out, chunks.len() as u64 + 1);
            out.extend_from_slice(e.file_id().as_bytes());
            chunks.iter().for_each(|c| chunk(out, c));
        }
    }
}

/// `base_tree` then the entries.
pub(super) struct Head<'a> {
    pub(super) base_tree: &'a Option<ObjectId>,
    pub(super) entries: &'a Map,
    /// The entries' positions in path order, when the map is not in that order: the file
    /// is written sorted without sorting the map, which builds a second arena of paths
    /// beside the first (28 MB at a million paths, a full add's peak).
    pub(super) order: Option<&'a [u32]>,
}

impl Head<'_> {
    /// The entries in path order.
    fn each(&self) -> impl Iterator<Item = (&[u8], &IndexEntry)> + '_ {
        let (map, order) = (self.entries, self.order);
        let by_order = order.into_iter().flatten().map(move |&at| {
            map.get_index(at as usize)
                .expect("the order holds the map's positions")
        });
        let as_kept = order.is_none().then(|| map.iter()).into_iter().flatten();
        by_order.chain(as_kept)
    }

    /// The encoded length, counted without encoding.
    pub(super) fn len(&self) -> usize {
        let tree = self.base_tree.map_or(1, |_| 1 + ObjectId::LEN);
        let entries: usize = self.each().map(|(p, e)| entry_len(p, e)).sum();
        tree + varint_len(self.entries.len() as u64) + entries
    }

    /// Writes `start`, the encoding, then `end` to `w`, hashing all of it into `sum`.
    ///
    /// The calling thread encodes into blocks; a second thread hashes and writes them, so
    /// the two halves of a save's work run on two cores. A few blocks are in flight at most.
    pub(super) fn write(
        &self,
        start: &[u8],
        end: &[u8],
        w: &mut (dyn Write + Send),
        sum: &mut Hasher,
    ) -> std::io::Result<()> {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(1);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::scope(|s| {
            let writer = std::thread::Builder::new()
                .name("index-write".into())
                .spawn_scoped(s, move || drain(full_rx, empty_tx, w, sum))?;
            let sent = self.encode(start, end, &full_tx, &empty_rx);
            drop(full_tx);
            let written = writer
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            // The writer's error first: when it stops, the encoder only learns that it did.
            written?;
            sent
        })
    }

    fn encode(
        &self,
        start: &[u8],
        end: &[u8],
        full: &mpsc::SyncSender<Vec<u8>>,
        empty: &mpsc::Receiver<Vec<u8>>,
    ) -> std::io::Result<()> {
        let stopped = |_| std::io::Error::other("the index writer stopped");
        let mut out = Vec::with_capacity(BLOCK + BLOCK / 4);
        out.extend_from_slice(start);
        match self.base_tree {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id.as_bytes());
            }
        }
        varint(&mut out, self.entries.len() as u64);
        for (p, e) in self.each() {
            entry(&mut out, p, e);
            if out.len() >= BLOCK {
                let mut fresh = empty
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BLOCK + BLOCK / 4));
                fresh.clear();
                full.send(std::mem::replace(&mut out, fresh))
                    .map_err(stopped)?;
                crate::failpoint::hit("index:mid-write");
            }
        }
        out.extend_from_slice(end);
        full.send(out).map_err(stopped)?;
        // A kill here leaves the file in tmp/ written in part, or not at all.
        crate::failpoint::hit("index:mid-write");
        Ok(())
    }
}

/// Hashes and writes the blocks in order, handing the emptied ones back.
fn drain(
    full: mpsc::Receiver<Vec<u8>>,
    empty: mpsc::Sender<Vec<u8>>,
    w: &mut (dyn Write + Send),
    sum: &mut Hasher,
) -> std::io::Result<()> {
    for block in full {
        sum.update(&block);
        crate::failpoint::error("index:write-error")?;
        w.write_all(&block)?;
        let _ = empty.send(block);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The varint's widths at their edges, as FORMAT.md lists them.
    #[test]
    fn varints_at_their_edges() {
        let cases: [(u64, &[u8]); 7] = [
            (0, &[0]),
            (250, &[250]),
            (251, &[251, 251, 0]),
            (0xffff, &[251, 0xff, 0xff]),
            (0x1_0000, &[252, 0, 0, 1, 0]),
            (0xffff_ffff, &[252, 0xff, 0xff, 0xff, 0xff]),
            (1 << 32, &[253, 0, 0, 0, 0, 1, 0, 0, 0]),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, want, "{v}");
            assert_eq!(varint_len(v), want.len(), "{v}");
        }
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
    }
}
