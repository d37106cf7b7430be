//! `add` through the walk cache: when no directory and no ignore file changed since the last
//! whole add, `add` stats the tracked files where they stand instead of walking. Each test
//! makes one change to a settled repository, copies it, drops the walk cache from the copy
//! and adds in both: the cached add must stage, skip and cache exactly what the full walk
//! does, and so must a second round of changes after it.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use cairn::index::{StagingIndex, Stat};
use cairn::HashAlgo;
use serde_json::Value;

use crate::support::{json, ok};

/// The settled tree: odd names, a symlink, a FIFO (never stored, so always untracked), an
/// ignored file, and an ignored directory holding one file tracked with `-f`.
fn settled() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["a", "b/c", "ign", "sp ace"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let files = [
        ("a/1.txt", "one\n"),
        ("a/2.txt", "two\n"),
        ("b/3.txt", "three\n"),
        ("b/c/4.txt", "four\n"),
        ("b/x.log", "ignored\n"),
        ("ign/t.txt", "tracked though ignored\n"),
        ("ign/u.txt", "ignored\n"),
        ("sp ace/é\nnl", "odd name\n"),
        ("top.txt", "top\n"),
        (".cairnignore", "ign/\n*.log\n"),
    ];
    for (p, text) in files {
        std::fs::write(root.join(p), text).unwrap();
    }
    symlink("1.txt", root.join("a/link")).unwrap();
    mkfifo(&root.join("b/pipe"));
    ok(root, &["init", "-q"]);
    settle(root);
    ok(root, &["add", "-A", "-q"]);
    ok(root, &["add", "-q", "-f", "ign/t.txt"]);
    ok(root, &["commit", "-q", "-m", "base"]);
    assert!(cache(root).is_some(), "a settled tree gets a walk cache");
    dir
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// Dates everything in the worktree (not `.cairn`) an hour back, so no directory is racy.
fn settle(root: &Path) {
    let status = Command::new("find")
        .args([".", "-path", "./.cairn", "-prune", "-o"])
        .args(["-exec", "touch", "-h", "-d", "1 hour ago", "{}", "+"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success());
}

fn load(root: &Path) -> StagingIndex {
    StagingIndex::load(&root.join(".cairn/index"), HashAlgo::Blake3).unwrap()
}

fn save(root: &Path, mut idx: StagingIndex) {
    let tmp = root.join(".cairn/tmp");
    idx.save(&root.join(".cairn/index"), &tmp, HashAlgo::Blake3)
        .unwrap();
}

fn cache(root: &Path) -> Option<cairn::index::WalkCache> {
    load(root).walk_cache
}

/// A copy of `root` whose index has no walk cache: its add walks the whole worktree.
fn walking_copy(root: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let src = format!("{}/.", root.display());
    let status = Command::new("cp")
        .args(["-a", &src])
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut idx = load(copy.path());
    idx.walk_cache = None;
    save(copy.path(), idx);
    copy
}

/// What an index says, without stat data (the copy's inodes differ): path to kind, mode
/// and content; and the walk cache's paths. Not which directories are racy: that depends
/// on how long after its last change each add ran.
type Tracked = BTreeMap<Vec<u8>, (u8, u32, String)>;

fn tracked(root: &Path) -> (Tracked, Option<[Vec<Vec<u8>>; 3]>) {
    let idx = load(root);
    let entries = idx.entries.iter();
    let entries = entries.map(|(p, e)| (p.to_vec(), (e.kind, e.mode, e.file_id().to_string())));
    let paths = |v: &[(Vec<u8>, Stat)]| v.iter().map(|(p, _)| p.clone()).collect();
    let cache = idx
        .walk_cache
        .map(|c| [paths(&c.dirs), paths(&c.ignore_files), c.untracked]);
    (entries.collect(), cache)
}

/// `add --json args` from `cwd` (relative to the root), with the root taken out of what it
/// says, so the two copies' outcomes compare.
fn add(root: &Path, cwd: &str, args: &[&str]) -> Value {
    let mut all = vec!["add"];
    all.extend_from_slice(args);
    let out = json(&root.join(cwd), &all);
    let text = out
        .to_string()
        .replace(&root.display().to_string(), "<root>");
    serde_json::from_str(&text).unwrap()
}

/// Adds in `cached` (which must still have its walk cache) and in a walking copy made
/// beforehand; asserts both agree on the outcome, the index, the new walk cache (when the
/// whole worktree was added: an add of less keeps the cache it had) and status. Returns
/// what was staged, as `change path` lines.
fn same_add(cached: &Path, cwd: &str, args: &[&str]) -> Vec<String> {
    assert!(cache(cached).is_some(), "the cached side has a cache");
    let walking = walking_copy(cached);
    let (out, w) = (add(cached, cwd, args), add(walking.path(), cwd, args));
    for field in ["staged", "skipped"] {
        assert_eq!(out[field], w[field], "{field}: cached {out}, walked {w}");
    }
    let (c, w) = (tracked(cached), tracked(walking.path()));
    assert_eq!(c.0, w.0, "the index");
    if args == ["-A"] {
        assert_eq!(c.1, w.1, "the walk cache");
    }
    let status = |r: &Path| ok(r, &["status", "--short"]);
    assert_eq!(status(cached), status(walking.path()));
    let staged = out["staged"].as_array().unwrap().iter();
    let line = |s: &Value| {
        format!(
            "{} {}",
            s["change"].as_str().unwrap(),
            s["path"].as_str().unwrap()
        )
    };
    staged.map(line).collect()
}

/// One change, a compared add, then a second round (a new file and a deletion in
/// directories the first left alone) through the cache that first add wrote.
fn check(change: impl Fn(&Path), want: &[&str]) {
    let repo = settled();
    let root = repo.path();
    change(root);
    assert_eq!(same_add(root, "", &["-A"]), want);
    if cache(root).is_some() {
        std::fs::write(root.join("top2.txt"), "new\n").unwrap();
        std::fs::remove_file(root.join("top.txt")).unwrap();
        let second = same_add(root, "", &["-A"]);
        assert_eq!(second, ["deleted top.txt", "added top2.txt"]);
    }
}

fn append(root: &Path, rel: &str, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join(rel))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_changed_file() {
    check(|r| append(r, "a/1.txt", "more\n"), &["modified a/1.txt"]);
}

#[test]
fn a_changed_file_with_an_odd_name() {
    check(
        |r| append(r, "sp ace/é\nnl", "more\n"),
        &["modified sp ace/é\nnl"],
    );
}

#[test]
fn nothing_changed() {
    check(|_| {}, &[]);
}

#[test]
fn a_new_file() {
    check(
        |r| std::fs::write(r.join("b/c/new.txt"), "n").unwrap(),
        &["added b/c/new.txt"],
    );
}

#[test]
fn a_removed_file() {
    check(
        |r| std::fs::remove_file(r.join("a/2.txt")).unwrap(),
        &["deleted a/2.txt"],
    );
}

#[test]
fn a_new_directory() {
    let make = |r: &Path| {
        std::fs::create_dir_all(r.join("a/sub/deeper")).unwrap();
        std::fs::write(r.join("a/sub/deeper/f"), "f").unwrap();
    };
    check(make, &["added a/sub/deeper/f"]);
}

/// Rewrites `.cairnignore`, dated a few seconds back: an ignore file changed within the
/// racy window of an add gets no cache, and whether one add falls in it is timing.
fn edit_ignore_file(root: &Path, text: &str) {
    std::fs::write(root.join(".cairnignore"), text).unwrap();
    let status = Command::new("touch")
        .args(["-d", "10 seconds ago", ".cairnignore"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_changed_ignore_file() {
    // `*.log` no longer ignored; a tracked file newly ignored stays tracked.
    let edit = |r: &Path| edit_ignore_file(r, "ign/\ntop.txt\n");
    check(edit, &["modified .cairnignore", "added b/x.log"]);
}

#[test]
fn an_ignore_file_edited_in_place_same_size() {
    let edit = |r: &Path| edit_ignore_file(r, "ign/\n*.lag\n");
    check(edit, &["modified .cairnignore", "added b/x.log"]);
}

#[test]
fn a_directory_replaced_by_a_symlink() {
    let swap = |r: &Path| {
        std::fs::remove_dir_all(r.join("b/c")).unwrap();
        symlink("../a", r.join("b/c")).unwrap();
    };
    check(swap, &["added b/c", "deleted b/c/4.txt"]);
}

#[test]
fn files_under_an_ignored_directory() {
    let edit = |r: &Path| {
        append(r, "ign/t.txt", "more\n");
        std::fs::write(r.join("ign/new.txt"), "ignored").unwrap();
    };
    check(edit, &["modified ign/t.txt"]);
}

#[test]
fn a_tracked_file_that_was_never_in_the_worktree() {
    // `add --stdin` stages a path the worktree does not have: a walk stages its deletion.
    let stdin = |r: &Path| {
        let out = Command::new(crate::support::BIN)
            .args(["add", "--stdin", "a/ghost.txt"])
            .current_dir(r)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .and_then(|mut c| {
                drop(c.stdin.take());
                c.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success());
    };
    check(stdin, &["deleted a/ghost.txt"]);
}

#[test]
fn a_directory_and_dot_from_a_subdirectory() {
    let repo = settled();
    let root = repo.path();
    for f in ["a/1.txt", "b/3.txt", "b/c/4.txt"] {
        append(root, f, "more\n");
    }
    assert_eq!(same_add(root, "", &["b/c"]), ["modified b/c/4.txt"]);
    assert_eq!(same_add(root, "b", &["."]), ["modified b/3.txt"]);
    assert_eq!(same_add(root, "a", &["-A"]), ["modified a/1.txt"]);
}

/// Records `rel`'s stat data as it is now in the walk cache: a change to the directory that
/// its mtime did not show (made within one timestamp tick of the walk).
fn hide_change(root: &Path, rel: &str) {
    let mut idx = load(root);
    let m = std::fs::symlink_metadata(root.join(rel)).unwrap();
    let cache = idx.walk_cache.as_mut().unwrap();
    let entry = cache.dirs.iter_mut().find(|(p, _)| p == rel.as_bytes());
    entry.unwrap().1 = Stat::from_metadata(&m);
    save(root, idx);
}

/// The cached add does not walk: a name added to a directory whose stat data (doctored here)
/// did not change goes unseen, as it would by status. This is what makes it fast, and why
/// only racy directories are listed again.
#[test]
fn a_valid_cache_stands_in_for_the_walk() {
    let repo = settled();
    let root = repo.path();
    append(root, "a/1.txt", "more\n");
    std::fs::write(root.join("a/unseen.txt"), "x").unwrap();
    hide_change(root, "a");
    let out = add(root, "", &["-A"]);
    assert_eq!(out["staged"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["staged"][0]["path"], "a/1.txt");
}

/// A directory changed within the racy window of the add that cached it is listed again
/// by the next add: a new name in it shows even when its mtime did not move.
#[test]
fn a_racy_directory_is_listed_again() {
    let repo = settled();
    let root = repo.path();
    let status = Command::new("touch")
        .args(["-h", "-d", "1 minute", "b"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success());
    ok(root, &["add", "-A", "-q"]);
    assert_eq!(cache(root).unwrap().racy, vec![b"b".to_vec()]);
    std::fs::write(root.join("b/new.txt"), "n").unwrap();
    std::fs::write(root.join("b/new.log"), "ignored").unwrap();
    hide_change(root, "b");
    assert_eq!(same_add(root, "", &["-A"]), ["added b/new.txt"]);
}

/// A cached add killed before its index is saved, or at a checkpoint, leaves an index that
/// hides nothing: the next add ends where a full walk's add does.
#[cfg(feature = "failpoints")]
#[test]
fn a_killed_cached_add_hides_nothing() {
    use crate::support::{json_env, run};
    let kills: [&[(&str, &str)]; 2] = [
        &[("CAIRN_FAILPOINT", "add:before-index")],
        &[
            ("CAIRN_FAILPOINT", "add:after-checkpoint"),
            ("CAIRN_TEST_CHECKPOINT_MS", "0"),
        ],
    ];
    for envs in kills {
        let repo = settled();
        let root = repo.path();
        let walking = walking_copy(root);
        for r in [root, walking.path()] {
            append(r, "a/1.txt", "more\n");
            append(r, "b/c/4.txt", "more\n");
        }
        let out = run(root, &["add", "-A"], envs);
        assert!(!out.status.success(), "{envs:?}: the add was killed");
        json_env(root, &["add", "-A"], &[]);
        json(walking.path(), &["add", "-A"]);
        assert_eq!(tracked(root), tracked(walking.path()), "{envs:?}");
        let status = ok(root, &["status", "--short"]);
        assert_eq!(status, "M  a/1.txt\nM  b/c/4.txt\n?? b/pipe\n", "{envs:?}");
        assert_eq!(status, ok(walking.path(), &["status", "--short"]));
    }
}

/// A directory that changed is listed again by a cached add, and the cache the add leaves
/// records it as the listing found it, so the next command trusts it again.
#[test]
fn a_changed_directory_is_listed_again_and_recorded_anew() {
    let repo = settled();
    let root = repo.path();
    std::fs::write(root.join("a/unseen.txt"), "x").unwrap();
    hide_change(root, "a");
    std::fs::write(root.join("b/new.txt"), "n").unwrap();
    let out = add(root, "", &["-A"]);
    let staged: Vec<&str> = out["staged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        staged,
        ["b/new.txt"],
        "only the changed directory is listed: {out}"
    );
    let now = Stat::from_metadata(&std::fs::symlink_metadata(root.join("b")).unwrap());
    let cached = cache(root).unwrap();
    let b = cached.dirs.iter().find(|(p, _)| p == b"b").unwrap();
    assert_eq!(b.1, now);
}
