//! End-to-end tests of the foundation commands (init, add, rm, status, commit, log,
//! completions) and the global flags, through the built `cairn` binary.

use std::path::Path;

use serde_json::Value;

use crate::support;
use crate::support::{is_hex64, keys, random_bytes, TestRepo};

/// Owned lines, for comparing with `TestRepo::status`.
fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(std::string::ToString::to_string).collect()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn deep_path() -> String {
    let dirs: Vec<String> = (0..30).map(|i| format!("l{i}")).collect();
    format!("{}/leaf.txt", dirs.join("/"))
}

const NON_UTF8: &[u8] = b"raw\xffname";

/// A tree with one of every kind of entry the foundation must handle.
fn write_mixed_tree(t: &TestRepo) {
    t.write("a.txt", "hello\n");
    t.write("bin/run.sh", "#!/bin/sh\necho run\n");
    t.chmod("bin/run.sh", 0o755);
    t.write("empty", "");
    t.symlink("a.txt", "link");
    t.symlink("no/such/target", "dangling");
    t.symlink("bin", "linkdir");
    t.write(NON_UTF8, "bytes in a name that is not UTF-8\n");
    t.write(deep_path(), "thirty levels down\n");
    t.write("sp ace/ünï cödé.txt", "spaces and unicode\n");
}

// ---------------------------------------------------------------------------------------
// init

#[test]
fn init_creates_repository_with_default_config() {
    let t = TestRepo::empty();
    let out = t.ok(&["init"]);
    assert!(
        out.contains(".cairn"),
        "init output names the repository: {out}"
    );
    let config = std::fs::read_to_string(t.path(".cairn/config.toml")).expect("config.toml");
    assert!(config.contains("hash = \"blake3\""), "{config}");
    assert!(config.contains("avg = 65536"), "{config}");
    assert!(t.path(".cairn/HEAD").is_file());
    assert!(t.path(".cairn/packs").is_dir());
    // A fresh repository is clean and has no layers.
    assert!(t.status().is_empty());
    let log = t.json(&["log"]);
    assert_eq!(log["layers"].as_array().map(Vec::len), Some(0));
}

#[test]
fn init_json_reports_parameters() {
    let t = TestRepo::empty();
    let v = t.json(&["init", "--chunk-size", "16K"]);
    assert_eq!(
        keys(&v),
        ["chunk_avg", "chunk_max", "chunk_min", "hash", "path"]
    );
    assert_eq!(v["hash"], "blake3");
    assert_eq!(v["chunk_avg"], 16384);
    assert_eq!(v["chunk_min"], 4096);
    assert_eq!(v["chunk_max"], 65536);
    let config = std::fs::read_to_string(t.path(".cairn/config.toml")).unwrap();
    assert!(config.contains("avg = 16384"), "{config}");
}

#[test]
fn init_sha256_changes_every_id() {
    let sha = TestRepo::empty();
    let v = sha.json(&["init", "--hash", "sha256"]);
    assert_eq!(v["hash"], "sha256");
    let config = std::fs::read_to_string(sha.path(".cairn/config.toml")).unwrap();
    assert!(config.contains("hash = \"sha256\""), "{config}");
    let blake = TestRepo::new();
    let mut trees = Vec::new();
    for t in [&sha, &blake] {
        t.write("f", "same content\n");
        t.fix_mtimes(1_700_000_000);
        t.ok(&["add", "-A"]);
        let c = t.json(&["commit", "-m", "m", "--author", "x"]);
        assert!(is_hex64(c["layer"].as_str().unwrap()), "{c}");
        assert!(t.status().is_empty());
        trees.push(c["tree"].as_str().unwrap().to_string());
    }
    assert_ne!(
        trees[0], trees[1],
        "sha256 and blake3 gave the same tree id"
    );
}

#[test]
fn init_chunk_size_is_used_by_add() {
    let data = random_bytes(11, 1 << 20);
    let mut chunks = Vec::new();
    for size in ["4K", "1M"] {
        let t = TestRepo::empty();
        let v = t.json(&["init", "--chunk-size", size]);
        let avg = v["chunk_avg"].as_u64().unwrap();
        assert_eq!(avg, if size == "4K" { 4096 } else { 1 << 20 });
        t.write("big", &data);
        let a = t.json(&["add", "big"]);
        chunks.push(a["chunks_new"].as_u64().unwrap());
    }
    assert!(
        chunks[0] > 10 * chunks[1],
        "4K chunks should cut 1 MiB far finer than 1M chunks: {chunks:?}"
    );
    let t = TestRepo::empty();
    assert_eq!(t.json(&["init", "--chunk-size", "64K"])["chunk_avg"], 65536);
    let t = TestRepo::empty();
    assert_eq!(
        t.json(&["init", "--chunk-size", "64KiB"])["chunk_avg"],
        65536
    );
}

#[test]
fn init_bad_chunk_size_fails_and_creates_nothing() {
    for bad in ["1000", "512", "8M", "0", "abc", "64Q"] {
        let t = TestRepo::empty();
        let err = t.fails(&["init", "--chunk-size", bad], 2);
        assert!(
            err.contains("chunk"),
            "the error names the chunk size: {err}"
        );
        assert!(!t.exists(".cairn"), "--chunk-size {bad} created .cairn");
        let left: Vec<_> = std::fs::read_dir(t.root()).unwrap().collect();
        assert!(left.is_empty(), "--chunk-size {bad} left files: {left:?}");
    }
}

#[test]
fn init_inside_a_repository_changes_nothing() {
    let t = TestRepo::new();
    t.write("sub/deeper/f", "x");
    t.ok(&["add", "-A"]);
    let before = t.snapshot();
    let err = t.fails(&["init"], 2);
    assert!(err.contains("already"), "{err}");
    assert_eq!(t.snapshot(), before);
    for dir in ["sub", "sub/deeper"] {
        let out = t.run_in(&t.path(dir), &["init"]);
        support::assert_failure(&out, &["init"], 2);
        assert!(
            !t.exists(format!("{dir}/.cairn")),
            "init created {dir}/.cairn"
        );
    }
    let out = t.run(&["init", "--hash", "sha256"]);
    support::assert_failure(&out, &["init"], 2);
    assert_eq!(t.snapshot(), before);
}

/// `cairn init DIR` inside a repository must not create DIR either: nothing changes.
#[test]
fn init_named_dir_inside_a_repository_creates_nothing() {
    let t = TestRepo::new();
    let before = t.snapshot();
    t.fails(&["init", "newdir"], 2);
    assert!(!t.exists("newdir"), "a failed init left newdir behind");
    assert_eq!(t.snapshot(), before);
}

#[test]
fn init_dir_argument_creates_the_repository_there() {
    let t = TestRepo::empty();
    t.ok(&["init", "-q", "proj"]);
    assert!(
        t.path("proj/.cairn/config.toml").is_file(),
        "init proj did not create proj/.cairn"
    );
    assert!(!t.exists("proj/proj"), "init proj created proj/proj");
    let abs = t.path("abs");
    t.ok(&["init", "-q", abs.to_str().unwrap()]);
    assert!(t.path("abs/.cairn/config.toml").is_file());
}

#[test]
fn dash_c_init_creates_the_repository_in_that_dir() {
    let t = TestRepo::empty();
    t.mkdir("r");
    t.ok(&["-C", "r", "init", "-q"]);
    assert!(
        t.path("r/.cairn/config.toml").is_file(),
        "-C r init did not create r/.cairn"
    );
    assert!(!t.exists("r/r"), "-C r init created r/r");
}

// ---------------------------------------------------------------------------------------
// add / status / commit / log

#[test]
fn round_trip_of_every_kind_of_entry() {
    let t = TestRepo::new();
    write_mixed_tree(&t);
    let mut untracked: Vec<Vec<u8>> = [
        "?? a.txt",
        "?? bin/",
        "?? dangling",
        "?? empty",
        "?? l0/",
        "?? link",
        "?? linkdir",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    untracked.push([b"?? ".as_slice(), NON_UTF8].concat());
    untracked.push(b"?? sp ace/".to_vec());
    assert_eq!(t.status_raw(), untracked);

    let add = t.json(&["add", "-A"]);
    assert_eq!(add["staged"].as_array().unwrap().len(), 9, "{add}");
    assert!(add["staged"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["change"] == "added"));
    let deep = deep_path();
    let mut staged: Vec<Vec<u8>> = [
        "A  a.txt",
        "A  bin/run.sh",
        "A  dangling",
        "A  empty",
        &format!("A  {deep}"),
        "A  link",
        // The link to a directory is stored as a link: nothing below it is listed.
        "A  linkdir",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    staged.push([b"A  ".as_slice(), NON_UTF8].concat());
    staged.push("A  sp ace/ünï cödé.txt".as_bytes().to_vec());
    assert_eq!(t.status_raw(), staged);

    let c = t.json(&["commit", "-m", "everything"]);
    assert!(is_hex64(c["layer"].as_str().unwrap()));
    assert_eq!(c["counts"]["files"], 9);
    assert_eq!(c["counts"]["added"], 9);
    assert!(c["parent"].is_null());
    assert!(
        t.status().is_empty(),
        "status after commit: {:?}",
        t.status()
    );
    let long = t.ok(&["status"]);
    assert!(long.contains("nothing to commit"), "{long}");

    // The links were not followed: editing the target changes only the target.
    t.append("a.txt", "more\n");
    // Retargeting a link changes the link.
    t.remove("dangling");
    t.symlink("still/nowhere", "dangling");
    // The executable bit is part of the entry.
    t.chmod("bin/run.sh", 0o644);
    // A file that becomes a link is a type change.
    t.remove("empty");
    t.symlink("a.txt", "empty");
    assert_eq!(
        t.status(),
        lines(&[" M a.txt", " M bin/run.sh", " M dangling", " T empty"])
    );
    t.ok(&["add", "-A"]);
    assert_eq!(
        t.status(),
        lines(&["M  a.txt", "M  bin/run.sh", "M  dangling", "T  empty"])
    );
    let second = t.commit("second");
    assert_ne!(second, c["layer"].as_str().unwrap());
    assert!(t.status().is_empty());
    let log = t.json(&["log"]);
    assert_eq!(log["layers"].as_array().unwrap().len(), 2);
    assert_eq!(log["layers"][0]["counts"]["modified"], 4);
}

#[test]
fn non_utf8_name_round_trips_in_json() {
    let t = TestRepo::new();
    t.write(NON_UTF8, "x");
    t.ok(&["add", "-A"]);
    let s = t.json(&["status"]);
    assert_eq!(s["staged"][0]["path"], "raw\u{FFFD}name");
    assert_eq!(s["staged"][0]["change"], "added");
    t.commit("raw");
    t.append(NON_UTF8, "y");
    assert_eq!(t.status_raw(), vec![[b" M ".as_slice(), NON_UTF8].concat()]);
}

#[test]
fn status_short_reports_each_change_exactly() {
    let t = TestRepo::new();
    for f in ["a", "b", "c", "d/x", "d/y", "keep"] {
        t.write(f, format!("content of {f}\n"));
    }
    t.ok(&["add", "-A"]);
    assert_eq!(
        t.status(),
        lines(&["A  a", "A  b", "A  c", "A  d/x", "A  d/y", "A  keep"])
    );
    t.commit("base");
    assert!(t.status().is_empty());
    assert_eq!(
        t.ok(&["status", "--short"]),
        "",
        "clean status prints nothing"
    );

    t.append("a", "edit");
    t.remove("b");
    t.chmod("c", 0o755);
    t.write("n", "new\n");
    t.write("u/v/w", "untracked dir\n");
    t.write("d/z", "untracked in a tracked dir\n");
    assert_eq!(
        t.status(),
        lines(&[" M a", " D b", " M c", "?? d/z", "?? n", "?? u/"])
    );

    t.ok(&["add", "a", "b", "n"]);
    assert_eq!(
        t.status(),
        lines(&["M  a", "D  b", " M c", "A  n", "?? d/z", "?? u/"])
    );
    t.append("a", "again");
    t.append("n", "again");
    t.ok(&["rm", "--cached", "keep"]);
    assert_eq!(
        t.status(),
        lines(&["MM a", "D  b", " M c", "D  keep", "AM n", "?? d/z", "?? keep", "?? u/"])
    );
    let s = t.json(&["status"]);
    assert_eq!(
        keys(&s),
        [
            "head",
            "line",
            "rename_limit_exceeded",
            "staged",
            "unstaged",
            "untracked"
        ]
    );
    assert_eq!(keys(&s["staged"][0]), ["change", "path"]);
    let staged: Vec<(String, String)> = s["staged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().into(),
                c["change"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("a", "modified"),
        ("b", "deleted"),
        ("keep", "deleted"),
        ("n", "added"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    assert_eq!(staged, want);
    assert_eq!(s["untracked"], serde_json::json!(["d/z", "keep", "u/"]));

    t.ok(&["add", "-A"]);
    let c = t.json(&["commit", "-m", "second"]);
    assert_eq!(c["counts"]["added"], 3); // n, d/z, u/v/w
    assert_eq!(c["counts"]["modified"], 2); // a, c
    assert_eq!(c["counts"]["deleted"], 1); // b (keep is back, unchanged)
    assert!(t.status().is_empty());
}

#[test]
fn same_size_edit_right_after_add_is_seen() {
    let t = TestRepo::new();
    t.write("f", "aaaa");
    t.ok(&["add", "f"]);
    t.commit("one");
    // Same size, written at once: only the racy re-hash can notice.
    t.write("f", "bbbb");
    assert_eq!(t.status(), lines(&[" M f"]));
    t.ok(&["add", "f"]);
    assert_eq!(t.status(), lines(&["M  f"]));
    t.write("f", "cccc");
    assert_eq!(t.status(), lines(&["MM f"]));
}

#[test]
fn file_replaced_by_directory_can_be_added_by_path() {
    let t = TestRepo::new();
    t.write("sub", "a file\n");
    t.ok(&["add", "sub"]);
    t.commit("file");
    t.remove("sub");
    t.write("sub/file", "now a directory\n");
    assert_eq!(t.status(), lines(&[" D sub", "?? sub/"]));
    t.ok(&["add", "sub/file"]);
    // Staging sub/file must replace the file entry `sub`, as git does; the index must never
    // hold a file and a directory of the same name.
    assert_eq!(t.status(), lines(&["D  sub", "A  sub/file"]));
    t.commit("dir");
}

#[test]
fn commit_prints_id_and_log_lists_layers_newest_first() {
    let t = TestRepo::new();
    let mut ids = Vec::new();
    for (i, msg) in ["first", "second\n\nwith a body", "third"]
        .iter()
        .enumerate()
    {
        t.write(format!("f{i}"), format!("{i}\n"));
        t.ok(&["add", "-A"]);
        let out = t.ok(&["commit", "-m", msg, "--author", "Ada"]);
        let id = out.trim_end().to_string();
        assert_eq!(out, format!("{id}\n"), "commit prints only the id");
        assert!(is_hex64(&id), "{out}");
        ids.push(id);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "layer ids are not distinct: {ids:?}");

    let log = t.json(&["log"]);
    assert_eq!(keys(&log), ["layers", "line"]);
    assert_eq!(log["line"], "main");
    let layers = log["layers"].as_array().unwrap();
    let got: Vec<&str> = layers.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(got, newest_first);
    assert_eq!(
        keys(&layers[0]),
        ["author", "counts", "id", "message", "parent", "refs", "time", "time_ns", "tree"]
    );
    assert_eq!(
        keys(&layers[0]["counts"]),
        ["added", "bytes", "deleted", "files", "modified"]
    );
    assert_eq!(layers[0]["parent"], layers[1]["id"]);
    assert_eq!(layers[1]["parent"], layers[2]["id"]);
    assert!(layers[2]["parent"].is_null());
    assert_eq!(layers[0]["author"], "Ada");
    assert_eq!(layers[1]["message"], "second\n\nwith a body");
    assert_eq!(layers[0]["counts"]["files"], 3);
    assert_eq!(layers[0]["counts"]["added"], 1);
    let times: Vec<i64> = layers
        .iter()
        .map(|l| l["time_ns"].as_i64().unwrap())
        .collect();
    assert!(times[0] >= times[1] && times[1] >= times[2], "{times:?}");

    let one = t.json(&["log", "-n", "1"]);
    assert_eq!(one["layers"].as_array().unwrap().len(), 1);
    assert_eq!(one["layers"][0]["id"], ids[2].as_str());

    let oneline = t.ok(&["log", "--oneline"]);
    let want: Vec<String> = ids
        .iter()
        .rev()
        .zip(["(HEAD -> main) third", "second", "first"])
        .map(|(id, m)| format!("{} {m}", &id[..12]))
        .collect();
    assert_eq!(oneline.lines().collect::<Vec<_>>(), want);
    let first = t.ok(&["log", "--oneline", "-n", "1"]);
    assert_eq!(first, format!("{}\n", want[0]));

    let long = t.ok(&["log"]);
    let pos: Vec<usize> = ids
        .iter()
        .map(|id| long.find(id.as_str()).expect("every id in log"))
        .collect();
    assert!(
        pos[2] < pos[1] && pos[1] < pos[0],
        "log is not newest first"
    );
    assert!(long.contains("Ada"));
    assert!(long.contains("with a body"));
}

#[test]
fn commit_json_has_stable_fields() {
    let t = TestRepo::new();
    t.write("f", "1\n");
    let add = t.json(&["add", "f"]);
    assert_eq!(
        keys(&add),
        [
            "bytes_new",
            "bytes_read",
            "bytes_resumed",
            "bytes_stored",
            "chunks_new",
            "dry_run",
            "files_read",
            "packs_written",
            "skipped",
            "staged"
        ]
    );
    assert_eq!(keys(&add["staged"][0]), ["change", "path"]);
    assert_eq!(add["staged"][0]["path"], "f");
    let c1 = t.json(&["commit", "-m", "one"]);
    assert_eq!(
        keys(&c1),
        [
            "bytes_written",
            "committed",
            "counts",
            "layer",
            "line",
            "parent",
            "tree"
        ]
    );
    assert_eq!(c1["committed"], true);
    assert_eq!(c1["line"], "main");
    t.append("f", "2\n");
    t.ok(&["add", "f"]);
    let c2 = t.json(&["commit", "-m", "two"]);
    assert_eq!(c2["parent"], c1["layer"]);
    assert_ne!(c2["tree"], c1["tree"]);
    assert_eq!(c2["counts"]["modified"], 1);
    let s = t.json(&["status"]);
    assert_eq!(s["head"], c2["layer"]);
}

#[test]
fn empty_commit_fails_and_changes_nothing() {
    let t = TestRepo::new();
    let before = t.snapshot();
    // Exit 3: "nothing to commit" is told apart from a failure (docs/JSON.md).
    let err = t.fails(&["commit", "-m", "nothing"], 3);
    assert!(err.contains("nothing to commit"), "{err}");
    assert_eq!(t.snapshot(), before);

    t.write("f", "x");
    t.ok(&["add", "f"]);
    t.commit("one");
    // Unstaged changes are not something to commit either.
    t.append("f", "y");
    let before = t.snapshot();
    let err = t.fails(&["commit", "-m", "again"], 3);
    assert!(err.contains("nothing to commit"), "{err}");
    assert_eq!(t.snapshot(), before);
    assert_eq!(t.json(&["log"])["layers"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// ignore rules

#[test]
fn ignore_files_exclude_paths_and_force_overrides() {
    let t = TestRepo::new();
    t.write(".cairnignore", "*.log\nbuild/\n");
    t.write("g/.gitignore", "secret*\n");
    t.write("x.log", "log\n");
    t.write("build/out.o", "obj\n");
    t.write("g/secret1", "s\n");
    t.write("g/open", "o\n");
    t.write("keep", "k\n");
    // Ignored paths are not untracked either.
    assert_eq!(t.status(), lines(&["?? .cairnignore", "?? g/", "?? keep"]));
    t.ok(&["add", "-A"]);
    assert_eq!(
        t.status(),
        lines(&["A  .cairnignore", "A  g/.gitignore", "A  g/open", "A  keep"])
    );
    // Naming a directory stages only what is not ignored in it.
    t.write("g/other", "o\n");
    t.ok(&["add", "g"]);
    assert!(t.status().contains(&"A  g/other".to_string()));
    assert!(!t.status().iter().any(|l| l.contains("secret")));

    for ignored in ["x.log", "g/secret1", "build/out.o"] {
        let before = t.snapshot();
        let err = t.fails(&["add", ignored], 2);
        assert!(err.contains(ignored), "the error names {ignored}: {err}");
        assert!(err.contains("--force"), "the hint mentions --force: {err}");
        assert_eq!(t.snapshot(), before);
    }
    t.ok(&["add", "--force", "x.log", "g/secret1"]);
    t.ok(&["add", "-f", "build"]);
    let st = t.status();
    for p in ["A  x.log", "A  g/secret1", "A  build/out.o"] {
        assert!(st.contains(&p.to_string()), "{p} missing from {st:?}");
    }
    // A tracked file stays tracked when an ignore rule matches it.
    t.commit("with forced files");
    t.append("x.log", "more\n");
    assert_eq!(t.status(), lines(&[" M x.log"]));
}

/// A path beyond a symlink is not in the worktree as the walk sees it. git says "beyond a
/// symbolic link"; whatever cairn says, it must not claim an ignore rule and send the user to
/// --force, which cannot help.
#[test]
fn path_beyond_a_symlink_is_refused_with_a_true_message() {
    let t = TestRepo::new();
    t.write("real/f", "x\n");
    t.symlink("real", "linkdir");
    let before = t.snapshot();
    for args in [
        &["add", "linkdir/f"][..],
        &["add", "--force", "linkdir/f"][..],
    ] {
        let err = t.fails(args, 2);
        assert!(err.contains("linkdir/f"), "{err}");
        assert!(
            !err.contains("ignore") && !err.contains("--force"),
            "{args:?}: no ignore rule is involved: {err}"
        );
        assert_eq!(t.snapshot(), before);
    }
    assert_eq!(t.status(), lines(&["?? linkdir", "?? real/"]));
}

#[test]
fn cairn_dir_is_never_tracked() {
    let t = TestRepo::new();
    t.write("f", "x");
    t.ok(&["add", "-A"]);
    t.commit("one");
    let s = t.json(&["status"]);
    assert!(!s.to_string().contains(".cairn"), "{s}");
    for p in [".cairn", ".cairn/config.toml", "./.cairn/HEAD"] {
        let before = t.snapshot();
        t.fails(&["add", p], 2);
        t.fails(&["add", "--force", p], 2);
        assert_eq!(t.snapshot(), before);
    }
    t.ok(&["add", "--force", "-A"]);
    let log = t.json(&["log"]);
    assert_eq!(log["layers"][0]["counts"]["files"], 1);
    assert!(t.status().is_empty());
}

// ---------------------------------------------------------------------------------------
// add: dry run, no-op, dedup

#[test]
fn add_dry_run_changes_nothing() {
    let t = TestRepo::new();
    t.write("a", "a\n");
    t.write("d/b", "b\n");
    let before = t.snapshot();
    let out = t.ok(&["add", "-A", "--dry-run"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["add 'a'", "add 'd/b'"]);
    assert_eq!(t.snapshot(), before, "dry run wrote to .cairn");
    assert_eq!(t.status(), lines(&["?? a", "?? d/"]));

    t.ok(&["add", "a", "d"]);
    t.commit("one");
    t.append("a", "more");
    t.remove("d/b");
    t.write("c", "c\n");
    let index = t.read(".cairn/index");
    let before = t.snapshot();
    let v = t.json(&["add", "-A", "-n"]);
    assert_eq!(v["dry_run"], true);
    let staged: Vec<(&str, &str)> = v["staged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap(), s["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        staged,
        [("a", "modified"), ("c", "added"), ("d/b", "deleted")]
    );
    assert_eq!(t.read(".cairn/index"), index, "dry run rewrote the index");
    assert_eq!(t.snapshot(), before);
    assert_eq!(t.status(), lines(&[" M a", " D d/b", "?? c"]));
}

#[test]
fn re_adding_an_unchanged_tree_stages_nothing() {
    let t = TestRepo::new();
    for i in 0..20 {
        t.write(format!("d{}/f{i}", i % 3), format!("{i}\n"));
    }
    t.ok(&["add", "-A"]);
    let packs = t.packs_size();
    let status = t.status();
    let v = t.json(&["add", "-A"]);
    assert_eq!(v["staged"], serde_json::json!([]), "{v}");
    assert_eq!(v["chunks_new"], 0);
    assert_eq!(v["packs_written"], 0);
    assert_eq!(t.packs_size(), packs);
    assert_eq!(t.status(), status);
    t.commit("one");
    let v = t.json(&["add", "-A"]);
    assert_eq!(v["staged"], serde_json::json!([]));
    assert!(t.status().is_empty());
    let out = t.ok(&["add", "-A"]);
    assert!(out.contains("staged 0 new, 0 modified, 0 removed"), "{out}");
}

#[test]
fn same_content_is_stored_once() {
    const SIZE: usize = 300 * 1024;
    let t = TestRepo::new();
    let data = random_bytes(7, SIZE);
    t.write("one.bin", &data);
    t.write("sub/two.bin", &data);
    let before = t.packs_size();
    let v = t.json(&["add", "-A"]);
    let grown = t.packs_size() - before;
    assert_eq!(v["bytes_read"], 2 * SIZE as u64);
    assert_eq!(v["bytes_new"], SIZE as u64, "{v}");
    assert!(
        grown >= SIZE as u64 && grown < SIZE as u64 * 5 / 4,
        "packs grew by {grown} bytes for two copies of {SIZE}"
    );
    t.commit("two copies");
    // A third copy, in a later add, is found in the stored packs.
    t.write("three.bin", &data);
    let before = t.packs_size();
    let v = t.json(&["add", "three.bin"]);
    assert_eq!(v["chunks_new"], 0, "{v}");
    assert_eq!(t.packs_size(), before);
    assert_eq!(t.status(), lines(&["A  three.bin"]));
}

// ---------------------------------------------------------------------------------------
// rm

#[test]
fn rm_cached_keeps_the_file_untracked() {
    let t = TestRepo::new();
    t.write("f", "keep me\n");
    t.write("g", "other\n");
    t.ok(&["add", "-A"]);
    t.commit("one");
    let v = t.json(&["rm", "--cached", "f"]);
    assert_eq!(keys(&v), ["cached", "removed"]);
    assert_eq!(v["removed"], serde_json::json!(["f"]));
    assert_eq!(v["cached"], true);
    assert_eq!(t.read("f"), b"keep me\n");
    assert_eq!(t.status(), lines(&["D  f", "?? f"]));
    t.commit("untrack f");
    assert_eq!(t.status(), lines(&["?? f"]));
}

#[test]
fn rm_deletes_the_file() {
    let t = TestRepo::new();
    t.write("f", "x\n");
    t.write("d/only", "y\n");
    t.write("keep", "z\n");
    t.ok(&["add", "-A"]);
    t.commit("one");
    let out = t.ok(&["rm", "f", "d/only"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["rm 'd/only'", "rm 'f'"]);
    assert!(!t.exists("f"));
    assert!(!t.exists("d"), "rm leaves no empty directory behind");
    assert_eq!(t.status(), lines(&["D  d/only", "D  f"]));
    t.commit("rm");
    assert!(t.status().is_empty());
}

#[test]
fn rm_refuses_to_lose_unstaged_changes() {
    let t = TestRepo::new();
    t.write("f", "x\n");
    t.ok(&["add", "f"]);
    t.commit("one");
    t.append("f", "unsaved work\n");
    let before = t.snapshot();
    let err = t.fails(&["rm", "f"], 2);
    assert!(err.contains('f'), "{err}");
    assert!(err.contains("--force") || err.contains("-f"), "{err}");
    assert_eq!(t.read("f"), b"x\nunsaved work\n");
    assert_eq!(t.snapshot(), before);
    assert_eq!(t.status(), lines(&[" M f"]));
    // --cached loses nothing, so it needs no force.
    t.ok(&["rm", "--cached", "f"]);
    assert!(t.exists("f"));
    t.ok(&["add", "f"]);
    t.ok(&["rm", "-f", "f"]);
    assert!(!t.exists("f"));
    assert_eq!(t.status(), lines(&["D  f"]));
}

#[test]
fn rm_directory_needs_r_and_untracked_paths_fail() {
    let t = TestRepo::new();
    t.write("d/a", "a");
    t.write("d/e/b", "b");
    t.write("loose", "not tracked");
    t.ok(&["add", "d"]);
    t.commit("one");
    let before = t.snapshot();
    let err = t.fails(&["rm", "d"], 2);
    assert!(err.contains("-r"), "{err}");
    assert!(t.exists("d/a") && t.exists("d/e/b"));
    let err = t.fails(&["rm", "loose"], 2);
    assert!(err.contains("loose"), "{err}");
    assert!(t.exists("loose"));
    t.fails(&["rm", "nothing-here"], 2);
    // One bad path fails the whole command: the good one is not removed either.
    t.fails(&["rm", "d/a", "loose"], 2);
    assert!(t.exists("d/a"));
    assert_eq!(t.snapshot(), before);
    t.ok(&["rm", "-r", "d"]);
    assert!(!t.exists("d"));
    assert_eq!(t.status(), lines(&["D  d/a", "D  d/e/b", "?? loose"]));
}

// ---------------------------------------------------------------------------------------
// errors

#[test]
fn errors_exit_2_with_one_line_and_change_nothing() {
    let t = TestRepo::new();
    t.write("m", "tracked\n");
    t.write("d/x", "in a dir\n");
    t.ok(&["add", "-A"]);
    t.commit("one");
    t.append("m", "unstaged edit\n");
    let outside = t.root().parent().unwrap().join("elsewhere");
    let outside = outside.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["add", "nope"], "nope"),
        (vec!["add", "m", "nope"], "nope"),
        (vec!["add", "../x"], "../x"),
        (vec!["add", outside], "elsewhere"),
        (vec!["add", ".cairn/config.toml"], ".cairn"),
        (vec!["add"], "-A"),
        (vec!["rm", "nope"], "nope"),
        (vec!["rm", "d"], "d"),
        (vec!["rm", "m"], "m"),
        (vec!["rm", "../x"], "../x"),
        (vec!["init"], "already"),
        (vec!["--bogus"], "--bogus"),
        (vec!["add", "--bogus", "-A"], "--bogus"),
        (vec!["status", "--frobnicate"], "--frobnicate"),
        (vec!["log", "-n", "abc"], "abc"),
        (vec!["commit"], "--message"),
        (vec!["frobnicate"], "frobnicate"),
        (vec!["completions", "nosuchshell"], "nosuchshell"),
    ];
    for (args, needle) in cases {
        let before = t.snapshot();
        let err = t.fails(&args, 2);
        assert!(err.contains(needle), "`{args:?}`: {needle:?} not in {err}");
        assert_eq!(t.snapshot(), before, "`{args:?}` changed .cairn");
        assert_eq!(t.read("m"), b"tracked\nunstaged edit\n");
        assert_eq!(t.status(), lines(&[" M m"]), "after {args:?}");
    }
}

#[test]
fn json_errors_are_a_document_too() {
    let t = TestRepo::new();
    let out = t.run(&["--json", "add", "nope"]);
    support::assert_failure(&out, &["--json", "add", "nope"], 2);
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(keys(&v), ["error"]);
    assert_eq!(v["error"]["exit_code"], 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
}

#[test]
fn commands_outside_a_repository_fail() {
    let t = TestRepo::empty();
    t.write("f", "x");
    let cases: [&[&str]; 6] = [
        &["status"],
        &["status", "--short"],
        &["add", "-A"],
        &["add", "f"],
        &["commit", "-m", "x"],
        &["log"],
    ];
    for args in cases {
        let err = t.fails(args, 2);
        assert!(err.contains("not a cairn repository"), "{args:?}: {err}");
        assert!(err.contains("cairn init"), "hint names init: {err}");
        assert!(!t.exists(".cairn"), "{args:?} created .cairn");
    }
    t.fails(&["rm", "f"], 2);
    assert!(t.exists("f"));
    let names: Vec<_> = std::fs::read_dir(t.root()).unwrap().collect();
    assert_eq!(names.len(), 1, "only f is there: {names:?}");
}

// ---------------------------------------------------------------------------------------
// global flags

#[test]
fn quiet_prints_nothing_but_still_works() {
    let t = TestRepo::new();
    t.write("f", "x");
    let out = t.run(&["-q", "add", "-A"]);
    support::assert_success(&out, &["-q"]);
    assert!(out.stdout.is_empty(), "{}", stdout_of(&out));
    let out = t.run(&["commit", "-q", "-m", "quiet"]);
    support::assert_success(&out, &["commit"]);
    assert!(out.stdout.is_empty(), "{}", stdout_of(&out));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.json(&["log"])["layers"].as_array().unwrap().len(), 1);
    t.append("f", "y");
    assert!(t.ok(&["-q", "log"]).is_empty());
    // Errors still show with -q.
    let err = t.fails(&["-q", "add", "nope"], 2);
    assert!(err.contains("nope"));
}

#[test]
fn verbose_lists_staged_paths() {
    let t = TestRepo::new();
    t.write("a", "a");
    t.write("b/c", "c");
    let out = t.ok(&["-v", "add", "-A"]);
    assert!(
        out.contains("add 'a'") && out.contains("add 'b/c'"),
        "{out}"
    );
    let quiet = t.ok(&["add", "-A"]);
    assert!(!quiet.contains("add '"), "{quiet}");
}

#[test]
fn no_progress_changes_no_output() {
    let t = TestRepo::new();
    t.write("big", random_bytes(3, 5 << 20));
    let out = t.run(&["--no-progress", "add", "-A"]);
    support::assert_success(&out, &["--no-progress"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    assert!(stdout_of(&out).starts_with("staged 1 new"));
    let out = t.run(&["commit", "-m", "x", "--no-progress"]);
    support::assert_success(&out, &["commit"]);
    assert!(is_hex64(stdout_of(&out).trim_end()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    assert!(t.status().is_empty());
}

#[test]
fn dash_c_and_subdirectories_resolve_paths() {
    let t = TestRepo::new();
    t.write("d/x", "x");
    t.write("d/y", "y");
    t.write("top", "t");
    // Relative paths are relative to the current directory.
    let out = t.run_in(&t.path("d"), &["add", "x"]);
    support::assert_success(&out, &["add", "x"]);
    let out = t.run_in(&t.path("d"), &["add", "../top"]);
    support::assert_success(&out, &["add", "../top"]);
    assert_eq!(t.status(), lines(&["A  d/x", "A  top", "?? d/y"]));
    // -C from somewhere else entirely.
    let elsewhere = TestRepo::empty();
    let root = t.root().to_str().unwrap();
    let d = t.path("d");
    let out = elsewhere.run(&["-C", d.to_str().unwrap(), "add", "y"]);
    support::assert_success(&out, &["-C"]);
    let out = elsewhere.run(&["-C", root, "status", "--short"]);
    support::assert_success(&out, &["-C"]);
    assert_eq!(stdout_of(&out), "A  d/x\nA  d/y\nA  top\n");
    let out = elsewhere.run(&["-C", root, "commit", "-m", "from afar"]);
    support::assert_success(&out, &["-C"]);
    assert!(is_hex64(stdout_of(&out).trim_end()));
    assert!(t.status().is_empty());
    assert!(!elsewhere.exists(".cairn"));
    // -C to a directory that is not a repository.
    let out = t.run(&["-C", elsewhere.root().to_str().unwrap(), "status"]);
    support::assert_failure(&out, &["-C", "status"], 2);
}

#[test]
fn completions_for_each_shell() {
    let t = TestRepo::empty();
    for shell in ["bash", "zsh", "fish"] {
        let out = t.ok(&["completions", shell]);
        assert!(out.contains("cairn"), "{shell}: {out}");
        for sub in ["init", "add", "status", "commit", "log", "rm"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
        // fish spells long options `-l dry-run`.
        assert!(
            out.contains("dry-run"),
            "{shell} completion lacks --dry-run"
        );
    }
    assert!(!t.exists(".cairn"));
}

/// Runs `args` with a bad flag value: exit 2 with one `error:` line naming the flag (no
/// panic, no backtrace), and the repository untouched.
fn refused(t: &TestRepo, args: &[&str], flag: &str) {
    let before = t.snapshot();
    let err = t.fails(args, 2);
    let shown = args.join(" ");
    assert!(
        err.contains(flag),
        "`{shown}`: the error names {flag}: {err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
    assert_eq!(t.snapshot(), before, "`{shown}` changed the repository");
}

/// Seconds (`--lock-timeout`): a finite number from 0 to a day. `1e20`, `inf` and
/// `99999999999999999999` used to panic in `Duration`, `nan` and negatives were accepted.
#[test]
fn lock_timeout_takes_only_seconds_from_zero_to_a_day() {
    let t = TestRepo::new();
    t.write("f", "x");
    for bad in [
        "1e20",
        "inf",
        "-inf",
        "99999999999999999999",
        "nan",
        "-1",
        "-0.001",
        "86400.5",
        "five",
        "",
    ] {
        let flag = format!("--lock-timeout={bad}");
        refused(&t, &[&flag, "add", "-A"], "--lock-timeout");
    }
    for good in ["0", "0.25", "1e1", "86400"] {
        t.ok(&["--lock-timeout", good, "status"]);
    }
    t.ok(&["--lock-timeout", "0.5", "add", "-A"]);
    assert_eq!(t.status(), lines(&["A  f"]));
}

/// Counts (`--threads`): 1 to 1024. 0 used to mean 1 silently, and nothing bounded it.
#[test]
fn threads_takes_a_count_from_one_to_1024() {
    let t = TestRepo::new();
    t.write("f", "x");
    for bad in [
        "0",
        "1025",
        "4294967297",
        "99999999999999999999",
        "-1",
        "2.5",
        "many",
    ] {
        let flag = format!("--threads={bad}");
        refused(&t, &[&flag, "add", "-A"], "--threads");
    }
    t.ok(&["--threads", "1", "add", "-A"]);
    t.ok(&["--threads", "3", "status"]);
    assert_eq!(t.status(), lines(&["A  f"]));
}

/// Every other kind of flag value: numbers (`log -n`), one-line text (`--author`), names
/// (`--region`), sizes (`--chunk-size`), choices (`--hash`), byte ranges (`--range`), ids
/// (`--root`), paths (`-C`, `--to`): a clear error and exit 2, never a panic.
#[test]
fn every_kind_of_flag_value_is_checked() {
    let t = TestRepo::new();
    t.write("f", "0123456789");
    t.ok(&["add", "-A"]);
    t.commit("one");
    for n in ["-n=-1", "-nx", "-n99999999999999999999"] {
        refused(&t, &["log", n], "-n");
    }
    t.write("f", "changed");
    t.ok(&["add", "f"]);
    for author in ["", " ", "two\nlines", "Ada\u{1b}[2J"] {
        refused(&t, &["commit", "-m", "m", "--author", author], "--author");
    }
    for region in ["", "us east", "eu-west-1\n"] {
        let add = ["remote", "add", "o", "file:///nowhere", "--region", region];
        refused(&t, &add, "--region");
    }
    let fresh = TestRepo::empty();
    for size in ["0", "3K", "8M", "99999999999K", "K", "1.5K", "-64K", ""] {
        let err = fresh.fails(&["init", &format!("--chunk-size={size}")], 2);
        assert!(err.contains("chunk"), "{size}: {err}");
        assert!(
            !fresh.exists(".cairn"),
            "--chunk-size {size} made a repository"
        );
    }
    refused(&t, &["init", "--hash", "md5"], "--hash");
    for range in [
        "5-4",
        "x",
        "-0",
        "0-10",
        "10-",
        "99999999999999999999-",
        "1-2-3",
    ] {
        let err = t.fails(&["cat", "HEAD:f", "--range", range], 2);
        assert!(err.contains("range"), "{range}: {err}");
    }
    refused(&t, &["verify-proof", "p.json", "--root", "abc"], "--root");
    refused(&t, &["-C", "", "status"], "-C");
    refused(&t, &["restore", "HEAD", "--to", ""], "--to");
    refused(&t, &["add", ""], "PATHS");
    refused(&t, &["completions", "tcsh"], "tcsh");
}

// ---------------------------------------------------------------------------------------
// status: names quoted as git quotes them, and -z

/// Names with a newline, a tab, a quote, a backslash, non-UTF-8 and UTF-8 bytes and a space,
/// each as git 2.47's `status --short` prints it.
const ODD_NAMES: [(&[u8], &str); 8] = [
    (b"a\nb", r#""a\nb""#),
    (b"back\\slash", r#""back\\slash""#),
    ("caf\u{e9}".as_bytes(), r#""caf\303\251""#),
    (b"plain", "plain"),
    (b"q\"t", r#""q\"t""#),
    (b"raw\xff", r#""raw\377""#),
    (b"sp ace", r#""sp ace""#),
    (b"tab\there", r#""tab\there""#),
];

#[test]
fn status_short_quotes_odd_names_and_z_does_not() {
    let t = TestRepo::new();
    for (name, _) in ODD_NAMES {
        t.write(name, "x");
    }
    let short = |code: &str| -> String {
        ODD_NAMES
            .iter()
            .map(|(_, quoted)| format!("{code} {quoted}\n"))
            .collect()
    };
    let z = |code: &str| -> Vec<u8> {
        ODD_NAMES
            .iter()
            .flat_map(|(name, _)| [code.as_bytes(), b" ", name, b"\0"].concat())
            .collect()
    };
    assert_eq!(stdout_of(&t.run(&["status", "--short"])), short("??"));
    assert_eq!(t.run(&["status", "-z"]).stdout, z("??"));
    t.ok(&["add", "-A"]);
    assert_eq!(stdout_of(&t.run(&["status", "-s"])), short("A "));
    assert_eq!(t.run(&["status", "--short", "-z"]).stdout, z("A "));
    // The long format and ls quote too (there a space alone needs no quotes, as in git).
    let long = t.ok(&["status"]);
    assert!(long.contains("\tnew file:   \"a\\nb\"\n"), "{long}");
    assert!(long.contains("\tnew file:   sp ace\n"), "{long}");
    t.commit("odd");
    let ls = t.ok(&["ls"]);
    assert!(
        ls.contains("\"raw\\377\"\n") && ls.contains("\nsp ace\n"),
        "{ls}"
    );
    assert_eq!(ls.lines().count(), ODD_NAMES.len(), "{ls}");
}

// ---------------------------------------------------------------------------------------
// determinism and scale

fn write_determinism_tree(t: &TestRepo) {
    for i in 0..200 {
        t.write(
            format!("dir{}/sub{}/f{i}.txt", i % 7, i % 3),
            format!("file number {i}\n").repeat(i % 13 + 1),
        );
    }
    t.write("large.bin", random_bytes(5, 5 << 20));
    t.write("exe", "#!/bin/sh\n");
    t.chmod("exe", 0o755);
    t.symlink("large.bin", "ln");
    t.write("empty", "");
}

#[test]
fn tree_ids_do_not_depend_on_threads() {
    let mut trees = Vec::new();
    let mut layers = Vec::new();
    for threads in ["1", "2", "2"] {
        let t = TestRepo::new();
        write_determinism_tree(&t);
        t.fix_mtimes(1_700_000_000);
        t.ok(&["add", "-A", "--threads", threads]);
        let c = t.json(&[
            "commit",
            "-m",
            "same",
            "--author",
            "fixed",
            "--threads",
            threads,
        ]);
        trees.push(c["tree"].as_str().unwrap().to_string());
        layers.push(c["layer"].as_str().unwrap().to_string());
    }
    assert_eq!(trees[0], trees[1], "--threads 1 and 2 gave different trees");
    assert_eq!(trees[1], trees[2]);
    assert!(layers.iter().all(|l| is_hex64(l)));
    // The id commits to the bytes: one changed byte gives another tree.
    let t = TestRepo::new();
    write_determinism_tree(&t);
    t.write("dir0/sub0/f0.txt", "file number 1\n");
    t.fix_mtimes(1_700_000_000);
    t.ok(&["add", "-A"]);
    let c = t.json(&["commit", "-m", "same", "--author", "fixed"]);
    assert_ne!(c["tree"].as_str().unwrap(), trees[0]);
}

#[test]
fn thousands_of_files_and_one_large() {
    let t = TestRepo::new();
    for d in 0..30 {
        for f in 0..100 {
            t.write(format!("d{d:02}/f{f:03}"), format!("dir {d} file {f}\n"));
        }
    }
    t.write("big.bin", random_bytes(42, 20 << 20));
    let add = t.json(&["add", "-A"]);
    assert_eq!(add["staged"].as_array().unwrap().len(), 3001);
    let first = t.commit("base");
    assert!(t.status().is_empty());

    let mut want = Vec::new();
    for i in 0..10 {
        let p = format!("d{:02}/f{:03}", i * 3, i);
        t.append(&p, "edited\n");
        want.push(format!(" M {p}"));
    }
    for i in 0..5 {
        let p = format!("d{:02}/f{:03}", i * 5 + 1, 50 + i);
        t.remove(&p);
        want.push(format!(" D {p}"));
    }
    let mut new = Vec::new();
    for i in 0..5 {
        let p = format!("d{:02}/new{i}", i * 6 + 2);
        t.write(&p, "brand new\n");
        new.push(format!("?? {p}"));
    }
    want.sort_by(|a, b| a[3..].cmp(&b[3..]));
    new.sort();
    want.extend(new);
    assert_eq!(t.status(), want);

    t.ok(&["add", "-A"]);
    let c = t.json(&["commit", "-m", "edits"]);
    assert_eq!(c["counts"]["modified"], 10);
    assert_eq!(c["counts"]["deleted"], 5);
    assert_eq!(c["counts"]["added"], 5);
    assert_eq!(c["counts"]["files"], 3001);
    assert!(t.status().is_empty());
    let log = t.json(&["log"]);
    let ids: Vec<&str> = log["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c["layer"].as_str().unwrap(), first.as_str()]);
}

/// The helper's own pieces, so that a broken helper cannot make every test pass.
#[test]
fn helper_snapshot_sees_changes() {
    let t = TestRepo::new();
    let before = t.snapshot();
    assert!(before.contains_key(Path::new("config.toml")));
    assert!(!before.contains_key(Path::new("lock")));
    t.write("f", "x");
    t.ok(&["add", "f"]);
    assert_ne!(t.snapshot(), before, "staging must show in the snapshot");
    assert_eq!(random_bytes(1, 64), random_bytes(1, 64));
    assert_ne!(random_bytes(1, 64), random_bytes(2, 64));
}
