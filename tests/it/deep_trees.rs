//! Directories nested deeper than cairn's bound (`object::tree::MAX_DEPTH`). A hostile
//! repository of 20,000 nested trees is a few hundred kilobytes; every command that walks
//! trees must refuse it with a clear error (or answer without walking it), never overflow
//! its stack, and take time linear in what it reads. A chain exactly at the bound must
//! work everywhere.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn::hash::{Domain, ObjectId};
use cairn::object::tree::MAX_DEPTH;
use cairn::object::{EntryKind, FileObject, Layer, LayerCounts, Tree, TreeEntry};
use cairn::pack::{Encoded, ObjectKind, PackClass, PackWriter};
use cairn::refs::RefKind;
use cairn::Repository;

use crate::support::{snapshot, Env};

const MTIME: i64 = 1_700_000_000_000_000_000;

fn entry(name: &str, kind: EntryKind, id: ObjectId, size: u64) -> TreeEntry {
    TreeEntry {
        name: name.as_bytes().to_vec(),
        kind,
        mode: if kind == EntryKind::Dir { 0 } else { 0o644 },
        size,
        mtime_ns: MTIME,
        id,
    }
}

/// Writes, straight into packs, a layer on top of HEAD whose root holds `a.txt` and a
/// chain `d/d/.../d/f` of `depth` directories; points the line `main` at it when
/// `on_main`, and tags it `deep`. Returns the layer id.
fn craft_chain(env: &Env, depth: usize, on_main: bool) -> ObjectId {
    let repo = Repository::open(&env.root).expect("open repository");
    let algo = repo.algo();
    let (packs, tmp) = (repo.packs_dir(), repo.tmp_dir());
    let mut data = PackWriter::new(algo, PackClass::Data, &packs, &tmp);
    let mut meta = PackWriter::new(algo, PackClass::Meta, &packs, &tmp);
    let put = |w: &mut PackWriter, kind, id, bytes: &[u8]| {
        w.add(id, kind, &Encoded::raw(bytes)).expect("pack add");
    };

    let content = b"deep down\n";
    let chunk = algo.hash(Domain::Chunk, content);
    put(&mut data, ObjectKind::Chunk, chunk, content);
    let file = FileObject {
        chunks: vec![cairn::object::ChunkRef {
            id: chunk,
            len: content.len() as u32,
        }],
    };
    let fid = file.id(algo);
    put(&mut meta, ObjectKind::File, fid, &file.encode());

    let mut tree = Tree {
        entries: vec![entry("f", EntryKind::File, fid, content.len() as u64)],
    };
    for _ in 0..depth {
        let id = tree.id(algo);
        put(&mut meta, ObjectKind::Tree, id, &tree.encode());
        tree = Tree {
            entries: vec![entry("d", EntryKind::Dir, id, content.len() as u64)],
        };
    }
    let chain = tree.entries.pop().expect("the chain's top");
    let a = repo
        .read_tree(
            &repo
                .head()
                .unwrap()
                .1
                .map(|l| repo.read_layer(&l).unwrap().tree)
                .unwrap(),
        )
        .unwrap()
        .get(b"a.txt")
        .expect("a.txt in the base layer")
        .clone();
    let root = Tree {
        entries: vec![a, chain],
    };
    let root_id = root.id(algo);
    put(&mut meta, ObjectKind::Tree, root_id, &root.encode());
    let layer = Layer {
        parent: repo.head().unwrap().1,
        tree: root_id,
        time_ns: MTIME,
        counts: LayerCounts::default(),
        author: "mallory".into(),
        message: format!("{depth} nested directories"),
    };
    let id = layer.id(algo);
    put(&mut meta, ObjectKind::Layer, id, &layer.encode());
    data.finish().expect("finish data pack");
    meta.finish().expect("finish metadata pack");
    let locked = repo.lock(std::time::Duration::from_secs(5)).expect("lock");
    locked.refs().set(RefKind::Tag, "deep", &id).expect("tag");
    if on_main {
        locked
            .refs()
            .set(RefKind::Line, "main", &id)
            .expect("move main");
    }
    id
}

/// Runs `cairn args` and asserts it ended by itself, quickly, with one of `codes`; returns
/// what it printed (stderr, then stdout).
fn ends_with(env: &Env, args: &[&str], codes: &[i32]) -> String {
    let start = Instant::now();
    let out = env.run(args);
    let took = start.elapsed();
    let stderr =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.signal(),
        None,
        "cairn {args:?} was killed by a signal: {stderr}"
    );
    let code = out.status.code().expect("an exit code");
    assert!(
        codes.contains(&code),
        "cairn {args:?} exited {code}, wanted one of {codes:?}: {stderr}"
    );
    assert!(
        took < Duration::from_secs(30),
        "cairn {args:?} took {took:?}"
    );
    stderr
}

#[test]
fn a_chain_of_20000_trees_is_refused_by_every_walk_and_breaks_nothing() {
    let env = Env::new();
    env.write("a.txt", "a\n");
    let base = env.commit("base");
    craft_chain(&env, 20_000, true);
    fs::create_dir(env.outside("out")).unwrap();
    let before = snapshot(&env.base, &[".cairn"]);

    // Walks that reach the chain: a clear error naming the bound (verify reports damage).
    let refuse: [&[&str]; 7] = [
        &["restore", "deep", "--to", "../out"],
        &["checkout", "deep"],
        &["checkout", "--force", "deep"],
        &["ls", "-r", "deep"],
        &["diff", &base, "deep"],
        &["show", "deep"],
        &["status"],
    ];
    for args in refuse {
        let err = ends_with(&env, args, &[2]);
        assert!(err.contains("nested deeper than"), "{args:?}: {err}");
    }
    for args in [&["verify"][..], &["verify", "--data"]] {
        let err = ends_with(&env, args, &[1]);
        assert!(err.contains("nested deeper than"), "{args:?}: {err}");
    }
    // gc may walk by ids alone, without paths: it either keeps everything or refuses.
    for args in [&["gc", "--dry-run"][..], &["gc"]] {
        let out = ends_with(&env, args, &[0, 2]);
        assert!(
            out.contains("0 B freed") || out.contains("nested deeper than"),
            "{args:?}: {out}"
        );
    }
    // What does not walk the chain still works.
    assert_eq!(env.ok(&["cat", "deep:a.txt"]), "a\n");
    env.ok(&["log"]);
    env.ok(&["ls", "deep"]);

    assert_eq!(
        snapshot(&env.base, &[".cairn"]),
        before,
        "nothing outside .cairn changed"
    );
    // The base layer survived gc.
    env.ok(&["restore", &base, "--to", "../out"]);
    assert_eq!(fs::read(env.outside("out/a.txt")).unwrap(), b"a\n");
}

#[test]
fn a_chain_at_the_bound_works_everywhere() {
    let env = Env::new();
    env.write("a.txt", "a\n");
    let base = env.commit("base");
    craft_chain(&env, MAX_DEPTH - 1, false);
    let deep: PathBuf = ["d"; MAX_DEPTH - 1].iter().collect::<PathBuf>().join("f");

    env.ok(&["verify", "--data"]);
    env.ok(&["ls", "-r", "deep"]);
    env.ok(&["diff", &base, "deep"]);
    env.ok(&["show", "deep"]);
    env.ok(&["restore", "deep", "--to", "../out"]);
    assert_eq!(
        fs::read(env.outside("out").join(&deep)).unwrap(),
        b"deep down\n"
    );
    env.ok(&["checkout", "deep"]);
    assert_eq!(fs::read(env.path("").join(&deep)).unwrap(), b"deep down\n");
    env.ok(&["status"]);
    env.ok(&["gc"]);
    env.ok(&["verify", "--data"]);
}

#[test]
fn add_refuses_a_path_nested_deeper_than_the_bound() {
    let env = Env::new();
    env.write("a.txt", "a\n");
    let base = env.commit("base");
    let deep: PathBuf = ["d"; MAX_DEPTH + 1].iter().collect::<PathBuf>().join("f");
    fs::create_dir_all(env.path("").join(deep.parent().unwrap())).unwrap();
    fs::write(env.path("").join(&deep), "too deep\n").unwrap();

    let err = env.fails(&["add", "-A"]);
    assert!(err.contains("nested deeper than"), "{err}");
    env.ok(&["status"]);
    // Skipped means untouched: the deep file is reported and the rest is staged.
    env.write("b.txt", "b\n");
    let out = env.json(&["add", "-A", "--ignore-errors"]);
    assert_eq!(out["skipped"].as_array().map(Vec::len), Some(1), "{out}");
    env.ok(&["commit", "-m", "b"]);
    assert_ne!(env.head(), base);
    env.ok(&["verify", "--data"]);
}
