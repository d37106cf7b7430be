//! `restore` through the library: modes, mtimes, set-id bits, links, and the refusals.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use cairn::ops::restore::{restore, RestoreOptions, RestoreOutcome};
use cairn::ops::{add, commit, init};
use cairn::progress::NoProgress;
use cairn::session::Common;
use cairn::{HashAlgo, Repository, Result};

use crate::support::random_bytes;

/// Files of several modes (one the umask would narrow, one set-uid), a symlink, and a
/// file of several chunks large enough to be preallocated.
const FILES: [(&str, u32, usize); 5] = [
    ("a/private", 0o600, 10),
    ("a/b/shared", 0o666, 100),
    ("run", 0o4755, 5),
    ("ro", 0o444, 0),
    ("big", 0o644, 3 << 20),
];

/// A worktree `w` in a temporary directory with FILES and `link`, committed.
fn committed() -> (tempfile::TempDir, Repository) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("w");
    fs::create_dir(&root).unwrap();
    let dir = root.clone();
    init::init(&init::InitOptions {
        dir,
        hash: HashAlgo::Blake3,
        chunk_avg: None,
        separate: None,
    })
    .unwrap();
    for (i, (name, mode, len)) in FILES.iter().enumerate() {
        let p = root.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, random_bytes(i as u64, *len)).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
    }
    std::os::unix::fs::symlink("a/private", root.join("link")).unwrap();
    let repo = Repository::open(&root).unwrap();
    let common = Common::new(&root);
    let all = add::AddOptions {
        paths: Vec::new(),
        all: true,
        dry_run: false,
        force: false,
        ignore_errors: false,
        exclude: Vec::new(),
        counts_only: false,
    };
    let locked = repo.lock(common.lock_timeout).unwrap();
    add::add(&locked, &common, &all, &NoProgress).unwrap();
    let msg = commit::CommitOptions {
        message: "files".into(),
        author: Some("test".into()),
        new_line: None,
        ..Default::default()
    };
    commit::commit(&locked, &msg, &NoProgress).unwrap();
    drop(locked);
    (d, repo)
}

fn restore_to(repo: &Repository, to: &Path, force: bool) -> Result<RestoreOutcome> {
    let opts = RestoreOptions {
        layer: "HEAD".into(),
        paths: Vec::new(),
        to: to.to_path_buf(),
        force,
    };
    restore(repo, &opts, &NoProgress)
}

/// Each of FILES and `link` is at `to` as in the worktree: bytes, mode, mtime.
fn assert_restored(root: &Path, to: &Path) {
    for (name, mode, _) in FILES {
        let (a, b) = (root.join(name), to.join(name));
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{name}");
        let (ma, mb) = (fs::metadata(&a).unwrap(), fs::metadata(&b).unwrap());
        // Set-id bits are never restored.
        assert_eq!(mb.mode() & 0o7777, mode & 0o1777, "{name}: mode");
        assert_eq!(
            (ma.mtime(), ma.mtime_nsec()),
            (mb.mtime(), mb.mtime_nsec()),
            "{name}: mtime"
        );
    }
    let link = fs::read_link(to.join("link")).unwrap();
    assert_eq!(link, Path::new("a/private"));
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn restores_exactly_into_a_new_or_empty_directory() {
    let (d, repo) = committed();
    let root = d.path().join("w");
    let new = d.path().join("new/dest");
    let empty = d.path().join("empty");
    fs::create_dir(&empty).unwrap();
    for to in [&new, &empty] {
        let out = restore_to(&repo, to, false).unwrap();
        assert_eq!((out.files, out.symlinks, out.dirs), (5, 1, 2));
        assert_restored(&root, to);
        assert_eq!(names(to), ["a", "big", "link", "ro", "run"]);
        assert_eq!(names(&to.join("a")), ["b", "private"]);
    }
    let err = restore_to(&repo, &empty, false).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn force_replaces_files_and_leaves_the_rest() {
    let (d, repo) = committed();
    let root = d.path().join("w");
    let to = d.path().join("full");
    fs::create_dir_all(to.join("a")).unwrap();
    fs::write(to.join("big"), b"old").unwrap();
    fs::write(to.join("a/private"), b"old").unwrap();
    fs::write(to.join("mine"), b"keep").unwrap();
    restore_to(&repo, &to, true).unwrap();
    assert_restored(&root, &to);
    assert_eq!(fs::read(to.join("mine")).unwrap(), b"keep");
    assert_eq!(names(&to), ["a", "big", "link", "mine", "ro", "run"]);
    assert_eq!(names(&to.join("a")), ["b", "private"], "no temporary left");
}
