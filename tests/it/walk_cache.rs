//! The walk cache: after `add -A` on a settled worktree, status reuses what the walk found,
//! and every change that could add an untracked file or change what is ignored still shows.

use std::path::Path;
use std::process::Command;

use cairn::index::{StagingIndex, Stat};
use cairn::HashAlgo;

fn cairn(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Files and directories dated an hour back, so the cache is not refused as racy.
fn settled_tree(root: &Path) {
    for d in ["a", "b/c"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["a/1.txt", "b/2.txt", "b/c/3.txt", "b/skip.log"] {
        std::fs::write(root.join(f), f.as_bytes()).unwrap();
    }
    std::fs::write(root.join(".cairnignore"), b"*.log\n").unwrap();
    let all = [
        "a",
        "b",
        "b/c",
        ".",
        "a/1.txt",
        "b/2.txt",
        "b/c/3.txt",
        "b/skip.log",
        ".cairnignore",
    ];
    touch(root, "1 hour ago", &all);
}

/// Sets the mtimes of `paths` (not following symlinks) to `when`, in `touch -d` syntax.
fn touch(root: &Path, when: &str, paths: &[&str]) {
    let status = Command::new("touch")
        .args(["-h", "-d", when])
        .args(paths)
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A settled tree after `init` and `add -A`, its root dated `root_when` just before the add
/// (init has just created `.cairn` in it).
fn added_tree(root_when: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    settled_tree(root);
    cairn(root, &["init", "-q"]);
    touch(root, root_when, &["."]);
    cairn(root, &["add", "-A", "-q"]);
    dir
}

fn cache_is_saved(root: &Path) -> bool {
    let idx = StagingIndex::load(&root.join(".cairn/index"), HashAlgo::Blake3).unwrap();
    idx.walk_cache.is_some()
}

#[test]
fn status_reuses_the_walk_and_still_sees_every_change() {
    let dir = added_tree("1 hour ago");
    let root = dir.path();
    assert!(cache_is_saved(root), "a settled tree gets a walk cache");
    cairn(root, &["commit", "-q", "-m", "one"]);
    assert_eq!(cairn(root, &["status", "--short"]), "");

    std::fs::write(root.join("b/c/new.txt"), b"new").unwrap();
    assert_eq!(cairn(root, &["status", "--short"]), "?? b/c/new.txt\n");
    std::fs::remove_file(root.join("b/c/new.txt")).unwrap();

    std::fs::create_dir(root.join("a/sub")).unwrap();
    std::fs::write(root.join("a/sub/x"), b"x").unwrap();
    assert_eq!(cairn(root, &["status", "--short"]), "?? a/sub/\n");
    std::fs::remove_dir_all(root.join("a/sub")).unwrap();

    // Editing an ignore file un-ignores a file no directory change would reveal.
    std::fs::write(root.join(".cairnignore"), b"*.tmp\n").unwrap();
    assert_eq!(
        cairn(root, &["status", "--short"]),
        " M .cairnignore\n?? b/skip.log\n"
    );
}

#[test]
fn rm_cached_drops_the_cache() {
    let dir = added_tree("1 hour ago");
    let root = dir.path();
    cairn(root, &["commit", "-q", "-m", "one"]);
    assert!(cache_is_saved(root));
    cairn(root, &["rm", "-q", "--cached", "a/1.txt"]);
    assert!(!cache_is_saved(root));
    assert_eq!(cairn(root, &["status", "--short"]), "D  a/1.txt\n?? a/\n");
}

/// A root dated a minute ahead is not safely before the walk (a test that does not depend on
/// how fast the machine is), so a change could hide in it.
const RACY: &str = "1 minute";

#[test]
fn a_racy_directory_is_cached_as_racy() {
    let dir = added_tree(RACY);
    let root = dir.path();
    let idx = StagingIndex::load(&root.join(".cairn/index"), HashAlgo::Blake3).unwrap();
    let cache = idx.walk_cache.expect("a cache, with the root marked racy");
    assert_eq!(cache.racy, vec![Vec::<u8>::new()]);
    assert_eq!(
        cairn(root, &["status", "--short"]),
        "A  .cairnignore\nA  a/1.txt\nA  b/2.txt\nA  b/c/3.txt\n"
    );
}

/// Simulates a change that left a racy directory's stat data as it was (a name added within
/// the same mtime tick): the cache is made to record the directory as it is now.
fn hide_change(root: &Path, rel: &str) {
    let path = root.join(".cairn/index");
    let mut idx = StagingIndex::load(&path, HashAlgo::Blake3).unwrap();
    let m = std::fs::symlink_metadata(root.join(rel)).unwrap();
    let cache = idx.walk_cache.as_mut().unwrap();
    let entry = cache.dirs.iter_mut().find(|(p, _)| p == rel.as_bytes());
    entry.unwrap().1 = Stat::from_metadata(&m);
    idx.save(&path, &root.join(".cairn/tmp"), HashAlgo::Blake3)
        .unwrap();
}

#[test]
fn status_lists_racy_directories_again() {
    let dir = added_tree(RACY);
    let root = dir.path();
    cairn(root, &["commit", "-q", "-m", "one"]);
    std::fs::write(root.join("new.txt"), b"new").unwrap();
    std::fs::write(root.join("skip.log"), b"ignored").unwrap();
    hide_change(root, "");
    assert_eq!(cairn(root, &["status", "--short"]), "?? new.txt\n");

    // A new directory in a racy one: the whole worktree is walked.
    std::fs::create_dir(root.join("d2")).unwrap();
    std::fs::write(root.join("d2/x"), b"x").unwrap();
    hide_change(root, "");
    assert_eq!(cairn(root, &["status", "--short"]), "?? d2/\n?? new.txt\n");
}

#[test]
fn a_racy_ignore_file_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join(".cairnignore"), b"*.log\n").unwrap();
    cairn(root, &["init", "-q"]);
    touch(root, RACY, &[".cairnignore"]);
    cairn(root, &["add", "-A", "-q"]);
    assert!(
        !cache_is_saved(root),
        "an ignore file changed at or after the walk is racy"
    );
}

/// Makes the cache hold `untracked` as a file its walk found untracked, with the directories
/// `dirs` recorded as they stand now (a change the cache saw).
fn cache_saw(root: &Path, untracked: &str, dirs: &[&str]) {
    let path = root.join(".cairn/index");
    let mut idx = StagingIndex::load(&path, HashAlgo::Blake3).unwrap();
    let cache = idx.walk_cache.as_mut().unwrap();
    cache.untracked.push(untracked.as_bytes().to_vec());
    cache.untracked.sort();
    for d in dirs {
        let m = std::fs::symlink_metadata(root.join(d)).unwrap();
        let entry = cache.dirs.iter_mut().find(|(p, _)| p == d.as_bytes());
        entry.unwrap().1 = Stat::from_metadata(&m);
    }
    idx.save(&path, &root.join(".cairn/tmp"), HashAlgo::Blake3)
        .unwrap();
}

#[test]
fn only_the_changed_directories_are_listed_again() {
    let dir = added_tree("1 hour ago");
    let root = dir.path();
    cairn(root, &["commit", "-q", "-m", "one"]);
    // A name the cache is made not to know, in a directory it trusts: a walk would show it,
    // listing only the changed directory does not.
    std::fs::write(root.join("a/unseen.txt"), b"u").unwrap();
    hide_change(root, "a");
    std::fs::write(root.join("b/c/new.txt"), b"new").unwrap();
    assert_eq!(cairn(root, &["status", "--short"]), "?? b/c/new.txt\n");
    // A subdirectory in a changed directory: only a walk can tell what is below it.
    std::fs::create_dir(root.join("b/c/sub")).unwrap();
    std::fs::write(root.join("b/c/sub/x"), b"x").unwrap();
    assert_eq!(
        cairn(root, &["status", "--short"]),
        "?? a/unseen.txt\n?? b/c/new.txt\n?? b/c/sub/\n"
    );
}

#[test]
fn a_removed_directory_takes_a_walk() {
    let dir = added_tree("1 hour ago");
    let root = dir.path();
    cairn(root, &["commit", "-q", "-m", "one"]);
    std::fs::write(root.join("a/unseen.txt"), b"u").unwrap();
    hide_change(root, "a");
    std::fs::remove_dir_all(root.join("b/c")).unwrap();
    assert_eq!(
        cairn(root, &["status", "--short"]),
        " D b/c/3.txt\n?? a/unseen.txt\n"
    );
}

#[test]
fn a_new_ignore_file_that_ignores_itself_takes_a_walk() {
    let dir = added_tree("1 hour ago");
    let root = dir.path();
    cairn(root, &["commit", "-q", "-m", "one"]);
    std::fs::write(root.join("b/c/u.tmp"), b"u").unwrap();
    cache_saw(root, "b/c/u.tmp", &["b/c"]);
    assert_eq!(cairn(root, &["status", "--short"]), "?? b/c/u.tmp\n");
    // Its rules reach b/c, which did not change: listing b again would not see them.
    std::fs::write(root.join("b/.gitignore"), b".gitignore\n*.tmp\n").unwrap();
    assert_eq!(cairn(root, &["status", "--short"]), "");
}
