//! Crash safety, proven: `add`, `commit`, `checkout` and `gc` are killed over a real
//! workload (a few hundred files, a 3 MiB file, a new layer most rounds), at every fail
//! point of the write path and at seeded random moments. After every kill the next commands
//! work, `verify --data` finds no damage (orphan packs are allowed), and every layer committed
//! before is still there and restores byte for byte, compared with the worktree it was
//! committed from (see `Harness::check` for which layers are restored when).
//!
//! Packs are closed at 1 MiB (`CAIRN_TEST_PACK_TARGET`) so one `add` publishes several and a
//! kill can fall between them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn::refs::RefKind;

use crate::support;
use crate::support::*;

const PACK_TARGET: (&str, &str) = ("CAIRN_TEST_PACK_TARGET", "1048576");

#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Commit,
    Checkout,
    Gc,
}

#[derive(Clone, Copy, Debug)]
enum Kill {
    /// Abort at this fail point (`CAIRN_FAILPOINT`).
    At(&'static str),
    /// SIGKILL after this long.
    After(Duration),
}

struct Harness {
    _env: support::Env,
    root: PathBuf,
    rng: Rng,
    /// Every committed layer with the worktree it was committed from.
    layers: Vec<(String, Tree)>,
    /// How long each command took when it was not killed, to choose when to kill it.
    took: HashMap<&'static str, Duration>,
    kills: usize,
    /// Temporary files a killed checkout left in the worktree (there must be none).
    litter: usize,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        let env = support::Env::new();
        let root = env.root.clone();
        let mut h = Harness {
            _env: env,
            root,
            rng: Rng::new(seed),
            layers: Vec::new(),
            took: HashMap::new(),
            kills: 0,
            litter: 0,
        };
        populate(&h.root, &mut h.rng, 300);
        h.settle("first");
        mutate(&h.root, &mut h.rng, 30);
        h.settle("second");
        h
    }

    /// Runs a command to completion, timing it.
    fn timed(&mut self, name: &'static str, args: &[&str]) {
        let start = Instant::now();
        ok_env(&self.root, args, &[PACK_TARGET]);
        self.took.insert(name, start.elapsed());
    }

    /// Stages everything and commits it when anything is staged, recording the layer
    /// HEAD ends on with the worktree it holds.
    fn settle(&mut self, msg: &str) {
        self.timed("add", &["-q", "add", "-A"]);
        self.record_head();
        if staged(&self.root) > 0 {
            self.timed("commit", &["-q", "commit", "-m", msg]);
            self.record_head();
        }
        assert_eq!(changes(&self.root), 0, "{msg}: nothing is left to commit");
    }

    /// A layer that a killed commit managed to publish holds what was staged, which is the
    /// worktree as it is: nothing changes the worktree between `add` and `commit` here.
    fn record_head(&mut self) {
        let out = run(&self.root, &["--json", "show", "HEAD"], &[]);
        if !out.status.success() {
            return; // no layer yet
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("show --json");
        let id = v["id"].as_str().expect("an id").to_string();
        if !self.layers.iter().any(|(l, _)| *l == id) {
            self.layers.push((id, worktree(&self.root)));
        }
    }

    /// Runs `args` and kills it. Returns true when the command died (rather than finishing
    /// before the kill came).
    fn kill(&mut self, args: &[&str], kill: Kill) -> bool {
        let what = format!("{} ({kill:?})", args.join(" "));
        let died = match kill {
            Kill::At(point) => {
                let out = run(&self.root, args, &[PACK_TARGET, ("CAIRN_FAILPOINT", point)]);
                assert_eq!(
                    killed_by(&out.status),
                    Some(libc::SIGABRT),
                    "`cairn {what}` should reach its fail point; stderr: {}",
                    stderr(&out)
                );
                true
            }
            Kill::After(delay) => {
                let mut child = spawn(&self.root, args, &[PACK_TARGET]);
                std::thread::sleep(delay);
                let _ = child.kill();
                let out = wait(child, &what);
                match killed_by(&out.status) {
                    Some(_) => true,
                    None => {
                        assert!(out.status.success(), "`cairn {what}`: {}", stderr(&out));
                        false
                    }
                }
            }
        };
        self.kills += usize::from(died);
        died
    }

    /// After a kill: the next commands work, the log still lists every layer committed
    /// before, `verify --data` finds every object they reach present and matching its id,
    /// and layers restore byte for byte: the newest and one older layer each round, all of
    /// them at the end of the test. (A layer that restored equal once and whose every object
    /// still hashes to its id restores equal again: ids are hashes of the bytes. Restoring
    /// all twenty-odd layers after every kill would take minutes in debug builds.)
    fn check(&mut self, what: &str) {
        ok(&self.root, &["-q", "status"]);
        ok(&self.root, &["-q", "log"]);
        let line = self.line();
        for (id, _) in &self.layers {
            assert!(
                line.contains(id),
                "{what}: layer {id} is gone from line main"
            );
        }
        assert_verifies(&self.root, true, what);
        let n = self.layers.len() as u64;
        let older = self.rng.below(n) as usize;
        for i in [older, self.layers.len() - 1] {
            let (id, tree) = &self.layers[i];
            assert_restores(&self.root, id, tree, what);
        }
    }

    /// The layers of line `main`, newest first.
    fn line(&self) -> Vec<String> {
        let repo = cairn::Repository::open(&self.root).expect("open the repository");
        let mut next = repo
            .refs()
            .get(RefKind::Line, "main")
            .expect("read line main");
        let mut out = Vec::new();
        while let Some(id) = next {
            out.push(id.to_hex());
            next = repo.read_layer(&id).expect("read a layer").parent;
        }
        out
    }

    fn restore_all(&self, what: &str) {
        for (id, tree) in &self.layers {
            assert_restores(&self.root, id, tree, what);
        }
    }

    fn round(&mut self, op: Op, kill: Kill) {
        let what = format!("{op:?} killed by {kill:?}");
        match op {
            Op::Add => {
                // Enough new data for two packs.
                mutate(&self.root, &mut self.rng, 20);
                let at = self.rng.below((BLOB_LEN - (1536 << 10)) as u64);
                let fresh = support::random_bytes(self.rng.next(), 1536 << 10);
                overwrite(&self.root, BLOB, at, &fresh);
                self.kill(&["add", "-A"], kill);
                self.check(&what);
                self.settle(&what);
            }
            Op::Commit => {
                mutate(&self.root, &mut self.rng, 20);
                ok_env(&self.root, &["-q", "add", "-A"], &[PACK_TARGET]);
                self.kill(&["commit", "-m", &what], kill);
                self.record_head();
                self.check(&what);
                self.settle(&what);
            }
            Op::Checkout => self.checkout_round(kill, &what),
            Op::Gc => {
                // Garbage, staged and removed again before the commit: a pack that is
                // mostly garbage (gc rewrites it) and a pack of garbage only (gc deletes it).
                mutate(&self.root, &mut self.rng, 20);
                let scratch = support::random_bytes(self.rng.next(), 512 << 10);
                write(&self.root, "scratch.bin", &scratch);
                ok_env(&self.root, &["-q", "add", "-A"], &[PACK_TARGET]);
                let scratch = support::random_bytes(self.rng.next(), 512 << 10);
                write(&self.root, "scratch.bin", &scratch);
                ok_env(&self.root, &["-q", "add", "scratch.bin"], &[PACK_TARGET]);
                std::fs::remove_file(self.root.join("scratch.bin")).expect("remove scratch");
                mutate(&self.root, &mut self.rng, 20);
                self.settle(&what);
                self.kill(&["gc"], kill);
                self.check(&what);
                self.timed("gc", &["-q", "gc"]);
                assert_verifies(&self.root, false, &format!("{what}, then gc"));
            }
        }
    }

    /// Kills a checkout of an older layer, then puts the worktree back on the line's tip
    /// with a plain `checkout main`: it must finish what the killed checkout began and leave
    /// exactly the tip's files, with no temporary file anywhere in the worktree.
    fn checkout_round(&mut self, kill: Kill, what: &str) {
        let n = self.layers.len() as u64;
        let (target, _) = self.layers[self.rng.below(n - 1) as usize].clone();
        let (_, tip) = self.layers.last().expect("layers").clone();
        self.kill(&["checkout", &target], kill);
        let temp = |tree: &Tree| {
            tree.keys()
                .filter(|p| String::from_utf8_lossy(p).contains(".cairn-"))
                .count()
        };
        self.litter += temp(&worktree(&self.root));
        self.check(what);
        let start = Instant::now();
        ok(&self.root, &["-q", "checkout", "main"]);
        self.took.insert("checkout", start.elapsed());
        // Directories made for files the kill came before are left empty: nothing lists,
        // stages or tracks an empty directory.
        prune_empty_dirs(&self.root);
        support::assert_same_tree(&tip, &worktree(&self.root), &[], what);
        assert_eq!(
            changes(&self.root),
            0,
            "{what}: the worktree is clean again"
        );
    }

    /// A moment to kill `op` at: anywhere in its usual duration.
    fn delay(&mut self, op: Op) -> Duration {
        let name = match op {
            Op::Add => "add",
            Op::Commit => "commit",
            Op::Checkout => "checkout",
            Op::Gc => "gc",
        };
        let usual = self
            .took
            .get(name)
            .copied()
            .unwrap_or(Duration::from_millis(300));
        Duration::from_micros(self.rng.below(usual.as_micros() as u64 + 1))
    }
}

const FAIL_POINTS: &[(Op, &str)] = &[
    (Op::Add, "pack:before-rename"),
    (Op::Add, "pack:before-index"),
    (Op::Add, "pack:after-index"),
    (Op::Add, "pack:before-index@2"),
    (Op::Add, "atomic:before-rename"),
    (Op::Add, "add:before-index"),
    (Op::Add, "index:mid-write"),
    (Op::Commit, "pack:before-rename"),
    (Op::Commit, "pack:before-index"),
    (Op::Commit, "pack:after-index"),
    (Op::Commit, "commit:before-ref"),
    (Op::Commit, "atomic:before-rename@2"),
    (Op::Commit, "commit:before-index"),
    (Op::Commit, "index:mid-write"),
    (Op::Commit, "atomic:before-rename@3"),
    (Op::Checkout, "checkout:after-write@5"),
    (Op::Checkout, "checkout:before-head"),
    (Op::Checkout, "atomic:before-rename"),
    (Op::Checkout, "checkout:before-index"),
    (Op::Gc, "gc:after-new-packs"),
    (Op::Gc, "pack:before-index"),
    (Op::Gc, "pack:after-index"),
    (Op::Gc, "gc:after-first-delete"),
    (Op::Gc, "gc:after-first-delete@2"),
];

#[test]
fn killed_at_every_fail_point() {
    let start = Instant::now();
    let mut h = Harness::new(0x5eed_0001);
    for (op, point) in FAIL_POINTS {
        h.round(*op, Kill::At(point));
    }
    assert_eq!(h.kills, FAIL_POINTS.len());
    assert_eq!(h.litter, 0, "temporary files were left in the worktree");
    h.restore_all("after every fail point");
    eprintln!(
        "fail points: {} rounds, {} layers, {} checkout temp files left, {:?}",
        FAIL_POINTS.len(),
        h.layers.len(),
        h.litter,
        start.elapsed()
    );
}

#[test]
fn killed_at_random_moments() {
    let start = Instant::now();
    let mut h = Harness::new(0x5eed_0002);
    let ops = [Op::Add, Op::Add, Op::Add, Op::Commit, Op::Checkout, Op::Gc];
    let rounds = 20;
    for _ in 0..rounds {
        let op = *h.rng.pick(&ops);
        let delay = h.delay(op);
        h.round(op, Kill::After(delay));
    }
    // Most kills must land while the command runs, or the test proves little.
    assert!(
        h.kills >= rounds / 2,
        "only {} of {rounds} commands were killed before they finished",
        h.kills
    );
    assert_eq!(h.litter, 0, "temporary files were left in the worktree");
    h.restore_all("after every kill");
    eprintln!(
        "random kills: {} of {rounds} rounds killed, {} layers, {} checkout temp files left, {:?}",
        h.kills,
        h.layers.len(),
        h.litter,
        start.elapsed()
    );
}
