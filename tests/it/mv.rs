//! `cairn mv` (issue 14): files and directories, in the worktree and the index, as `git mv`.

use crate::support::{self, TestRepo};

fn committed(files: &[(&str, &str)]) -> TestRepo {
    let t = TestRepo::new();
    for (p, data) in files {
        t.write(p, data);
    }
    t.ok(&["add", "-A", "-q"]);
    t.commit("base");
    t
}

/// Paths of `status -s` lines with their two-letter codes.
fn status(t: &TestRepo) -> Vec<String> {
    t.status()
}

#[test]
fn mv_a_directory_of_many_files_then_commit_leaves_status_clean() {
    let t = TestRepo::new();
    for i in 0..300 {
        t.write(format!("data/part-{i:03}.csv"), format!("row {i}\n"));
    }
    t.write("data/nested/deep/x", "x\n");
    t.symlink("part-000.csv", "data/link");
    t.ok(&["add", "-A", "-q"]);
    t.commit("base");
    t.write("data/untracked.tmp", "comes along\n");
    let v = t.json(&["mv", "data", "moved"]);
    assert_eq!(v["moved"][0]["from"], "data");
    assert_eq!(v["moved"][0]["to"], "moved");
    assert_eq!(v["moved"][0]["files"], 302);
    assert!(!t.exists("data"));
    assert_eq!(t.read("moved/part-123.csv"), b"row 123\n");
    assert_eq!(t.read("moved/untracked.tmp"), b"comes along\n");
    assert_eq!(
        std::fs::read_link(t.path("moved/link")).unwrap(),
        std::path::Path::new("part-000.csv")
    );
    // Nothing unstaged: the moved entries kept (and refreshed) their stat data.
    let v = t.json(&["status"]);
    assert_eq!(v["unstaged"], serde_json::json!([]), "{v}");
    assert_eq!(v["untracked"][0], "moved/untracked.tmp");
    t.commit("moved");
    assert_eq!(status(&t), ["?? moved/untracked.tmp"]);
    let ls = t.ok(&["ls", "-r", "HEAD"]);
    assert!(
        !ls.contains("data/") && ls.contains("moved/nested/deep/x"),
        "{ls}"
    );
    support::assert_verifies(t.root(), true, "after mv and commit");
}

#[test]
fn mv_into_a_directory_and_relative_to_the_current_directory() {
    let t = committed(&[
        ("a", "a\n"),
        ("b", "b\n"),
        ("sub/c", "c\n"),
        ("dst/keep", "k\n"),
    ]);
    t.ok(&["mv", "a", "b", "dst"]);
    assert_eq!(t.read("dst/a"), b"a\n");
    assert_eq!(t.read("dst/b"), b"b\n");
    let sub = t.path("sub");
    let out = t.run_in(&sub, &["mv", "c", "../dst/c2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(t.read("dst/c2"), b"c\n");
    let v = t.json(&["status"]);
    let staged = v["staged"].to_string();
    // The new paths are staged (a rename may also name the old ones), nothing unstaged.
    for p in ["\"dst/a\"", "\"dst/b\"", "\"dst/c2\""] {
        assert!(staged.contains(p), "{p}: {staged}");
    }
    assert_eq!(v["unstaged"], serde_json::json!([]));
    t.commit("moved");
    let ls = t.ok(&["ls", "-r", "HEAD"]);
    assert_eq!(
        ls.lines().collect::<Vec<_>>(),
        ["dst/a", "dst/b", "dst/c2", "dst/keep"]
    );
    // Several sources need an existing directory.
    t.fails(&["mv", "dst/a", "dst/b", "nowhere"], 2);
}

#[test]
fn mv_refuses_what_git_mv_refuses_and_changes_nothing() {
    let t = committed(&[("a", "a\n"), ("b", "b\n"), ("d/x", "x\n"), ("e/y", "y\n")]);
    t.write("untracked", "u\n");
    let work = support::snapshot(t.root(), &[".cairn"]);
    let repo = t.snapshot();
    // The destination exists.
    let err = t.fails(&["mv", "a", "b"], 2);
    assert!(err.contains("destination exists"), "{err}");
    t.fails(&["mv", "a", "untracked"], 2);
    // Not tracked, missing, into itself, onto a directory's tracked files, the root.
    let err = t.fails(&["mv", "untracked", "z"], 2);
    assert!(err.contains("not tracked"), "{err}");
    t.fails(&["mv", "nope", "z"], 2);
    let err = t.fails(&["mv", "d", "d/inner"], 2);
    assert!(err.contains("into itself"), "{err}");
    t.fails(&["mv", "a", "no/such/dir/a"], 2);
    t.fails(&["mv", "a", "e/y/z"], 2);
    t.fails(&["mv", ".", "z"], 2);
    t.fails(&["mv", "a", ".cairn/x"], 2);
    t.fails(&["mv", "a", "../outside"], 2);
    // -f replaces a file, never a directory.
    t.mkdir("full/a");
    t.write("full/a/f", "f\n");
    let err = t.fails(&["mv", "-f", "a", "full"], 2);
    assert!(err.contains("directory"), "{err}");
    std::fs::remove_dir_all(t.path("full")).unwrap();
    let now = support::snapshot(t.root(), &[".cairn"]);
    support::assert_same_tree(&work, &now, &[], "after refused moves");
    assert!(repo == t.snapshot(), "a refused mv changed the repository");
    // Forced over a tracked file: its entry goes, the moved one takes its place.
    t.ok(&["mv", "-f", "a", "b"]);
    assert_eq!(t.read("b"), b"a\n");
    assert!(!t.exists("a"));
    assert_eq!(t.json(&["status"])["unstaged"], serde_json::json!([]));
    t.commit("forced");
    assert_eq!(t.ok(&["cat", "HEAD:b"]), "a\n");
    assert!(t.run(&["cat", "HEAD:a"]).status.code() == Some(2));
}

#[test]
fn mv_dry_run_moves_nothing() {
    let t = committed(&[("a", "a\n")]);
    let before = t.ok(&["status", "-s"]);
    let out = t.ok(&["mv", "-n", "a", "b"]);
    assert!(out.contains("would move 'a' to 'b'"), "{out}");
    assert!(t.exists("a") && !t.exists("b"));
    assert_eq!(t.ok(&["status", "-s"]), before);
}

#[test]
fn mv_keeps_local_edits_visible_and_odd_names_intact() {
    let odd = "sp ace\u{e9}-x";
    let t = committed(&[(odd, "v1\n"), ("f", "f1\n")]);
    t.write(odd, "v2 edited\n");
    t.ok(&["mv", odd, "renamed"]);
    let v = t.json(&["status"]);
    assert_eq!(v["unstaged"][0]["path"], "renamed", "{v}");
    assert_eq!(v["unstaged"][0]["change"], "modified");
    assert_eq!(t.read("renamed"), b"v2 edited\n");
    // A symlinked directory is never moved through.
    t.mkdir("real");
    t.symlink("real", "ln");
    t.fails(&["mv", "f", "ln/f"], 2);
    assert!(!t.path("real/f").exists());
}

/// A crash between moving the worktree and saving the index loses nothing: the files are
/// at their new place, the index names the old, and `add -A` records the move.
#[cfg(feature = "failpoints")]
#[test]
fn mv_killed_before_the_index_loses_nothing() {
    let t = committed(&[("d/a", "a\n"), ("d/b", "b\n")]);
    let out = t
        .cmd()
        .env("CAIRN_FAILPOINT", "mv:before-index")
        .args(["mv", "d", "e"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(t.read("e/a"), b"a\n");
    assert_eq!(t.read("e/b"), b"b\n");
    let mut s = status(&t);
    s.sort();
    assert_eq!(s, [" D d/a", " D d/b", "?? e/"]);
    t.ok(&["add", "-A", "-q"]);
    t.commit("moved");
    assert!(status(&t).is_empty());
}
