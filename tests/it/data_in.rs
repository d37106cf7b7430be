//! Data in: `add --files-from LIST` (lines, or NUL-separated with `-0`; `-` for standard
//! input) and `add --exclude PATTERN` (gitignore syntax), through the binary on real files:
//! odd names, missing names, excludes against named, walked and tracked paths and the
//! ignore files, and a list of 100,000 names.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use crate::support::TestRepo;

/// `cairn args` from the root with `input` on standard input.
fn with_stdin(t: &TestRepo, args: &[&OsStr], input: &[u8]) -> std::process::Output {
    t.cmd()
        .args(args)
        .write_stdin(input.to_vec())
        .output()
        .expect("run cairn")
}

/// The staged paths of an add's JSON document, as raw bytes.
fn staged(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["staged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The paths staged as new (`A ` lines of `status -z`), sorted, as raw bytes.
fn added(t: &TestRepo) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = t
        .status_raw()
        .into_iter()
        .filter(|l| l.starts_with(b"A "))
        .map(|l| l[3..].to_vec())
        .collect();
    out.sort();
    out
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

#[test]
fn names_from_a_list_with_odd_names_line_and_nul_separated() {
    let t = TestRepo::new();
    let odd: Vec<&[u8]> = vec![
        b"with space.txt",
        b"-leading-dash",
        b"caf\xc3\xa9.csv",
        b"not-utf8-\xff.bin",
        b"tab\there",
        b"sub/dir/deep.txt",
        b"two\nlines",
        b"back\\slash\"quote",
    ];
    for (i, n) in odd.iter().enumerate() {
        t.write(n, format!("file {i}\n"));
    }
    t.write("left-out.txt", "not named\n");
    // NUL-separated, from standard input: every name, the newline one included.
    let list: Vec<u8> = odd.iter().flat_map(|n| [*n, b"\0"].concat()).collect();
    let args = ["--json", "add", "--files-from", "-", "-0"].map(OsStr::new);
    let doc = json_of(&with_stdin(&t, &args, &list));
    assert_eq!(doc["staged"].as_array().unwrap().len(), odd.len(), "{doc}");
    let mut want: Vec<Vec<u8>> = odd.iter().map(|n| n.to_vec()).collect();
    want.sort();
    assert_eq!(added(&t), want);
    assert!(t.status_raw().iter().any(|l| l == b"?? left-out.txt"));
}

#[test]
fn a_line_list_cannot_name_a_newline_and_fails_whole() {
    let t = TestRepo::new();
    t.write(b"two\nlines", "x\n");
    t.write("plain", "y\n");
    // One per line, the name with a newline reads as two names that do not exist: the add
    // fails naming one of them and stages nothing, not even `plain`.
    let out = with_stdin(
        &t,
        &["add", "--files-from", "-"].map(OsStr::new),
        b"plain\ntwo\nlines\n",
    );
    let err = crate::support::assert_failure(&out, &["add"], 2);
    assert!(err.contains("path does not exist"), "{err}");
    assert!(err.contains("two") || err.contains("lines"), "{err}");
    assert!(added(&t).is_empty(), "nothing staged");
}

#[test]
fn list_names_are_relative_to_the_current_directory_and_combine_with_paths() {
    let t = TestRepo::new();
    t.write("data/a.csv", "a\n");
    t.write("data/b.csv", "b\n");
    t.write("data/c.csv", "c\n");
    t.write("top.txt", "t\n");
    t.write("data/list.txt", "a.csv\n./b.csv\n../top.txt\n");
    let doc = t
        .cmd_in(&t.path("data"))
        .args(["--json", "add", "--files-from", "list.txt", "c.csv"])
        .output()
        .unwrap();
    let doc = json_of(&doc);
    let paths: Vec<String> = staged(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["data/a.csv", "data/b.csv", "data/c.csv", "top.txt"]);
    // A list that names nothing (a search that found nothing) is success with nothing staged.
    let doc = json_of(&with_stdin(
        &t,
        &["--json", "add", "--files-from", "-"].map(OsStr::new),
        b"",
    ));
    assert!(staged(&doc).is_empty());
    // A missing list file is one clear error.
    let err = t.fails(&["add", "--files-from", "no-such-list"], 2);
    assert!(err.contains("could not read the list of paths"), "{err}");
    // -A stages everything: a list beside it is a usage error, as is -0 alone.
    t.fails(&["add", "-A", "--files-from", "data/list.txt"], 2);
    t.fails(&["add", "-0", "top.txt"], 2);
}

#[test]
fn a_listed_name_must_exist_or_be_tracked() {
    let t = TestRepo::new();
    t.write("keep.txt", "k\n");
    t.write("gone.txt", "g\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("two files");
    t.remove("gone.txt");
    t.append("keep.txt", "more\n");
    let before = t.run(&["status", "-z"]).stdout;
    // A name neither in the worktree nor tracked fails the whole add; nothing changes.
    let out = with_stdin(
        &t,
        &["add", "--files-from", "-"].map(OsStr::new),
        b"keep.txt\nnever-was.txt\n",
    );
    let err = crate::support::assert_failure(&out, &["add"], 2);
    assert!(err.contains("never-was.txt"), "{err}");
    assert_eq!(
        t.run(&["status", "-z"]).stdout,
        before,
        "repository unchanged"
    );
    // A tracked file gone from the worktree stages its deletion, as `add gone.txt` does.
    let doc = json_of(&with_stdin(
        &t,
        &["--json", "add", "--files-from", "-"].map(OsStr::new),
        b"keep.txt\ngone.txt\n",
    ));
    assert_eq!(
        staged(&doc),
        [
            ("gone.txt".to_string(), "deleted".to_string()),
            ("keep.txt".to_string(), "modified".to_string())
        ]
    );
}

#[test]
fn excludes_take_patterns_directories_and_negations() {
    let t = TestRepo::new();
    for p in [
        "a.txt",
        "x.tmp",
        "keep.tmp",
        "cache/big.bin",
        "sub/cache/inner.bin",
        "sub/y.tmp",
        "top.log",
        "sub/top.log",
        "cachefile",
    ] {
        t.write(p, p);
    }
    let doc = t.json(&[
        "add",
        "-A",
        "--exclude",
        "*.tmp",
        "--exclude",
        "!keep.tmp",
        "--exclude",
        "cache/",
        "--exclude",
        "/top.log",
    ]);
    let paths: Vec<String> = staged(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        ["a.txt", "cachefile", "keep.tmp", "sub/top.log"],
        "`cache/` matches directories only, `/top.log` only at the root"
    );
    // Status is not fooled by the narrower walk: what was left out is still untracked.
    let st = t.status();
    for p in [
        "?? x.tmp",
        "?? sub/y.tmp",
        "?? top.log",
        "?? cache/",
        "?? sub/cache/",
    ] {
        assert!(st.iter().any(|l| l == p), "{p} in {st:?}");
    }
    // A named path the user excluded is left out without an error; a named directory is
    // walked with the patterns.
    let doc = t.json(&[
        "add",
        "x.tmp",
        "sub",
        "--exclude",
        "*.tmp",
        "--exclude",
        "cache",
    ]);
    assert!(staged(&doc).is_empty(), "{doc}");
    // A bad pattern is a usage error, before anything is read.
    let err = t.fails(&["add", "-A", "--exclude", "[z-a]"], 2);
    assert!(err.contains("--exclude"), "{err}");
}

#[test]
fn excluded_tracked_files_are_left_as_they_are() {
    let t = TestRepo::new();
    t.write("data/keep.csv", "1\n");
    t.write("logs/run.log", "first\n");
    t.write("logs/old.log", "old\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("tracked");
    t.append("data/keep.csv", "2\n");
    t.append("logs/run.log", "second\n");
    t.remove("logs/old.log");
    // Excluded: neither read (the change stays unstaged) nor deleted from the index.
    let doc = t.json(&["add", "-A", "--exclude", "logs/"]);
    assert_eq!(
        staged(&doc),
        [("data/keep.csv".to_string(), "modified".to_string())]
    );
    let st = t.status();
    assert!(st.iter().any(|l| l == " M logs/run.log"), "{st:?}");
    assert!(st.iter().any(|l| l == " D logs/old.log"), "{st:?}");
    // Without the pattern they are staged as usual.
    let doc = t.json(&["add", "-A"]);
    assert_eq!(staged(&doc).len(), 2, "{doc}");
}

#[test]
fn excludes_add_to_the_ignore_files_and_never_undo_them() {
    let t = TestRepo::new();
    t.write(".gitignore", "*.o\n");
    t.write(".cairnignore", "scratch/\n");
    t.write("main.c", "int main;\n");
    t.write("main.o", "obj\n");
    t.write("scratch/s.txt", "s\n");
    t.write("notes.md", "n\n");
    // A negation in --exclude only narrows the excludes: it cannot re-include what an
    // ignore file leaves out.
    let doc = t.json(&["add", "-A", "--exclude", "*.md", "--exclude", "!main.o"]);
    let paths: Vec<String> = staged(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [".cairnignore", ".gitignore", "main.c"]);
    // A named file an ignore file excludes is still an error (as for git); one the user
    // excluded on the command line is not.
    let err = t.fails(&["add", "main.o"], 2);
    assert!(err.contains("main.o"), "{err}");
    t.json(&["add", "notes.md", "--exclude", "*.md"]);
    // --force turns the ignore files off, not the user's excludes.
    let doc = t.json(&["add", "-A", "-f", "--exclude", "*.md", "--exclude", "*.o"]);
    let paths: Vec<String> = staged(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["scratch/s.txt"]);
}

#[test]
fn files_from_and_exclude_together() {
    let t = TestRepo::new();
    for p in ["d/a.csv", "d/b.tmp", "d/c.csv", "e/f.csv"] {
        t.write(p, p);
    }
    let out = with_stdin(
        &t,
        &[
            "--json",
            "add",
            "--files-from",
            "-",
            "--exclude",
            "*.tmp",
            "--exclude",
            "e/",
        ]
        .map(OsStr::new),
        b"d/a.csv\nd/b.tmp\nd\ne/f.csv\n",
    );
    let paths: Vec<String> = staged(&json_of(&out)).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["d/a.csv", "d/c.csv"]);
}

/// 100,000 names in a list cost about what a walk of the same files costs: no name is
/// checked against every other, nor the index scanned once per name. Empty files, so the
/// test takes inodes but next to no disk.
#[test]
fn a_list_of_100000_names_is_not_slow() {
    const N: usize = 100_000;
    let t = TestRepo::new();
    let mut list = Vec::with_capacity(N * 24);
    for i in 0..N {
        let name = format!("d{:03}/f{i:06}", i % 200);
        if i < 200 {
            t.mkdir(format!("d{:03}", i % 200));
        }
        std::fs::File::create(t.path(&name)).unwrap();
        list.extend_from_slice(name.as_bytes());
        list.push(0);
    }
    t.write("unlisted", "u\n");
    let timed = |args: &[&str], input: &[u8]| {
        let start = Instant::now();
        let out = t
            .cmd()
            .timeout(Duration::from_secs(300))
            .args(args)
            .write_stdin(input.to_vec())
            .output()
            .unwrap();
        let doc = json_of(&out);
        (start.elapsed(), doc)
    };
    // The same files found by a walk, then by the list into an empty index again.
    let (walked, doc) = timed(&["--json", "add", "-A"], b"");
    assert_eq!(doc["staged"].as_array().unwrap().len(), N + 1);
    std::fs::remove_file(t.path(".cairn/index")).unwrap();
    let (listed, doc) = timed(&["--json", "add", "--files-from", "-", "-0"], &list);
    assert_eq!(doc["staged"].as_array().unwrap().len(), N);
    t.ok(&["commit", "-q", "-m", "many"]);
    // Deleted tracked files named one by one: each name is found in the index by lookup.
    for i in (0..N).step_by(2) {
        std::fs::remove_file(t.path(format!("d{:03}/f{i:06}", i % 200))).unwrap();
    }
    let (deleted, doc) = timed(&["--json", "add", "--files-from", "-", "-0"], &list);
    assert_eq!(
        doc["staged"].as_array().unwrap().len(),
        N / 2,
        "every other file deleted"
    );
    // Generous: a scan per name took minutes here; a lookup per name takes about as long
    // as the walk.
    let bound = walked * 4 + Duration::from_secs(20);
    assert!(
        listed < bound && deleted < bound,
        "listed {listed:?}, deleted {deleted:?}, walk {walked:?}"
    );
}

#[test]
fn hostile_names_in_a_list_are_refused_before_anything_is_read() {
    let t = TestRepo::new();
    t.write("ok.txt", "ok\n");
    t.symlink("/etc", "link");
    for bad in [
        &b"../outside"[..],
        b"/etc/passwd",
        b".cairn/config.toml",
        b"link/passwd",
    ] {
        let list = [&b"ok.txt\0"[..], bad, b"\0"].concat();
        let out = with_stdin(
            &t,
            &["add", "--files-from", "-", "-0"].map(OsStr::new),
            &list,
        );
        crate::support::assert_failure(&out, &["add", "--files-from"], 2);
        assert!(added(&t).is_empty(), "nothing staged for {bad:?}");
    }
}

/// An add from a list killed before it saves the index leaves the index as it was; the same
/// command run again stages everything.
#[test]
fn a_killed_add_from_a_list_is_run_again() {
    let t = TestRepo::new();
    let mut list = Vec::new();
    for i in 0..50 {
        let name = format!("d/f{i:02}");
        t.write(&name, format!("{i}\n"));
        list.extend_from_slice(name.as_bytes());
        list.push(b'\n');
    }
    let out = t
        .cmd()
        .env("CAIRN_FAILPOINT", "add:before-index")
        .args(["add", "--files-from", "-"])
        .write_stdin(list.clone())
        .output()
        .unwrap();
    assert!(!out.status.success(), "killed: {out:?}");
    assert!(added(&t).is_empty(), "the index is as it was");
    let doc = json_of(&with_stdin(
        &t,
        &["--json", "add", "--files-from", "-"].map(OsStr::new),
        &list,
    ));
    assert_eq!(doc["staged"].as_array().unwrap().len(), 50);
    assert_eq!(added(&t).len(), 50);
    t.ok(&["verify"]);
}
