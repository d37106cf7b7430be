//! The nightly archive script of `examples/`, run as cron would run it: six nights of a
//! dataset kept outside the repository, one of them with nothing changed, one run killed
//! while it works and run again, and retention keeping the last three layers.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{killed_by, snapshot, text, Node, Rng};

const KEEP: usize = 3;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly-archive.sh")
}

/// The script for the dataset and repository, with this build of cairn and nothing from
/// the test's own environment that would point it elsewhere.
fn night_cmd(data: &Path, repo: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg(script())
        .arg(data)
        .arg(repo)
        .arg(KEEP.to_string())
        .env("CAIRN", env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_AUTHOR", "nightly")
        .env_remove("CAIRN_DIR")
        .env_remove("CAIRN_WORK_TREE")
        .env_remove("CAIRN_FAILPOINT")
        .stdin(Stdio::null());
    c
}

fn night(data: &Path, repo: &Path) -> Output {
    let out = night_cmd(data, repo).output().expect("run the script");
    assert!(
        out.status.success(),
        "the night failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `cairn --json ARGS` against the repository, as a JSON value.
fn cairn_json(data: &Path, repo: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--repo")
        .arg(repo)
        .arg("--work-tree")
        .arg(data)
        .arg("--json")
        .args(args)
        .env_remove("CAIRN_FAILPOINT")
        .output()
        .unwrap();
    assert!(out.status.success(), "cairn {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn layers(data: &Path, repo: &Path) -> Vec<Value> {
    let log = cairn_json(data, repo, &["log"]);
    log["layers"].as_array().unwrap().clone()
}

/// What a restore must give back: every path's kind, mode and bytes (not mtimes).
fn contents(dir: &Path) -> BTreeMap<Vec<u8>, (u32, Vec<u8>)> {
    snapshot(dir, &[])
        .into_iter()
        .filter_map(|(path, node)| match node {
            Node::File { mode, content, .. } => Some((path, (mode, content.0))),
            Node::Symlink { target, .. } => Some((path, (0o120_000, target))),
            Node::Dir => None,
        })
        .collect()
}

/// One night of changes: some files edited, some added, one deleted.
fn change(data: &Path, rng: &mut Rng, night: usize) {
    for i in 0..3 {
        let n = rng.below(20);
        let p = data.join(format!("logs/day{n}.txt"));
        fs::write(&p, text(rng, 2000 + i * 100)).unwrap();
    }
    fs::write(
        data.join(format!("scans/night{night}.bin")),
        rng.bytes(50_000),
    )
    .unwrap();
    let gone = data.join(format!("logs/day{}.txt", rng.below(20)));
    let _ = fs::remove_file(gone);
}

/// Night 1's dataset: text logs, binary scans, a link.
fn first_night(data: &Path, rng: &mut Rng) {
    fs::create_dir_all(data.join("logs")).unwrap();
    fs::create_dir_all(data.join("scans")).unwrap();
    for n in 0..20 {
        fs::write(data.join(format!("logs/day{n}.txt")), text(rng, 3000)).unwrap();
    }
    fs::write(data.join("scans/base.bin"), rng.bytes(200_000)).unwrap();
    std::os::unix::fs::symlink("logs/day0.txt", data.join("latest")).unwrap();
}

/// A large addition (many files, many chunks), so that an add takes long enough to be
/// killed in the middle.
fn large_addition(data: &Path, rng: &mut Rng) {
    let dir = data.join("bulk");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..160 {
        fs::write(dir.join(format!("part{i:03}.bin")), rng.bytes(200_000)).unwrap();
    }
}

/// Runs the script and kills it, and every cairn it started, with SIGKILL a random moment
/// after it reports that the add began. Returns true when the script was killed (it may
/// have finished first on a fast machine).
fn killed_night(data: &Path, repo: &Path, rng: &mut Rng) -> bool {
    let mut child = night_cmd(data, repo)
        .env("CAIRN_TEST_CHECKPOINT_MS", "0")
        // Each checkpoint waits a little, so the add lasts long enough to be hit.
        .env("CAIRN_FAILPOINT", "add:after-checkpoint=sleep5")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("adding") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    // Drain what is left so the script never blocks on a full pipe.
    for _ in lines {}
    let status = child.wait().unwrap();
    killed_by(&status) == Some(9)
}

#[test]
fn six_nights_with_a_kill_keep_the_last_three_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let data = base.join("data");
    let repo = base.join("backup/data.cairn");
    fs::create_dir_all(base.join("backup")).unwrap();
    fs::create_dir(&data).unwrap();
    let mut rng = Rng::new(15);

    // Nights 1 and 2: the repository is created, then a layer each night.
    first_night(&data, &mut rng);
    night(&data, &repo);
    assert_eq!(layers(&data, &repo).len(), 1);
    change(&data, &mut rng, 2);
    night(&data, &repo);
    assert_eq!(layers(&data, &repo).len(), 2);

    // Night 3: nothing changed. The script succeeds and the line stays where it was.
    let tip = layers(&data, &repo)[0]["id"].clone();
    let out = night(&data, &repo);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing changed"),
        "{out:?}"
    );
    assert_eq!(
        layers(&data, &repo)[0]["id"],
        tip,
        "no layer for an unchanged night"
    );

    // Night 4: a large addition; the first run is killed, the second finishes the job.
    large_addition(&data, &mut rng);
    change(&data, &mut rng, 4);
    let killed = killed_night(&data, &repo, &mut rng);
    eprintln!("night 4's first run killed: {killed}");
    night(&data, &repo);
    assert_eq!(layers(&data, &repo).len(), 3);

    // Nights 5 and 6: retention keeps three layers.
    for n in [5, 6] {
        change(&data, &mut rng, n);
        if n == 6 {
            fs::remove_dir_all(data.join("bulk")).unwrap();
        }
        night(&data, &repo);
        assert_eq!(layers(&data, &repo).len(), KEEP, "night {n}");
    }

    // The kept layers are the last three nights', each on the one before.
    let kept = layers(&data, &repo);
    for pair in kept.windows(2) {
        assert_eq!(pair[0]["parent"], pair[1]["id"]);
    }
    assert!(
        kept[KEEP - 1]["parent"].is_null(),
        "the oldest kept layer is the first"
    );
    assert!(kept.iter().all(|l| l["message"]
        .as_str()
        .unwrap()
        .starts_with("nightly archive")));

    // The repository holds the dataset of the last night, byte for byte...
    let out = base.join("restored");
    cairn_json(
        &data,
        &repo,
        &["restore", "HEAD", "--to", out.to_str().unwrap()],
    );
    assert_eq!(contents(&out), contents(&data));
    // ... and the index still matches it: the forget moved the line to a layer with the
    // same tree.
    let status = cairn_json(&data, &repo, &["status"]);
    for key in ["staged", "unstaged", "untracked"] {
        assert_eq!(status[key].as_array().map(Vec::len), Some(0), "{status}");
    }
    // Every stored byte checks, and nothing was ever written into the dataset.
    let verify = cairn_json(&data, &repo, &["verify", "--data"]);
    assert_eq!(
        verify["damage"].as_array().map(Vec::len),
        Some(0),
        "{verify}"
    );
    assert!(!data.join(".cairn").exists());
}
