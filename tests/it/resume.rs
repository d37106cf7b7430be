//! A long add checkpoints (packs sealed, then the index saved), so the same add run again
//! after a kill or a failure reads only what it had not reached.

use std::fs;

use crate::support::{self, random_bytes, Env};

const FILES: usize = 60;

/// A worktree of FILES files of a few chunks each.
fn dataset() -> Env {
    let env = Env::with_init(&["--chunk-size", "4K"]);
    for i in 0..FILES {
        let dir = env.path(format!("d{}", i % 6));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}")), random_bytes(i as u64, 20_000)).unwrap();
    }
    env
}

/// Paths in the index, from `ls-files`' equivalent: the staged new files.
fn staged(env: &Env) -> usize {
    support::staged(&env.root)
}

#[test]
fn a_killed_add_resumes_where_its_last_checkpoint_was() {
    let env = dataset();
    let out = support::run(
        &env.root,
        &["add", "-A"],
        &[
            ("CAIRN_TEST_CHECKPOINT_MS", "0"),
            ("CAIRN_FAILPOINT", "add:after-checkpoint@3"),
        ],
    );
    assert!(support::killed_by(&out.status).is_some(), "{out:?}");
    let kept = staged(&env);
    assert!(
        kept > 0 && kept < FILES,
        "{kept} staged at the third checkpoint"
    );
    // Everything the checkpoint names is stored.
    support::assert_verifies(&env.root, true, "after the kill");
    let doc = env.json(&["add", "-A"]);
    assert_eq!(
        doc["files_read"].as_u64().unwrap() as usize,
        FILES - kept,
        "only what the checkpoints did not stage is read again: {doc}"
    );
    assert_eq!(staged(&env), FILES);
    env.ok(&["commit", "-m", "resumed"]);
    assert_eq!(env.ok(&["status", "--short"]), "");
    support::assert_verifies(&env.root, true, "after the commit");
    for i in [0, FILES / 2, FILES - 1] {
        let got = env.ok_bytes(&["cat", &format!("HEAD:d{}/f{i}", i % 6)]);
        assert_eq!(got, random_bytes(i as u64, 20_000));
    }
}

#[test]
fn an_add_that_fills_the_disk_keeps_its_checkpoints() {
    let env = dataset();
    // The 120th chunk written finds the disk full.
    let out = support::run(
        &env.root,
        &["add", "-A"],
        &[
            ("CAIRN_TEST_CHECKPOINT_MS", "0"),
            ("CAIRN_FAILPOINT", "pack:write-error@120"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(support::stderr(&out).contains("No space left"), "{out:?}");
    support::assert_verifies(&env.root, true, "after the failure");
    let kept = staged(&env);
    assert!(kept > 0 && kept < FILES, "{kept}");
    let doc = env.json(&["add", "-A"]);
    assert_eq!(
        doc["files_read"].as_u64().unwrap() as usize,
        FILES - kept,
        "{doc}"
    );
    env.ok(&["commit", "-m", "after space was freed"]);
    support::assert_verifies(&env.root, true, "after the commit");
}

/// Large enough to be read in windows (8 MiB each): five of them.
const BIG: usize = 40 << 20;

/// A worktree holding one large file and a few small ones, and the large file's bytes.
fn with_large_file() -> (Env, Vec<u8>) {
    let env = Env::with_init(&[]);
    let data = random_bytes(99, BIG);
    fs::write(env.path("big.bin"), &data).unwrap();
    for i in 0..5 {
        fs::write(env.path(format!("s{i}")), random_bytes(i, 3000)).unwrap();
    }
    (env, data)
}

/// An add killed at its third checkpoint, which falls inside the large file: a checkpoint
/// after every window.
fn kill_inside_the_large_file(env: &Env) {
    let out = support::run(
        &env.root,
        &["add", "-A"],
        &[
            ("CAIRN_TEST_CHECKPOINT_MS", "0"),
            ("CAIRN_FAILPOINT", "add:after-checkpoint@3"),
        ],
    );
    assert!(support::killed_by(&out.status).is_some(), "{out:?}");
    assert!(
        env.path(".cairn/add-resume").exists(),
        "the checkpoint kept where the large file's read stopped"
    );
    support::assert_verifies(&env.root, true, "after the kill");
}

fn assert_committed(env: &Env, data: &[u8]) {
    env.ok(&["commit", "-m", "resumed"]);
    assert_eq!(env.ok(&["status", "--short"]), "");
    assert!(
        env.ok_bytes(&["cat", "HEAD:big.bin"]) == data,
        "big.bin differs"
    );
    support::assert_verifies(&env.root, true, "after the commit");
}

#[test]
fn a_killed_add_goes_on_inside_a_large_file() {
    let (env, data) = with_large_file();
    kill_inside_the_large_file(&env);
    let doc = env.json(&["add", "-A"]);
    let resumed = doc["bytes_resumed"].as_u64().unwrap();
    // Three checkpoints: at least the first window's chunks are kept (a window holds
    // 8 MiB, less the tail that goes to the next one).
    assert!(
        resumed >= 7 << 20 && resumed < BIG as u64,
        "{resumed} bytes not read again: {doc}"
    );
    assert!(
        !env.path(".cairn/add-resume").exists(),
        "removed at the end"
    );
    assert_committed(&env, &data);
    // The file's id is the one a whole read gives.
    let whole = Env::with_init(&[]);
    fs::write(whole.path("big.bin"), &data).unwrap();
    whole.ok(&["add", "big.bin"]);
    whole.ok(&["commit", "-m", "whole"]);
    let id = |e: &Env| e.json(&["ls", "HEAD", "big.bin"])["entries"][0]["id"].clone();
    assert!(id(&env).is_string(), "{}", id(&env));
    assert_eq!(id(&env), id(&whole), "same file id");
}

#[test]
fn a_large_file_changed_since_the_kill_is_read_whole() {
    let (env, mut data) = with_large_file();
    kill_inside_the_large_file(&env);
    // Same size, new bytes at the start: only the stat data can tell.
    data[100] ^= 0xff;
    fs::write(env.path("big.bin"), &data).unwrap();
    let doc = env.json(&["add", "-A"]);
    assert_eq!(doc["bytes_resumed"].as_u64(), Some(0), "{doc}");
    assert_committed(&env, &data);
}

/// gc between the kill and the next add removes the chunks only the resume file named:
/// the record is not used, and nothing is missing.
#[test]
fn a_gc_after_the_kill_costs_the_resume_not_the_data() {
    let (env, data) = with_large_file();
    kill_inside_the_large_file(&env);
    env.ok(&["gc", "--prune=now"]);
    env.ok(&["add", "-A"]);
    assert_committed(&env, &data);
}

/// Checkpoints inside a large file in one add: each stopped read goes on where it stopped.
#[test]
fn checkpoints_inside_a_large_file_give_the_same_layer() {
    let (env, data) = with_large_file();
    let out = support::run(
        &env.root,
        &["add", "-A"],
        &[("CAIRN_TEST_CHECKPOINT_MS", "0")],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!env.path(".cairn/add-resume").exists());
    assert_committed(&env, &data);
}
