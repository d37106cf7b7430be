//! `cairn mount` through real FUSE mounts: what the mount shows equals `restore` of the
//! same layer, byte ranges at chunk boundaries, damage that fails exactly the reads over
//! it, commits and gc while mounted, signals, `--daemon` and `umount`, and a partial
//! clone served lazily from the in-process S3 server.
//!
//! These tests need `/dev/fuse` (scripts/test.sh installs fuse3); without it they fail,
//! saying so, rather than pass. Every mount is a `Mount` guard that unmounts and kills its
//! process when dropped, so a failing test leaves no mount behind.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn::object::EntryKind;
use cairn::read::lookup;
use cairn::Repository;

use crate::support::{random_bytes, snapshot, wait_for, Env, BIN};

/// The mount table lists `dir`.
fn mounted(dir: &Path) -> bool {
    let table = fs::read_to_string("/proc/self/mounts").expect("read the mount table");
    let want = dir.to_string_lossy().replace(' ', "\\040");
    table
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(want.as_str()))
}

fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: the mount tests need FUSE (apt-get install fuse3; modprobe fuse)"
    );
}

/// A `cairn mount` running in the background, unmounted and stopped when dropped.
struct Mount {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
}

impl Mount {
    /// Mounts the repository of `cwd` on a new directory `name` beside it, with `args`.
    fn start(cwd: &Path, name: &str, args: &[&str], envs: &[(&str, String)]) -> Mount {
        require_fuse();
        let base = cwd.parent().expect("a parent");
        let dir = base.join(name);
        fs::create_dir_all(&dir).expect("create the mount point");
        let log = base.join(format!("{name}.log"));
        let out = base.join(format!("{name}.out"));
        let mut c = Command::new(BIN);
        c.current_dir(cwd)
            .arg("mount")
            .arg(&dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("stdout file"))
            .stderr(fs::File::create(&log).expect("stderr file"));
        for (k, v) in envs {
            c.env(k, v);
        }
        let child = c.spawn().expect("spawn cairn mount");
        let mut m = Mount {
            child: Some(child),
            dir,
            log,
        };
        let up = wait_for(Duration::from_secs(30), || {
            mounted(&m.dir) || m.exited().is_some()
        });
        assert!(up && mounted(&m.dir), "not mounted: {}", m.stderr());
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().expect("try_wait")
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Waits for the process to end by itself; its exit status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Some(s) = self.exited() {
                self.child = None;
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("cairn mount did not exit: {}", self.stderr());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if mounted(&self.dir) {
            // Lazily: a test that failed may still hold a file open there.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Restores `layer` of `env` into a new directory `name` beside the worktree.
fn restore(env: &Env, layer: &str, name: &str) -> PathBuf {
    let dest = env.outside(name);
    env.ok(&["-q", "restore", layer, "--to", dest.to_str().unwrap()]);
    dest
}

/// A repository whose layers hold odd names, modes, symlinks, empty files, nested
/// directories and a multi-chunk file; tagged `v1` (first layer) and `v2`.
fn odd_repo() -> Env {
    let env = Env::new();
    env.write("plain.txt", "hello\n");
    env.write("with space and\nnewline", "odd\n");
    env.write(b"bytes-\xff\xfe-not-utf8", "raw name\n");
    env.write("ünï/cödé.csv", "a,b\n1,2\n");
    env.write("deep/a/b/c/d/leaf", "leaf\n");
    env.write("empty", "");
    env.write("big.bin", random_bytes(7, 3_000_000));
    env.write("run.sh", "#!/bin/sh\necho hi\n");
    env.chmod("run.sh", 0o755);
    env.write("secret", "s\n");
    env.chmod("secret", 0o600);
    env.symlink("plain.txt", "link");
    env.symlink("../../outside/of/it", "deep/a/up");
    env.symlink("/etc/passwd", "absolute");
    env.symlink("missing-target", "dangling");
    env.ok(&["add", "-A", "-q"]);
    env.commit("one");
    env.ok(&["tag", "v1", "-q"]);
    env.write("plain.txt", "hello again\n");
    env.write("ünï/new", "new\n");
    fs::remove_file(env.path("empty")).unwrap();
    env.ok(&["add", "-A", "-q"]);
    env.commit("two");
    env.ok(&["tag", "v2", "-q"]);
    env
}

#[test]
fn every_layer_reads_as_restore_writes_it() {
    let env = odd_repo();
    let m = Mount::start(&env.root, "mnt", &[], &[]);
    let layers = [env.ok(&["log", "--format", "%H"])]
        .concat()
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert_eq!(layers.len(), 2);
    let shown = |rel: &str| snapshot(&m.path(rel), &[]);
    for (i, (tag, id)) in [("v2", &layers[0]), ("v1", &layers[1])].iter().enumerate() {
        let want = snapshot(&restore(&env, id, &format!("r{i}")), &[]);
        assert_eq!(shown(&format!("tags/{tag}")), want, "tags/{tag}");
        assert_eq!(shown(&format!("layers/{id}")), want, "layers/{id}");
    }
    let head = snapshot(&restore(&env, "HEAD", "rh"), &[]);
    assert_eq!(shown("lines/main"), head);
    assert_eq!(shown("HEAD/"), head, "HEAD");
    assert_eq!(
        fs::read_link(m.path("HEAD")).unwrap(),
        Path::new(&format!("layers/{}", layers[0]))
    );
    let mut names: Vec<_> = fs::read_dir(m.path("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = layers.clone();
    want.sort();
    assert_eq!(names, want);
    // Links are shown as links, never followed by cairn.
    let up = fs::symlink_metadata(m.path("tags/v1/deep/a/up")).unwrap();
    assert!(up.file_type().is_symlink());
    // A read-only file system: nothing can be written.
    let w = fs::OpenOptions::new()
        .write(true)
        .open(m.path("tags/v1/plain.txt"));
    assert!(w.is_err());
    assert!(fs::write(m.path("tags/v1/new"), "x").is_err());
    assert!(!m.stderr().contains("error"), "{}", m.stderr());

    // --layer: one layer at the root.
    let one = Mount::start(&env.root, "one", &["--layer", "v1"], &[]);
    let want = snapshot(&env.outside("r1"), &[]);
    assert_eq!(snapshot(&one.dir, &[]), want);
}

/// The chunk lengths of `path` in layer `rev`, read through the library.
fn chunk_lens(env: &Env, path: &str) -> Vec<u64> {
    let repo = Repository::open(&env.root).unwrap();
    let (_, head) = repo.head().unwrap();
    let tree = repo.read_layer(&head.unwrap()).unwrap().tree;
    let e = lookup(&repo, &tree, path.as_bytes()).unwrap().unwrap();
    assert_eq!(e.kind, EntryKind::File);
    let obj = repo.read_file(&e.id).unwrap();
    obj.chunks.iter().map(|c| u64::from(c.len)).collect()
}

/// Reads `len` bytes at `at` from `f`, as many as there are.
fn pread(f: &fs::File, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut buf[got..], at + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

#[test]
fn byte_ranges_at_chunk_boundaries_equal_the_file() {
    let env = Env::new();
    let data = random_bytes(11, 2_500_000);
    env.write("big.bin", &data);
    env.ok(&["add", "-A", "-q"]);
    env.commit("big");
    let lens = chunk_lens(&env, "big.bin");
    assert!(lens.len() >= 4, "several chunks: {lens:?}");
    let m = Mount::start(&env.root, "mnt", &["--cache-size", "1M"], &[]);
    let f = fs::File::open(m.path("lines/main/big.bin")).unwrap();
    let mut at = 0u64;
    let size = data.len() as u64;
    for len in &lens {
        at += len;
        for (lo, hi) in [
            (at.saturating_sub(1), at + 1),
            (at, at + 1),
            (at.saturating_sub(1), at),
            (at.saturating_sub(70_000), at + 70_000),
        ] {
            let (lo, hi) = (lo.min(size), hi.min(size));
            let got = pread(&f, lo, (hi - lo) as usize).unwrap();
            assert_eq!(got, &data[lo as usize..hi as usize], "bytes {lo}..{hi}");
        }
    }
    // Past the end: nothing; across it: what there is.
    assert!(pread(&f, size, 10).unwrap().is_empty());
    assert_eq!(pread(&f, size - 3, 10).unwrap(), &data[data.len() - 3..]);
    // The whole file, sequentially, with read-ahead.
    assert_eq!(fs::read(m.path("lines/main/big.bin")).unwrap(), data);
}

/// Flips one payload byte of chunk `id`'s record in its pack.
fn flip(env: &Env, id: &cairn::ObjectId) {
    let repo = Repository::open(&env.root).unwrap();
    let (pack, e) = repo.store.locate(id).expect("the chunk is stored");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pack.path())
        .unwrap();
    let at = e.offset + cairn::pack::RECORD_HEADER_LEN as u64 + u64::from(e.stored_len) / 2;
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
}

#[test]
fn a_flipped_byte_fails_exactly_the_reads_that_cover_its_chunk() {
    let env = Env::new();
    let data = random_bytes(12, 2_000_000);
    env.write("big.bin", &data);
    env.ok(&["add", "-A", "-q"]);
    env.commit("big");
    let repo = Repository::open(&env.root).unwrap();
    let tree = repo
        .read_layer(&repo.head().unwrap().1.unwrap())
        .unwrap()
        .tree;
    let e = lookup(&repo, &tree, b"big.bin").unwrap().unwrap();
    let chunks = repo.read_file(&e.id).unwrap().chunks;
    assert!(chunks.len() >= 3);
    let k = chunks.len() / 2;
    let start: u64 = chunks[..k].iter().map(|c| u64::from(c.len)).sum();
    let end = start + u64::from(chunks[k].len);
    flip(&env, &chunks[k].id);

    let m = Mount::start(&env.root, "mnt", &[], &[]);
    let f = fs::File::open(m.path("lines/main/big.bin")).unwrap();
    let eio = |lo: u64, hi: u64| {
        let err = pread(&f, lo, (hi - lo) as usize).expect_err("a read over damage fails");
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EIO),
            "bytes {lo}..{hi}: {err}"
        );
    };
    let fine = |lo: u64, hi: u64| {
        let got = pread(&f, lo, (hi - lo) as usize).expect("a read beside damage works");
        assert_eq!(got, &data[lo as usize..hi as usize], "bytes {lo}..{hi}");
    };
    eio(start, start + 1);
    eio(end - 1, end);
    eio(start - 1, start + 1);
    eio(end - 1, end + 1);
    eio(0, data.len() as u64);
    fine(start - 4096, start);
    fine(end, end + 4096);
    fine(0, start);
    fine(end, data.len() as u64);
    // Again, now that the neighbours are cached: damage is never cached as good.
    eio(start + 10, start + 20);
    let log = m.stderr();
    assert!(
        log.contains("could not read big.bin") && log.contains(&chunks[k].id.to_string()),
        "{log}"
    );
    // `cat` of the whole file through the mount fails too, rather than print zeros.
    let out = Command::new("cat")
        .arg(m.path("lines/main/big.bin"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn sigterm_unmounts_and_exits() {
    let env = Env::new();
    env.write("a", "a\n");
    env.ok(&["add", "-A", "-q"]);
    env.commit("a");
    let mut m = Mount::start(&env.root, "mnt", &[], &[]);
    assert_eq!(fs::read(m.path("lines/main/a")).unwrap(), b"a\n");
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(m.pid(), libc::SIGTERM) }, 0);
    let status = m.wait_exit();
    assert!(status.success(), "{status:?}: {}", m.stderr());
    assert!(!mounted(&m.dir), "still mounted after SIGTERM");
    let out = fs::read_to_string(m.dir.with_extension("out")).unwrap();
    assert!(out.contains("(signal)"), "{out}");
}

#[test]
fn daemon_returns_once_mounted_and_umount_ends_it() {
    require_fuse();
    let env = Env::new();
    env.write("a", "a\n");
    env.ok(&["add", "-A", "-q"]);
    env.commit("a");
    let dir = env.outside("mnt");
    fs::create_dir(&dir).unwrap();
    let v = env.json(&["mount", "--daemon", dir.to_str().unwrap()]);
    // A guard of its own: the daemon is no child of ours.
    let guard = DirGuard(dir.clone());
    assert_eq!(v["ended"], "running", "{v}");
    let pid = v["pid"].as_u64().unwrap();
    assert!(mounted(&dir));
    assert_eq!(fs::read(dir.join("lines/main/a")).unwrap(), b"a\n");
    let u = env.json(&["umount", dir.to_str().unwrap()]);
    assert_eq!(u["dir"], dir.to_str().unwrap());
    assert!(!mounted(&dir));
    let gone = wait_for(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone, "the daemon {pid} still runs");
    // Nothing is mounted there any more: umount says so, and changes nothing.
    let err = env.fails(&["umount", dir.to_str().unwrap()]);
    assert!(err.contains("no cairn mount is there"), "{err}");
    drop(guard);
}

/// Unmounts `dir` when dropped, if it is still mounted.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if mounted(&self.0) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    require_fuse();
    let env = Env::new();
    env.write("a", "a\n");
    env.ok(&["add", "-A", "-q"]);
    env.commit("a");
    let before = snapshot(&env.path(".cairn"), &["logs"]);
    let err = env.fails(&["mount", env.outside("nowhere").to_str().unwrap()]);
    assert!(
        err.contains("path does not exist") && err.contains("nowhere"),
        "{err}"
    );
    let file = env.path("a");
    let err = env.fails(&["mount", file.to_str().unwrap()]);
    assert!(err.contains("must be a directory"), "{err}");
    let dir = env.outside("m");
    fs::create_dir(&dir).unwrap();
    let err = env.fails(&["mount", "--layer", "nosuch", dir.to_str().unwrap()]);
    assert!(err.contains("nosuch"), "{err}");
    assert!(!mounted(&dir));
    let err = env.fails(&["umount", dir.to_str().unwrap()]);
    assert!(err.contains("no cairn mount is there"), "{err}");
    assert_eq!(snapshot(&env.path(".cairn"), &["logs"]), before);
}

#[test]
fn a_large_directory_lists_and_stats_every_entry() {
    let env = Env::new();
    let n = 20_000;
    for i in 0..n {
        env.write(format!("many/f{i:06}"), format!("{i}\n"));
    }
    env.ok(&["add", "-A", "-q"]);
    env.commit("many");
    let m = Mount::start(&env.root, "mnt", &[], &[]);
    let t = Instant::now();
    let mut count = 0;
    for e in fs::read_dir(m.path("lines/main/many")).unwrap() {
        let e = e.unwrap();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let name = e.file_name().into_string().unwrap();
        let i: u64 = name[1..].parse().unwrap();
        assert_eq!(meta.len(), format!("{i}\n").len() as u64);
        count += 1;
    }
    assert_eq!(count, n);
    assert_eq!(
        fs::read(m.path("lines/main/many/f012345")).unwrap(),
        b"12345\n"
    );
    // Generous for a debug build on a shared machine; a release build takes well under a
    // second (docs/BENCHMARKS.md).
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

#[test]
fn new_commits_show_and_reads_survive_commit_and_gc() {
    let env = Env::new();
    let pinned = random_bytes(21, 1_500_000);
    env.write("pinned.bin", &pinned);
    env.write("edit.txt", "0\n");
    env.ok(&["add", "-A", "-q"]);
    env.commit("base");
    env.ok(&["tag", "keep", "-q"]);
    let m = Mount::start(&env.root, "mnt", &["--cache-size", "256K"], &[]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let got = fs::read(m.path("tags/keep/pinned.bin")).expect("read while gc runs");
                assert!(got == pinned, "pinned.bin differs");
                let _ = fs::read_dir(m.path("lines/main")).expect("list while commits run");
                rounds += 1;
            }
            rounds
        });
        for i in 1..=6 {
            env.write("edit.txt", format!("{i}\n"));
            env.write(format!("new-{i}.bin"), random_bytes(100 + i, 200_000));
            env.ok(&["add", "-A", "-q"]);
            env.commit(&format!("round {i}"));
            if i % 2 == 0 {
                // The old versions go: gc rewrites and deletes packs under the reader.
                fs::remove_file(env.path(format!("new-{}.bin", i - 1))).unwrap();
                env.ok(&["add", "-A", "-q"]);
                env.commit("drop");
            }
            env.ok(&["-q", "gc", "--prune=now"]);
            let want = format!("{i}\n");
            let shows = wait_for(Duration::from_secs(5), || {
                fs::read_to_string(m.path("lines/main/edit.txt")).is_ok_and(|t| t == want)
            });
            assert!(shows, "round {i} not shown in lines/main");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rounds = reader.join().expect("the reader never failed");
        assert!(rounds > 0);
    });
    assert!(!m.stderr().contains("error"), "{}", m.stderr());
}

/// `cairn args` in `dir` with the AWS environment of `s3` only.
fn with_s3(
    env: &Env,
    dir: &Path,
    s3: &crate::remote_s3::S3,
    args: &[&str],
) -> std::process::Output {
    use crate::remote_s3::{KEY, SECRET};
    let mut c = env.cmd_in(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", s3.endpoint())
        .timeout(Duration::from_secs(120))
        .args(args)
        .output()
        .expect("run cairn")
}

#[test]
fn a_partial_clone_reads_missing_chunks_from_its_remote() {
    use crate::remote_s3::{url, KEY, S3, SECRET};
    require_fuse();
    let s3 = S3::start();
    let env = Env::new();
    let old = random_bytes(31, 1_200_000);
    let new = random_bytes(32, 900_000);
    env.write("data/old.bin", &old);
    env.write("notes.txt", "n\n");
    env.ok(&["add", "-A", "-q"]);
    env.commit("one");
    env.ok(&["tag", "v1", "-q"]);
    env.write("data/new.bin", &new);
    env.ok(&["add", "-A", "-q"]);
    env.commit("two");
    let ep = s3.endpoint();
    let run = |dir: &Path, args: &[&str]| {
        let out = with_s3(&env, dir, &s3, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        &env.root,
        &["remote", "add", "origin", &url("lazy"), "--endpoint", &ep],
    );
    run(&env.root, &["push", "--all", "-q"]);
    run(
        &env.base,
        &["clone", &url("lazy"), "part", "-q", "--", "notes.txt"],
    );
    let part = env.base.join("part");
    // Not fetched by the clone: reading it without the mount fails.
    let out = env
        .cmd_in(&part)
        .args(["cat", "v1:data/old.bin"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "data/old.bin was fetched by the clone"
    );

    let envs = [
        ("AWS_ACCESS_KEY_ID", KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", ep.clone()),
    ];
    let m = Mount::start(&part, "pm", &[], &envs);
    assert_eq!(fs::read(m.path("tags/v1/data/old.bin")).unwrap(), old);
    let f = fs::File::open(m.path("lines/main/data/new.bin")).unwrap();
    assert_eq!(pread(&f, 500_000, 1000).unwrap(), &new[500_000..501_000]);
    assert_eq!(fs::read(m.path("lines/main/data/new.bin")).unwrap(), new);
    assert!(!m.stderr().contains("error"), "{}", m.stderr());
    drop(f);
    drop(m);
    // Kept: read again with no remote in reach, and the repository verifies.
    let cat = env
        .cmd_in(&part)
        .args(["cat", "v1:data/old.bin"])
        .output()
        .unwrap();
    assert!(
        cat.status.success(),
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
    assert_eq!(cat.stdout, old);
    let v = env
        .cmd_in(&part)
        .args(["verify", "--data", "v1"])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn sigterm_with_a_file_open_detaches_and_serves_it_until_closed() {
    let env = Env::new();
    let data = random_bytes(41, 600_000);
    env.write("f.bin", &data);
    env.ok(&["add", "-A", "-q"]);
    env.commit("f");
    let mut m = Mount::start(&env.root, "mnt", &[], &[]);
    let f = fs::File::open(m.path("lines/main/f.bin")).unwrap();
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(m.pid(), libc::SIGTERM) }, 0);
    assert!(
        wait_for(Duration::from_secs(10), || !mounted(&m.dir)),
        "not detached"
    );
    // The open file still reads, and the mount's process waits for it.
    assert_eq!(pread(&f, 100_000, 5000).unwrap(), &data[100_000..105_000]);
    assert!(m.exited().is_none(), "exited with a file still open");
    drop(f);
    let status = m.wait_exit();
    assert!(status.success(), "{status:?}: {}", m.stderr());
}

/// A line of `/proc/PID/status`, in KiB.
fn status_kib(pid: i32, key: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read the status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

#[test]
fn memory_stays_within_the_cache_size_plus_a_fixed_baseline() {
    // A file five times the cache, read through it twice and at random: every chunk is
    // kept, evicted and read again. Before the budget counted slabs, the peak was the
    // cache plus about as much again (a 64 MiB cache peaked near 200 MiB over the start).
    const CACHE_MIB: u64 = 64;
    let env = Env::new();
    let data = random_bytes(16, (5 * CACHE_MIB as usize) << 20);
    env.write("big.bin", &data);
    env.ok(&["add", "-A", "-q"]);
    env.commit("big");
    fs::remove_file(env.path("big.bin")).unwrap();
    let cache = format!("{CACHE_MIB}M");
    let m = Mount::start(&env.root, "mnt", &["--cache-size", &cache], &[]);
    let path = m.path("lines/main/big.bin");
    let f = fs::File::open(&path).unwrap();
    assert_eq!(pread(&f, 0, 4096).unwrap(), &data[..4096]);
    let start = status_kib(m.pid(), "VmHWM:");
    for _ in 0..2 {
        assert!(
            fs::read(&path).unwrap() == data,
            "the whole file reads back"
        );
    }
    let mut rng = crate::support::Rng::new(3);
    for _ in 0..2000 {
        let at = rng.below(data.len() as u64 - 4096) as usize;
        assert_eq!(pread(&f, at as u64, 4096).unwrap(), &data[at..at + 4096]);
    }
    let peak = status_kib(m.pid(), "VmHWM:");
    // The baseline beyond the process at start: the serving and read-ahead threads' chunks
    // being read and copied, 1 MiB replies, the allocator's pages for them.
    let bound = start + (CACHE_MIB + 64) * 1024;
    assert!(
        peak <= bound,
        "peak {peak} KiB, above {bound} KiB: {start} KiB at start + {CACHE_MIB} MiB cache + 64 MiB"
    );
}
