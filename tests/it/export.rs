//! `cairn export`: a tar stream that a system `tar` extracts to what `restore` writes, with
//! odd and long names, long link targets, modes and times; zstd; paths; damage and refusals.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use cairn::pack::{ObjectKind, PackIndex, RECORD_HEADER_LEN};

use crate::support::{random_bytes, snapshot, Env, Node};

/// A worktree with odd and long names, a long symlink target, an empty file, an executable
/// and a file of many chunks, committed.
fn sample() -> Env {
    let env = Env::with_init(&["--chunk-size", "4K"]);
    let w = |rel: &[u8], data: &[u8]| {
        let p = env.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    w(b"d/e/a.txt", b"hi\n");
    w(b"big", &random_bytes(7, 300_000));
    w(b"empty", b"");
    w(&[b"d/".as_slice(), &[b'n'; 150]].concat(), b"long name");
    w(b"we\nird\xff name", b"odd");
    fs::set_permissions(
        env.path("big"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    std::os::unix::fs::symlink("d/e/a.txt", env.path("link")).unwrap();
    std::os::unix::fs::symlink("x".repeat(200), env.path("longlink")).unwrap();
    env.ok(&["add", "-A"]);
    env.commit("sample");
    env
}

/// `tar -x` of `archive` into a new directory `dir` beside the worktree.
fn untar(env: &Env, archive: &Path, dir: &str) -> std::path::PathBuf {
    let to = env.outside(dir);
    fs::create_dir(&to).unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(&to)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    to
}

/// Files and symlinks of `dir`: directories' times differ by design (restore makes them
/// now, tar gives them the layer's time), so directories are compared by name only.
fn entries(dir: &Path) -> Vec<(Vec<u8>, Node)> {
    snapshot(dir, &[]).into_iter().collect()
}

#[test]
fn a_system_tar_extracts_what_restore_writes() {
    let env = sample();
    let archive = env.outside("all.tar");
    let doc = env.json(&["export", "HEAD", "-o", archive.to_str().unwrap()]);
    assert_eq!(doc["files"], 5, "{doc}");
    assert_eq!(doc["symlinks"], 2, "{doc}");
    assert_eq!(doc["dirs"], 2, "{doc}");
    assert_eq!(doc["zstd"], false, "{doc}");
    let from_tar = untar(&env, &archive, "x");
    env.ok(&[
        "restore",
        "HEAD",
        "--to",
        env.outside("r").to_str().unwrap(),
    ]);
    assert_eq!(entries(&from_tar), entries(&env.outside("r")));
    // And both equal the worktree, byte for byte, mode for mode, to the nanosecond.
    let mut work = snapshot(&env.root, &[".cairn"]);
    let tar = snapshot(&from_tar, &[]);
    work.retain(|_, n| !matches!(n, Node::Dir));
    for (p, n) in &work {
        assert_eq!(tar.get(p), Some(n), "{}", String::from_utf8_lossy(p));
    }
}

#[test]
fn the_stream_on_stdout_and_zstd_and_paths() {
    let env = sample();
    let out = env
        .cmd_in(&env.root)
        .args(["export", "HEAD", "d"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut names: Vec<Vec<u8>> = tar::Archive::new(&out.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path_bytes().into_owned())
        .collect();
    names.sort();
    let long = [b"d/".as_slice(), &[b'n'; 150]].concat();
    assert_eq!(
        names,
        vec![b"d".to_vec(), b"d/e".to_vec(), b"d/e/a.txt".to_vec(), long]
    );

    // A name ending in .zst asks for zstd; the stream decodes to the plain one.
    let plain = env.outside("p.tar");
    let packed = env.outside("p.tar.zst");
    env.ok(&["export", "HEAD", "-o", plain.to_str().unwrap()]);
    let doc = env.json(&["export", "HEAD", "-o", packed.to_str().unwrap()]);
    assert_eq!(doc["zstd"], true);
    let mut decoded = Vec::new();
    zstd::Decoder::new(fs::File::open(&packed).unwrap())
        .unwrap()
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, fs::read(&plain).unwrap());
}

#[test]
fn refusals_leave_no_file() {
    let env = sample();
    let target = env.outside("n.tar");
    let err = env.fails(&["export", "nope", "-o", target.to_str().unwrap()]);
    assert!(err.contains("nope"), "{err}");
    let err = env.fails(&["export", "HEAD", "missing", "-o", target.to_str().unwrap()]);
    assert!(err.contains("missing"), "{err}");
    assert!(!target.exists());
    // --json with the stream on stdout would mix the two.
    let out = env
        .cmd_in(&env.root)
        .args(["--json", "export", "HEAD"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "bad_argument");
    let leftovers: Vec<_> = fs::read_dir(&env.base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.as_bytes().ends_with(b".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_damaged_chunk_fails_the_export_and_names_the_file() {
    let env = sample();
    // Flip a byte inside the first chunk record of the data packs: a chunk of `big`, the
    // only file of many chunks, or of one of the small files.
    let mut flipped = false;
    for e in fs::read_dir(env.path(".cairn/packs")).unwrap() {
        let idx = e.unwrap().path();
        if flipped || idx.extension().is_none_or(|x| x != "idx") {
            continue;
        }
        let index = PackIndex::open(&idx).unwrap();
        let chunk = index
            .entries()
            .flatten()
            .find(|e| e.kind == ObjectKind::Chunk);
        if let Some(c) = chunk {
            let pack = idx.with_extension("pack");
            let mut b = fs::read(&pack).unwrap();
            b[(c.offset + RECORD_HEADER_LEN as u64) as usize + c.stored_len as usize / 2] ^= 0x40;
            fs::write(&pack, b).unwrap();
            flipped = true;
        }
    }
    assert!(flipped);
    let target = env.outside("bad.tar");
    let err = env.fails(&["export", "HEAD", "-o", target.to_str().unwrap()]);
    assert!(
        err.contains("does not match") || err.contains("damaged"),
        "{err}"
    );
    assert!(
        !target.exists(),
        "no archive is left under the name asked for"
    );
}
