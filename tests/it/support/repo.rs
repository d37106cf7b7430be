//! A temporary worktree that is itself the temporary directory, and the built `cairn`
//! binary run inside it with the environment's author left out (so `USER` names it).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

use super::{assert_failure, assert_success, is_hex64};

/// A temporary worktree. The directory is removed when the value is dropped.
pub(crate) struct TestRepo {
    _tmp: TempDir,
    root: PathBuf,
}

impl TestRepo {
    /// An empty temporary directory, not yet a repository.
    pub(crate) fn empty() -> TestRepo {
        let tmp = tempfile::Builder::new()
            .prefix("cairn-test-")
            .tempdir()
            .expect("create a temporary directory");
        // Canonical, so that paths in cairn's messages compare equal to ours.
        let root = tmp.path().canonicalize().expect("canonicalize temp dir");
        TestRepo { _tmp: tmp, root }
    }

    /// A fresh repository (`cairn init -q` has run).
    pub(crate) fn new() -> TestRepo {
        let t = TestRepo::empty();
        t.ok(&["init", "-q"]);
        t
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `rel` (raw bytes allowed) in the worktree.
    pub(crate) fn path(&self, rel: impl AsRef<[u8]>) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel.as_ref()))
    }

    /// `cairn` with the worktree root as current directory and a fixed environment.
    pub(crate) fn cmd(&self) -> Command {
        self.cmd_in(&self.root)
    }

    /// `cairn` run from `dir`.
    pub(crate) fn cmd_in(&self, dir: &Path) -> Command {
        let mut c = Command::cargo_bin("cairn").expect("the cairn binary is built");
        c.current_dir(dir)
            .env_remove("CAIRN_AUTHOR")
            .env_remove("CAIRN_AUTHOR_NAME")
            .env_remove("CAIRN_AUTHOR_EMAIL")
            // No user-level settings file (`cairn config --global`) of whoever runs the tests.
            .env("XDG_CONFIG_HOME", "/nonexistent/cairn-tests")
            .env("USER", "tester")
            .timeout(std::time::Duration::from_secs(60));
        c
    }

    /// Runs `cairn args` from the root; returns the raw output, whatever the exit code.
    pub(crate) fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd().args(args).output().expect("run cairn")
    }

    /// Runs `cairn args` from `dir`; returns the raw output.
    pub(crate) fn run_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Output {
        self.cmd_in(dir).args(args).output().expect("run cairn")
    }

    /// Runs `cairn args`, asserts exit 0, returns stdout as text.
    pub(crate) fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert_success(&out, args);
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs `cairn --json args`, asserts exit 0, parses the one JSON document on stdout.
    pub(crate) fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> serde_json::Value {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--json")];
        all.extend(args.iter().map(AsRef::as_ref));
        let out = self.run(&all);
        assert_success(&out, &all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {:?} is not one JSON document: {e}\n{}",
                all,
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `cairn args`, asserts it failed with `code` and printed exactly one `error:`
    /// line on stderr; returns stderr.
    pub(crate) fn fails<S: AsRef<OsStr>>(&self, args: &[S], code: i32) -> String {
        let out = self.run(args);
        assert_failure(&out, args, code)
    }

    /// `status --short` as raw lines (read with `-z`, so names are exact bytes, unquoted).
    pub(crate) fn status_raw(&self) -> Vec<Vec<u8>> {
        let out = self.run(&["status", "-z"]);
        assert_success(&out, &["status", "-z"]);
        out.stdout
            .split(|b| *b == 0)
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// `status --short` as (UTF-8) lines.
    pub(crate) fn status(&self) -> Vec<String> {
        self.status_raw()
            .into_iter()
            .map(|l| String::from_utf8(l).expect("status line is UTF-8"))
            .collect()
    }

    /// `commit -m msg`: asserts stdout is one 64-hex id and returns it.
    pub(crate) fn commit(&self, msg: &str) -> String {
        let out = self.ok(&["commit", "-m", msg]);
        let id = out.strip_suffix('\n').unwrap_or(&out);
        assert!(is_hex64(id), "commit printed {out:?}, not a 64-hex id");
        id.to_string()
    }

    /// Writes a file, creating parent directories.
    pub(crate) fn write(&self, rel: impl AsRef<[u8]>, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    /// Appends to a file (its size changes, so no stat race can hide the edit).
    pub(crate) fn append(&self, rel: impl AsRef<[u8]>, data: impl AsRef<[u8]>) {
        use std::io::Write;
        let p = self.path(rel);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
        f.write_all(data.as_ref()).expect("append");
    }

    pub(crate) fn read(&self, rel: impl AsRef<[u8]>) -> Vec<u8> {
        std::fs::read(self.path(rel)).expect("read file")
    }

    pub(crate) fn exists(&self, rel: impl AsRef<[u8]>) -> bool {
        std::fs::symlink_metadata(self.path(rel)).is_ok()
    }

    pub(crate) fn mkdir(&self, rel: impl AsRef<[u8]>) {
        std::fs::create_dir_all(self.path(rel)).expect("create directory");
    }

    /// Creates the symlink `rel` -> `target` (not checked: may dangle).
    pub(crate) fn symlink(&self, target: impl AsRef<[u8]>, rel: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::os::unix::fs::symlink(OsStr::from_bytes(target.as_ref()), &p).expect("symlink");
    }

    pub(crate) fn chmod(&self, rel: impl AsRef<[u8]>, mode: u32) {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }

    pub(crate) fn remove(&self, rel: impl AsRef<[u8]>) {
        std::fs::remove_file(self.path(rel)).expect("remove file");
    }

    /// Sets the mtime of every file, symlink (itself) and directory below the root, outside
    /// `.cairn`, to `secs` since the epoch.
    pub(crate) fn fix_mtimes(&self, secs: u64) {
        let mut paths = Vec::new();
        collect_paths(&self.root, &mut paths);
        paths.retain(|p| !p.starts_with(self.root.join(".cairn")));
        for batch in paths.chunks(500) {
            let st = std::process::Command::new("touch")
                .arg("-h")
                .arg("-d")
                .arg(format!("@{secs}"))
                .args(batch)
                .status()
                .expect("run touch");
            assert!(st.success(), "touch failed");
        }
    }

    /// Every path under `.cairn` (except the lock, which any writer rewrites) with its bytes;
    /// directories map to `None`.
    pub(crate) fn snapshot(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let dir = self.root.join(".cairn");
        let mut paths = Vec::new();
        collect_paths(&dir, &mut paths);
        paths
            .into_iter()
            .filter(|p| p.file_name() != Some(OsStr::new("lock")))
            .map(|p| {
                let rel = p.strip_prefix(&dir).expect("below .cairn").to_path_buf();
                let bytes = if p.is_dir() {
                    None
                } else {
                    Some(std::fs::read(&p).expect("read repository file"))
                };
                (rel, bytes)
            })
            .collect()
    }

    /// Total size of the files in `.cairn/packs`.
    pub(crate) fn packs_size(&self) -> u64 {
        std::fs::read_dir(self.root.join(".cairn/packs"))
            .expect("list packs")
            .map(|e| e.expect("pack entry").metadata().expect("stat pack").len())
            .sum()
    }
}

fn collect_paths(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.expect("directory entry");
        let p = e.path();
        out.push(p.clone());
        if e.file_type().expect("file type").is_dir() {
            collect_paths(&p, out);
        }
    }
}
