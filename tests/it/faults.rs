//! Faults from below: a full disk (a real small file system where the machine allows one,
//! and an injected write error always), and worktree files that misbehave during `add`
//! (vanishing, unreadable, special files, symlink loops).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support;
use crate::support::*;

const ENOSPC_TEXT: &str = "No space left on device";

/// Runs `args` with `envs`; it must fail with a disk-full error and leave every file of the
/// repository as it was. Then the same command without the fault works.
fn fails_cleanly(root: &Path, args: &[&str], envs: &[(&str, &str)]) {
    let before = repo_files(root);
    let head = layer_id(root, "HEAD");
    let err = fails(root, args, envs);
    assert!(err.contains(ENOSPC_TEXT), "{envs:?}: {err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "one error line: {err}"
    );
    let after = repo_files(root);
    support::assert_same_tree(&before, &after, &[], &format!("{args:?} {envs:?}"));
    assert_eq!(layer_id(root, "HEAD"), head);
    assert_verifies(root, false, &format!("{args:?} {envs:?}"));
}

#[test]
fn injected_disk_full_in_add_leaves_the_repository_as_it_was() {
    let (env, mut rng) = repo_with_a_layer(40, 11);
    let root = &env.root;
    let small_packs = ("CAIRN_TEST_PACK_TARGET", "262144");
    // Each add below writes 25 to 36 records, about six to a pack, depending on the seed.
    for (i, point) in [
        "pack:write-error",     // the first record
        "pack:write-error@20",  // after some packs of this add were published
        "atomic:write-error",   // the first pack's index
        "atomic:write-error@3", // a later pack's index
    ]
    .into_iter()
    .enumerate()
    {
        mutate(root, &mut rng, 10);
        let fresh = support::random_bytes(i as u64, 1 << 20);
        overwrite(root, BLOB, 0, &fresh);
        fails_cleanly(
            root,
            &["add", "-A"],
            &[("CAIRN_FAILPOINT", point), small_packs],
        );
    }
    let tree = worktree(root);
    ok(root, &["-q", "add", "-A"]);
    ok(root, &["-q", "commit", "-m", "after the faults"]);
    assert_restores(root, "HEAD", &tree, "after injected faults");
    assert_verifies(root, true, "after injected faults");
}

#[test]
fn injected_disk_full_in_index_write_leaves_the_index() {
    let (env, _) = repo_with_a_layer(10, 12);
    let root = &env.root;
    // A copy of a stored file needs no new chunk: the staging index is the only write.
    fs::copy(root.join(BLOB), root.join("copy.bin")).unwrap();
    // Before the file is written, and on the thread that writes it, at its first block.
    for point in ["atomic:write-error", "index:write-error"] {
        fails_cleanly(root, &["add", "copy.bin"], &[("CAIRN_FAILPOINT", point)]);
    }
    let v = json(root, &["add", "copy.bin"]);
    assert_eq!(v["staged"][0]["path"], "copy.bin");
}

#[test]
fn injected_disk_full_in_commit_moves_nothing() {
    let (env, mut rng) = repo_with_a_layer(40, 13);
    let root = &env.root;
    mutate(root, &mut rng, 20);
    ok(root, &["-q", "add", "-A"]);
    let index = fs::read(root.join(".cairn/index")).unwrap();
    for point in ["pack:write-error", "atomic:write-error"] {
        fails_cleanly(
            root,
            &["commit", "-m", "full"],
            &[("CAIRN_FAILPOINT", point)],
        );
    }
    // The ref itself: the metadata pack is published by then and stays as an orphan (the
    // failed write may have reached the disk after all, so the pack is not withdrawn);
    // HEAD, the refs and the staging index stay as they were.
    let head = layer_id(root, "HEAD");
    let err = fails(
        root,
        &["commit", "-m", "full"],
        &[("CAIRN_FAILPOINT", "atomic:write-error@2")],
    );
    assert!(err.contains(ENOSPC_TEXT), "{err}");
    assert_eq!(layer_id(root, "HEAD"), head);
    assert_eq!(fs::read(root.join(".cairn/index")).unwrap(), index);
    assert_verifies(root, false, "after a failed ref write");

    let tree = worktree(root);
    let c = json(root, &["commit", "-m", "room again"]);
    assert_eq!(c["parent"].as_str(), Some(head.as_str()));
    assert_restores(root, "HEAD", &tree, "after injected faults");
    assert_verifies(root, true, "after injected faults");
}

/// A tmpfs mount, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` over `dir`, keeping what `dir` held. `None` (with a note)
    /// when this machine does not allow mounting.
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        let saved = dir.with_extension("saved");
        fs::rename(dir, &saved).unwrap();
        fs::create_dir(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            other => {
                eprintln!(
                    "note: cannot mount a tmpfs here ({other:?}); the disk-full test runs \
                     through the injected write error only"
                );
                fs::remove_dir(dir).unwrap();
                fs::rename(&saved, dir).unwrap();
                return None;
            }
        }
        let m = Mount(dir.to_path_buf());
        copy_tree(&saved, dir);
        fs::remove_dir_all(&saved).unwrap();
        Some(m)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Fills the file system holding `file` until a write fails, then frees `leave` bytes.
fn fill(file: &Path, leave: u64) {
    use std::io::Write;
    let mut f = fs::File::create(file).unwrap();
    let block = vec![0xa5u8; 64 << 10];
    let mut len = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n as u64,
        }
    }
    f.set_len(len.saturating_sub(leave)).unwrap();
}

#[test]
fn disk_full_on_a_small_file_system() {
    let env = support::Env::new();
    let root = &env.root;
    let Some(_mount) = Mount::tmpfs(&root.join(".cairn"), "8m") else {
        return;
    };
    write(root, "a.txt", b"first\n");
    ok(root, &["-q", "add", "-A"]);
    ok(root, &["-q", "commit", "-m", "first"]);

    // More data than fits: add fails, the repository is as it was.
    for i in 0..12 {
        write(
            root,
            &format!("data/{i}.bin"),
            &support::random_bytes(i, 1 << 20),
        );
    }
    fails_cleanly(root, &["add", "-A"], &[]);
    for i in 4..12 {
        fs::remove_file(root.join(format!("data/{i}.bin"))).unwrap();
    }
    ok(root, &["-q", "add", "-A"]);
    ok(root, &["-q", "commit", "-m", "what fits"]);

    // A commit that cannot write its metadata pack: 400 new files whose content is stored,
    // then the disk filled to 8 KiB of room.
    for i in 0..400 {
        write(
            root,
            &format!("many/{i:03}.txt"),
            format!("file {i}\n").as_bytes(),
        );
    }
    ok(root, &["-q", "add", "-A"]);
    let filler = root.join(".cairn/filler");
    fill(&filler, 8 << 10);
    let tree = worktree(root);
    fails_cleanly(root, &["commit", "-m", "too big"], &[]);
    fs::remove_file(&filler).unwrap();
    ok(root, &["-q", "commit", "-m", "room again"]);
    assert_restores(root, "HEAD", &tree, "after the disk was full");
    assert_verifies(root, true, "after the disk was full");
}

/// A file deleted while `add` runs is reported as skipped, not an error. The pack writer
/// pauses (a fail point) while `add` reads a large file first; the other file goes then.
#[test]
fn file_vanishing_during_add_is_skipped() {
    let env = support::Env::new();
    let root = &env.root;
    write(root, "a_big.bin", &support::random_bytes(1, 16 << 20));
    write(root, "z_victim.txt", b"here for now\n");
    let child = spawn(
        root,
        &["--json", "--threads", "1", "add", "-A"],
        &[
            ("CAIRN_FAILPOINT", "pack:before-rename=sleep3000"),
            ("CAIRN_TEST_PACK_TARGET", "65536"),
        ],
    );
    let tmp = root.join(".cairn/tmp");
    let writing = wait_for(Duration::from_secs(60), || {
        fs::read_dir(&tmp).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("pack-"))
        })
    });
    assert!(writing, "add never started writing a pack");
    fs::remove_file(root.join("z_victim.txt")).unwrap();
    let out = wait(child, "add -A");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["path"] == "z_victim.txt"
                && s["reason"].as_str().unwrap().contains("vanished")),
        "{v}"
    );
    let staged: Vec<&str> = paths(&v, "staged");
    assert_eq!(staged, ["a_big.bin"]);
    ok(root, &["-q", "commit", "-m", "without the victim"]);
    assert_verifies(root, true, "after a vanished file");
}

#[test]
fn special_files_are_skipped_with_a_note() {
    let env = support::Env::new();
    let root = &env.root;
    write(root, "plain.txt", b"plain\n");
    let fifo = std::ffi::CString::new(root.join("fifo").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    // A device that never ends when read: reading it would hang add.
    let zero = std::ffi::CString::new(root.join("zero").to_str().unwrap()).unwrap();
    let dev = unsafe { libc::mknod(zero.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 5)) };
    let mut special = vec!["fifo", "sock"];
    if dev == 0 {
        special.push("zero");
    } else {
        eprintln!("note: cannot make a device node here; fifo and socket only");
    }
    let v = json(root, &["add", "-A"]);
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(!s["reason"].as_str().unwrap().is_empty(), "{s}");
            s["path"].as_str().unwrap()
        })
        .collect();
    special.sort();
    assert_eq!(skipped, special);
    assert_eq!(v["staged"][0]["path"], "plain.txt");
    assert_eq!(v["staged"].as_array().unwrap().len(), 1);
    ok(root, &["-q", "commit", "-m", "plain only"]);
    ok(root, &["-q", "status"]);
    let ls = json(root, &["ls", "-r", "HEAD"]).to_string();
    assert!(!ls.contains("fifo") && !ls.contains("sock"), "{ls}");
}

#[test]
fn symlink_loops_never_hang_and_are_stored_as_links() {
    let env = support::Env::new();
    let root = &env.root;
    write(root, "dir/file.txt", b"inside\n");
    for (target, link) in [
        ("b", "a"),
        ("a", "b"),
        (".", "dir/self"),
        ("..", "dir/up"),
        ("../..", "dir/upup"),
        ("dir/loop", "dir/loop"),
    ] {
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    let tree = worktree(root);
    let v = json(root, &["add", "-A"]);
    assert_eq!(v["staged"].as_array().unwrap().len(), 7, "{v}");
    ok(root, &["-q", "commit", "-m", "loops"]);
    ok(root, &["-q", "status"]);
    assert_restores(root, "HEAD", &tree, "symlink loops");
    let ls = json(root, &["ls", "-r", "HEAD"]).to_string();
    assert!(!ls.contains("self/"), "links are not followed: {ls}");
}

/// Runs cairn as an unprivileged user, since root reads any file whatever its mode.
fn run_unprivileged(root: &Path, args: &[&str]) -> std::process::Output {
    if unsafe { libc::geteuid() } != 0 {
        return run(root, args, &[]);
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .arg("--no-progress")
        .args(args)
        .current_dir(root)
        .env("CAIRN_AUTHOR", "tester");
    c.output().expect("run setpriv")
}

fn chown_tree(dir: &Path) {
    std::os::unix::fs::lchown(dir, Some(65534), Some(65534)).unwrap();
    if fs::symlink_metadata(dir).unwrap().is_dir() {
        for e in fs::read_dir(dir).unwrap().flatten() {
            chown_tree(&e.path());
        }
    }
}

#[test]
fn unreadable_files_and_directories_are_errors_naming_them() {
    let env = support::Env::new();
    let root = &env.root;
    write(root, "ok.txt", b"fine\n");
    write(root, "secret.txt", b"hidden\n");
    write(root, "locked/inner.txt", b"hidden too\n");
    if unsafe { libc::geteuid() } == 0 {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("note: no setpriv, cannot drop root; unreadable files not tested");
            return;
        }
        chown_tree(&env.base);
    }
    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    let before = repo_files(root);
    let out = run_unprivileged(root, &["add", "-A"]);
    let err = assert_error(&out, &["add", "-A"]);
    assert!(
        err.contains("secret.txt"),
        "the error names the file: {err}"
    );
    assert_eq!(repo_files(root), before, "a failed add changes nothing");

    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let out = run_unprivileged(root, &["add", "-A"]);
    let err = assert_error(&out, &["add", "-A"]);
    assert!(
        err.contains("locked"),
        "the error names the directory: {err}"
    );
    assert_eq!(repo_files(root), before, "a failed add changes nothing");

    let help = ok(root, &["add", "--help"]);
    if !help.contains("--ignore-errors") {
        eprintln!("note: add has no --ignore-errors yet; not tested");
        return;
    }
    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    let out = run_unprivileged(root, &["--json", "add", "-A", "--ignore-errors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped: Vec<&str> = paths(&v, "skipped");
    assert!(skipped.contains(&"secret.txt"), "{v}");
    assert!(skipped.iter().any(|p| p.starts_with("locked")), "{v}");
    let staged: Vec<&str> = paths(&v, "staged");
    assert_eq!(staged, ["ok.txt"]);
}

/// Skipped means untouched: tracked files inside a directory `add -A --ignore-errors` could
/// not read stay tracked as they were, instead of being staged as deleted.
#[test]
fn ignore_errors_keeps_the_tracked_files_of_an_unreadable_directory() {
    let env = support::Env::new();
    let root = &env.root;
    write(root, "ok.txt", b"fine\n");
    write(root, "locked/inner.txt", b"tracked\n");
    write(root, "locked/deeper/more.txt", b"tracked too\n");
    ok(root, &["-q", "add", "-A"]);
    ok(root, &["-q", "commit", "-m", "base"]);
    if unsafe { libc::geteuid() } == 0 {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("note: no setpriv, cannot drop root; not tested");
            return;
        }
        chown_tree(&env.base);
    }
    write(root, "ok.txt", b"changed\n");
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let out = run_unprivileged(root, &["--json", "add", "-A", "--ignore-errors"]);
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let staged: Vec<&str> = paths(&v, "staged");
    assert_eq!(staged, ["ok.txt"], "{v}");
    assert!(v["skipped"].to_string().contains("locked"), "{v}");
    // The tracked files are still staged as committed.
    let st = json(root, &["status"]);
    let staged: Vec<&str> = paths(&st, "staged");
    assert_eq!(staged, ["ok.txt"], "{st}");
}

/// The `path` of every entry of the JSON list `v[key]`.
fn paths<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect()
}
