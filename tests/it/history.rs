//! `cairn log` as a history tool: the layers that changed some paths, a start layer,
//! per-layer changes (--stat, --name-status, --name-only), time windows, `-N`,
//! decorations, `--format` and ISO times.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

use cairn::object::{Layer, LayerCounts};
use cairn::pack::{Encoded, ObjectKind, PackClass, PackWriter};
use cairn::refs::RefKind;
use cairn::{ObjectId, Repository};
use serde_json::Value;

use crate::support::{Env, Rng};

/// The subjects `log --format %s ARGS` prints, newest first.
fn subjects(env: &Env, args: &[&str]) -> Vec<String> {
    let mut all = vec!["log", "--format", "%s"];
    all.extend_from_slice(args);
    env.ok(&all).lines().map(str::to_string).collect()
}

/// The layers of `log --json ARGS`.
fn layers(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["log"];
    all.extend_from_slice(args);
    env.json(&all)["layers"].as_array().unwrap().clone()
}

/// The `error` object of `cairn --json ARGS`, which must fail with exit 2.
fn json_error(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a JSON error document");
    doc["error"].clone()
}

fn remove(env: &Env, rel: &str) {
    let p = env.path(rel);
    if p.is_dir() {
        fs::remove_dir_all(p).unwrap();
    } else {
        fs::remove_file(p).unwrap();
    }
}

/// A history of a file and a directory: added, edited, deleted, added again; and edits
/// elsewhere that a path must not see.
fn file_and_dir_history(env: &Env) {
    env.write("data/a.csv", "id\n1\n");
    env.write("data/sub/b.bin", "b1");
    env.write("readme", "r1");
    env.commit("add all");
    env.write("data/a.csv", "id\n1\n2\n");
    env.commit("edit a");
    env.write("readme", "r2");
    env.commit("edit readme");
    remove(env, "data/a.csv");
    env.commit("delete a");
    env.write("data/sub/b.bin", "b2");
    env.commit("edit b");
    env.write("data/a.csv", "id\n3\n");
    env.commit("add a again");
}

#[test]
fn a_path_lists_the_layers_that_changed_it_even_once_deleted() {
    let env = Env::new();
    file_and_dir_history(&env);
    assert_eq!(
        subjects(&env, &["--", "data/a.csv"]),
        ["add a again", "delete a", "edit a", "add all"]
    );
    assert_eq!(
        subjects(&env, &["--", "data"]),
        ["add a again", "edit b", "delete a", "edit a", "add all"],
        "a directory matches any change below it"
    );
    assert_eq!(subjects(&env, &["--", "data/sub"]), ["edit b", "add all"]);
    assert_eq!(
        subjects(&env, &["--", "readme", "data/sub/b.bin"]),
        ["edit b", "edit readme", "add all"]
    );
    assert_eq!(
        subjects(&env, &["--", "."]).len(),
        6,
        "the root is everything"
    );
    assert_eq!(subjects(&env, &["--", "data/a"]), Vec::<String>::new());
    assert_eq!(
        subjects(&env, &["--", "never/was/here"]),
        Vec::<String>::new()
    );
    assert_eq!(subjects(&env, &["--", "readme/below/a/file"]).len(), 0);

    // Deleted now, the path is still a path of the history.
    remove(&env, "data/a.csv");
    env.commit("delete a again");
    assert_eq!(
        subjects(&env, &["-n", "2", "--", "data/a.csv"]),
        ["delete a again", "add a again"]
    );
}

#[test]
fn paths_are_relative_to_the_current_directory() {
    let env = Env::new();
    file_and_dir_history(&env);
    let from_root = env.ok(&["log", "--format", "%H", "--", "data/sub/b.bin"]);
    let below = env.ok_in(
        &env.path("data"),
        &["log", "--format", "%H", "--", "sub/b.bin"],
    );
    assert_eq!(from_root, below);
    let sub = env.path("data/sub");
    let up = env.ok_in(&sub, &["log", "--format", "%s", "--", "../a.csv"]);
    assert_eq!(up.lines().count(), 4);
    let dot = env.ok_in(&sub, &["log", "--format", "%s", "--", "."]);
    assert_eq!(dot, "edit b\nadd all\n");

    let out = env.run(&["log", "--", "../outside"]);
    assert_eq!(out.status.code(), Some(2));
    let e = json_error(&env, &["log", "--", "/etc/passwd"]);
    assert_eq!(e["kind"], "outside_worktree");
    json_error(&env, &["log", "--", ".cairn/HEAD"]);
}

#[test]
fn a_renamed_parent_directory_is_a_deletion_under_the_old_name() {
    let env = Env::new();
    env.write("old/f.txt", "f");
    env.write("old/deep/g.txt", "g");
    env.commit("make old");
    fs::rename(env.path("old"), env.path("new")).unwrap();
    env.commit("rename old to new");
    env.write("new/f.txt", "f2");
    env.commit("edit under new");
    assert_eq!(
        subjects(&env, &["--", "old/f.txt"]),
        ["rename old to new", "make old"]
    );
    assert_eq!(
        subjects(&env, &["--", "new"]),
        ["edit under new", "rename old to new"]
    );
    let out = env.ok(&[
        "log",
        "-n",
        "1",
        "--oneline",
        "--name-status",
        "HEAD~1",
        "--",
        "old",
    ]);
    let lines: Vec<_> = out.lines().skip(1).collect();
    assert_eq!(lines, ["D\told/deep/g.txt", "D\told/f.txt"]);
}

#[test]
fn odd_names_symlinks_and_type_changes() {
    let env = Env::new();
    let odd: &[u8] = b"odd \xff\nname\t.csv";
    env.write(odd, "1");
    env.symlink("target-a", "link");
    env.write("plain", "p");
    env.commit("first");
    env.write(odd, "2");
    env.commit("edit odd");
    env.symlink("target-b", "link");
    env.commit("retarget link");
    remove(&env, "plain");
    env.symlink("somewhere", "plain");
    env.commit("plain becomes a link");

    let odd_arg = OsStr::from_bytes(odd);
    let args: Vec<&OsStr> = ["log", "--format", "%s", "--name-only", "--"]
        .iter()
        .map(OsStr::new)
        .chain([odd_arg])
        .collect();
    let out = env.ok(&args);
    assert_eq!(
        out, "edit odd\n\"odd \\377\\nname\\t.csv\"\nfirst\n\"odd \\377\\nname\\t.csv\"\n",
        "the odd name is matched by its bytes and printed quoted"
    );
    assert_eq!(subjects(&env, &["--", "link"]), ["retarget link", "first"]);
    let out = env.ok(&["log", "-1", "--oneline", "--name-status", "--", "plain"]);
    assert_eq!(out.lines().nth(1), Some("T\tplain"));

    // A path that passes through a symlink in the worktree names no path of the history.
    assert!(subjects(&env, &["--", "link/x"]).is_empty());
}

#[test]
fn a_start_layer_and_its_errors() {
    let env = Env::new();
    file_and_dir_history(&env);
    env.ok(&["tag", "mid", "HEAD~3"]);
    assert_eq!(
        subjects(&env, &["mid"]),
        ["edit readme", "edit a", "add all"]
    );
    assert_eq!(
        subjects(&env, &["HEAD~1", "--", "data/a.csv"]),
        ["delete a", "edit a", "add all"]
    );
    let e = json_error(&env, &["log", "no-such-layer"]);
    assert_eq!(e["exit_code"], 2);
}

#[test]
fn counts_as_flags_and_negative_values_elsewhere() {
    let env = Env::new();
    file_and_dir_history(&env);
    assert_eq!(subjects(&env, &["-2"]), ["add a again", "edit b"]);
    assert_eq!(subjects(&env, &["-2"]), subjects(&env, &["-n", "2"]));
    assert_eq!(env.ok(&["log", "--oneline", "-1"]).lines().count(), 1);
    assert_eq!(
        env.ok(&["--json", "log", "-3"]).matches("\"id\"").count(),
        3
    );
    assert_eq!(subjects(&env, &["-0"]), Vec::<String>::new());
    assert_eq!(subjects(&env, &["-1", "--", "readme"]), ["edit readme"]);
    // Only log's own flags are rewritten: cat's range keeps its negative form.
    assert_eq!(env.ok(&["cat", "--range", "-2", "HEAD:data/a.csv"]), "3\n");
    // And a number after `--` is a path.
    assert!(subjects(&env, &["--", "-3"]).is_empty());
}

#[test]
fn per_layer_changes_in_three_forms_and_in_json() {
    let env = Env::new();
    file_and_dir_history(&env);
    let ns = env.ok(&["log", "--format", "%s", "--name-status", "-3"]);
    assert_eq!(
        ns,
        "add a again\nA\tdata/a.csv\nedit b\nM\tdata/sub/b.bin\ndelete a\nD\tdata/a.csv\n"
    );
    let names = env.ok(&["log", "--oneline", "--name-only", "--", "data/sub"]);
    let names: Vec<_> = names.lines().filter(|l| !l.contains(' ')).collect();
    assert_eq!(names, ["data/sub/b.bin", "data/sub/b.bin"]);
    let stat = env.ok(&["log", "--stat", "-1", "HEAD~4"]);
    assert!(stat.contains(" data/a.csv | 5 B -> 7 B\n"), "{stat}");
    assert!(stat.contains(" 1 file changed, 5 B -> 7 B\n"), "{stat}");
    assert!(
        stat.contains("    edit a\n"),
        "the long form is kept: {stat}"
    );

    // Limited by paths, only the changes under them.
    let first = layers(&env, &["--name-status", "--", "data/sub"]);
    let first = first.last().unwrap();
    assert_eq!(first["changes"].as_array().unwrap().len(), 1);
    assert_eq!(first["changes"][0]["path"], "data/sub/b.bin");
    assert_eq!(first["changes"][0]["change"], "added");
    let all = layers(&env, &["--stat"]);
    assert_eq!(all.last().unwrap()["changes"].as_array().unwrap().len(), 3);
    for l in layers(&env, &[]) {
        assert!(l.get("changes").is_none(), "no changes unless asked: {l}");
    }
    env.fails(&["log", "--stat", "--name-only"]);
}

#[test]
fn decorations_name_head_lines_and_tags() {
    let env = Env::new();
    env.write("f", "1");
    let first = env.commit("one");
    env.write("f", "2");
    let second = env.commit("two");
    env.ok(&["tag", "v2"]);
    env.ok(&["tag", "also"]);
    env.ok(&["tag", "v1", &first]);
    fs::write(env.path(".cairn/refs/lines/other"), format!("{second}\n")).unwrap();
    let out = env.ok(&["log", "--oneline"]);
    assert_eq!(
        out,
        format!(
            "{} (HEAD -> main, tag: also, tag: v2, other) two\n{} (tag: v1) one\n",
            &second[..12],
            &first[..12]
        )
    );
    let long = env.ok(&["log", "-1"]);
    assert!(
        long.starts_with(&format!(
            "layer {second} (HEAD -> main, tag: also, tag: v2, other)\n"
        )),
        "{long}"
    );
    let l = layers(&env, &[]);
    assert_eq!(
        l[0]["refs"],
        serde_json::json!({"head": true, "lines": ["main", "other"], "tags": ["also", "v2"]})
    );
    assert_eq!(
        l[1]["refs"],
        serde_json::json!({"head": false, "lines": [], "tags": ["v1"]})
    );

    env.ok(&["checkout", &first]);
    let out = env.ok(&["log", "--oneline", "main"]);
    assert_eq!(
        out,
        format!(
            "{} (tag: also, tag: v2, main, other) two\n{} (HEAD, tag: v1) one\n",
            &second[..12],
            &first[..12]
        )
    );
    assert_eq!(
        env.ok(&["log", "--format", "[%d]", "-1"]),
        "[ (HEAD, tag: v1)]\n"
    );
    assert_eq!(layers(&env, &[])[0]["refs"]["head"], true);
    assert_eq!(layers(&env, &["main"])[0]["refs"]["head"], false);
}

#[test]
fn formats_round_trip_with_json() {
    let env = Env::new();
    env.write("f", "1");
    env.commit("subject line\n\nbody one\nbody two");
    env.write("f", "2");
    env.commit("plain");
    let text = env.ok(&["log", "--format", "%H|%h|%an|%at|%aI|%ad|%s%n%b%%END"]);
    let docs = layers(&env, &[]);
    let records: Vec<&str> = text.split("%END\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(records.len(), docs.len());
    for (r, l) in records.iter().zip(&docs) {
        let (head, body) = r.split_once('\n').unwrap();
        let f: Vec<&str> = head.split('|').collect();
        let id = l["id"].as_str().unwrap();
        let ns = l["time_ns"].as_i64().unwrap();
        assert_eq!(f[0], id);
        assert_eq!(f[1], &id[..12]);
        assert_eq!(f[2], "tester");
        assert_eq!(f[3].parse::<i64>().unwrap(), ns / 1_000_000_000);
        assert_eq!(f[4], l["time"].as_str().unwrap());
        assert!(f[5].ends_with(" UTC"), "{}", f[5]);
        let message = l["message"].as_str().unwrap();
        assert_eq!(f[6], message.lines().next().unwrap());
        let expected_body = message.split_once("\n\n").map_or("", |(_, b)| b);
        assert_eq!(body, expected_body);
    }
    // The ISO time names the same second as the nanoseconds.
    let t = chrono::DateTime::parse_from_rfc3339(docs[0]["time"].as_str().unwrap()).unwrap();
    assert_eq!(
        t.timestamp(),
        docs[0]["time_ns"].as_i64().unwrap() / 1_000_000_000
    );
    assert!(docs[0]["time"].as_str().unwrap().ends_with('Z'));

    let e = env.fails(&["log", "--format", "%h %Z %q%"]);
    assert!(e.contains(r#""%Z", "%q", "%""#), "{e}");
    assert!(
        e.contains("%H %h %s"),
        "the error lists the known ones: {e}"
    );
    let j = json_error(&env, &["log", "--format", "%Z"]);
    assert_eq!(j["kind"], "bad_argument");
    env.fails(&["log", "--format", "%h", "--oneline"]);
}

/// Writes layers on top of HEAD's tree with the given times (oldest first), moves `main`
/// to the last, and returns their ids: histories whose clocks went backwards, as imports
/// and wrong clocks make, that `commit` cannot.
fn layers_at(env: &Env, times: &[(i64, &str)]) -> Vec<ObjectId> {
    let repo = Repository::open(&env.root).unwrap();
    let (_, head) = repo.head().unwrap();
    let tree = repo.read_layer(&head.unwrap()).unwrap().tree;
    let mut w = PackWriter::new(
        repo.algo(),
        PackClass::Meta,
        &repo.packs_dir(),
        &repo.tmp_dir(),
    );
    let mut parent = head;
    let mut ids = Vec::new();
    for (time_ns, msg) in times {
        let layer = Layer {
            parent,
            tree,
            time_ns: *time_ns,
            counts: LayerCounts::default(),
            author: "importer".into(),
            message: (*msg).into(),
        };
        let id = layer.id(repo.algo());
        w.add(id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))
            .unwrap();
        parent = Some(id);
        ids.push(id);
    }
    w.finish().unwrap();
    let locked = repo.lock(std::time::Duration::from_secs(5)).unwrap();
    locked
        .refs()
        .set(RefKind::Line, "main", ids.last().unwrap())
        .unwrap();
    ids
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const JAN_2026: i64 = 1_767_225_600 * 1_000_000_000;

#[test]
fn time_windows_read_past_layers_whose_clock_was_wrong() {
    let env = Env::new();
    env.write("f", "1");
    env.commit("now");
    layers_at(
        &env,
        &[
            (JAN_2026, "jan 1"),
            (JAN_2026 - 200 * DAY_NS, "skewed back to june"),
            (JAN_2026 + 10 * DAY_NS + 3_600_000_000_000, "jan 11 01:00"),
            (JAN_2026 + 40 * DAY_NS, "feb 10"),
        ],
    );
    assert_eq!(
        subjects(&env, &["--since", "2026-01-01", "--until", "2026-02-01"]),
        ["jan 11 01:00", "jan 1"],
        "the walk goes on past the skewed layer"
    );
    assert_eq!(
        subjects(&env, &["--until", "2025-12-31T23:59:59Z"]),
        ["skewed back to june"]
    );
    assert_eq!(
        subjects(
            &env,
            &[
                "--since",
                "2026-01-11 01:00",
                "--until",
                "2026-01-11T01:00:00Z"
            ]
        ),
        ["jan 11 01:00"],
        "both ends are inclusive"
    );
    assert_eq!(
        subjects(
            &env,
            &[
                "--after",
                "2026-01-11T02:00:00+01:00",
                "--before",
                "@1767225600"
            ]
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        subjects(&env, &["--since", "2026-01-11T02:00:00+01:00", "-1"]),
        ["feb 10"]
    );
    assert_eq!(
        subjects(&env, &["--since", "1 hour ago"]),
        ["now"],
        "the layer made by the test's commit is recent; the imported ones are not"
    );
    assert_eq!(subjects(&env, &["--since", "2.weeks.ago"]), ["now"]);
    assert!(subjects(&env, &["--until", "yesterday"]).len() == 4);

    let e = env.fails(&["log", "--since", "the day before"]);
    assert!(e.contains("--since") && e.contains("3 days ago"), "{e}");
    let j = json_error(&env, &["log", "--until", "2026-13-01"]);
    assert_eq!(j["kind"], "bad_argument");
}

#[test]
fn a_long_history_keeps_every_path_right() {
    let env = Env::new();
    let files: Vec<String> = (0..60)
        .map(|i| format!("d{}/s{}/f{i}", i % 6, i % 4))
        .collect();
    for f in &files {
        env.write(f, "0");
    }
    env.commit("layer 0");
    // Which layers changed each file, newest first, as log must report it.
    let mut expected: Vec<Vec<String>> =
        files.iter().map(|_| vec!["layer 0".to_string()]).collect();
    let mut rng = Rng::new(14);
    let mut present = vec![true; files.len()];
    for layer in 1..=240 {
        let name = format!("layer {layer}");
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(files.len() as u64) as usize;
            if present[i] && rng.below(5) == 0 {
                remove(&env, &files[i]);
                present[i] = false;
            } else {
                env.write(&files[i], format!("{layer}"));
                present[i] = true;
            }
            if expected[i].last() != Some(&name) {
                expected[i].push(name.clone());
            }
        }
        env.commit(&name);
    }
    for (i, f) in files.iter().enumerate().step_by(7) {
        let mut want = expected[i].clone();
        want.reverse();
        assert_eq!(subjects(&env, &["--", f]), want, "{f}");
    }
    // A directory: the union of its files' layers.
    let mut dir: Vec<String> = files
        .iter()
        .zip(&expected)
        .filter(|(f, _)| f.starts_with("d1/s3/"))
        .flat_map(|(_, e)| e.iter().cloned())
        .collect();
    dir.sort_by_key(|s| std::cmp::Reverse(s[6..].parse::<u32>().unwrap()));
    dir.dedup();
    assert_eq!(subjects(&env, &["--", "d1/s3"]), dir);
    assert_eq!(
        subjects(&env, &["--", "d1/s3", "d1/s3/f7"]),
        dir,
        "overlapping paths once"
    );
}

#[test]
fn a_forged_tree_on_the_path_is_refused_not_believed() {
    use cairn::object::{EntryKind, Tree, TreeEntry};
    let env = Env::new();
    env.write("d/f", "1");
    env.commit("real");
    let repo = Repository::open(&env.root).unwrap();
    let algo = repo.algo();
    let (_, head) = repo.head().unwrap();
    let real = repo
        .read_tree(&repo.read_layer(&head.unwrap()).unwrap().tree)
        .unwrap();
    // A root that claims the id of one tree and holds another: `d` pointing elsewhere.
    let mut claimed = real.clone();
    claimed.entries.push(TreeEntry {
        name: b"e".to_vec(),
        kind: EntryKind::File,
        mode: 0o644,
        size: 1,
        mtime_ns: 0,
        id: real.entries[0].id,
    });
    let mut forged = claimed.clone();
    forged.entries[0].id = algo.hash(cairn::hash::Domain::TreeNode, b"elsewhere");
    let claimed_id = claimed.id(algo);
    let mut w = PackWriter::new(algo, PackClass::Meta, &repo.packs_dir(), &repo.tmp_dir());
    w.add(
        claimed_id,
        ObjectKind::Tree,
        &Encoded::raw(&Tree::encode(&forged)),
    )
    .unwrap();
    let layer = Layer {
        parent: head,
        tree: claimed_id,
        time_ns: JAN_2026,
        counts: LayerCounts::default(),
        author: "mallory".into(),
        message: "forged".into(),
    };
    let id = layer.id(algo);
    w.add(id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))
        .unwrap();
    w.finish().unwrap();
    let locked = repo.lock(std::time::Duration::from_secs(5)).unwrap();
    locked.refs().set(RefKind::Line, "main", &id).unwrap();
    drop(locked);

    assert_eq!(
        subjects(&env, &[]),
        ["forged", "real"],
        "log alone reads no trees"
    );
    let e = json_error(&env, &["log", "--", "d/f"]);
    assert_eq!(e["kind"], "corrupt", "{e}");
    let e = json_error(&env, &["log", "--name-only"]);
    assert_eq!(e["kind"], "corrupt", "{e}");
}

#[test]
fn a_path_deeper_than_any_tree_is_simply_absent() {
    let env = Env::new();
    env.write("a/f", "1");
    env.commit("one");
    let deep = "a/".repeat(3000) + "f";
    assert!(subjects(&env, &["--", &deep]).is_empty());
}

#[test]
fn log_finds_renames_as_show_does() {
    let env = Env::new();
    std::fs::write(env.path("old.csv"), "a,b\n1,2\n3,4\n").unwrap();
    env.commit("add");
    std::fs::rename(env.path("old.csv"), env.path("new.csv")).unwrap();
    env.commit("rename");
    let ns = env.ok(&["log", "--format", "%s", "--name-status", "-1"]);
    assert_eq!(ns, "rename\nR100\told.csv\tnew.csv\n");
    let show = env.ok(&["show", "--name-status"]);
    assert!(show.contains("R100\told.csv\tnew.csv"), "{show}");
}

#[test]
fn log_writes_patches_and_takes_rename_thresholds() {
    let env = Env::new();
    std::fs::write(env.path("f.txt"), "a\nb\nc\n").unwrap();
    env.commit("one");
    std::fs::write(env.path("f.txt"), "a\nB\nc\n").unwrap();
    env.commit("two");
    let p = env.ok(&["log", "-p", "-1", "--format", "%s"]);
    assert!(p.starts_with("two\ndiff --cairn a/f.txt b/f.txt\n"), "{p}");
    assert!(p.contains("@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"), "{p}");
    // A rename with an edit: found at the default threshold, not at -M100%.
    std::fs::remove_file(env.path("f.txt")).unwrap();
    std::fs::write(env.path("g.txt"), "a\nB\nc\nd\n").unwrap();
    env.commit("move");
    let found = env.ok(&["log", "--name-status", "-1", "--format", "%s"]);
    assert!(found.contains("\tf.txt\tg.txt"), "{found}");
    let strict = env.ok(&["log", "--name-status", "-1", "-M100%", "--format", "%s"]);
    assert_eq!(strict, "move\nD\tf.txt\nA\tg.txt\n");
}
