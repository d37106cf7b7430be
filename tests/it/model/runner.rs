//! Runs steps with the built binary against the model, and checks after each that the two
//! agree (`Runner::check`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use serde_json::Value;

use cairn::refs::RefKind;

use super::observe;
use super::steps::*;
use super::world::{self, under, Entry, Expect, Head, Model, Tree};
use crate::support;

/// The repository, the model, and what has happened so far (for failure messages).
pub(super) struct Runner {
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
    /// What the model expects of a command; the model takes the command's effect only when
    /// it expects success.
    fn model(&mut self, f: impl FnOnce(&mut Model) -> Expect) -> Expect {
        let mut m = self.m.clone();
        let want = f(&mut m);
        if want == Expect::Ok {
            self.m = m;
        }
        want
    }

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
            Expect::Ok => support::assert_success(&out, args),
            Expect::Fail => {
                support::assert_error(&out, args);
            }
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
            Op::Restore { layer, path } => self.restore(*layer, *path),
            Op::Cat { layer, path, range } => self.cat(*layer, *path, *range),
            Op::Diff { a, b } => self.diff(*a, *b),
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
        if std::fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&p).expect("remove a file or link");
            self.m.work.remove(dir);
        }
        // `put` clears files and links standing where a parent directory must be, and a
        // directory standing at `dir`.
        self.put(dir, Entry::Link(t.to_vec()));
    }

    fn add(&mut self, path: Option<usize>) {
        let Some(i) = path else {
            let want = self.m.add(b"", true);
            self.cmd(&["-q", "add", "-A"], &[], want);
            return;
        };
        let p = pool_path(i);
        let exists = std::fs::symlink_metadata(self.env.path(&p)).is_ok();
        let want = self.model(|m| m.add(&p, exists));
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
        let want = self.model(|m| m.rm(&p, cached, force));
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
        if want == Expect::Fail {
            // Nothing to commit is told apart from failures: exit 3 (docs/JSON.md).
            let out = self.env.run(&args);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
            return;
        }
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
        let want = self.model(|m| m.checkout(layer, head, force));
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
        let want = self.model(|m| m.checkout_paths(layer, &p, force));
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
        let want = self.model(|m| m.reset(layer, hard));
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
    /// A path in the layer names a file or directory, kept at its place below DIR; a path
    /// the layer lacks is an error. (Paths that are not UTF-8 are item 14's: `non-utf8`.)
    fn restore(&mut self, layer: usize, path: Option<usize>) {
        if self.m.layers.is_empty() {
            return;
        }
        let l = layer % self.m.layers.len();
        let live = self.m.reachable().contains(&l);
        let scope = path.map(pool_path).unwrap_or_default();
        if !self.known.non_utf8 && std::str::from_utf8(&scope).is_err() {
            return;
        }
        let want: Tree = self.m.layers[l]
            .tree
            .iter()
            .filter(|(p, _)| under(p, &scope))
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect();
        self.restores += 1;
        let dest = self.env.outside(&format!("restore-{}", self.restores));
        let mut args: Vec<OsString> = vec![
            "-q".into(),
            "restore".into(),
            self.m.layers[l].id.clone().into(),
            "--to".into(),
            dest.clone().into(),
        ];
        if !scope.is_empty() {
            args.extend(["--".into(), arg(&scope)]);
        }
        let out = self.env.run(&args);
        if (!live || want.is_empty() && !scope.is_empty()) && !out.status.success() {
            support::assert_error(&out, &args);
            let _ = std::fs::remove_dir_all(&dest);
            return;
        }
        support::assert_success(&out, &args);
        assert!(
            !want.is_empty() || scope.is_empty() || !live,
            "restore of {} from layer {l}, which lacks it, succeeded",
            show(&scope)
        );
        let (got, temps) = observe::worktree(&dest);
        assert!(temps.is_empty(), "restore left {temps:?}");
        assert_tree(&want, &got, &format!("restore of layer {l}"));
        let _ = std::fs::remove_dir_all(&dest);
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

    /// `diff A B` lists exactly the paths whose kind, mode or content differ (as lossy
    /// UTF-8 in JSON).
    fn diff(&self, a: usize, b: usize) {
        let (Some(a), Some(b)) = (self.live(a), self.live(b)) else {
            return;
        };
        let (ta, tb) = (&self.m.layers[a].tree, &self.m.layers[b].tree);
        let mut want: Vec<String> = world::changed(ta, tb)
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        let (ia, ib) = (&self.m.layers[a].id, &self.m.layers[b].id);
        let v = self.env.json(&["diff", ia, ib]);
        // A rename changes two paths: the one it left and the one it reached.
        let mut got: Vec<String> = v["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("diff --json has changes: {v}"))
            .iter()
            .flat_map(|c| {
                let left = (c["change"] == "renamed").then(|| c["old_path"].as_str());
                let left = left.flatten().map(str::to_string);
                std::iter::once(c["path"].as_str().expect("a path").to_string()).chain(left)
            })
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "diff of layers {a} and {b}: {v}");
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
                support::run(&self.env.root, &args, &[point])
            }
            None => {
                let mut child = support::spawn(&self.env.root, &args, &[]);
                std::thread::sleep(Duration::from_micros(delay_us));
                let _ = child.kill();
                support::wait(child, &args.join(" "))
            }
        };
        let killed = support::killed_by(&out.status).is_some();
        if killed {
            self.kills += 1;
            support::assert_verifies(&self.env.root, true, &format!("after killing {args:?}"));
        } else {
            assert!(
                out.status.success(),
                "`cairn {args:?}`: {}",
                support::stderr(&out)
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
            .get(RefKind::Line, line)
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
        observe::assert_remembered_trees_hold(&repo, &what);
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
        support::assert_verifies(&self.env.root, true, &what);
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
        // The model knows no renames: a staged rename is its deletion and its addition.
        let renames = v["staged"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|c| c["change"] == "renamed").count());
        assert_eq!(
            count("staged") + renames,
            self.m.staged().len(),
            "{what}: staged: {v}"
        );
        assert_eq!(
            count("unstaged"),
            self.m.unstaged().len(),
            "{what}: unstaged: {v}"
        );
        assert_eq!(
            count("untracked"),
            self.m.untracked().len(),
            "{what}: untracked: {v}"
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
                problems.push(format!("{}: want {}, got {}", show(p), brief(w), brief(g)));
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
pub(super) fn run(ops: &[Op], known: &Known) -> Runner {
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
