//! Remotes against a real S3 server: s3s with its file-system backend (s3s-fs), started in
//! this process on 127.0.0.1 with signature checks, driven through the `cairn` binary with the
//! standard AWS environment variables. Nothing here mocks the protocol.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{assert_failure, assert_success, random_bytes, TestRepo};

pub(crate) const KEY: &str = "cairn-test-key";
pub(crate) const SECRET: &str = "cairn-test-secret-0123456789";
const BUCKET: &str = "cairn-test";

/// An S3 server on a random port of 127.0.0.1, serving a temporary directory; stopped when
/// dropped.
pub(crate) struct S3 {
    root: tempfile::TempDir,
    port: u16,
    rt: Option<tokio::runtime::Runtime>,
}

impl S3 {
    pub(crate) fn start() -> S3 {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;

        let root = tempfile::Builder::new()
            .prefix("cairn-s3-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(KEY, SECRET));
        let service = b.build();
        rt.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let conn = Builder::new(TokioExecutor::new());
                    let _ = conn.serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        S3 {
            root,
            port,
            rt: Some(rt),
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the server keeps object `key` of remote `prefix`.
    fn object(&self, prefix: &str, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(prefix).join(key)
    }

    /// Keys under `prefix/dir`, relative to the prefix.
    fn keys(&self, prefix: &str, dir: &str) -> Vec<String> {
        let base = self.root.path().join(BUCKET).join(prefix);
        let mut out = Vec::new();
        walk(&base.join(dir), &mut out);
        out.into_iter()
            .map(|p| {
                p.strip_prefix(&base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
    out.sort();
}

pub(crate) fn url(prefix: &str) -> String {
    format!("s3://{BUCKET}/{prefix}")
}

/// `cairn args` in `dir` with the AWS environment of `s3` (and no other AWS variable).
fn run_env<S: AsRef<OsStr>>(
    t: &TestRepo,
    dir: &Path,
    s3: &S3,
    secret: &str,
    extra: &[(&str, &str)],
    args: &[S],
) -> Output {
    let mut c = t.cmd_in(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", s3.endpoint())
        .timeout(std::time::Duration::from_secs(120));
    for (k, v) in extra {
        c.env(k, v);
    }
    c.args(args).output().expect("run cairn")
}

fn run<S: AsRef<OsStr>>(t: &TestRepo, dir: &Path, s3: &S3, args: &[S]) -> Output {
    run_env(t, dir, s3, SECRET, &[], args)
}

/// Runs, asserts success, returns the JSON document (`--json` is added).
fn json(t: &TestRepo, dir: &Path, s3: &S3, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(t, dir, s3, &all);
    assert_success(&out, &all);
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn ok(t: &TestRepo, dir: &Path, s3: &S3, args: &[&str]) -> String {
    let out = run(t, dir, s3, args);
    assert_success(&out, args);
    String::from_utf8(out.stdout).unwrap()
}

/// A repository with three layers of real content: text, a multi-chunk binary, nested
/// directories, an executable, a symlink, an empty file; then an edit and a deletion.
fn seeded(t: &TestRepo) -> Vec<String> {
    t.write("README.md", "a dataset\n");
    t.write("data/raw/scan-0001.bin", random_bytes(1, 700_000));
    t.write("data/raw/scan-0002.bin", random_bytes(2, 300_000));
    t.write("data/labels.csv", "id,label\n1,cat\n2,dog\n".repeat(200));
    t.write("tools/run.sh", "#!/bin/sh\necho run\n");
    t.chmod("tools/run.sh", 0o755);
    t.write("empty", "");
    t.symlink("data/labels.csv", "labels");
    t.ok(&["add", "-A", "-q"]);
    let one = t.commit("raw scans");
    t.append("data/labels.csv", "3,bird\n");
    t.write("data/raw/scan-0003.bin", random_bytes(3, 400_000));
    t.ok(&["add", "-A", "-q"]);
    let two = t.commit("more scans");
    t.remove("data/raw/scan-0002.bin");
    t.write("notes/today.txt", "removed scan 2\n");
    t.ok(&["add", "-A", "-q"]);
    let three = t.commit("drop scan 2");
    vec![one, two, three]
}

/// Every file, symlink and directory below `dir` (outside `.cairn`): kind, mode, bytes.
fn tree(dir: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    fn go(base: &Path, dir: &Path, out: &mut BTreeMap<String, (String, u32, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if rel == ".cairn" {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                let bytes = target.to_string_lossy().as_bytes().to_vec();
                out.insert(rel, ("link".into(), 0, bytes));
            } else if m.is_dir() {
                out.insert(rel, ("dir".into(), 0, vec![]));
                go(base, &p, out);
            } else {
                out.insert(rel, ("file".into(), mode, std::fs::read(&p).unwrap()));
            }
        }
    }
    go(dir, dir, &mut out);
    out
}

/// The layers of `line` (any reference), newest first, through `show`.
fn layer_ids_of(t: &TestRepo, dir: &Path, s3: &S3, line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(line.to_string());
    while let Some(r) = next {
        let shown = json(t, dir, s3, &["show", &r]);
        out.push(shown["id"].as_str().unwrap().to_string());
        next = shown["parent"].as_str().map(str::to_string);
    }
    out
}

fn layer_ids(t: &TestRepo, dir: &Path, s3: &S3) -> Vec<String> {
    let log = json(t, dir, s3, &["log"]);
    log["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

/// Restores `layer` from the repository at `dir` into a fresh directory; returns its tree.
fn restored(
    t: &TestRepo,
    dir: &Path,
    s3: &S3,
    layer: &str,
) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let to = tempfile::tempdir().unwrap();
    let dest = to.path().join("out");
    ok(
        t,
        dir,
        s3,
        &["restore", layer, "--to", dest.to_str().unwrap(), "-q"],
    );
    tree(&dest)
}

#[test]
fn push_clone_pull_restore_every_layer() {
    let s3 = S3::start();
    let a = TestRepo::new();
    let layers = seeded(&a);
    let ep = s3.endpoint();
    ok(
        &a,
        a.root(),
        &s3,
        &["remote", "add", "origin", &url("ds"), "--endpoint", &ep],
    );
    let pushed = json(&a, a.root(), &s3, &["push"]);
    assert_eq!(pushed["reference"], "lines/main");
    assert_eq!(pushed["new"], layers[2].as_str());
    assert!(pushed["packs_uploaded"].as_u64().unwrap() >= 2, "{pushed}");
    assert!(s3.object("ds", "config.toml").exists());
    assert_eq!(
        std::fs::read_to_string(s3.object("ds", "refs/lines/main")).unwrap(),
        format!("{}\n", layers[2])
    );
    // Nothing new: nothing sent.
    let again = json(&a, a.root(), &s3, &["push"]);
    assert_eq!(again["up_to_date"], true);
    ok(&a, a.root(), &s3, &["tag", "v1", &layers[0]]);
    let tag = json(&a, a.root(), &s3, &["push", "origin", "v1"]);
    assert_eq!(tag["reference"], "tags/v1");
    assert_eq!(tag["packs_uploaded"], 0);

    let b = TestRepo::empty();
    let cloned = json(
        &b,
        b.root(),
        &s3,
        &["clone", &url("ds"), "work", "--endpoint", &ep],
    );
    let bw = b.root().join("work");
    assert_eq!(cloned["line"], "main");
    assert_eq!(cloned["layer"], layers[2].as_str());
    assert_eq!(cloned["partial"], false);
    assert_eq!(
        tree(&bw),
        tree(a.root()),
        "the clone's worktree equals the original"
    );
    assert_eq!(layer_ids(&b, &bw, &s3), layer_ids(&a, a.root(), &s3));
    for l in &layers {
        assert_eq!(
            restored(&b, &bw, &s3, l),
            restored(&a, a.root(), &s3, l),
            "layer {l}"
        );
    }
    assert!(ok(&b, &bw, &s3, &["tag", "--list"]).contains("v1"));
    assert_eq!(ok(&b, &bw, &s3, &["status", "--short"]), "");
    ok(&b, &bw, &s3, &["verify", "--data"]);
    let remotes = ok(&b, &bw, &s3, &["remote", "-v"]);
    assert!(
        remotes.contains(&url("ds")) && remotes.contains(&ep),
        "{remotes}"
    );

    // A new layer on one side reaches the other with pull.
    a.write("data/raw/scan-0004.bin", random_bytes(4, 500_000));
    a.ok(&["add", "-A", "-q"]);
    let four = a.commit("scan 4");
    let p = json(&a, a.root(), &s3, &["push"]);
    assert_eq!(p["old"], layers[2].as_str());
    let pulled = json(&b, &bw, &s3, &["pull"]);
    assert_eq!(pulled["status"], "fast-forward");
    assert_eq!(pulled["new"], four.as_str());
    assert!(pulled["fetched"]["packs"].as_u64().unwrap() >= 1);
    assert_eq!(tree(&bw), tree(a.root()));
    let up = json(&b, &bw, &s3, &["pull"]);
    assert_eq!(up["status"], "up-to-date");
    assert_eq!(up["fetched"]["packs"], 0);
    ok(&b, &bw, &s3, &["verify", "--data"]);
    let v = json(&b, &bw, &s3, &["verify", "--remote", "origin", "--data"]);
    assert_eq!(v["damage"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["layers"], 4);
}

#[test]
fn partial_clones_fetch_only_what_they_need() {
    let s3 = S3::start();
    let a = TestRepo::new();
    let layers = seeded(&a);
    let ep = s3.endpoint();
    ok(
        &a,
        a.root(),
        &s3,
        &["remote", "add", "origin", &url("p"), "--endpoint", &ep],
    );
    let pushed = json(&a, a.root(), &s3, &["push"]);
    let total = pushed["bytes_uploaded"].as_u64().unwrap();

    // --layer: the first layer only.
    let b = TestRepo::empty();
    let first = &layers[0][..12];
    let c = json(
        &b,
        b.root(),
        &s3,
        &["clone", &url("p"), "one", "--layer", first],
    );
    let bw = b.root().join("one");
    assert_eq!(c["partial"], true);
    assert_eq!(c["layer"], layers[0].as_str());
    assert_eq!(tree(&bw), restored(&a, a.root(), &s3, &layers[0]));
    let got = c["fetched"]["bytes"].as_u64().unwrap();
    assert!(
        got < total,
        "a layer-limited clone fetched {got} of {total} bytes"
    );
    // History is there (metadata), content of other layers is not.
    assert_eq!(layer_ids(&b, &bw, &s3).len(), 1, "HEAD is the first layer");
    ok(&b, &bw, &s3, &["show", &layers[2]]);

    // -- PATHS: only data/labels.csv and tools/, from the newest layer.
    let c = json(
        &b,
        b.root(),
        &s3,
        &["clone", &url("p"), "some", "--", "data/labels.csv", "tools"],
    );
    let sw = b.root().join("some");
    let want: BTreeMap<_, _> = tree(a.root())
        .into_iter()
        .filter(|(p, _)| p == "data" || p == "data/labels.csv" || p.starts_with("tools"))
        .collect();
    assert_eq!(tree(&sw), want);
    assert!(c["fetched"]["ranged_chunks"].as_u64().unwrap() > 0, "{c}");
    let got = c["fetched"]["bytes"].as_u64().unwrap();
    assert!(
        got < total / 4,
        "a path-limited clone fetched {got} of {total} bytes"
    );
    // The other paths are tracked but absent, as in a sparse checkout: status lists no
    // deletion of them, and nothing is staged (issue 14).
    let status = ok(&b, &sw, &s3, &["status", "--short"]);
    assert!(!status.contains("README.md"), "{status}");
    assert!(!status.contains("D  "), "nothing is staged: {status}");

    // A later layer touching those paths comes through pull, still limited to them.
    a.append("data/labels.csv", "4,fish\n");
    a.write("data/raw/scan-0005.bin", random_bytes(5, 600_000));
    a.ok(&["add", "-A", "-q"]);
    a.commit("fish");
    json(&a, a.root(), &s3, &["push"]);
    let p = json(&b, &sw, &s3, &["pull"]);
    assert_eq!(p["status"], "fast-forward");
    assert_eq!(
        std::fs::read(sw.join("data/labels.csv")).unwrap(),
        a.read("data/labels.csv")
    );
    assert!(!sw.join("data/raw/scan-0005.bin").exists());
    assert!(p["fetched"]["bytes"].as_u64().unwrap() < 100_000, "{p}");
}

#[test]
fn an_interrupted_push_resumes_with_what_is_missing() {
    let s3 = S3::start();
    let a = TestRepo::new();
    // One add per file: a data pack each, so the push has several to send.
    for i in 0..6u64 {
        a.write(format!("d/f{i}.bin"), random_bytes(10 + i, 400_000));
        a.ok(&["add", "-A", "-q"]);
    }
    a.commit("six files");
    let ep = s3.endpoint();
    ok(
        &a,
        a.root(),
        &s3,
        &["remote", "add", "origin", &url("r"), "--endpoint", &ep],
    );
    let packs = std::fs::read_dir(a.root().join(".cairn/packs"))
        .unwrap()
        .count()
        / 2;
    assert!(packs >= 6, "{packs} packs");

    // Killed once the first pack is up (its index not yet; others are in flight).
    let kill = [("CAIRN_FAILPOINT", "push:after-pack")];
    let out = run_env(&a, a.root(), &s3, SECRET, &kill, &["push"]);
    assert!(!out.status.success(), "the push was meant to die");
    assert!(
        !s3.object("r", "refs/lines/main").exists(),
        "no ref before the packs"
    );
    let idx_before = s3
        .keys("r", "packs")
        .iter()
        .filter(|k| k.ends_with(".idx"))
        .count();
    assert!(idx_before < packs);
    // A clone now finds no line: an empty repository.
    let c = TestRepo::empty();
    let early = json(&c, c.root(), &s3, &["clone", &url("r"), "x"]);
    assert_eq!(early["layer"], Value::Null);

    let full: u64 = std::fs::read_dir(a.root().join(".cairn/packs"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let resumed = json(&a, a.root(), &s3, &["push"]);
    let sent = resumed["bytes_uploaded"].as_u64().unwrap();
    assert!(sent < full, "the rerun sent {sent} of {full} bytes");
    // Cloning again into the same directory continues that clone.
    let c = json(&c, c.root(), &s3, &["clone", &url("r"), "x"]);
    assert_eq!(c["partial"], false);
    assert_eq!(c["lines"], 1);
    assert_eq!(tree(&c_dir(&c)), tree(a.root()));
}

fn c_dir(clone: &Value) -> PathBuf {
    PathBuf::from(clone["dir"].as_str().unwrap())
}

/// Two clones push different layers on the same line at the same moment (both wait at the
/// publish step, so they meet there): one wins, the other is refused, and no layer is lost.
fn concurrent_pushes(extra: &[(&str, &str)], prefix: &str) {
    let s3 = S3::start();
    let a = TestRepo::new();
    a.write("base.txt", "base\n");
    a.ok(&["add", "-A", "-q"]);
    let base = a.commit("base");
    let ep = s3.endpoint();
    ok(
        &a,
        a.root(),
        &s3,
        &["remote", "add", "origin", &url(prefix), "--endpoint", &ep],
    );
    json(&a, a.root(), &s3, &["push"]);

    let t = TestRepo::empty();
    let mut dirs = Vec::new();
    let mut mine = Vec::new();
    for who in ["b", "c"] {
        json(&t, t.root(), &s3, &["clone", &url(prefix), who]);
        let d = t.root().join(who);
        std::fs::write(d.join(format!("{who}.txt")), format!("from {who}\n")).unwrap();
        ok(&t, &d, &s3, &["add", "-A", "-q"]);
        let id = ok(&t, &d, &s3, &["commit", "-m", who]).trim().to_string();
        mine.push(id);
        dirs.push(d);
    }
    let mut env: Vec<(&str, &str)> = vec![("CAIRN_FAILPOINT", "push:before-publish=sleep1500")];
    env.extend_from_slice(extra);
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = dirs
            .iter()
            .map(|d| {
                let (t, s3, env) = (&t, &s3, &env);
                s.spawn(move || run_env(t, d, s3, SECRET, env, &["push"]))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..2).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(won.len(), 1, "exactly one push wins: {outs:?}");
    let (w, l) = (won[0], 1 - won[0]);
    let refused = assert_failure(&outs[l], &["push"], 2);
    // Normally the two meet at the publish step; on a very slow machine the second may
    // only start after the first is done, and then its first check refuses it.
    let raced = refused.contains("another push moved it");
    assert!(
        raced || refused.contains("not a fast-forward"),
        "the loser is told why: {refused}"
    );
    let tip = std::fs::read_to_string(s3.object(prefix, "refs/lines/main")).unwrap();
    assert_eq!(
        tip.trim(),
        mine[w],
        "the winner's layer is on the remote line"
    );
    // The loser keeps its layer, and pull says the histories diverged.
    let log = ok(&t, &dirs[l], &s3, &["log", "--oneline"]);
    assert!(log.contains(&mine[l][..12]), "{log}");
    let out = run(&t, &dirs[l], &s3, &["pull"]);
    let err = assert_failure(&out, &["pull"], 2);
    assert!(err.contains("diverged"), "{err}");
    // Every accepted push is on the line; nothing was overwritten.
    let v = json(&t, &dirs[w], &s3, &["verify", "--remote", "origin"]);
    assert_eq!(v["damage"].as_array().unwrap().len(), 0, "{v}");
    let accepted = s3.keys(prefix, "refs-log/lines/main");
    assert_eq!(accepted.len(), 2, "base and the winner: {accepted:?}");
    assert!(
        s3.keys(prefix, "locks").is_empty(),
        "no intent is left behind"
    );
    if !raced {
        return;
    }
    // Both layers are on the remote: the loser's as a line of its own.
    let side = format!("main.conflict-{}", &mine[l][..12]);
    assert!(refused.contains(&side), "{refused}");
    let e = json(&t, t.root(), &s3, &["clone", &url(prefix), "e"]);
    assert_eq!(e["lines"], 2);
    let ew = t.root().join("e");
    for (line, id) in [("main", &mine[w]), (side.as_str(), &mine[l])] {
        let chain = layer_ids_of(&t, &ew, &s3, line);
        assert_eq!(chain, vec![id.clone(), base.clone()], "{line}");
    }
}

#[test]
fn concurrent_pushes_with_conditional_writes() {
    concurrent_pushes(&[], "cc");
}

/// As on Garage, which ignores If-None-Match / If-Match: only the intents protect the line.
#[test]
fn concurrent_pushes_without_conditional_writes() {
    concurrent_pushes(&[("AWS_CONDITIONAL_PUT", "disabled")], "nc");
}

#[test]
fn a_wrong_secret_is_one_clear_error() {
    let s3 = S3::start();
    let a = TestRepo::new();
    a.write("x", "x\n");
    a.ok(&["add", "-A", "-q"]);
    a.commit("x");
    let ep = s3.endpoint();
    ok(
        &a,
        a.root(),
        &s3,
        &["remote", "add", "origin", &url("auth"), "--endpoint", &ep],
    );
    let out = run_env(&a, a.root(), &s3, "not-the-secret", &[], &["push"]);
    let err = assert_failure(&out, &["push"], 2);
    assert!(
        err.contains("403") && err.contains("SignatureDoesNotMatch"),
        "{err}"
    );
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    assert!(!s3.object("auth", "config.toml").exists());
    let out = run_env(
        &a,
        a.root(),
        &s3,
        "not-the-secret",
        &[],
        &["clone", &url("auth"), "y"],
    );
    assert_failure(&out, &["clone"], 2);

    // No credentials at all, and no server at all: said plainly, quickly.
    let mut c = a.cmd();
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    let out = c.args(["push"]).output().unwrap();
    let err = assert_failure(&out, &["push"], 2);
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    ok(
        &a,
        a.root(),
        &s3,
        &[
            "remote",
            "add",
            "dead",
            &url("x"),
            "--endpoint",
            "http://127.0.0.1:9",
        ],
    );
    let start = std::time::Instant::now();
    let out = run(&a, a.root(), &s3, &["push", "dead"]);
    let err = assert_failure(&out, &["push"], 2);
    assert!(err.contains("remote dead"), "{err}");
    assert!(
        start.elapsed().as_secs() < 60,
        "gave up in {:?}",
        start.elapsed()
    );
}

#[test]
fn damage_on_the_remote_is_found_and_never_installed() {
    let s3 = S3::start();
    let a = TestRepo::new();
    a.write("big.bin", random_bytes(7, 900_000));
    a.ok(&["add", "-A", "-q"]);
    a.commit("big");
    let ep = s3.endpoint();
    ok(
        &a,
        a.root(),
        &s3,
        &["remote", "add", "origin", &url("dmg"), "--endpoint", &ep],
    );
    json(&a, a.root(), &s3, &["push"]);
    let v = json(
        &a,
        a.root(),
        &s3,
        &["verify", "--remote", "origin", "--data"],
    );
    assert_eq!(v["damage"].as_array().unwrap().len(), 0, "{v}");

    // Flip one byte in the middle of the largest pack (a chunk's bytes).
    let pack = s3
        .keys("dmg", "packs")
        .into_iter()
        .filter(|k| k.ends_with(".pack"))
        .max_by_key(|k| std::fs::metadata(s3.object("dmg", k)).unwrap().len())
        .unwrap();
    let path = s3.object("dmg", &pack);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();

    let out = run(
        &a,
        a.root(),
        &s3,
        &["verify", "--remote", "origin", "--data"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("damaged: chunk"), "{text}");
    let b = TestRepo::empty();
    let out = run(&b, b.root(), &s3, &["clone", &url("dmg"), "z"]);
    let err = assert_failure(&out, &["clone"], 2);
    assert!(err.contains("failed its check on arrival"), "{err}");
    let packs = b.root().join("z/.cairn/packs");
    let installed = std::fs::read_dir(&packs).unwrap().count();
    assert!(
        std::fs::read_dir(&packs).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&pack[6..70])),
        "the damaged pack was not installed ({installed} files)"
    );
}

#[test]
fn a_file_remote_works_the_same() {
    let s3 = S3::start();
    let a = TestRepo::new();
    let layers = seeded(&a);
    let dir = tempfile::tempdir().unwrap();
    let remote = format!("file://{}/store", dir.path().display());
    ok(&a, a.root(), &s3, &["remote", "add", "local", &remote]);
    json(&a, a.root(), &s3, &["push", "local"]);
    let b = TestRepo::empty();
    let c = json(&b, b.root(), &s3, &["clone", &remote, "w"]);
    assert_eq!(c["layer"], layers[2].as_str());
    assert_eq!(tree(&c_dir(&c)), tree(a.root()));
}

/// A push killed between its ref-log entry and its reference (issue 12): no false damage, no
/// 120 s wait for the next push, which recovers the dead push's intent and entry. Then a
/// line deleted on the server, although its ref log records it, is damage.
#[test]
fn a_killed_push_is_recovered_and_a_deleted_line_is_damage() {
    let s3 = S3::start();
    let a = TestRepo::new();
    a.write("base.txt", "base\n");
    a.ok(&["add", "-A", "-q"]);
    a.commit("base");
    let ep = s3.endpoint();
    let add = ["remote", "add", "origin", &url("kp"), "--endpoint", &ep];
    ok(&a, a.root(), &s3, &add);
    json(&a, a.root(), &s3, &["push"]);
    a.write("two.txt", "two\n");
    a.ok(&["add", "-A", "-q"]);
    let two = a.commit("two");

    let kill = [("CAIRN_FAILPOINT", "push:after-log")];
    let out = run_env(&a, a.root(), &s3, SECRET, &kill, &["push"]);
    assert!(!out.status.success(), "the push was meant to die: {out:?}");
    assert_eq!(s3.keys("kp", "refs-log/lines/main").len(), 2);
    let v = json(&a, a.root(), &s3, &["verify", "--remote", "origin"]);
    assert_eq!(v["damage"].as_array().unwrap().len(), 0, "{v}");
    let start = std::time::Instant::now();
    json(&a, a.root(), &s3, &["push"]);
    assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
    let tip = std::fs::read_to_string(s3.object("kp", "refs/lines/main")).unwrap();
    assert_eq!(tip.trim(), two);
    assert!(s3.keys("kp", "locks").is_empty());
    assert_eq!(s3.keys("kp", "refs-log/lines/main").len(), 2);

    std::fs::remove_file(s3.object("kp", "refs/lines/main")).unwrap();
    let out = run(&a, a.root(), &s3, &["verify", "--remote", "origin"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reference is gone from the remote"), "{text}");
}

/// `push --tags`, `push --all` and `push --force` against the S3 server: one upload for all
/// references, tags that differ refused, a rewritten line forced, clones seeing it all.
#[test]
fn push_tags_all_and_force_on_s3() {
    let s3 = S3::start();
    let a = TestRepo::new();
    let ids = seeded(&a);
    a.ok(&["tag", "v1", &ids[0]]);
    a.ok(&["tag", "v3"]);
    a.ok(&["line", "old", &ids[1]]);
    let ep = s3.endpoint();
    let add = ["remote", "add", "origin", &url("many"), "--endpoint", &ep];
    ok(&a, a.root(), &s3, &add);
    let v = json(&a, a.root(), &s3, &["push", "--all"]);
    let results: Vec<(&str, &str)> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reference"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("lines/main", "created"),
            ("lines/old", "created"),
            ("tags/v1", "created"),
            ("tags/v3", "created")
        ]
    );
    let tip = |r: &str| {
        std::fs::read_to_string(s3.object("many", &format!("refs/{r}")))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(tip("lines/old"), ids[1]);
    assert_eq!(tip("tags/v1"), ids[0]);
    // Tags travel with a clone.
    let t = TestRepo::empty();
    let c = json(&t, t.root(), &s3, &["clone", &url("many"), "c"]);
    assert_eq!(
        (c["lines"].as_u64(), c["tags"].as_u64()),
        (Some(2), Some(2)),
        "{c}"
    );

    // Rewrite main (as forget does) and move v3 here: --tags refuses v3 (exit 1, the
    // document says why), push refuses main, --force moves main and still not v3.
    ok(&a, a.root(), &s3, &["reset", "-q", "--hard", &ids[0]]);
    a.write("after.txt", "rewritten\n");
    ok(&a, a.root(), &s3, &["add", "-A", "-q"]);
    let rewritten = a.commit("rewritten");
    ok(&a, a.root(), &s3, &["tag", "-d", "v3"]);
    ok(&a, a.root(), &s3, &["tag", "v3"]);
    let out = run(&a, a.root(), &s3, &["--json", "push", "--tags"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["references"][1]["result"], "refused", "{v}");
    let err = assert_failure(&run(&a, a.root(), &s3, &["push"]), &["push"], 2);
    assert!(err.contains("not a fast-forward"), "{err}");
    assert_eq!(tip("lines/main"), ids[2]);
    let out = run(&a, a.root(), &s3, &["--json", "push", "--all", "--force"]);
    assert_eq!(out.status.code(), Some(1), "v3 still refused: {out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["references"][0]["result"], "forced", "{v}");
    assert_eq!(tip("lines/main"), rewritten);
    assert_eq!(tip("tags/v3"), ids[2], "tags never move");
    // A fresh clone has the rewritten history, and every pushed layer is whole there.
    let d = json(&t, t.root(), &s3, &["clone", &url("many"), "d"]);
    let dd = t.root().join("d");
    assert!(d["lines"].as_u64() == Some(2), "{d}");
    assert_eq!(layer_ids(&t, &dd, &s3), [rewritten.clone(), ids[0].clone()]);
    let v = json(&t, &dd, &s3, &["verify", "--remote", "origin"]);
    assert_eq!(v["damage"].as_array().unwrap().len(), 0, "{v}");
}

/// Two forced pushes over S3 that read the same remote layer: the conditional publish lets
/// exactly one through, with and without the store's conditional writes.
fn forced_race_on_s3(extra: &[(&str, &str)], prefix: &str) {
    let s3 = S3::start();
    let a = TestRepo::new();
    a.write("base.txt", "base\n");
    a.ok(&["add", "-A", "-q"]);
    a.commit("base");
    let ep = s3.endpoint();
    let add = ["remote", "add", "origin", &url(prefix), "--endpoint", &ep];
    ok(&a, a.root(), &s3, &add);
    json(&a, a.root(), &s3, &["push"]);
    let t = TestRepo::empty();
    let mut dirs = Vec::new();
    let mut mine = Vec::new();
    for who in ["b", "c"] {
        json(&t, t.root(), &s3, &["clone", &url(prefix), who]);
        let d = t.root().join(who);
        std::fs::write(d.join(format!("{who}.txt")), format!("from {who}\n")).unwrap();
        ok(&t, &d, &s3, &["add", "-A", "-q"]);
        mine.push(ok(&t, &d, &s3, &["commit", "-m", who]).trim().to_string());
        dirs.push(d);
    }
    // The remote moves on: neither b's layer nor c's descends from it any more.
    a.write("elsewhere.txt", "elsewhere\n");
    a.ok(&["add", "-A", "-q"]);
    let moved = a.commit("elsewhere");
    json(&a, a.root(), &s3, &["push"]);
    let mut env: Vec<(&str, &str)> = vec![("CAIRN_FAILPOINT", "push:before-publish=sleep1500")];
    env.extend_from_slice(extra);
    let args = ["--json", "push", "--force"];
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = dirs
            .iter()
            .map(|d| {
                let (t, s3, env) = (&t, &s3, &env);
                s.spawn(move || run_env(t, d, s3, SECRET, env, &args))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..2).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(won.len(), 1, "exactly one forced push wins: {outs:?}");
    let (w, l) = (won[0], 1 - won[0]);
    let v: Value = serde_json::from_slice(&outs[w].stdout).unwrap();
    assert_eq!(
        (v["forced"].as_bool(), v["old"].as_str()),
        (Some(true), Some(moved.as_str()))
    );
    let refused = assert_failure(&outs[l], &args, 2);
    assert!(refused.contains("another push moved it"), "{refused}");
    let tip = std::fs::read_to_string(s3.object(prefix, "refs/lines/main")).unwrap();
    assert_eq!(tip.trim(), mine[w]);
    assert!(
        s3.keys(prefix, "locks").is_empty(),
        "no intent is left behind"
    );
    // The ref log records every accepted move: base, elsewhere, the forced one.
    assert_eq!(s3.keys(prefix, "refs-log/lines/main").len(), 3);
}

#[test]
fn forced_pushes_race_on_s3_with_conditional_writes() {
    forced_race_on_s3(&[], "fc");
}

#[test]
fn forced_pushes_race_on_s3_without_conditional_writes() {
    forced_race_on_s3(&[("AWS_CONDITIONAL_PUT", "disabled")], "fn");
}
