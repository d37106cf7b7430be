//! verify names every kind of damage with the layers and paths it affects; gc after reset
//! frees the dropped layers and leaves a repository that verifies; reset and stats.

mod common;

use std::path::{Path, PathBuf};

use cairn::pack::{ObjectKind, PackIndex, RECORD_HEADER_LEN};
use common::{random_bytes, TestRepo};
use serde_json::Value;

/// A repository with one layer: a large file of several chunks and two small ones.
fn sample() -> (TestRepo, String) {
    let t = TestRepo::new();
    t.write("d/big.bin", random_bytes(1, 300_000));
    t.write("a.txt", b"hello\n");
    t.write("sub/c.txt", b"see\n");
    t.ok(&["add", "-A", "-q"]);
    let layer = t.commit("one");
    (t, layer)
}

/// `cairn --json verify ARGS`: exit code and document.
fn verify(t: &TestRepo, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json", "verify"];
    all.extend(args);
    let out = t.run(&all);
    let doc = serde_json::from_slice(&out.stdout).expect("verify prints one JSON document");
    (out.status.code().expect("exit code"), doc)
}

/// The damage entries whose object starts with `prefix`.
fn damaged<'a>(doc: &'a Value, prefix: &str) -> Vec<&'a Value> {
    doc["damage"]
        .as_array()
        .expect("a damage list")
        .iter()
        .filter(|d| d["object"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// The pack holding the first object of `kind`, and where that object's body starts.
fn locate(t: &TestRepo, kind: ObjectKind) -> (PathBuf, u64, u32) {
    for e in std::fs::read_dir(t.path(".cairn/packs")).unwrap() {
        let idx = e.unwrap().path();
        if idx.extension().is_none_or(|x| x != "idx") {
            continue;
        }
        let index = PackIndex::open(&idx).unwrap();
        let found = index.entries().flatten().find(|e| e.kind == kind);
        if let Some(e) = found {
            let body = e.offset + RECORD_HEADER_LEN as u64;
            return (idx.with_extension("pack"), body, e.stored_len);
        }
    }
    panic!("no object of kind {kind:?}");
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_chunk_byte_is_found_by_data_and_named() {
    let (t, layer) = sample();
    assert_eq!(verify(&t, &["--data"]).0, 0, "a fresh repository verifies");
    let (pack, body, len) = locate(&t, ObjectKind::Chunk);
    flip(&pack, body + len as u64 / 2);
    // Without --data the objects and indexes are checked, not the chunks' bytes.
    assert_eq!(verify(&t, &[]).0, 0);
    let (code, doc) = verify(&t, &["--data"]);
    assert_eq!(code, 1, "{doc}");
    let chunks = damaged(&doc, "chunk ");
    assert_eq!(chunks.len(), 1, "{doc}");
    assert_eq!(names(&chunks[0]["layers"]), vec![layer.as_str()]);
    let paths = names(&chunks[0]["paths"]);
    assert_eq!(paths.len(), 1, "{doc}");
    assert!(
        ["d/big.bin", "a.txt", "sub/c.txt"].contains(&paths[0]),
        "{doc}"
    );
    // Reading the damaged file fails rather than handing out wrong bytes.
    let err = t.fails(&["cat", &format!("HEAD:{}", paths[0])], 2);
    assert!(err.contains("does not match"), "{err}");
}

#[test]
fn damaged_trees_file_objects_and_layers_are_named() {
    for (kind, prefix) in [
        (ObjectKind::Tree, "tree "),
        (ObjectKind::File, "file "),
        (ObjectKind::Layer, "layer "),
    ] {
        let (t, _) = sample();
        let (pack, body, len) = locate(&t, kind);
        flip(&pack, body + len as u64 - 1);
        let (code, doc) = verify(&t, &[]);
        assert_eq!(code, 1, "{kind:?}: {doc}");
        assert!(!damaged(&doc, prefix).is_empty(), "{kind:?}: {doc}");
    }
}

#[test]
fn a_truncated_or_deleted_pack_and_a_damaged_index_are_named() {
    let (t, layer) = sample();
    let (pack, _, _) = locate(&t, ObjectKind::Chunk);
    let len = std::fs::metadata(&pack).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&pack).unwrap();
    file.set_len(len / 2).unwrap();
    let (code, doc) = verify(&t, &[]);
    assert_eq!(code, 1, "{doc}");
    let chunks = damaged(&doc, "chunk ");
    assert!(
        chunks.iter().any(|c| names(&c["paths"]) == ["d/big.bin"]),
        "the truncated chunks are traced to their file: {doc}"
    );

    // Deleted, with its index: every chunk it held is missing, and named.
    std::fs::remove_file(&pack).unwrap();
    std::fs::remove_file(pack.with_extension("idx")).unwrap();
    let (code, doc) = verify(&t, &[]);
    assert_eq!(code, 1, "{doc}");
    let chunks = damaged(&doc, "chunk ");
    assert!(
        chunks
            .iter()
            .all(|c| c["problem"] == "missing from every pack"),
        "{doc}"
    );
    assert!(chunks
        .iter()
        .all(|c| names(&c["layers"]) == [layer.as_str()]));

    let (t, _) = sample();
    let (pack, _, _) = locate(&t, ObjectKind::Layer);
    flip(&pack.with_extension("idx"), 100);
    let (code, doc) = verify(&t, &[]);
    assert_eq!(code, 1, "{doc}");
    assert!(!damaged(&doc, "pack index ").is_empty(), "{doc}");
}

#[test]
fn a_damaged_head_is_named() {
    let (t, _) = sample();
    std::fs::write(t.path(".cairn/refs/lines/main"), b"not an id\n").unwrap();
    let (code, doc) = verify(&t, &[]);
    assert_eq!(code, 1, "{doc}");
    let text = doc["damage"].to_string();
    assert!(
        text.contains("HEAD") && text.contains("lines/main"),
        "{doc}"
    );
}

#[test]
fn gc_after_reset_frees_the_dropped_layers_and_verifies() {
    let (t, first) = sample();
    let before = t.packs_size();
    t.write("d/second.bin", random_bytes(2, 400_000));
    t.ok(&["add", "-A", "-q"]);
    t.commit("two");
    let grown = t.packs_size();
    assert!(grown >= before + 400_000, "{before} -> {grown}");

    t.ok(&["reset", "--hard", "-q", "HEAD~1"]);
    assert!(
        !t.exists("d/second.bin"),
        "reset --hard updates the worktree"
    );
    assert_eq!(t.ok(&["log", "--oneline"]).lines().count(), 1);

    let dry = t.json(&["gc", "--dry-run"]);
    assert!(dry["bytes_freed"].as_u64().unwrap() >= 400_000, "{dry}");
    assert_eq!(t.packs_size(), grown, "a dry run deletes nothing");

    // Litter of an interrupted run in tmp/, a directory among it.
    t.write(".cairn/tmp/pack-left-over", b"x");
    t.write(".cairn/tmp/stale/inner", b"y");
    let gc = t.json(&["gc"]);
    assert!(gc["bytes_freed"].as_u64().unwrap() >= 400_000, "{gc}");
    assert_eq!(gc["orphan_files_removed"], 2, "{gc}");
    assert!(!t.exists(".cairn/tmp/stale"));
    assert!(
        t.packs_size() <= before + 4096,
        "{before} -> {}",
        t.packs_size()
    );
    assert_eq!(verify(&t, &["--data"]).0, 0);
    let out = t.path("out");
    t.ok(&["restore", "-q", &first, "--to", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join("d/big.bin")).unwrap(),
        random_bytes(1, 300_000)
    );
}

#[test]
fn a_tag_keeps_a_reset_layer_through_gc() {
    let (t, _) = sample();
    t.write("d/second.bin", random_bytes(3, 200_000));
    t.ok(&["add", "-A", "-q"]);
    let second = t.commit("two");
    t.ok(&["tag", "keep"]);
    t.ok(&["reset", "-q", "HEAD~1"]);
    // A soft reset leaves the worktree alone: the file is there, no longer committed.
    assert!(t.exists("d/second.bin"));
    t.ok(&["gc", "-q"]);
    assert_eq!(verify(&t, &["--data"]).0, 0);
    let out = t.path("out");
    t.ok(&["restore", "-q", &second, "--to", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join("d/second.bin")).unwrap(),
        random_bytes(3, 200_000)
    );
}

#[test]
fn stats_count_dedup_and_layers() {
    let t = TestRepo::new();
    let data = random_bytes(4, 200_000);
    t.write("x.bin", &data);
    t.write("y.bin", &data);
    t.ok(&["add", "-A", "-q"]);
    t.commit("one");
    let s = t.json(&["stats"]);
    assert_eq!(s["layers"], 1);
    assert_eq!(s["head_files"], 2);
    assert_eq!(s["head_bytes"], 400_000);
    assert_eq!(s["chunk_bytes"], 200_000, "the same bytes stored once: {s}");
    assert!(s["dedup_ratio"].as_f64().unwrap() >= 1.99, "{s}");
}
