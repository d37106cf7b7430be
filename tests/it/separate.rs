//! A repository kept apart from its data (`--repo` / `CAIRN_DIR` with `--work-tree` /
//! `CAIRN_WORK_TREE`): nothing is written into the data directory.

use std::fs;
use std::process::Command;

use crate::support::snapshot;

fn cairn(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.current_dir(dir)
        .env("CAIRN_AUTHOR", "tester")
        .env_remove("CAIRN_DIR")
        .env_remove("CAIRN_WORK_TREE")
        .arg("--no-progress");
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_dataset_is_archived_without_writing_into_it() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let data = base.join("data");
    fs::create_dir_all(data.join("scans/a")).unwrap();
    fs::write(data.join("scans/a/1.tif"), "one").unwrap();
    fs::write(data.join("notes.md"), "notes").unwrap();
    let before = snapshot(&data, &[]);
    let store = base.join("backup/scans.cairn");
    fs::create_dir(base.join("backup")).unwrap();
    let flags = |c: &mut Command| {
        c.arg("--repo").arg(&store).arg("--work-tree").arg(&data);
    };
    ok(cairn(&base).arg("--repo").arg(&store).arg("init"));
    let mut c = cairn(&base);
    flags(&mut c);
    ok(c.args(["add", "-A"]));
    // The environment variables do the same as the flags.
    ok(cairn(&base)
        .env("CAIRN_DIR", &store)
        .env("CAIRN_WORK_TREE", &data)
        .args(["commit", "-m", "night 1"]));
    assert_eq!(
        snapshot(&data, &[]),
        before,
        "the data directory is unchanged"
    );
    let mut c = cairn(&base);
    flags(&mut c);
    assert_eq!(ok(c.args(["status", "--short"])), "");
    // Commands that read the repository work from anywhere with --repo and a worktree.
    let mut c = cairn(&data);
    let cat = ok(c
        .arg("--repo")
        .arg(&store)
        .args(["cat", "HEAD:scans/a/1.tif"]));
    assert_eq!(cat, "one");
    // A restore from the separate repository equals the data.
    let mut c = cairn(&base);
    flags(&mut c);
    ok(c.args(["restore", "HEAD", "--to"]).arg(base.join("out")));
    assert_eq!(snapshot(&base.join("out"), &[]), before);
}

#[test]
fn a_repository_inside_its_worktree_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let data = base.join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("f"), "f").unwrap();
    let store = data.join("inside.cairn");
    ok(cairn(&base).arg("--repo").arg(&store).arg("init"));
    let out = cairn(&base)
        .arg("--repo")
        .arg(&store)
        .arg("--work-tree")
        .arg(&data)
        .args(["add", "-A"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the worktree"));
    // Not a repository, and --work-tree alone: clear errors.
    let out = cairn(&base)
        .arg("--repo")
        .arg(&data)
        .args(["log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cairn(&base)
        .arg("--work-tree")
        .arg(&data)
        .args(["log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // init refuses a directory that holds anything.
    let out = cairn(&base)
        .arg("--repo")
        .arg(&data)
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
