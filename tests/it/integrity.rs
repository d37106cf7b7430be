//! verify names every kind of damage with the layers and paths it affects; gc after reset
//! frees the dropped layers and leaves a repository that verifies; reset and stats.

use std::path::{Path, PathBuf};

use cairn::pack::{ObjectKind, PackIndex, RECORD_HEADER_LEN};
use serde_json::Value;

use crate::support::{random_bytes, TestRepo};

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
    flip(&pack, body + u64::from(len) / 2);
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
        flip(&pack, body + u64::from(len) - 1);
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

    // The reflog keeps the dropped layer for two weeks; --prune=now lets it go.
    let kept = t.json(&["gc", "--dry-run"]);
    assert!(kept["bytes_freed"].as_u64().unwrap() < 400_000, "{kept}");
    let dry = t.json(&["gc", "--dry-run", "--prune=now"]);
    assert!(dry["bytes_freed"].as_u64().unwrap() >= 400_000, "{dry}");
    assert_eq!(t.packs_size(), grown, "a dry run deletes nothing");

    // Litter of an interrupted run in tmp/, a directory among it.
    t.write(".cairn/tmp/pack-left-over", b"x");
    t.write(".cairn/tmp/stale/inner", b"y");
    let gc = t.json(&["gc", "--prune=now"]);
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

/// Every file under `.cairn/packs` with its bytes.
fn pack_files(t: &TestRepo) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(t.path(".cairn/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

/// The data pack that holds only `small.txt`'s chunk: a separate `add`, so one record.
fn one_chunk_pack(t: &TestRepo) -> PathBuf {
    let before = pack_files(t);
    t.write("small.txt", b"the only copy of these bytes\n");
    t.ok(&["add", "-q", "small.txt"]);
    let after = pack_files(t);
    let mut new = after.keys().filter(|p| !before.contains_key(*p));
    let idx = new
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap();
    t.commit("small");
    assert_eq!(PackIndex::open(idx).unwrap().len(), 1);
    idx.with_extension("pack")
}

/// Issue 12, item 1: one bit flipped in the id of a pack index's only entry (the checksum
/// now fails, the fan-out still holds). gc used to trust the index, find the chunk missing,
/// delete the pack that held it and exit 0. Now gc rebuilds the index from its pack, since
/// the pack's record headers hash to its name, and deletes nothing live.
#[test]
fn gc_rebuilds_an_index_with_a_flipped_bit_and_loses_nothing() {
    let (t, _) = sample();
    let pack = one_chunk_pack(&t);
    let idx = pack.with_extension("idx");
    let good_idx = std::fs::read(&idx).unwrap();
    flip(&idx, 16 + 1024 + 5);
    let gc = t.json(&["gc"]);
    assert_eq!(gc["indexes_rebuilt"], 1, "{gc}");
    assert_eq!(gc["packs_deleted"], 0, "{gc}");
    assert!(pack.exists(), "the pack holding a live chunk survives");
    assert_eq!(
        std::fs::read(&idx).unwrap(),
        good_idx,
        "rebuilt byte for byte"
    );
    assert_eq!(
        t.ok(&["cat", "HEAD:small.txt"]),
        "the only copy of these bytes\n"
    );
    assert_eq!(verify(&t, &["--data"]).0, 0);
}

/// When the pack cannot vouch for an index (its record header was damaged too), gc stops
/// with an error naming the index and deletes nothing; a dry run stops at any damaged index.
#[test]
fn gc_deletes_nothing_while_an_index_cannot_be_rebuilt() {
    let (t, _) = sample();
    // Something for gc to delete if it went ahead: a dropped layer.
    t.write("dropped.bin", random_bytes(9, 50_000));
    t.ok(&["add", "-A", "-q"]);
    t.commit("dropped");
    t.ok(&["reset", "-q", "HEAD~1"]);
    t.remove("dropped.bin");
    t.ok(&["add", "-A", "-q"]);
    let pack = one_chunk_pack(&t);
    let idx = pack.with_extension("idx");
    flip(&idx, 16 + 1024 + 5);
    let before = pack_files(&t);
    let err = t.fails(&["gc", "--dry-run"], 2);
    assert!(err.contains(idx.to_str().unwrap()), "{err}");
    flip(&pack, 16 + 35); // the record's raw length
    let err = t.fails(&["gc"], 2);
    assert!(
        err.contains(idx.to_str().unwrap()),
        "names the index: {err}"
    );
    assert!(err.contains("deletes nothing"), "{err}");
    let mut after = pack_files(&t);
    after.remove(&pack);
    let mut expected = before;
    expected.remove(&pack);
    assert_eq!(after, expected, "gc changed nothing else");
}

/// gc also stops when a live chunk is in no pack at all (its index deleted), instead of
/// deleting the pack as an orphan; `verify --repair` indexes the pack again.
#[test]
fn gc_stops_when_a_live_object_is_in_no_pack() {
    let (t, _) = sample();
    let pack = one_chunk_pack(&t);
    std::fs::remove_file(pack.with_extension("idx")).unwrap();
    let err = t.fails(&["gc"], 2);
    assert!(err.contains("missing"), "{err}");
    assert!(pack.exists());
    let (code, doc) = verify(&t, &["--repair"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["repaired"].as_array().unwrap().len(), 1, "{doc}");
    t.ok(&["gc", "-q"]);
    assert_eq!(
        t.ok(&["cat", "HEAD:small.txt"]),
        "the only copy of these bytes\n"
    );
}

/// `verify` names a damaged index and says it can be rebuilt; `verify --repair` rebuilds
/// it and then finds no damage.
#[test]
fn verify_repair_rebuilds_a_damaged_index() {
    let (t, _) = sample();
    let pack = one_chunk_pack(&t);
    let idx = pack.with_extension("idx");
    let good = std::fs::read(&idx).unwrap();
    for at in [16 + 1024 + 5, 20] {
        // An entry's id (the checksum fails), then the fan-out (the index does not open).
        flip(&idx, at);
        let (code, doc) = verify(&t, &[]);
        assert_eq!(code, 1, "{doc}");
        assert!(doc["damage"].to_string().contains("--repair"), "{doc}");
        let (code, doc) = verify(&t, &["--repair", "--data"]);
        assert_eq!(code, 0, "{doc}");
        assert_eq!(doc["repaired"].as_array().unwrap().len(), 1, "{doc}");
        assert_eq!(std::fs::read(&idx).unwrap(), good);
    }
    // A pack whose headers were damaged too cannot vouch for an index: still damage.
    flip(&idx, 16 + 1024 + 5);
    flip(&pack, 16 + 40);
    let (code, doc) = verify(&t, &["--repair"]);
    assert_eq!(code, 1, "{doc}");
    assert!(doc["repaired"].as_array().unwrap().is_empty(), "{doc}");
}

/// Small files, one compressible, and how they must read back.
fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.txt", b"hello\n".to_vec()),
        ("sub/c.txt", b"see\n".to_vec()),
        ("text.txt", "all work and no play\n".repeat(40).into_bytes()),
    ]
}

/// Reads every file of HEAD through the library.
fn read_back(repo: &cairn::Repository) -> Result<Vec<(String, Vec<u8>)>, cairn::Error> {
    let head = repo.head()?.1.expect("a layer");
    let tree = repo.read_layer(&head)?.tree;
    let mut out = Vec::new();
    for (path, _) in sample_files() {
        let e = cairn::read::lookup(repo, &tree, path.as_bytes())?.expect("in the layer");
        let mut bytes = Vec::new();
        for c in repo.read_file(&e.id)?.chunks {
            bytes.extend(repo.read_chunk(&c.id)?);
        }
        out.push((path.to_string(), bytes));
    }
    Ok(out)
}

/// Issue 12, item 8: every byte of every pack and index of a small repository (raw and
/// zstd chunks, file objects, trees, a layer: about 3,500 bytes) is flipped in turn, one
/// bit each time. Either
/// `verify --data` reports damage, or every file still reads back exactly.
#[test]
fn every_flipped_byte_of_packs_and_indexes_is_damage_or_harmless() {
    let t = TestRepo::new();
    for (path, bytes) in sample_files() {
        t.write(path, bytes);
    }
    t.ok(&["add", "-A", "-q"]);
    t.commit("one");
    let want: Vec<(String, Vec<u8>)> = sample_files()
        .into_iter()
        .map(|(p, b)| (p.to_string(), b))
        .collect();
    let opts = cairn::ops::verify::VerifyOptions {
        data: true,
        layers: vec![],
    };
    let check = || {
        let repo = cairn::Repository::open(t.root()).unwrap();
        let out = cairn::ops::verify::verify(&repo, &opts, &cairn::progress::NoProgress);
        (out.unwrap().is_clean(), read_back(&repo).ok())
    };
    assert_eq!(check(), (true, Some(want.clone())));
    let (mut flips, mut harmless) = (0, 0);
    for (path, good) in pack_files(&t) {
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 1 << (at % 8);
            std::fs::write(&path, &bad).unwrap();
            let (clean, read) = check();
            if clean {
                assert_eq!(
                    read.as_ref(),
                    Some(&want),
                    "{path:?} byte {at}: clean but wrong"
                );
                harmless += 1;
            }
            flips += 1;
        }
        std::fs::write(&path, &good).unwrap();
    }
    eprintln!("{flips} bits flipped, {harmless} harmless");
    assert!(flips > 2000, "{flips}");
    // Only bits of a zstd frame that change nothing decoded may pass.
    assert!(harmless < 10, "{harmless} of {flips} flips went unnoticed");
    assert_eq!(check(), (true, Some(want)));
}

/// The flips `verify --data` used to miss, through the binary: exit 1.
#[test]
fn flipped_pack_version_class_and_lengths_exit_1() {
    let (t, _) = sample();
    let (pack, body, _) = locate(&t, ObjectKind::Chunk);
    let header = body - RECORD_HEADER_LEN as u64;
    let xor = |at: u64| {
        let mut b = std::fs::read(&pack).unwrap();
        b[at as usize] ^= 1;
        std::fs::write(&pack, b).unwrap();
    };
    // Version, class (data becomes metadata), a reserved byte, raw and stored length.
    for at in [8, 12, 14, header + 34, header + 38] {
        xor(at);
        let (code, doc) = verify(&t, &["--data"]);
        assert_eq!(code, 1, "byte {at}: {doc}");
        xor(at);
        assert_eq!(verify(&t, &["--data"]).0, 0);
    }
}
