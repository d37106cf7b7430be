//! Files that change while cairn reads them: another process writing through a shared
//! memory map or with `pwrite` while `add` runs, and a large file cut short while `add` or
//! `status` reads it. cairn may refuse such a file ("file kept changing while it was read",
//! exit 2) or store one consistent read of it, but every chunk it stores must hash to its
//! id, and it must never die of a signal.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use cairn::pack::ObjectKind;
use cairn::Repository;

use crate::support;
use crate::support::Env;
use crate::support::{killed_by, ok, run, stderr, text, Rng};

/// Over the 4 MiB that `add` reads whole: read in windows, the path that used a memory map.
const BIG: usize = 8 << 20;
/// The size a shrinking file is cut back to.
const SMALL: u64 = 1000;
/// `add` or `status` runs this many times while the file changes under it.
const ROUNDS: usize = 6;
/// What one round may take on a loaded machine before the test calls it a hang.
const ROUND_LIMIT: Duration = Duration::from_secs(30);

/// A repository holding a large compressible file, `big.txt`, not yet added: compression
/// takes long enough after hashing that a change in between was stored on every round.
fn repo_with_big_file() -> Env {
    let env = Env::new();
    env.write("big.txt", text(&mut Rng::new(12), BIG));
    env
}

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the file for writing")
}

/// How another process changes the file while cairn reads it.
#[derive(Clone, Copy)]
enum Writer {
    /// Stores through a `MAP_SHARED` map: no system call, and the mtime moves at most once.
    SharedMap,
    /// `pwrite`s of one byte.
    Pwrite,
}

/// Changes one byte in every 4 KiB of the file, again and again, until `stop`; the bytes
/// stay text, so every chunk still compresses. Returns how many passes it made.
fn keep_changing(path: &Path, how: Writer, stop: &AtomicBool) -> u64 {
    let file = open_rw(path);
    let mut passes = 0u64;
    // SAFETY: the test owns the file, which keeps its size while mapped.
    let mut map = matches!(how, Writer::SharedMap)
        .then(|| unsafe { memmap2::MmapMut::map_mut(&file) }.expect("map the file"));
    while !stop.load(Relaxed) {
        let byte = b'a' + (passes % 26) as u8;
        for off in (passes as usize % 4096..BIG).step_by(4096) {
            match map.as_mut() {
                // Volatile: each store must reach the shared pages, as another process's would.
                // SAFETY: `off` is inside the map.
                Some(m) => unsafe { std::ptr::write_volatile(m.as_mut_ptr().add(off), byte) },
                None => file
                    .write_at(&[byte], off as u64)
                    .map(drop)
                    .expect("pwrite"),
            }
        }
        passes += 1;
        // Often enough to land inside most chunks' compression, without taking a core.
        std::thread::sleep(Duration::from_micros(100));
    }
    passes
}

/// Cuts the file back to `SMALL` bytes and lets it grow back to `BIG` (as zeros), until
/// `stop`. Returns how many times it cut it.
fn keep_shrinking(path: &Path, stop: &AtomicBool) -> u64 {
    let file = open_rw(path);
    let mut cuts = 0;
    while !stop.load(Relaxed) {
        file.set_len(BIG as u64).expect("grow the file");
        std::thread::sleep(Duration::from_millis(3));
        file.set_len(SMALL).expect("shrink the file");
        cuts += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    cuts
}

/// Stops the changing thread when dropped, also when an assertion fails: the scope waits for
/// its threads before the failure can end the test.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// One run of `cairn args` in the worktree that must end by itself, never by a signal, with
/// exit 0, or 2 and the error for a file that kept changing. Returns the exit code.
fn run_unharmed(root: &Path, args: &[&str]) -> i32 {
    let started = Instant::now();
    let out: Output = run(root, args, &[]);
    let what = args.join(" ");
    assert_eq!(
        killed_by(&out.status),
        None,
        "`cairn {what}` was killed by a signal; stderr: {}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < ROUND_LIMIT,
        "`cairn {what}` took {:?}",
        started.elapsed()
    );
    let code = out.status.code().expect("an exit code");
    if code == 2 {
        let big = root.join("big.txt");
        let want = format!(
            "error: file kept changing while it was read ({})",
            big.display()
        );
        assert!(
            stderr(&out).lines().any(|l| l == want),
            "`cairn {what}`: {}",
            stderr(&out)
        );
    } else {
        assert_eq!(code, 0, "`cairn {what}`: {}", stderr(&out));
    }
    code
}

/// Every chunk record in every pack, referenced or not, holds bytes that hash to its id.
fn assert_chunks_match_ids(root: &Path, what: &str) {
    let repo = Repository::open(root).expect("open the repository");
    let mut chunks = 0;
    for pack in repo.store.packs() {
        for entry in pack.index.entries() {
            let entry = entry.expect("an index entry");
            if entry.kind == ObjectKind::Chunk {
                chunks += 1;
                if let Err(e) = repo.read_chunk(&entry.id) {
                    panic!("{what}: a stored chunk does not match its id: {e}");
                }
            }
        }
    }
    assert!(chunks > 0, "{what}: no chunk was stored");
}

/// `add` while another process writes the file: whatever each run did, every stored chunk
/// matches its id; once the writer stops, the file commits, verifies and restores.
fn add_while_written(how: Writer, add: &[&str]) {
    let env = repo_with_big_file();
    let root = env.root.as_path();
    let big = env.path("big.txt");
    let stop = AtomicBool::new(false);
    let passes = AtomicU64::new(0);
    let mut refused = 0;
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        s.spawn(|| passes.store(keep_changing(&big, how, &stop), Relaxed));
        for round in 0..ROUNDS {
            refused += usize::from(run_unharmed(root, add) == 2);
            assert_chunks_match_ids(root, &format!("round {round}"));
        }
    });
    assert!(passes.load(Relaxed) > 0, "the writer never ran");
    eprintln!("{refused} of {ROUNDS} adds refused the changing file");
    // Stores through a map move the mtime only at the first one after a write-back, so the
    // last of them can leave the stat data as `add` saw it (as for git): show the change.
    support::set_mtime(&big, 1_700_000_000_000_000_000);
    ok(root, &["-q", "add", "big.txt"]);
    ok(root, &["-q", "commit", "-m", "after the writer stopped"]);
    support::assert_verifies(root, true, "after the writer stopped");
    assert_chunks_match_ids(root, "after the commit");
    let want = support::worktree(root);
    support::assert_restores(root, "HEAD", &want, "after the writer stopped");
}

#[test]
fn add_stores_what_it_hashed_while_a_shared_map_writes_the_file() {
    add_while_written(Writer::SharedMap, &["add", "big.txt"]);
}

#[test]
fn add_stores_what_it_hashed_while_pwrite_writes_the_file() {
    // Every write moves the mtime, so each read is refused; `--ignore-errors` then goes on
    // and publishes the pack holding the chunks of the refused reads.
    add_while_written(Writer::Pwrite, &["add", "--ignore-errors", "big.txt"]);
}

/// Runs `cairn args` `ROUNDS` times while the file keeps shrinking and growing.
fn run_while_shrinking(env: &Env, args: &[&str]) {
    let big = env.path("big.txt");
    let stop = AtomicBool::new(false);
    let cuts = AtomicU64::new(0);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        s.spawn(|| cuts.store(keep_shrinking(&big, &stop), Relaxed));
        for _ in 0..ROUNDS {
            run_unharmed(&env.root, args);
        }
    });
    assert!(cuts.load(Relaxed) > 0, "the file was never cut");
}

#[test]
fn add_of_a_file_that_shrinks_is_an_error_or_a_retry_never_a_signal() {
    let env = repo_with_big_file();
    run_while_shrinking(&env, &["add", "big.txt"]);
    let out = run(&env.root, &["-q", "add", "big.txt"], &[]);
    assert!(
        out.status.success(),
        "add after the shrinking: {}",
        stderr(&out)
    );
    ok(&env.root, &["-q", "commit", "-m", "after the shrinking"]);
    support::assert_verifies(&env.root, true, "after the shrinking");
}

#[test]
fn status_of_a_file_that_shrinks_is_an_error_or_a_retry_never_a_signal() {
    let env = repo_with_big_file();
    // Tracked at the size it keeps returning to, so status must read it to compare.
    ok(&env.root, &["-q", "add", "big.txt"]);
    ok(&env.root, &["-q", "commit", "-m", "big"]);
    run_while_shrinking(&env, &["status", "--short"]);
    support::assert_verifies(&env.root, true, "after status");
}

/// With the largest average chunk (4 MiB, so chunks of up to 16 MiB), a large file used to
/// be committed empty: its first 8 MiB window held no final cut and the read stopped there,
/// and `verify` found nothing wrong. Windows now hold at least two of the largest chunks.
#[test]
fn the_largest_chunk_size_stores_large_files_whole() {
    let env = Env::with_init(&["--chunk-size", "4M"]);
    env.write("big.bin", support::random_bytes(36, 36 << 20));
    ok(&env.root, &["-q", "add", "big.bin"]);
    ok(&env.root, &["-q", "commit", "-m", "big"]);
    support::assert_verifies(&env.root, true, "4 MiB chunks");
    let want = support::worktree(&env.root);
    support::assert_restores(&env.root, "HEAD", &want, "4 MiB chunks");
}
