//! `verify --data` against its floor, in the same run.
//!
//! Builds a repository of 256 MiB of random bytes (64 files of 4 MiB; `CAIRN_VERIFY_MB`
//! changes the total) through the library, in a temporary directory, then measures:
//!
//! - `verify_data`: the library's verify op with `data`, over the whole repository: every
//!   pack and index checked, every object decompressed and re-hashed, every layer walked.
//! - `floor_mmap_blake3`: every pack file memory-mapped and hashed with plain BLAKE3 by
//!   `Hasher::update_rayon`, one pack after another, on rayon's pool: the same thread count
//!   verify uses, and the way `b3sum FILE` reads and hashes.
//!
//! Both report the pack bytes per second (Throughput::Bytes of the pack files). Wall time:
//! both use every core. The page cache is warm for both (the repository was just written).
//! Criterion's figures are followed by a same-run check: the two are run alternately and
//! the medians of each and their ratios printed, by wall and by CPU time (all threads), which
//! on a shared machine is steadier than two figures taken minutes apart.

#![allow(
    unreachable_pub,
    missing_docs,
    reason = "a test or bench binary has no public surface"
)]
#![allow(unsafe_code, reason = "the bench maps packs to flip their bytes")]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn::ops::add::{add, AddOptions};
use cairn::ops::commit::{commit, CommitOptions};
use cairn::ops::init::{init, InitOptions};
use cairn::ops::verify::{verify, VerifyOptions};
use cairn::session::Common;
use cairn::{HashAlgo, NoProgress, Repository};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memmap2::Mmap;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, SeedableRng as _};

const MIB: usize = 1 << 20;
const FILE_BYTES: usize = 4 * MIB;

/// A repository holding `total` random bytes in one layer.
fn build_repo(root: &Path, total: usize) -> Repository {
    init(&InitOptions {
        dir: root.to_path_buf(),
        hash: HashAlgo::Blake3,
        chunk_avg: None,
        separate: None,
    })
    .expect("init");
    // The tests' seeded generator (tests/it/support/rng.rs): incompressible bytes, so every
    // chunk is stored raw, and the same on every run.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut buf = vec![0u8; FILE_BYTES];
    for i in 0..total.div_ceil(FILE_BYTES) {
        rng.fill_bytes(&mut buf);
        std::fs::write(root.join(format!("f{i:04}.bin")), &buf).expect("write data");
    }
    let repo = Repository::open(root).expect("open");
    let common = Common::new(root);
    let all = AddOptions {
        paths: vec![],
        all: true,
        dry_run: false,
        force: false,
        ignore_errors: false,
        exclude: Vec::new(),
        counts_only: false,
    };
    let locked = repo.lock(common.lock_timeout).expect("lock");
    add(&locked, &common, &all, &NoProgress).expect("add");
    let msg = CommitOptions {
        message: "data".into(),
        author: None,
        new_line: None,
        ..Default::default()
    };
    commit(&locked, &msg, &NoProgress).expect("commit");
    drop(locked);
    Repository::open(root).expect("reopen")
}

fn pack_files(root: &Path) -> Vec<PathBuf> {
    let dir = root.join(".cairn/packs");
    let mut packs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("packs dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    packs.sort();
    packs
}

fn verify_data(repo: &Repository) {
    let opts = VerifyOptions {
        data: true,
        layers: vec![],
    };
    let out = verify(repo, &opts, &NoProgress).expect("verify");
    assert!(out.is_clean(), "{:?}", out.damage);
}

/// Reads and hashes every byte of every pack: the floor for verify's data check.
fn floor(packs: &[PathBuf]) -> [u8; 32] {
    let mut last = [0u8; 32];
    for p in packs {
        // SAFETY: the packs are not modified while the bench runs.
        let map = unsafe { Mmap::map(&File::open(p).expect("open pack")) }.expect("mmap");
        let mut h = blake3::Hasher::new();
        h.update_rayon(&map);
        last = *h.finalize().as_bytes();
    }
    last
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time of the whole process (every thread), user and system.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) },
        0
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall and CPU time of one run of `f`.
fn timed(f: impl FnOnce()) -> (Duration, Duration) {
    let (t, c) = (Instant::now(), cpu_time());
    f();
    (t.elapsed(), cpu_time() - c)
}

/// Runs verify and the floor alternately and prints the medians and their ratios: wall time,
/// and CPU time, which the other tenants of a shared machine disturb much less.
fn same_run_ratio(repo: &Repository, packs: &[PathBuf], bytes: u64) {
    let (mut vw, mut vc, mut fw, mut fc) = (vec![], vec![], vec![], vec![]);
    for _ in 0..9 {
        let (w, c) = timed(|| verify_data(repo));
        vw.push(w);
        vc.push(c);
        let (w, c) = timed(|| {
            std::hint::black_box(floor(packs));
        });
        fw.push(w);
        fc.push(c);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (vw, vc, fw, fc) = (median(vw), median(vc), median(fw), median(fc));
    println!(
        "same run, medians of 9 alternating runs over {} MiB of packs:\n  \
         verify --data: wall {:.0} ms ({:.0} MiB/s), CPU {:.0} ms\n  \
         floor:         wall {:.0} ms ({:.0} MiB/s), CPU {:.0} ms\n  \
         verify's speed over the floor's: {:.2} by wall time, {:.2} by CPU time",
        bytes >> 20,
        ms(vw),
        bytes as f64 / MIB as f64 / vw.as_secs_f64(),
        ms(vc),
        ms(fw),
        bytes as f64 / MIB as f64 / fw.as_secs_f64(),
        ms(fc),
        fw.as_secs_f64() / vw.as_secs_f64(),
        fc.as_secs_f64() / vc.as_secs_f64(),
    );
}

fn bench(c: &mut Criterion) {
    let total = std::env::var("CAIRN_VERIFY_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(256)
        * MIB;
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = build_repo(dir.path(), total);
    let packs = pack_files(dir.path());
    let bytes: u64 = packs
        .iter()
        .map(|p| p.metadata().expect("stat pack").len())
        .sum();

    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("verify_data", |b| b.iter(|| verify_data(&repo)));
    g.bench_function("floor_mmap_blake3", |b| b.iter(|| floor(&packs)));
    g.finish();
    same_run_ratio(&repo, &packs, bytes);
}

criterion_group!(benches, bench);
criterion_main!(benches);
