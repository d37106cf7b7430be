//! End-to-end tests of the read side (issue 3): layer references, tags and lines, show, ls,
//! cat with byte ranges, diff, checkout and restore, through the built `cairn` binary.

use std::collections::{BTreeMap, HashMap};
use std::fs;

use cairn::hash::ObjectId;
use cairn::object::{Layer, LayerCounts};
use cairn::pack::{Encoded, ObjectKind, PackClass, PackWriter};
use cairn::Repository;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::support;
use crate::support::{assert_same_tree, is_hex64, random_bytes, set_mtime, snapshot, Env, Node};

type Snapshot = BTreeMap<Vec<u8>, Node>;

/// The sorted keys of a JSON object.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        // Every document has it; tests/it/json_contract.rs checks it.
        .filter(|k| *k != "schema_version")
        .cloned()
        .collect();
    k.sort();
    k
}

fn id_of(env: &Env, spec: &str) -> String {
    let v = env.json(&["show", spec]);
    v["id"].as_str().expect("show --json has an id").to_string()
}

/// The shortest prefix (at least 4 digits) of `id` that no other id in `all` starts with.
fn unique_prefix(id: &str, all: &[&str]) -> String {
    (4..=64)
        .map(|n| &id[..n])
        .find(|p| all.iter().all(|o| *o == id || !o.starts_with(p)))
        .expect("ids differ")
        .to_string()
}

/// Three layers on main: `a` changes each time, `b` appears in the second.
fn three_layers(env: &Env) -> [String; 3] {
    env.write("a", "1\n");
    let l1 = env.commit("first");
    env.write("a", "2\n");
    env.write("b", "b\n");
    let l2 = env.commit("second");
    env.write("a", "3\n");
    let l3 = env.commit("third");
    [l1, l2, l3]
}

// ---------------------------------------------------------------------------------------
// references

#[test]
fn references_resolve_in_every_form() {
    let env = Env::new();
    let [l1, l2, l3] = three_layers(&env);
    // A line besides main: branch off the second layer.
    env.ok(&["checkout", "-q", &l2]);
    env.write("side.txt", "side\n");
    env.ok(&["add", "-q", "side.txt"]);
    let v = env.json(&["commit", "-b", "side", "-m", "side"]);
    let l4 = v["layer"].as_str().unwrap().to_string();
    env.ok(&["checkout", "-q", "main"]);
    env.ok(&["tag", "-q", "v1", &l1]);
    let all = [l1.as_str(), l2.as_str(), l3.as_str(), l4.as_str()];
    let p3 = unique_prefix(&l3, &all);
    let p1 = unique_prefix(&l1, &all);
    let cases: Vec<(String, &String)> = vec![
        (l3.clone(), &l3),
        (p3.clone(), &l3),
        (p1.clone(), &l1),
        (format!("{p3}~1"), &l2),
        ("HEAD".into(), &l3),
        ("HEAD~0".into(), &l3),
        ("HEAD~1".into(), &l2),
        ("HEAD~2".into(), &l1),
        ("HEAD^".into(), &l2),
        ("HEAD^^".into(), &l1),
        ("HEAD~1^".into(), &l1),
        ("HEAD~".into(), &l2),
        ("main".into(), &l3),
        ("main~2".into(), &l1),
        ("side".into(), &l4),
        ("side^".into(), &l2),
        ("side~2".into(), &l1),
        ("v1".into(), &l1),
    ];
    for (spec, want) in cases {
        assert_eq!(&id_of(&env, &spec), want, "reference {spec}");
    }
}

#[test]
fn references_work_in_every_command() {
    let env = Env::new();
    let [l1, l2, l3] = three_layers(&env);
    let p1 = unique_prefix(&l1, &[&l1, &l2, &l3]);
    assert_eq!(env.ok(&["cat", &format!("{p1}:a")]), "1\n");
    assert_eq!(env.ok(&["ls", &p1]), "a\n");
    assert_eq!(
        env.ok(&["diff", "--name-status", &p1, "HEAD"]),
        "M\ta\nA\tb\n"
    );
    env.ok(&["restore", "-q", &p1, "--to", "../r"]);
    assert_eq!(fs::read(env.outside("r/a")).unwrap(), b"1\n");
    env.ok(&["tag", "-q", "t1", &p1]);
    assert_eq!(id_of(&env, "t1"), l1);
    env.ok(&["checkout", "-q", &p1]);
    assert_eq!(env.read("a"), b"1\n");
    assert!(!env.path("b").exists());
}

#[test]
fn unknown_reference_lists_known_names() {
    let env = Env::new();
    three_layers(&env);
    env.ok(&["tag", "-q", "v1", "HEAD~1"]);
    for args in [
        vec!["show", "nosuch"],
        vec!["ls", "nosuch"],
        vec!["cat", "nosuch:a"],
        vec!["diff", "nosuch", "HEAD"],
        vec!["diff", "HEAD", "nosuch"],
        vec!["checkout", "nosuch"],
        vec!["restore", "nosuch", "--to", "../r"],
        vec!["tag", "t", "nosuch"],
    ] {
        let err = env.fails(&args);
        let line = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .expect("an error line");
        assert!(line.contains("nosuch"), "{args:?}: {line}");
        for known in ["HEAD", "main", "v1"] {
            assert!(line.contains(known), "{args:?} should list {known}: {line}");
        }
    }
    assert!(!env.outside("r").exists() || fs::read_dir(env.outside("r")).unwrap().count() == 0);
    let tags = env.ok(&["tag", "--list"]);
    assert!(
        !tags.contains("t "),
        "no tag made from an unknown reference: {tags}"
    );
}

#[test]
fn bad_references_are_errors() {
    let env = Env::new();
    let [l1, l2, l3] = three_layers(&env);
    // Three hex digits are too short even when they start the id of a layer.
    env.fails(&["show", &l3[..3]]);
    // A well-formed prefix that no layer has.
    let absent = (0..0x10000)
        .map(|n| format!("{n:04x}"))
        .find(|p| ![&l1, &l2, &l3].iter().any(|l| l.starts_with(p.as_str())))
        .unwrap();
    let err = env.fails(&["show", &absent]);
    assert!(err.contains(&absent), "{err}");
    assert!(err.contains("main"), "lists known names: {err}");
    // Walking past the first layer, and malformed suffixes.
    env.fails(&["show", "HEAD~3"]);
    env.fails(&["show", "HEAD^^^"]);
    env.fails(&["show", "HEAD~x"]);
    env.fails(&["show", "main~1x"]);
    // More than 64 digits, and not hex.
    env.fails(&["show", &format!("{l3}0")]);
    env.fails(&["show", "zzzz"]);
}

#[test]
fn no_layers_yet_is_an_error() {
    let env = Env::new();
    env.fails(&["show"]);
    env.fails(&["ls"]);
    env.fails(&["cat", "HEAD:a"]);
}

/// Layers crafted through the library until two ids share their first four hex digits
/// (a birthday search: a few hundred layers), then written into a pack.
fn craft_prefix_collision(env: &Env, head: &str) -> (String, String) {
    let repo = Repository::open(&env.root).expect("open repository");
    let head_id: ObjectId = head.parse().unwrap();
    let tree = repo.read_layer(&head_id).unwrap().tree;
    let mut seen: HashMap<String, (String, Option<Layer>)> = HashMap::new();
    seen.insert(head[..4].to_string(), (head.to_string(), None));
    for i in 0.. {
        let layer = Layer {
            parent: Some(head_id),
            tree,
            time_ns: 1_700_000_000_000_000_000 + i,
            counts: LayerCounts::default(),
            author: "probe".into(),
            message: format!("probe {i}"),
        };
        let id = layer.id(repo.algo()).to_hex();
        if let Some((other, other_layer)) = seen.get(&id[..4]) {
            let mut w = PackWriter::new(
                repo.algo(),
                PackClass::Meta,
                &repo.packs_dir(),
                &repo.tmp_dir(),
            );
            for l in [Some(&layer), other_layer.as_ref()].into_iter().flatten() {
                let lid = l.id(repo.algo());
                w.add(lid, ObjectKind::Layer, &Encoded::raw(&l.encode()))
                    .unwrap();
            }
            w.finish().unwrap();
            return (other.clone(), id);
        }
        seen.insert(id[..4].to_string(), (id, Some(layer)));
    }
    unreachable!()
}

#[test]
fn ambiguous_prefix_lists_candidates() {
    let env = Env::new();
    env.write("a", "1\n");
    let head = env.commit("one");
    let (x, y) = craft_prefix_collision(&env, &head);
    assert_eq!(x[..4], y[..4]);
    let err = env.fails(&["show", &x[..4]]);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(
        err.contains(&x) && err.contains(&y),
        "both candidates: {err}"
    );
    // One more digit than they share picks each one out.
    let common = x.bytes().zip(y.bytes()).take_while(|(a, b)| a == b).count();
    let px = &x[..(common + 1).max(4)];
    let py = &y[..(common + 1).max(4)];
    assert_eq!(id_of(&env, px), x);
    assert_eq!(id_of(&env, py), y);
}

// ---------------------------------------------------------------------------------------
// tags and lines

#[test]
fn tags_create_list_move_delete() {
    let env = Env::new();
    let [l1, l2, l3] = three_layers(&env);
    let out = env.ok(&["tag", "v3"]);
    assert!(out.contains("v3") && out.contains(&l3[..12]), "{out}");
    env.ok(&["tag", "-q", "v1", "HEAD~2"]);
    env.ok(&["tag", "-q", "v2.0-rc_1", &l2]);
    assert_eq!(
        env.ok(&["tag", "--list"]),
        format!("v1 {l1}\nv2.0-rc_1 {l2}\nv3 {l3}\n")
    );
    assert_eq!(env.ok(&["tag", "-l"]), env.ok(&["tag"]));
    let v = env.json(&["tag", "--list"]);
    let tags = v["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 3);
    assert_eq!(keys(&tags[0]), ["layer", "name"]);
    assert_eq!(tags[0]["name"], "v1");
    assert_eq!(tags[0]["layer"], l1.as_str());

    // An existing tag does not move without --force.
    env.fails(&["tag", "v1", "HEAD"]);
    assert_eq!(id_of(&env, "v1"), l1);
    env.ok(&["tag", "-q", "--force", "v1", "HEAD"]);
    assert_eq!(id_of(&env, "v1"), l3);

    let out = env.ok(&["tag", "-d", "v2.0-rc_1"]);
    assert!(out.contains("v2.0-rc_1"), "{out}");
    env.fails(&["show", "v2.0-rc_1"]);
    env.fails(&["tag", "-d", "v2.0-rc_1"]);
    env.fails(&["tag", "-d"]);
    assert_eq!(env.ok(&["tag", "--list"]), format!("v1 {l3}\nv3 {l3}\n"));

    for bad in ["a/b", "a b", "..", "../x", ".hidden"] {
        env.fails(&["tag", bad]);
    }
    assert_eq!(env.ok(&["tag", "--list"]), format!("v1 {l3}\nv3 {l3}\n"));
    // Deleting a tag leaves its layer alone.
    env.ok(&["tag", "-q", "-d", "v1"]);
    assert_eq!(id_of(&env, &l3), l3);
}

#[test]
fn tag_and_line_of_one_name_on_different_layers_is_ambiguous() {
    let env = Env::new();
    three_layers(&env);
    // cairn refuses to make such a tag; an older repository may have one.
    let err = env.fails(&["tag", "-q", "main", "HEAD~1"]);
    assert!(err.contains("a line is named main"), "{err}");
    let older = env.json(&["show", "HEAD~1"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(env.path(".cairn/refs/tags/main"), format!("{older}\n")).unwrap();
    let err = env.fails(&["show", "main"]);
    assert!(
        err.contains("ambiguous") && err.contains("tags/main"),
        "{err}"
    );
    assert_eq!(env.json(&["show", "tags/main"])["id"], older.as_str());
    assert_eq!(env.json(&["show", "lines/main"])["id"], env.head().as_str());
}

#[test]
fn commit_advances_main() {
    let env = Env::new();
    env.write("a", "1\n");
    env.ok(&["add", "-q", "a"]);
    let v = env.json(&["commit", "-m", "one"]);
    assert_eq!(v["line"], "main");
    assert_eq!(v["parent"], Value::Null);
    let l1 = v["layer"].as_str().unwrap().to_string();
    assert_eq!(id_of(&env, "main"), l1);
    env.write("a", "2\n");
    env.ok(&["add", "-q", "a"]);
    let v = env.json(&["commit", "-m", "two"]);
    let l2 = v["layer"].as_str().unwrap().to_string();
    assert_eq!(v["parent"], l1.as_str());
    assert_eq!(v["line"], "main");
    assert_eq!(id_of(&env, "main"), l2);
    assert_eq!(id_of(&env, "main~1"), l1);
    let (line, ..) = env.status();
    assert_eq!(line.as_deref(), Some("main"));
}

#[test]
fn detached_head_refuses_commit_until_a_line_is_named() {
    let env = Env::new();
    let [l1, _l2, l3] = three_layers(&env);
    let out = env.ok(&["checkout", "HEAD~2"]);
    assert!(out.contains("detached"), "{out}");
    assert_eq!(env.read("a"), b"1\n");
    assert!(!env.path("b").exists());
    let status = env.ok(&["status"]);
    assert!(
        status.contains(&format!("HEAD detached at {}", &l1[..12])),
        "{status}"
    );
    let (line, ..) = env.status();
    assert_eq!(line, None);
    assert_eq!(env.head(), l1);

    env.write("a", "detached work\n");
    env.ok(&["add", "-q", "a"]);
    let err = env.fails(&["commit", "-m", "would orphan"]);
    assert!(err.contains("commit -b"), "says what to do: {err}");
    assert_eq!(env.head(), l1, "HEAD did not move");
    assert_eq!(id_of(&env, "main"), l3, "main did not move");
    let (_, staged, ..) = env.status();
    assert_eq!(staged, ["a"], "the change is still staged");

    // An existing line's name is refused too.
    env.fails(&["commit", "-b", "main", "-m", "x"]);
    env.fails(&["commit", "-b", "bad/name", "-m", "x"]);
    assert_eq!(id_of(&env, "main"), l3);

    let v = env.json(&["commit", "-b", "topic", "-m", "on a new line"]);
    let l4 = v["layer"].as_str().unwrap().to_string();
    assert_eq!(v["line"], "topic");
    assert_eq!(v["parent"], l1.as_str());
    assert_eq!(id_of(&env, "topic"), l4);
    assert_eq!(id_of(&env, "main"), l3);
    let (line, ..) = env.status();
    assert_eq!(line.as_deref(), Some("topic"));
    assert!(env.ok(&["status"]).contains("On line topic"));

    // Back to the tip of main, attached.
    let out = env.ok(&["checkout", "main"]);
    assert!(!out.contains("detached"), "{out}");
    assert_eq!(env.read("a"), b"3\n");
    assert_eq!(env.read("b"), b"b\n");
    let (line, staged, unstaged, untracked) = env.status();
    assert_eq!(line.as_deref(), Some("main"));
    assert!(staged.is_empty() && unstaged.is_empty() && untracked.is_empty());
    // Commits advance main again.
    env.write("c", "c\n");
    let l5 = env.commit("after");
    assert_eq!(id_of(&env, "main"), l5);
    assert_eq!(id_of(&env, "main~1"), l3);
    assert_eq!(id_of(&env, "topic"), l4);
}

#[test]
fn checkout_by_id_of_the_tip_is_detached_and_json_says_so() {
    let env = Env::new();
    let [_, _, l3] = three_layers(&env);
    let v = env.json(&["checkout", &l3]);
    assert_eq!(v["detached"], true);
    assert_eq!(v["layer"], l3.as_str());
    let v = env.json(&["checkout", "main"]);
    assert_eq!(v["detached"], false);
    assert_eq!(v["line"], "main");
    assert_eq!(
        keys(&v),
        [
            "bytes",
            "created_line",
            "deleted",
            "detached",
            "head",
            "layer",
            "line",
            "paths_only",
            "written"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// show

#[test]
fn show_prints_metadata_and_changed_paths() {
    let env = Env::new();
    env.write("a", "1\n");
    env.write("gone", "g\n");
    env.write("d/x", "x\n");
    let l1 = env.commit("first");
    env.write("a", "22\n");
    fs::remove_file(env.path("gone")).unwrap();
    env.write("d/y", "y\n");
    env.ok(&["add", "-A", "-q"]);
    let v = env.json(&[
        "commit",
        "--author",
        "Ann <ann@example.org>",
        "-m",
        "second\n\nwith a body",
    ]);
    let l2 = v["layer"].as_str().unwrap().to_string();

    let text = env.ok(&["show"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("layer {l2} (HEAD -> main)"));
    assert!(lines.contains(&format!("Parent: {l1}").as_str()), "{text}");
    assert!(text.contains("Ann <ann@example.org>"), "{text}");
    assert!(lines.contains(&"    second"), "{text}");
    assert!(lines.contains(&"    with a body"), "{text}");
    let changes: Vec<&str> = lines.iter().copied().filter(|l| l.contains('\t')).collect();
    assert_eq!(changes, ["M\ta", "A\td/y", "D\tgone"]);

    let v = env.json(&["show", "HEAD"]);
    assert_eq!(
        keys(&v),
        [
            "author",
            "changes",
            "counts",
            "id",
            "message",
            "parent",
            "refs",
            "rename_limit_exceeded",
            "time",
            "time_ns",
            "tree"
        ]
    );
    assert_eq!(v["refs"]["lines"][0], "main");
    assert_eq!(v["id"], l2.as_str());
    assert_eq!(v["parent"], l1.as_str());
    assert_eq!(v["author"], "Ann <ann@example.org>");
    assert_eq!(v["message"], "second\n\nwith a body");
    assert!(is_hex64(v["tree"].as_str().unwrap()));
    assert_eq!(
        keys(&v["counts"]),
        ["added", "bytes", "deleted", "files", "modified"]
    );
    assert_eq!(v["counts"]["files"], 3);
    assert_eq!(v["counts"]["added"], 1);
    assert_eq!(v["counts"]["modified"], 1);
    assert_eq!(v["counts"]["deleted"], 1);
    let c = &v["changes"][0];
    assert_eq!(keys(c), ["change", "new_size", "old_size", "path"]);
    assert_eq!(c["path"], "a");
    assert_eq!(c["change"], "modified");
    assert_eq!(c["old_size"], 2);
    assert_eq!(c["new_size"], 3);

    // The first layer has no parent, and every path is added.
    let text = env.ok(&["show", "HEAD~1"]);
    assert!(text.starts_with(&format!("layer {l1}\n")), "{text}");
    assert!(!text.contains("Parent:"), "{text}");
    let v = env.json(&["show", &l1]);
    assert_eq!(v["parent"], Value::Null);
    assert_eq!(v["author"], "tester");
    let paths: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a", "d/x", "gone"]);
}

// ---------------------------------------------------------------------------------------
// ls

fn ls_tree(env: &Env) -> (String, String) {
    env.write("a.txt", "hello\n");
    env.write("run.sh", "#!/bin/sh\n");
    env.chmod("run.sh", 0o755);
    env.symlink("a.txt", "link");
    env.write("d/x", "x\n");
    env.write("d/e/y", "yy\n");
    let l1 = env.commit("one");
    env.write("d/z", "z\n");
    let l2 = env.commit("two");
    (l1, l2)
}

#[test]
fn ls_lists_layers_recursively_and_long() {
    let env = Env::new();
    let (l1, _l2) = ls_tree(&env);
    assert_eq!(env.ok(&["ls"]), "a.txt\nd/\nlink\nrun.sh\n");
    assert_eq!(
        env.ok(&["ls", "-r"]),
        "a.txt\nd/e/y\nd/x\nd/z\nlink\nrun.sh\n"
    );
    assert_eq!(env.ok(&["ls", "HEAD", "d"]), "d/e/\nd/x\nd/z\n");
    assert_eq!(env.ok(&["ls", "HEAD", "./d/"]), "d/e/\nd/x\nd/z\n");
    assert_eq!(env.ok(&["ls", "HEAD", "d", "-r"]), "d/e/y\nd/x\nd/z\n");
    assert_eq!(env.ok(&["ls", "HEAD", "d/x"]), "d/x\n");
    // An older layer has its own tree.
    assert_eq!(env.ok(&["ls", "HEAD~1", "d"]), "d/e/\nd/x\n");
    assert_eq!(
        env.ok(&["ls", "-r", &l1]),
        "a.txt\nd/e/y\nd/x\nlink\nrun.sh\n"
    );
    env.fails(&["ls", "HEAD", "nope"]);
    env.fails(&["ls", "HEAD~1", "d/z"]);

    let long = env.ok(&["ls", "-l"]);
    let rows: Vec<Vec<&str>> = long
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{long}");
    assert_eq!(rows[0][..3], ["file", "000644", "6"], "{long}");
    assert_eq!(rows[0][4], "a.txt");
    assert_eq!(rows[1][0], "dir");
    assert_eq!(rows[1][4], "d/");
    assert_eq!(rows[2][0], "link");
    assert_eq!(rows[2][2], "5", "a symlink's size is its target's length");
    assert_eq!(rows[3][..3], ["file", "000755", "10"], "{long}");
    for r in &rows {
        assert_eq!(r.len(), 5, "{long}");
        assert!(
            r[3].len() >= 8 && r[3].bytes().all(|b| b.is_ascii_hexdigit()),
            "{long}"
        );
    }
    let long_r = env.ok(&["ls", "-r", "-l", "HEAD", "d"]);
    assert_eq!(long_r.lines().count(), 3, "{long_r}");
    assert!(
        long_r.lines().all(|l| l.starts_with("file 000644")),
        "{long_r}"
    );

    let v = env.json(&["ls", "-r"]);
    assert_eq!(keys(&v), ["entries", "layer"]);
    let e = &v["entries"][0];
    assert_eq!(keys(e), ["id", "kind", "mode", "mtime_ns", "path", "size"]);
    assert_eq!(e["path"], "a.txt");
    assert_eq!(e["kind"], "file");
    assert_eq!(e["mode"], 0o644);
    assert_eq!(e["size"], 6);
    // The id in ls is the id of the content: the same file in another layer has the same id.
    let old = env.json(&["ls", "HEAD~1", "a.txt"]);
    assert_eq!(old["entries"][0]["id"], e["id"]);
}

#[test]
fn dot_names_the_layer_root() {
    let env = Env::new();
    ls_tree(&env);
    assert_eq!(env.ok(&["ls", "HEAD", "."]), env.ok(&["ls"]));
    env.ok(&["restore", "-q", "HEAD", ".", "--to", "../r"]);
    assert_eq!(fs::read(env.outside("r/d/x")).unwrap(), b"x\n");
}

// ---------------------------------------------------------------------------------------
// cat

#[test]
fn cat_prints_files_and_inclusive_ranges() {
    let env = Env::new();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    env.write("f.bin", &data);
    env.write("d/t.txt", "0123456789");
    env.write("empty", "");
    env.symlink("d/t.txt", "link");
    env.commit("one");
    env.write("d/t.txt", "changed");
    env.commit("two");

    assert_eq!(env.ok_bytes(&["cat", "HEAD:f.bin"]), data);
    assert_eq!(env.ok_bytes(&["cat", "HEAD:d/t.txt"]), b"changed");
    assert_eq!(env.ok_bytes(&["cat", "HEAD~1:d/t.txt"]), b"0123456789");
    assert_eq!(env.ok_bytes(&["cat", "HEAD~1:./d/t.txt"]), b"0123456789");
    assert_eq!(env.ok_bytes(&["cat", "HEAD:empty"]), b"");
    // `--range=...` keeps clap out of the way for `-N`; the separate form has its own test.
    let r = |range: &str| env.ok_bytes(&["cat", "HEAD~1:d/t.txt", &format!("--range={range}")]);
    assert_eq!(r("0-0"), b"0");
    assert_eq!(r("2-5"), b"2345");
    assert_eq!(r("0-9"), b"0123456789");
    assert_eq!(r("9-9"), b"9");
    assert_eq!(r("7-"), b"789");
    assert_eq!(r("0-"), b"0123456789");
    assert_eq!(r("-3"), b"789");
    assert_eq!(r("-10"), b"0123456789");
    assert_eq!(
        env.ok_bytes(&["cat", "HEAD:f.bin", "--range", "100-899"]),
        &data[100..900]
    );

    // Past the end, inverted, malformed: errors, and nothing on stdout.
    for range in [
        "0-10", "10-", "10-12", "-11", "-0", "5-4", "x", "1-2-3", "-", "",
    ] {
        let arg = format!("--range={range}");
        let out = env.run(&["cat", "HEAD~1:d/t.txt", &arg]);
        support::assert_error(&out, &["cat", &arg]);
        assert!(
            out.stdout.is_empty(),
            "--range {range:?} wrote {:?}",
            out.stdout
        );
    }
    env.fails(&["cat", "HEAD:empty", "--range", "0-0"]);
    env.fails(&["cat", "HEAD:nope"]);
    env.fails(&["cat", "HEAD:d"]);
    env.fails(&["cat", "HEAD"]);
    env.fails(&["cat", "HEAD~1:f.bin/x"]);

    let v = env.json(&["cat", "HEAD~1:d/t.txt", "--range", "2-4"]);
    assert_eq!(
        keys(&v),
        ["content_base64", "end", "layer", "path", "size", "start"]
    );
    assert_eq!(v["content_base64"], "MjM0");
    assert_eq!(v["start"], 2);
    assert_eq!(v["end"], 5);
    assert_eq!(v["size"], 10);
    assert_eq!(v["path"], "d/t.txt");
}

#[test]
fn cat_range_equals_slicing_for_random_ranges() {
    let env = Env::with_init(&["--chunk-size", "1K"]);
    let data = random_bytes(42, 300 * 1024 + 17);
    env.write("data.bin", &data);
    let layer = env.commit("data");

    // The file really is many chunks, so ranges cross chunk boundaries.
    let repo = Repository::open(&env.root).unwrap();
    let root = repo.read_layer(&layer.parse().unwrap()).unwrap().tree;
    let e = cairn::read::lookup(&repo, &root, b"data.bin")
        .unwrap()
        .unwrap();
    let chunks = repo.read_file(&e.id).unwrap().chunks;
    assert!(chunks.len() > 100, "{} chunks", chunks.len());
    assert_eq!(env.ok_bytes(&["cat", "HEAD:data.bin"]), data);

    let size = data.len() as u64;
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..size, 0..size, 0u8..4);
    runner
        .run(&strategy, |(a, b, form)| {
            let (lo, hi) = (a.min(b), a.max(b));
            let (range, want) = match form {
                0 | 1 => (format!("{lo}-{hi}"), &data[lo as usize..=hi as usize]),
                2 => (format!("{lo}-"), &data[lo as usize..]),
                _ => {
                    let n = hi.max(1);
                    (format!("-{n}"), &data[(size - n) as usize..])
                }
            };
            let got = env.ok_bytes(&["cat", "HEAD:data.bin", &format!("--range={range}")]);
            proptest::prop_assert!(got == want, "--range {} gave {} bytes", range, got.len());
            Ok(())
        })
        .unwrap();

    // Chunk edges exactly: the last byte of a chunk through the first of the next.
    let first = u64::from(chunks[0].len);
    let edge = format!("{}-{}", first - 1, first);
    assert_eq!(
        env.ok_bytes(&["cat", "HEAD:data.bin", "--range", &edge]),
        &data[first as usize - 1..=first as usize]
    );
    let last = format!("{}-{}", size - 1, size - 1);
    assert_eq!(
        env.ok_bytes(&["cat", "HEAD:data.bin", "--range", &last]),
        &data[data.len() - 1..]
    );
    env.fails(&["cat", "HEAD:data.bin", "--range", &format!("0-{size}")]);
    env.fails(&["cat", "HEAD:data.bin", "--range", &format!("{size}-")]);
    env.fails(&["cat", "HEAD:data.bin", &format!("--range=-{}", size + 1)]);
}

/// The issue's synopsis is `cat LAYER:PATH --range -N`: the last N bytes, with the range as
/// its own argument like every other form.
#[test]
fn cat_range_last_n_as_its_own_argument() {
    let env = Env::new();
    env.write("t.txt", "0123456789");
    env.commit("one");
    assert_eq!(
        env.ok_bytes(&["cat", "HEAD:t.txt", "--range", "-3"]),
        b"789"
    );
    assert_eq!(
        env.ok_bytes(&["cat", "--range", "-10", "HEAD:t.txt"]),
        b"0123456789"
    );
}

// ---------------------------------------------------------------------------------------
// diff

/// Two layers: `a` modified, `d/x` deleted, `d/z` added, `gone` deleted, `new` added, `tc` a
/// file turned symlink; `same` and `d/y` unchanged.
fn diff_layers(env: &Env) -> (String, String) {
    env.write("a", "one\n");
    env.write("d/x", "x\n");
    env.write("d/y", "y\n");
    env.write("gone", "g\n");
    env.write("tc", "file\n");
    env.write("same", "same\n");
    let l1 = env.commit("one");
    env.write("a", "one two\n");
    fs::remove_file(env.path("d/x")).unwrap();
    env.write("d/z", "zz\n");
    fs::remove_file(env.path("gone")).unwrap();
    env.write("new", "n\n");
    env.symlink("a", "tc");
    let l2 = env.commit("two");
    (l1, l2)
}

#[test]
fn diff_two_layers_in_every_format() {
    let env = Env::new();
    let (l1, l2) = diff_layers(&env);
    assert_eq!(
        env.ok(&["diff", "--name-status", &l1, &l2]),
        "M\ta\nD\td/x\nA\td/z\nD\tgone\nA\tnew\nT\ttc\n"
    );
    assert_eq!(
        env.ok(&["diff", "--name-status", &l2, &l1]),
        "M\ta\nA\td/x\nD\td/z\nA\tgone\nD\tnew\nT\ttc\n"
    );
    assert_eq!(env.ok(&["diff", &l1, &l1]), "");
    assert_eq!(
        env.ok(&["diff", "HEAD", "HEAD", "--stat"]).lines().count(),
        1
    );

    let default = env.ok(&["diff", "HEAD~1", "HEAD"]);
    let rows: Vec<Vec<&str>> = default
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 6, "{default}");
    assert_eq!(rows[0], ["M", "4", "->", "8", "a"]);
    assert_eq!(rows[1], ["D", "2", "->", "-", "d/x"]);
    assert_eq!(rows[2], ["A", "-", "->", "3", "d/z"]);

    let stat = env.ok(&["diff", "--stat", "HEAD~1", "HEAD"]);
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines.len(), 7, "{stat}");
    assert_eq!(lines[0].trim(), "a    | 4 B -> 8 B");
    assert_eq!(lines[1].trim(), "d/x  | 2 B -> -");
    assert!(lines[6].trim().starts_with("6 files changed"), "{stat}");

    let v = env.json(&["diff", &l1, &l2]);
    assert_eq!(keys(&v), ["changes", "from", "rename_limit_exceeded", "to"]);
    assert_eq!(v["from"], l1.as_str());
    assert_eq!(v["to"], l2.as_str());
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 6);
    assert_eq!(
        keys(&changes[0]),
        ["change", "new_size", "old_size", "path"]
    );
    let kinds: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c["path"].as_str().unwrap(), c["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a", "modified"),
            ("d/x", "deleted"),
            ("d/z", "added"),
            ("gone", "deleted"),
            ("new", "added"),
            ("tc", "typechange")
        ]
    );
    assert_eq!(changes[0]["old_size"], 4);
    assert_eq!(changes[0]["new_size"], 8);
    assert_eq!(changes[1]["new_size"], Value::Null);
    assert_eq!(changes[2]["old_size"], Value::Null);
}

#[test]
fn diff_paths_filter_relative_to_cwd() {
    let env = Env::new();
    let (l1, l2) = diff_layers(&env);
    assert_eq!(
        env.ok(&["diff", "--name-status", &l1, &l2, "--", "d"]),
        "D\td/x\nA\td/z\n"
    );
    assert_eq!(
        env.ok(&["diff", "--name-status", &l1, &l2, "--", "a", "new", "same"]),
        "M\ta\nA\tnew\n"
    );
    assert_eq!(
        env.ok(&["diff", "--name-status", &l1, &l2, "--", "d/y"]),
        ""
    );
    // From a subdirectory, paths are relative to it.
    let sub = env.path("d");
    assert_eq!(
        env.ok_in(&sub, &["diff", "--name-status", &l1, &l2, "--", "z"]),
        "A\td/z\n"
    );
    assert_eq!(
        env.ok_in(&sub, &["diff", "--name-status", &l1, &l2, "--", "../a"]),
        "M\ta\n"
    );
    let v = env.json(&["diff", &l1, &l2, "--", "d"]);
    assert_eq!(v["changes"].as_array().unwrap().len(), 2);
}

#[test]
fn diff_index_against_worktree_and_layer_against_worktree() {
    let env = Env::new();
    let (l1, _l2) = diff_layers(&env);
    assert_eq!(env.ok(&["diff"]), "", "a clean worktree");
    env.write("a", "worktree edit\n");
    fs::remove_file(env.path("same")).unwrap();
    env.write("untracked", "u\n");
    assert_eq!(env.ok(&["diff", "--name-status"]), "M\ta\nD\tsame\n");
    let v = env.json(&["diff"]);
    assert_eq!(v["from"], "index");
    assert_eq!(v["to"], "worktree");
    assert_eq!(v["changes"][0]["old_size"], 8);
    assert_eq!(v["changes"][0]["new_size"], 14);

    // Staged changes leave the index-worktree diff; they still differ from the layers.
    env.ok(&["add", "-q", "a"]);
    assert_eq!(env.ok(&["diff", "--name-status"]), "D\tsame\n");
    assert_eq!(
        env.ok(&["diff", "--name-status", "HEAD"]),
        "M\ta\nD\tsame\n"
    );
    // An unstaged change on top of a staged one: the worktree wins against a layer.
    env.write("d/y", "y changed\n");
    assert_eq!(
        env.ok(&["diff", "--name-status", &l1]),
        "M\ta\nD\td/x\nM\td/y\nA\td/z\nD\tgone\nA\tnew\nD\tsame\nT\ttc\n"
    );
    let v = env.json(&["diff", &l1, "--", "d"]);
    assert_eq!(v["from"], l1.as_str());
    assert_eq!(v["to"], "worktree");
    assert_eq!(v["changes"].as_array().unwrap().len(), 3);
    assert_eq!(env.ok(&["diff", "--name-status", "--", "d"]), "M\td/y\n");
}

// ---------------------------------------------------------------------------------------
// round trip: restore and checkout of layers full of edge cases

const NON_UTF8: &[u8] = b"raw\xffname\xfe";
const NEWLINE: &str = "with space/and\nnewline";
const BIG: usize = 5 << 20;

fn deep(tag: &str) -> String {
    let dirs: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
    format!("{}/{tag}.txt", dirs.join("/"))
}

/// Commits four layers of a tree full of edge cases; returns each layer's id and the
/// worktree as it was when the layer was committed.
fn edge_layers(env: &Env) -> Vec<(String, Snapshot)> {
    let mut big = random_bytes(5, BIG);
    let mut layers = Vec::new();
    let mut commit = |env: &Env, msg: &str| {
        let id = env.commit(msg);
        layers.push((id, snapshot(&env.root, &[".cairn"])));
    };

    env.write(".cairnignore", "*.log\n");
    env.write("a.txt", "hello\n");
    env.set_mtime("a.txt", 1_600_000_000_123_456_789);
    env.write("bin/run.sh", "#!/bin/sh\necho run\n");
    env.chmod("bin/run.sh", 0o755);
    env.write("secret", "s3cr3t\n");
    env.chmod("secret", 0o600);
    env.write("readonly.txt", "do not touch\n");
    env.chmod("readonly.txt", 0o444);
    env.write("empty", "");
    env.write("sub/empty2", "");
    env.write("sub/keep.txt", "kept\n");
    env.symlink("a.txt", "link");
    env.symlink("no/such/target", "dangling");
    env.symlink("bin", "linkdir");
    env.symlink("/nonexistent/cairn/absolute", "abslink");
    env.write(NON_UTF8, "bytes in a name that is not UTF-8\n");
    env.write(NEWLINE, "a newline in a name\n");
    env.write(deep("leaf"), "forty levels down\n");
    env.write("big.bin", &big);
    env.write("old.txt", "before 1970\n");
    env.set_mtime("old.txt", -1_234_567_891);
    env.write("dirfile/inner", "inside a dir\n");
    env.write("tc", "a file for now\n");
    env.set_mtime("tc", 1_500_000_000_000_000_001);
    commit(env, "one");

    for b in &mut big[BIG / 2..BIG / 2 + 100] {
        *b = b.wrapping_add(1);
    }
    env.write("big.bin", &big);
    env.write("a.txt", "hello again\n");
    env.chmod("secret", 0o640);
    fs::remove_file(env.path("sub/empty2")).unwrap();
    env.write("new/dir/file.txt", "new\n");
    env.symlink("bin/run.sh", "link");
    env.symlink("a.txt", "tc");
    commit(env, "two");

    fs::remove_dir_all(env.path("dirfile")).unwrap();
    env.write("dirfile", "now a file\n");
    big.splice(1000..1000, random_bytes(6, 777)).for_each(drop);
    env.write("big.bin", &big);
    fs::remove_dir_all(env.path("d00")).unwrap();
    env.write(NON_UTF8, "changed\n");
    env.write("empty3", "");
    commit(env, "three");

    env.write(deep("other"), "back again, other name\n");
    fs::remove_file(env.path("dirfile")).unwrap();
    env.write("dirfile/x", "a dir again\n");
    fs::remove_dir_all(env.path("with space")).unwrap();
    fs::remove_file(env.path("tc")).unwrap();
    env.write("tc", "a file again\n");
    fs::remove_dir_all(env.path("sub")).unwrap();
    big.truncate(BIG - 4096);
    env.write("big.bin", &big);
    commit(env, "four");
    layers
}

#[test]
fn restore_reproduces_every_layer_exactly() {
    let env = Env::new();
    let layers = edge_layers(&env);
    // The snapshots hold what matters: all four differ, and the edge cases are there.
    let first = &layers[0].1;
    assert!(first.contains_key(NON_UTF8));
    assert!(first.contains_key(NEWLINE.as_bytes()));
    assert!(first.contains_key(deep("leaf").as_bytes()));
    assert!(matches!(first[&b"old.txt"[..]], Node::File { mtime_ns, .. } if mtime_ns < 0));
    let before = env.status();
    for (i, (id, want)) in layers.iter().enumerate() {
        let to = format!("../restored{i}");
        let v = env.json(&["restore", id, "--to", &to]);
        let out = env.outside(&format!("restored{i}"));
        assert_eq!(v["to"], out.to_str().unwrap());
        assert_eq!(
            keys(&v),
            ["bytes", "dirs", "files", "layer", "symlinks", "to"]
        );
        let files = want
            .values()
            .filter(|n| matches!(n, Node::File { .. }))
            .count();
        let links = want
            .values()
            .filter(|n| matches!(n, Node::Symlink { .. }))
            .count();
        assert_eq!(v["files"], files as u64, "layer {i}");
        assert_eq!(v["symlinks"], links as u64, "layer {i}");
        assert_same_tree(
            want,
            &snapshot(&out, &[]),
            &[],
            &format!("restore of layer {i}"),
        );
    }
    assert_eq!(
        env.status(),
        before,
        "restore leaves the worktree and index alone"
    );
}

#[test]
fn checkout_back_and_forth_matches_each_layer() {
    let env = Env::new();
    let layers = edge_layers(&env);
    // Untracked and ignored files, one ignored inside a directory some layers delete.
    env.write("notes-untracked.txt", "mine\n");
    env.write("top.log", "ignored\n");
    env.write("sub/keep.log", "ignored in sub\n");
    let extra: [&[u8]; 3] = [b"notes-untracked.txt", b"top.log", b"sub/keep.log"];
    for i in [0, 2, 1, 3, 0, 1, 2] {
        let (id, want) = &layers[i];
        env.ok(&["checkout", "-q", id]);
        let what = format!("checkout of layer {i}");
        assert_same_tree(want, &snapshot(&env.root, &[".cairn"]), &extra, &what);
        let (line, staged, unstaged, untracked) = env.status();
        assert_eq!(line, None, "{what}: detached");
        assert!(staged.is_empty(), "{what}: staged {staged:?}");
        assert!(unstaged.is_empty(), "{what}: unstaged {unstaged:?}");
        assert!(
            untracked.iter().all(|u| u == "notes-untracked.txt"),
            "{what}: untracked {untracked:?}"
        );
        assert_eq!(env.head(), *id);
        assert_eq!(env.read("notes-untracked.txt"), b"mine\n");
        assert_eq!(env.read("top.log"), b"ignored\n");
        assert_eq!(env.read("sub/keep.log"), b"ignored in sub\n");
    }
    env.ok(&["checkout", "-q", "main"]);
    assert_same_tree(
        &layers[3].1,
        &snapshot(&env.root, &[".cairn"]),
        &extra,
        "checkout of main",
    );
    assert_eq!(env.status().0.as_deref(), Some("main"));
}

// ---------------------------------------------------------------------------------------
// checkout: refusals, --force, paths

/// Layer 1: alpha, beta, gamma, keep, dd/f. Layer 2: alpha and beta changed, gamma and
/// dd gone. HEAD is left at layer 2 on main.
fn checkout_layers(env: &Env) -> (String, String) {
    env.write("alpha.txt", "a1\n");
    env.write("beta.txt", "b1\n");
    env.write("gamma.txt", "c1\n");
    env.write("keep.txt", "keep\n");
    env.write("dd/f.txt", "f1\n");
    let l1 = env.commit("one");
    env.write("alpha.txt", "a2\n");
    env.write("beta.txt", "b2\n");
    fs::remove_file(env.path("gamma.txt")).unwrap();
    fs::remove_dir_all(env.path("dd")).unwrap();
    let l2 = env.commit("two");
    (l1, l2)
}

/// The worktree (without .cairn), HEAD and the status, to show a refused checkout
/// touched nothing.
type State = (
    Snapshot,
    String,
    (Option<String>, Vec<String>, Vec<String>, Vec<String>),
);

fn state(env: &Env) -> State {
    (snapshot(&env.root, &[".cairn"]), env.head(), env.status())
}

fn error_line(err: &str) -> &str {
    err.lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error line")
}

#[test]
fn checkout_refuses_to_lose_a_modified_file() {
    let env = Env::new();
    let (l1, _) = checkout_layers(&env);
    env.write("alpha.txt", "local edit\n");
    let before = state(&env);
    let err = env.fails(&["checkout", &l1]);
    let line = error_line(&err);
    assert!(line.contains("alpha.txt"), "{err}");
    assert!(
        !line.contains("beta.txt"),
        "clean files are not listed: {err}"
    );
    assert_eq!(state(&env), before, "nothing touched");
    env.ok(&["checkout", "-q", "--force", &l1]);
    assert_eq!(env.read("alpha.txt"), b"a1\n");
    assert_eq!(env.read("gamma.txt"), b"c1\n");
    assert_eq!(env.head(), l1);
}

#[test]
fn checkout_refuses_to_lose_a_staged_change() {
    let env = Env::new();
    let (l1, _) = checkout_layers(&env);
    env.write("beta.txt", "staged edit\n");
    env.ok(&["add", "-q", "beta.txt"]);
    let before = state(&env);
    let err = env.fails(&["checkout", &l1]);
    let line = error_line(&err);
    assert!(line.contains("beta.txt"), "{err}");
    assert!(!line.contains("alpha.txt"), "{err}");
    assert_eq!(state(&env), before, "nothing touched");
    assert_eq!(before.2 .1, ["beta.txt"], "still staged");
    // A staged new file the target lacks would be deleted: refused too.
    env.write("beta.txt", "b2\n");
    env.ok(&["add", "-q", "beta.txt"]);
    env.write("brand-new", "new\n");
    env.ok(&["add", "-q", "brand-new"]);
    let err = env.fails(&["checkout", &l1]);
    assert!(error_line(&err).contains("brand-new"), "{err}");
    assert_eq!(env.read("brand-new"), b"new\n");
}

#[test]
fn checkout_refuses_to_overwrite_untracked_files() {
    let env = Env::new();
    let (l1, _) = checkout_layers(&env);
    env.write("gamma.txt", "untracked, in the way\n");
    env.write("alpha.txt", "also dirty\n");
    let before = state(&env);
    let err = env.fails(&["checkout", &l1]);
    let line = error_line(&err);
    assert!(line.contains("alpha.txt"), "{line}");
    assert!(line.contains("gamma.txt"), "lists every path: {line}");
    assert!(!line.contains("beta.txt"), "{line}");
    assert_eq!(state(&env), before, "nothing touched");

    // An untracked file where the layer needs a directory.
    env.write("alpha.txt", "a2\n");
    fs::remove_file(env.path("gamma.txt")).unwrap();
    env.write("dd", "a file where a directory goes\n");
    let before = state(&env);
    let err = env.fails(&["checkout", &l1]);
    assert!(error_line(&err).contains("dd"), "{err}");
    assert_eq!(state(&env), before, "nothing touched");

    env.write("gamma.txt", "untracked, in the way\n");
    env.ok(&["checkout", "-q", "-f", &l1]);
    assert_eq!(env.read("gamma.txt"), b"c1\n");
    assert_eq!(env.read("dd/f.txt"), b"f1\n");
    let (_, staged, unstaged, untracked) = env.status();
    assert!(staged.is_empty() && unstaged.is_empty() && untracked.is_empty());
}

#[test]
fn checkout_keeps_local_changes_it_does_not_touch() {
    let env = Env::new();
    let (l1, _) = checkout_layers(&env);
    env.write("keep.txt", "edited, same in both layers\n");
    env.ok(&["checkout", "-q", &l1]);
    assert_eq!(env.read("keep.txt"), b"edited, same in both layers\n");
    assert_eq!(env.read("alpha.txt"), b"a1\n");
    let (_, _, unstaged, _) = env.status();
    assert_eq!(unstaged, ["keep.txt"]);
}

#[test]
fn checkout_paths_brings_back_only_those_and_keeps_head() {
    let env = Env::new();
    let (l1, l2) = checkout_layers(&env);
    env.ok(&["checkout", "-q", &l1, "--", "alpha.txt"]);
    assert_eq!(env.read("alpha.txt"), b"a1\n");
    assert_eq!(env.read("beta.txt"), b"b2\n");
    assert!(!env.path("gamma.txt").exists());
    assert_eq!(env.head(), l2);
    let (line, staged, unstaged, _) = env.status();
    assert_eq!(line.as_deref(), Some("main"), "HEAD stays on its line");
    assert_eq!(staged, ["alpha.txt"], "the older version is staged");
    assert!(unstaged.is_empty());

    // A directory, then a path relative to the current directory.
    env.ok(&["checkout", "-q", &l1, "--", "dd"]);
    assert_eq!(env.read("dd/f.txt"), b"f1\n");
    assert!(!env.path("gamma.txt").exists());
    env.fails(&["checkout", &l1, "--", "nope"]);
    assert_eq!(env.head(), l2);
    // alpha.txt's older version is staged: naming the path is the consent to replace it
    // with HEAD's, as in git (issue 14).
    let dd = env.path("dd");
    env.ok_in(&dd, &["checkout", "-q", "HEAD", "--", "../alpha.txt"]);
    assert_eq!(env.read("alpha.txt"), b"a2\n");
    assert_eq!(env.status().1, ["dd/f.txt"], "alpha.txt no longer staged");

    // A local edit of a named path is overwritten too, with or without --force.
    env.write("beta.txt", "dirty\n");
    env.ok(&["checkout", "-q", &l1, "--", "beta.txt"]);
    assert_eq!(env.read("beta.txt"), b"b1\n");
    assert_eq!(env.head(), l2);
    assert_eq!(env.status().0.as_deref(), Some("main"));
}

/// `checkout LAYER -- PATH` of a file whose edits are not staged: the file's staged state
/// already equals the layer, but the worktree does not. Naming the path is the consent to
/// overwrite it, as git's `checkout HEAD -- PATH` does: the layer's version comes back.
#[test]
fn checkout_paths_brings_back_a_file_with_unstaged_edits() {
    let env = Env::new();
    checkout_layers(&env);
    env.write("beta.txt", "unstaged edit\n");
    env.ok(&["checkout", "-q", "HEAD", "--", "beta.txt"]);
    assert_eq!(env.read("beta.txt"), b"b2\n");
    let (_, staged, unstaged, _) = env.status();
    assert!(
        staged.is_empty() && unstaged.is_empty(),
        "{staged:?} {unstaged:?}"
    );
}

/// `checkout --force LAYER` overwrites local changes: afterwards the tracked files are
/// the layer's, edits to files the layers share included.
#[test]
fn checkout_force_leaves_the_worktree_equal_to_the_layer() {
    let env = Env::new();
    let (l1, _) = checkout_layers(&env);
    env.write("keep.txt", "edited, same in both layers\n");
    env.write("alpha.txt", "edited\n");
    env.ok(&["checkout", "-q", "--force", &l1]);
    assert_eq!(env.read("alpha.txt"), b"a1\n");
    assert_eq!(env.read("keep.txt"), b"keep\n");
    let (_, staged, unstaged, _) = env.status();
    assert!(
        staged.is_empty() && unstaged.is_empty(),
        "{staged:?} {unstaged:?}"
    );
}

/// `checkout LAYER -- x/y` where the current layer tracks a file `x`: the file makes way
/// for the directory, and the index stays consistent (every command keeps working).
#[test]
fn checkout_path_below_a_tracked_file() {
    let env = Env::new();
    env.write("x", "a file\n");
    env.write("other", "o\n");
    let l1 = env.commit("file");
    fs::remove_file(env.path("x")).unwrap();
    env.write("x/y", "below\n");
    let l2 = env.commit("dir");
    env.ok(&["checkout", "-q", "--force", &l1]);
    assert_eq!(env.read("x"), b"a file\n");
    env.ok(&["checkout", "-q", &l2, "--", "x/y"]);
    assert_eq!(env.read("x/y"), b"below\n");
    env.ok(&["status"]);
    env.ok(&["checkout", "-q", "--force", "main"]);
    assert_eq!(env.read("x/y"), b"below\n");
}

/// A clean worktree where a directory of tracked files becomes a file of the same name,
/// and back: nothing is lost, so nothing is refused.
#[test]
fn checkout_turns_a_directory_into_a_file_and_back() {
    let env = Env::new();
    env.write("x/inner", "in a dir\n");
    env.write("other", "o\n");
    let l1 = env.commit("dir");
    fs::remove_dir_all(env.path("x")).unwrap();
    env.write("x", "a file now\n");
    let l2 = env.commit("file");
    env.ok(&["checkout", "-q", &l1]);
    assert_eq!(env.read("x/inner"), b"in a dir\n");
    env.ok(&["checkout", "-q", &l2]);
    assert_eq!(env.read("x"), b"a file now\n");
    env.ok(&["checkout", "-q", &l1]);
    assert_eq!(env.read("x/inner"), b"in a dir\n");
}

// ---------------------------------------------------------------------------------------
// restore

#[test]
fn restore_paths_and_destinations() {
    let env = Env::new();
    env.write("a", "a\n");
    env.write("d/x", "x\n");
    env.write("d/e/y", "y\n");
    env.write("z", "z\n");
    let l1 = env.commit("one");
    env.write("a", "a2\n");
    env.commit("two");

    env.ok(&["restore", "-q", &l1, "a", "--to", "../one-file"]);
    let got = snapshot(&env.outside("one-file"), &[]);
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), [b"a".to_vec()]);
    assert_eq!(fs::read(env.outside("one-file/a")).unwrap(), b"a\n");

    env.ok(&["restore", "-q", "HEAD", "d", "--to", "../one-dir/nested"]);
    let keys: Vec<Vec<u8>> = snapshot(&env.outside("one-dir/nested"), &[])
        .into_keys()
        .collect();
    assert_eq!(
        keys,
        [
            b"d".to_vec(),
            b"d/e".to_vec(),
            b"d/e/y".to_vec(),
            b"d/x".to_vec()
        ]
    );

    env.ok(&["restore", "-q", "HEAD", "d/e/y", "z", "--to", "../two"]);
    let keys: Vec<Vec<u8>> = snapshot(&env.outside("two"), &[]).into_keys().collect();
    assert_eq!(
        keys,
        [
            b"d".to_vec(),
            b"d/e".to_vec(),
            b"d/e/y".to_vec(),
            b"z".to_vec()
        ]
    );

    env.fails(&["restore", "HEAD", "nope", "--to", "../none"]);
    let none = env.outside("none");
    assert!(!none.exists() || fs::read_dir(&none).unwrap().count() == 0);
}

#[test]
fn restore_into_a_non_empty_directory_needs_force() {
    let env = Env::new();
    env.write("a", "a\n");
    env.write("d/x", "x\n");
    env.commit("one");
    let dest = env.outside("dest");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("mine"), "not cairn's\n").unwrap();
    fs::write(dest.join("a"), "will be replaced\n").unwrap();
    set_mtime(&dest.join("mine"), 1_000_000_000);
    let before = snapshot(&dest, &[]);
    let err = env.fails(&["restore", "HEAD", "--to", "../dest"]);
    assert!(err.contains("--force"), "says what to do: {err}");
    assert_eq!(snapshot(&dest, &[]), before, "nothing touched");

    env.ok(&["restore", "-q", "--force", "HEAD", "--to", "../dest"]);
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"a\n");
    assert_eq!(fs::read(dest.join("d/x")).unwrap(), b"x\n");
    assert_eq!(fs::read(dest.join("mine")).unwrap(), b"not cairn's\n");
    // An empty existing directory is fine without --force.
    fs::create_dir(env.outside("empty-dest")).unwrap();
    env.ok(&["restore", "-q", "HEAD", "--to", "../empty-dest"]);
    assert_eq!(fs::read(env.outside("empty-dest/a")).unwrap(), b"a\n");
}

// ---------------------------------------------------------------------------------------
// arguments that name paths of any bytes, and pipes closed early

/// `ls`, `cat`, `restore` and `prove` take a layer path that is not UTF-8: an argument is
/// bytes, as a file name is. They used to refuse it before running.
#[test]
fn layer_paths_may_be_any_bytes() {
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let env = Env::new();
    env.write(b"d\xff/f\xfe", "not UTF-8 at all\n");
    env.write("d\u{e9}/ok", "UTF-8\n");
    env.commit("odd");
    let arg = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());

    let cat = env.ok_bytes(&[arg(b"cat"), arg(b"HEAD:d\xff/f\xfe")]);
    assert_eq!(cat, b"not UTF-8 at all\n");
    let ranged = [
        arg(b"cat"),
        arg(b"HEAD:./d\xff//f\xfe"),
        arg(b"--range=4-6"),
    ];
    assert_eq!(env.ok_bytes(&ranged), b"UTF");
    let ls = env.ok_bytes(&[arg(b"ls"), arg(b"HEAD"), arg(b"d\xff")]);
    assert_eq!(ls, b"\"d\\377/f\\376\"\n", "ls quotes the name as git does");
    env.ok(&[
        arg(b"restore"),
        arg(b"HEAD"),
        arg(b"d\xff"),
        arg(b"--to=../r"),
    ]);
    let restored = env.outside("r").join(OsStr::from_bytes(b"d\xff/f\xfe"));
    assert_eq!(fs::read(restored).unwrap(), b"not UTF-8 at all\n");
    assert!(
        !env.outside("r").join("d\u{e9}").exists(),
        "only the path asked for"
    );

    let proof = env.ok_bytes(&[arg(b"prove"), arg(b"HEAD:d\xff/f\xfe"), arg(b"--content")]);
    fs::write(env.outside("p.json"), &proof).unwrap();
    let v = env.json(&["verify-proof", "../p.json"]);
    assert_eq!(v["path_hex"], "64ff2f66fe");
    assert_eq!(v["range"]["len"], 17);

    // A missing one is still an error naming the bytes, and the layer part must be UTF-8.
    let out = env.run(&[arg(b"cat"), arg(b"HEAD:d\xff/nope")]);
    support::assert_error(&out, &["cat"]);
    let out = env.run(&[arg(b"cat"), arg(b"HE\xffAD:d\xff/f\xfe")]);
    support::assert_error(&out, &["cat"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}

/// `cat big | head -c 10`: the reader leaves early, which is not an error (exit 0, nothing on
/// stderr), as for ripgrep. It used to exit 2 with "Broken pipe".
#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let env = Env::new();
    // Far more than the pipe and cairn's output buffer hold, so writes are still to come.
    env.write("big", random_bytes(9, 8 << 20));
    env.commit("big");
    for args in [&["cat", "HEAD:big"][..], &["--json", "cat", "HEAD:big"]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .current_dir(&env.root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // The read end is closed here, as `head` closes it.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
