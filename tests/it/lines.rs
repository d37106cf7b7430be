//! Lines and the worktree (issue 14): `line` / `branch`, `checkout -b`, `checkout LAYER --
//! PATHS`, what a checkout refuses and why, a partial clone's status, and `config` for the
//! author.

use std::path::Path;

use crate::support::TestRepo;

/// Two layers on `main`: `a` then `a` and `b`.
fn two_layers() -> (TestRepo, String, String) {
    let t = TestRepo::new();
    t.write("a", "one\n");
    t.ok(&["add", "-A", "-q"]);
    let l1 = t.commit("first");
    t.write("b", "two\n");
    t.ok(&["add", "-A", "-q"]);
    let l2 = t.commit("second");
    (t, l1, l2)
}

fn head_file(t: &TestRepo) -> String {
    String::from_utf8(t.read(".cairn/HEAD")).unwrap()
}

// ---------------------------------------------------------------------------------------
// line and branch

#[test]
fn line_lists_creates_and_marks_the_current_line() {
    let (t, l1, l2) = two_layers();
    let out = t.ok(&["line", "topic", "HEAD~1"]);
    assert!(out.contains("created line topic"), "{out}");
    let out = t.ok(&["branch"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("* main "), "{out}");
    assert!(lines[1].starts_with("  topic "), "{out}");
    let v = t.json(&["line"]);
    let all = v["lines"].as_array().unwrap();
    assert_eq!(all[0]["name"], "main");
    assert_eq!(all[0]["layer"], l2.as_str());
    assert_eq!(all[0]["current"], true);
    assert_eq!(all[1]["layer"], l1.as_str());
    assert_eq!(all[1]["current"], false);
    // Taken names, bad names and names that would read as something else are refused.
    let err = t.fails(&["line", "topic"], 2);
    assert!(err.contains("exists already"), "{err}");
    for bad in ["-x", "a/b", "HEAD", "white space", ".hidden"] {
        t.fails(&["line", "--", bad], 2);
    }
    t.ok(&["tag", "v1"]);
    let err = t.fails(&["line", "v1"], 2);
    assert!(err.contains("a tag is named v1"), "{err}");
    // --force moves an existing line, never the current one.
    t.ok(&["line", "-f", "topic", "HEAD"]);
    assert_eq!(t.json(&["line"])["lines"][1]["layer"], l2.as_str());
    t.fails(&["line", "-f", "main", "HEAD~1"], 2);
}

#[test]
fn before_the_first_commit_the_current_line_is_listed_without_layers() {
    let t = TestRepo::new();
    let v = t.json(&["line"]);
    assert_eq!(v["lines"][0]["name"], "main");
    assert!(v["lines"][0]["layer"].is_null());
    t.ok(&["checkout", "-b", "early"]);
    assert_eq!(head_file(&t), "ref: lines/early\n");
    t.ok(&["line", "-m", "renamed"]);
    assert_eq!(head_file(&t), "ref: lines/renamed\n");
    t.write("f", "x");
    t.ok(&["add", "f"]);
    t.commit("first");
    assert_eq!(t.json(&["line"])["lines"][0]["name"], "renamed");
}

#[test]
fn deleting_a_line_whose_layers_nothing_else_reaches_is_refused_until_forced() {
    let (t, _, _) = two_layers();
    t.ok(&["checkout", "-q", "-b", "side"]);
    t.write("c", "only on side\n");
    t.ok(&["add", "c"]);
    let side = t.commit("side only");
    t.ok(&["checkout", "-q", "main"]);
    // A line merged into another (its layer in main's history) goes without a word.
    t.ok(&["line", "old", "HEAD~1"]);
    t.ok(&["line", "-d", "old"]);
    // side's layer is reached by nothing else.
    let out = t.run(&["--json", "line", "-d", "side"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "unmerged_line");
    assert!(t.exists(".cairn/refs/lines/side"));
    // A tag on it is enough.
    t.ok(&["tag", "keep", "side"]);
    t.ok(&["line", "-d", "side"]);
    t.ok(&["tag", "-d", "keep"]);
    // Forced, with -D or -d --force.
    t.ok(&["line", "side", &side]);
    t.fails(&["line", "-d", "side"], 2);
    let v = t.json(&["line", "-D", "side"]);
    assert_eq!(v["deleted"]["name"], "side");
    assert_eq!(v["deleted"]["layer"], side.as_str());
    t.ok(&["line", "again", &side]);
    t.ok(&["branch", "-d", "--force", "again"]);
    // The current line is never deleted, forced or not; an unknown one is an error.
    let err = t.fails(&["line", "-D", "main"], 2);
    assert!(err.contains("HEAD is on it"), "{err}");
    t.fails(&["line", "-d", "nope"], 2);
}

#[test]
fn renaming_the_current_line_moves_head_with_it() {
    let (t, _, l2) = two_layers();
    t.ok(&["line", "other", "HEAD~1"]);
    t.ok(&["line", "-m", "trunk"]);
    assert_eq!(head_file(&t), "ref: lines/trunk\n");
    assert!(!t.exists(".cairn/refs/lines/main"));
    assert_eq!(t.json(&["status"])["line"], "trunk");
    assert_eq!(t.json(&["status"])["head"], l2.as_str());
    // Another line, by both names; a taken name needs --force, and the current line is
    // never replaced.
    t.ok(&["branch", "-m", "other", "older"]);
    t.fails(&["line", "-m", "older", "trunk"], 2);
    t.fails(&["line", "-m", "-f", "older", "trunk"], 2);
    t.ok(&["line", "spare", "HEAD"]);
    t.fails(&["line", "-m", "older", "spare"], 2);
    t.ok(&["line", "-m", "-f", "older", "spare"]);
    let names: Vec<String> = t.json(&["line"])["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["spare", "trunk"]);
    t.fails(&["line", "-m", "nope", "x"], 2);
    // Killed between writing the new name (and HEAD) and removing the old: both names
    // remain, HEAD is on the new one, nothing is lost.
    let out = t
        .cmd()
        .env("CAIRN_FAILPOINT", "line:before-delete")
        .args(["line", "-m", "main"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(head_file(&t), "ref: lines/main\n");
    assert!(t.exists(".cairn/refs/lines/main") && t.exists(".cairn/refs/lines/trunk"));
    t.ok(&["line", "-d", "trunk"]);
    t.ok(&["line", "-m", "trunk"]);
    // Detached, `-m NEW` has no line to rename.
    t.ok(&["checkout", "-q", &l2]);
    t.fails(&["line", "-m", "x"], 2);
}

// ---------------------------------------------------------------------------------------
// checkout -b and checkout LAYER -- PATHS

#[test]
fn checkout_b_creates_the_line_at_the_layer_and_moves_head() {
    let (t, l1, _) = two_layers();
    let v = t.json(&["checkout", "-b", "fix", "HEAD~1"]);
    assert_eq!(v["created_line"], "fix");
    assert_eq!(v["line"], "fix");
    assert_eq!(v["head"], l1.as_str());
    assert_eq!(v["detached"], false);
    assert!(!t.exists("b"));
    assert_eq!(head_file(&t), "ref: lines/fix\n");
    // Taken names are refused before anything moves.
    t.fails(&["checkout", "-b", "main"], 2);
    assert_eq!(head_file(&t), "ref: lines/fix\n");
    // A checkout that must refuse creates no line.
    t.write("b", "untracked, in the way\n");
    let err = t.fails(&["checkout", "-b", "late", "main"], 2);
    assert!(err.contains("b (an untracked file)"), "{err}");
    assert!(!t.exists(".cairn/refs/lines/late"));
    // -b with paths makes no sense.
    t.fails(&["checkout", "-b", "x", "main", "--", "a"], 2);
}

#[test]
fn checkout_paths_overwrites_local_edits_and_reports_where_head_is() {
    let (t, l1, l2) = two_layers();
    t.write("a", "local edit\n");
    t.write("b", "local edit too\n");
    let v = t.json(&["checkout", "HEAD~1", "--", "a"]);
    assert_eq!(t.read("a"), b"one\n");
    assert_eq!(t.read("b"), b"local edit too\n", "paths not named stay");
    assert_eq!(v["layer"], l1.as_str(), "the layer the paths came from");
    assert_eq!(v["head"], l2.as_str(), "HEAD did not move");
    assert_eq!(v["line"], "main");
    assert_eq!(v["paths_only"], true);
    let text = t.ok(&["checkout", "main", "--", "b"]);
    assert!(
        text.contains(&format!("on line main at {}", &l2[..12])),
        "{text}"
    );
    assert_eq!(t.read("b"), b"two\n");
    // A path the layer lacks is an error; tracked files below a named directory that the
    // layer lacks are kept (git's overlay).
    t.fails(&["checkout", "HEAD~1", "--", "b"], 2);
    t.write("d/x", "x1\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("d");
    t.write("d/y", "y\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("d/y");
    t.write("d/x", "edited\n");
    t.ok(&["checkout", "-q", "HEAD~1", "--", "d"]);
    assert_eq!(t.read("d/x"), b"x1\n");
    assert_eq!(t.read("d/y"), b"y\n");
    // An untracked file where a named path's directory must go was not named: refused.
    t.ok(&["rm", "-q", "-r", "d"]);
    t.write("d", "untracked, not named\n");
    let err = t.fails(&["checkout", "HEAD", "--", "d/x"], 2);
    assert!(err.contains("untracked file"), "{err}");
    assert_eq!(t.read("d"), b"untracked, not named\n");
}

#[test]
fn checkout_paths_from_a_subdirectory_with_odd_names() {
    let t = TestRepo::new();
    let odd = "sub/sp ace -dash \u{e9}";
    t.write(odd, "v1\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("v1");
    t.write(odd, "v2\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("v2");
    let sub = t.path("sub");
    let out = t.run_in(&sub, &["checkout", "HEAD~1", "--", "sp ace -dash \u{e9}"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(t.read(odd), b"v1\n");
}

// ---------------------------------------------------------------------------------------
// what checkout refuses

#[test]
fn checkout_overwrites_identical_and_ignored_files_and_names_what_is_in_the_way() {
    let (t, _, _) = two_layers();
    t.ok(&["checkout", "-q", "-b", "side"]);
    t.write("same", "identical\n");
    t.write("data/c.log", "log v1\n");
    t.write("dir/f", "f\n");
    t.symlink("a", "link");
    t.write("mod", "m\n");
    t.write("sl", "a file on side\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("side");
    t.ok(&["checkout", "-q", "main"]);
    // Byte-identical to what the checkout writes: not in the way.
    t.write("same", "identical\n");
    // Ignored: overwritten, as git does.
    t.write(".cairnignore", "*.log\n");
    t.write("data/c.log", "local log\n");
    // In the way, each of its own kind.
    t.write("dir", "a file where a directory goes\n");
    t.mkdir("link/inside");
    t.write("link/inside/keep", "k\n");
    t.write("mod", "different\n");
    t.symlink("/nonexistent", "sl");
    let err = t.fails(&["checkout", "side"], 2);
    for want in [
        "mod (an untracked file)",
        "sl (an untracked symlink)",
        "link (a directory holding untracked files)",
        "dir/f (an untracked file stands where its directory must go)",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(!err.contains("same") && !err.contains("c.log"), "{err}");
    std::fs::remove_file(t.path("dir")).unwrap();
    std::fs::remove_dir_all(t.path("link")).unwrap();
    t.remove("mod");
    t.remove("sl");
    t.ok(&["checkout", "-q", "side"]);
    assert_eq!(t.read("data/c.log"), b"log v1\n");
    assert_eq!(t.read("same"), b"identical\n");
    assert_eq!(t.status(), ["?? .cairnignore"]);
}

#[test]
fn checkout_refusals_name_local_changes_and_staged_changes() {
    let (t, _, _) = two_layers();
    t.ok(&["line", "old", "HEAD~1"]);
    t.write("b", "edited\n");
    let err = t.fails(&["checkout", "old"], 2);
    assert!(err.contains("b (a file with local changes)"), "{err}");
    t.ok(&["add", "b"]);
    t.write("b", "two\n");
    let err = t.fails(&["checkout", "old"], 2);
    assert!(err.contains("b (staged changes)"), "{err}");
    // A local edit that makes a file what the target has loses nothing.
    t.ok(&["add", "b"]);
    t.ok(&["checkout", "-q", "-b", "alt"]);
    t.write("a", "alt\n");
    t.ok(&["add", "a"]);
    t.commit("alt");
    t.ok(&["checkout", "-q", "main"]);
    t.write("a", "alt\n");
    t.ok(&["checkout", "-q", "alt"]);
    assert_eq!(t.status(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// a partial clone is a sparse checkout

#[test]
fn a_partial_clone_does_not_list_files_it_never_fetched_as_deleted() {
    let t = TestRepo::new();
    t.write("keep/a", "a\n");
    t.write("keep/b", "b\n");
    t.write("other/c", "c\n");
    t.write("top", "t\n");
    t.ok(&["add", "-A", "-q"]);
    t.commit("all");
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    t.ok(&["remote", "add", "origin", &url]);
    t.ok(&["push", "-q"]);
    let dest = TestRepo::empty();
    dest.ok(&["clone", "-q", &url, "work", "--", "keep"]);
    let work = dest.root().join("work");
    let status = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json", "status"];
        all.extend_from_slice(args);
        let out = dest.run_in(&work, &all);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = status(&[]);
    assert_eq!(v["unstaged"], serde_json::json!([]), "{v}");
    assert_eq!(v["staged"], serde_json::json!([]), "{v}");
    assert!(!work.join("top").exists());
    // A fetched file deleted is still a deletion.
    std::fs::remove_file(work.join("keep/a")).unwrap();
    let v = status(&[]);
    assert_eq!(v["unstaged"][0]["path"], "keep/a", "{v}");
    assert_eq!(v["unstaged"].as_array().unwrap().len(), 1, "{v}");
    // `add -A` stages no deletion of them, and a commit keeps them.
    std::fs::write(work.join("keep/a"), "a2\n").unwrap();
    assert!(dest.run_in(&work, &["add", "-A"]).status.success());
    let v = status(&[]);
    assert_eq!(v["staged"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["staged"][0]["path"], "keep/a", "{v}");
    assert!(dest
        .run_in(&work, &["commit", "-q", "-m", "edit"])
        .status
        .success());
    let ls = dest.run_in(&work, &["ls", "-r", "HEAD"]);
    let ls = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.contains("other/c") && ls.contains("top"), "{ls}");
}

// ---------------------------------------------------------------------------------------
// config and the author

fn author_of_head(t: &TestRepo, dir: &Path, env: &[(&str, &str)]) -> String {
    t.write("n", rand_tag().to_string());
    t.ok(&["add", "n"]);
    let mut c = t.cmd_in(dir);
    c.args(["commit", "-q", "-m", "m"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    t.json(&["show", "HEAD"])["author"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rand_tag() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn config_levels_and_the_environment_decide_the_author() {
    let t = TestRepo::new();
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("xdg");
    let user = |args: &[&str]| {
        let mut c = t.cmd();
        c.env("XDG_CONFIG_HOME", &xdg).args(args);
        c.output().unwrap()
    };
    let env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    assert_eq!(author_of_head(&t, t.root(), &env), "tester", "USER at last");
    assert!(user(&["config", "--global", "user.name", "Gus Global"])
        .status
        .success());
    assert!(
        user(&["config", "--global", "user.email", "gus@example.org"])
            .status
            .success()
    );
    assert!(xdg.join("cairn/config.toml").is_file());
    assert_eq!(
        author_of_head(&t, t.root(), &env),
        "Gus Global <gus@example.org>"
    );
    // The repository level overrides the user level, key by key.
    t.ok(&["config", "user.name", "Ada Lovelace"]);
    assert_eq!(t.ok(&["config", "user.name"]), "Ada Lovelace\n");
    assert_eq!(
        author_of_head(&t, t.root(), &env),
        "Ada Lovelace <gus@example.org>"
    );
    // The environment overrides both; CAIRN_AUTHOR is a whole author.
    let mut e = env.to_vec();
    e.push(("CAIRN_AUTHOR_EMAIL", "env@example.org"));
    assert_eq!(
        author_of_head(&t, t.root(), &e),
        "Ada Lovelace <env@example.org>"
    );
    e.push(("CAIRN_AUTHOR", "Whole <w@example.org>"));
    assert_eq!(author_of_head(&t, t.root(), &e), "Whole <w@example.org>");
    // --author wins over all.
    t.write("n", "last");
    t.ok(&["add", "n"]);
    let mut c = t.cmd();
    c.envs(e.iter().copied()).args([
        "commit",
        "-q",
        "-m",
        "m",
        "--author",
        "Given <g@example.org>",
    ]);
    assert!(c.output().unwrap().status.success());
    assert_eq!(t.json(&["show", "HEAD"])["author"], "Given <g@example.org>");
    // --list shows both levels, --unset removes.
    let out = user(&["config", "--list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("user.name=Ada Lovelace") && text.contains("user.name=Gus Global"),
        "{text}"
    );
    t.ok(&["config", "--unset", "user.name"]);
    assert_eq!(t.run(&["config", "user.name"]).status.code(), Some(1));
    let out = user(&["config", "user.name"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Gus Global\n");
}

#[test]
fn config_refuses_unknown_keys_and_values_that_could_forge_a_line() {
    let t = TestRepo::new();
    let err = t.fails(&["config", "user.nickname", "x"], 2);
    assert!(err.contains("unknown setting"), "{err}");
    t.fails(&["config", "user.name", "Ada\nAuthor: Mallory"], 2);
    t.fails(&["config", "user.name", "A <b>"], 2);
    t.fails(&["config", "user.email", "a b@example.org"], 2);
    assert!(!t.exists(".cairn/settings.toml"), "nothing written");
    // A variable that could forge a line refuses the commit before anything is written.
    t.write("f", "x");
    t.ok(&["add", "f"]);
    let out = t
        .cmd()
        .env("CAIRN_AUTHOR_NAME", "x\ny")
        .args(["commit", "-m", "m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(t.json(&["status"])["head"].is_null());
    // A damaged settings file is an error naming it, not an empty one.
    std::fs::write(t.path(".cairn/settings.toml"), "[user\n").unwrap();
    let err = t.fails(&["commit", "-m", "m"], 2);
    assert!(err.contains("settings.toml"), "{err}");
    // --global without any home is an error, not a file in the current directory.
    let out = t
        .cmd()
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("HOME")
        .args(["config", "--global", "user.name", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn checkout_paths_brings_back_a_large_file_edited_in_place_and_mv_moves_it() {
    let t = TestRepo::new();
    let v1 = crate::support::random_bytes(14, 12 << 20);
    t.write("big.bin", &v1);
    t.ok(&["add", "-A", "-q"]);
    t.commit("v1");
    let mut v2 = v1.clone();
    v2[5 << 20..(5 << 20) + 4096].fill(7);
    t.write("big.bin", &v2);
    t.ok(&["add", "-A", "-q"]);
    t.commit("v2");
    t.append("big.bin", "local edit");
    t.ok(&["checkout", "-q", "HEAD~1", "--", "big.bin"]);
    assert!(t.read("big.bin") == v1, "v1 is back byte for byte");
    assert_eq!(t.status(), ["M  big.bin"]);
    t.ok(&["mv", "big.bin", "moved.bin"]);
    assert!(t.read("moved.bin") == v1);
    // Staged only (how a rename is shown is status's business).
    assert_eq!(t.json(&["status"])["unstaged"], serde_json::json!([]));
    t.commit("moved");
    assert!(t.status().is_empty());
    let ls = t.ok(&["ls", "HEAD"]);
    assert!(ls.contains("moved.bin") && !ls.contains("big.bin"), "{ls}");
}
