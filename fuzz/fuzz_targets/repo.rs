//! A whole repository under the fuzzer's mutations (packs, indexes, refs, HEAD, the staging
//! index, config), then `restore`, `verify --data` and `gc` through the library, as a user
//! would run them on a damaged repository:
//!
//! - never a panic (a damaged repository is an error or a verify report);
//! - nothing written outside the run's directory (a guard file beside it must not change,
//!   and nothing but the worktree and the restore destinations may appear);
//! - gc never deletes what an undamaged layer needs: every layer reachable from HEAD, the
//!   lines and the tags that restored before gc restores again afterwards, identically.
//!   (gc may refuse to run on a damaged repository; it may never lose a readable layer.)
//!
//! Memory is bounded by scripts/fuzz.sh's malloc and RSS limits.
//!
//! The input is the repository's `.cairn/` as a list of files, each `path NUL length
//! (u32 LE) bytes` (see `entries`); scripts/fuzz.sh makes the seeds from the frozen
//! repositories in fixtures/. Only the paths a repository holds are written (`HEAD`,
//! `config.toml`, `index`, `refs/lines/*`, `refs/tags/*`, `packs/*`), so a mutated name
//! cannot point the harness itself outside the run's directory.
#![no_main]

mod scratch;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cairn::ops::gc::{gc, GcOptions};
use cairn::ops::restore::{restore, RestoreOptions};
use cairn::ops::verify::{verify, VerifyOptions};
use cairn::{NoProgress, ObjectId, Repository};
use libfuzzer_sys::fuzz_target;
use scratch::scratch;

/// At most this many files and layers per input: a run must stay in milliseconds.
const MAX_FILES: usize = 64;
const MAX_LAYERS: usize = 8;

/// The files of the input: `path NUL len:u32le bytes`, repeated. A length past the end
/// takes what is left, so a mutated length still yields a repository.
fn entries(mut data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    while out.len() < MAX_FILES {
        let Some(nul) = data.iter().position(|b| *b == 0) else {
            break;
        };
        let (name, rest) = (&data[..nul], &data[nul + 1..]);
        if rest.len() < 4 {
            break;
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let body = &rest[4..];
        let len = len.min(body.len());
        out.push((name, &body[..len]));
        data = &body[len..];
    }
    out
}

/// The paths below `.cairn/` a repository holds; anything else in the input is dropped.
fn allowed(name: &[u8]) -> bool {
    let plain = |n: &[u8]| {
        !n.is_empty()
            && n[0] != b'.'
            && n.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
    };
    match name {
        b"HEAD" | b"config.toml" | b"index" => true,
        _ => ["refs/lines/", "refs/tags/", "packs/"]
            .iter()
            .any(|dir| name.strip_prefix(dir.as_bytes()).is_some_and(plain)),
    }
}

/// One entry of a restored tree, as `symlink_metadata` sees it.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File {
        mode: u32,
        mtime_ns: i64,
        bytes: Vec<u8>,
    },
    Link {
        target: Vec<u8>,
    },
}

fn snapshot(dir: &Path, prefix: &[u8], out: &mut BTreeMap<Vec<u8>, Node>) {
    for e in fs::read_dir(dir).expect("read a restored directory") {
        let e = e.expect("directory entry");
        let mut rel = prefix.to_vec();
        rel.extend_from_slice(b"/");
        rel.extend_from_slice(e.file_name().as_bytes());
        let m = fs::symlink_metadata(e.path()).expect("lstat");
        let node = if m.file_type().is_symlink() {
            let t = fs::read_link(e.path()).expect("readlink");
            Node::Link {
                target: t.as_os_str().as_bytes().to_vec(),
            }
        } else if m.is_dir() {
            snapshot(&e.path(), &rel, out);
            Node::Dir
        } else {
            Node::File {
                mode: m.mode() & 0o7777,
                mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                bytes: fs::read(e.path()).expect("read a restored file"),
            }
        };
        out.insert(rel, node);
    }
}

/// Restores `layer` into `to` (which must not exist yet) and reads it back.
fn restored(repo: &Repository, layer: &ObjectId, to: PathBuf) -> Option<BTreeMap<Vec<u8>, Node>> {
    let opts = RestoreOptions {
        layer: layer.to_hex(),
        paths: Vec::new(),
        to: to.clone(),
        force: false,
    };
    restore(repo, &opts, &NoProgress).ok()?;
    let mut out = BTreeMap::new();
    snapshot(&to, b"", &mut out);
    Some(out)
}

/// The layers gc keeps alive: HEAD, every line and tag, and their parents (a few).
fn layers(repo: &Repository) -> Vec<ObjectId> {
    let refs = repo.refs();
    let mut tips: Vec<ObjectId> = Vec::new();
    if let Ok((_, Some(id))) = refs.resolve_head() {
        tips.push(id);
    }
    for kind in cairn::refs::RefKind::ALL {
        for name in refs.list(kind).unwrap_or_default() {
            if let Ok(Some(id)) = refs.get(kind, &name) {
                tips.push(id);
            }
        }
    }
    let mut out = Vec::new();
    while let Some(id) = tips.pop() {
        if out.len() >= MAX_LAYERS || out.contains(&id) {
            continue;
        }
        out.push(id);
        if let Ok(Some(parent)) = repo.read_layer(&id).map(|l| l.parent) {
            tips.push(parent);
        }
    }
    out
}

/// The fixed places of one fuzzing process: the run's directory and a guard beside it.
struct Places {
    run: PathBuf,
    guard: PathBuf,
}

const GUARD: &[u8] = b"nothing may write here\n";

fn places() -> &'static Places {
    static P: OnceLock<Places> = OnceLock::new();
    P.get_or_init(|| {
        let base = scratch("repo");
        let guard = base.join("guard");
        fs::create_dir_all(&guard).expect("guard dir");
        fs::write(guard.join("file"), GUARD).expect("guard file");
        Places {
            run: base.join("run"),
            guard,
        }
    })
}

/// Lays the input out as `run/work/.cairn/`; None when it is no repository at all.
fn lay_out(data: &[u8], run: &Path) -> Option<Repository> {
    let dot = run.join("work/.cairn");
    for d in ["refs/lines", "refs/tags", "packs", "tmp"] {
        fs::create_dir_all(dot.join(d)).expect("repository dirs");
    }
    fs::write(dot.join("lock"), b"").expect("lock file");
    for (name, body) in entries(data) {
        if allowed(name) {
            fs::write(dot.join(std::ffi::OsStr::from_bytes(name)), body).expect("write input");
        }
    }
    Repository::open(&run.join("work")).ok()
}

/// Nothing but the worktree and restore destinations in the run's directory, and the guard
/// untouched.
fn assert_nothing_outside(p: &Places) {
    for e in fs::read_dir(&p.run).expect("list run dir") {
        let name = e.expect("entry").file_name();
        let name = name.as_bytes();
        assert!(
            name == b"work" || name.starts_with(b"before-") || name.starts_with(b"after-"),
            "something wrote {:?} beside the worktree",
            String::from_utf8_lossy(name)
        );
    }
    let guard: Vec<_> = fs::read_dir(&p.guard).expect("list guard").collect();
    assert_eq!(guard.len(), 1, "something wrote into the guard directory");
    assert_eq!(fs::read(p.guard.join("file")).ok().as_deref(), Some(GUARD));
}

fn check(repo: &Repository, run: &Path) {
    let layers = layers(repo);
    let before: Vec<_> = layers
        .iter()
        .map(|l| restored(repo, l, run.join(format!("before-{l}"))))
        .collect();
    let _ = verify(
        repo,
        &VerifyOptions {
            data: true,
            layers: Vec::new(),
        },
        &NoProgress,
    );
    // Taking the lock can fail on a hostile repository (it lists the packs again): then
    // there is no gc to check, as when gc itself fails.
    if let Ok(locked) = repo.lock(Duration::from_millis(10)) {
        let _ = gc(&locked, &GcOptions::default(), &NoProgress);
    }
    // gc replaced packs: a fresh handle sees what is on disk now.
    let repo = Repository::open(repo.root()).expect("gc left the repository unopenable");
    for (l, want) in layers.iter().zip(before) {
        let Some(want) = want else { continue };
        let got = restored(&repo, l, run.join(format!("after-{l}")));
        assert!(got.is_some(), "layer {l} restored before gc, not after");
        assert!(got == Some(want), "layer {l} restores differently after gc");
    }
}

fuzz_target!(|data: &[u8]| {
    let p = places();
    let _ = fs::remove_dir_all(&p.run);
    if let Some(repo) = lay_out(data, &p.run) {
        check(&repo, &p.run);
    }
    assert_nothing_outside(p);
    fs::remove_dir_all(&p.run).expect("clean the run dir");
});
