//! Each object is written once and none is lost: `add` and `commit` of tens of thousands of
//! files whose contents, directories and chunk lists repeat store each chunk, chunk list,
//! file object and tree exactly once, and every object the layer names.

use std::collections::HashMap;

use cairn::pack::{ObjectKind, PackIndex};

use crate::support::{assert_restores, assert_verifies, random_bytes, worktree, TestRepo};

/// Every object in the repository's packs: how many records each id has, and its kind.
fn records(t: &TestRepo) -> HashMap<cairn::hash::ObjectId, (usize, ObjectKind)> {
    let mut out: HashMap<_, (usize, ObjectKind)> = HashMap::new();
    for e in std::fs::read_dir(t.path(".cairn/packs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            for e in PackIndex::open(&p).unwrap().entries() {
                let e = e.unwrap();
                out.entry(e.id).or_insert((0, e.kind)).0 += 1;
            }
        }
    }
    out
}

/// 20,000 small files of 1,500 contents in 200 directories, of which only 15 differ (the
/// others repeat one of them name for name, content for content and time for time, so
/// they have the same tree), and three large files: one a copy of another (the same file
/// object), one sharing the first two thirds of it (the same first chunk lists).
#[test]
fn duplicated_contents_are_written_once() {
    let t = TestRepo::empty();
    t.ok(&["init", "-q", "--chunk-size", "1024"]);
    for d in 0..200 {
        for i in 0..100 {
            let content = ((d % 100) * 100 + i) % 1500;
            let dir = if d < 100 { "d" } else { "m" };
            let path = format!("{dir}{:02}/f{i}", d % 100);
            t.write(path, format!("content {content}\n"));
        }
    }
    let big = random_bytes(5, 600 << 10);
    let mut shares = big[..400 << 10].to_vec();
    shares.extend_from_slice(&random_bytes(6, 200 << 10));
    t.write("big/one.bin", &big);
    t.write("big/copy.bin", &big);
    t.write("big/shares.bin", &shares);
    t.fix_mtimes(1_700_000_000);
    t.ok(&["add", "-A", "-q"]);
    t.commit("duplicates");

    let records = records(&t);
    let twice: Vec<_> = records.iter().filter(|(_, (n, _))| *n > 1).collect();
    assert!(twice.is_empty(), "written more than once: {twice:?}");
    let count = |kind| records.values().filter(|(_, k)| *k == kind).count();
    // 1,500 small contents and the two distinct large ones.
    assert_eq!(count(ObjectKind::File), 1502);
    // The root, d00 to d14 (d15 repeats d00, and m00 d00), and big/.
    assert_eq!(count(ObjectKind::Tree), 17);
    assert_eq!(count(ObjectKind::Layer), 1);
    assert!(
        count(ObjectKind::List) > 2,
        "the large files have chunk lists"
    );
    // Nothing the layer names is missing, and the files come back byte for byte.
    assert_verifies(t.root(), true, "after the commit");
    assert_restores(t.root(), "HEAD", &worktree(t.root()), "after the commit");
}
