//! A temporary directory holding a worktree (`work/`) with room beside it for restore
//! destinations and "outside" directories, and the built `cairn` binary run inside it with
//! `--no-progress` and a fixed author.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, UNIX_EPOCH};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use super::{assert_error, assert_success, is_hex64};

/// A temporary directory `base/` with the worktree at `base/work`.
pub(crate) struct Env {
    _tmp: TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Env {
    /// A fresh repository in `base/work` (`cairn init` has run with `init_args`).
    pub(crate) fn with_init(init_args: &[&str]) -> Env {
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

    pub(crate) fn new() -> Env {
        Env::with_init(&[])
    }

    /// The absolute path of `rel` (raw bytes allowed) in the worktree.
    pub(crate) fn path(&self, rel: impl AsRef<[u8]>) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel.as_ref()))
    }

    /// The absolute path of `rel` beside the worktree.
    pub(crate) fn outside(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    pub(crate) fn cmd_in(&self, dir: &Path) -> Command {
        let mut c = Command::cargo_bin("cairn").expect("the cairn binary is built");
        c.current_dir(dir)
            .env("CAIRN_AUTHOR", "tester")
            .arg("--no-progress")
            .timeout(Duration::from_secs(60));
        c
    }

    /// Runs `cairn args` in `dir`, whatever the exit code.
    pub(crate) fn run_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Output {
        self.cmd_in(dir).args(args).output().expect("run cairn")
    }

    pub(crate) fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.run_in(&self.root, args)
    }

    /// Runs `cairn args`, asserts exit 0, returns stdout as bytes.
    pub(crate) fn ok_bytes<S: AsRef<OsStr>>(&self, args: &[S]) -> Vec<u8> {
        let out = self.run(args);
        assert_success(&out, args);
        out.stdout
    }

    /// Runs `cairn args`, asserts exit 0, returns stdout as text.
    pub(crate) fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        String::from_utf8_lossy(&self.ok_bytes(args)).into_owned()
    }

    pub(crate) fn ok_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> String {
        let out = self.run_in(dir, args);
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `cairn args`, asserts exit 2 with an `error:` line on stderr; returns stderr.
    pub(crate) fn fails<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert_error(&out, args);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs `cairn --json args`, asserts exit 0, parses stdout.
    pub(crate) fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--json")];
        all.extend(args.iter().map(std::convert::AsRef::as_ref));
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// `add -A` then `commit -m msg`; returns the new layer id.
    pub(crate) fn commit(&self, msg: &str) -> String {
        self.ok(&["add", "-A", "-q"]);
        let v = self.json(&["commit", "-m", msg]);
        let id = v["layer"]
            .as_str()
            .expect("commit --json has a layer")
            .to_string();
        assert!(is_hex64(&id), "{id}");
        id
    }

    pub(crate) fn head(&self) -> String {
        let v = self.json(&["show", "HEAD"]);
        v["id"].as_str().expect("show has an id").to_string()
    }

    /// `status --json` as (line, staged, unstaged, untracked), paths only.
    pub(crate) fn status(&self) -> (Option<String>, Vec<String>, Vec<String>, Vec<String>) {
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

    pub(crate) fn write(&self, rel: impl AsRef<[u8]>, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("a parent")).expect("create parents");
        let _ = fs::remove_file(&p);
        fs::write(&p, data).expect("write file");
    }

    pub(crate) fn read(&self, rel: impl AsRef<[u8]>) -> Vec<u8> {
        fs::read(self.path(rel)).expect("read file")
    }

    pub(crate) fn symlink(&self, target: impl AsRef<[u8]>, rel: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("a parent")).expect("create parents");
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(OsStr::from_bytes(target.as_ref()), &p).expect("symlink");
    }

    pub(crate) fn chmod(&self, rel: impl AsRef<[u8]>, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub(crate) fn set_mtime(&self, rel: impl AsRef<[u8]>, ns: i64) {
        set_mtime(&self.path(rel), ns);
    }
}

pub(crate) fn set_mtime(p: &Path, ns: i64) {
    let t = if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    };
    set_modified(p, t);
}

/// Sets the modification time of the file at `p` (following a symlink).
pub(crate) fn set_modified(p: &Path, t: std::time::SystemTime) {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(p)
        .expect("open for times");
    f.set_times(fs::FileTimes::new().set_modified(t))
        .expect("set mtime");
}
