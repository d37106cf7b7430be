//! Criterion bench of `log -- PATH`: 1,000 layers of a 100,000-file tree (100 top
//! directories of 100 directories of 10 files), each layer editing one file, and every
//! tenth layer the file the bench follows. The cost must follow the path's depth and the
//! history's length, not the tree's size.
//!
//! The repository is written through the library (trees, compressed as commit stores them,
//! and layers straight into one pack;
//! `log` reads no file contents), so the setup takes seconds. Compile-checked in CI
//! (`cargo bench --no-run`); figures go to docs/BENCHMARKS.md.

#![allow(missing_docs, reason = "a test or bench binary has no public surface")]

use std::path::PathBuf;
use std::time::Duration;

use cairn::chunk::ChunkParams;
use cairn::hash::{Domain, HashAlgo, ObjectId};
use cairn::object::{EntryKind, Layer, LayerCounts, Tree, TreeEntry};
use cairn::ops::log::{log, LogOptions};
use cairn::pack::{compress, Encoded, ObjectKind, PackClass, PackWriter};
use cairn::refs::RefKind;
use cairn::session::Common;
use cairn::Repository;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const TOP: usize = 100;
const MID: usize = 100;
const FILES: usize = 10;
const LAYERS: usize = 1000;
/// The file the bench follows: edited by every tenth layer.
const FOLLOWED: (usize, usize, usize) = (42, 7, 3);

fn entry(name: String, kind: EntryKind, id: ObjectId) -> TreeEntry {
    TreeEntry {
        name: name.into_bytes(),
        kind,
        mode: if kind == EntryKind::Dir { 0 } else { 0o644 },
        size: 1,
        mtime_ns: 0,
        id,
    }
}

/// The tree of the files' current ids, writing every tree not written yet (`dirty`: the
/// middle directories whose files changed since the last call).
struct Builder {
    algo: HashAlgo,
    level: i32,
    files: Vec<Vec<Vec<ObjectId>>>,
    mid_ids: Vec<Vec<ObjectId>>,
    top_ids: Vec<ObjectId>,
    w: PackWriter,
}

impl Builder {
    fn put(&mut self, t: &Tree) -> ObjectId {
        let id = t.id(self.algo);
        // The writer keeps one copy of a tree written twice.
        // Compressed as commit stores trees, so reads pay what they pay in a real repository.
        self.w
            .add(id, ObjectKind::Tree, &compress(&t.encode(), self.level))
            .unwrap();
        id
    }

    fn mid(&mut self, g: usize, d: usize) {
        let entries = (0..FILES)
            .map(|f| entry(format!("f{f}.bin"), EntryKind::File, self.files[g][d][f]))
            .collect();
        self.mid_ids[g][d] = self.put(&Tree { entries });
    }

    fn top(&mut self, g: usize) {
        let entries = (0..MID)
            .map(|d| entry(format!("d{d:03}"), EntryKind::Dir, self.mid_ids[g][d]))
            .collect();
        self.top_ids[g] = self.put(&Tree { entries });
    }

    fn root(&mut self) -> ObjectId {
        let entries = (0..TOP)
            .map(|g| entry(format!("g{g:03}"), EntryKind::Dir, self.top_ids[g]))
            .collect();
        self.put(&Tree { entries })
    }
}

/// A repository in a temporary directory holding the history; HEAD on `main` at its tip.
fn history() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
    let algo = repo.algo();
    let file_id = |n: u64| algo.hash(Domain::Chunk, &n.to_le_bytes());
    let mut b = Builder {
        algo,
        level: repo.config.zstd_level(),
        files: (0..TOP)
            .map(|g| {
                (0..MID)
                    .map(|d| {
                        (0..FILES)
                            .map(|f| file_id(((g * MID + d) * FILES + f) as u64))
                            .collect()
                    })
                    .collect()
            })
            .collect(),
        mid_ids: vec![vec![ObjectId::default(); MID]; TOP],
        top_ids: vec![ObjectId::default(); TOP],
        w: PackWriter::new(algo, PackClass::Meta, &repo.packs_dir(), &repo.tmp_dir()),
    };
    for g in 0..TOP {
        for d in 0..MID {
            b.mid(g, d);
        }
        b.top(g);
    }
    let mut parent = None;
    let mut seed = 0x5eed_u64;
    for n in 0..LAYERS {
        let (g, d, f) = if n % 10 == 0 {
            FOLLOWED
        } else {
            // A small linear congruential step: the same edits on every run.
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let x = (seed >> 33) as usize;
            (x % TOP, (x / TOP) % MID, (x / TOP / MID) % FILES)
        };
        b.files[g][d][f] = file_id(1_000_000 + n as u64);
        b.mid(g, d);
        b.top(g);
        let tree = b.root();
        let layer = Layer {
            parent,
            tree,
            time_ns: 1_767_225_600_000_000_000 + n as i64 * 60_000_000_000,
            counts: LayerCounts::default(),
            author: "bench".into(),
            message: format!("layer {n}"),
        };
        let id = layer.id(algo);
        b.w.add(id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))
            .unwrap();
        parent = Some(id);
    }
    b.w.finish().unwrap();
    let locked = repo.lock(Duration::from_secs(5)).unwrap();
    locked
        .refs()
        .set(RefKind::Line, "main", &parent.unwrap())
        .unwrap();
    let root = repo.root().to_path_buf();
    (dir, root)
}

fn bench_log_path(c: &mut Criterion) {
    let (_keep, root) = history();
    // CAIRN_BENCH_KEEP=DIR copies the history there and stops, to time `cairn log` against
    // `git log` on the same layout (scripts/history-git.py writes git's side).
    if let Some(dest) = std::env::var_os("CAIRN_BENCH_KEEP") {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&root)
            .arg(&dest)
            .status()
            .unwrap();
        assert!(status.success(), "cp -a to {dest:?}");
        return;
    }
    let repo = Repository::open(&root).unwrap();
    let common = Common::new(&root);
    let (g, d, f) = FOLLOWED;
    let cases = [
        ("file", format!("g{g:03}/d{d:03}/f{f}.bin"), LAYERS / 10),
        ("dir", format!("g{g:03}"), 0),
    ];
    let mut group = c.benchmark_group("log_path");
    for (name, path, expect) in cases {
        let opts = LogOptions {
            paths: vec![PathBuf::from(path)],
            ..LogOptions::default()
        };
        let found = log(&repo, &common, &opts).unwrap().layers.len();
        assert!(found >= expect, "{name}: {found} layers");
        group.bench_function(name, |b| {
            b.iter(|| black_box(log(&repo, &common, &opts).unwrap().layers.len()));
        });
    }
    group.bench_function("all_layers", |b| {
        b.iter(|| black_box(log(&repo, &common, &LogOptions::default()).unwrap()));
    });
    group.finish();
}

criterion_group! {
    name = history_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bench_log_path
}
criterion_main!(history_benches);
