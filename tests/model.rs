//! Model-based test: random sequences of worktree edits, `add`, `rm`, `commit`, `checkout`,
//! `reset`, `tag`, `gc`, `restore` and SIGKILLs of running commands, run with the built
//! binary on small trees with odd names (spaces, newlines, non-UTF-8 bytes, leading dashes,
//! `--`), symlinks, empty files and several modes, against an in-memory model of what the
//! worktree, the staging index, every layer and every ref must hold (`model/world.rs`).
//! After every step cairn and the model must agree (`Runner::check`) and `verify --data`
//! must find nothing.
//!
//! Bounded for CI: `CAIRN_MODEL_CASES` sequences (default 24, about a minute in a debug
//! build on two shared cores) of up to 60 steps. A failing sequence is shrunk and saved by proptest in
//! `tests/model.proptest-regressions`, which later runs replay first; copy the shrunk
//! steps into an explicit `#[test]` below to keep it for good.
//!
//! Known defects that other work fixes are kept out of the random steps unless
//! `CAIRN_MODEL_KNOWN` names them (comma-separated, or `all`):
//! - `dir-symlink`: a tracked directory replaced by a symlink (issue 12, item 4);
//! - `checkout-kill`: after a killed checkout, cairn's `.cairn-tmp-*` files count as
//!   worktree files and a plain `checkout` (not `-f`) must finish the job (item 10);
//! - `non-utf8`: `cat` names layer paths that are not UTF-8 (item 14).
//!
//! Defects this test found, not fixed yet, are kept the same way (and each has its shrunk
//! sequence below as a `found_*` test):
//! - `file-now-dir`: a tracked file `x` replaced by a directory: `rm x` fails with "could
//!   not delete file: Is a directory" after it has already untracked `x`, and `reset
//!   --hard` or `checkout -f` to a layer without `x` fail with the same error; so does
//!   running a killed `checkout -f` again when it had already made `x` a directory;
//! - `checkout-dir`: `checkout -f` (or `reset --hard`) to a layer with a file `x` where the
//!   worktree has a directory `x/` holding an untracked file deletes the tracked files
//!   below `x/`, then fails with "could not replace directory (it is not empty)".

mod harness;
mod support;

#[path = "model/observe.rs"]
mod observe;
#[path = "model/world.rs"]
mod world;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;

use world::{under, Entry, Expect, Head, Model, Tree};

/// Directory and file names are disjoint apart from `x`, which is both: a file `x` in
/// one state, a directory `x/` of files in another.
const DIRS: &[&[u8]] = &[
    b"",
    b"d",
    b"d/sub dir",
    b"-lead",
    b"nl\ndir",
    b"\xc3(bad",
    b"x",
];
const NAMES: &[&[u8]] = &[
    b"a",
    b"b c",
    b"-f",
    b"--",
    b"new\nline",
    b"\xff\xfe",
    b"e.txt",
    b" sp",
    b"star*?",
    b"x",
];
const LINK_TARGETS: &[&[u8]] = &[
    b"a",
    b"../outside",
    b"/etc/passwd",
    b"d/sub dir",
    b"missing",
    b"\xff",
    b"-lead/a",
    b"nl\nx",
];
/// Modes a umask of 022 leaves alone (set-id bits are item 13's business).
const MODES: &[u32] = &[0o644, 0o755, 0o600, 0o700, 0o444, 0o640];
const TAGS: &[&str] = &["v1", "t-2", "x.y"];
/// The one file of the directory beside the worktree that symlinks point at.
const OUTSIDE: &[u8] = b"outside the worktree\n";

fn path_of(i: usize) -> Vec<u8> {
    let (dir, name) = (DIRS[i % DIRS.len()], NAMES[i / DIRS.len() % NAMES.len()]);
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Where worktree edits go: one time in three among a few paths that clash (the file `x`
/// and the directory `x/`) or are shared by most sequences, otherwise anywhere in the pool
/// (`path_of(i / 3)`).
fn write_path(i: usize) -> Vec<u8> {
    const HOT: &[&[u8]] = &[b"x", b"x/a", b"a", b"d/a"];
    if i.is_multiple_of(3) {
        HOT[i / 3 % HOT.len()].to_vec()
    } else {
        path_of(i / 3)
    }
}

/// A file path of the pool (perhaps absent), or one time in four a directory.
fn pool_path(i: usize) -> Vec<u8> {
    if i.is_multiple_of(4) {
        DIRS[1 + i / 4 % (DIRS.len() - 1)].to_vec()
    } else {
        path_of(i / 4)
    }
}

#[derive(Clone, Debug)]
enum Content {
    Small(Vec<u8>),
    /// Pseudo-random bytes: several chunks at the test's 1 KiB average.
    Big {
        seed: u64,
        len: usize,
    },
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Small(b) => b.clone(),
            Content::Big { seed, len } => support::random_bytes(*len, *seed),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum KillCmd {
    Add,
    Commit,
    Checkout,
    ResetHard,
    Gc,
}

/// One step. Numbers pick among what exists when the step runs (paths, layers, refs), so
/// every sequence means something whatever came before it.
#[derive(Clone, Debug)]
enum Op {
    Write {
        path: usize,
        content: Content,
        mode: usize,
    },
    Link {
        path: usize,
        target: usize,
    },
    Delete {
        path: usize,
    },
    Chmod {
        path: usize,
        mode: usize,
    },
    /// A tracked directory replaced by a symlink (`CAIRN_MODEL_KNOWN=dir-symlink`).
    DirLink {
        dir: usize,
        target: usize,
    },
    Add {
        path: Option<usize>,
    },
    Rm {
        path: usize,
        cached: bool,
        force: bool,
    },
    Commit,
    /// `add -A` then `commit`, the usual pair.
    Snapshot,
    Checkout {
        target: usize,
        force: bool,
    },
    /// `checkout LAYER [-f] -- PATH`: a file or directory put back from a layer.
    CheckoutPaths {
        target: usize,
        path: usize,
        force: bool,
    },
    Reset {
        target: usize,
        hard: bool,
    },
    Tag {
        name: usize,
        target: usize,
        delete: bool,
    },
    Gc,
    Restore {
        layer: usize,
    },
    /// `cat LAYER:PATH [--range S-E]` of a file in a live layer.
    Cat {
        layer: usize,
        path: usize,
        range: Option<(usize, usize)>,
    },
    /// SIGKILL after `delay_us`, or, with `point`, an abort at one of the command's fail
    /// points (`CAIRN_FAILPOINT`, see [`fail_points`]).
    Kill {
        cmd: KillCmd,
        target: usize,
        delay_us: u64,
        point: Option<usize>,
    },
}

/// The fail points each killed command passes (as in tests/crash.rs). A point the run does
/// not reach (a gc with nothing to do) lets the command finish.
fn fail_points(cmd: KillCmd) -> &'static [&'static str] {
    match cmd {
        KillCmd::Add => &[
            "pack:before-rename",
            "pack:before-index",
            "pack:after-index",
            "atomic:before-rename",
            "add:before-index",
        ],
        KillCmd::Commit => &[
            "pack:before-rename",
            "pack:before-index",
            "pack:after-index",
            "commit:before-ref",
            "atomic:before-rename@2",
            "commit:before-index",
        ],
        KillCmd::Checkout => &[
            "checkout:after-write@1",
            "checkout:before-head",
            "atomic:before-rename",
            "checkout:before-index",
        ],
        KillCmd::ResetHard => &["atomic:before-rename"],
        KillCmd::Gc => &[
            "gc:after-new-packs",
            "pack:before-index",
            "pack:after-index",
            "gc:after-first-delete",
        ],
    }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        2 => Just(Content::Small(Vec::new())),
        5 => prop::collection::vec(any::<u8>(), 0..48).prop_map(Content::Small),
        2 => (any::<u64>(), 1usize..24_000).prop_map(|(seed, len)| Content::Big { seed, len }),
    ]
}

fn kill_cmd() -> impl Strategy<Value = KillCmd> {
    prop_oneof![
        Just(KillCmd::Add),
        Just(KillCmd::Commit),
        Just(KillCmd::Checkout),
        Just(KillCmd::ResetHard),
        Just(KillCmd::Gc),
    ]
}

fn op(known: &Known) -> BoxedStrategy<Op> {
    let n = usize::MAX / 2;
    let base = prop_oneof![
        12 => (0..n, content(), 0..n).prop_map(|(path, content, mode)| Op::Write { path, content, mode }),
        3 => (0..n, 0..n).prop_map(|(path, target)| Op::Link { path, target }),
        3 => (0..n).prop_map(|path| Op::Delete { path }),
        2 => (0..n, 0..n).prop_map(|(path, mode)| Op::Chmod { path, mode }),
        8 => prop::option::weighted(0.3, 0..n).prop_map(|path| Op::Add { path }),
        3 => (0..n, any::<bool>(), any::<bool>()).prop_map(|(path, cached, force)| Op::Rm { path, cached, force }),
        3 => Just(Op::Commit),
        5 => Just(Op::Snapshot),
        4 => (0..n, any::<bool>()).prop_map(|(target, force)| Op::Checkout { target, force }),
        2 => (0..n, 0..n, any::<bool>()).prop_map(|(target, path, force)| Op::CheckoutPaths { target, path, force }),
        2 => (0..n, any::<bool>()).prop_map(|(target, hard)| Op::Reset { target, hard }),
        2 => (0..n, 0..n, any::<bool>()).prop_map(|(name, target, delete)| Op::Tag { name, target, delete }),
        2 => Just(Op::Gc),
        2 => (0..n).prop_map(|layer| Op::Restore { layer }),
        2 => (0..n, 0..n, prop::option::of((0..n, 0..n))).prop_map(|(layer, path, range)| Op::Cat { layer, path, range }),
        3 => (kill_cmd(), 0..n, 0u64..25_000, prop::option::of(0..n)).prop_map(|(cmd, target, delay_us, point)| Op::Kill { cmd, target, delay_us, point }),
    ];
    if !known.dir_symlink {
        return base.boxed();
    }
    let dir_link = (0..n, 0..n).prop_map(|(dir, target)| Op::DirLink { dir, target });
    prop_oneof![25 => base, 1 => dir_link].boxed()
}

/// Known defects turned back on (see the top of the file).
#[derive(Clone, Debug, Default)]
struct Known {
    dir_symlink: bool,
    checkout_kill: bool,
    non_utf8: bool,
    file_now_dir: bool,
    checkout_dir: bool,
}

impl Known {
    fn from_env() -> Known {
        Known {
            dir_symlink: Known::on("dir-symlink"),
            checkout_kill: Known::on("checkout-kill"),
            non_utf8: Known::on("non-utf8"),
            file_now_dir: Known::on("file-now-dir"),
            checkout_dir: Known::on("checkout-dir"),
        }
    }

    fn on(name: &str) -> bool {
        let v = std::env::var("CAIRN_MODEL_KNOWN").unwrap_or_default();
        v.split(',').any(|s| s.trim() == name || s.trim() == "all")
    }

    fn names(&self, name: &str) -> bool {
        Known::on(name)
    }
}

/// The repository, the model, and what has happened so far (for failure messages).
struct Runner {
    env: support::Env,
    m: Model,
    known: Known,
    step: usize,
    restores: usize,
    pub kills: usize,
}

fn arg(p: &[u8]) -> OsString {
    OsStr::from_bytes(p).to_os_string()
}

impl Runner {
    fn new(known: Known) -> Runner {
        let env = support::Env::with_init(&["--chunk-size", "1K"]);
        // What the symlinks to `../outside` reach: nothing may read or change it.
        std::fs::create_dir(env.outside("outside")).expect("create outside");
        std::fs::write(env.outside("outside/a"), OUTSIDE).expect("write outside");
        Runner {
            env,
            m: Model::new(),
            known,
            step: 0,
            restores: 0,
            kills: 0,
        }
    }

    /// Runs cairn and checks the exit code against the model's expectation.
    fn expect(&self, args: &[OsString], want: Expect) -> Vec<u8> {
        let out = self.env.run(args);
        match want {
            Expect::Ok => support::assert_ok(&out, args),
            Expect::Fail => support::assert_error(&out, args),
        }
        out.stdout
    }

    fn cmd(&self, args: &[&str], paths: &[&[u8]], want: Expect) -> Vec<u8> {
        let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
        if !paths.is_empty() {
            all.push("--".into());
            all.extend(paths.iter().map(|p| arg(p)));
        }
        self.expect(&all, want)
    }

    /// Layers HEAD, a line or a tag reaches: what checkout, reset and tag may name.
    fn targets(&self) -> Vec<usize> {
        let mut r = self.m.reachable();
        r.sort();
        r
    }

    /// A reference naming `pick` among the live layers: a line, a tag or an id, and the
    /// HEAD a checkout of it leaves.
    fn reference(&self, pick: usize) -> Option<(String, usize, Head)> {
        let mut refs: Vec<(String, usize, Head)> = Vec::new();
        for (name, &l) in &self.m.lines {
            refs.push((name.clone(), l, Head::Line(name.clone())));
        }
        for (name, &l) in &self.m.tags {
            refs.push((name.clone(), l, Head::Detached(l)));
        }
        for l in self.targets() {
            refs.push((self.m.layers[l].id.clone(), l, Head::Detached(l)));
        }
        if refs.is_empty() {
            return None;
        }
        Some(refs.swap_remove(pick % refs.len()))
    }

    fn pick(items: &[Vec<u8>], i: usize) -> Option<&Vec<u8>> {
        items.get(i % items.len().max(1))
    }

    /// A checkout the random steps stay away from until `checkout-dir` is fixed: see
    /// `found_checkout_force_file_over_directory`.
    fn dir_case(&self, layer: usize, scope: &[u8], force: bool) -> bool {
        !self.known.checkout_dir && self.m.dir_in_the_way(layer, scope, force)
    }

    /// A tracked file replaced by a directory, which the random steps that delete tracked
    /// files stay away from until `file-now-dir` is fixed: see
    /// `found_rm_of_file_replaced_by_directory` and `found_reset_hard_over_file_now_dir`.
    fn file_now_dir(&self) -> bool {
        !self.known.file_now_dir && self.m.index.keys().any(|p| self.m.holds_below(p, &[]))
    }

    /// One of the live layers, if there is any.
    fn live(&self, i: usize) -> Option<usize> {
        let live = self.targets();
        live.get(i % live.len().max(1)).copied()
    }

    fn apply(&mut self, op: &Op) {
        self.step += 1;
        match op {
            Op::Write {
                path,
                content,
                mode,
            } => {
                let e = Entry::File {
                    mode: MODES[mode % MODES.len()],
                    bytes: content.bytes(),
                };
                self.put(&write_path(*path), e);
            }
            Op::Link { path, target } => {
                let t = LINK_TARGETS[target % LINK_TARGETS.len()].to_vec();
                self.put(&write_path(*path), Entry::Link(t));
            }
            Op::Delete { path } => {
                let paths: Vec<Vec<u8>> = self.m.work.keys().cloned().collect();
                if let Some(p) = Self::pick(&paths, *path).cloned() {
                    std::fs::remove_file(self.env.path(&p)).expect("delete");
                    self.m.work.remove(&p);
                }
            }
            Op::Chmod { path, mode } => self.chmod(*path, MODES[mode % MODES.len()]),
            Op::DirLink { dir, target } => self.dir_link(*dir, *target),
            Op::Add { path } => self.add(*path),
            Op::Rm {
                path,
                cached,
                force,
            } => self.rm(*path, *cached, *force),
            Op::Commit => self.commit(),
            Op::Snapshot => {
                self.add(None);
                self.commit();
            }
            Op::Checkout { target, force } => self.checkout(*target, *force),
            Op::CheckoutPaths {
                target,
                path,
                force,
            } => self.checkout_paths(*target, *path, *force),
            Op::Reset { target, hard } => self.reset(*target, *hard),
            Op::Tag {
                name,
                target,
                delete,
            } => self.tag(*name, *target, *delete),
            Op::Gc => {
                self.cmd(&["-q", "gc"], &[], Expect::Ok);
            }
            Op::Restore { layer } => self.restore(*layer),
            Op::Cat { layer, path, range } => self.cat(*layer, *path, *range),
            Op::Kill {
                cmd,
                target,
                delay_us,
                point,
            } => self.kill(*cmd, *target, *delay_us, *point),
        }
        self.check(op);
    }

    /// Puts `e` at `rel`, first removing a file or symlink standing where a parent
    /// directory must be, or a directory standing at `rel`, as a user would.
    fn put(&mut self, rel: &[u8], e: Entry) {
        for a in world::ancestors(rel) {
            if self.m.work.remove(a).is_some() {
                std::fs::remove_file(self.env.path(a)).expect("remove a file in the way");
            }
        }
        let p = self.env.path(rel);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&p).expect("remove a directory in the way");
            self.m.work.retain(|k, _| !under(k, rel));
        }
        observe::put(&self.env.root, rel, &e);
        self.m.work.insert(rel.to_vec(), e);
    }

    fn chmod(&mut self, path: usize, mode: u32) {
        let files: Vec<Vec<u8>> = self
            .m
            .work
            .iter()
            .filter(|(_, e)| matches!(e, Entry::File { .. }))
            .map(|(p, _)| p.clone())
            .collect();
        let Some(p) = Self::pick(&files, path).cloned() else {
            return;
        };
        self.env.chmod(&p, mode);
        if let Some(Entry::File { mode: m, .. }) = self.m.work.get_mut(&p) {
            *m = mode;
        }
    }

    fn dir_link(&mut self, dir: usize, target: usize) {
        let dir = DIRS[1 + dir % (DIRS.len() - 1)];
        let t = LINK_TARGETS[target % LINK_TARGETS.len()];
        let p = self.env.path(dir);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&p).expect("remove a directory");
        } else {
            let _ = std::fs::remove_file(&p);
        }
        self.m.work.retain(|k, _| !under(k, dir));
        observe::put(&self.env.root, dir, &Entry::Link(t.to_vec()));
        self.m.work.insert(dir.to_vec(), Entry::Link(t.to_vec()));
    }

    fn add(&mut self, path: Option<usize>) {
        let Some(i) = path else {
            let want = self.m.add(b"", true);
            self.cmd(&["-q", "add", "-A"], &[], want);
            return;
        };
        let p = pool_path(i);
        let exists = std::fs::symlink_metadata(self.env.path(&p)).is_ok();
        let mut m = self.m.clone();
        let want = m.add(&p, exists);
        if want == Expect::Ok {
            self.m = m;
        }
        self.cmd(&["-q", "add"], &[&p], want);
    }

    fn rm(&mut self, path: usize, cached: bool, force: bool) {
        let tracked: Vec<Vec<u8>> = self.m.index.keys().cloned().collect();
        let p = Self::pick(&tracked, path)
            .cloned()
            .unwrap_or_else(|| path_of(path));
        if !cached && self.file_now_dir() {
            return;
        }
        let mut m = self.m.clone();
        let want = m.rm(&p, cached, force);
        if want == Expect::Ok {
            self.m = m;
        }
        let mut args = vec!["-q", "rm"];
        if cached {
            args.push("--cached");
        }
        if force {
            args.push("-f");
        }
        self.cmd(&args, &[&p], want);
    }

    /// The line a commit moves: HEAD's, or a new one (`-b`) when HEAD is detached.
    fn commit_args(&self) -> (Vec<String>, String) {
        let mut args = vec![
            "--json".to_string(),
            "commit".into(),
            "-m".into(),
            "step".into(),
        ];
        let line = match &self.m.head {
            Head::Line(name) => name.clone(),
            Head::Detached(_) => {
                let name = format!("line{}", self.m.lines.len());
                args.extend(["-b".to_string(), name.clone()]);
                name
            }
        };
        (args, line)
    }

    fn commit(&mut self) {
        let want = self.m.commit_expect();
        let (args, line) = self.commit_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.cmd(&args, &[], want);
        if want == Expect::Ok {
            let v: Value = serde_json::from_slice(&out).expect("commit --json");
            let id = v["layer"].as_str().expect("a layer id").to_string();
            self.m.committed(id, line);
        }
    }

    fn checkout(&mut self, target: usize, force: bool) {
        let Some((name, layer, head)) = self.reference(target) else {
            return;
        };
        if self.dir_case(layer, b"", force) || (force && self.file_now_dir()) {
            return;
        }
        let mut m = self.m.clone();
        let want = m.checkout(layer, head, force);
        if want == Expect::Ok {
            self.m = m;
        }
        let args: &[&str] = if force {
            &["-q", "checkout", "-f", &name]
        } else {
            &["-q", "checkout", &name]
        };
        self.cmd(args, &[], want);
    }

    fn checkout_paths(&mut self, target: usize, path: usize, force: bool) {
        let Some((name, layer, _)) = self.reference(target) else {
            return;
        };
        let p = pool_path(path);
        if self.dir_case(layer, &p, force) || self.file_now_dir() {
            return;
        }
        let mut m = self.m.clone();
        let want = m.checkout_paths(layer, &p, force);
        if want == Expect::Ok {
            self.m = m;
        }
        let args: &[&str] = if force {
            &["-q", "checkout", "-f", &name]
        } else {
            &["-q", "checkout", &name]
        };
        self.cmd(args, &[&p], want);
    }

    fn reset(&mut self, target: usize, hard: bool) {
        let Some(layer) = self.live(target) else {
            return;
        };
        let id = self.m.layers[layer].id.clone();
        if hard && (self.dir_case(layer, b"", true) || self.file_now_dir()) {
            return;
        }
        let mut m = self.m.clone();
        let want = m.reset(layer, hard);
        if want == Expect::Ok {
            self.m = m;
        }
        let args: &[&str] = if hard {
            &["-q", "reset", "--hard", &id]
        } else {
            &["-q", "reset", &id]
        };
        self.cmd(args, &[], want);
    }

    fn tag(&mut self, name: usize, target: usize, delete: bool) {
        let name = TAGS[name % TAGS.len()];
        let exists = self.m.tags.contains_key(name);
        if delete {
            let want = if exists { Expect::Ok } else { Expect::Fail };
            self.m.tags.remove(name);
            self.cmd(&["-q", "tag", "-d", name], &[], want);
            return;
        }
        let Some(layer) = self.live(target) else {
            return;
        };
        let id = self.m.layers[layer].id.clone();
        let want = if exists { Expect::Fail } else { Expect::Ok };
        if !exists {
            self.m.tags.insert(name.to_string(), layer);
        }
        self.cmd(&["-q", "tag", name, &id], &[], want);
    }

    /// Restores any layer ever made into a new directory beside the worktree. A live layer
    /// must restore exactly; one gc may have removed must restore exactly or fail cleanly.
    fn restore(&mut self, layer: usize) {
        if self.m.layers.is_empty() {
            return;
        }
        let l = layer % self.m.layers.len();
        let live = self.m.reachable().contains(&l);
        self.restores += 1;
        let dest = self.env.outside(&format!("restore-{}", self.restores));
        let args: Vec<OsString> = vec![
            "-q".into(),
            "restore".into(),
            self.m.layers[l].id.clone().into(),
            "--to".into(),
            dest.clone().into(),
        ];
        let out = self.env.run(&args);
        if !live && !out.status.success() {
            support::assert_error(&out, &args);
            return;
        }
        support::assert_ok(&out, &args);
        let (got, temps) = observe::worktree(&dest);
        assert!(temps.is_empty(), "restore left {temps:?}");
        assert_tree(
            &self.m.layers[l].tree,
            &got,
            &format!("restore of layer {l}"),
        );
        std::fs::remove_dir_all(&dest).expect("remove a restore");
    }

    /// `cat` prints a file of a live layer, or the bytes of a range of it. Paths that are
    /// not UTF-8 cannot be named today (item 14): `non-utf8` turns them on.
    fn cat(&mut self, layer: usize, path: usize, range: Option<(usize, usize)>) {
        let Some(l) = self.live(layer) else {
            return;
        };
        let files: Vec<(&Vec<u8>, &Vec<u8>)> = self.m.layers[l]
            .tree
            .iter()
            .filter_map(|(p, e)| match e {
                Entry::File { bytes, .. } => Some((p, bytes)),
                Entry::Link(_) => None,
            })
            .filter(|(p, _)| self.known.non_utf8 || std::str::from_utf8(p).is_ok())
            .collect();
        let Some(&(p, bytes)) = files.get(path % files.len().max(1)) else {
            return;
        };
        let mut spec = format!("{}:", self.m.layers[l].id).into_bytes();
        spec.extend_from_slice(p);
        let mut args: Vec<OsString> = vec!["cat".into(), arg(&spec)];
        let mut want = bytes.clone();
        if let (Some((a, b)), false) = (range, bytes.is_empty()) {
            let (a, b) = (a % bytes.len(), b % bytes.len());
            let (a, b) = (a.min(b), a.max(b));
            args.extend(["--range".into(), format!("{a}-{b}").into()]);
            want = bytes[a..=b].to_vec();
        }
        let got = self.expect(&args, Expect::Ok);
        assert!(
            got == want,
            "cat {}: {} bytes, want {}",
            show(&spec),
            got.len(),
            want.len()
        );
    }

    /// Kills a running command at a random moment; the repository must then verify, and
    /// running the command again must finish the job exactly as one uninterrupted run.
    fn kill(&mut self, cmd: KillCmd, target: usize, delay_us: u64, point: Option<usize>) {
        let layer = self.live(target);
        let id = layer.map(|l| self.m.layers[l].id.clone());
        // A kill is only interesting in a command that would succeed.
        let mut m = self.m.clone();
        let refused = match (cmd, layer) {
            (KillCmd::Checkout, Some(l)) => m.checkout(l, Head::Detached(l), true),
            (KillCmd::ResetHard, Some(l)) => m.reset(l, true),
            _ => Expect::Ok,
        } == Expect::Fail;
        let deletes = matches!(cmd, KillCmd::Checkout | KillCmd::ResetHard);
        let to_dir = layer.is_some_and(|l| self.m.file_becomes_dir(l));
        if refused || (deletes && (self.file_now_dir() || (to_dir && !self.known.file_now_dir))) {
            return;
        }
        let args: Vec<String> = match (cmd, &id) {
            (KillCmd::Add, _) => vec!["-q".into(), "add".into(), "-A".into()],
            (KillCmd::Commit, _) if self.m.commit_expect() == Expect::Ok => self.commit_args().0,
            (KillCmd::Checkout, Some(id)) => {
                vec!["-q".into(), "checkout".into(), "-f".into(), id.clone()]
            }
            (KillCmd::ResetHard, Some(id)) => {
                vec!["-q".into(), "reset".into(), "--hard".into(), id.clone()]
            }
            (KillCmd::Gc, _) => vec!["-q".into(), "gc".into()],
            _ => return,
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before_line = self.line_tip();
        let out = match point {
            Some(i) => {
                let points = fail_points(cmd);
                let point = ("CAIRN_FAILPOINT", points[i % points.len()]);
                harness::run(&self.env.root, &args, &[point])
            }
            None => {
                let mut child = harness::spawn(&self.env.root, &args, &[]);
                std::thread::sleep(Duration::from_micros(delay_us));
                let _ = child.kill();
                harness::wait(child, &args.join(" "))
            }
        };
        let killed = harness::killed_by(&out.status).is_some();
        if killed {
            self.kills += 1;
            harness::assert_verifies(&self.env.root, true, &format!("after killing {args:?}"));
        } else {
            assert!(
                out.status.success(),
                "`cairn {args:?}`: {}",
                harness::stderr(&out)
            );
        }
        match (cmd, layer) {
            (KillCmd::Add, _) => {
                if killed {
                    self.cmd(&["-q", "add", "-A"], &[], Expect::Ok);
                }
                self.m.add(b"", true);
            }
            (KillCmd::Commit, _) => self.finish_commit(&out, killed, before_line),
            (KillCmd::Checkout, Some(l)) => {
                if killed {
                    self.finish_checkout(&args);
                }
                assert_eq!(self.m.checkout(l, Head::Detached(l), true), Expect::Ok);
            }
            (KillCmd::ResetHard, Some(l)) => {
                if killed {
                    self.cmd(&args, &[], Expect::Ok);
                }
                assert_eq!(self.m.reset(l, true), Expect::Ok);
            }
            _ => {
                if killed {
                    self.cmd(&args, &[], Expect::Ok);
                }
            }
        }
    }

    /// The layer HEAD's line points at now, read from the repository.
    fn line_tip(&self) -> Option<String> {
        let repo = cairn::Repository::open(&self.env.root).expect("open");
        repo.head().expect("HEAD").1.map(|id| id.to_hex())
    }

    /// A killed commit either published its layer (HEAD moved) or did nothing visible; in
    /// the second case, commit again.
    fn finish_commit(&mut self, out: &std::process::Output, killed: bool, before: Option<String>) {
        let (args, line) = self.commit_args();
        let id = if !killed {
            let v: Value = serde_json::from_slice(&out.stdout).expect("commit --json");
            v["layer"].as_str().expect("a layer").to_string()
        } else {
            match self.line_tip_after_kill(&line, before) {
                Some(id) => id,
                None => {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let out = self.cmd(&args, &[], Expect::Ok);
                    let v: Value = serde_json::from_slice(&out).expect("commit --json");
                    v["layer"].as_str().expect("a layer").to_string()
                }
            }
        };
        self.m.committed(id, line);
    }

    /// The new layer a killed commit published on `line`, if it got that far. With `-b`,
    /// a layer can be on the new line while HEAD still points elsewhere: finish that move.
    fn line_tip_after_kill(&self, line: &str, before: Option<String>) -> Option<String> {
        let repo = cairn::Repository::open(&self.env.root).expect("open");
        let tip = repo
            .refs()
            .get("lines", line)
            .expect("line")
            .map(|i| i.to_hex());
        if tip.is_none() || tip == before {
            return None;
        }
        if !matches!(self.m.head, Head::Line(_)) {
            self.cmd(&["-q", "checkout", line], &[], Expect::Ok);
        }
        tip
    }

    /// After a killed `checkout -f`: cairn's temporary files are known litter (item 10)
    /// unless `checkout-kill` is on, and the same checkout run again finishes the job
    /// (with `checkout-kill`, a plain checkout must).
    fn finish_checkout(&mut self, args: &[&str]) {
        if self.known.checkout_kill {
            let plain: Vec<&str> = args.iter().copied().filter(|a| *a != "-f").collect();
            self.cmd(&plain, &[], Expect::Ok);
            return;
        }
        let (_, temps) = observe::worktree(&self.env.root);
        for t in temps {
            std::fs::remove_file(self.env.path(&t)).expect("remove a temporary file");
        }
        self.cmd(args, &[], Expect::Ok);
    }

    /// cairn and the model agree on the worktree, the index, the refs and the layers, and
    /// `verify --data` finds nothing.
    fn check(&self, op: &Op) {
        let what = format!("step {} ({op:?})", self.step);
        let (work, temps) = observe::worktree(&self.env.root);
        // Only a killed checkout leaves these, and `finish_checkout` decides about them.
        assert!(
            temps.is_empty(),
            "{what}: cairn's temporary files left: {temps:?}"
        );
        assert_tree(&self.m.work, &work, &format!("{what}: worktree"));
        let repo = cairn::Repository::open(&self.env.root).expect("open the repository");
        assert_tree(
            &self.m.index,
            &observe::index(&repo),
            &format!("{what}: index"),
        );
        let (head, lines, tags) = observe::refs(&repo, &self.m);
        assert_eq!(head, self.m.head, "{what}: HEAD");
        let want_lines: Vec<(String, usize)> = self.m.lines.clone().into_iter().collect();
        assert_eq!(lines, want_lines, "{what}: lines");
        let want_tags: Vec<(String, usize)> = self.m.tags.clone().into_iter().collect();
        assert_eq!(tags, want_tags, "{what}: tags");
        let layers = match op {
            Op::Gc | Op::Kill { .. } => self.m.reachable(),
            _ => self.m.head_layer().into_iter().collect(),
        };
        for l in layers {
            let got = observe::layer(&repo, &self.m.layers[l].id);
            assert_tree(&self.m.layers[l].tree, &got, &format!("{what}: layer {l}"));
        }
        self.check_status(&what);
        harness::assert_verifies(&self.env.root, true, &what);
        let outside = support::snapshot(&self.env.outside("outside"), &[]);
        assert_eq!(
            outside.len(),
            1,
            "{what}: something wrote outside: {outside:?}"
        );
        let a = std::fs::read(self.env.outside("outside/a")).expect("read outside");
        assert_eq!(a, OUTSIDE, "{what}: the file outside changed");
    }

    /// `status` counts what the model says is staged and unstaged.
    fn check_status(&self, what: &str) {
        let v = self.env.json(&["status"]);
        let count = |k: &str| v[k].as_array().map_or(usize::MAX, Vec::len);
        assert_eq!(
            count("staged"),
            self.m.staged().len(),
            "{what}: staged: {v}"
        );
        assert_eq!(
            count("unstaged"),
            self.m.unstaged().len(),
            "{what}: unstaged: {v}"
        );
    }
}

fn show(p: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(p))
}

fn brief(e: &Entry) -> String {
    match e {
        Entry::File { mode, bytes } => format!("file {mode:o}, {} bytes", bytes.len()),
        Entry::Link(t) => format!("symlink -> {}", show(t)),
    }
}

/// Asserts two trees are equal, listing every difference.
fn assert_tree(want: &Tree, got: &Tree, what: &str) {
    let mut problems = Vec::new();
    for (p, w) in want {
        match got.get(p) {
            None => problems.push(format!("missing {} ({})", show(p), brief(w))),
            Some(g) if g != w => {
                problems.push(format!("{}: want {}, got {}", show(p), brief(w), brief(g)))
            }
            Some(_) => {}
        }
    }
    for (p, g) in got {
        if !want.contains_key(p) {
            problems.push(format!("extra {} ({})", show(p), brief(g)));
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Runs one sequence from a fresh repository.
fn run(ops: &[Op], known: &Known) -> Runner {
    let mut r = Runner::new(known.clone());
    for op in ops {
        r.apply(op);
    }
    eprintln!(
        "model: {} steps, {} layers, {} commands killed, {} restores",
        r.step,
        r.m.layers.len(),
        r.kills,
        r.restores
    );
    r
}

fn cases() -> u32 {
    std::env::var("CAIRN_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// A known defect's shrunk sequence: it runs when `CAIRN_MODEL_KNOWN` names the defect,
/// and fails until the defect is fixed (then it stays as a regression test).
fn known_case(name: &str, ops: &[Op]) {
    let known = Known::from_env();
    if !known.names(name) {
        eprintln!("known defect {name}: not run (CAIRN_MODEL_KNOWN={name} runs it)");
        return;
    }
    run(ops, &known);
}

/// Writes `bytes` at `path_of(path)`.
fn small(path: usize, bytes: &[u8]) -> Op {
    Op::Write {
        path: path * 3 + 1,
        content: Content::Small(bytes.to_vec()),
        mode: 0,
    }
}

/// Item 4: `d/a` committed, then `d` replaced by a symlink to itself (`d -> d/sub dir`):
/// status and add fail with "could not stat file: Too many levels of symbolic links" on
/// `d/a` instead of seeing it deleted.
#[test]
fn known_dir_symlink_case() {
    let ops = [
        small(1, b"inside\n"), // d/a
        Op::Snapshot,
        Op::DirLink { dir: 0, target: 3 }, // d -> "d/sub dir"
        Op::Add { path: None },
        Op::Reset {
            target: 0,
            hard: true,
        },
    ];
    known_case("dir-symlink", &ops);
}

/// Item 10: `checkout -f` of the first layer aborted after writing its first file; a plain
/// `checkout` of the same layer then reports success and leaves a mix of both layers.
#[test]
fn known_checkout_kill_case() {
    let ops = [
        small(0, b"first\n"), // a
        Op::Snapshot,
        small(0, b"second\n"),
        small(7, b"new\n"),  // "b c"
        small(8, b"more\n"), // "d/b c"
        Op::Snapshot,
        Op::Kill {
            cmd: KillCmd::Checkout,
            target: 0,
            delay_us: 0,
            point: Some(0), // checkout:after-write@1
        },
    ];
    known_case("checkout-kill", &ops);
}

/// `rm x` (with or without `-f`) of a tracked file that has been replaced by a directory
/// of files: cairn saves the index without `x`, then fails to delete the directory with
/// "could not delete file: Is a directory (os error 21)" and exits 2, so an error leaves
/// the repository changed. The model expects `x` untracked and the directory left alone,
/// as when the file is simply gone (failing without touching the index would do too).
#[test]
fn found_rm_of_file_replaced_by_directory() {
    let ops = [
        Op::Write {
            path: 0, // x
            content: Content::Small(Vec::new()),
            mode: 0,
        },
        Op::Snapshot,
        Op::Write {
            path: 3, // x/a, replacing the file x
            content: Content::Small(b"data\n".to_vec()),
            mode: 0,
        },
        Op::Rm {
            path: 0,
            cached: false,
            force: false,
        },
    ];
    known_case("file-now-dir", &ops);
}

/// `reset --hard` to a layer without `x`, where the tracked file `x` has been replaced by
/// a directory holding an untracked file: cairn fails with "could not delete file: Is a
/// directory (os error 21)" (exit 2) where the model expects `x` untracked and the
/// directory with its untracked file left alone. `checkout -f` fails the same way.
#[test]
fn found_reset_hard_over_file_now_dir() {
    let ops = [
        small(0, b"a\n"), // a
        Op::Snapshot,
        small(63, b"file\n"), // x
        Op::Snapshot,
        small(6, b"untracked\n"), // x/a, replacing the file x
        Op::Reset {
            target: 0, // the first layer
            hard: true,
        },
    ];
    known_case("file-now-dir", &ops);
}

/// A `checkout -f` that replaces the tracked symlink `x` by a directory `x/` is killed
/// after writing `x/a`; running the same `checkout -f` again then fails with "could not
/// delete file: Is a directory (os error 21)" on `x` (exit 2), so a killed checkout cannot
/// be finished (`CAIRN_FAILPOINT=checkout:after-write@1` makes it reproducible).
#[test]
fn found_killed_checkout_of_file_to_dir() {
    let ops = [
        Op::Link {
            path: 3, // x/a -> a
            target: 0,
        },
        Op::Snapshot,
        Op::Link {
            path: 0, // x -> a, replacing the directory
            target: 0,
        },
        Op::Add { path: None },
        Op::Kill {
            cmd: KillCmd::Checkout,
            target: 0, // the layer with x/a
            delay_us: 0,
            point: Some(0), // checkout:after-write@1
        },
    ];
    known_case("file-now-dir", &ops);
}

/// `checkout -f main`, where main has a file `x` and the worktree a directory `x/` holding
/// the tracked `x/a` and an untracked `x/b c`: cairn deletes `x/a`, then fails with "could
/// not replace directory (it is not empty)" and exits 2, leaving HEAD and the index on the
/// old layer and the worktree between the two. The model expects it to refuse before
/// touching anything (the untracked file is not cairn's to delete, `-f` or not).
#[test]
fn found_checkout_force_file_over_directory() {
    let ops = [
        small(6, b"tracked\n"), // x/a
        Op::Snapshot,
        small(63, b"file\n"), // x, replacing the directory
        Op::Snapshot,
        Op::Checkout {
            target: 1, // the first layer, by id
            force: false,
        },
        small(13, b"untracked\n"), // "x/b c"
        Op::Checkout {
            target: 0, // main
            force: true,
        },
    ];
    known_case("checkout-dir", &ops);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for e in std::fs::read_dir(from).expect("list a seed") {
        let e = e.expect("a seed entry");
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy a seed file");
        }
    }
}

/// The repositories the `repo` fuzz target starts from (fixtures/repo-seeds, made by
/// fixtures/make-repo-seed.sh) verify, and every line and tag in them restores: a format
/// change that left them stale would leave the fuzzer mutating garbage.
#[test]
fn fuzz_seeds_verify_and_restore() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo-seeds");
    let mut restored = 0;
    for seed in std::fs::read_dir(seeds).expect("fixtures/repo-seeds") {
        let seed = seed.expect("a seed").path();
        let env = support::Env::new();
        let dot = env.root.join(".cairn");
        std::fs::remove_dir_all(&dot).expect("remove the fresh repository");
        copy_dir(&seed, &dot);
        std::fs::create_dir(dot.join("tmp")).expect("tmp");
        std::fs::write(dot.join("lock"), b"").expect("lock");
        harness::assert_verifies(&env.root, true, &seed.display().to_string());
        let repo = cairn::Repository::open(&env.root).expect("open a seed");
        for kind in ["lines", "tags"] {
            for name in repo.refs().list(kind).expect("refs") {
                let to = env.outside(&format!("{kind}-{name}"));
                env.ok(&[
                    OsStr::new("restore"),
                    OsStr::new(&name),
                    OsStr::new("--to"),
                    to.as_os_str(),
                ]);
                restored += 1;
            }
        }
    }
    assert!(
        restored >= 3,
        "the seeds hold at least three lines and tags"
    );
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        // tests/model.proptest-regressions, replayed before new cases.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // Each step runs cairn a few times: keep shrinking bounded too.
        max_shrink_iters: 300,
        ..Config::default()
    })]

    #[test]
    fn cairn_agrees_with_the_model(ops in prop::collection::vec(op(&Known::from_env()), 1..60)) {
        run(&ops, &Known::from_env());
    }
}
