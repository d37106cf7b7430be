//! Helpers shared by `cli_read.rs` and `hostile.rs`: a temporary directory holding a worktree
//! (`work/`) with room beside it for restore destinations and "outside" directories, the
//! built `cairn` binary run inside it, and whole-tree snapshots compared entry by entry.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, UNIX_EPOCH};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// A temporary directory `base/` with the worktree at `base/work`.
pub struct Env {
    _tmp: TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Env {
    /// A fresh repository in `base/work` (`cairn init` has run with `init_args`).
    pub fn with_init(init_args: &[&str]) -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("cairn-read-")
            .tempdir()
            .expect("create a temporary directory");
        let base = tmp.path().canonicalize().expect("canonicalize temp dir");
        let root = base.join("work");
        fs::create_dir(&root).expect("create worktree");
        let env = Env {
            _tmp: tmp,
            base,
            root,
        };
        let mut args = vec!["init", "-q"];
        args.extend_from_slice(init_args);
        env.ok(&args);
        env
    }

    pub fn new() -> Env {
        Env::with_init(&[])
    }

    /// The absolute path of `rel` (raw bytes allowed) in the worktree.
    pub fn path(&self, rel: impl AsRef<[u8]>) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel.as_ref()))
    }

    /// The absolute path of `rel` beside the worktree.
    pub fn outside(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    pub fn cmd_in(&self, dir: &Path) -> Command {
        let mut c = Command::cargo_bin("cairn").expect("the cairn binary is built");
        c.current_dir(dir)
            .env("CAIRN_AUTHOR", "tester")
            .arg("--no-progress")
            .timeout(Duration::from_secs(60));
        c
    }

    /// Runs `cairn args` in `dir`, whatever the exit code.
    pub fn run_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Output {
        self.cmd_in(dir).args(args).output().expect("run cairn")
    }

    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.run_in(&self.root, args)
    }

    /// Runs `cairn args`, asserts exit 0, returns stdout as bytes.
    pub fn ok_bytes<S: AsRef<OsStr>>(&self, args: &[S]) -> Vec<u8> {
        let out = self.run(args);
        assert_ok(&out, args);
        out.stdout
    }

    /// Runs `cairn args`, asserts exit 0, returns stdout as text.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        String::from_utf8_lossy(&self.ok_bytes(args)).into_owned()
    }

    pub fn ok_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> String {
        let out = self.run_in(dir, args);
        assert_ok(&out, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `cairn args`, asserts exit 2 with an `error:` line on stderr; returns stderr.
    pub fn fails<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert_error(&out, args);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs `cairn --json args`, asserts exit 0, parses stdout.
    pub fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--json")];
        all.extend(args.iter().map(|a| a.as_ref()));
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// `add -A` then `commit -m msg`; returns the new layer id.
    pub fn commit(&self, msg: &str) -> String {
        self.ok(&["add", "-A", "-q"]);
        let v = self.json(&["commit", "-m", msg]);
        let id = v["layer"]
            .as_str()
            .expect("commit --json has a layer")
            .to_string();
        assert!(is_hex64(&id), "{id}");
        id
    }

    pub fn head(&self) -> String {
        let v = self.json(&["show", "HEAD"]);
        v["id"].as_str().expect("show has an id").to_string()
    }

    /// `status --json` as (line, staged, unstaged, untracked), paths only.
    pub fn status(&self) -> (Option<String>, Vec<String>, Vec<String>, Vec<String>) {
        let v = self.json(&["status"]);
        let paths = |k: &str| -> Vec<String> {
            v[k].as_array()
                .unwrap_or_else(|| panic!("status has {k}: {v}"))
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other["path"].as_str().expect("a path").to_string(),
                })
                .collect()
        };
        (
            v["line"].as_str().map(str::to_string),
            paths("staged"),
            paths("unstaged"),
            paths("untracked"),
        )
    }

    pub fn write(&self, rel: impl AsRef<[u8]>, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("a parent")).expect("create parents");
        let _ = fs::remove_file(&p);
        fs::write(&p, data).expect("write file");
    }

    pub fn read(&self, rel: impl AsRef<[u8]>) -> Vec<u8> {
        fs::read(self.path(rel)).expect("read file")
    }

    pub fn symlink(&self, target: impl AsRef<[u8]>, rel: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("a parent")).expect("create parents");
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(OsStr::from_bytes(target.as_ref()), &p).expect("symlink");
    }

    pub fn chmod(&self, rel: impl AsRef<[u8]>, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub fn set_mtime(&self, rel: impl AsRef<[u8]>, ns: i64) {
        set_mtime(&self.path(rel), ns);
    }
}

pub fn set_mtime(p: &Path, ns: i64) {
    let t = if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    };
    let f = fs::OpenOptions::new()
        .write(true)
        .open(p)
        .expect("open for times");
    f.set_times(fs::FileTimes::new().set_modified(t))
        .expect("set mtime");
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn assert_ok<S: AsRef<OsStr>>(out: &Output, args: &[S]) {
    assert!(
        out.status.success(),
        "`cairn {}` failed ({:?}):\n{}",
        show_args(args),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn assert_error<S: AsRef<OsStr>>(out: &Output, args: &[S]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "`cairn {}` should exit 2; stdout: {} stderr: {stderr}",
        show_args(args),
        String::from_utf8_lossy(&out.stdout),
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "`cairn {}` should print an `error:` line: {stderr}",
        show_args(args)
    );
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Deterministic pseudo-random bytes (xorshift64*), different for each seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// File contents in a snapshot: compared whole, printed short.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // FNV-1a, only to tell contents apart in failure messages.
        let h = self.0.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
        });
        write!(f, "<{} bytes, fnv {h:016x}>", self.0.len())
    }
}

/// One entry of a directory tree, as `symlink_metadata` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File {
        mode: u32,
        mtime_ns: i64,
        content: Bytes,
    },
    Symlink {
        target: Vec<u8>,
        mtime_ns: i64,
    },
}

/// Every entry below `dir` by relative path (raw bytes), not following symlinks. Entries
/// named in `skip` (such as `.cairn`) are left out, with everything below them.
pub fn snapshot(dir: &Path, skip: &[&str]) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    walk(dir, b"", skip, &mut out);
    out
}

fn walk(dir: &Path, prefix: &[u8], skip: &[&str], out: &mut BTreeMap<Vec<u8>, Node>) {
    for e in fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("dir entry");
        let name = e.file_name();
        if skip.iter().any(|s| OsStr::new(s) == name) {
            continue;
        }
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let p = e.path();
        let m = fs::symlink_metadata(&p).expect("lstat");
        let mtime_ns = m.mtime() * 1_000_000_000 + m.mtime_nsec();
        let node = if m.file_type().is_symlink() {
            let target = fs::read_link(&p).expect("readlink");
            Node::Symlink {
                target: target.as_os_str().as_bytes().to_vec(),
                mtime_ns,
            }
        } else if m.is_dir() {
            walk(&p, &rel, skip, out);
            Node::Dir
        } else {
            Node::File {
                mode: m.mode() & 0o7777,
                mtime_ns,
                content: Bytes(fs::read(&p).expect("read")),
            }
        };
        out.insert(rel, node);
    }
}

fn lossy(p: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(p))
}

/// Asserts that `actual` holds exactly the entries of `expected` (contents, modes, symlink
/// targets, mtimes of files and symlinks), apart from the paths in `extra` and the
/// directories above them, which `actual` may also hold.
pub fn assert_same_tree(
    expected: &BTreeMap<Vec<u8>, Node>,
    actual: &BTreeMap<Vec<u8>, Node>,
    extra: &[&[u8]],
    what: &str,
) {
    let allowed: BTreeSet<Vec<u8>> = extra
        .iter()
        .flat_map(|p| {
            let mut v = vec![p.to_vec()];
            for (i, b) in p.iter().enumerate() {
                if *b == b'/' {
                    v.push(p[..i].to_vec());
                }
            }
            v
        })
        .collect();
    let mut problems = Vec::new();
    for (p, want) in expected {
        match actual.get(p) {
            None => problems.push(format!("missing {}", lossy(p))),
            Some(got) if got != want => {
                problems.push(format!("differs {}: want {want:?}, got {got:?}", lossy(p)))
            }
            Some(_) => {}
        }
    }
    for p in actual.keys() {
        if !expected.contains_key(p) && !allowed.contains(p) {
            problems.push(format!("extra {}", lossy(p)));
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: {} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every path below `dir` (recursively, not following symlinks), for checking that nothing
/// appeared where it should not.
pub fn all_paths(dir: &Path, skip: &[&str]) -> BTreeSet<Vec<u8>> {
    snapshot(dir, skip).into_keys().collect()
}
