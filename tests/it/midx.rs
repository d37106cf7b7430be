//! The multi-pack index: lookups through it in a repository of many packs, and every way it
//! can be wrong (bit flips anywhere, truncation, a pack it names gone, a pack it does not
//! name, a kill while it is written): readers fall back to the packs' own indexes, lose
//! nothing and give no wrong answer, and the next writer or gc writes a sound one again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn::hash::ObjectId;
use cairn::object::EntryKind;
use cairn::pack::midx::{Midx, MIDX_FILE};
use cairn::{HashAlgo, Repository};

use crate::support::*;

/// Every path of a layer with its bytes (a symlink's target), read through the library.
pub(crate) fn contents(repo: &Repository, layer: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let layer: ObjectId = layer.parse().unwrap();
    let mut out = BTreeMap::new();
    let mut stack = vec![(Vec::new(), repo.read_layer(&layer).unwrap().tree)];
    while let Some((prefix, tree)) = stack.pop() {
        for e in repo.read_tree(&tree).unwrap().entries {
            let mut path = prefix.clone();
            path.extend_from_slice(&e.name);
            if e.kind == EntryKind::Dir {
                path.push(b'/');
                stack.push((path, e.id));
                continue;
            }
            let file = repo.read_file(&e.id).unwrap();
            let bytes = file
                .chunks
                .iter()
                .flat_map(|c| repo.read_chunk(&c.id).unwrap())
                .collect();
            out.insert(path, bytes);
        }
    }
    out
}

/// A repository of many packs (one chunk per data pack, through the test pack target):
/// files of odd names, one large, a symlink, in two layers. Returns the root's holder, the
/// root and the two layers.
pub(crate) fn many_packs() -> (tempfile::TempDir, PathBuf, [String; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    ok(&root, &["init", "-q"]);
    // Merging after a commit would leave few packs; these tests want many.
    ok(&root, &["config", "gc.auto", "0"]);
    let mut rng = Rng::new(17);
    for i in 0..24 {
        let name = format!("d{}/f {i} \u{e9}\t.txt", i % 3);
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text(&mut rng, 100 + i * 37)).unwrap();
    }
    std::fs::write(root.join("big.bin"), random_bytes(rng.next(), 600_000)).unwrap();
    std::os::unix::fs::symlink("d0/missing target", root.join("link")).unwrap();
    let small = [("CAIRN_TEST_PACK_TARGET", "1")];
    ok_env(&root, &["-q", "add", "-A"], &small);
    ok_env(&root, &["-q", "commit", "-m", "one"], &small);
    let one = layer_id(&root, "HEAD");
    std::fs::write(root.join("d1/new"), b"a second layer\n").unwrap();
    ok_env(&root, &["-q", "add", "-A"], &small);
    ok_env(&root, &["-q", "commit", "-m", "two"], &small);
    let two = layer_id(&root, "HEAD");
    (dir, root, [one, two])
}

pub(crate) fn packs_dir(root: &Path) -> PathBuf {
    root.join(".cairn/packs")
}

/// The names of the packs that have an index, sorted.
pub(crate) fn listed(root: &Path) -> Vec<ObjectId> {
    let mut names: Vec<ObjectId> = std::fs::read_dir(packs_dir(root))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".idx")?.parse().ok()
        })
        .collect();
    names.sort();
    names
}

/// Asserts the multi-pack index is sound and names exactly the packs present, or with
/// fewer packs than the writers' slack that there is none.
pub(crate) fn assert_midx_exact(root: &Path) {
    let path = packs_dir(root).join(MIDX_FILE);
    if listed(root).len() < cairn::pack::midx_write::MIDX_SLACK {
        assert!(!path.exists(), "a few packs need no multi-pack index");
        return;
    }
    let bytes = std::fs::read(path).expect("a multi-pack index");
    let m = Midx::from_bytes(bytes, HashAlgo::Blake3).expect("its head is sound");
    m.verify().expect("every bucket is sound");
    assert_eq!(
        m.names(),
        listed(root),
        "it names exactly the packs present"
    );
}

/// Every byte of both layers reads back the same, and `verify --data` passes.
fn assert_reads(root: &Path, layers: &[String; 2], want: &[BTreeMap<Vec<u8>, Vec<u8>>; 2]) {
    let repo = Repository::open(root).unwrap();
    for (layer, want) in layers.iter().zip(want) {
        assert!(contents(&repo, layer) == *want, "layer {layer} reads back");
    }
    ok(root, &["-q", "verify", "--data"]);
}

/// Asserts the multi-pack index is sound, names only packs present and leaves fewer than
/// eight outside it (the writers' slack).
fn assert_midx_covers(root: &Path) {
    let bytes = std::fs::read(packs_dir(root).join(MIDX_FILE)).expect("a multi-pack index");
    let m = Midx::from_bytes(bytes, HashAlgo::Blake3).expect("its head is sound");
    m.verify().expect("every bucket is sound");
    let (named, present) = (m.names(), listed(root));
    assert!(
        named.iter().all(|n| present.contains(n)),
        "it names only packs present"
    );
    let outside = present.iter().filter(|p| !named.contains(p)).count();
    assert!(
        outside < cairn::pack::midx_write::MIDX_SLACK,
        "{outside} packs outside it"
    );
}

#[test]
fn many_packs_read_through_one_midx() {
    let (_d, root, layers) = many_packs();
    assert!(listed(&root).len() > 30, "{} packs", listed(&root).len());
    assert_midx_covers(&root);
    let repo = Repository::open(&root).unwrap();
    assert!(repo.store.uses_midx());
    let first = contents(&repo, &layers[0]);
    assert_eq!(first.len(), 26);
    assert_eq!(first[&b"link"[..]], b"d0/missing target");
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("r");
    ok(
        &root,
        &["-q", "restore", &layers[1], "--to", to.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(to.join("big.bin")).unwrap(),
        std::fs::read(root.join("big.bin")).unwrap()
    );
    ok(&root, &["-q", "verify", "--data"]);
}

/// Flips a bit in every region of the file and a sample of all its bytes, and cuts it
/// short: whatever the damage, both layers read back byte for byte and verify passes; gc
/// then writes a sound multi-pack index again.
#[test]
fn a_damaged_midx_gives_no_wrong_answer() {
    let (_d, root, layers) = many_packs();
    let repo = Repository::open(&root).unwrap();
    let want = [contents(&repo, &layers[0]), contents(&repo, &layers[1])];
    drop(repo);
    let path = packs_dir(&root).join(MIDX_FILE);
    let good = std::fs::read(&path).unwrap();
    let packs = listed(&root).len();
    // Header, names, fan-out, bucket sums, head sum, then entries.
    let names_end = 24 + 32 * packs;
    let marks = [
        0,
        9,
        13,
        17,
        21,
        24 + 5,
        names_end - 1,
        names_end + 400,
        names_end + 1024 + 100,
    ];
    let entries = names_end + 1024 + 8192 + 32;
    let sample = (0..good.len()).step_by(good.len() / 40 + 1);
    let mut cases: Vec<(String, Vec<u8>)> = marks
        .iter()
        .chain(&[entries - 3, entries + 10, entries + 33, good.len() - 1])
        .copied()
        .chain(sample)
        .map(|at| {
            let mut bad = good.clone();
            bad[at] ^= 0x04;
            (format!("bit flip at {at}"), bad)
        })
        .collect();
    cases.push(("cut short".into(), good[..good.len() - 54].to_vec()));
    cases.push(("only the header".into(), good[..24].to_vec()));
    cases.push(("empty".into(), Vec::new()));
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let repo = Repository::open(&root).unwrap();
        for (layer, want) in layers.iter().zip(&want) {
            assert!(
                contents(&repo, layer) == *want,
                "{what}: layer {layer} reads back"
            );
        }
    }
    std::fs::write(&path, b"junk").unwrap();
    ok(&root, &["-q", "verify", "--data"]);
    ok(&root, &["-q", "gc"]);
    assert_midx_exact(&root);
    assert_reads(&root, &layers, &want);
}

/// A pack the multi-pack index does not name (published by a writer that did not rewrite
/// it) is searched through its own index; a pack it names that is gone makes it untrusted
/// as a whole; either way the next writer puts it right.
#[test]
fn a_midx_that_does_not_name_the_packs_present_is_not_trusted_alone() {
    let (_d, root, layers) = many_packs();
    let repo = Repository::open(&root).unwrap();
    let want = [contents(&repo, &layers[0]), contents(&repo, &layers[1])];
    drop(repo);
    let path = packs_dir(&root).join(MIDX_FILE);
    let old = std::fs::read(&path).unwrap();
    // An extra pack: a third layer written after the multi-pack index was saved.
    std::fs::write(root.join("third.txt"), b"only in the newest pack\n").unwrap();
    ok(&root, &["-q", "add", "-A"]);
    ok(&root, &["-q", "commit", "-m", "three"]);
    let three = layer_id(&root, "HEAD");
    std::fs::write(&path, &old).unwrap();
    let repo = Repository::open(&root).unwrap();
    assert!(
        repo.store.uses_midx(),
        "still used, with the extra packs' own indexes"
    );
    assert_eq!(
        contents(&repo, &three)[&b"third.txt"[..]],
        b"only in the newest pack\n"
    );
    drop(repo);
    // A pack it names is gone: gc merges every small pack, then the old table comes back.
    let before_gc = std::fs::read(&path).unwrap();
    ok(&root, &["-q", "gc", "--prune=now"]);
    assert_midx_exact(&root);
    std::fs::write(&path, &before_gc).unwrap();
    let repo = Repository::open(&root).unwrap();
    // Taken at its word until a read finds a pack it names gone; then packs/ is listed and
    // the table is no longer used.
    let _ = contents(&repo, &layers[0]);
    assert!(
        !repo.store.uses_midx(),
        "a table naming gone packs is not used"
    );
    assert_eq!(
        contents(&repo, &three)[&b"third.txt"[..]],
        b"only in the newest pack\n"
    );
    drop(repo);
    assert_reads(&root, &layers, &want);
    ok(&root, &["-q", "gc"]);
    assert_midx_exact(&root);
}

/// Killed while the multi-pack index is written or just after (by the writer of a commit),
/// or while gc merges, cairn loses nothing: every layer reads back and verifies, and the
/// command run again leaves a sound table.
#[test]
fn a_kill_around_the_midx_write_loses_nothing() {
    for point in ["midx:before-write", "midx:after-write"] {
        let (_d, root, layers) = many_packs();
        let repo = Repository::open(&root).unwrap();
        let want = [contents(&repo, &layers[0]), contents(&repo, &layers[1])];
        drop(repo);
        // Adds and commits until one rewrites the table (at most eight packs later) and is
        // killed.
        let fail = [("CAIRN_FAILPOINT", point)];
        let killed = (0..10).find(|i| {
            std::fs::write(root.join(format!("k{i}")), format!("{i}\n")).unwrap();
            !run(&root, &["-q", "add", "-A"], &fail).status.success()
                || !run(&root, &["-q", "commit", "-m", "k"], &fail)
                    .status
                    .success()
        });
        assert!(killed.is_some(), "{point}: a writer was killed");
        assert_reads(&root, &layers, &want);
        ok(&root, &["-q", "add", "-A"]);
        ok(
            &root,
            &["-q", "commit", "--skip-if-unchanged", "-m", "again"],
        );
        assert_midx_covers(&root);
        assert_reads(&root, &layers, &want);
    }
    for point in ["gc:after-new-packs", "gc:after-first-delete"] {
        let (_d, root, layers) = many_packs();
        let repo = Repository::open(&root).unwrap();
        let want = [contents(&repo, &layers[0]), contents(&repo, &layers[1])];
        drop(repo);
        let out = run(&root, &["-q", "gc"], &[("CAIRN_FAILPOINT", point)]);
        assert!(!out.status.success(), "{point}: gc was killed");
        assert_reads(&root, &layers, &want);
        ok(&root, &["-q", "gc"]);
        assert_midx_exact(&root);
        assert_reads(&root, &layers, &want);
    }
}
