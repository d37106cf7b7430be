//! The layer graph (`.cairn/layer-graph`, FORMAT.md 13b): steps back through parents read
//! it instead of a layer object per step, layers made since it was written are read as
//! objects, and a table that is missing, damaged, stale or hostile never changes an answer
//! or hangs a command: readers ignore it, `verify` reports it and `gc` writes it again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn::chunk::ChunkParams;
use cairn::layer_graph::{encode, LayerGraph, Node, GRAPH_FILE, UNCOVERED_LIMIT};
use cairn::ops::log::{log, LogOptions};
use cairn::session::Common;
use cairn::{HashAlgo, ObjectId, Repository};

use crate::support::TestRepo;

use crate::deep_history::build::{self, Shape, FOLLOWED};

const SHAPE: Shape = Shape {
    layers: 300,
    dirs: 4,
    files: 5,
};

/// A repository of `SHAPE`'s history (written through the library, no graph yet) with its
/// worktree at the newest layer; the layers, oldest first.
fn history() -> (TestRepo, Vec<ObjectId>) {
    let t = TestRepo::empty();
    let repo = Repository::init(t.root(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
    let layers = build::build(&repo, SHAPE).unwrap();
    t.ok(&["reset", "--hard", "HEAD"]);
    (t, layers)
}

fn graph_path(t: &TestRepo) -> PathBuf {
    t.root().join(".cairn").join(GRAPH_FILE)
}

/// Writes the graph as clone and pull do.
fn update(root: &Path) {
    let repo = Repository::open(root).unwrap();
    let locked = repo.lock(Duration::from_secs(5)).unwrap();
    cairn::layer_graph::update(&locked).unwrap();
}

/// The layer `spec` names as `log -n 1` finds it, and the layers read to find it.
fn first(root: &Path, spec: &str) -> (ObjectId, u64) {
    let repo = Repository::open(root).unwrap();
    let opts = LogOptions {
        start: Some(spec.into()),
        max: Some(1),
        ..LogOptions::default()
    };
    let out = log(&repo, &Common::new(root), &opts).unwrap();
    (out.layers[0].id, repo.layers_read())
}

/// How many layers `log` lists, and how many it reads.
fn logged(root: &Path, opts: &LogOptions) -> (usize, u64) {
    let repo = Repository::open(root).unwrap();
    let out = log(&repo, &Common::new(root), opts).unwrap();
    (out.layers.len(), repo.layers_read())
}

/// Commits a change of one file through the command line; the new layer's id.
fn one_more(t: &TestRepo, what: &str) -> ObjectId {
    t.write(FOLLOWED, format!("{what}\n"));
    t.ok(&["add", FOLLOWED]);
    t.commit(what).parse().unwrap()
}

#[test]
fn steps_read_only_the_layers_the_graph_does_not_list() {
    let (t, layers) = history();
    assert_eq!(first(t.root(), "HEAD~250"), (layers[49], 251), "no graph");
    update(t.root());
    let g = LayerGraph::open(&graph_path(&t), HashAlgo::Blake3)
        .unwrap()
        .unwrap();
    assert_eq!(g.len(), 300);
    // 250 steps in the table, then log reads the one layer it lists.
    assert_eq!(first(t.root(), "HEAD~250"), (layers[49], 1));
    assert_eq!(first(t.root(), "main~299"), (layers[0], 1));
    assert_eq!(first(t.root(), "HEAD^^~3"), (layers[294], 1));

    // `log -- PATH` takes parents and trees from the table and reads only the layers it
    // lists (every tenth changes the path).
    let followed = LogOptions {
        paths: vec![FOLLOWED.into()],
        ..LogOptions::default()
    };
    assert_eq!(logged(t.root(), &followed), (30, 30));

    // Three layers made since: read as objects, then the walk goes on in the table.
    let new: Vec<ObjectId> = (0..3).map(|i| one_more(&t, &format!("v{i}"))).collect();
    assert!(graph_path(&t).exists());
    assert_eq!(first(t.root(), "HEAD~2"), (new[0], 3));
    assert_eq!(logged(t.root(), &followed), (33, 33));
    assert_eq!(first(t.root(), "HEAD~253"), (layers[49], 4));
    let e = t.fails(&["log", "-n", "1", "HEAD~303"], 2);
    assert!(e.contains("the history is shorter than that"), "{e}");
    // The same answers from the command line, which reads the file the library wrote.
    let id = t.ok(&["log", "-n", "1", "--format", "%H", "HEAD~253"]);
    assert_eq!(id.trim(), layers[49].to_hex());
    let args = [
        "log",
        "--format",
        "%H %s",
        "--since",
        "@1767225600",
        "--",
        FOLLOWED,
    ];
    let with_graph = t.ok(&args);
    assert_eq!(with_graph.lines().count(), 33);
    std::fs::remove_file(graph_path(&t)).unwrap();
    assert_eq!(t.ok(&args), with_graph, "the same layers without the graph");
    update(t.root());
    let cat = t.ok(&["cat", &format!("HEAD~3:{FOLLOWED}")]);
    assert_eq!(
        cat.as_bytes(),
        t.ok(&["cat", &format!("{}:{FOLLOWED}", layers[299])])
            .as_bytes()
    );
}

/// The rule a commit follows: nothing is written until more than [`UNCOVERED_LIMIT`]
/// layers are missing from the table, then the table is written over all of them.
#[test]
fn a_commit_writes_the_graph_once_too_many_layers_are_missing_from_it() {
    let t = TestRepo::new();
    // No pack merges, which write the graph too (below).
    t.ok(&["config", "gc.auto", "0"]);
    let mut ids = Vec::new();
    for i in 0..UNCOVERED_LIMIT {
        t.write("f.txt", format!("{i}\n"));
        t.ok(&["add", "f.txt"]);
        ids.push(t.commit(&format!("c{i}")));
    }
    assert!(
        !graph_path(&t).exists(),
        "none listed, not too many: no graph yet"
    );
    t.write("f.txt", "last\n");
    t.ok(&["add", "f.txt"]);
    ids.push(t.commit("the one too many"));
    let bytes = std::fs::read(graph_path(&t)).unwrap();
    let g = LayerGraph::from_bytes(bytes.clone(), HashAlgo::Blake3).unwrap();
    assert_eq!(g.len(), UNCOVERED_LIMIT + 1);
    let tip = g.entry(g.find(&ids[UNCOVERED_LIMIT].parse().unwrap()).unwrap());
    assert_eq!(tip.depth as usize, UNCOVERED_LIMIT + 1);
    // One more commit leaves it as it is.
    t.write("f.txt", "one more\n");
    t.ok(&["add", "f.txt"]);
    t.commit("one more");
    assert!(std::fs::read(graph_path(&t)).unwrap() == bytes);
    let back = UNCOVERED_LIMIT - 4;
    assert_eq!(t.ok(&["cat", &format!("HEAD~{back}:f.txt")]), "5\n");
    let first = format!("HEAD~{}", UNCOVERED_LIMIT + 1);
    assert_eq!(
        t.ok(&["log", "-n", "1", "--format", "%H", &first]).trim(),
        ids[0]
    );
    t.ok(&["verify"]);
}

/// A commit that merges packs writes the graph too: it has paid for a rewrite already.
#[test]
fn a_pack_merge_after_a_commit_writes_the_graph() {
    let t = TestRepo::new();
    t.ok(&["config", "gc.auto", "4"]);
    let mut merged_at = None;
    for i in 0..6 {
        t.write("f.txt", format!("{i}\n"));
        t.ok(&["add", "f.txt"]);
        t.commit(&format!("c{i}"));
        if graph_path(&t).exists() {
            merged_at = Some(i);
            break;
        }
    }
    let i = merged_at.expect("a merge within six commits of two packs each");
    let g = LayerGraph::open(&graph_path(&t), HashAlgo::Blake3)
        .unwrap()
        .unwrap();
    assert_eq!(g.len(), i + 1, "every layer up to the merge");
    assert!(i < 4, "merged after commit {i}");
}

/// A commit whose older history cannot be read (its pack gone, as in a damaged or partial
/// repository) still succeeds: counting the layers missing from the table stops there, and
/// a table is never written over a chain it cannot read to its first layer.
#[test]
fn a_commit_over_unreadable_history_still_succeeds() {
    let t = TestRepo::new();
    t.ok(&["config", "gc.auto", "0"]);
    let mut ids = Vec::new();
    for i in 0..3 {
        t.write("f.txt", format!("{i}\n"));
        t.ok(&["add", "f.txt"]);
        ids.push(t.commit(&format!("c{i}")));
    }
    let repo = Repository::open(t.root()).unwrap();
    let (pack, _) = repo.store.locate(&ids[1].parse().unwrap()).unwrap();
    std::fs::remove_file(pack.path().with_extension("idx")).unwrap();
    drop(repo);
    t.write("f.txt", "after\n");
    t.ok(&["add", "f.txt"]);
    t.commit("over a hole");
    assert!(!graph_path(&t).exists());
    let repo = Repository::open(t.root()).unwrap();
    let locked = repo.lock(Duration::from_secs(5)).unwrap();
    cairn::layer_graph::update(&locked).unwrap();
    assert!(
        !graph_path(&t).exists(),
        "no chain reads down to its first layer"
    );
}

/// Clone writes the graph over the history it fetched; a pull of one layer leaves it as it
/// is (the new layer is read as an object), and a pull of more than [`UNCOVERED_LIMIT`]
/// extends it, as commits do.
#[test]
fn clone_writes_the_graph_and_pull_extends_it_past_the_limit() {
    let (a, layers) = history();
    let store = TestRepo::empty();
    let url = format!("file://{}", store.root().display());
    a.ok(&["remote", "add", "origin", &url]);
    a.ok(&["push", "-q"]);
    let b = TestRepo::empty();
    let cloned = b.root().join("clone");
    a.ok(&["clone", "-q", &url, cloned.to_str().unwrap()]);
    let path = cloned.join(".cairn").join(GRAPH_FILE);
    let after_clone = std::fs::read(&path).unwrap();
    let g = LayerGraph::from_bytes(after_clone.clone(), HashAlgo::Blake3).unwrap();
    assert_eq!(g.len(), layers.len());

    let one = one_more(&a, "one");
    a.ok(&["push", "-q"]);
    crate::support::ok(&cloned, &["pull", "-q"]);
    assert!(
        std::fs::read(&path).unwrap() == after_clone,
        "one layer: no rewrite"
    );
    let got = crate::support::ok(&cloned, &["log", "-n", "1", "--format", "%H", "HEAD~1"]);
    assert_eq!(got.trim(), layers[299].to_hex());

    let more: Vec<ObjectId> = (0..UNCOVERED_LIMIT)
        .map(|i| one_more(&a, &format!("more {i}")))
        .collect();
    a.ok(&["push", "-q"]);
    crate::support::ok(&cloned, &["pull", "-q"]);
    let g = LayerGraph::open(&path, HashAlgo::Blake3).unwrap().unwrap();
    assert_eq!(g.len(), layers.len() + 1 + UNCOVERED_LIMIT);
    assert!(g.find(&one).is_some() && g.find(&more[UNCOVERED_LIMIT - 1]).is_some());
}

/// What a graph with damage `damage` must not change: HEAD~N answers and cat output are
/// those of a repository without one, and verify reports it (exit 1).
fn assert_ignored(t: &TestRepo, layers: &[ObjectId], what: &str) {
    for n in [1, 150, 299] {
        let got = t.ok(&["log", "-n", "1", "--format", "%H", &format!("HEAD~{n}")]);
        assert_eq!(got.trim(), layers[299 - n].to_hex(), "{what}: HEAD~{n}");
    }
    let e = t.fails(&["log", "-n", "1", "HEAD~300"], 2);
    assert!(e.contains("shorter"), "{what}: {e}");
    let out = t.run(&["--json", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{what}: verify reports it");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let damage = doc["damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{what}: {damage:?}");
    assert_eq!(damage[0]["object"], "layer graph", "{what}");
}

#[test]
fn a_damaged_graph_is_ignored_and_reported_until_gc_writes_it_again() {
    let (t, layers) = history();
    update(t.root());
    let path = graph_path(&t);
    let good = std::fs::read(&path).unwrap();
    // Flipped bits across the file: header, fan-out, entries, checksum.
    for at in (0..good.len()).step_by(997).chain([good.len() - 1]) {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        std::fs::write(&path, bad).unwrap();
        assert_ignored(&t, &layers, &format!("byte {at} flipped"));
    }
    for len in [0, 100, good.len() - 40] {
        std::fs::write(&path, &good[..len]).unwrap();
        assert_ignored(&t, &layers, &format!("truncated to {len}"));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 80]);
    std::fs::write(&path, longer).unwrap();
    assert_ignored(&t, &layers, "longer than its count");
    // gc writes it again from the layers.
    t.ok(&["gc"]);
    assert!(
        std::fs::read(&path).unwrap() == good,
        "the same layers, the same bytes"
    );
    t.ok(&["verify"]);
}

/// Nodes of the repository's layers, read from the objects.
fn real_nodes(root: &Path, layers: &[ObjectId]) -> Vec<Node> {
    let repo = Repository::open(root).unwrap();
    layers
        .iter()
        .map(|id| {
            let l = repo.read_layer(id).unwrap();
            Node {
                id: *id,
                tree: l.tree,
                time_ns: l.time_ns,
                parent: l.parent,
            }
        })
        .collect()
}

/// A table that passes every check but names layers this repository does not hold: a
/// walk that would end on one is made again from the layer objects.
#[test]
fn a_graph_naming_layers_that_are_not_stored_is_not_an_answer() {
    let (t, layers) = history();
    let mut nodes = real_nodes(t.root(), &layers);
    // Layer 100's parent, in the table, is a layer no one stored, whose parent is 98:
    // `HEAD~200` would land on it.
    let ghost = ObjectId([0x42; 32]);
    nodes[100].parent = Some(ghost);
    nodes.push(Node {
        id: ghost,
        tree: ObjectId([0x43; 32]),
        time_ns: 0,
        parent: Some(layers[98]),
    });
    let bytes = encode(HashAlgo::Blake3, nodes).unwrap();
    std::fs::write(graph_path(&t), bytes).unwrap();
    let got = t.ok(&["log", "-n", "1", "--format", "%H", "HEAD~200"]);
    assert_eq!(got.trim(), layers[99].to_hex());
    let doc = t.run(&["--json", "verify"]);
    assert_eq!(doc.status.code(), Some(1));
    let text = String::from_utf8_lossy(&doc.stdout);
    assert!(
        text.contains("layer graph") && text.contains(&ghost.to_hex()),
        "{text}"
    );
}

/// A graph written before layers were dropped (reset, then `gc --prune=now`) and put back:
/// its entries for the layers gone are never an answer.
#[test]
fn a_stale_graph_gives_the_same_answers() {
    let (t, layers) = history();
    update(t.root());
    let stale = std::fs::read(graph_path(&t)).unwrap();
    t.ok(&["reset", "--hard", "HEAD~10"]);
    t.ok(&["gc", "--prune=now"]);
    let rebuilt = LayerGraph::open(&graph_path(&t), HashAlgo::Blake3)
        .unwrap()
        .unwrap();
    assert_eq!(rebuilt.len(), 290, "gc lists only the layers that stay");
    std::fs::write(graph_path(&t), stale).unwrap();
    let got = t.ok(&["log", "-n", "1", "--format", "%H", "HEAD~5"]);
    assert_eq!(got.trim(), layers[284].to_hex());
    let e = t.fails(&["log", "-n", "1", &layers[295].to_hex()], 2);
    assert!(e.contains("no layer id starts with it"), "{e}");
    let out = t.run(&["verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify reports the stale entries"
    );
}

/// A table forged (checksum recomputed) so that the first layer's parent is the newest:
/// the parents loop. It is refused on opening, so no command loops.
#[test]
fn a_graph_whose_parents_loop_hangs_nothing() {
    let (t, layers) = history();
    update(t.root());
    let path = graph_path(&t);
    let mut b = std::fs::read(&path).unwrap();
    let g = LayerGraph::from_bytes(b.clone(), HashAlgo::Blake3).unwrap();
    let (first, last) = (g.find(&layers[0]).unwrap(), g.find(&layers[299]).unwrap());
    for depth in [1u32, 301, 0] {
        let at = 24 + 1024 + first as usize * 80 + 72;
        b[at..at + 4].copy_from_slice(&last.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&depth.to_le_bytes());
        let end = b.len() - 32;
        let sum = HashAlgo::Blake3.hash(cairn::hash::Domain::Checksum, &b[..end]);
        b[end..].copy_from_slice(sum.as_bytes());
        std::fs::write(&path, &b).unwrap();
        let out = t
            .cmd()
            .args(["log", "-n", "1", "HEAD~1000000"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "depth {depth}");
        assert_ignored(&t, &layers, &format!("a loop claiming depth {depth}"));
    }
}

#[cfg(feature = "failpoints")]
mod killed {
    use super::*;
    use crate::support::killed_by;

    /// A kill while the table is written leaves the old one (here: none, then a sound
    /// one) byte for byte, and a kill after leaves the new one; answers never change.
    #[test]
    fn a_kill_while_writing_leaves_the_old_graph_or_the_new() {
        let (t, layers) = history();
        let path = graph_path(&t);
        // 300 layers are missing from the table: this commit writes it, and is killed
        // half way through. The commit itself has landed.
        t.write(FOLLOWED, "killed\n");
        t.ok(&["add", FOLLOWED]);
        let out = t
            .cmd()
            .args(["commit", "-m", "killed"])
            .env("CAIRN_FAILPOINT", "graph:mid-write")
            .output()
            .unwrap();
        assert_eq!(killed_by(&out.status), Some(libc::SIGABRT), "{out:?}");
        assert!(!path.exists(), "no table yet: still none");
        assert_ignored_free(&t, &layers, 1);

        t.ok(&["gc"]);
        let old = std::fs::read(&path).unwrap();
        one_more(&t, "after gc");
        for point in ["graph:mid-write", "atomic:before-rename"] {
            let out = t
                .cmd()
                .args(["gc"])
                .env("CAIRN_FAILPOINT", point)
                .output()
                .unwrap();
            assert_eq!(killed_by(&out.status), Some(libc::SIGABRT), "{point}");
            assert!(
                std::fs::read(&path).unwrap() == old,
                "{point}: the old table"
            );
            assert_ignored_free(&t, &layers, 2);
        }
        let out = t
            .cmd()
            .args(["gc"])
            .env("CAIRN_FAILPOINT", "graph:after-write")
            .output()
            .unwrap();
        assert_eq!(killed_by(&out.status), Some(libc::SIGABRT));
        let new = LayerGraph::open(&path, HashAlgo::Blake3).unwrap().unwrap();
        assert_eq!(new.len(), 302, "the new table, over both new layers");
        assert_ignored_free(&t, &layers, 2);
    }

    /// HEAD~N answers with `extra` layers on top of the history, and a clean verify.
    fn assert_ignored_free(t: &TestRepo, layers: &[ObjectId], extra: usize) {
        for n in [1, 150, 299] {
            let got = t.ok(&[
                "log",
                "-n",
                "1",
                "--format",
                "%H",
                &format!("HEAD~{}", n + extra),
            ]);
            assert_eq!(got.trim(), layers[299 - n].to_hex(), "HEAD~{}", n + extra);
        }
        t.ok(&["verify"]);
    }
}
