//! The `--json` contract (docs/JSON.md): real outputs of every command validated against the
//! committed schemas in docs/schema/, the error document, the exit codes, and
//! `commit --allow-empty` / `--skip-if-unchanged`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::TestRepo;

/// The committed schema of a document (`docs/schema/<name>.json`).
fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/schema/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("a schema is JSON")
}

/// What is wrong with `doc` against the schema `name`: empty when it conforms.
fn violations(name: &str, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema(name)).expect("the schema compiles");
    validator.iter_errors(doc).map(|e| e.to_string()).collect()
}

/// Asserts that `doc` conforms to the schema `name` and says its schema version.
fn conforms(name: &str, doc: &Value) {
    let bad = violations(name, doc);
    assert!(bad.is_empty(), "{name}: {bad:#?}\n{doc:#}");
    assert_eq!(doc["schema_version"], 1, "{name}: {doc}");
}

/// The one JSON document on stdout.
fn document(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document ({e}):\n{}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs `cairn --json args` in `dir`, expects exit `code`, validates the document against
/// the schema `name` and returns it.
fn run_in(t: &TestRepo, dir: &Path, name: &str, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = t.run_in(dir, &all);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = document(&out, name);
    conforms(name, &doc);
    doc
}

/// [`run_in`] from the worktree root, expecting success.
fn valid(t: &TestRepo, name: &str, args: &[&str]) -> Value {
    run_in(t, t.root(), name, args, 0)
}

/// Runs a failing `cairn --json args`, checks the error document and its exit code.
fn error(t: &TestRepo, args: &[&str], kind: &str, code: i32) -> Value {
    let doc = run_in(t, t.root(), "error", args, code);
    assert_eq!(doc["error"]["kind"], kind, "{args:?}: {doc}");
    assert_eq!(doc["error"]["exit_code"], code, "{args:?}: {doc}");
    doc
}

/// A repository with two layers, a tag, a line and a `file://` remote.
fn busy_repo() -> (TestRepo, tempfile::TempDir) {
    let t = TestRepo::new();
    t.write("data/a.csv", "id,v\n1,2\n");
    t.write("data/b.bin", vec![7u8; 5000]);
    t.write("notes with space.txt", "first\n");
    t.ok(&["add", "-A"]);
    t.commit("one");
    t.write("data/a.csv", "id,v\n1,2\n3,4\n");
    t.write("new.txt", "new\n");
    t.ok(&["add", "-A"]);
    t.commit("two");
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    t.ok(&["remote", "add", "origin", &url]);
    (t, remote)
}

#[test]
fn every_read_command_matches_its_schema() {
    let (t, _remote) = busy_repo();
    valid(&t, "status", &["status"]);
    valid(&t, "log", &["log"]);
    valid(&t, "show", &["show"]);
    valid(&t, "show", &["show", "-p", "HEAD"]);
    valid(&t, "ls", &["ls", "HEAD", "-r"]);
    valid(&t, "cat", &["cat", "HEAD:data/a.csv"]);
    valid(&t, "diff", &["diff", "HEAD~1", "HEAD"]);
    valid(&t, "diff", &["diff", "-p", "HEAD~1", "HEAD"]);
    valid(&t, "diff", &["diff", "--stat", "HEAD~1"]);
    valid(&t, "tag", &["tag", "v1"]);
    valid(&t, "tag", &["tag", "--list"]);
    valid(&t, "line", &["line", "side"]);
    valid(&t, "line", &["line"]);
    valid(&t, "reflog", &["reflog"]);
    valid(&t, "config", &["config", "--list"]);
    valid(&t, "verify", &["verify", "--data"]);
    valid(&t, "stats", &["stats"]);
    valid(&t, "remote", &["remote"]);
    valid(&t, "gc", &["gc", "--dry-run"]);
    // A setting that is not set: exit 1, still a document.
    let doc = run_in(&t, t.root(), "config", &["config", "user.email"], 1);
    assert!(doc["value"].is_null());
    // A status with something in every list.
    t.write("new.txt", "staged change\n");
    t.ok(&["add", "new.txt"]);
    t.ok(&["mv", "notes with space.txt", "renamed.txt"]);
    t.write("data/a.csv", "unstaged\n");
    t.write("untracked/u.txt", "u\n");
    let doc = valid(&t, "status", &["status"]);
    for list in ["staged", "unstaged", "untracked"] {
        assert!(!doc[list].as_array().unwrap().is_empty(), "{list}: {doc}");
    }
    valid(&t, "diff", &["diff", "--cached", "-p"]);
}

#[test]
fn every_writing_command_matches_its_schema() {
    let (t, remote) = busy_repo();
    let fresh = TestRepo::empty();
    run_in(&fresh, fresh.root(), "init", &["init"], 0);

    t.write("more.txt", "more\n");
    valid(&t, "add", &["add", "more.txt"]);
    valid(&t, "add", &["add", "-A", "--dry-run"]);
    // A fifo is skipped, and the document says so.
    let fifo = t.path("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let doc = valid(&t, "add", &["add", "-A"]);
        assert_eq!(doc["skipped"][0]["path"], "pipe", "{doc}");
        std::fs::remove_file(&fifo).unwrap();
    }
    let out = t
        .cmd()
        .args(["--json", "add", "--stdin", "streamed.sql"])
        .write_stdin(b"select 1;\n".to_vec())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    conforms("add-stdin", &document(&out, "add --stdin"));
    valid(&t, "mv", &["mv", "more.txt", "moved.txt"]);
    valid(&t, "rm", &["rm", "--cached", "moved.txt"]);
    valid(&t, "commit", &["commit", "-m", "three"]);
    valid(&t, "checkout", &["checkout", "HEAD~1"]);
    valid(&t, "checkout", &["checkout", "main"]);
    let to = t.root().parent().unwrap().join(format!(
        "restored-{}",
        t.root().file_name().unwrap().to_string_lossy()
    ));
    let to_arg = to.to_str().unwrap();
    valid(&t, "restore", &["restore", "HEAD", "--to", to_arg]);
    std::fs::remove_dir_all(&to).unwrap();
    valid(&t, "reset", &["reset", "--soft", "HEAD~1"]);
    valid(&t, "reset", &["reset", "HEAD@{1}"]);
    valid(&t, "push", &["push", "origin"]);
    valid(&t, "pull", &["pull", "origin"]);
    valid(&t, "gc", &["gc"]);

    // clone, into a directory beside the repository.
    let url = format!("file://{}", remote.path().display());
    let clone_dir = tempfile::tempdir().unwrap();
    let into = clone_dir.path().join("copy");
    let into_arg = into.to_str().unwrap();
    run_in(&t, clone_dir.path(), "clone", &["clone", &url, into_arg], 0);

    // export to a file, and import that tar into another repository.
    let tar = clone_dir.path().join("layer.tar");
    let tar_arg = tar.to_str().unwrap();
    valid(&t, "export", &["export", "HEAD", "-o", tar_arg]);
    let other = TestRepo::new();
    valid(&other, "import", &["import", tar_arg]);

    valid(&t, "remote", &["remote", "remove", "origin"]);
}

#[test]
fn proofs_match_their_schemas() {
    let (t, _remote) = busy_repo();
    let out = t.run(&["prove", "HEAD:data/a.csv"]);
    assert_eq!(out.status.code(), Some(0));
    let proof = document(&out, "prove");
    // A proof has its own format version, not schema_version (docs/PROOFS.md).
    let bad = violations("prove", &proof);
    assert!(bad.is_empty(), "{bad:#?}");
    let file = t.root().parent().unwrap().join(format!(
        "proof-{}.json",
        t.root().file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&file, &out.stdout).unwrap();
    let doc = valid(
        &t,
        "verify-proof",
        &["verify-proof", file.to_str().unwrap()],
    );
    assert_eq!(doc["verified"], true);
    // A proof that does not verify is an answer: exit 1 and a document.
    let doc = run_in(
        &t,
        t.root(),
        "verify-proof",
        &[
            "verify-proof",
            file.to_str().unwrap(),
            "--root",
            &"0".repeat(64),
        ],
        1,
    );
    assert_eq!(doc["verified"], false);
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_schema_rejects_a_stray_field_and_a_wrong_type() {
    let (t, _remote) = busy_repo();
    let log = valid(&t, "log", &["log"]);
    let mut stray = log.clone();
    stray["layers"][0]["surprise"] = Value::Bool(true);
    assert!(
        !violations("log", &stray).is_empty(),
        "a new field is caught"
    );
    let mut wrong = log.clone();
    wrong["layers"][0]["id"] = "XYZ".into();
    assert!(
        !violations("log", &wrong).is_empty(),
        "an id is 64 hex digits"
    );
    let mut old = log;
    old["schema_version"] = 0.into();
    assert!(!violations("log", &old).is_empty(), "the version is fixed");
}

#[test]
fn errors_are_documents_with_kind_path_hint_and_exit_code() {
    let t = TestRepo::new();
    let doc = error(&t, &["rm", "nope"], "not_tracked", 2);
    assert_eq!(doc["error"]["path"], "nope");
    assert!(doc["error"]["hint"].is_string());
    assert!(doc["error"]["message"].as_str().unwrap().contains("nope"));

    let doc = error(&t, &["cat", "HEAD:x"], "unknown_ref", 2);
    assert!(doc["error"]["path"].is_string(), "{doc}");

    // A usage error names no path.
    let doc = error(&t, &["status", "--frobnicate"], "usage", 2);
    assert!(doc["error"]["path"].is_null());

    // Outside a repository, the directory searched from.
    let away = TestRepo::empty();
    let doc = run_in(&away, away.root(), "error", &["status"], 2);
    assert_eq!(doc["error"]["kind"], "not_a_repository");
    assert_eq!(
        PathBuf::from(doc["error"]["path"].as_str().unwrap()),
        away.root()
    );
}

#[test]
fn nothing_to_commit_exits_3_and_changes_nothing() {
    let t = TestRepo::new();
    let before = t.snapshot();
    let doc = error(&t, &["commit", "-m", "empty"], "nothing_to_commit", 3);
    assert_eq!(
        PathBuf::from(doc["error"]["path"].as_str().unwrap()),
        t.root()
    );
    assert_eq!(t.snapshot(), before);
    // Without --json too: one error line, exit 3.
    let err = t.fails(&["commit", "-m", "empty"], 3);
    assert!(err.contains("nothing to commit"), "{err}");
}

#[test]
fn skip_if_unchanged_commits_only_when_something_changed() {
    let t = TestRepo::new();
    // Nothing ever committed and nothing staged: exit 0, no layer.
    let doc = valid(&t, "commit", &["commit", "--skip-if-unchanged", "-m", "n0"]);
    assert_eq!(doc["committed"], false);
    assert!(doc["layer"].is_null() && doc["tree"].is_null());

    t.write("f", "night one\n");
    t.ok(&["add", "f"]);
    let first = valid(&t, "commit", &["commit", "--skip-if-unchanged", "-m", "n1"]);
    assert_eq!(first["committed"], true);

    // Night two: nothing changed. Exit 0, HEAD's layer reported, nothing written.
    let before = t.snapshot();
    let second = valid(&t, "commit", &["commit", "--skip-if-unchanged", "-m", "n2"]);
    assert_eq!(second["committed"], false);
    assert_eq!(second["layer"], first["layer"]);
    assert_eq!(second["tree"], first["tree"]);
    assert_eq!(second["bytes_written"], 0);
    assert_eq!(t.snapshot(), before, "nothing written");
    // The text form prints HEAD's id, as a commit prints its layer's.
    let text = t.ok(&["commit", "--skip-if-unchanged", "-m", "n2"]);
    assert_eq!(text.trim(), first["layer"].as_str().unwrap());

    // Night three: a change is committed.
    t.write("f", "night three\n");
    t.ok(&["add", "f"]);
    let third = valid(&t, "commit", &["commit", "--skip-if-unchanged", "-m", "n3"]);
    assert_eq!(third["committed"], true);
    assert_eq!(third["parent"], first["layer"]);
    assert_eq!(
        t.json(&["log"])["layers"].as_array().unwrap().len(),
        2,
        "one layer per night that changed something"
    );

    // It makes no sense with a new line or with --allow-empty: a usage error.
    error(
        &t,
        &["commit", "--skip-if-unchanged", "-b", "x", "-m", "m"],
        "usage",
        2,
    );
    error(
        &t,
        &["commit", "--skip-if-unchanged", "--allow-empty", "-m", "m"],
        "usage",
        2,
    );
}

#[test]
fn allow_empty_writes_a_layer_with_heads_tree() {
    let t = TestRepo::new();
    // On an unborn line: a first layer with an empty tree.
    let root = valid(&t, "commit", &["commit", "--allow-empty", "-m", "start"]);
    assert_eq!(root["committed"], true);
    assert!(root["parent"].is_null());
    assert_eq!(root["counts"]["files"], 0);
    t.write("f", "x\n");
    t.ok(&["add", "f"]);
    t.commit("f");
    let head = t.json(&["log", "-n", "1"])["layers"][0].clone();
    let empty = valid(&t, "commit", &["commit", "--allow-empty", "-m", "marker"]);
    assert_eq!(empty["parent"], head["id"]);
    assert_eq!(empty["tree"], head["tree"], "the same tree as its parent");
    assert_ne!(empty["layer"], head["id"]);
    let counts = &empty["counts"];
    assert_eq!(
        (&counts["added"], &counts["modified"]),
        (&0.into(), &0.into())
    );
    assert_eq!(counts["files"], 1);
    // The repository is sound afterwards.
    valid(&t, "verify", &["verify", "--data"]);
}

#[test]
fn differences_and_damage_exit_1_with_a_document() {
    let (t, _remote) = busy_repo();
    let doc = run_in(
        &t,
        t.root(),
        "diff",
        &["diff", "--exit-code", "HEAD~1", "HEAD"],
        1,
    );
    assert!(!doc["changes"].as_array().unwrap().is_empty());
    run_in(
        &t,
        t.root(),
        "diff",
        &["diff", "--exit-code", "HEAD", "HEAD"],
        0,
    );

    // Damage: a pack with one byte flipped in the middle.
    let packs = t.path(".cairn/packs");
    let pack = std::fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some(OsStr::new("pack")))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let mut perms = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pack, perms).unwrap();
    std::fs::write(&pack, bytes).unwrap();
    let doc = run_in(&t, t.root(), "verify", &["verify", "--data"], 1);
    assert!(!doc["damage"].as_array().unwrap().is_empty(), "{doc}");
}

/// Every `--progress json` line of an add and a restore conforms to its schema, and the
/// add's begin, progress and end lines say what the add did.
#[test]
fn progress_events_match_their_schema() {
    let t = TestRepo::new();
    t.write("big.bin", crate::support::random_bytes(3, 9 << 20));
    t.write("small.txt", "small\n");
    let mut lines = Vec::new();
    let mut progress = |args: &[&str]| {
        let out = t.run_in(t.root(), args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        lines.extend(
            String::from_utf8(out.stderr)
                .unwrap()
                .lines()
                .map(str::to_string),
        );
    };
    progress(&["--progress", "json", "add", "-A"]);
    t.commit("one");
    progress(&["--progress", "json", "restore", "HEAD", "--to", "out"]);
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    for e in &events {
        let bad = violations("progress-event", e);
        assert!(bad.is_empty(), "{bad:#?}\n{e}");
    }
    let adding: Vec<&Value> = events.iter().filter(|e| e["phase"] == "adding").collect();
    assert_eq!(adding.first().unwrap()["event"], "begin");
    let end = adding.last().unwrap();
    assert_eq!(end["event"], "end");
    assert_eq!(end["items_done"], 2);
    assert_eq!(end["bytes_done"], (9 << 20) + 6);
}

#[test]
fn every_error_kind_and_document_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/JSON.md")).unwrap();
    let errors = std::fs::read_to_string(root.join("src/error.rs")).unwrap();
    let kinds = errors
        .split("pub fn kind(&self)")
        .nth(1)
        .and_then(|s| s.split("pub fn ").next())
        .expect("Error::kind in src/error.rs");
    let mut missing: Vec<&str> = kinds
        .split("=> \"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    for k in ["usage", "error"] {
        if !doc.contains(&format!("`{k}`")) {
            missing.push(k);
        }
    }
    assert!(
        missing.is_empty(),
        "error kinds not in docs/JSON.md: {missing:?}"
    );
    for entry in std::fs::read_dir(root.join("docs/schema")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            doc.contains(&format!("schema/{name}")),
            "docs/JSON.md does not describe {name}"
        );
    }
}

#[test]
fn a_nightly_commit_killed_part_way_is_finished_by_running_it_again() {
    let t = TestRepo::new();
    t.write("data.csv", "night one\n");
    t.ok(&["add", "-A"]);
    let nightly = ["--json", "commit", "--skip-if-unchanged", "-m", "nightly"];
    // Killed before the line moves: nothing committed, the next run commits.
    for point in ["commit:before-ref", "commit:before-index"] {
        t.write("data.csv", format!("changed before {point}\n"));
        t.ok(&["add", "-A"]);
        let head_before = t.json(&["status"])["head"].clone();
        let out = t
            .cmd()
            .env("CAIRN_FAILPOINT", point)
            .args(nightly)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the run was killed");
        let head = t.json(&["status"])["head"].clone();
        let again = document(&t.run(&nightly), point);
        conforms("commit", &again);
        if point == "commit:before-ref" {
            assert_eq!(head, head_before, "{point}: the line did not move");
            assert_eq!(again["committed"], true, "{point}: {again}");
        } else {
            // The line moved before the kill: the layer is there, so nothing is left to
            // commit, and the run reports that layer.
            assert_ne!(head, head_before);
            assert_eq!(again["committed"], false, "{point}: {again}");
            assert_eq!(again["layer"], head);
        }
        let third = document(&t.run(&nightly), point);
        assert_eq!(third["committed"], false, "{point}: {third}");
    }
    valid(&t, "verify", &["verify", "--data"]);
}

#[test]
fn an_error_naming_an_odd_path_is_still_one_valid_document() {
    use std::os::unix::ffi::OsStrExt;
    let t = TestRepo::new();
    for name in [
        OsStr::from_bytes(b"line\nbreak \"quoted\""),
        OsStr::from_bytes(b"not-utf8-\xff\xfe"),
        OsStr::from_bytes(b"tab\tand\\backslash"),
    ] {
        let out = t.run(&[OsStr::new("--json"), OsStr::new("rm"), name]);
        assert_eq!(out.status.code(), Some(2));
        let doc = document(&out, "rm");
        conforms("error", &doc);
        assert_eq!(doc["error"]["kind"], "not_tracked");
        let path = doc["error"]["path"].as_str().unwrap();
        assert_eq!(
            path,
            name.to_string_lossy(),
            "the path, lossy for non-UTF-8"
        );
    }
}

/// The documents the later commands added: log with changes and references, push of every
/// reference, and forget.
#[test]
fn log_push_many_and_forget_match_their_schemas() {
    let (t, _remote) = busy_repo();
    t.ok(&["tag", "v1", "HEAD~1"]);
    let log = valid(&t, "log", &["log", "--stat", "-p"]);
    assert!(log["layers"][0]["changes"].is_array(), "{log}");
    assert_eq!(log["layers"][0]["refs"]["head"], true, "{log}");
    valid(&t, "show", &["show", "v1"]);
    let pushed = valid(&t, "push-many", &["push", "--all"]);
    assert_eq!(pushed["refused"], 0, "{pushed}");
    // The tagged layer keeps forget from dropping it: a documented refusal.
    error(
        &t,
        &["forget", "--keep-last", "1", "--dry-run"],
        "bad_argument",
        2,
    );
    let args = ["forget", "--keep-last", "1", "--keep-tag", "--dry-run"];
    let planned = valid(&t, "forget", &args);
    assert_eq!(planned["dry_run"], true, "{planned}");
    let done = valid(&t, "forget", &["forget", "--keep-last", "1", "--keep-tag"]);
    assert_eq!(done["dry_run"], false, "{done}");
}
