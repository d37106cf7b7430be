//! The staging index remembers the tree ids of unchanged directories (git's cache-tree), so
//! a commit builds only the trees on the paths that changed. Every change to the index under
//! a directory must forget that directory's tree and its ancestors': after each kind of
//! change, every remembered tree must equal the one built from scratch, and every commit's
//! tree the one built from scratch from the index it committed.

use std::fs;

use cairn::build::build;
use cairn::hash::ObjectId;
use cairn::index::{CachedTree, StagingIndex};
use cairn::pack::PackIndex;
use cairn::Repository;

use crate::support::Env;

/// Three levels of directories with a few files each, and a file at the top.
fn dataset() -> Env {
    let env = Env::new();
    for d in ["a/x", "a/y", "b", "c/deep/er"] {
        for i in 0..3 {
            env.write(format!("{d}/f{i}"), format!("{d} {i}\n"));
        }
    }
    env.write("top", "top\n");
    env
}

fn index(env: &Env) -> (Repository, StagingIndex) {
    let repo = Repository::open(&env.root).expect("open the repository");
    let idx = repo.load_index().expect("the staging index loads");
    (repo, idx)
}

/// Every tree the index remembers is the one its entries build now, from scratch.
fn assert_remembered_trees_hold(env: &Env, what: &str) {
    let (repo, idx) = index(env);
    let scratch = build(&idx, repo.algo()).expect("the index builds");
    for (dir, t) in idx.entries.trees() {
        assert_eq!(
            scratch.cache.get(dir),
            Some(t),
            "{what}: the remembered tree of {:?}",
            String::from_utf8_lossy(dir)
        );
    }
}

/// Commits whatever is staged and checks that the layer's tree is the one built from
/// scratch from the index, and that the index then remembers every directory.
fn commit_and_check(env: &Env, what: &str) {
    assert_remembered_trees_hold(env, &format!("{what}, before the commit"));
    let v = env.json(&["commit", "--allow-empty", "-m", what]);
    let tree: ObjectId = v["tree"].as_str().unwrap().parse().unwrap();
    let (repo, idx) = index(env);
    let scratch = build(&idx, repo.algo()).expect("the index builds");
    assert_eq!(tree, scratch.root, "{what}: the committed tree");
    assert_eq!(idx.entries.trees(), &scratch.cache, "{what}: remembered");
    assert_remembered_trees_hold(env, what);
    crate::support::assert_verifies(&env.root, false, what);
}

fn remembered(env: &Env) -> Vec<String> {
    let (_, idx) = index(env);
    let name = |d: &Vec<u8>| String::from_utf8_lossy(d).into_owned();
    idx.entries.trees().keys().map(name).collect()
}

#[test]
fn every_kind_of_change_forgets_the_trees_above_it() {
    let env = dataset();
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "first");
    let all = remembered(&env);
    assert_eq!(
        all,
        ["", "a", "a/x", "a/y", "b", "c", "c/deep", "c/deep/er"]
    );

    env.write("a/x/f1", "changed\n");
    env.ok(&["add", "a/x/f1"]);
    assert_eq!(remembered(&env), ["a/y", "b", "c", "c/deep", "c/deep/er"]);
    commit_and_check(&env, "add a change");

    env.write("c/deep/er/new", "new\n");
    env.ok(&["add", "c"]);
    assert_eq!(remembered(&env), ["a", "a/x", "a/y", "b"]);
    commit_and_check(&env, "add a new file");

    env.ok(&["rm", "b/f0"]);
    commit_and_check(&env, "rm");

    env.ok(&["mv", "a/y", "c/moved"]);
    assert_eq!(remembered(&env), ["a/x", "b", "c/deep", "c/deep/er"]);
    commit_and_check(&env, "mv");

    env.set_mtime("b/f1", 1_000_000_000);
    env.ok(&["add", "b"]);
    assert!(!remembered(&env).contains(&"b".to_string()), "a new mtime");
    commit_and_check(&env, "touch");

    env.ok(&["reset", "HEAD~3"]);
    commit_and_check(&env, "reset to an older layer");

    env.ok(&["reset", "HEAD~2", "--", "a/x"]);
    commit_and_check(&env, "reset of some paths");

    env.ok(&["checkout", "-f", "HEAD~4"]);
    env.ok(&["checkout", "-b", "side"]);
    commit_and_check(&env, "checkout of an older layer");

    env.ok(&["checkout", "main", "--", "c"]);
    commit_and_check(&env, "checkout of some paths");

    fs::remove_dir_all(env.path("c")).unwrap();
    env.symlink("a", "c");
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "a directory replaced by a symlink");
}

/// A commit that changes one file writes the trees on its path, its file object and the
/// layer: nothing else is built, hashed or written.
#[test]
fn one_change_writes_only_the_trees_on_its_path() {
    let env = Env::new();
    for d in 0..20 {
        for e in 0..3 {
            for f in 0..5 {
                env.write(format!("d{d}/e{e}/f{f}"), format!("{d} {e} {f}\n"));
            }
        }
    }
    env.ok(&["add", "-A"]);
    env.ok(&["commit", "-m", "all"]);
    env.write("d7/e1/f3", "changed\n");
    env.ok(&["add", "-A"]);
    let packs = |env: &Env| -> Vec<_> {
        let mut v: Vec<_> = fs::read_dir(env.path(".cairn/packs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect();
        v.sort();
        v
    };
    let before = packs(&env);
    commit_and_check(&env, "one change");
    let new: Vec<_> = packs(&env)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(new.len(), 1, "one metadata pack");
    let idx = PackIndex::open(&new[0]).unwrap();
    assert_eq!(
        idx.len(),
        3 + 1 + 1,
        "root, d7, d7/e1, one file object, the layer"
    );
}

/// Cached trees that no longer fit are built again, never committed: one naming a tree the
/// store lacks (gc deletes trees no layer reaches), one whose count of entries is wrong.
#[test]
fn a_remembered_tree_that_does_not_fit_is_built_again() {
    let env = dataset();
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "first");
    let (repo, mut idx) = index(&env);
    let mut trees = idx.entries.trees().clone();
    let y = trees[&b"a/y".to_vec()];
    trees.insert(
        b"a/x".to_vec(),
        CachedTree {
            id: ObjectId([7; 32]),
            ..y
        },
    );
    trees.insert(b"b".to_vec(), CachedTree { files: 4, ..y });
    idx.entries.remember_trees(trees);
    idx.save(
        &cairn::index::index_path(&env.path(".cairn")),
        &env.path(".cairn/tmp"),
        repo.algo(),
    )
    .unwrap();
    drop(repo);
    env.write("top", "changed\n");
    env.ok(&["add", "top"]);
    env.ok(&["commit", "-m", "second"]);
    let listed = env.ok(&["ls", "-r", "HEAD", "a/x"]);
    assert!(listed.contains("f0"), "{listed}");
    let listed = env.ok(&["ls", "-r", "HEAD", "b"]);
    assert!(listed.contains("f2"), "{listed}");
    crate::support::assert_verifies(&env.root, true, "after the commit");
}

/// A commit takes remembered trees without asking the store; one that gc deleted (no layer
/// reaches it after `reset --soft`) is met by the diff against HEAD and built again, with
/// every tree above it: the layer verifies, and the index then remembers the trees built.
#[test]
fn a_remembered_tree_that_gc_deleted_is_built_again() {
    let env = dataset();
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "first");
    env.write("c/deep/er/f1", "changed\n");
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "second");
    let (_, idx) = index(&env);
    let lost = idx.entries.trees()[&b"c/deep/er".to_vec()].id;
    // The index keeps the second layer's trees; nothing but the reflog reaches them.
    env.ok(&["reset", "--soft", "HEAD~1"]);
    env.ok(&["gc", "--prune=now"]);
    let repo = Repository::open(&env.root).unwrap();
    assert!(
        !repo.store.contains(&lost),
        "gc deleted the remembered tree"
    );
    drop(repo);
    // A change elsewhere: the remembered c/deep/er is taken as it is, and found missing.
    env.write("b/f2", "changed too\n");
    env.ok(&["add", "-A"]);
    assert!(remembered(&env).contains(&"c/deep/er".to_string()));
    commit_and_check(&env, "after gc");
    let shown = env.ok(&["cat", "HEAD:c/deep/er/f1"]);
    assert_eq!(shown, "changed\n");
    let repo = Repository::open(&env.root).unwrap();
    assert!(repo.store.contains(&lost), "built and written again");
}

/// A commit of more files than `MANY_LOOKUPS` drops the store's listing before finishing
/// its pack (so the multi-pack index is not mapped twice): every file is still written and
/// found, then and at the next commit.
#[test]
fn a_commit_of_thousands_of_files_writes_and_finds_them_all() {
    let env = Env::new();
    for d in 0..50 {
        for f in 0..100 {
            env.write(format!("d{d:02}/f{f:03}"), format!("{d} {f}\n"));
        }
    }
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "5,000 files");
    assert_eq!(env.ok(&["cat", "HEAD:d49/f099"]), "49 99\n");
    env.write("d07/f042", "changed\n");
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "one change among them");
    assert_eq!(env.ok(&["cat", "HEAD:d07/f042"]), "changed\n");
    assert_eq!(env.ok(&["cat", "HEAD~1:d07/f042"]), "7 42\n");
}

/// A flipped bit in the remembered trees is found by the index checksum: the command fails
/// with the index's path and nothing is committed.
#[test]
fn a_damaged_remembered_tree_is_an_error() {
    let env = dataset();
    env.ok(&["add", "-A"]);
    env.ok(&["commit", "-m", "first"]);
    env.write("top", "changed\n");
    env.ok(&["add", "top"]);
    env.ok(&["commit", "-m", "second"]);
    let head = env.head();
    env.write("top", "again\n");
    env.ok(&["add", "top"]);
    let p = env.path(".cairn/index");
    let mut bytes = fs::read(&p).unwrap();
    let at = bytes.len() - 40; // inside the last remembered tree
    bytes[at] ^= 0x10;
    fs::write(&p, &bytes).unwrap();
    let err = env.fails(&["commit", "-m", "third"]);
    assert!(
        err.contains("staging index") && err.contains("index"),
        "{err}"
    );
    assert_eq!(env.head(), head, "nothing was committed");
}

/// An add killed at a checkpoint and run again leaves no stale remembered tree.
#[cfg(feature = "failpoints")]
#[test]
fn a_killed_add_run_again_forgets_what_it_staged() {
    let env = dataset();
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "first");
    for d in ["a/x", "b", "c/deep/er"] {
        for i in 0..3 {
            env.write(format!("{d}/f{i}"), crate::support::random_bytes(i, 20_000));
        }
    }
    // Two readers: each stops after one file at every checkpoint, so the nine files take
    // several (as many readers as files would read them all before the first).
    let out = crate::support::run(
        &env.root,
        &["--threads", "2", "add", "-A"],
        &[
            ("CAIRN_TEST_CHECKPOINT_MS", "0"),
            ("CAIRN_FAILPOINT", "add:after-checkpoint@2"),
        ],
    );
    assert!(crate::support::killed_by(&out.status).is_some(), "{out:?}");
    assert_remembered_trees_hold(&env, "after the kill");
    env.ok(&["add", "-A"]);
    commit_and_check(&env, "resumed");
}

/// Rewrites the repository's index as an earlier cairn wrote it, in `version` (as FORMAT.md
/// describes it, through the format tests' reference writer).
fn rewrite_as_version(env: &Env, version: u32) {
    let (_, idx) = index(env);
    let bytes = crate::format_vectors::ref_staging_index(cairn::HashAlgo::Blake3, &idx, version);
    fs::write(env.path(".cairn/index"), bytes).unwrap();
}

/// A repository whose index an earlier cairn wrote keeps working: version 3 reads as
/// remembering no tree, and the next commit builds them all and remembers them; version 4
/// (every entry with its file id) reads as the same index. Either is saved as version 5.
#[test]
fn an_index_of_the_previous_version_keeps_working() {
    for version in [3, 4] {
        let env = dataset();
        env.ok(&["add", "-A"]);
        env.ok(&["commit", "-m", "first"]);
        let (_, before) = index(&env);
        rewrite_as_version(&env, version);
        let (_, idx) = index(&env);
        assert_eq!(idx.entries.trees().is_empty(), version == 3);
        assert_eq!(idx.entries.len(), 13);
        assert!(idx.entries.iter().eq(before.entries.iter()), "v{version}");
        assert_eq!(env.ok(&["status", "--short"]), "");
        env.write("a/y/f2", "changed\n");
        env.ok(&["add", "-A"]);
        commit_and_check(&env, &format!("after version {version}"));
        assert_eq!(remembered(&env).len(), 8);
        let b = fs::read(env.path(".cairn/index")).unwrap();
        assert_eq!(&b[8..12], &5u32.to_le_bytes(), "written as version 5");
    }
}
