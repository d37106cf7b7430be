//! `cairn import`: a tar stream staged as a tree. An exported layer imports to the same tree
//! id; GNU tar's archives (long names, hard links, gzip) import as they extract; hostile
//! members are refused with nothing staged, a bomb of a header is refused in small memory.

use std::fs;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{random_bytes, run_measured, Env};

/// `cairn --json import -` with `tar` on standard input: exit code and document.
fn import(env: &Env, tar: &[u8], extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json", "import", "-"];
    args.extend(extra);
    let out = env
        .cmd_in(&env.root)
        .args(&args)
        .write_stdin(tar.to_vec())
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), doc)
}

/// One 512-byte ustar header, checksummed, for members the tar crate's builder would refuse
/// to write.
fn header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

/// A tar of raw members: (header, content), then the end blocks.
fn raw_tar(members: &[(Vec<u8>, &[u8])]) -> Vec<u8> {
    let mut t = Vec::new();
    for (h, data) in members {
        t.extend_from_slice(h);
        t.extend_from_slice(data);
        t.resize(t.len().next_multiple_of(512), 0);
    }
    t.resize(t.len() + 1024, 0);
    t
}

#[test]
fn an_exported_layer_imports_to_the_same_tree() {
    let src = Env::with_init(&["--chunk-size", "4K"]);
    fs::create_dir_all(src.path("d/e")).unwrap();
    fs::write(src.path("d/e/a.txt"), "hi\n").unwrap();
    fs::write(src.path("big"), random_bytes(5, 200_000)).unwrap();
    fs::write(src.path("empty"), "").unwrap();
    fs::write(src.path(b"we\nird\xff"), "odd").unwrap();
    fs::write(src.path("n".repeat(180)), "long").unwrap();
    std::os::unix::fs::symlink("d/e/a.txt", src.path("link")).unwrap();
    fs::set_permissions(
        src.path("big"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    src.commit("source");
    let tree = src.json(&["show", "HEAD"])["tree"].clone();
    let tar = src.ok_bytes(&["export", "HEAD"]);

    let dst = Env::with_init(&["--chunk-size", "4K"]);
    let (code, doc) = import(&dst, &tar, &[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["files"], 5, "{doc}");
    assert_eq!(doc["symlinks"], 1, "{doc}");
    dst.ok(&["commit", "-m", "imported"]);
    assert_eq!(dst.json(&["show", "HEAD"])["tree"], tree);
    // The worktree was not written.
    assert!(!dst.path("big").exists());
    // zstd and a prefix.
    let packed = zstd::encode_all(&tar[..], 3).unwrap();
    let (code, doc) = import(&dst, &packed, &["--prefix", "again"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["chunks_new"], 0, "{doc}");
    let ls = dst.ok(&["status", "--short"]);
    assert!(
        ls.contains("A  again/d/e/a.txt") || ls.contains("AD again/d/e/a.txt"),
        "{ls}"
    );
}

#[test]
fn a_gnu_tar_archive_imports_as_it_extracts() {
    let env = Env::new();
    let data = env.outside("data");
    fs::create_dir_all(data.join("sub/deeper")).unwrap();
    fs::write(data.join("sub/deeper/x.csv"), "a,b\n1,2\n").unwrap();
    fs::write(data.join("l".repeat(150)), "long").unwrap();
    fs::hard_link(data.join("sub/deeper/x.csv"), data.join("hard.csv")).unwrap();
    std::os::unix::fs::symlink("../sub/deeper/x.csv", data.join("sub/up")).unwrap();
    let archive = env.outside("data.tgz");
    let out = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&data)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = env.json(&["import", archive.to_str().unwrap()]);
    assert_eq!(doc["files"], 3, "{doc}");
    assert_eq!(doc["hardlinks"], 1, "{doc}");
    assert_eq!(doc["symlinks"], 1, "{doc}");
    env.ok(&["commit", "-m", "data"]);
    let restored = env.outside("r");
    env.ok(&["restore", "HEAD", "--to", restored.to_str().unwrap()]);
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(&data)
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

#[test]
fn hostile_members_are_refused_and_nothing_is_staged() {
    let env = Env::new();
    fs::write(env.path("keep"), "keep").unwrap();
    fs::create_dir(env.path("dir")).unwrap();
    fs::write(env.path("dir/in"), "in").unwrap();
    env.ok(&["add", "-A"]);
    let index = fs::read(env.path(".cairn/index")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "absolute",
            raw_tar(&[(header(b"/etc/x", b'0', 1, b""), b"x")]),
        ),
        (
            "dot-dot",
            raw_tar(&[(header(b"a/../../x", b'0', 1, b""), b"x")]),
        ),
        (
            "own dir",
            raw_tar(&[(header(b"./.cairn/index", b'0', 1, b""), b"x")]),
        ),
        (
            "link out",
            raw_tar(&[(header(b"l", b'2', 0, b"/etc/passwd"), b"")]),
        ),
        (
            "link up",
            raw_tar(&[(header(b"a/l", b'2', 0, b"../../x"), b"")]),
        ),
        (
            "hard link to nothing",
            raw_tar(&[(header(b"h", b'1', 0, b"nope"), b"")]),
        ),
        (
            "file under a file",
            raw_tar(&[(header(b"keep/x", b'0', 1, b""), b"x")]),
        ),
        (
            "file over a directory",
            raw_tar(&[(header(b"dir", b'0', 1, b""), b"x")]),
        ),
        (
            "file and directory in one archive",
            raw_tar(&[
                (header(b"f", b'0', 1, b""), b"x"),
                (header(b"f/g", b'0', 1, b""), b"y"),
            ]),
        ),
        ("sparse", raw_tar(&[(header(b"s", b'S', 0, b""), b"")])),
        ("truncated", {
            let mut t = raw_tar(&[(header(b"t", b'0', 4096, b""), &[7u8; 4096])]);
            t.truncate(1024);
            t
        }),
    ];
    for (what, tar) in cases {
        let (code, doc) = import(&env, &tar, &[]);
        assert_eq!(code, 2, "{what}: {doc}");
        assert!(doc["error"]["message"].is_string(), "{what}: {doc}");
        assert_eq!(fs::read(env.path(".cairn/index")).unwrap(), index, "{what}");
    }
    // A symlink that climbs but stays inside is fine, and a fifo is reported, not stored.
    let tar = raw_tar(&[
        (header(b"a/b/l", b'2', 0, b"../../keep"), b""),
        (header(b"pipe", b'6', 0, b""), b""),
    ]);
    let (code, doc) = import(&env, &tar, &[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["symlinks"], 1);
    assert_eq!(doc["skipped"][0]["path"], "pipe", "{doc}");
}

#[test]
fn a_gigantic_long_name_header_is_refused_in_small_memory() {
    let env = Env::new();
    // A GNU long-name member announcing 4 GiB of name, followed by 8 MiB of it.
    let mut tar = header(b"././@LongLink", b'L', 4 << 30, b"");
    tar.extend(std::iter::repeat_n(b'a', 8 << 20));
    let bomb = env.outside("bomb.tar");
    fs::write(&bomb, &tar).unwrap();
    let m = run_measured(
        &env.root,
        &["import", bomb.to_str().unwrap()],
        &[],
        Stdio::null(),
    );
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(m.stderr.contains("headers"), "{}", m.stderr);
    assert!(m.peak_kib < 64 * 1024, "peak {} KiB", m.peak_kib);
}

#[test]
fn a_large_member_imports_in_flat_memory() {
    let env = Env::new();
    let data = env.outside("data");
    fs::create_dir(&data).unwrap();
    let mut f = fs::File::create(data.join("big.bin")).unwrap();
    for i in 0..40 {
        std::io::Write::write_all(&mut f, &random_bytes(50 + i, 4 << 20)).unwrap();
    }
    drop(f);
    let archive = env.outside("big.tar");
    let out = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&data)
        .arg("big.bin")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdin = Stdio::from(fs::File::open(&archive).unwrap());
    let m = run_measured(&env.root, &["import", "-"], &[], stdin);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(m.peak_kib < 100 * 1024, "peak {} KiB", m.peak_kib);
    env.ok(&["commit", "-m", "big"]);
    assert!(env.ok_bytes(&["cat", "HEAD:big.bin"]) == fs::read(data.join("big.bin")).unwrap());
}
