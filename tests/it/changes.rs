//! Changes you can read (issue 14): renames and copies (exact and by shared chunks),
//! content patches, `diff --cached`/`--name-only`/`--stat`/`--exit-code`, `show` formats,
//! and `status` with renames and paths relative to the current directory.

use crate::support::{random_bytes, TestRepo};

/// A repository with one committed layer holding `files`.
fn committed(files: &[(&str, &[u8])]) -> TestRepo {
    let t = TestRepo::new();
    for (p, d) in files {
        t.write(p, d);
    }
    t.ok(&["add", "."]);
    t.commit("one");
    t
}

#[test]
fn a_moved_file_is_a_rename_in_status_diff_and_show() {
    let t = committed(&[("a.txt", b"alpha\n"), ("keep", b"k\n")]);
    t.mkdir("d");
    std::fs::rename(t.path("a.txt"), t.path("d/b.txt")).unwrap();
    t.ok(&["add", "."]);
    assert_eq!(
        t.ok(&["status", "--short"]),
        "R  a.txt -> d/b.txt\n",
        "git's short format"
    );
    let long = t.ok(&["status"]);
    assert!(long.contains("\trenamed:    a.txt -> d/b.txt\n"), "{long}");
    assert_eq!(
        t.status_raw(),
        vec![b"R  d/b.txt".to_vec(), b"a.txt".to_vec()]
    );
    assert_eq!(
        t.ok(&["diff", "--cached", "--name-status"]),
        "R100\ta.txt\td/b.txt\n"
    );
    assert_eq!(
        t.ok(&["diff", "--staged", "--name-status", "--no-renames"]),
        "D\ta.txt\nA\td/b.txt\n"
    );
    let v = t.json(&["status"]);
    let s = &v["staged"][0];
    assert_eq!(s["change"], "renamed");
    assert_eq!(s["old_path"], "a.txt");
    assert_eq!(s["path"], "d/b.txt");
    assert_eq!(s["similarity"], 100);
    t.commit("move");
    assert!(t.ok(&["show"]).ends_with("R100\ta.txt\td/b.txt\n"));
    let v = t.json(&["show"]);
    assert_eq!(v["changes"][0]["change"], "renamed");
    assert_eq!(v["changes"].as_array().unwrap().len(), 1);
}

#[test]
fn a_whole_directory_moved_pairs_every_file_with_its_twin() {
    let t = TestRepo::new();
    // Many files, some with equal content: each must keep its own name.
    for i in 0..300 {
        t.write(format!("old/f{i:03}"), format!("{}\n", i % 7));
    }
    t.ok(&["add", "."]);
    t.commit("one");
    std::fs::rename(t.path("old"), t.path("new")).unwrap();
    t.ok(&["add", "."]);
    let out = t.ok(&["diff", "--cached", "--name-status"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 300, "{out}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("R100\told/f{i:03}\tnew/f{i:03}"));
    }
}

#[test]
fn a_large_file_edited_and_moved_is_found_by_shared_chunks() {
    let t = TestRepo::empty();
    t.ok(&["init", "-q", "--chunk-size", "16K"]);
    let mut data = random_bytes(7, 6 << 20);
    t.write("big.bin", &data);
    t.ok(&["add", "."]);
    t.commit("one");
    // Edit 4 KiB in the middle and move it: most chunks are unchanged.
    data[3 << 20..(3 << 20) + 4096].fill(0xAB);
    t.remove("big.bin");
    t.mkdir("moved");
    t.write("moved/big.bin", &data);
    t.ok(&["add", "."]);
    let v = t.json(&["diff", "--cached"]);
    let c = &v["changes"][0];
    assert_eq!(v["changes"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(c["change"], "renamed");
    assert_eq!(c["old_path"], "big.bin");
    let sim = c["similarity"].as_u64().unwrap();
    assert!((95..100).contains(&sim), "similarity {sim}");
    // Thresholds as git's -M: above the similarity it is a deletion and an addition.
    let strict = t.ok(&["diff", "--cached", "--name-status", "-M100%"]);
    assert_eq!(strict, "D\tbig.bin\nA\tmoved/big.bin\n");
    let loose = t.ok(&["diff", "--cached", "--name-status", "--find-renames=9"]);
    assert_eq!(loose, format!("R{sim:03}\tbig.bin\tmoved/big.bin\n"));
    assert_eq!(t.ok(&["status", "-s"]), "R  big.bin -> moved/big.bin\n");
    // -M before a layer is -M and the layer, as git reads it; -M5 is 50%, as git's.
    t.commit("moved");
    for flags in [&["-M"][..], &["-M5"], &["-M50%"], &["--find-renames"]] {
        let mut args = vec!["diff", "--name-status"];
        args.extend(flags);
        args.extend(["HEAD~1", "HEAD"]);
        assert_eq!(
            t.ok(&args),
            format!("R{sim:03}\tbig.bin\tmoved/big.bin\n"),
            "{args:?}"
        );
    }
    assert!(t
        .ok(&["show", "-M", "HEAD", "--name-only"])
        .ends_with("\nmoved/big.bin\n"));
    t.fails(&["diff", "-M", "x7", "HEAD~1", "HEAD"], 2);
    t.fails(&["status", "-M", "x7"], 2);
    // A limit below the candidates finds only exact renames, and says so.
    let out = t.run(&[
        "diff",
        "--name-status",
        "--rename-limit",
        "0",
        "HEAD~1",
        "HEAD",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rename-limit"));
    assert_eq!(out.stdout, b"D\tbig.bin\nA\tmoved/big.bin\n");
    let p = t.ok(&["diff", "-p", "HEAD~1", "HEAD"]);
    assert!(p.contains("similarity index"), "{p}");
    assert!(
        p.contains("Binary files a/big.bin and b/moved/big.bin differ"),
        "{p}"
    );
}

#[test]
fn a_small_text_file_moved_and_edited_is_a_rename_by_its_lines() {
    let text: String = (0..40).map(|i| format!("row {i}\n")).collect();
    let t = committed(&[("notes.txt", text.as_bytes()), ("other", b"unrelated\n")]);
    t.remove("notes.txt");
    t.write("docs/notes.txt", text.replace("row 7\n", "row seven\n"));
    t.ok(&["add", "."]);
    let out = t.ok(&["diff", "--cached", "--name-status"]);
    let sim: u32 = out[1..4].parse().unwrap_or_else(|_| panic!("{out}"));
    assert!(out.starts_with('R') && (90..100).contains(&sim), "{out}");
    assert!(out.ends_with("\tnotes.txt\tdocs/notes.txt\n"), "{out}");
    // Below the threshold it is a deletion and an addition.
    t.write("docs/notes.txt", "entirely\ndifferent\n");
    t.ok(&["add", "."]);
    assert_eq!(
        t.ok(&["diff", "--cached", "--name-status"]),
        "A\tdocs/notes.txt\nD\tnotes.txt\n"
    );
}

#[test]
fn copies_are_found_when_asked_for() {
    let t = TestRepo::empty();
    t.ok(&["init", "-q", "--chunk-size", "16K"]);
    let mut data = random_bytes(9, 2 << 20);
    t.write("src.bin", &data);
    t.ok(&["add", "."]);
    t.commit("one");
    t.write("copy.bin", &data);
    data[1000] ^= 1;
    t.write("src.bin", &data);
    t.ok(&["add", "."]);
    assert_eq!(
        t.ok(&["diff", "--cached", "--name-status"]),
        "A\tcopy.bin\nM\tsrc.bin\n"
    );
    assert_eq!(
        t.ok(&["diff", "--cached", "--name-status", "--find-copies"]),
        "C100\tsrc.bin\tcopy.bin\nM\tsrc.bin\n"
    );
}

#[test]
fn text_patch_matches_git_byte_for_byte() {
    let t = committed(&[("f.txt", b"1\n2\n3\n4\n5\n6\n7\n8\n9\n")]);
    t.write("f.txt", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n");
    let p = t.ok(&["diff", "-p"]);
    let want = "diff --cairn a/f.txt b/f.txt\n";
    assert!(p.starts_with(want), "{p}");
    let body = &p[p.find("--- ").unwrap()..];
    assert_eq!(
        body,
        "--- a/f.txt\n+++ b/f.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
    );
    let u1 = t.ok(&["diff", "-U1"]);
    assert!(u1.contains("@@ -4,3 +4,3 @@\n 4\n-5\n+five\n 6\n"), "{u1}");
    // The worktree side is read from the file, and patches come in JSON too.
    let v = t.json(&["diff", "-p"]);
    let h = &v["changes"][0]["patch"]["content"]["hunks"][0];
    assert_eq!(h["old_start"], 2);
    assert_eq!(h["lines"][3]["op"], "-");
    assert_eq!(h["lines"][4]["text"], "five");
}

#[test]
fn added_deleted_empty_binary_and_no_newline_files() {
    let t = committed(&[("gone", b"a\nb\n"), ("bin", b"x\0y"), ("nonl", b"a\nb")]);
    t.remove("gone");
    t.write("new", "n\n");
    t.write("empty", "");
    t.write("bin", b"x\0z");
    t.write("nonl", "a\nc");
    t.ok(&["add", "."]);
    let p = t.ok(&["diff", "--cached", "-p"]);
    assert!(p.contains("Binary files a/bin and b/bin differ\n"), "{p}");
    assert!(
        p.contains("new file mode 100644\n")
            && p.contains("--- /dev/null\n+++ b/new\n@@ -0,0 +1 @@\n+n\n"),
        "{p}"
    );
    assert!(p.contains("deleted file mode 100644\n"), "{p}");
    assert!(
        p.contains("--- a/gone\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"),
        "{p}"
    );
    // An empty new file has a header and no hunk, as git.
    assert!(
        p.contains("diff --cairn a/empty b/empty\nnew file mode 100644\n"),
        "{p}"
    );
    assert!(!p.contains("+++ b/empty"), "{p}");
    assert!(
        p.contains("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"),
        "{p}"
    );
}

#[test]
fn mode_and_symlink_changes_and_odd_names() {
    let t = committed(&[("run.sh", b"echo\n"), ("tab\tname", b"1\n")]);
    t.symlink("run.sh", "link");
    t.ok(&["add", "."]);
    t.commit("link");
    t.chmod("run.sh", 0o755);
    t.remove("link");
    t.symlink("tab\tname", "link");
    t.write("tab\tname", "2\n");
    t.ok(&["add", "."]);
    let p = t.ok(&["diff", "--cached", "-p"]);
    assert!(
        p.contains("diff --cairn a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"),
        "{p}"
    );
    assert!(p.contains("index ") && p.contains(" 120000\n"), "{p}");
    assert!(
        p.contains("-run.sh\n\\ No newline at end of file\n+tab\tname\n"),
        "{p}"
    );
    assert!(
        p.contains("diff --cairn \"a/tab\\tname\" \"b/tab\\tname\"\n"),
        "{p}"
    );
    assert!(
        p.contains("--- \"a/tab\\tname\"\n+++ \"b/tab\\tname\"\n"),
        "{p}"
    );
}

#[test]
fn the_size_cap_says_so_and_can_be_raised() {
    let text: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
    let t = committed(&[("big.txt", text.as_bytes())]);
    t.write("big.txt", text.replace("line 777\n", "changed\n"));
    let p = t.ok(&["diff", "-p", "--max-patch-bytes", "64K"]);
    assert!(
        p.contains("Files a/big.txt and b/big.txt differ (larger than 64.00 KiB"),
        "{p}"
    );
    let p = t.ok(&["diff", "-p", "--max-patch-bytes", "1M"]);
    assert!(p.contains("-line 777\n+changed\n"), "{p}");
    let v = t.json(&["diff", "-p", "--max-patch-bytes", "1K"]);
    assert_eq!(v["changes"][0]["patch"]["content"]["type"], "too_large");
}

#[test]
fn cached_exit_code_name_only_and_stat() {
    let t = committed(&[("data/a.csv", b"h\n1\n2\n"), ("b.txt", b"b\n")]);
    assert_eq!(t.run(&["diff", "--exit-code"]).status.code(), Some(0));
    assert_eq!(
        t.run(&["diff", "--cached", "--exit-code"]).status.code(),
        Some(0)
    );
    t.write("data/a.csv", "h\n1\n3\n4\n");
    assert_eq!(t.ok(&["diff", "--cached"]), "", "nothing staged yet");
    assert_eq!(t.run(&["diff", "--exit-code"]).status.code(), Some(1));
    let json = t.run(&["--json", "diff", "--exit-code"]);
    assert_eq!(json.status.code(), Some(1));
    t.ok(&["add", "."]);
    assert_eq!(t.ok(&["diff"]), "", "everything staged");
    assert_eq!(t.ok(&["diff", "--cached", "--name-only"]), "data/a.csv\n");
    assert_eq!(
        t.run(&["diff", "--cached", "--exit-code"]).status.code(),
        Some(1)
    );
    let p = t.ok(&["diff", "--cached", "-p"]);
    assert!(p.contains("# csv: +2 rows, -1 row\n"), "{p}");
    t.write("a-much-longer-name.txt", "x\n");
    t.ok(&["add", "."]);
    let stat = t.ok(&["diff", "--cached", "--stat"]);
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines.len(), 3, "{stat}");
    let bar = lines[0].find('|').unwrap();
    assert_eq!(lines[1].find('|'), Some(bar), "aligned on |: {stat}");
    assert_eq!(lines[2], " 2 files changed, 6 B -> 10 B");
    t.fails(&["diff", "--cached", "HEAD", "HEAD"], 2);
    // One file: singular.
    t.commit("two");
    t.write("b.txt", "c\n");
    assert!(t
        .ok(&["diff", "--stat"])
        .ends_with(" 1 file changed, 2 B -> 2 B\n"));
}

#[test]
fn cached_before_the_first_commit_shows_everything_added() {
    let t = TestRepo::new();
    t.write("a", "a\n");
    t.ok(&["add", "."]);
    assert_eq!(t.ok(&["diff", "--cached", "--name-status"]), "A\ta\n");
    let p = t.ok(&["diff", "--cached", "-p"]);
    assert!(p.contains("index 000000000000.."), "{p}");
    assert_eq!(t.json(&["diff", "--cached"])["from"], "empty");
}

#[test]
fn show_has_stat_name_only_name_status_and_patch() {
    let t = committed(&[("a", b"1\n"), ("b", b"2\n")]);
    t.write("a", "one\n");
    std::fs::rename(t.path("b"), t.path("c")).unwrap();
    t.ok(&["add", "."]);
    t.commit("two");
    assert!(t.ok(&["show", "--name-only"]).ends_with("\na\nc\n"));
    assert!(t
        .ok(&["show", "--name-status"])
        .ends_with("\nM\ta\nR100\tb\tc\n"));
    let stat = t.ok(&["show", "--stat"]);
    assert!(stat.contains(" b => c | 2 B -> 2 B\n"), "{stat}");
    let p = t.ok(&["show", "-p"]);
    assert!(
        p.contains("--- a/a\n+++ b/a\n@@ -1 +1 @@\n-1\n+one\n"),
        "{p}"
    );
    assert!(p.contains("rename from b\nrename to c\n"), "{p}");
    let v = t.json(&["show", "HEAD", "-p"]);
    assert_eq!(v["changes"][1]["patch"]["content"]["type"], "same");
}

#[test]
fn status_below_the_root_shows_paths_relative_to_it() {
    let t = committed(&[
        ("top.txt", b"t\n"),
        ("sub/in.txt", b"i\n"),
        ("sub/deep/x", b"x\n"),
    ]);
    t.write("top.txt", "T\n");
    t.write("sub/in.txt", "I\n");
    t.write("sub/deep/new", "n\n");
    t.write("other/u", "u\n");
    let sub = t.path("sub");
    let out = t.run_in(&sub, &["status", "--short"]);
    // In the root-relative order, as git sorts them.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        " M in.txt\n M ../top.txt\n?? ../other/\n?? deep/new\n"
    );
    let long = String::from_utf8(t.run_in(&sub, &["status"]).stdout).unwrap();
    assert!(
        long.contains("\tmodified:   in.txt\n\tmodified:   ../top.txt\n"),
        "{long}"
    );
    let deep = t.run_in(&t.path("sub/deep"), &["status", "--short"]).stdout;
    assert!(
        deep.ends_with(b"?? ./\n") || deep.ends_with(b"?? new\n"),
        "{deep:?}"
    );
    // -z and JSON stay relative to the root, as git's porcelain formats.
    let z = t.run_in(&sub, &["status", "-z"]).stdout;
    assert!(z.starts_with(b" M sub/in.txt\0 M top.txt\0"), "{z:?}");
    let j = t.run_in(&sub, &["--json", "status"]).stdout;
    let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
    assert_eq!(v["unstaged"][0]["path"], "sub/in.txt");
}

#[test]
fn a_file_that_changes_after_hashing_is_refused_not_misdiffed() {
    // The patch reads the worktree file once and checks it against the id it was hashed
    // to: a file changed in between is an error, never a diff of other bytes. The change
    // says the worktree holds "3\n" (as if hashed before an edit); the file holds "2\n".
    use cairn::diff::{Change, ChangeKind, Side};
    use cairn::object::EntryKind;
    use cairn::patch::{content_id, file_patch, NewSide, PatchOptions};
    let t = committed(&[("f", b"1\n")]);
    t.write("f", "2\n");
    let repo = cairn::Repository::open(t.root()).unwrap();
    let side = |data: &[u8]| Side {
        id: content_id(&repo, data),
        mode: 0o644,
        kind: EntryKind::File,
    };
    let change = |new: &[u8]| Change {
        path: cairn::repo_path::RepoPathBuf::from(b"f".to_vec()),
        kind: ChangeKind::Modified,
        old_size: Some(2),
        new_size: Some(2),
        old_path: None,
        similarity: None,
        old: Some(side(b"1\n")),
        new: Some(side(new)),
    };
    let lists = cairn::renames::StoreLists {
        repo: &repo,
        known: Default::default(),
    };
    let cache = cairn::read::ChunkCache::default();
    let opts = PatchOptions::default();
    let patch = |new: &[u8]| {
        file_patch(
            &repo,
            &cache,
            &lists,
            &change(new),
            &opts,
            NewSide::Worktree,
        )
    };
    assert!(patch(b"2\n").is_ok());
    let err = patch(b"3\n").unwrap_err();
    assert_eq!(err.kind(), "unstable", "{err}");
}
