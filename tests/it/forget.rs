//! `cairn forget`: a keep policy drops layers from a line; the kept ones are written again
//! with new parents, same trees; the reflog keeps the old ids until gc's grace period ends;
//! a kill at any instant leaves the old line or the new one.

use serde_json::Value;

use crate::support::{self, repo_files, Env};

/// A line of `n` layers: layer i writes `f` = "v{i}" and adds `g{i}`.
fn line_of(n: usize) -> (Env, Vec<String>) {
    let env = Env::new();
    let ids = (1..=n)
        .map(|i| {
            env.write("f", format!("v{i}"));
            env.write(format!("g{i}"), format!("g{i}"));
            env.commit(&format!("layer {i}"))
        })
        .collect();
    (env, ids)
}

fn log(env: &Env) -> Vec<Value> {
    env.json(&["log"])["layers"].as_array().unwrap().clone()
}

fn ids(layers: &[Value], key: &str) -> Vec<String> {
    layers
        .iter()
        .map(|l| l[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn keep_last_rewrites_the_kept_layers_on_new_parents_with_the_same_trees() {
    let (env, old) = line_of(5);
    let before = log(&env);
    let doc = env.json(&["forget", "--keep-last", "2"]);
    let after = log(&env);
    assert_eq!(after.len(), 2);
    // Same trees, times and messages as layers 5 and 4; the oldest kept has no parent.
    for (a, b) in after.iter().zip(&before) {
        for key in ["tree", "time_ns", "message", "author"] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
    assert!(after[1]["parent"].is_null());
    assert_eq!(after[0]["parent"], after[1]["id"]);
    // Counts are against the new parent: layer 4 now adds everything it holds.
    let c = &after[1]["counts"];
    assert_eq!(
        (c["files"].as_u64(), c["added"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(
        (c["modified"].as_u64(), c["deleted"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(after[0]["counts"], before[0]["counts"]);
    // The outcome: kept with reasons, forgotten, and the old-to-new mapping.
    let kept = doc["kept"].as_array().unwrap();
    assert_eq!(ids(kept, "id"), [old[4].clone(), old[3].clone()]);
    assert_eq!(ids(kept, "new_id"), ids(&after, "id"));
    assert_eq!(kept[0]["reasons"], serde_json::json!(["tip", "last"]));
    assert_eq!(kept[1]["reasons"], serde_json::json!(["last"]));
    let forgotten = doc["forgotten"].as_array().unwrap();
    assert_eq!(
        ids(forgotten, "id"),
        [old[2].clone(), old[1].clone(), old[0].clone()]
    );
    assert_eq!(doc["old_tip"].as_str(), Some(old[4].as_str()));
    assert_eq!(doc["new_tip"], after[0]["id"]);
    // The worktree and index are untouched: the tip's tree is the same.
    assert_eq!(env.ok(&["status", "--short"]), "");
    // Every stored byte checks, and the new history restores as before.
    support::assert_verifies(&env.root, true, "after forget");
    assert_eq!(env.ok(&["cat", "HEAD~1:f"]), "v4");
}

#[test]
fn the_reflog_keeps_the_old_layers_until_prune_now() {
    let (env, old) = line_of(4);
    env.ok(&["forget", "--keep-last", "1"]);
    let reflog = env.ok(&["reflog"]);
    let first = reflog.lines().next().unwrap();
    assert!(first.ends_with("forget: kept 1 of 4 layers"), "{reflog}");
    // Within the grace period the old layers stay, and one reset brings them back.
    env.ok(&["gc"]);
    assert_eq!(env.ok(&["cat", &format!("{}:f", old[0])]), "v1");
    env.ok(&["reset", "--hard", "HEAD@{1}"]);
    assert_eq!(log(&env).len(), 4);
    // Forgotten again, `gc --prune=now` reclaims them.
    env.ok(&["forget", "--keep-last", "1"]);
    env.ok(&["gc", "--prune=now"]);
    let out = env.run(&["cat", &format!("{}:f", old[0])]);
    assert_eq!(out.status.code(), Some(2));
    support::assert_verifies(&env.root, true, "after prune");
    assert_eq!(
        env.ok(&["cat", "HEAD:g1"]),
        "g1",
        "the kept tree holds everything"
    );
}

#[test]
fn dry_run_and_refusals_leave_the_repository_unchanged() {
    let (env, _) = line_of(3);
    let before = repo_files(&env.root);
    let doc = env.json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert_eq!(doc["dry_run"], Value::Bool(true));
    assert_eq!(doc["forgotten"].as_array().unwrap().len(), 2);
    assert_eq!(repo_files(&env.root), before);
    // No keep option: refused, as restic refuses, rather than dropping everything.
    let err = env.fails(&["forget"]);
    assert!(err.contains("needs a keep option"), "{err}");
    let err = env.fails(&["forget", "--keep-last", "many"]);
    assert!(err.contains("not a count"), "{err}");
    env.fails(&["forget", "--keep-last", "1", "--line", "nope"]);
    // A tagged layer is not forgotten silently.
    env.ok(&["tag", "first", "HEAD~2"]);
    let before = repo_files(&env.root);
    let err = env.fails(&["forget", "--keep-last", "1"]);
    assert!(
        err.contains("tag first") && err.contains("--keep-tag"),
        "{err}"
    );
    assert_eq!(repo_files(&env.root), before);
    // Under --json the refusal is a document with its kind.
    let out = env.run(&["--json", "forget", "--keep-last", "1"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "bad_argument", "{v}");
}

#[test]
fn keep_tag_keeps_tagged_layers_and_moves_their_tags() {
    let (env, old) = line_of(4);
    env.ok(&["tag", "v1", &old[0]]);
    env.ok(&["tag", "v3", &old[2]]);
    let doc = env.json(&["forget", "--keep-last", "1", "--keep-tag"]);
    let after = log(&env);
    assert_eq!(after.len(), 3, "tip, v3, v1");
    let kept = doc["kept"].as_array().unwrap();
    assert_eq!(kept[1]["reasons"], serde_json::json!(["tagged"]));
    // v1 names the first layer, unchanged; v3 moved to its rewritten copy.
    let show = |rev: &str| env.json(&["show", rev])["id"].as_str().unwrap().to_string();
    assert_eq!(show("v1"), old[0]);
    assert_eq!(show("v3"), after[1]["id"].as_str().unwrap());
    assert_ne!(show("v3"), old[2]);
    let moved = doc["tags_moved"].as_array().unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["name"], "v3");
    // Nothing keeps the old v3 but the reflog: prune now and everything still checks.
    env.ok(&["gc", "--prune=now"]);
    support::assert_verifies(&env.root, true, "after prune");
    assert_eq!(env.ok(&["cat", "v3:f"]), "v3");
}

#[test]
fn another_line_is_thinned_out_and_a_detached_head_must_name_one() {
    let (env, _) = line_of(3);
    env.ok(&["checkout", "-b", "side"]);
    env.write("s", "side");
    env.commit("side 1");
    env.ok(&["checkout", "main"]);
    let doc = env.json(&["forget", "--keep-last", "1", "--line", "side"]);
    assert_eq!(doc["line"], "side");
    assert_eq!(doc["kept"].as_array().unwrap().len(), 1);
    assert_eq!(log(&env).len(), 3, "main is untouched");
    assert_eq!(env.ok(&["cat", "side:s"]), "side");
    let first = log(&env)[2]["id"].as_str().unwrap().to_string();
    env.ok(&["checkout", &first]);
    let err = env.fails(&["forget", "--keep-last", "1"]);
    assert!(err.contains("--line"), "{err}");
}

#[test]
fn nothing_to_forget_moves_nothing() {
    let (env, old) = line_of(3);
    // One day, seven asked for: the newest of the day, and the oldest layer as restic keeps
    // it when there are fewer days than asked.
    let doc = env.json(&["forget", "--keep-daily", "7"]);
    assert_eq!(doc["forgotten"][0]["id"].as_str(), Some(old[1].as_str()));
    assert_eq!(
        doc["kept"][1]["reasons"],
        serde_json::json!(["oldest_daily"])
    );
    let doc = env.json(&["forget", "--keep-last", "unlimited"]);
    assert!(doc["forgotten"].as_array().unwrap().is_empty());
    assert_eq!(doc["new_tip"], doc["old_tip"]);
    assert_ne!(env.head(), old[2], "the first forget moved the line");
    let reflog = env.ok(&["reflog"]);
    assert_eq!(reflog.matches("forget:").count(), 1, "{reflog}");
}

/// A kill at each point of a forget leaves either the old line or the new one, never a
/// line on a layer that is not stored; the same forget run again finishes the job.
#[test]
fn a_killed_forget_leaves_the_old_line_or_the_new_one() {
    for point in [
        "pack:before-rename",
        "pack:before-index",
        "forget:before-ref",
        "refs:after-log",
        "atomic:before-rename",
        "forget:before-tags",
    ] {
        let (env, old) = line_of(4);
        env.ok(&["tag", "t", "HEAD~1"]);
        let args = ["forget", "--keep-last", "2", "--keep-tag"];
        let out = support::run(&env.root, &args, &[("CAIRN_FAILPOINT", point)]);
        assert!(
            support::killed_by(&out.status).is_some(),
            "{point}: {out:?}"
        );
        let tip = env.head();
        let layers = log(&env);
        if tip == old[3] {
            assert_eq!(layers.len(), 4, "{point}: the old line");
        } else {
            assert_eq!(layers.len(), 2, "{point}: the new line");
        }
        support::assert_verifies(&env.root, true, point);
        // Run again: the line ends up thinned out, with the same trees.
        env.ok(&args);
        let layers = log(&env);
        assert_eq!(layers.len(), 2, "{point}");
        assert_eq!(env.ok(&["cat", "HEAD:f"]), "v4");
        assert_eq!(env.ok(&["cat", "HEAD~1:f"]), "v3");
        let tagged = env.json(&["show", "t"])["id"].clone();
        assert_eq!(
            tagged, layers[1]["id"],
            "{point}: the tag follows its layer"
        );
        support::assert_verifies(&env.root, true, point);
    }
}

#[test]
fn a_forgotten_line_is_not_pushed_over_the_remote_s_history() {
    let (env, _) = line_of(3);
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    env.ok(&["remote", "add", "origin", &url]);
    env.ok(&["push", "-q"]);
    env.ok(&["forget", "--keep-last", "1"]);
    let err = env.fails(&["push"]);
    assert!(
        err.contains("not a fast-forward") && err.contains("push --force"),
        "{err}"
    );
}
