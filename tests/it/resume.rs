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
