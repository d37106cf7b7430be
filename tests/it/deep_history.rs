//! A deep history costs what a command must read, not the length of the history: `log -n
//! 10` reads ten layers, `HEAD~1500` the 1,500 it steps over, a reflog entry or an id
//! prefix none of the history, and a push or pull of one new layer onto thousands a few.
//! Work is counted ([`Repository::layers_read`]), not timed, so a regression fails here on
//! any machine. The history is written through the library (`examples/deep_history`).

use std::path::Path;

use cairn::chunk::ChunkParams;
use cairn::ops::log::{log, LogOptions};
use cairn::ops::pull::{pull, PullOptions, PullStatus};
use cairn::ops::push::{push, PushOptions};
use cairn::session::Common;
use cairn::{HashAlgo, NoProgress, ObjectId, Repository};

use crate::support::TestRepo;

#[path = "../../examples/deep_history/build.rs"]
pub(crate) mod build;

use build::{edited_by, Shape, FOLLOWED};

/// 3,000 layers over 100 files: deep enough that walking the history by mistake is
/// thousands of reads, small enough to build in a second.
const SHAPE: Shape = Shape {
    layers: 3000,
    dirs: 10,
    files: 10,
};

/// A repository holding the history, its worktree and staging index at the newest layer;
/// the layers, oldest first.
fn deep() -> (TestRepo, Vec<ObjectId>) {
    let t = TestRepo::empty();
    let repo = Repository::init(t.root(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
    let layers = build::build(&repo, SHAPE).unwrap();
    t.ok(&["reset", "--hard", "HEAD"]);
    (t, layers)
}

/// The layers `log` lists (newest first) and how many layers it read.
fn logged(root: &Path, opts: &LogOptions) -> (Vec<ObjectId>, u64) {
    let repo = Repository::open(root).unwrap();
    let out = log(&repo, &Common::new(root), opts).unwrap();
    (
        out.layers.iter().map(|l| l.id).collect(),
        repo.layers_read(),
    )
}

/// The newest `n` layers, newest first.
fn newest(layers: &[ObjectId], n: usize) -> Vec<ObjectId> {
    layers.iter().rev().take(n).copied().collect()
}

#[test]
fn log_reads_the_layers_it_lists_and_no_more() {
    let (t, layers) = deep();
    let n = |max| LogOptions {
        max: Some(max),
        ..LogOptions::default()
    };
    assert_eq!(logged(t.root(), &n(10)), (newest(&layers, 10), 10));
    assert_eq!(logged(t.root(), &n(1)), (newest(&layers, 1), 1));
    let all = logged(t.root(), &LogOptions::default());
    assert_eq!(
        all,
        (newest(&layers, layers.len()), 3000),
        "each layer read once"
    );

    // `log -- PATH` compares each layer with its parent: the parent read for that is the
    // next layer of the walk, not read again.
    let followed = LogOptions {
        paths: vec![FOLLOWED.into()],
        ..LogOptions::default()
    };
    let (ids, reads) = logged(t.root(), &followed);
    let expected: Vec<ObjectId> = (0..layers.len())
        .rev()
        .filter(|&i| edited_by(SHAPE, i) == (0, 0))
        .map(|i| layers[i])
        .collect();
    assert_eq!(ids.len(), 300);
    assert_eq!((ids, reads), (expected, 3000));
    let (ids, reads) = logged(
        t.root(),
        &LogOptions {
            max: Some(3),
            ..followed
        },
    );
    assert_eq!(ids.len(), 3);
    assert!(
        reads <= 3 * 10 + 1,
        "{reads} layers read for 3 of every 10th"
    );
}

#[test]
fn references_read_only_the_layers_they_step_over() {
    let (t, layers) = deep();
    let first = |spec: &str| {
        let opts = LogOptions {
            start: Some(spec.into()),
            max: Some(1),
            ..LogOptions::default()
        };
        logged(t.root(), &opts)
    };
    // 1,500 steps back, then log reads the layer it lists.
    assert_eq!(first("HEAD~1500"), (vec![layers[1499]], 1501));
    assert_eq!(first("main~2^^"), (vec![layers[2995]], 5));
    // The reflog names the layer: no step through the history. (Its two newest entries
    // are the line's creation and `reset --hard`, both at the newest layer.)
    assert_eq!(first("HEAD@{1500}"), (vec![layers[1500]], 1));
    assert_eq!(first("main@{0}"), (vec![layers[2999]], 1));
    // A prefix is found in the pack indexes, not by reading layers.
    let prefix = &layers[1234].to_hex()[..10];
    assert_eq!(first(prefix), (vec![layers[1234]], 1));

    // A four-digit prefix two layers share is ambiguous, and the error names both.
    let mut by_prefix = std::collections::HashMap::new();
    let (x, y) = layers
        .iter()
        .find_map(|l| {
            let p = l.to_hex()[..4].to_string();
            by_prefix.insert(p, *l).map(|other| (other, *l))
        })
        .expect("3,000 layers share some four-digit prefix");
    let repo = Repository::open(t.root()).unwrap();
    let common = Common::new(t.root());
    let opts = LogOptions {
        start: Some(x.to_hex()[..4].to_string()),
        ..LogOptions::default()
    };
    let e = log(&repo, &common, &opts).unwrap_err().to_string();
    assert!(e.contains("ambiguous"), "{e}");
    assert!(e.contains(&x.to_hex()) && e.contains(&y.to_hex()), "{e}");
    let fails = |spec: &str| {
        let opts = LogOptions {
            start: Some(spec.into()),
            ..LogOptions::default()
        };
        log(&repo, &common, &opts).unwrap_err().to_string()
    };
    let e = fails("mian");
    assert!(e.contains("did you mean main?"), "{e}");
    let e = fails("HEAD@{3001}");
    assert!(e.contains("has 3001 entries"), "{e}");
    let e = fails("fedcba98");
    assert!(e.contains("no layer id starts with it"), "{e}");
    assert_eq!(repo.layers_read(), 0, "no layer read to refuse them");
    let e = fails("HEAD~3000");
    assert!(e.contains("the history is shorter than that"), "{e}");
    assert_eq!(repo.layers_read(), 3000);
}

/// A `file://` remote in a directory of its own.
fn remote_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix("cairn-remote-")
        .tempdir()
        .unwrap();
    let url = format!("file://{}", dir.path().display());
    (dir, url)
}

/// Commits a change of one file; returns the new layer's id.
fn one_more(t: &TestRepo, what: &str) -> ObjectId {
    t.write("d003/f004.txt", format!("{what}\n"));
    t.ok(&["add", "d003/f004.txt"]);
    t.commit(what).parse().unwrap()
}

#[test]
fn push_and_pull_of_one_layer_read_a_few_layers() {
    let (a, layers) = deep();
    let (_store, url) = remote_dir();
    a.ok(&["remote", "add", "origin", &url]);
    a.ok(&["push", "-q"]);
    let b = TestRepo::empty();
    let cloned = b.root().join("clone");
    a.ok(&["clone", "-q", &url, cloned.to_str().unwrap()]);

    let new = one_more(&a, "one more");
    let repo = Repository::open(a.root()).unwrap();
    let out = push(&repo, &PushOptions::default(), &NoProgress).unwrap();
    assert_eq!((out.old, out.new), (Some(layers[2999]), new));
    assert!(out.packs_uploaded <= 2, "{} packs sent", out.packs_uploaded);
    // The new layer and its parent, to see that the push moves the line forward; the walk
    // of what to send stops at the parent, which the remote holds.
    let reads = repo.layers_read();
    assert!(reads <= 4, "push read {reads} layers");

    let repo = Repository::open(&cloned).unwrap();
    let locked = repo.lock(std::time::Duration::from_secs(5)).unwrap();
    let out = pull(
        &locked,
        &Common::new(&cloned),
        &PullOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(out.status, PullStatus::FastForward);
    assert_eq!(out.new, Some(new));
    let reads = repo.layers_read();
    assert!(reads <= 8, "pull read {reads} layers");
    let got = std::fs::read_to_string(cloned.join("d003/f004.txt")).unwrap();
    assert_eq!(got, "one more\n");
}

#[test]
fn a_push_behind_the_remote_is_refused_without_walking_the_history() {
    let (a, _) = deep();
    let (_store, url) = remote_dir();
    a.ok(&["remote", "add", "origin", &url]);
    a.ok(&["push", "-q"]);
    let b = TestRepo::empty();
    let cloned = b.root().join("clone");
    a.ok(&["clone", "-q", &url, cloned.to_str().unwrap()]);
    // The clone pushes first; this repository's own new layer is then not a fast-forward.
    std::fs::write(cloned.join("d003/f004.txt"), "theirs\n").unwrap();
    let run = |args: &[&str]| {
        let out = b.run_in(&cloned, args);
        crate::support::assert_success(&out, args);
    };
    run(&["add", "d003/f004.txt"]);
    run(&["commit", "-q", "-m", "theirs"]);
    run(&["push", "-q"]);
    one_more(&a, "ours");

    let repo = Repository::open(a.root()).unwrap();
    let e = push(&repo, &PushOptions::default(), &NoProgress).unwrap_err();
    assert!(e.to_string().contains("not a fast-forward"), "{e}");
    assert!(
        e.to_string().contains("layers this repository lacks"),
        "{e}"
    );
    let reads = repo.layers_read();
    assert!(reads <= 2, "push read {reads} layers to refuse");
}
