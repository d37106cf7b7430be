//! Pushing many references and forcing one, against `file://` remotes: `push --tags`,
//! `push --all` (one upload, each reference's result), tags travelling with clone and pull,
//! `push --force` after a rewritten history, and forced pushes racing each other. The same
//! against a real S3 server is in `remote_s3.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{assert_failure, assert_success, TestRepo};

/// A repository with a `file://` remote `origin` in a directory of its own.
struct Pair {
    a: TestRepo,
    store: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        let a = TestRepo::new();
        let store = tempfile::Builder::new()
            .prefix("cairn-remote-")
            .tempdir()
            .unwrap();
        let p = Pair { a, store };
        p.a.ok(&["remote", "add", "origin", &p.url()]);
        p
    }

    fn url(&self) -> String {
        format!("file://{}", self.store.path().display())
    }

    /// The layer the remote's `refs/<kind>/<name>` names, if any.
    fn remote_ref(&self, reference: &str) -> Option<String> {
        let p: PathBuf = self.store.path().join("refs").join(reference);
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Writes `file` and commits it; returns the layer id.
    fn layer(&self, file: &str, msg: &str) -> String {
        self.a.write(file, format!("{msg}\n"));
        self.a.ok(&["add", "-A", "-q"]);
        self.a.commit(msg)
    }
}

/// The JSON document on stdout, whatever the exit code.
fn doc(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `reference -> result` of a push of many.
fn results(v: &Value) -> Vec<(String, String)> {
    v["references"]
        .as_array()
        .unwrap_or_else(|| panic!("no references: {v}"))
        .iter()
        .map(|r| {
            (
                r["reference"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The ids of the layers of HEAD's history in the repository at `dir`, newest first.
fn chain(t: &TestRepo, dir: &Path) -> Vec<String> {
    let out = t.run_in(dir, &["--json", "log"]);
    assert_success(&out, &["log"]);
    doc(&out)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn push_tags_sends_what_the_remote_lacks_and_never_moves_a_differing_tag() {
    let p = Pair::new();
    let one = p.layer("f", "one");
    p.a.ok(&["tag", "v1"]);
    let two = p.layer("f", "two");
    p.a.ok(&["tag", "v2"]);
    let v = p.a.json(&["push", "--tags"]);
    assert_eq!(
        results(&v),
        pairs(&[("tags/v1", "created"), ("tags/v2", "created")])
    );
    assert_eq!(v["refused"], 0);
    assert!(v["packs_uploaded"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(p.remote_ref("tags/v1"), Some(one.clone()));
    assert_eq!(p.remote_ref("tags/v2"), Some(two.clone()));
    assert_eq!(p.remote_ref("lines/main"), None, "--tags pushes no line");

    // v2 moved here, v3 new: v3 goes, v2 is refused and reported, the remote's v2 stays.
    p.a.ok(&["tag", "-d", "v2"]);
    p.a.ok(&["tag", "v2", &one]);
    p.a.ok(&["tag", "v3", &two]);
    for force in [false, true] {
        let mut args = vec!["--json", "push", "--tags"];
        if force {
            args.push("--force");
        }
        let out = p.a.run(&args);
        assert_eq!(out.status.code(), Some(1), "a refused tag exits 1: {out:?}");
        let v = doc(&out);
        assert_eq!(
            results(&v),
            pairs(&[
                ("tags/v1", "up_to_date"),
                ("tags/v2", "refused"),
                ("tags/v3", if force { "up_to_date" } else { "created" }),
            ]),
            "force={force}"
        );
        assert_eq!(v["refused"], 1);
        let reason = v["references"][1]["reason"].as_str().unwrap();
        assert!(reason.contains("tags do not move"), "{reason}");
        assert_eq!(p.remote_ref("tags/v2"), Some(two.clone()), "never moved");
        assert_eq!(p.remote_ref("tags/v3"), Some(two.clone()));
    }
    // The text says the same.
    let out = p.a.run(&["push", "--tags"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refused     tags/v2"), "{text}");
    assert!(text.contains("1 reference refused"), "{text}");
}

#[test]
fn push_all_sends_lines_and_tags_and_tags_travel_with_clone_and_pull() {
    let p = Pair::new();
    let one = p.layer("f", "one");
    p.a.ok(&["tag", "v1"]);
    p.a.ok(&["line", "dev"]);
    let two = p.layer("g", "two");
    let v = p.a.json(&["push", "--all"]);
    assert_eq!(
        results(&v),
        pairs(&[
            ("lines/main", "created"),
            ("lines/dev", "created"),
            ("tags/v1", "created")
        ]),
        "HEAD's line first"
    );
    assert_eq!(p.remote_ref("lines/main"), Some(two.clone()));
    assert_eq!(p.remote_ref("lines/dev"), Some(one.clone()));

    // A clone gets every line and tag.
    let b = TestRepo::empty();
    let c = b.json(&["clone", &p.url(), "b"]);
    assert_eq!(
        (c["lines"].as_u64(), c["tags"].as_u64()),
        (Some(2), Some(1)),
        "{c}"
    );
    let bdir = b.root().join("b");
    let tags = String::from_utf8(b.run_in(&bdir, &["tag"]).stdout).unwrap();
    assert_eq!(tags.trim(), format!("v1 {one}"));
    assert_eq!(chain(&b, &bdir), [two.clone(), one.clone()]);

    // New layers and tags go with one more push --all; what did not change is up to date.
    let three = p.layer("h", "three");
    p.a.ok(&["tag", "v2"]);
    let v = p.a.json(&["push", "--all"]);
    assert_eq!(
        results(&v),
        pairs(&[
            ("lines/main", "updated"),
            ("lines/dev", "up_to_date"),
            ("tags/v1", "up_to_date"),
            ("tags/v2", "created")
        ])
    );
    // A pull brings the new tag; a tag of the same name that differs here is left alone.
    let out = b.run_in(&bdir, &["tag", "v9", &one]);
    assert_success(&out, &["tag"]);
    p.a.ok(&["tag", "v9", &three]);
    p.a.json(&["push", "--tags"]);
    let out = b.run_in(&bdir, &["--json", "pull"]);
    assert_success(&out, &["pull"]);
    let pulled = doc(&out);
    assert_eq!(
        pulled["tags_created"],
        serde_json::json!(["v2"]),
        "{pulled}"
    );
    assert_eq!(
        pulled["tags_differing"],
        serde_json::json!(["v9"]),
        "{pulled}"
    );
    let tags = String::from_utf8(b.run_in(&bdir, &["tag"]).stdout).unwrap();
    assert!(tags.contains(&format!("v2 {three}")), "{tags}");
    assert!(tags.contains(&format!("v9 {one}")), "kept: {tags}");

    // Nothing new: every reference up to date, nothing uploaded.
    let v = p.a.json(&["push", "--all"]);
    assert!(results(&v).iter().all(|(_, r)| r == "up_to_date"), "{v}");
    assert_eq!(v["packs_uploaded"], 0);
}

#[test]
fn push_all_refuses_a_tag_named_like_a_remote_line() {
    let p = Pair::new();
    let one = p.layer("f", "one");
    p.a.ok(&["line", "rel"]);
    p.a.ok(&["push", "-q", "origin", "rel"]);
    p.a.ok(&["line", "-d", "rel"]);
    p.a.ok(&["tag", "rel"]);
    p.a.ok(&["tag", "ok"]);
    let out = p.a.run(&["--json", "push", "--all"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = doc(&out);
    assert_eq!(
        results(&v),
        pairs(&[
            ("lines/main", "created"),
            ("tags/ok", "created"),
            ("tags/rel", "refused")
        ])
    );
    assert!(
        v["references"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("ambiguous"),
        "{v}"
    );
    assert_eq!(p.remote_ref("lines/main"), Some(one.clone()));
    assert_eq!(p.remote_ref("tags/ok"), Some(one));
    assert_eq!(p.remote_ref("tags/rel"), None);
}

#[test]
fn push_force_moves_a_rewritten_line_only_when_asked() {
    let p = Pair::new();
    p.layer("f", "one");
    let two = p.layer("f", "two");
    p.a.ok(&["tag", "v2"]);
    p.layer("f", "three");
    p.a.ok(&["push", "-q"]);
    p.a.ok(&["push", "-q", "origin", "v2"]);
    let before = p.remote_ref("lines/main");
    // History rewritten here (as `forget` does): the remote's layer is not an ancestor.
    p.a.ok(&["reset", "-q", "--hard", "HEAD~2"]);
    let rewritten = p.layer("f", "three again");
    let err = p.a.fails(&["push"], 2);
    assert!(err.contains("not a fast-forward"), "{err}");
    assert!(err.contains("--force"), "the hint names the way out: {err}");
    assert_eq!(
        p.remote_ref("lines/main"),
        before,
        "refused: the remote is unchanged"
    );

    let v = p.a.json(&["push", "--force"]);
    assert_eq!(v["forced"], true, "{v}");
    assert_eq!(v["old"].as_str(), before.as_deref());
    assert_eq!(v["new"], rewritten.as_str());
    assert_eq!(p.remote_ref("lines/main"), Some(rewritten.clone()));
    // Again: up to date, nothing forced. A fast-forward under --force is not "forced".
    let v = p.a.json(&["push", "--force"]);
    assert_eq!(
        (v["up_to_date"].as_bool(), v["forced"].as_bool()),
        (Some(true), Some(false))
    );
    let four = p.layer("f", "four");
    let v = p.a.json(&["push", "--force"]);
    assert_eq!(v["forced"], false, "{v}");
    assert_eq!(p.remote_ref("lines/main"), Some(four.clone()));
    // The layers the force left behind are not taken for a lost push.
    let v = p.a.json(&["verify", "--remote", "origin"]);
    assert_eq!(v["damage"], serde_json::json!([]), "{v}");
    // A clone sees the rewritten history only.
    let c = TestRepo::empty();
    c.ok(&["clone", "-q", &p.url(), "c"]);
    let ids = chain(&c, &c.root().join("c"));
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[..2], [four, rewritten]);
    // Tags never move, even forced.
    p.a.ok(&["tag", "-d", "v2"]);
    p.a.ok(&["tag", "v2"]);
    let err = p.a.fails(&["push", "--force", "origin", "v2"], 2);
    assert!(err.contains("tags do not move"), "{err}");
    assert_eq!(p.remote_ref("tags/v2"), Some(two));
}

/// Two forced pushes of different histories, both started from the same remote layer and
/// held before publishing: the remote line is written only if it still holds what the push
/// read, so exactly one wins; the other is refused and its layer kept on the remote as a
/// line of its own.
fn forced_race(all: bool) {
    let p = Pair::new();
    p.layer("base", "base");
    p.a.ok(&["push", "-q"]);
    let t = TestRepo::empty();
    let mut dirs = Vec::new();
    let mut mine = Vec::new();
    for who in ["b", "c"] {
        t.ok(&["clone", "-q", &p.url(), who]);
        let d = t.root().join(who);
        std::fs::write(d.join(format!("{who}.txt")), format!("from {who}\n")).unwrap();
        assert_success(&t.run_in(&d, &["add", "-A", "-q"]), &["add"]);
        let out = t.run_in(&d, &["commit", "-m", who]);
        mine.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
        dirs.push(d);
    }
    // The remote moves on meanwhile: neither b's nor c's layer descends from it.
    let moved = p.layer("other", "elsewhere");
    p.a.ok(&["push", "-q"]);
    let args: Vec<&str> = if all {
        vec!["--json", "push", "--all", "--force"]
    } else {
        vec!["--json", "push", "--force"]
    };
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = dirs
            .iter()
            .map(|d| {
                let (t, args) = (&t, &args);
                s.spawn(move || {
                    t.cmd_in(d)
                        .env("CAIRN_FAILPOINT", "push:before-publish=sleep1500")
                        .args(args)
                        .output()
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..2).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(won.len(), 1, "exactly one forced push wins: {outs:?}");
    let (w, l) = (won[0], 1 - won[0]);
    assert_eq!(p.remote_ref("lines/main"), Some(mine[w].clone()));
    let winner = doc(&outs[w]);
    let loser_text = if all {
        assert_eq!(outs[l].status.code(), Some(1), "{:?}", outs[l]);
        let v = doc(&outs[l]);
        assert_eq!(v["refused"], 1, "{v}");
        assert_eq!(results(&winner), pairs(&[("lines/main", "forced")]));
        v["references"][0]["reason"].as_str().unwrap().to_string()
    } else {
        assert_eq!(winner["forced"], true);
        assert_eq!(winner["old"], moved.as_str());
        let mut args = args.clone();
        args.remove(0);
        assert_failure(&outs[l], &args, 2);
        String::from_utf8_lossy(&outs[l].stdout).into_owned()
            + &String::from_utf8_lossy(&outs[l].stderr)
    };
    assert!(
        loser_text.contains("another push moved it"),
        "the loser is told why: {loser_text}"
    );
    let side = format!("lines/main.conflict-{}", &mine[l][..12]);
    assert_eq!(p.remote_ref(&side), Some(mine[l].clone()), "nothing lost");
}

#[test]
fn forced_pushes_racing_one_wins_and_the_other_is_refused() {
    forced_race(false);
}

#[test]
fn forced_push_all_racing_reports_the_loser_as_refused() {
    forced_race(true);
}
