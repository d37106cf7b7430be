//! The multi-pack index: lookups through it in a repository of many packs, and every way it
//! can be wrong (bit flips anywhere, truncation, a pack it names gone, a pack it does not
//! name, a kill while it is written): readers fall back to the packs' own indexes, lose
//! nothing and give no wrong answer, and the next writer or gc writes a sound one again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn::hash::ObjectId;
use cairn::object::EntryKind;
use cairn::pack::midx::{encode, Midx, MIDX_FILE, TAIL_FILE};
use cairn::pack::{PackIndex, UNNAMED_FILE};
use cairn::{HashAlgo, Repository};

use crate::support::*;

/// What each of `layers` holds, read through a repository opened and closed here.
fn contents_of(root: &Path, layers: &[String; 2]) -> [BTreeMap<Vec<u8>, Vec<u8>>; 2] {
    let repo = Repository::open(root).unwrap();
    [contents(&repo, &layers[0]), contents(&repo, &layers[1])]
}

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

/// The sound table `file` of `root`'s multi-pack index, if it exists.
fn table(root: &Path, file: &str) -> Option<Midx> {
    let bytes = std::fs::read(packs_dir(root).join(file)).ok()?;
    let m = Midx::from_bytes(bytes, HashAlgo::Blake3).expect("its head is sound");
    m.verify().expect("every bucket is sound");
    Some(m)
}

/// The packs the base and the tail of the multi-pack index name, each once, sorted; and
/// how many the tail names. Panics when either is damaged, or when they overlap.
pub(crate) fn midx_names(root: &Path) -> (Vec<ObjectId>, usize) {
    let base = table(root, MIDX_FILE).expect("a multi-pack index");
    let tail = table(root, TAIL_FILE).map_or(Vec::new(), |t| t.names());
    let mut all = base.names();
    all.extend(&tail);
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(
        all.len(),
        before,
        "the base and the tail name no pack twice"
    );
    (all, tail.len())
}

/// Asserts the multi-pack index is sound and names exactly the packs present, or with
/// fewer packs than the writers' slack that there is none.
pub(crate) fn assert_midx_exact(root: &Path) {
    if listed(root).len() < cairn::pack::midx_write::MIDX_SLACK {
        let path = packs_dir(root).join(MIDX_FILE);
        assert!(!path.exists(), "a few packs need no multi-pack index");
        assert!(!packs_dir(root).join(TAIL_FILE).exists(), "nor a tail");
        return;
    }
    let (named, tail) = midx_names(root);
    assert!(
        tail <= cairn::pack::midx_write::TAIL_PACKS,
        "{tail} packs in the tail"
    );
    assert_eq!(named, listed(root), "it names exactly the packs present");
}

/// Every byte of both layers reads back the same, and `verify --data` passes.
fn assert_reads(root: &Path, layers: &[String; 2], want: &[BTreeMap<Vec<u8>, Vec<u8>>; 2]) {
    let repo = Repository::open(root).unwrap();
    for (layer, want) in layers.iter().zip(want) {
        assert!(contents(&repo, layer) == *want, "layer {layer} reads back");
    }
    ok(root, &["-q", "verify", "--data"]);
}

#[test]
fn many_packs_read_through_one_midx() {
    let (_d, root, layers) = many_packs();
    assert!(listed(&root).len() > 30, "{} packs", listed(&root).len());
    assert_midx_exact(&root);
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
    let want = contents_of(&root, &layers);
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
    let want = contents_of(&root, &layers);
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
        let want = contents_of(&root, &layers);
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
        assert_midx_exact(&root);
        assert_reads(&root, &layers, &want);
    }
    for point in ["gc:after-new-packs", "gc:after-first-delete"] {
        let (_d, root, layers) = many_packs();
        let want = contents_of(&root, &layers);
        let out = run(&root, &["-q", "gc"], &[("CAIRN_FAILPOINT", point)]);
        assert!(!out.status.success(), "{point}: gc was killed");
        assert_reads(&root, &layers, &want);
        ok(&root, &["-q", "gc"]);
        assert_midx_exact(&root);
        assert_reads(&root, &layers, &want);
    }
}

/// Adds and commits one new file of its own content, in one data and one metadata pack.
fn commit_one(root: &Path, name: &str) {
    std::fs::write(root.join(name), format!("the file {name}\n")).unwrap();
    ok(root, &["-q", "add", name]);
    ok(root, &["-q", "commit", "-m", name]);
}

/// A writer of one small pack rewrites the tail, not the base: the base's bytes stay as
/// they were over several commits while the two tables keep naming every pack. A write
/// that takes the tail past its limit folds it into the base, which then names everything.
#[test]
fn small_writes_extend_the_tail_and_a_long_tail_is_folded() {
    let (_d, root, layers) = many_packs();
    let want = contents_of(&root, &layers);
    let base = std::fs::read(packs_dir(&root).join(MIDX_FILE)).unwrap();
    for i in 0..3 {
        commit_one(&root, &format!("one-{i}.txt"));
        assert_midx_exact(&root);
    }
    let (_, tail) = midx_names(&root);
    assert!(tail >= 6, "the six new packs are in the tail ({tail})");
    let after = std::fs::read(packs_dir(&root).join(MIDX_FILE)).unwrap();
    assert!(after == base, "the base was not rewritten");
    let repo = Repository::open(&root).unwrap();
    assert!(repo.store.uses_midx());
    assert_eq!(
        contents(&repo, &layer_id(&root, "HEAD"))[&b"one-2.txt"[..]],
        b"the file one-2.txt\n"
    );
    drop(repo);
    // One chunk per pack: an add of more files than the tail may name folds it.
    let many = cairn::pack::midx_write::TAIL_PACKS + 6;
    for i in 0..many {
        std::fs::write(root.join(format!("fold-{i}")), format!("fold {i}\n")).unwrap();
    }
    ok_env(
        &root,
        &["-q", "add", "-A"],
        &[("CAIRN_TEST_PACK_TARGET", "1")],
    );
    assert!(
        !packs_dir(&root).join(TAIL_FILE).exists(),
        "the tail was folded"
    );
    assert_midx_exact(&root);
    ok(&root, &["-q", "commit", "-m", "folded"]);
    assert_midx_exact(&root);
    assert_reads(&root, &layers, &want);
}

/// Whatever is wrong with the tail (a bit flipped anywhere, cut short, naming a pack that
/// is gone, overlapping the base), every layer reads back through the base and the packs'
/// own indexes, and the next writer puts the tables right.
#[test]
fn a_damaged_or_stale_tail_gives_no_wrong_answer() {
    let (_d, root, layers) = many_packs();
    commit_one(&root, "tail.txt");
    let three = layer_id(&root, "HEAD");
    let repo = Repository::open(&root).unwrap();
    let want = [contents(&repo, &layers[0]), contents(&repo, &layers[1])];
    let want_three = contents(&repo, &three);
    drop(repo);
    let path = packs_dir(&root).join(TAIL_FILE);
    let good = std::fs::read(&path).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = (0..good.len())
        .step_by(good.len() / 30 + 1)
        .chain([good.len() - 1])
        .map(|at| {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            (format!("bit flip at {at}"), bad)
        })
        .collect();
    cases.push(("cut short".into(), good[..good.len() / 2].to_vec()));
    let base = std::fs::read(packs_dir(&root).join(MIDX_FILE)).unwrap();
    cases.push(("the base as the tail".into(), base));
    // A sound tail that puts the newest packs' objects in a pack that is not there.
    let newest = Midx::from_bytes(good.clone(), HashAlgo::Blake3)
        .unwrap()
        .names();
    let indexes: Vec<_> = newest
        .iter()
        .map(|n| PackIndex::open(&packs_dir(&root).join(format!("{n}.idx"))).unwrap())
        .collect();
    let gone = [ObjectId([0xee; 32]), ObjectId([0xef; 32])];
    let refs: Vec<_> = gone.iter().copied().zip(&indexes).collect();
    cases.push((
        "naming packs that are gone".into(),
        encode(HashAlgo::Blake3, &refs),
    ));
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let repo = Repository::open(&root).unwrap();
        for (layer, want) in layers.iter().zip(&want) {
            assert!(
                contents(&repo, layer) == *want,
                "{what}: layer {layer} reads back"
            );
        }
        assert!(
            contents(&repo, &three) == want_three,
            "{what}: the newest layer reads back"
        );
    }
    ok(&root, &["-q", "verify", "--data"]);
    commit_one(&root, "after.txt");
    assert_midx_exact(&root);
    assert_reads(&root, &layers, &want);
}

/// A pack published by another writer between the moment a writer lists `packs/` and the
/// moment it publishes the tail (a writer that takes no lock, such as an older cairn) is
/// not named by the tail; its objects are still found (a miss lists `packs/`), and the
/// first writer that lists `packs/` names it.
#[test]
fn a_pack_published_while_the_tail_is_written_is_found_and_named_once_listed() {
    let (_d, root, layers) = many_packs();
    let want = contents_of(&root, &layers);
    // The pack of another repository: a chunk this one does not hold.
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["init", "-q"]);
    let content = b"published behind the writer's back\n";
    std::fs::write(other.path().join("x"), content).unwrap();
    ok(other.path(), &["-q", "add", "x"]);
    let pack = std::fs::read_dir(other.path().join(".cairn/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("the add's pack");
    std::fs::write(root.join("w.txt"), b"the writer's own file\n").unwrap();
    let before = listed(&root).len();
    let pause = [("CAIRN_FAILPOINT", "midx:before-write=sleep2000")];
    let mut writer = spawn(&root, &["-q", "add", "w.txt"], &pause);
    // Its pack is published, then it lists the packs and stops before writing the tail.
    let published = wait_for(Duration::from_secs(20), || listed(&root).len() > before);
    assert!(published, "the writer published its pack");
    std::thread::sleep(Duration::from_millis(400));
    let dest = packs_dir(&root).join(pack.file_name().unwrap());
    std::fs::copy(&pack, &dest).unwrap();
    std::fs::copy(pack.with_extension("idx"), dest.with_extension("idx")).unwrap();
    assert!(writer.wait().unwrap().success());
    let (named, _) = midx_names(&root);
    let name: ObjectId = pack.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert!(
        !named.contains(&name),
        "the tail was listed before the pack came"
    );
    assert_eq!(named.len() + 1, listed(&root).len());
    let id = HashAlgo::Blake3.hash(cairn::hash::Domain::Chunk, content);
    let found = || {
        let repo = Repository::open(&root).unwrap();
        assert_eq!(
            repo.read_chunk(&id).unwrap(),
            content,
            "found through its own index"
        );
    };
    found();
    // The next writer takes the packs present from the table (nothing left the marker of
    // unnamed packs), so it does not name the pack; the marker makes the one after it list
    // `packs/` and name it.
    commit_one(&root, "next.txt");
    assert_eq!(midx_names(&root).0.len() + 1, listed(&root).len());
    found();
    std::fs::write(packs_dir(&root).join(UNNAMED_FILE), b"").unwrap();
    commit_one(&root, "listed.txt");
    assert_midx_exact(&root);
    assert!(!packs_dir(&root).join(UNNAMED_FILE).exists());
    found();
    let repo = Repository::open(&root).unwrap();
    assert_eq!(repo.read_chunk(&id).unwrap(), content);
    drop(repo);
    assert_reads(&root, &layers, &want);
}

/// A writer killed after publishing its pack and before naming it in the multi-pack index
/// leaves the marker of unnamed packs: readers find what it stored (a miss lists
/// `packs/`), and the next writer lists `packs/` instead of taking the packs from the
/// table, so it sees the pack (it stores the same file again without writing a pack); the
/// first writer after it that publishes a pack names it, and the marker goes.
#[test]
fn a_writer_killed_before_naming_its_pack_makes_the_next_one_list() {
    let content = b"stored by a writer killed before the table\n";
    let id = HashAlgo::Blake3.hash(cairn::hash::Domain::Chunk, content);
    for point in ["pack:after-index", "midx:before-write"] {
        let (_d, root, layers) = many_packs();
        let want = contents_of(&root, &layers);
        let marker = packs_dir(&root).join(UNNAMED_FILE);
        assert!(!marker.exists(), "finished writers leave no marker");
        std::fs::write(root.join("killed.txt"), content).unwrap();
        let before = listed(&root);
        let out = run(
            &root,
            &["-q", "add", "killed.txt"],
            &[("CAIRN_FAILPOINT", point)],
        );
        assert!(!out.status.success(), "{point}: the add was killed");
        let after = listed(&root);
        assert_eq!(after.len(), before.len() + 1, "{point}: its pack is there");
        assert_eq!(midx_names(&root).0, before, "{point}: and not named");
        assert!(marker.exists(), "{point}: the marker stays");
        let repo = Repository::open(&root).unwrap();
        assert_eq!(
            repo.read_chunk(&id).unwrap(),
            content,
            "{point}: a reader finds it"
        );
        drop(repo);
        ok(&root, &["-q", "add", "killed.txt"]);
        assert_eq!(
            listed(&root),
            after,
            "{point}: the chunk was seen, not written again"
        );
        assert!(
            marker.exists(),
            "{point}: a writer that publishes nothing leaves it"
        );
        ok(&root, &["-q", "commit", "-m", "after the kill"]);
        assert!(
            !marker.exists(),
            "{point}: the commit's writer named it; the marker went"
        );
        assert_midx_exact(&root);
        let head = contents_of(&root, &[layer_id(&root, "HEAD"), layers[1].clone()]);
        assert_eq!(head[0][&b"killed.txt"[..]], content);
        assert_reads(&root, &layers, &want);
    }
}

/// Killed between writing the folded base and deleting the tail, cairn loses nothing:
/// the stale tail overlaps the base and is not used, and the next writer deletes it.
#[test]
fn a_kill_between_a_fold_and_the_tail_deletion_loses_nothing() {
    let (_d, root, layers) = many_packs();
    let want = contents_of(&root, &layers);
    commit_one(&root, "in-tail.txt");
    for i in 0..cairn::pack::midx_write::TAIL_PACKS + 2 {
        std::fs::write(root.join(format!("fold-{i}")), format!("fold {i}\n")).unwrap();
    }
    let env = [
        ("CAIRN_TEST_PACK_TARGET", "1"),
        ("CAIRN_FAILPOINT", "midx:after-fold"),
    ];
    let out = run(&root, &["-q", "add", "-A"], &env);
    assert!(!out.status.success(), "the add was killed after the fold");
    assert!(
        packs_dir(&root).join(TAIL_FILE).exists(),
        "the tail was left"
    );
    assert_reads(&root, &layers, &want);
    ok(&root, &["-q", "add", "-A"]);
    ok(&root, &["-q", "commit", "-m", "after the kill"]);
    assert_midx_exact(&root);
    assert_reads(&root, &layers, &want);
}

/// A clone, and a pull of new layers, name the packs they download in the multi-pack index
/// as a writer does, so their readers need not list `packs/`.
#[test]
fn clone_and_pull_name_the_packs_they_download() {
    let (_d, root, layers) = many_packs();
    let far = tempfile::tempdir().unwrap();
    let url = format!("file://{}", far.path().join("remote").display());
    ok(&root, &["remote", "add", "origin", &url]);
    ok(&root, &["-q", "push"]);
    let to = tempfile::tempdir().unwrap();
    let clone = to.path().join("clone");
    ok(to.path(), &["-q", "clone", &url, clone.to_str().unwrap()]);
    assert!(listed(&clone).len() > 30, "{} packs", listed(&clone).len());
    assert_midx_exact(&clone);
    commit_one(&root, "pulled.txt");
    ok(&root, &["-q", "push"]);
    ok(&clone, &["-q", "pull"]);
    assert_midx_exact(&clone);
    let repo = Repository::open(&clone).unwrap();
    assert!(repo.store.uses_midx());
    let head = layer_id(&clone, "HEAD");
    assert_eq!(
        contents(&repo, &head)[&b"pulled.txt"[..]],
        b"the file pulled.txt\n"
    );
    assert!(contents(&repo, &layers[0]) == contents(&Repository::open(&root).unwrap(), &layers[0]));
}

/// A multi-pack index whose checksums are all valid but whose offsets are wrong (crafted,
/// or written by a faulty tool) makes no read fail: a record that does not match the table's
/// entry is looked up in the packs' own indexes, and every layer reads back.
#[test]
fn a_table_with_valid_checksums_but_wrong_offsets_falls_back_to_the_packs() {
    use cairn::hash::Domain;
    let (_d, root, layers) = many_packs();
    let want = contents_of(&root, &layers);
    let path = packs_dir(&root).join(MIDX_FILE);
    let mut b = std::fs::read(&path).unwrap();
    let algo = HashAlgo::Blake3;
    let m = Midx::from_bytes(b.clone(), algo).unwrap();
    let (packs, count) = (m.names().len(), m.len());
    let sums = 24 + 32 * packs + 1024;
    let entries = sums + 8192 + 32;
    // Every record one byte off, then every bucket sum and the head sum made to match.
    for i in 0..count {
        let at = entries + i * 54 + 36;
        let off = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) + 1;
        b[at..at + 8].copy_from_slice(&off.to_le_bytes());
    }
    let fan: Vec<usize> = (0..256)
        .map(|k| {
            let at = 24 + 32 * packs + 4 * k;
            u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
        })
        .collect();
    let mut lo = 0;
    for k in 0..256 {
        let hi = fan[k];
        let sum = algo.hash(Domain::Checksum, &b[entries + lo * 54..entries + hi * 54]);
        b[sums + 32 * k..sums + 32 * k + 32].copy_from_slice(sum.as_bytes());
        lo = hi;
    }
    let head = algo.hash(Domain::Checksum, &b[..entries - 32]);
    b[entries - 32..entries].copy_from_slice(head.as_bytes());
    let crafted = Midx::from_bytes(b.clone(), algo).unwrap();
    crafted.verify().expect("every checksum is valid");
    std::fs::write(&path, &b).unwrap();
    let repo = Repository::open(&root).unwrap();
    assert!(
        repo.store.uses_midx(),
        "the crafted table is taken at its word"
    );
    for (layer, want) in layers.iter().zip(&want) {
        assert!(contents(&repo, layer) == *want, "layer {layer} reads back");
    }
    drop(repo);
    ok(&root, &["-q", "verify", "--data"]);
}
