//! The built binary run as a child process that can be killed or run beside others (for the
//! fault, crash, concurrency and model tests), a workload that changes from round to round,
//! and the checks every round ends with. Every function takes the worktree root first, then
//! the arguments, then any extra environment.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{assert_error, assert_same_tree, random_bytes, snapshot, text, Node, Rng};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cairn");

/// How long any one command may take before the test gives up on it (a hang is a failure).
const DEADLINE: Duration = Duration::from_secs(120);

pub(crate) type Tree = BTreeMap<Vec<u8>, Node>;

/// The worktree's entries, `.cairn` left out.
pub(crate) fn worktree(root: &Path) -> Tree {
    snapshot(root, &[".cairn"])
}

/// `cairn` in `root` with a fixed author and extra environment variables.
pub(crate) fn cmd(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(root)
        .env("CAIRN_AUTHOR", "tester")
        .env_remove("CAIRN_FAILPOINT")
        .env_remove("CAIRN_TEST_PACK_TARGET")
        .arg("--no-progress")
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

pub(crate) fn spawn(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Child {
    cmd(root, args, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn")
}

/// Waits for `child` to end, killing it and failing the test after [`DEADLINE`]. Its output
/// is read meanwhile, so a child with much to say never blocks on a full pipe.
pub(crate) fn wait(mut child: Child, what: &str) -> Output {
    fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cairn") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let err = err.join().expect("stderr reader");
            panic!(
                "`cairn {what}` hung; stderr: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

pub(crate) fn run(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    wait(spawn(root, args, envs), &args.join(" "))
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cairn args`, asserts exit 0, returns stdout.
pub(crate) fn ok(root: &Path, args: &[&str]) -> String {
    ok_env(root, args, &[])
}

pub(crate) fn ok_env(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = run(root, args, envs);
    assert!(
        out.status.success(),
        "`cairn {}` failed ({:?}): {}",
        args.join(" "),
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// Runs `cairn --json args`, asserts exit 0, parses stdout.
pub(crate) fn json(root: &Path, args: &[&str]) -> Value {
    json_env(root, args, &[])
}

pub(crate) fn json_env(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok_env(root, &all, envs);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub(crate) fn fails(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    assert_error(&run(root, args, envs), args)
}

/// The id of the layer `rev` names.
pub(crate) fn layer_id(root: &Path, rev: &str) -> String {
    json(root, &["show", rev])["id"]
        .as_str()
        .expect("show has an id")
        .to_string()
}

/// Paths staged, unstaged and untracked, as `status --json` lists them.
pub(crate) fn changes(root: &Path) -> usize {
    let v = json(root, &["status"]);
    ["staged", "unstaged", "untracked"]
        .iter()
        .map(|k| v[k].as_array().map_or(0, Vec::len))
        .sum()
}

pub(crate) fn staged(root: &Path) -> usize {
    json(root, &["status"])["staged"]
        .as_array()
        .map_or(0, Vec::len)
}

/// `verify` exits 0 and reports no damage.
pub(crate) fn assert_verifies(root: &Path, data: bool, what: &str) {
    let args: &[&str] = if data {
        &["--json", "verify", "--data"]
    } else {
        &["--json", "verify"]
    };
    let out = run(root, args, &[]);
    assert!(
        out.status.success(),
        "{what}: verify failed ({:?}): {} {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("verify --json");
    assert_eq!(v["damage"], Value::Array(vec![]), "{what}: {v}");
}

/// Restores `layer` into a fresh directory beside the worktree and compares it with the
/// tree it was committed from.
pub(crate) fn assert_restores(root: &Path, layer: &str, want: &Tree, what: &str) {
    let dest = root
        .parent()
        .expect("the worktree has a parent")
        .join(format!("restore-{layer}"));
    let _ = fs::remove_dir_all(&dest);
    ok(
        root,
        &[
            "-q",
            "restore",
            layer,
            "--to",
            dest.to_str().expect("UTF-8 path"),
        ],
    );
    assert_same_tree(
        want,
        &snapshot(&dest, &[]),
        &[],
        &format!("{what}: layer {layer}"),
    );
    fs::remove_dir_all(&dest).expect("remove restore");
}

/// Polls `cond` every few milliseconds for up to `limit`.
pub(crate) fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// The process id written into `.cairn/lock` by its holder, if any.
pub(crate) fn lock_holder(root: &Path) -> Option<u32> {
    fs::read_to_string(root.join(".cairn/lock"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn killed_by(status: &ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

/// Every file below `.cairn`, with its bytes, except the lock file: what "the repository
/// is exactly as before" compares.
pub(crate) fn repo_files(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut all = snapshot(&root.join(".cairn"), &[]);
    all.remove(&b"lock"[..]);
    all
}

pub(crate) const BLOB: &str = "big/blob.bin";
pub(crate) const BLOB_LEN: usize = 3 << 20;

/// A repository with one layer of [`populate`]'s files, ready for more, and the generator
/// that made them.
pub(crate) fn repo_with_a_layer(files: usize, seed: u64) -> (super::Env, Rng) {
    let env = super::Env::new();
    let mut rng = Rng::new(seed);
    populate(&env.root, &mut rng, files);
    ok(&env.root, &["-q", "add", "-A"]);
    ok(&env.root, &["-q", "commit", "-m", "base"]);
    (env, rng)
}

/// A worktree of `files` small files in a dozen directories, a 3 MiB incompressible file,
/// an executable script and a symlink.
pub(crate) fn populate(root: &Path, rng: &mut Rng, files: usize) {
    for i in 0..files {
        let len = 100 + rng.below(12_000) as usize;
        let content = text(rng, len);
        write(
            root,
            &format!("d{:02}/s{}/f{i:04}.txt", i % 12, i % 3),
            &content,
        );
    }
    write(root, BLOB, &random_bytes(rng.next(), BLOB_LEN));
    write(root, "bin/run.sh", b"#!/bin/sh\necho cairn\n");
    fs::set_permissions(root.join("bin/run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink(BLOB, root.join("link")).expect("symlink");
}

/// Changes about `n` small files (new content, deletions, new files) and overwrites a
/// random 64 KiB stretch of the large file, so every round stores new chunks.
pub(crate) fn mutate(root: &Path, rng: &mut Rng, n: usize) {
    let mut small: Vec<Vec<u8>> = worktree(root)
        .into_iter()
        .filter(|(p, node)| matches!(node, Node::File { .. }) && p.starts_with(b"d"))
        .map(|(p, _)| p)
        .collect();
    for _ in 0..n {
        let i = rng.below(small.len() as u64) as usize;
        let p = path(root, &small[i]);
        match rng.below(6) {
            0 if small.len() > 50 => {
                fs::remove_file(&p).expect("delete a file");
                small.swap_remove(i);
            }
            1 => {
                let name = format!(
                    "d{:02}/s{}/new{:x}.txt",
                    rng.below(12),
                    rng.below(4),
                    rng.next()
                );
                let len = 100 + rng.below(8000) as usize;
                write(root, &name, &text(rng, len));
            }
            _ => {
                let len = 100 + rng.below(12_000) as usize;
                fs::write(&p, text(rng, len)).expect("rewrite a file");
            }
        }
    }
    overwrite(
        root,
        BLOB,
        rng.below((BLOB_LEN - (64 << 10)) as u64),
        &random_bytes(rng.next(), 64 << 10),
    );
    prune_empty_dirs(root);
}

/// Writes `data` at `offset` of the file `rel`.
pub(crate) fn overwrite(root: &Path, rel: &str, offset: u64, data: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(root.join(rel))
        .expect("open for writing");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.write_all(data).expect("write");
}

pub(crate) fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("create parents");
    fs::write(&p, data).expect("write file");
}

pub(crate) fn path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// Empty directories are not recorded in layers; removing them keeps the worktree
/// comparable with restores.
pub(crate) fn prune_empty_dirs(root: &Path) {
    fn prune(dir: &Path) -> bool {
        let mut empty = true;
        for e in fs::read_dir(dir).expect("read_dir").flatten() {
            let ft = e.file_type().expect("file type");
            if e.file_name() == ".cairn" {
                empty = false;
            } else if ft.is_dir() && prune(&e.path()) {
                fs::remove_dir(e.path()).expect("remove empty dir");
            } else {
                empty = false;
            }
        }
        empty
    }
    prune(root);
}
