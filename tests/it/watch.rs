//! The file-system monitor (`cairn watch`), with real inotify: status and add see every
//! change while it runs, and any doubt (a killed monitor, a stale socket, a state file that
//! is damaged, for another index or of another monitor) means a full pass, never an error.
//!
//! How a test knows the monitor was trusted: the worktree holds `s/sentinel`, hard-linked
//! from outside the worktree. Appending through the outside link changes the file without
//! an event in any watched directory (inotify reports a change to the directory of the name
//! written through), so a status that trusted the monitor does not report it, and a full
//! pass does. Each test that expects the monitor to be used asserts the sentinel is not
//! reported: had the command checked every file instead, the test would prove nothing
//! about the monitor's answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::TestRepo;

const SENTINEL: &str = "s/sentinel";

/// A running monitor, killed when dropped (a failing test must not leave it behind).
struct Monitor {
    pid: u32,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        kill(self.pid);
    }
}

fn kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// A committed worktree with settled dates (so no entry is racy), the sentinel's outside
/// link, and a monitor that has answered one status.
struct Watched {
    repo: TestRepo,
    monitor: Monitor,
    outside: tempfile::TempDir,
}

impl Watched {
    fn new() -> Watched {
        let repo = TestRepo::new();
        for (p, c) in [
            ("a/one.txt", "one\n"),
            ("a/two.txt", "two\n"),
            ("b/c/three.txt", "three\n"),
            ("d/four.txt", "four\n"),
            ("odd name\twith tab.txt", "odd\n"),
            (SENTINEL, "sentinel\n"),
        ] {
            repo.write(p, c);
        }
        repo.symlink("a/one.txt", "link");
        let outside = tempfile::tempdir().unwrap();
        std::fs::hard_link(repo.path(SENTINEL), outside.path().join("sentinel")).unwrap();
        repo.fix_mtimes(hour_ago());
        repo.ok(&["add", "-A"]);
        repo.commit("base");
        let monitor = start(&repo);
        assert_eq!(repo.status(), Vec::<String>::new());
        Watched {
            repo,
            monitor,
            outside,
        }
    }

    /// Changes the sentinel where the monitor cannot see it.
    fn hide_a_change(&self) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.outside.path().join("sentinel"))
            .unwrap();
        f.write_all(b"changed unseen\n").unwrap();
    }

    /// `status --short`, asserting whether the monitor was trusted (the sentinel's hidden
    /// change is then not reported), without the sentinel's line.
    fn status(&self, trusted: bool) -> Vec<String> {
        let mut lines = self.repo.status();
        let seen = lines.iter().position(|l| l.ends_with(SENTINEL));
        assert_eq!(
            seen.is_none(),
            trusted,
            "the monitor should {}have been trusted: {lines:?}",
            if trusted { "" } else { "not " }
        );
        lines.retain(|l| !l.ends_with(SENTINEL));
        lines
    }
}

/// `cairn watch start`, and the monitor it started.
/// An hour ago, in seconds since the epoch: files dated so are never racily clean.
fn hour_ago() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_secs() - 3600
}

fn start(repo: &TestRepo) -> Monitor {
    let v = repo.json(&["watch", "start"]);
    assert_eq!(v["action"], "started", "{v}");
    assert_eq!(v["running"], true);
    Monitor {
        pid: v["pid"].as_u64().unwrap() as u32,
    }
}

fn state_path(repo: &TestRepo) -> PathBuf {
    repo.path(".cairn/watch/state")
}

#[test]
fn modified_deleted_new_and_replaced_files_are_seen() {
    let w = Watched::new();
    w.hide_a_change();
    w.repo.append("a/one.txt", "more\n");
    w.repo.remove("a/two.txt");
    w.repo.write("a/new.txt", "new\n");
    w.repo.write("e/f/deep.txt", "deep\n");
    // Replaced by a rename over it: a new inode, the same size and, maybe, the same time.
    w.repo.write("b/c/tmp", "THREE\n");
    std::fs::rename(w.repo.path("b/c/tmp"), w.repo.path("b/c/three.txt")).unwrap();
    assert_eq!(
        w.status(true),
        [
            " M a/one.txt",
            " D a/two.txt",
            " M b/c/three.txt",
            "?? a/new.txt",
            "?? e/"
        ]
    );
    // Asked again with nothing changed since: the same, from the kept state.
    assert_eq!(w.status(true).len(), 5);
}

#[test]
fn a_change_between_two_quiet_statuses_is_seen() {
    let w = Watched::new();
    w.hide_a_change();
    assert_eq!(w.status(true), Vec::<String>::new());
    std::thread::sleep(Duration::from_millis(50));
    w.repo.append("d/four.txt", "x");
    assert_eq!(w.status(true), [" M d/four.txt"]);
    w.repo.symlink("a/two.txt", "tmp-link");
    std::fs::rename(w.repo.path("tmp-link"), w.repo.path("link")).unwrap();
    assert_eq!(w.status(true), [" M d/four.txt", " M link"]);
    w.repo.chmod("a/two.txt", 0o755);
    assert_eq!(w.status(true), [" M a/two.txt", " M d/four.txt", " M link"]);
}

#[test]
fn a_renamed_directory_means_a_full_pass_that_sees_it() {
    let w = Watched::new();
    w.hide_a_change();
    std::fs::rename(w.repo.path("b"), w.repo.path("moved")).unwrap();
    assert_eq!(w.status(false), [" D b/c/three.txt", "?? moved/"]);
    // The monitor started again: after that one full pass it is trusted again.
    std::fs::rename(w.repo.path("moved"), w.repo.path("b")).unwrap();
    w.repo.append("b/c/three.txt", "x");
    let lines = w.status(false);
    assert_eq!(lines, [" M b/c/three.txt"]);
    w.repo.append("a/one.txt", "x");
    // The sentinel is still changed: the full pass reported it, and it stays rechecked.
    let lines = w.repo.status();
    assert!(lines.contains(&" M a/one.txt".to_string()), "{lines:?}");
    assert!(lines.contains(&" M b/c/three.txt".to_string()), "{lines:?}");
}

#[test]
fn a_directory_replaced_by_a_symlink_is_not_followed() {
    let w = Watched::new();
    w.hide_a_change();
    std::fs::remove_dir_all(w.repo.path("d")).unwrap();
    w.repo.symlink("a", "d");
    // d/four.txt is gone, whatever stands through the link.
    assert_eq!(w.status(true), [" D d/four.txt", "?? d"]);
}

#[test]
fn a_change_made_while_status_runs_shows_next_time() {
    let w = Watched::new();
    w.hide_a_change();
    for round in 0..6 {
        let name = "a/one.txt";
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("status")
            .current_dir(w.repo.root())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Changed while the status above may be mid-pass (or before it asked, or after it
        // answered): whatever it saw, the next one must see the change.
        std::thread::sleep(Duration::from_millis(round * 3));
        w.repo.append(name, "r");
        assert!(child.wait_with_output().unwrap().status.success());
        assert!(
            w.status(true).contains(&format!(" M {name}")),
            "round {round}"
        );
    }
}

/// How many paths `add --json` staged as `change`.
fn staged(v: &serde_json::Value, change: &str) -> usize {
    let all = v["staged"].as_array().expect("a list of staged paths");
    all.iter().filter(|s| s["change"] == change).count()
}

#[test]
fn add_and_commit_see_what_changed_and_keep_the_monitor_trusted() {
    let w = Watched::new();
    w.hide_a_change();
    w.repo.append("a/one.txt", "more\n");
    w.repo.write("d/five.txt", "five\n");
    w.repo.write("a/tmp", "TWO\n");
    std::fs::rename(w.repo.path("a/tmp"), w.repo.path("a/two.txt")).unwrap();
    let v = w.repo.json(&["add", "-A"]);
    assert_eq!((staged(&v, "added"), staged(&v, "modified")), (1, 2), "{v}");
    // The add trusted the monitor too: the sentinel's hidden change is not staged.
    assert_eq!(
        w.status(true),
        ["M  a/one.txt", "M  a/two.txt", "A  d/five.txt"]
    );
    w.repo.commit("second");
    // Commit carried the state over to the index it rewrote.
    assert_eq!(w.status(true), Vec::<String>::new());
    w.repo.append("d/five.txt", "more");
    assert_eq!(w.status(true), [" M d/five.txt"]);
    let v = w.repo.json(&["add", "-A"]);
    assert_eq!(staged(&v, "modified"), 1, "{v}");
    assert_eq!(w.status(true), ["M  d/five.txt"]);
    // A deleted file, or a new directory: the walk cache cannot say what a walk would
    // find, so add walks the worktree and compares every file (the sentinel's change with
    // them), as without a monitor.
    w.repo.remove("a/one.txt");
    w.repo.write("e/f/deep.txt", "deep\n");
    let v = w.repo.json(&["add", "-A"]);
    let counts = (
        staged(&v, "added"),
        staged(&v, "modified"),
        staged(&v, "deleted"),
    );
    assert_eq!(counts, (1, 1, 1), "{v}");
}

#[test]
fn a_killed_monitor_restarted_loses_nothing() {
    let w = Watched::new();
    w.hide_a_change();
    kill(w.monitor.pid);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(w.monitor.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Changed while no monitor runs: a new one's tokens are not the dead one's.
    w.repo.append("a/one.txt", "x");
    // The dead monitor's socket file is still there: refused at once, a full pass.
    assert!(w.repo.path(".cairn/watch/sock").exists());
    let t = Instant::now();
    assert_eq!(w.status(false), [" M a/one.txt"]);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let _again = start(&w.repo);
    assert_eq!(w.status(false), [" M a/one.txt"]);
    w.repo.append("d/four.txt", "x");
    // The sentinel the full pass found stays rechecked, so it is still reported.
    let lines = w.repo.status();
    assert!(lines.contains(&" M d/four.txt".to_string()), "{lines:?}");
    assert!(lines.contains(&format!(" M {SENTINEL}")), "{lines:?}");
}

/// A state file that would hide a change if trusted: for another index, damaged, or with
/// a token of another monitor, it is not, and the change shows; exactly the same file with
/// the right index and token is trusted (so the test can tell).
#[test]
fn a_state_file_for_another_index_damaged_or_of_another_monitor_is_not_trusted() {
    use cairn::watch::state::{decode, encode};
    let w = Watched::new();
    w.repo.append("a/one.txt", "x");
    assert_eq!(w.status(true), [" M a/one.txt"]);
    let kept = decode(&std::fs::read(state_path(&w.repo)).unwrap()).unwrap();
    assert!(kept.recheck.contains(&b"a/one.txt".to_vec()), "{kept:?}");
    let hiding = |index: [u8; 32], instance: u64| {
        let mut s = kept.clone();
        s.recheck.clear();
        s.index = index;
        s.token.instance = instance;
        encode(&s)
    };
    let mut other_index = kept.index;
    other_index[0] ^= 1;
    let mut damaged = hiding(kept.index, kept.token.instance);
    damaged[40] ^= 0x10;
    for (what, bytes) in [
        ("another index", hiding(other_index, kept.token.instance)),
        (
            "another monitor",
            hiding(kept.index, kept.token.instance ^ 1),
        ),
        ("damaged", damaged),
        (
            "truncated",
            hiding(kept.index, kept.token.instance)[..50].to_vec(),
        ),
        ("garbage", b"not a state file at all".to_vec()),
    ] {
        std::fs::write(state_path(&w.repo), &bytes).unwrap();
        assert_eq!(w.repo.status(), [" M a/one.txt"], "{what}");
    }
    // The control: the right index and token with nothing to recheck hide the change.
    std::fs::write(state_path(&w.repo), hiding(kept.index, kept.token.instance)).unwrap();
    assert_eq!(w.repo.status(), Vec::<String>::new());
}

#[test]
fn watch_status_stop_and_a_second_start() {
    let w = Watched::new();
    let v = w.repo.json(&["watch", "status"]);
    assert_eq!(v["running"], true);
    assert_eq!(v["pid"].as_u64(), Some(u64::from(w.monitor.pid)));
    // b, b/c, a, d, s, the root: six directories.
    assert_eq!(v["directories"], 6, "{v}");
    assert_eq!(v["degraded"], serde_json::Value::Null);
    let v = w.repo.json(&["watch", "start"]);
    assert_eq!(v["action"], "already-running");
    let v = w.repo.json(&["watch", "stop"]);
    assert_eq!(v["action"], "stopped");
    assert!(!w.repo.path(".cairn/watch/sock").exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(w.monitor.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive(w.monitor.pid), "the monitor ended");
    let v = w.repo.json(&["watch", "status"]);
    assert_eq!(v["running"], false);
    let v = w.repo.json(&["watch", "stop"]);
    assert_eq!(v["action"], "not-running");
    // Without a monitor, status works as ever.
    w.repo.append("a/one.txt", "x");
    assert!(w.repo.status().contains(&" M a/one.txt".to_string()));
}

#[test]
fn the_monitor_ends_when_its_repository_or_worktree_goes_away() {
    for gone in [".cairn", ""] {
        let repo = TestRepo::new();
        repo.write("a/x", "x");
        let monitor = start(&repo);
        if gone.is_empty() {
            std::fs::rename(repo.root(), repo.root().with_extension("moved")).unwrap();
            std::fs::create_dir(repo.root()).unwrap();
        } else {
            std::fs::remove_dir_all(repo.path(gone)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(monitor.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !alive(monitor.pid),
            "the monitor ended after {gone:?} went away"
        );
        if gone.is_empty() {
            let _ = std::fs::remove_dir_all(repo.root().with_extension("moved"));
        }
    }
}

#[test]
fn many_files_and_new_directories_full_of_files() {
    let repo = TestRepo::new();
    for d in 0..20 {
        for f in 0..100 {
            repo.write(format!("d{d:02}/f{f:03}"), format!("{d} {f}\n"));
        }
    }
    repo.fix_mtimes(hour_ago());
    repo.ok(&["add", "-A"]);
    repo.commit("many");
    let _monitor = start(&repo);
    assert_eq!(repo.status(), Vec::<String>::new());
    // A directory filled in one go, then moved into the worktree whole: no event names its
    // files, so only the directory's own event can make them count.
    let outside = tempfile::tempdir().unwrap();
    for f in 0..50 {
        std::fs::write(outside.path().join(format!("g{f}")), "g").unwrap();
    }
    let new_dir = repo.path("d05/new");
    std::fs::rename(outside.path(), &new_dir).unwrap();
    std::fs::create_dir(outside.path()).unwrap();
    for f in (0..100).step_by(7) {
        repo.append(format!("d13/f{f:03}"), "x");
    }
    let v = repo.json(&["add", "-A"]);
    assert_eq!(
        (staged(&v, "added"), staged(&v, "modified")),
        (50, 15),
        "{v}"
    );
    let lines = repo.status();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("A  ") || l.starts_with("M  ")),
        "{lines:?}"
    );
    repo.commit("more");
    assert_eq!(repo.status(), Vec::<String>::new());
    repo.append("d05/new/g7", "x");
    assert_eq!(repo.status(), [" M d05/new/g7"]);
}

/// A monitor that does not answer (stopped) costs a status its timeout, then a full pass;
/// the events it could not queue meanwhile (an overflow) make it start again, and the
/// change whose event was dropped still shows.
#[test]
fn a_stuck_monitor_and_an_overflowed_queue_mean_full_passes() {
    let w = Watched::new();
    w.hide_a_change();
    let signal = |sig: &str| {
        let pid = w.monitor.pid.to_string();
        let st = std::process::Command::new("kill")
            .args([sig, &pid])
            .status();
        assert!(st.unwrap().success());
    };
    signal("-STOP");
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map_or(16384, |s| s.trim().parse().unwrap());
    // Each append is two events (modify, close); alternating files, so none merge.
    for i in 0..limit {
        let name = if i % 2 == 0 { "a/one.txt" } else { "a/two.txt" };
        w.repo.append(name, "x");
    }
    // Past the queue's end: its event is dropped.
    w.repo.append("d/four.txt", "x");
    let t = Instant::now();
    let lines = w.status(false);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(lines, [" M a/one.txt", " M a/two.txt", " M d/four.txt"]);
    signal("-CONT");
    assert_eq!(
        w.status(false),
        [" M a/one.txt", " M a/two.txt", " M d/four.txt"]
    );
}

/// On a FUSE file system (a `cairn mount` of the repository's own layers) inotify would
/// never hear of changes: `watch start` refuses, with exit 2 and the path, and starts
/// nothing.
#[test]
fn a_fuse_worktree_is_refused() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE (apt-get install fuse3; modprobe fuse)"
    );
    let repo = TestRepo::new();
    repo.write("a/x", "x\n");
    repo.ok(&["add", "-A"]);
    repo.commit("one");
    let mnt = tempfile::tempdir().unwrap();
    let dir = mnt.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let v = repo.json(&["mount", "--daemon", dir.to_str().unwrap()]);
    assert_eq!(v["ended"], "running", "{v}");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let worktree = dir.join("lines/main");
    let cairn_dir = repo.path(".cairn");
    let args = [
        "--repo",
        cairn_dir.to_str().unwrap(),
        "--work-tree",
        worktree.to_str().unwrap(),
        "watch",
        "start",
    ];
    let err = repo.fails(&args, 2);
    assert!(err.contains("FUSE"), "{err}");
    assert!(err.contains(worktree.to_str().unwrap()), "{err}");
    assert!(!repo.path(".cairn/watch/sock").exists());
    repo.ok(&["umount", dir.to_str().unwrap()]);
}

/// A directory made while the monitor runs is watched from then on: a later change to a
/// file in it is seen (with the file's date set back, so that only the monitor can tell).
#[test]
fn files_of_a_directory_created_later_are_watched() {
    let w = Watched::new();
    w.repo.write("n/m/f.txt", "f\n");
    let st = std::process::Command::new("touch")
        .args(["-h", "-d", "1 hour ago"])
        .arg(w.repo.path("n/m/f.txt"))
        .status()
        .unwrap();
    assert!(st.success());
    w.repo.ok(&["add", "-A"]);
    w.repo.commit("n");
    // The add walked (a new directory), so it kept no state: one full pass makes it.
    assert_eq!(w.repo.status(), Vec::<String>::new());
    w.hide_a_change();
    assert_eq!(w.status(true), Vec::<String>::new());
    w.repo.append("n/m/f.txt", "x");
    assert_eq!(w.status(true), [" M n/m/f.txt"]);
}
