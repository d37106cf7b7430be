//! Criterion benches of reading changes (issue 14): `status` with rename detection after a
//! directory of many files was moved, and rename detection by shared chunks between two
//! versions of a 2 GiB file.
//!
//! Setup is kept small: the status bench writes `CAIRN_BENCH_FILES` files (20,000 by
//! default; the 200,000 by setting it), and the large-file bench builds the two chunk
//! lists in memory (what reading them from the store costs is measured end to end by
//! running `cairn diff --cached` on a real file). CI only compiles them.

#![allow(missing_docs, reason = "a test or bench binary has no public surface")]

use std::collections::HashMap;
use std::time::Duration;

use cairn::diff::{Change, ChangeKind, Side};
use cairn::hash::{Domain, HashAlgo, ObjectId};
use cairn::object::{ChunkRef, EntryKind, FileObject};
use cairn::renames::{detect, ChunkLists, RenameOptions};
use cairn::repo_path::RepoPathBuf;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// One chunk at the default average size.
const CHUNK: u32 = 64 * 1024;
/// 2 GiB of chunks.
const CHUNKS: u64 = (2u64 << 30) / CHUNK as u64;

struct Lists(HashMap<ObjectId, Vec<ChunkRef>>);

impl ChunkLists for Lists {
    fn chunks(&self, id: &ObjectId) -> cairn::Result<Vec<ChunkRef>> {
        Ok(self.0[id].clone())
    }
}

fn chunk(n: u64) -> ChunkRef {
    ChunkRef {
        id: HashAlgo::Blake3.hash(Domain::Chunk, &n.to_le_bytes()),
        len: CHUNK,
    }
}

fn side(id: ObjectId) -> Side {
    Side {
        id,
        mode: 0o644,
        kind: EntryKind::File,
    }
}

/// A 2 GiB file deleted at one path and added, with 1% of its chunks changed, at another.
fn large_rename() -> (Vec<Change>, Lists) {
    let old: Vec<ChunkRef> = (0..CHUNKS).map(chunk).collect();
    let mut new = old.clone();
    for (i, c) in new.iter_mut().enumerate().step_by(100) {
        *c = chunk(CHUNKS + i as u64);
    }
    let (old_id, new_id) = (
        FileObject {
            chunks: old.clone(),
        }
        .id(HashAlgo::Blake3),
        FileObject {
            chunks: new.clone(),
        }
        .id(HashAlgo::Blake3),
    );
    let size = Some(CHUNKS * u64::from(CHUNK));
    let changes = vec![
        Change {
            path: RepoPathBuf::from(b"moved/big.bin".to_vec()),
            kind: ChangeKind::Added,
            old_size: None,
            new_size: size,
            old_path: None,
            similarity: None,
            old: None,
            new: Some(side(new_id)),
        },
        Change {
            path: RepoPathBuf::from(b"big.bin".to_vec()),
            kind: ChangeKind::Deleted,
            old_size: size,
            new_size: None,
            old_path: None,
            similarity: None,
            old: Some(side(old_id)),
            new: None,
        },
    ];
    (
        changes,
        Lists(HashMap::from([(old_id, old), (new_id, new)])),
    )
}

fn bench_large_rename(c: &mut Criterion) {
    let (changes, lists) = large_rename();
    c.bench_function("renames_by_chunks_2GiB", |b| {
        b.iter(|| {
            let d = detect(changes.clone(), &RenameOptions::default(), &lists).unwrap();
            assert_eq!(d.changes[0].kind, ChangeKind::Renamed);
            black_box(d)
        });
    });
}

/// A repository whose directory of `n` small files was moved and staged.
fn moved_dir(n: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    cairn::Repository::init(root, HashAlgo::Blake3, Default::default()).unwrap();
    for i in 0..n {
        let dir = root.join(format!("old/d{:03}", i % 100));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}")), format!("file {i}\n")).unwrap();
    }
    let cairn_cmd = |args: &[&str]| {
        let ok = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .current_dir(root)
            .env("CAIRN_AUTHOR", "bench <bench@example.org>")
            .status()
            .unwrap()
            .success();
        assert!(ok, "cairn {args:?}");
    };
    cairn_cmd(&["add", "-q", "."]);
    cairn_cmd(&["commit", "-q", "-m", "one"]);
    std::fs::rename(root.join("old"), root.join("new")).unwrap();
    cairn_cmd(&["add", "-q", "."]);
    tmp
}

fn bench_status_renames(c: &mut Criterion) {
    let n = std::env::var("CAIRN_BENCH_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let tmp = moved_dir(n);
    let repo = cairn::Repository::open(tmp.path()).unwrap();
    c.bench_function(&format!("status_with_renames_{n}_files_moved"), |b| {
        b.iter(|| {
            let s = cairn::ops::status::status(&repo).unwrap();
            assert_eq!(s.staged.len(), n);
            black_box(s)
        });
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = changes;
    config = config();
    targets = bench_large_rename, bench_status_renames
}
criterion_main!(changes);
