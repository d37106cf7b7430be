//! Criterion benches of cairn's building blocks: chunking, hashing, packs, the pack index,
//! tree and merkle building, and the staging index.
//!
//! Sample sizes are kept small so that `cargo bench --bench core` finishes in a few minutes
//! on two cores; CI only compiles them (`cargo bench --no-run`). Figures and what bounds them
//! are recorded in docs/BENCHMARKS.md.
//!
//! The single-threaded, CPU-bound benches measure wall time by default, or the calling
//! thread's CPU time with `CAIRN_BENCH_CLOCK=cpu`: on a shared, loaded machine that figure
//! stays close to what an idle core does, where wall time mostly measures the other tenants.
//! Benches that use several threads or wait for the disk always measure wall time.

#![allow(missing_docs, reason = "a test or bench binary has no public surface")]
#![allow(
    unsafe_code,
    reason = "the bench reads the thread's CPU clock with a raw call"
)]

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn::build::build;
use cairn::chunk::{self, ChunkParams, Chunker};
use cairn::hash::{Domain, HashAlgo, ObjectId};
use cairn::index::{IndexEntry, StagingIndex, Stat};
use cairn::merkle;
use cairn::object::{ChunkRef, EntryKind};
use cairn::pack::{Encoded, ObjectKind, PackClass, PackIndex, PackWriter, Store};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, SeedableRng as _};
use rayon::prelude::*;

const MIB: usize = 1 << 20;
/// The input of the chunking benches: large enough that boundary effects vanish.
const BIG: usize = 64 * MIB;
/// One chunk at the default average size.
const CHUNK: usize = 64 * 1024;
/// The staging index and tree benches: the 20k-file tree of the comparison script.
const FILES: usize = 20_000;
const DIRS: usize = 100;
/// Entries of the pack index lookup bench.
const IDX_ENTRIES: usize = 100_000;

/// Wall time, or the calling thread's CPU time when `CAIRN_BENCH_CLOCK=cpu`.
struct Clock {
    cpu: bool,
    wall: WallTime,
}

impl Clock {
    fn from_env() -> Clock {
        Clock {
            cpu: std::env::var("CAIRN_BENCH_CLOCK").is_ok_and(|v| v == "cpu"),
            wall: WallTime,
        }
    }

    fn now(&self) -> Duration {
        if !self.cpu {
            static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            return BASE.get_or_init(std::time::Instant::now).elapsed();
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec to write into; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
        assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

impl Measurement for Clock {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        self.now()
    }
    fn end(&self, start: Duration) -> Duration {
        self.now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// Deterministic incompressible bytes, the same on every run: the tests' seeded generator
/// (xoshiro256++ from rand; tests/it/support/rng.rs).
fn seeded(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Xoshiro256PlusPlus::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

fn chunker() -> Chunker {
    Chunker::new(ChunkParams::default())
}

fn hash_chunks(algo: HashAlgo, data: &[u8], cuts: &[Range<usize>]) -> Vec<ObjectId> {
    cuts.iter()
        .map(|r| algo.hash(Domain::Chunk, &data[r.clone()]))
        .collect()
}

fn bench_chunking(c: &mut Criterion<Clock>) {
    let data = seeded(1, BIG);
    let ch = chunker();
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Bytes(BIG as u64));
    g.bench_function("fastcdc_64k_avg", |b| b.iter(|| ch.cuts(black_box(&data))));
    g.finish();
}

fn bench_hashing(c: &mut Criterion<Clock>) {
    let data = seeded(2, CHUNK);
    let mut g = c.benchmark_group("hash_64k_chunk");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
        g.bench_function(algo.name(), |b| {
            b.iter(|| algo.hash(Domain::Chunk, black_box(&data)));
        });
    }
    // The blake3 crate's one-shot keyed hash: what `HashAlgo::hash` costs above it.
    let key = blake3::derive_key("bench", b"");
    g.bench_function("blake3_crate_keyed_hash", |b| {
        b.iter(|| blake3::keyed_hash(&key, black_box(&data)));
    });
    g.finish();

    // One merkle node (64 bytes): dominated by per-call set-up, not by hashing.
    let (l, r) = (ObjectId([1; 32]), ObjectId([2; 32]));
    let mut g = c.benchmark_group("hash_merkle_node");
    g.throughput(Throughput::Elements(1));
    for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
        g.bench_function(algo.name(), |b| {
            b.iter(|| merkle::parent(algo, Domain::FileNode, black_box(&l), black_box(&r)));
        });
    }
    g.bench_function("blake3_crate_keyed_hash", |b| {
        b.iter(|| {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(black_box(&l).as_bytes());
            buf[32..].copy_from_slice(black_box(&r).as_bytes());
            blake3::keyed_hash(&key, &buf)
        });
    });
    g.finish();
}

/// Chunking plus BLAKE3 per chunk on one thread.
fn bench_chunk_hash(c: &mut Criterion<Clock>) {
    let data = seeded(3, BIG);
    let ch = chunker();
    let algo = HashAlgo::Blake3;
    let mut g = c.benchmark_group("chunk_hash");
    g.throughput(Throughput::Bytes(BIG as u64));
    g.bench_function("single_thread", |b| {
        b.iter(|| hash_chunks(algo, &data, &ch.cuts(black_box(&data))));
    });
    // The same after copying each window into a reused private buffer, as `add` reads a
    // large file (`chunk::chunk_file`, in the kernel's `pread`): what the copy costs.
    let mut window = vec![0u8; chunk::WINDOW];
    g.bench_function("copy_windows_single_thread", |b| {
        b.iter(|| {
            let mut ids = Vec::new();
            for part in black_box(&data).chunks(chunk::WINDOW) {
                let w = &mut window[..part.len()];
                w.copy_from_slice(part);
                ids.extend(hash_chunks(algo, w, &ch.cuts(w)));
            }
            ids
        });
    });
    g.finish();
}

/// Chunking plus BLAKE3 per chunk on all cores: as `add` does per window (cuts on one
/// thread, hashes on all), and the ceiling where each thread cuts and hashes its own half of
/// the input.
fn bench_chunk_hash_parallel(c: &mut Criterion) {
    let data = seeded(3, BIG);
    let ch = chunker();
    let algo = HashAlgo::Blake3;
    let mut g = c.benchmark_group("chunk_hash_parallel");
    g.throughput(Throughput::Bytes(BIG as u64));
    g.bench_function("cut_serial_hash_parallel", |b| {
        b.iter(|| {
            // As `ingest::chunk_large`: windows cut serially, hashed in parallel.
            let mut ids = Vec::new();
            for window in black_box(&data).chunks(chunk::WINDOW) {
                let cuts = ch.cuts(window);
                let part: Vec<ObjectId> = cuts
                    .par_iter()
                    .map(|r| algo.hash(Domain::Chunk, &window[r.clone()]))
                    .collect();
                ids.extend(part);
            }
            ids
        });
    });
    g.bench_function("two_halves_parallel", |b| {
        b.iter(|| {
            let (l, r) = black_box(&data).split_at(BIG / 2);
            rayon::join(
                || hash_chunks(algo, l, &ch.cuts(l)),
                || hash_chunks(algo, r, &ch.cuts(r)),
            )
        });
    });
    g.finish();
}

/// A repository-like directory with `packs/` and `tmp/`.
fn pack_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let packs = root.join("packs");
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&packs).expect("packs dir");
    std::fs::create_dir_all(&tmp).expect("tmp dir");
    (packs, tmp)
}

/// 64 MiB as 1024 distinct 64 KiB chunks, with their ids.
fn pack_input() -> Vec<(ObjectId, Encoded)> {
    let data = seeded(4, BIG);
    data.chunks(CHUNK)
        .map(|c| (HashAlgo::Blake3.hash(Domain::Chunk, c), Encoded::raw(c)))
        .collect()
}

fn write_pack(root: &Path, input: &[(ObjectId, Encoded)]) -> PathBuf {
    let (packs, tmp) = pack_dirs(root);
    let mut w = PackWriter::new(HashAlgo::Blake3, PackClass::Data, &packs, &tmp);
    for (id, enc) in input {
        w.add(*id, ObjectKind::Chunk, enc).expect("pack add");
    }
    w.finish().expect("pack finish");
    packs
}

fn bench_packs(c: &mut Criterion) {
    let input = pack_input();
    let mut g = c.benchmark_group("pack");
    g.throughput(Throughput::Bytes(BIG as u64));
    // Includes the pack's fsync and the index's atomic write: the cost `add` pays per pack.
    g.bench_function("write_64MiB_raw", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| {
                write_pack(dir.path(), &input);
                dir
            },
            BatchSize::PerIteration,
        );
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let packs = write_pack(dir.path(), &input);
    let store = Store::open(&packs, HashAlgo::Blake3).expect("store");
    g.bench_function("read_64MiB_raw", |b| {
        b.iter(|| {
            for (id, _) in &input {
                let bytes = store
                    .read(id, ObjectKind::Chunk, &packs)
                    .expect("pack read");
                black_box(bytes);
            }
        });
    });
    g.finish();
}

/// A pack index of `IDX_ENTRIES` small objects, and ids that are in it and ids that are not.
fn big_index(root: &Path) -> (PackIndex, Vec<ObjectId>, Vec<ObjectId>) {
    let (packs, tmp) = pack_dirs(root);
    let algo = HashAlgo::Blake3;
    let mut w = PackWriter::new(algo, PackClass::Data, &packs, &tmp);
    let mut present = Vec::with_capacity(IDX_ENTRIES);
    for i in 0..IDX_ENTRIES as u64 {
        let bytes = i.to_le_bytes();
        let id = algo.hash(Domain::Chunk, &bytes);
        w.add(id, ObjectKind::Chunk, &Encoded::raw(&bytes))
            .expect("pack add");
        present.push(id);
    }
    let names = w.finish().expect("pack finish");
    assert_eq!(names.len(), 1, "one pack holds the whole index");
    let idx = PackIndex::open(&packs.join(format!("{}.idx", names[0]))).expect("open idx");
    let absent = (0..IDX_ENTRIES as u64)
        .map(|i| algo.hash(Domain::FileLeaf, &i.to_le_bytes()))
        .collect();
    (idx, present, absent)
}

fn bench_index_lookup(c: &mut Criterion<Clock>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (idx, present, absent) = big_index(dir.path());
    let mut g = c.benchmark_group("pack_index_lookup_100k");
    g.throughput(Throughput::Elements(IDX_ENTRIES as u64));
    for (name, ids) in [("hit", &present), ("miss", &absent)] {
        g.bench_with_input(BenchmarkId::from_parameter(name), ids, |b, ids| {
            b.iter(|| ids.iter().filter(|id| idx.lookup(id).is_some()).count());
        });
    }
    g.finish();
}

/// A staging index shaped like the comparison's small-file trees: `files` files of 1-10
/// KiB spread over `dirs` directories, one chunk each.
fn staging_index(files: usize, dirs: usize) -> StagingIndex {
    let algo = HashAlgo::Blake3;
    let mut index = StagingIndex::default();
    for i in 0..files {
        let path = format!("d{:03}/f{:05}.bin", i % dirs, i);
        let len = 1024 + (i * 7919) % (9 * 1024);
        let id = algo.hash(Domain::Chunk, path.as_bytes());
        let chunks = vec![ChunkRef {
            id,
            len: len as u32,
        }];
        let stat = Stat {
            size: len as u64,
            mtime_ns: 1_700_000_000_000_000_000 + i as i64,
            ctime_ns: 1_700_000_000_000_000_000 + i as i64,
            ino: 1_000_000 + i as u64,
            mode: 0o100644,
        };
        let entry = IndexEntry::of_chunks(EntryKind::File as u8, 0o644, stat, algo, chunks);
        index.entries.insert(path.into_bytes(), entry);
    }
    index.entries.sort();
    index
}

fn bench_trees(c: &mut Criterion<Clock>) {
    let index = staging_index(FILES, DIRS);
    let mut g = c.benchmark_group("tree");
    g.throughput(Throughput::Elements(FILES as u64));
    g.bench_function("build_20k_entries", |b| {
        b.iter(|| build(black_box(&index), HashAlgo::Blake3).expect("build"));
    });
    g.finish();

    // The merkle root of a 1 GiB file's 16,384 chunk leaves at the default chunk size.
    let leaves: Vec<ObjectId> = (0..16_384u32)
        .map(|i| HashAlgo::Blake3.hash(Domain::FileLeaf, &i.to_le_bytes()))
        .collect();
    let mut g = c.benchmark_group("merkle_root");
    g.throughput(Throughput::Elements(leaves.len() as u64));
    for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
        g.bench_function(format!("16k_leaves_{}", algo.name()), |b| {
            b.iter(|| merkle::root(algo, Domain::FileNode, black_box(&leaves)));
        });
    }
    g.finish();
}

fn bench_staging(c: &mut Criterion) {
    bench_staging_of(c, "staging_index_20k", FILES, DIRS);
    // Issue 17's million files: a load and a save each use two threads.
    bench_staging_of(c, "staging_index_1m", 1_000_000, 1_000);
}

fn bench_staging_of(c: &mut Criterion, name: &str, files: usize, dirs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, tmp) = pack_dirs(dir.path());
    let path = dir.path().join("index");
    let algo = HashAlgo::Blake3;
    let mut index = staging_index(files, dirs);
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(files as u64));
    // Includes fsync of the file and its directory, as every save does.
    g.bench_function("save", |b| {
        b.iter(|| index.save(&path, &tmp, algo).expect("save"));
    });
    g.bench_function("load", |b| {
        b.iter(|| StagingIndex::load(black_box(&path), algo).expect("load"));
    });
    g.finish();
}

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = single_thread;
    config = config(Criterion::default().with_measurement(Clock::from_env()));
    targets = bench_chunking, bench_hashing, bench_chunk_hash, bench_index_lookup, bench_trees
}
criterion_group! {
    name = wall_time;
    config = config(Criterion::default());
    targets = bench_chunk_hash_parallel, bench_packs, bench_staging
}
criterion_main!(single_thread, wall_time);
