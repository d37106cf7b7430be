//! Several cairn processes at once: one writer at a time (a second one fails naming the
//! holder, or waits for it; a killed holder never blocks anyone), readers that never see an
//! error or a half state while commits and gc run beside them, and results that do not
//! depend on the number of threads.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn::hash::ObjectId;
use cairn::Repository;

use crate::support;
use crate::support::*;

/// Starts `cairn args` paused at `point` while it holds the writers' lock, and waits until
/// the lock file names it.
fn hold_lock(root: &Path, args: &[&str], point: &str) -> std::process::Child {
    let child = spawn(root, args, &[("CAIRN_FAILPOINT", point)]);
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(60), || lock_holder(root) == Some(pid)),
        "cairn {} never took the lock",
        args.join(" ")
    );
    child
}

#[test]
fn second_writer_fails_at_once_naming_the_holder() {
    let (env, mut rng) = repo_with_a_layer(20, 1);
    let root = &env.root;
    mutate(root, &mut rng, 5);
    let before = repo_files(root);
    let mut holder = hold_lock(root, &["add", "-A"], "add:before-index=pause");
    let pid = holder.id();
    for args in [
        &["--lock-timeout", "0", "add", "-A"][..],
        &["--lock-timeout", "0", "commit", "-m", "x"],
        &["--lock-timeout", "0", "gc"],
        &["--lock-timeout", "0.2", "checkout", "HEAD"],
        &["--lock-timeout", "0", "rm", "--cached", "bin/run.sh"],
        &["--lock-timeout", "0", "tag", "v1"],
    ] {
        let err = fails(root, args, &[]);
        assert!(
            err.contains(&format!("process {pid}")),
            "`cairn {}` should name the holder {pid}: {err}",
            args.join(" ")
        );
    }
    // Readers need no lock.
    ok(root, &["-q", "status"]);
    ok(root, &["-q", "log"]);
    assert_verifies(root, false, "while a writer holds the lock");

    // A holder killed with the lock held leaves nothing that blocks the next writer.
    holder.kill().expect("kill the holder");
    holder.wait().expect("reap the holder");
    let mut after = repo_files(root);
    after.retain(|p, _| !p.starts_with(b"packs/")); // the killed add may have published packs
    let mut expected = before;
    expected.retain(|p, _| !p.starts_with(b"packs/"));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    let v = json(root, &["--lock-timeout", "0", "add", "-A"]);
    assert!(!v["staged"].as_array().expect("staged").is_empty());
    ok(
        root,
        &[
            "--lock-timeout",
            "0",
            "-q",
            "commit",
            "-m",
            "after the kill",
        ],
    );
    assert_verifies(root, true, "after the killed holder");
}

#[test]
fn second_writer_waits_for_the_first() {
    let (env, mut rng) = repo_with_a_layer(20, 2);
    let root = &env.root;
    mutate(root, &mut rng, 5);
    ok(root, &["-q", "add", "-A"]);
    // The first writer holds the lock for a while in the middle of its commit.
    let first = hold_lock(
        root,
        &["--json", "commit", "-m", "first"],
        "commit:before-ref=sleep1500",
    );
    write(root, "later.txt", b"staged after the first commit\n");
    let second = spawn(root, &["--lock-timeout", "60", "add", "later.txt"], &[]);
    let second = wait(second, "add later.txt");
    assert!(second.status.success(), "{}", stderr(&second));
    let first = wait(first, "commit");
    assert!(first.status.success(), "{}", stderr(&first));
    let layer: serde_json::Value = serde_json::from_slice(&first.stdout).expect("commit --json");

    // The second ran after the first: it staged on top of the committed state.
    assert_eq!(layer_id(root, "HEAD"), layer["layer"].as_str().expect("id"));
    let status = json(root, &["status"]);
    let staged: Vec<&str> = status["staged"]
        .as_array()
        .expect("staged")
        .iter()
        .map(|e| e["path"].as_str().or(e.as_str()).expect("a path"))
        .collect();
    assert_eq!(staged, ["later.txt"]);
    assert_verifies(root, false, "after two writers");
}

/// One process commits and collects garbage over and over while others read; every read
/// must succeed and show a state that some commit produced.
#[test]
fn readers_see_before_or_after_during_commit_and_gc() {
    let (env, rng) = repo_with_a_layer(60, 3);
    let root = env.root.clone();
    let rng = Mutex::new(rng);
    let markers: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let trees: Mutex<BTreeMap<String, Tree>> = Mutex::new(BTreeMap::new());
    let first = layer_id(&root, "HEAD");
    trees.lock().unwrap().insert(first, worktree(&root));
    write(&root, "marker", b"0");
    ok(&root, &["-q", "add", "-A"]);
    ok(&root, &["-q", "commit", "-m", "marker 0"]);
    markers.lock().unwrap().insert("0".into());
    trees
        .lock()
        .unwrap()
        .insert(layer_id(&root, "HEAD"), worktree(&root));
    let done = AtomicBool::new(false);
    let reads = Mutex::new(BTreeMap::<&str, usize>::new());
    let mut freed = 0;
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut freed = 0;
            for i in 1..=6 {
                let mut rng = rng.lock().unwrap();
                // Garbage for gc: content staged and removed before it is committed, in
                // the same pack as live content.
                mutate(&root, &mut rng, 10);
                write(
                    &root,
                    "scratch.bin",
                    &support::random_bytes(rng.next(), 256 << 10),
                );
                ok(&root, &["-q", "add", "-A"]);
                std::fs::remove_file(root.join("scratch.bin")).unwrap();
                mutate(&root, &mut rng, 10);
                let m = i.to_string();
                markers.lock().unwrap().insert(m.clone());
                write(&root, "marker", m.as_bytes());
                ok(&root, &["-q", "add", "-A"]);
                let snap = worktree(&root);
                let c = json(&root, &["commit", "-m", &format!("marker {m}")]);
                let id = c["layer"].as_str().expect("layer").to_string();
                trees.lock().unwrap().insert(id, snap);
                let gc = json(&root, &["gc"]);
                freed += gc["packs_deleted"].as_u64().unwrap_or(0)
                    + gc["packs_rewritten"].as_u64().unwrap_or(0);
            }
            done.store(true, Ordering::SeqCst);
            freed
        });
        for reader in 0..2 {
            let (root, done, reads, markers, trees) = (&root, &done, &reads, &markers, &trees);
            s.spawn(move || {
                let dest = root.parent().unwrap().join(format!("reader-{reader}"));
                let mut n = 0u64;
                while !done.load(Ordering::SeqCst) {
                    n += 1;
                    let what = match n % 5 {
                        0 => {
                            let m = ok(root, &["cat", "HEAD:marker"]);
                            assert!(markers.lock().unwrap().contains(&m), "marker {m}");
                            "cat"
                        }
                        1 => {
                            let v = json(root, &["log"]);
                            assert!(v["layers"].as_array().unwrap().len() >= 2);
                            "log"
                        }
                        2 => {
                            let v = json(root, &["ls", "-r", "HEAD"]);
                            assert!(v.to_string().contains("marker"));
                            "ls"
                        }
                        3 => {
                            let _ = std::fs::remove_dir_all(&dest);
                            let to = dest.to_str().unwrap();
                            let v = json(root, &["restore", "HEAD", "--to", to]);
                            let id = v["layer"].as_str().unwrap().to_string();
                            // The writer records a layer's tree right after its commit.
                            let tree = wait_for(Duration::from_secs(60), || {
                                trees.lock().unwrap().contains_key(&id)
                            });
                            assert!(tree, "restored layer {id} was never committed");
                            let want = trees.lock().unwrap()[&id].clone();
                            support::assert_same_tree(
                                &want,
                                &support::snapshot(&dest, &[]),
                                &[],
                                "restore during commits",
                            );
                            "restore"
                        }
                        _ if n % 10 == 4 => {
                            assert_verifies(root, false, "verify during commits");
                            "verify"
                        }
                        _ => {
                            ok(root, &["-q", "status"]);
                            "status"
                        }
                    };
                    *reads.lock().unwrap().entry(what).or_default() += 1;
                }
            });
        }
        freed = writer.join().expect("writer");
    });
    let reads = reads.into_inner().unwrap();
    eprintln!("reads during commits and gc: {reads:?}, packs freed: {freed}");
    assert!(
        freed > 0,
        "gc never deleted or rewrote a pack: the test proves little"
    );
    for what in ["cat", "log", "ls", "restore", "status"] {
        assert!(reads.get(what).is_some_and(|n| *n > 0), "no {what} ran");
    }
    assert_verifies(&root, true, "after the writer");
}

/// A reader that listed the packs before gc moved its objects still reads them: the pack
/// file it looks for is gone, so it lists the packs again and finds the copy.
#[test]
fn stale_reader_follows_objects_moved_by_gc() {
    let (env, mut rng) = repo_with_a_layer(10, 4);
    let root = &env.root;
    // A pack that is mostly garbage: a large file staged, then replaced before commit,
    // beside a small file that stays.
    write(root, "keep.txt", b"kept across gc\n");
    write(root, "big.bin", &support::random_bytes(rng.next(), 1 << 20));
    ok(root, &["-q", "add", "-A"]);
    std::fs::remove_file(root.join("big.bin")).unwrap();
    ok(root, &["-q", "add", "-A"]);
    ok(root, &["-q", "commit", "-m", "keep"]);

    let repo = Repository::open(root).expect("open");
    let head: ObjectId = layer_id(root, "HEAD").parse().unwrap();
    let names = |repo: &Repository| -> HashSet<ObjectId> {
        repo.store.packs().iter().map(|p| p.name).collect()
    };
    let packs_before = names(&repo);
    let gc = json(root, &["gc"]);
    assert!(gc["packs_rewritten"].as_u64().unwrap() + gc["packs_deleted"].as_u64().unwrap() > 0);

    // Every object of HEAD reads through the stale store.
    let layer = repo.read_layer(&head).expect("layer after gc");
    let tree = repo.read_tree(&layer.tree).expect("tree after gc");
    let keep = tree.get(b"keep.txt").expect("keep.txt");
    let file = repo.read_file(&keep.id).expect("file object after gc");
    let bytes: Vec<u8> = file
        .chunks
        .iter()
        .flat_map(|c| repo.read_chunk(&c.id).expect("chunk after gc"))
        .collect();
    assert_eq!(bytes, b"kept across gc\n");
    assert_ne!(names(&repo), packs_before, "the packs were listed again");

    // And a reader that opened before a commit finds the new layer.
    write(root, "new.txt", b"committed after the reader opened\n");
    ok(root, &["-q", "add", "-A"]);
    ok(root, &["-q", "commit", "-m", "new"]);
    let head: ObjectId = layer_id(root, "HEAD").parse().unwrap();
    assert!(repo.store.contains(&head));
    repo.read_layer(&head)
        .expect("a layer committed after the reader opened");
}

/// Sets the mtime of `p` itself (a symlink's own, not its target's), in whole seconds.
fn set_mtime_nofollow(p: &Path, secs: i64) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let t = libc::timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = [t, t];
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", p.display());
}

/// The same tree gives the same tree id and the same listing whatever the thread count.
#[test]
fn thread_count_does_not_change_ids() {
    let mut results = Vec::new();
    for threads in ["1", "2", "4"] {
        let env = support::Env::new();
        let root = &env.root;
        let mut rng = Rng::new(77);
        populate(root, &mut rng, 1500);
        write(root, "large2.bin", &support::random_bytes(5, 9 << 20));
        // Many chunks of the same content in several files: dedup across threads.
        for i in 0..20 {
            write(
                root,
                &format!("dup/{i}.bin"),
                &support::random_bytes(9, 300_000),
            );
        }
        for p in support::all_paths(root, &[".cairn"]) {
            set_mtime_nofollow(&path(root, &p), 1_700_000_000);
        }
        let add = json(root, &["--threads", threads, "add", "-A"]);
        let c = json(
            root,
            &[
                "--threads",
                threads,
                "commit",
                "-m",
                "same",
                "--author",
                "fixed",
            ],
        );
        let ls = json(root, &["--threads", threads, "ls", "-r", "HEAD"])["entries"].clone();
        results.push((
            threads,
            c["tree"].as_str().unwrap().to_string(),
            ls,
            add["chunks_new"].clone(),
        ));
        assert_verifies(root, true, &format!("--threads {threads}"));
    }
    for r in &results[1..] {
        assert_eq!(r.1, results[0].1, "--threads {} gave another tree", r.0);
        assert!(r.2 == results[0].2, "--threads {} lists another tree", r.0);
        assert_eq!(r.3, results[0].3, "--threads {} stored other chunks", r.0);
    }
}

#[test]
fn lock_is_free_again_after_each_writer() {
    // The lock file keeps the last holder's pid, which must not be mistaken for a holder.
    let (env, _) = repo_with_a_layer(5, 6);
    let root = &env.root;
    let start = Instant::now();
    for i in 0..3 {
        write(root, &format!("n{i}"), b"x");
        ok(root, &["--lock-timeout", "0", "-q", "add", "-A"]);
        ok(root, &["--lock-timeout", "0", "-q", "commit", "-m", "n"]);
    }
    assert!(
        lock_holder(root).is_some(),
        "the last writer's pid stays in the file"
    );
    ok(root, &["--lock-timeout", "0", "-q", "gc"]);
    eprintln!("six writers in a row: {:?}", start.elapsed());
}
