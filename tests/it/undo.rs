//! Undo and the safety net: the reflog of HEAD and lines, `HEAD@{N}` / `LINE@{N}`, gc's
//! grace period for recent history, `reset --soft/--mixed/--hard` and `reset -- PATHS`, and
//! the messages for references that do not resolve.

use std::io::Write;

use crate::support::*;

/// A repository with three layers on main (`one`, `two`, `three`), returning their ids.
fn three_layers() -> (TestRepo, [String; 3]) {
    let t = TestRepo::new();
    let mut ids = Vec::new();
    for (i, word) in ["one", "two", "three"].iter().enumerate() {
        t.write("a.txt", format!("{word}\n"));
        t.write(format!("f{i}.txt"), word);
        t.ok(&["add", "-q", "."]);
        ids.push(t.commit(word));
    }
    (t, ids.try_into().unwrap())
}

fn head_log(t: &TestRepo) -> Vec<u8> {
    std::fs::read(t.path(".cairn/logs/HEAD")).unwrap()
}

fn id_of(t: &TestRepo, rev: &str) -> String {
    t.json(&["show", rev])["id"].as_str().unwrap().to_string()
}

#[test]
fn every_move_is_in_the_reflog() {
    let (t, [one, two, three]) = three_layers();
    t.ok(&["tag", "v1", &one]);
    t.ok(&["checkout", "-q", "v1"]);
    t.ok(&["checkout", "-q", "main"]);
    t.ok(&["reset", "-q", "--hard", "HEAD~1"]);
    let text = t.ok(&["reflog"]);
    let lines: Vec<&str> = text.lines().collect();
    let want = [
        format!("{} HEAD@{{0}}: reset: moving to HEAD~1", &two[..12]),
        format!(
            "{} HEAD@{{1}}: checkout: moving from {} to main",
            &three[..12],
            &one[..12]
        ),
        format!(
            "{} HEAD@{{2}}: checkout: moving from main to v1",
            &one[..12]
        ),
        format!("{} HEAD@{{3}}: commit: three", &three[..12]),
        format!("{} HEAD@{{4}}: commit: two", &two[..12]),
        format!("{} HEAD@{{5}}: commit (initial): one", &one[..12]),
    ];
    assert_eq!(lines, want);
    // The line's own log has the commits and the reset, not HEAD's checkouts.
    let main = t.ok(&["reflog", "main"]);
    let messages: Vec<&str> = main
        .lines()
        .map(|l| l.split_once(": ").unwrap().1)
        .collect();
    let want = [
        "reset: moving to HEAD~1",
        "commit: three",
        "commit: two",
        "commit (initial): one",
    ];
    assert_eq!(messages, want);
    let v = t.json(&["reflog", "-n", "2", "main"]);
    assert_eq!(v["reference"], "main");
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        keys(&entries[0]),
        ["message", "new", "old", "selector", "time", "time_ns"]
    );
    assert_eq!(entries[0]["selector"], "main@{0}");
    assert_eq!(entries[0]["old"], three.as_str());
    assert_eq!(entries[0]["new"], two.as_str());
    let time = entries[0]["time"].as_str().unwrap();
    assert!(
        time.len() >= 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    assert!(entries[0]["time_ns"].as_i64().unwrap() >= entries[1]["time_ns"].as_i64().unwrap());
    // The first commit's entry has no old layer.
    let all = t.json(&["reflog"]);
    assert!(all["entries"][5]["old"].is_null());
    // A line started by a commit from a detached HEAD: its log starts with no old layer,
    // and HEAD's records the commit that moved it onto the line.
    t.ok(&["checkout", "-q", &one]);
    t.write("side.txt", "side");
    t.ok(&["add", "-q", "side.txt"]);
    t.ok(&["commit", "-q", "-b", "side", "-m", "on the side"]);
    let v = t.json(&["reflog", "side"]);
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert!(v["entries"][0]["old"].is_null());
    assert_eq!(v["entries"][0]["message"], "commit: on the side");
    let head = t.json(&["reflog", "-n", "1"]);
    assert_eq!(head["entries"][0]["old"], one.as_str());
    assert_eq!(head["entries"][0]["message"], "commit: on the side");
    // Tags have no log; unknown names are refused with a suggestion.
    let err = t.fails(&["reflog", "v1"], 2);
    assert!(err.contains("tags have no reflog"), "{err}");
    let err = t.fails(&["reflog", "mian"], 2);
    assert!(err.contains("did you mean main?"), "{err}");
}

#[test]
fn at_n_names_past_positions() {
    let (t, [one, two, three]) = three_layers();
    t.ok(&["reset", "-q", "--hard", &one]);
    assert_eq!(id_of(&t, "HEAD@{0}"), one);
    assert_eq!(id_of(&t, "HEAD@{1}"), three);
    assert_eq!(id_of(&t, "HEAD@{1}~1"), two);
    assert_eq!(id_of(&t, "HEAD@{1}^^"), one);
    assert_eq!(id_of(&t, "main@{2}"), two);
    assert_eq!(id_of(&t, "lines/main@{3}"), one);
    assert_eq!(id_of(&t, "@{1}"), three);
    let err = t.fails(&["show", "HEAD@{4}"], 2);
    assert!(err.contains("has 4 entries"), "{err}");
    let err = t.fails(&["show", "HEAD@{99999999999999999999999}"], 2);
    assert!(err.contains("not an entry number"), "{err}");
    let err = t.fails(&["show", "HEAD@{yesterday}"], 2);
    assert!(err.contains("not an entry number"), "{err}");
    let err = t.fails(&["show", "HEAD@{1}~9"], 2);
    assert!(err.contains("shorter"), "{err}");
    // The layers are back where a checkout or restore can reach them.
    t.ok(&["restore", "-q", "HEAD@{1}", "--to", "back"]);
    assert_eq!(t.read("back/a.txt"), b"three\n");
    let v: serde_json::Value =
        serde_json::from_slice(&t.run(&["--json", "show", "nope@{1}"]).stdout).unwrap();
    assert_eq!(v["error"]["kind"], "unknown_ref");
    assert_eq!(v["error"]["exit_code"], 2);
}

#[test]
fn gc_keeps_what_reset_left_and_prune_now_drops_it() {
    let (t, [_, two, three]) = three_layers();
    t.ok(&["reset", "-q", "--hard", "HEAD~1"]);
    let gc = t.json(&["gc"]);
    assert_eq!(gc["layers_kept_by_reflog"], 1, "{gc}");
    let text = t.ok(&["gc"]);
    assert!(
        text.contains("kept 1 layer that only recent reflog entries name"),
        "{text}"
    );
    // Undo: the layer and every file of it are still there.
    t.ok(&["reset", "-q", "--hard", "HEAD@{1}"]);
    assert_eq!(id_of(&t, "HEAD"), three);
    assert_eq!(t.read("f2.txt"), b"three");
    assert_verifies(t.root(), true, "after the undo");
    // Dropped explicitly: gc --prune=now removes what only the reflog kept.
    t.ok(&["reset", "-q", "--hard", "HEAD~1"]);
    let dry = t.json(&["gc", "--dry-run", "--prune=now"]);
    assert!(dry["dead_objects"].as_u64().unwrap() > 0, "{dry}");
    let gc = t.json(&["gc", "--prune=now"]);
    assert!(gc["dead_objects"].as_u64().unwrap() > 0, "{gc}");
    assert_eq!(gc["layers_kept_by_reflog"], 0);
    let err = t.fails(&["show", "HEAD@{1}"], 2);
    assert!(err.contains("is no longer stored"), "{err}");
    // Entries naming layers that are gone harm nothing: gc, verify and reflog still work.
    assert_eq!(t.json(&["gc"])["dead_objects"], 0);
    assert_verifies(t.root(), true, "after prune");
    assert!(t.ok(&["reflog"]).lines().count() >= 6);
    assert_eq!(id_of(&t, "HEAD"), two);
}

#[test]
fn old_entries_stop_protecting_after_the_grace_period() {
    let (t, [_, _, three]) = three_layers();
    t.ok(&["reset", "-q", "--soft", "HEAD~2"]);
    // Backdate every entry by a month: as if the reset had happened long ago.
    for log in [".cairn/logs/HEAD", ".cairn/logs/lines/main"] {
        let text = String::from_utf8(std::fs::read(t.path(log)).unwrap()).unwrap();
        let old: String = text
            .lines()
            .map(|l| {
                let (head, msg) = l.split_once('\t').unwrap();
                let mut f: Vec<&str> = head.split(' ').collect();
                let t: i64 = f[2].parse().unwrap();
                let month = (t - 31 * 24 * 3600 * 1_000_000_000).to_string();
                f[2] = &month;
                format!("{}\t{msg}\n", f.join(" "))
            })
            .collect();
        std::fs::write(t.path(log), old).unwrap();
    }
    assert_eq!(
        t.json(&["gc", "-n", "--prune=never"])["layers_kept_by_reflog"],
        2
    );
    assert_eq!(
        t.json(&["gc", "-n", "--prune=5.weeks"])["layers_kept_by_reflog"],
        2
    );
    assert_eq!(t.json(&["gc", "-n"])["layers_kept_by_reflog"], 0);
    assert_eq!(
        t.json(&["gc", "-n", "--prune=3d"])["layers_kept_by_reflog"],
        0
    );
    let err = t.fails(&["gc", "--prune=soon"], 2);
    assert!(err.contains("not a duration"), "{err}");
    t.ok(&["gc", "-q"]);
    let err = t.fails(&["show", &three], 2);
    assert!(err.contains("no layer id starts with it"), "{err}");
}

#[test]
fn a_kill_between_log_and_ref_leaves_a_usable_repository() {
    let (t, [_, _, three]) = three_layers();
    t.write("a.txt", "four\n");
    t.ok(&["add", "-q", "a.txt"]);
    let out = t
        .cmd()
        .args(["commit", "-q", "-m", "four"])
        .env("CAIRN_FAILPOINT", "refs:after-log")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fail point was not reached");
    // The entry names a move that did not happen; the line did not move.
    assert_eq!(id_of(&t, "HEAD"), three);
    let log = t.json(&["reflog", "main"]);
    assert_eq!(log["entries"][0]["message"], "commit: four");
    assert_eq!(log["entries"][0]["old"], three.as_str());
    assert_verifies(t.root(), true, "after the kill");
    // It only keeps the layer alive; the next commit works and is logged after it.
    t.ok(&["gc", "-q"]);
    let four = t.commit("four again");
    assert_eq!(id_of(&t, "HEAD"), four);
    assert_eq!(id_of(&t, "main@{0}"), four);
    assert_eq!(
        t.json(&["reflog"])["entries"][0]["message"],
        "commit: four again"
    );
    // A kill inside the append itself tears the last line: readers skip it and the next
    // append cuts it off.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(t.path(".cairn/logs/HEAD"))
        .unwrap();
    f.write_all(b"0000000000000000000000000000000000000000000000000000000000000000 12")
        .unwrap();
    drop(f);
    let before = t.json(&["reflog"])["entries"].as_array().unwrap().len();
    t.ok(&["reset", "-q", "--soft", "HEAD~1"]);
    let after = t.json(&["reflog"])["entries"].as_array().unwrap().len();
    assert_eq!(after, before + 1);
    assert!(head_log(&t).ends_with(b"reset: moving to HEAD~1\n"));
}

#[test]
fn hostile_reflogs_are_refused_without_a_panic() {
    let (t, _) = three_layers();
    let good = head_log(&t);
    let z = "0".repeat(64);
    let cases: Vec<Vec<u8>> = vec![
        format!("{}\n", "7".repeat(100_000)).into_bytes(),
        format!("{} {z} 1\tm\n", "G".repeat(64)).into_bytes(),
        format!("{z} {z} 1e9\tm\n").into_bytes(),
        format!("{z} {z} 1\tbad \x1b[31m escape\n").into_bytes(),
        b"\xff\xfe\xfd\t\n".to_vec(),
    ];
    for bad in cases {
        let mut bytes = bad.clone();
        bytes.extend_from_slice(&good);
        std::fs::write(t.path(".cairn/logs/HEAD"), &bytes).unwrap();
        let err = t.fails(&["reflog"], 2);
        assert!(err.contains("reflog") && err.contains("line 1"), "{err}");
        let err = t.fails(&["show", "HEAD@{1}"], 2);
        assert!(err.contains("reflog"), "{err}");
        // gc does not delete on a guess when it cannot read what recent history keeps.
        let err = t.fails(&["gc"], 2);
        assert!(err.contains("reflog"), "{err}");
        // Everything that does not read HEAD's log still works, and moves are still logged.
        t.ok(&["log"]);
        t.ok(&["reflog", "main"]);
        t.ok(&["status"]);
    }
    std::fs::write(t.path(".cairn/logs/HEAD"), &good).unwrap();
    t.ok(&["gc", "-q"]);
}

#[test]
fn reset_modes_move_what_git_moves() {
    let (t, [_, two, three]) = three_layers();
    // --soft: the line moves; the index still holds three's content, so it is staged.
    t.ok(&["reset", "-q", "--soft", "HEAD~1"]);
    assert_eq!(id_of(&t, "HEAD"), two);
    let mut st = t.status();
    st.sort();
    assert_eq!(st, ["A  f2.txt", "M  a.txt"]);
    t.commit("three again");
    // --mixed (the default): the index follows, the worktree stays: unstaged changes.
    t.ok(&["reset", "-q", "HEAD~1"]);
    assert_eq!(id_of(&t, "HEAD"), two);
    let mut st = t.status();
    st.sort();
    assert_eq!(st, [" M a.txt", "?? f2.txt"]);
    assert_eq!(t.read("a.txt"), b"three\n");
    let v = t.json(&["reset", "--mixed", &three]);
    assert_eq!(v["mode"], "mixed");
    assert_eq!(v["unstaged"], serde_json::json!(["a.txt", "f2.txt"]));
    assert!(t.status().is_empty(), "{:?}", t.status());
    // --hard: everything follows.
    t.write("a.txt", "local edit\n");
    t.ok(&["reset", "-q", "--hard", "HEAD~1"]);
    assert_eq!(t.read("a.txt"), b"two\n");
    assert!(!t.exists("f2.txt"));
    assert!(t.status().is_empty());
    let err = t.fails(&["reset", "--soft", "--hard", "HEAD"], 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn a_mixed_reset_hides_no_change_behind_stat_data() {
    let t = TestRepo::new();
    t.write("same.txt", "AAAA");
    t.write("link", "x");
    t.ok(&["add", "-q", "."]);
    t.commit("one");
    t.write("same.txt", "BBBB");
    t.remove("link");
    t.symlink("same.txt", "link");
    t.ok(&["add", "-q", "."]);
    t.commit("two");
    // The worktree holds two's bytes: the same size as one's, and possibly the same mtime.
    t.ok(&["reset", "-q", "HEAD~1"]);
    let mut st = t.status();
    st.sort();
    assert_eq!(st, [" M same.txt", " T link"]);
    // Put the bytes back as they were in one: clean again, without an add.
    t.write("same.txt", "AAAA");
    t.remove("link");
    t.write("link", "x");
    assert!(t.status().is_empty(), "{:?}", t.status());
}

#[test]
fn reset_paths_unstages_them() {
    let t = TestRepo::new();
    let odd = b"dir/odd name \xff.txt".to_vec();
    t.write("dir/kept.txt", "kept");
    t.write(&odd, "odd");
    t.write("top.txt", "top");
    t.ok(&["add", "-q", "."]);
    t.commit("one");
    t.write("dir/kept.txt", "changed");
    t.write(&odd, "odd changed");
    t.write("dir/new.txt", "new");
    t.write("top.txt", "top changed");
    t.ok(&["add", "-q", "."]);
    let head = id_of(&t, "HEAD");
    // From a subdirectory, relative paths: the directory's entries go back to HEAD's.
    let out = t.run_in(&t.path("dir"), &["reset", "--", "."]);
    assert_success(&out, &["reset", "--", "."]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("unstaged dir/new.txt"), "{text}");
    assert_eq!(id_of(&t, "HEAD"), head, "the line does not move");
    let mut st = t.status_raw();
    st.sort();
    let mut want: Vec<Vec<u8>> = vec![
        b" M dir/kept.txt".to_vec(),
        [b" M ".to_vec(), odd.clone()].concat(),
        b"?? dir/new.txt".to_vec(),
        b"M  top.txt".to_vec(),
    ];
    want.sort();
    assert_eq!(st, want);
    // Without `--`, a name that is no layer but a path is a path, as in git.
    t.ok(&["reset", "-q", "top.txt"]);
    assert!(t.status_raw().contains(&b" M top.txt".to_vec()));
    assert_eq!(
        t.read("top.txt"),
        b"top changed",
        "the worktree is untouched"
    );
    // A path in neither the index nor the layer, and paths with --hard, are refused.
    let err = t.fails(&["reset", "--", "nowhere"], 2);
    assert!(err.contains("nowhere"), "{err}");
    let err = t.fails(&["reset", "--hard", "HEAD", "--", "top.txt"], 2);
    assert!(err.contains("leave out --soft and --hard"), "{err}");
    // From an older layer: the entry is that layer's, so the difference is staged.
    t.ok(&["add", "-q", "."]);
    t.commit("two");
    t.ok(&["reset", "-q", "HEAD~1", "--", "top.txt"]);
    assert_eq!(t.status_raw(), [b"MM top.txt".to_vec()]);
}

#[test]
fn reset_before_the_first_commit_unstages() {
    let t = TestRepo::new();
    t.write("a.txt", "a");
    t.write("b.txt", "b");
    t.ok(&["add", "-q", "."]);
    t.ok(&["reset", "-q", "--", "a.txt"]);
    assert_eq!(t.status(), ["A  b.txt", "?? a.txt"]);
    let v = t.json(&["reset"]);
    assert!(v["to"].is_null(), "{v}");
    assert_eq!(t.status(), ["?? a.txt", "?? b.txt"]);
    let err = t.fails(&["reset", "--hard"], 2);
    assert!(err.contains("no layers yet"), "{err}");
}

#[test]
fn unknown_references_suggest_close_names() {
    let (t, [one, ..]) = three_layers();
    t.ok(&["tag", "release-1.0", &one]);
    let err = t.fails(&["show", "mian"], 2);
    assert!(err.contains("did you mean main?"), "{err}");
    let err = t.fails(&["show", "release-1.1~1"], 2);
    assert!(err.contains("did you mean release-1.0?"), "{err}");
    let err = t.fails(&["show", "tags/relase-1.0"], 2);
    assert!(err.contains("did you mean release-1.0?"), "{err}");
    let err = t.fails(&["show", "head"], 2);
    assert!(err.contains("did you mean HEAD?"), "{err}");
    let err = t.fails(&["show", "zzzzzzzz"], 2);
    assert!(!err.contains("did you mean"), "{err}");
    for short in ["a", "ab", &one[..3]] {
        let err = t.fails(&["show", short], 2);
        assert!(err.contains("at least 4 hex digits"), "{short}: {err}");
    }
    assert_eq!(id_of(&t, &one[..4]), one);
    let v: serde_json::Value =
        serde_json::from_slice(&t.run(&["--json", "reset", "mian"]).stdout).unwrap();
    assert_eq!(v["error"]["kind"], "unknown_ref");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean main?"));
}
