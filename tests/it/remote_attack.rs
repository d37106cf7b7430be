//! Remotes under attack (issue 12): references deleted on the remote, pushes and clones
//! killed half way, intents dated in the future, a commit racing a pull, names that could
//! mean two things, and trees nested thousands deep. Every remote here is a `file://`
//! directory, so the tests can reach into it as an attacker would.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use cairn::hash::{Domain, ObjectId};
use cairn::object::{ChunkRef, EntryKind, FileObject, Layer, LayerCounts, Tree, TreeEntry};
use cairn::pack::{Encoded, ObjectKind, PackClass, PackWriter};
use cairn::refs::RefKind;
use cairn::Repository;

use crate::support::{assert_failure, assert_success, set_modified, TestRepo};

/// A repository with a `file://` remote `origin` in a directory of its own.
struct Pair {
    a: TestRepo,
    store: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        let a = TestRepo::new();
        let store = tempfile::Builder::new()
            .prefix("cairn-remote-")
            .tempdir()
            .unwrap();
        let url = format!("file://{}", store.path().display());
        a.ok(&["remote", "add", "origin", &url]);
        Pair { a, store }
    }

    fn url(&self) -> String {
        format!("file://{}", self.store.path().display())
    }

    /// Where the remote keeps `key`.
    fn key(&self, key: &str) -> PathBuf {
        self.store.path().join(key)
    }

    /// The keys under `dir` on the remote.
    fn keys(&self, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![self.key(dir)];
        while let Some(d) = todo.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                if e.path().is_dir() {
                    todo.push(e.path());
                } else {
                    let rel = e.path().strip_prefix(self.store.path()).unwrap().to_owned();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// A commit of one new file on A's current line.
    fn commit(&self, name: &str) -> String {
        self.a.write(name, format!("{name}\n"));
        self.a.ok(&["add", "-A", "-q"]);
        self.a.commit(name)
    }

    /// `verify --remote origin` from A: the exit code and stdout.
    fn verify(&self) -> (i32, String) {
        let out = self.a.run(&["verify", "--remote", "origin"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    }
}

/// Runs cairn in `dir` with a fail point armed; returns its output.
fn with_failpoint(t: &TestRepo, dir: &Path, point: &str, args: &[&str]) -> Output {
    t.cmd_in(dir)
        .env("CAIRN_FAILPOINT", point)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_reference_deleted_on_the_remote_is_damage() {
    let p = Pair::new();
    let one = p.commit("one");
    p.a.ok(&["tag", "v1"]);
    let two = p.commit("two");
    p.a.ok(&["push"]);
    p.a.ok(&["push", "origin", "v1"]);
    assert_eq!(p.verify().0, 0);

    fs::remove_file(p.key("refs/lines/main")).unwrap();
    fs::remove_file(p.key("refs/tags/v1")).unwrap();
    let (code, text) = p.verify();
    assert_eq!(code, 1, "{text}");
    for (r, layer) in [("lines/main", &two), ("tags/v1", &one)] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("{r} accepted this layer")))
            .unwrap_or_else(|| panic!("{r}: {text}"));
        assert!(
            line.contains(layer.as_str()) && line.contains("gone"),
            "{line}"
        );
    }
}

#[test]
fn a_push_killed_after_its_log_entry_leaves_no_false_damage_and_no_block() {
    let p = Pair::new();
    p.commit("base");
    p.a.ok(&["push"]);
    let two = p.commit("two");
    let out = with_failpoint(&p.a, p.a.root(), "push:after-log", &["push"]);
    assert!(!out.status.success(), "the push was meant to die: {out:?}");
    assert_eq!(
        p.keys("refs-log/lines/main").len(),
        2,
        "logged, then killed"
    );
    assert_eq!(p.keys("locks").len(), 1, "its intent is left");

    // The push was never accepted: no damage, and nothing lost either.
    let (code, text) = p.verify();
    assert_eq!(code, 0, "{text}");
    // The next push recovers the dead push's intent at once, not after the lease.
    let start = Instant::now();
    p.a.ok(&["push"]);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let tip = fs::read_to_string(p.key("refs/lines/main")).unwrap();
    assert_eq!(tip.trim(), two);
    assert!(p.keys("locks").is_empty(), "{:?}", p.keys("locks"));
    assert_eq!(
        p.keys("refs-log/lines/main").len(),
        2,
        "base and two; the dead push's entry is gone"
    );
    assert_eq!(p.verify().0, 0);
}

#[test]
fn intents_from_the_future_or_the_past_do_not_block_but_live_ones_do() {
    let p = Pair::new();
    p.commit("base");
    p.a.ok(&["push"]);
    p.commit("two");
    let dir = p.key("locks/lines/main");
    fs::create_dir_all(&dir).unwrap();
    let forged = dir.join("00000000000000000001-forged");
    fs::write(&forged, "push of nothing by 1 on elsewhere\n").unwrap();

    // A live push on another machine keeps this one out.
    let err = p.a.fails(&["push"], 2);
    assert!(
        err.contains("another push of this reference is in progress"),
        "{err}"
    );
    // One dated a year ahead (a wrong clock, or forged) does not, and is removed.
    let year = Duration::from_secs(365 * 24 * 3600);
    set_modified(&forged, SystemTime::now() + year);
    p.a.ok(&["push"]);
    assert!(!forged.exists());

    // One from ten minutes ago belongs to a push that died: removed too.
    p.commit("three");
    fs::write(&forged, "push of nothing by 1 on elsewhere\n").unwrap();
    set_modified(&forged, SystemTime::now() - Duration::from_secs(600));
    p.a.ok(&["push"]);
    assert!(!forged.exists());
}

#[test]
fn a_killed_clone_is_continued_by_cloning_again() {
    let p = Pair::new();
    p.a.write("data/x.txt", "x\n");
    p.a.ok(&["add", "-A", "-q"]);
    p.a.commit("x");
    p.a.ok(&["push"]);
    let t = TestRepo::empty();
    let url = p.url();

    // Killed once the repository exists, before the remote is recorded in it.
    let out = with_failpoint(&t, t.root(), "clone:after-init", &["clone", &url, "c1"]);
    assert!(!out.status.success(), "the clone was meant to die: {out:?}");
    assert!(t.root().join("c1/.cairn/config.toml").is_file());
    t.ok(&["clone", &url, "c1"]);
    assert_eq!(fs::read(t.root().join("c1/data/x.txt")).unwrap(), b"x\n");

    // Killed inside init: a `.cairn` without `config.toml` is all there is.
    let out = with_failpoint(&t, t.root(), "init:before-config", &["clone", &url, "c4"]);
    assert!(!out.status.success(), "the clone was meant to die: {out:?}");
    assert!(t.root().join("c4/.cairn").is_dir());
    assert!(!t.root().join("c4/.cairn/config.toml").exists());
    t.ok(&["clone", &url, "c4"]);
    assert_eq!(fs::read(t.root().join("c4/data/x.txt")).unwrap(), b"x\n");

    // An earlier cairn's init, killed before its rename, left `.cairn-init-<pid>`.
    let mut gone = Process::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let debris = t.root().join(format!("c2/.cairn-init-{}", gone.id()));
    fs::create_dir_all(debris.join("refs")).unwrap();
    t.ok(&["clone", &url, "c2"]);
    assert_eq!(fs::read(t.root().join("c2/data/x.txt")).unwrap(), b"x\n");
    assert!(!debris.exists());

    // A directory with the user's own files, or another repository, is never taken over.
    fs::create_dir(t.root().join("c3")).unwrap();
    fs::write(t.root().join("c3/mine"), "mine\n").unwrap();
    t.fails(&["clone", &url, "c3"], 2);
    let other = TestRepo::new();
    other.write("keep", "keep\n");
    other.ok(&["add", "-A", "-q"]);
    other.commit("keep");
    t.fails(&["clone", &url, other.root().to_str().unwrap()], 2);
    assert_eq!(other.read("keep"), b"keep\n");
}

#[test]
fn pull_holds_the_lock_so_a_concurrent_commit_is_kept() {
    let p = Pair::new();
    let base = p.commit("base");
    p.a.ok(&["push"]);
    let t = TestRepo::empty();
    t.ok(&["clone", &p.url(), "b"]);
    let b = t.root().join("b");
    let two = p.commit("two");
    p.a.ok(&["push"]);

    // The pull stops for a while between reading the line and moving it.
    let pull = Process::new(env!("CARGO_BIN_EXE_cairn"))
        .current_dir(&b)
        .env("CAIRN_FAILPOINT", "pull:before-checkout=sleep2500")
        .args(["pull", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = b.join(".cairn/lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while fs::read_to_string(&lock).unwrap_or_default().trim() != pull.id().to_string() {
        assert!(Instant::now() < deadline, "the pull never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // A commit meanwhile: it waits for the pull, then lands on top of what it brought.
    fs::write(b.join("mine.txt"), "mine\n").unwrap();
    let add = ["--lock-timeout", "60", "add", "-A", "-q"];
    assert_success(&t.run_in(&b, &add), &add);
    let commit = ["--lock-timeout", "60", "commit", "-m", "mine"];
    let out = t.run_in(&b, &commit);
    assert_success(&out, &commit);
    let mine = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let pulled = pull.wait_with_output().unwrap();
    assert!(pulled.status.success(), "{pulled:?}");

    let log = t.run_in(&b, &["log", "--oneline"]);
    let log = String::from_utf8(log.stdout).unwrap();
    let ids: Vec<&str> = log.lines().filter_map(|l| l.split(' ').next()).collect();
    let short = |id: &str| id[..ids[0].len()].to_string();
    assert_eq!(ids, [short(&mine), short(&two), short(&base)], "{log}");
    assert!(b.join("mine.txt").exists() && b.join("two").exists());
}

#[test]
fn a_tag_and_a_line_never_share_a_name() {
    let p = Pair::new();
    let one = p.commit("one");
    let err = p.a.fails(&["tag", "main"], 2);
    assert!(err.contains("a line is named main"), "{err}");
    p.a.ok(&["tag", "v1"]);
    p.a.ok(&["checkout", "v1"]);
    let err = p.a.fails(&["commit", "-b", "v1", "-m", "x"], 2);
    assert!(err.contains("a tag is named v1"), "{err}");
    let full_id = one.clone();
    for name in ["HEAD", full_id.as_str()] {
        let err = p.a.fails(&["tag", name], 2);
        assert!(err.contains(name), "{err}");
    }
    // A year is a fine tag name; it means the tag unless a layer id also starts with it.
    p.a.ok(&["tag", "2024"]);
    assert_eq!(p.a.json(&["show", "2024"])["id"], one.as_str());
    // Full names always work, and say which one is meant.
    p.a.ok(&["checkout", "main"]);
    let shown = p.a.json(&["show", "tags/v1"]);
    assert_eq!(shown["id"], one.as_str());
    let shown = p.a.json(&["show", "lines/main"]);
    assert_eq!(shown["id"], one.as_str());
    p.a.fails(&["show", "tags/main"], 2);

    // On the remote too: another machine's tag `exp` keeps this line `exp` out.
    p.a.ok(&["tag", "exp"]);
    p.a.ok(&["push", "origin", "exp"]);
    p.a.ok(&["tag", "-d", "exp"]);
    p.a.ok(&["checkout", "v1"]);
    p.a.write("e", "e\n");
    p.a.ok(&["add", "-A", "-q"]);
    p.a.ok(&["commit", "-b", "exp", "-m", "e"]);
    let err = p.a.fails(&["push", "origin", "exp"], 2);
    assert!(err.contains("the remote has a tag named exp"), "{err}");
    assert!(!p.key("refs/lines/exp").exists());
    // Nor does pull bring the remote's tag `exp` beside this line `exp`.
    p.a.ok(&["push", "origin", "main"]);
    let v = p.a.json(&["pull", "origin", "main"]);
    assert_eq!(v["tags_differing"], serde_json::json!(["exp"]), "{v}");
    assert!(!p.a.root().join(".cairn/refs/tags/exp").exists());
}

/// Writes objects straight into packs, as a hostile repository would hold them.
struct Craft {
    repo: Repository,
    data: PackWriter,
    meta: PackWriter,
}

impl Craft {
    fn open(t: &TestRepo) -> Craft {
        let repo = Repository::open(t.root()).unwrap();
        let (algo, packs, tmp) = (repo.algo(), repo.packs_dir(), repo.tmp_dir());
        Craft {
            data: PackWriter::new(algo, PackClass::Data, &packs, &tmp),
            meta: PackWriter::new(algo, PackClass::Meta, &packs, &tmp),
            repo,
        }
    }

    /// A file `f` of five bytes.
    fn file(&mut self) -> TreeEntry {
        let algo = self.repo.algo();
        let chunk = algo.hash(Domain::Chunk, b"deep\n");
        let raw = Encoded::raw(b"deep\n");
        self.data.add(chunk, ObjectKind::Chunk, &raw).unwrap();
        let file = FileObject {
            chunks: vec![ChunkRef { id: chunk, len: 5 }],
        };
        let id = file.id(algo);
        let enc = Encoded::raw(&file.encode());
        self.meta.add(id, ObjectKind::File, &enc).unwrap();
        entry(b"f", EntryKind::File, id)
    }

    fn tree(&mut self, mut entries: Vec<TreeEntry>) -> ObjectId {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let tree = Tree { entries };
        let id = tree.id(self.repo.algo());
        let enc = Encoded::raw(&tree.encode());
        self.meta.add(id, ObjectKind::Tree, &enc).unwrap();
        id
    }

    /// `depth` trees nested as `d/d/.../d`, the innermost holding `inner`; the outermost.
    fn chain(&mut self, inner: TreeEntry, depth: usize) -> ObjectId {
        let mut below = inner;
        let mut root = ObjectId::default();
        for _ in 0..depth {
            root = self.tree(vec![below]);
            below = entry(b"d", EntryKind::Dir, root);
        }
        root
    }

    /// A layer of `tree` as the line `line`.
    fn finish(mut self, tree: ObjectId, line: &str) -> ObjectId {
        let layer = Layer {
            parent: None,
            tree,
            time_ns: 1_700_000_000_000_000_000,
            counts: LayerCounts::default(),
            author: "mallory".into(),
            message: "deep".into(),
        };
        let id = layer.id(self.repo.algo());
        let enc = Encoded::raw(&layer.encode());
        self.meta.add(id, ObjectKind::Layer, &enc).unwrap();
        self.data.finish().unwrap();
        self.meta.finish().unwrap();
        self.repo
            .lock(std::time::Duration::from_secs(5))
            .expect("lock")
            .refs()
            .set(RefKind::Line, line, &id)
            .unwrap();
        id
    }
}

fn entry(name: &[u8], kind: EntryKind, id: ObjectId) -> TreeEntry {
    TreeEntry {
        name: name.to_vec(),
        kind,
        mode: if kind == EntryKind::Dir { 0 } else { 0o644 },
        size: 5,
        mtime_ns: 1_700_000_000_000_000_000,
        id,
    }
}

/// A chain of `depth` nested trees (`d/d/.../f`) as the line `deep`: its layer and root.
fn deep_layer(t: &TestRepo, depth: usize) -> (ObjectId, ObjectId) {
    let mut c = Craft::open(t);
    let f = c.file();
    let root = c.chain(f, depth);
    (c.finish(root, "deep"), root)
}

#[test]
fn trees_nested_thousands_deep_are_walked_without_recursion() {
    let p = Pair::new();
    let (layer, root) = deep_layer(&p.a, 20_000);
    // Push walks everything it publishes: all of it goes up.
    let out = p.a.json(&["push", "origin", "deep"]);
    assert_eq!(out["new"], layer.to_hex().as_str());
    // verify --remote walks it to the bottom and reports the nesting as damage.
    let (code, text) = p.verify();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("nested deeper than 1024"), "{text}");
    assert!(text.contains(&root.to_hex()[..12]), "{text}");
    // A partial fetch refuses it before fetching anything.
    let repo = Repository::open(p.a.root()).unwrap();
    let err = cairn::remote::partial::needed_chunks(&repo, &root, &[]).unwrap_err();
    assert!(err.to_string().contains("nested deeper than 1024"), "{err}");
    let t = TestRepo::empty();
    let out = t.run(&["clone", &p.url(), "c", "--layer", "deep", "--", "d"]);
    assert_failure(&out, &["clone"], 2);
}

/// One subtree, 1,000 levels deep, reached at the root (`a`, within the bound) and again
/// below 30 more levels (`z/d/...`, beyond it): walked once, and still found too deep.
#[test]
fn a_shared_subtree_too_deep_on_one_path_only_is_found() {
    let p = Pair::new();
    let mut c = Craft::open(&p.a);
    let f = c.file();
    let shared = c.chain(f, 1000);
    let z = c.chain(entry(b"d", EntryKind::Dir, shared), 30);
    let root = c.tree(vec![
        entry(b"a", EntryKind::Dir, shared),
        entry(b"z", EntryKind::Dir, z),
    ]);
    c.finish(root, "deep");
    p.a.json(&["push", "origin", "deep"]);
    let (code, text) = p.verify();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("nested deeper than 1024"), "{text}");
    assert!(text.contains(&root.to_hex()), "{text}");
    let out = p.a.run(&["--json", "verify", "--remote", "origin"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trees"], 1 + 1000 + 30, "each tree once: {v}");
}
