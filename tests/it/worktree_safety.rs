//! The worktree is never read, written or deleted through a symlink standing where a tracked
//! directory was; killed commands leave nothing that status lists or `add` stages, and the
//! next command finishes or cleans up; restores never create set-id files nor write into
//! the repository's own directory; a checkout never stops halfway on a directory of
//! untracked files standing where it writes a file.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support;
use crate::support::{snapshot, Env, Node};

/// Files outside the worktree that a symlink `d` in it points at.
const OUTSIDE: [(&str, &str); 3] = [
    ("a", "outside a\n"),
    ("b", "outside b\n"),
    ("c", "only outside\n"),
];

/// A directory `outside/` beside the worktree holding [`OUTSIDE`], and its snapshot.
fn outside_dir(env: &Env) -> (std::path::PathBuf, BTreeMap<Vec<u8>, Node>) {
    let dir = env.outside("outside");
    fs::create_dir(&dir).unwrap();
    for (name, text) in OUTSIDE {
        fs::write(dir.join(name), text).unwrap();
    }
    let snap = snapshot(&dir, &[]);
    (dir, snap)
}

/// Replaces the tracked directory `d` with a symlink to `target`.
fn link_over_d(env: &Env, target: &Path) {
    fs::remove_dir_all(env.path("d")).unwrap();
    env.symlink(target.as_os_str().as_encoded_bytes(), "d");
}

fn paths(v: &serde_json::Value, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {v}"))
        .iter()
        .map(|s| {
            let p = s["path"].as_str().unwrap().to_string();
            (p, s["change"].as_str().unwrap_or("").to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn add_all_stages_a_symlink_that_replaced_a_tracked_directory() {
    let env = Env::new();
    env.write("d/a", "tracked a\n");
    env.write("d/b", "tracked b\n");
    env.write("top", "top\n");
    env.commit("dir");
    let (outside, before) = outside_dir(&env);
    link_over_d(&env, &outside);

    // status agrees, without looking through the link: the tracked files are gone.
    let st = env.json(&["status"]);
    let gone = [("d/a", "deleted"), ("d/b", "deleted")];
    let gone: Vec<(String, String)> = gone
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    assert_eq!(paths(&st, "unstaged"), gone, "{st}");
    let v = env.json(&["add", "-A"]);
    let staged = paths(&v, "staged");
    let want = [("d", "added"), ("d/a", "deleted"), ("d/b", "deleted")];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    assert_eq!(staged, want, "{v}");
    // Only the link's own target bytes are read, nothing through it.
    let link_len = outside.as_os_str().len();
    assert_eq!(v["bytes_read"], link_len, "{v}");
    // The index stays readable, and the layer holds the link itself.
    env.ok(&["status"]);
    env.ok(&["commit", "-q", "-m", "link"]);
    let ls = env.json(&["ls", "-r", "HEAD"]).to_string();
    assert!(!ls.contains("d/a") && !ls.contains("d/c"), "{ls}");
    env.fails(&["cat", "HEAD:d/c"]);
    assert_eq!(snapshot(&outside, &[]), before);
}

#[test]
fn reset_and_checkout_never_delete_through_a_symlinked_directory() {
    for args in [
        &["reset", "--hard", "HEAD~1"][..],
        &["checkout", "-f", "HEAD~1"],
        &["rm", "-r", "d"],
        &["rm", "-r", "-f", "d"],
    ] {
        let env = Env::new();
        env.write("top", "top\n");
        env.commit("one");
        env.write("d/a", "tracked a\n");
        env.write("d/b", "tracked b\n");
        env.commit("two");
        let (outside, before) = outside_dir(&env);
        link_over_d(&env, &outside);
        let out = env.run(args);
        assert_eq!(
            snapshot(&outside, &[]),
            before,
            "{args:?} changed files outside"
        );
        if out.status.success() {
            env.ok(&["status"]);
        } else {
            support::assert_error(&out, args);
        }
    }
}

#[test]
fn reset_hard_puts_a_real_directory_back_for_a_symlink() {
    let env = Env::new();
    env.write("d/a", "tracked a\n");
    env.write("d/b", "tracked b\n");
    env.commit("dir");
    let (outside, before) = outside_dir(&env);
    // Outside files equal to the tracked ones: a check that read them would find no change.
    fs::write(outside.join("a"), "tracked a\n").unwrap();
    fs::write(outside.join("b"), "tracked b\n").unwrap();
    let before_same = snapshot(&outside, &[]);
    assert_ne!(before, before_same);
    link_over_d(&env, &outside);
    env.ok(&["reset", "-q", "--hard", "HEAD"]);
    assert!(
        fs::symlink_metadata(env.path("d")).unwrap().is_dir(),
        "d is a directory again"
    );
    assert_eq!(env.read("d/a"), b"tracked a\n");
    assert_eq!(snapshot(&outside, &[]), before_same);
    let (_, staged, unstaged, untracked) = env.status();
    assert!(staged.is_empty() && unstaged.is_empty() && untracked.is_empty());
}

/// Layers `one` (older) and `two` (main's tip) differing in most files, with a 3 MiB file.
fn two_layers(env: &Env) -> (String, BTreeMap<Vec<u8>, Node>) {
    for i in 0..12 {
        env.write(format!("f{i}"), format!("one {i}\n"));
        env.write(format!("only-one/{i}"), format!("gone {i}\n"));
    }
    env.write("big", support::random_bytes(1, 3 << 20));
    let one = env.commit("one");
    fs::remove_dir_all(env.path("only-one")).unwrap();
    for i in 0..12 {
        env.write(format!("f{i}"), format!("two {i}\n"));
        env.write(format!("only-two/{i}"), format!("new {i}\n"));
    }
    env.write("big", support::random_bytes(2, 3 << 20));
    env.commit("two");
    (one, snapshot(&env.root, &[".cairn"]))
}

fn debris(root: &Path) -> Vec<String> {
    snapshot(root, &[".cairn"])
        .keys()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| p.contains(".cairn-"))
        .collect()
}

/// Directories the killed checkout made for files it never wrote stay, empty: nothing
/// tracks, lists or stages an empty directory.
fn prune_empty_dirs(dir: &Path) -> bool {
    let mut empty = true;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let is_dir = e.file_type().unwrap().is_dir() && e.file_name() != ".cairn";
        if is_dir && prune_empty_dirs(&e.path()) {
            fs::remove_dir(e.path()).unwrap();
        } else {
            empty = false;
        }
    }
    empty
}

fn killed_at(env: &Env, args: &[&str], point: &str) {
    let out = env
        .cmd_in(&env.root)
        .env("CAIRN_FAILPOINT", point)
        .args(args)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{args:?} at {point}: {out:?}"
    );
}

#[test]
fn a_killed_checkout_leaves_no_debris_and_plain_checkout_finishes_it() {
    for point in [
        "materialize:before-rename@4",
        "checkout:after-write@6",
        "checkout:before-index",
    ] {
        let env = Env::new();
        let (one, tip) = two_layers(&env);
        killed_at(&env, &["checkout", &one], point);
        assert_eq!(debris(&env.root), Vec::<String>::new(), "{point}");
        let (_, _, _, untracked) = env.status();
        assert!(
            untracked.iter().all(|p| !p.contains(".cairn-")),
            "{point}: {untracked:?}"
        );
        env.ok(&["checkout", "-q", "main"]);
        prune_empty_dirs(&env.root);
        assert_eq!(
            snapshot(&env.root, &[".cairn"]),
            tip,
            "{point}: the tip, exactly"
        );
        let (line, staged, unstaged, untracked) = env.status();
        assert_eq!(line.as_deref(), Some("main"));
        assert!(
            staged.is_empty() && unstaged.is_empty() && untracked.is_empty(),
            "{point}"
        );
        let tmp: Vec<_> = fs::read_dir(env.path(".cairn/tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "{point}: {tmp:?}");
        assert!(
            !env.path(".cairn/checkout").exists(),
            "{point}: the record is gone"
        );
    }
}

/// Local edits a plain switch carried over are still local edits after recovery: only what
/// the killed checkout wrote is taken back.
#[test]
fn finishing_a_killed_checkout_keeps_local_edits() {
    let env = Env::new();
    env.write("shared", "committed\n");
    let (one, _) = two_layers(&env);
    env.write("shared", "my edit\n");
    killed_at(&env, &["checkout", &one], "checkout:after-write@6");
    env.ok(&["checkout", "-q", "main"]);
    assert_eq!(env.read("shared"), b"my edit\n");
    let (_, _, unstaged, _) = env.status();
    assert_eq!(unstaged, ["shared"]);
}

#[test]
fn a_killed_init_leaves_no_debris_and_init_again_works() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().canonicalize().unwrap().join("w");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("data"), "data\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cairn");
    let run = |point: Option<&str>, args: &[&str]| {
        let mut c = std::process::Command::new(&bin);
        c.current_dir(&root).arg("--no-progress").args(args);
        if let Some(p) = point {
            c.env("CAIRN_FAILPOINT", p);
        }
        c.output().unwrap()
    };
    let out = run(Some("init:before-config"), &["init"]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{out:?}");
    let names: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n == "data" || n == ".cairn"),
        "{names:?}"
    );
    assert_eq!(
        run(None, &["status"]).status.code(),
        Some(2),
        "not a repository yet"
    );
    assert!(run(None, &["init", "-q"]).status.success());
    assert!(run(None, &["add", "-q", "-A"]).status.success());
    let out = run(None, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["staged"].as_array().unwrap().len(),
        1,
        "only data is staged: {v}"
    );
}

#[test]
fn restore_and_checkout_never_create_set_id_files() {
    let env = Env::new();
    env.write("suid", "#!/bin/sh\n");
    env.write("sgid", "#!/bin/sh\n");
    env.write("sticky", "x\n");
    env.chmod("suid", 0o4755);
    env.chmod("sgid", 0o2750);
    env.chmod("sticky", 0o1644);
    let layer = env.commit("modes");
    let want = [("suid", 0o755), ("sgid", 0o750), ("sticky", 0o1644)];
    env.ok(&["restore", "-q", "HEAD", "--to", "../r"]);
    fs::create_dir(env.outside("full")).unwrap();
    fs::write(env.outside("full/other"), "x").unwrap();
    env.ok(&["restore", "-q", "--force", "HEAD", "--to", "../full"]);
    for (name, mode) in want {
        for dir in ["r", "full"] {
            let m = fs::metadata(env.outside(&format!("{dir}/{name}"))).unwrap();
            assert_eq!(m.mode() & 0o7777, mode, "{dir}/{name}");
        }
    }
    for (name, _) in want {
        fs::remove_file(env.path(name)).unwrap();
    }
    env.ok(&["checkout", "-q", "-f", &layer]);
    for (name, mode) in want {
        assert_eq!(
            fs::metadata(env.path(name)).unwrap().mode() & 0o7777,
            mode,
            "{name}"
        );
    }
}

#[test]
fn restore_refuses_the_repository_s_own_directory() {
    let env = Env::new();
    env.write("HEAD", "not a ref\n");
    env.write("packs/x", "x\n");
    env.commit("names like the repository's");
    let before = snapshot(&env.path(".cairn"), &["lock"]);
    for to in [".cairn", ".cairn/sub", ".cairn/packs", "sub/../.cairn"] {
        for force in [false, true] {
            let mut args = vec!["restore", "HEAD", "--to", to];
            if force {
                args.push("--force");
            }
            let err = env.fails(&args);
            assert!(err.contains("own directory"), "{args:?}: {err}");
        }
    }
    // Through a symlink to it, from a subdirectory.
    env.symlink(".cairn", "alias");
    fs::create_dir(env.path("sub")).unwrap();
    let out = env.run_in(&env.path("sub"), &["restore", "HEAD", "--to", "../alias/x"]);
    support::assert_error(&out, &["restore"]);
    assert_eq!(snapshot(&env.path(".cairn"), &["lock"]), before);
    // Beside it is fine.
    env.ok(&["restore", "-q", "HEAD", "--to", "copy"]);
    assert_eq!(env.read("copy/HEAD"), b"not a ref\n");
}

/// A clone killed while it checks out leaves no temporary file in the new worktree, and the
/// clone run again finishes with exactly the layer's files.
#[test]
fn a_killed_clone_leaves_no_debris_and_resumes() {
    let env = Env::new();
    let (_, tip) = two_layers(&env);
    let url = format!("file://{}", env.outside("remote").display());
    env.ok(&["remote", "add", "origin", &url]);
    env.ok(&["push", "-q"]);
    let clone = |point: Option<&str>| {
        let mut c = env.cmd_in(&env.base);
        if let Some(p) = point {
            c.env("CAIRN_FAILPOINT", p);
        }
        c.args(["clone", "-q", &url, "copy"]).output().unwrap()
    };
    let out = clone(Some("materialize:before-rename@3"));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{out:?}");
    let copy = env.outside("copy");
    assert_eq!(debris(&copy), Vec::<String>::new());
    let out = clone(None);
    assert!(out.status.success(), "{out:?}");
    prune_empty_dirs(&copy);
    let got = snapshot(&copy, &[".cairn"]);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        tip.keys().collect::<Vec<_>>()
    );
    let tmp: Vec<_> = fs::read_dir(copy.join(".cairn/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

/// A restore --force into a directory of the worktree, killed while it writes, leaves no
/// temporary file there for status to list.
#[test]
fn a_killed_restore_into_the_worktree_leaves_no_debris() {
    let env = Env::new();
    two_layers(&env);
    env.write("old/keep", "mine\n");
    env.commit("with old/");
    killed_at(
        &env,
        &["restore", "--force", "HEAD~1", "--to", "old"],
        "materialize:before-rename@3",
    );
    assert_eq!(debris(&env.root), Vec::<String>::new());
    let (_, _, _, untracked) = env.status();
    assert!(
        untracked.iter().all(|p| !p.contains(".cairn-")),
        "{untracked:?}"
    );
}

/// gc keeps the layer an unfinished checkout was moving to even when nothing else names
/// it: the next checkout needs that layer to finish the job.
#[test]
fn gc_keeps_the_target_of_an_unfinished_checkout() {
    let env = Env::new();
    let (one, _) = two_layers(&env);
    let two = env.head();
    env.ok(&["reset", "-q", "--hard", &one]);
    killed_at(&env, &["checkout", "-f", &two], "checkout:after-write@6");
    env.ok(&["gc", "-q"]);
    assert_eq!(env.ok(&["cat", &format!("{two}:f0")]), "two 0\n");
    env.ok(&["verify", "--data", &two]);
    env.ok(&["checkout", "-q", "-f", "main"]);
    assert_eq!(fs::read(env.path("f0")).unwrap(), b"one 0\n");
    assert!(!env.path(".cairn/checkout").exists());
}

/// Layers `one` and `two` (main's tip) that differ in the file `f`, the symlink `link`, and
/// `old` (only in `one`) and `new` (only in `two`). Returns `one`.
fn file_and_link_layers(env: &Env) -> String {
    env.write("f", "one\n");
    env.symlink("target", "link");
    env.write("old", "only in one\n");
    let one = env.commit("one");
    env.write("f", "two\n");
    fs::remove_file(env.path("link")).unwrap();
    env.symlink("other", "link");
    fs::remove_file(env.path("old")).unwrap();
    env.write("new", "only in two\n");
    env.commit("two");
    one
}

/// A plain checkout that writes a tracked path (a file or a symlink) where the user has
/// put a directory of untracked files refuses before touching anything, as it does for an
/// untracked path and as `-f` does. It used to count the directory as the file deleted,
/// delete and write other paths, then fail on the directory ("could not replace directory
/// (it is not empty)"), leaving the worktree between the two layers. Found by the model
/// test (tests/it/model.proptest-regressions, the tracked symlink `nl\ndir`).
#[test]
fn checkout_refuses_a_directory_of_untracked_files_where_a_tracked_path_was() {
    for tracked in ["f", "link"] {
        let env = Env::new();
        let one = file_and_link_layers(&env);
        fs::remove_file(env.path(tracked)).unwrap();
        env.write(format!("{tracked}/deep/notes"), "precious\n");
        let before = snapshot(&env.root, &[".cairn"]);
        let status = env.status();
        for args in [&["checkout", &one][..], &["checkout", "-f", &one]] {
            let err = env.fails(args);
            assert!(err.contains(tracked), "{args:?}: {err}");
            assert!(err.contains("untracked files"), "{args:?}: {err}");
            assert_eq!(snapshot(&env.root, &[".cairn"]), before, "{args:?}");
            assert_eq!(env.status(), status, "{args:?}: index and HEAD stay");
            assert!(!env.path(".cairn/checkout").exists(), "{args:?}: no record");
        }
        // Empty directories hold nothing to lose: the checkout removes them.
        fs::remove_file(env.path(format!("{tracked}/deep/notes"))).unwrap();
        env.ok(&["checkout", "-q", &one]);
        let after = snapshot(&env.root, &[".cairn"]);
        let names: Vec<&[u8]> = after.keys().map(Vec::as_slice).collect();
        assert_eq!(names, [&b"f"[..], b"link", b"old"], "{tracked}");
        assert_eq!(env.read("f"), b"one\n");
        assert_eq!(
            fs::read_link(env.path("link")).unwrap(),
            Path::new("target")
        );
        let (_, staged, unstaged, untracked) = env.status();
        assert!(staged.is_empty() && unstaged.is_empty() && untracked.is_empty());
    }
}

/// A directory where a tracked path was is left alone when the checkout does not write
/// that path: the target lacks it, or has it as the index does.
#[test]
fn checkout_leaves_a_directory_where_a_tracked_path_was_unless_it_writes_there() {
    let env = Env::new();
    env.write("kept", "same in both\n");
    let one = env.commit("one");
    env.write("only-two", "only in two\n");
    env.commit("two");
    for p in ["kept", "only-two"] {
        fs::remove_file(env.path(p)).unwrap();
        env.write(format!("{p}/notes"), "precious\n");
    }
    env.ok(&["checkout", "-q", &one]);
    assert_eq!(env.read("kept/notes"), b"precious\n");
    assert_eq!(env.read("only-two/notes"), b"precious\n");
    let (_, staged, unstaged, _) = env.status();
    assert!(staged.is_empty(), "{staged:?}");
    assert_eq!(unstaged, ["kept"]);
}
