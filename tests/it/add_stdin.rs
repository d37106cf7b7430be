//! `cairn add --stdin PATH`: a stream staged as one path, chunked exactly as the same bytes
//! in a file (so the two share every chunk), in flat memory; refusals and a kill part way
//! leave the index as it was.

use std::fs;
use std::io::Write;
use std::process::Stdio;

use crate::support::{random_bytes, run_measured, Env};

/// `cairn --json add --stdin PATH` with `data` on standard input.
fn add_stdin(env: &Env, path: &str, data: &[u8]) -> std::process::Output {
    env.cmd_in(&env.root)
        .args(["--json", "add", "--stdin", path])
        .write_stdin(data.to_vec())
        .output()
        .expect("run cairn")
}

#[test]
fn a_stream_is_staged_and_chunked_as_the_same_file() {
    let env = Env::with_init(&["--chunk-size", "4K"]);
    let data = random_bytes(3, 3_000_000);
    let out = add_stdin(&env, "sub/db.sql", &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["path"], "sub/db.sql");
    assert_eq!(doc["size"], 3_000_000);
    assert_eq!(doc["replaced"], false);
    assert!(doc["chunks"].as_u64().unwrap() > 100, "{doc}");
    assert_eq!(doc["chunks_new"], doc["chunks"]);
    // Staged, not written: status shows it added, and missing from the worktree.
    assert!(!env.path("sub/db.sql").exists());
    let short = env.ok(&["status", "--short"]);
    assert_eq!(short.trim(), "AD sub/db.sql");
    env.ok(&["commit", "-m", "from a stream"]);
    assert_eq!(env.ok_bytes(&["cat", "HEAD:sub/db.sql"]), data);

    // The same bytes as a file: the same file id, and not one new chunk.
    fs::write(env.path("copy.sql"), &data).unwrap();
    let added = env.json(&["add", "copy.sql"]);
    assert_eq!(added["chunks_new"], 0, "{added}");
    env.ok(&["commit", "-m", "a copy"]);
    let ls = env.json(&["ls", "HEAD", "-r", "-l"]);
    let ids: Vec<&serde_json::Value> = ls["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"].as_str().unwrap().ends_with(".sql"))
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids.len(), 2, "{ls}");
    assert_eq!(ids[0], ids[1], "{ls}");
    // Streaming again replaces the entry, with nothing new to store.
    let out = add_stdin(&env, "sub/db.sql", &data);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["replaced"], true);
    assert_eq!(doc["chunks_new"], 0);
}

#[test]
fn paths_that_cannot_hold_a_file_are_refused_and_change_nothing() {
    let env = Env::new();
    fs::create_dir(env.path("d")).unwrap();
    fs::write(env.path("d/a"), "a").unwrap();
    fs::write(env.path("f"), "f").unwrap();
    env.ok(&["add", "-A"]);
    let index = fs::read(env.path(".cairn/index")).unwrap();
    for (path, kind) in [
        ("d", "bad_path"),
        ("f/below", "bad_path"),
        ("../out", "outside_worktree"),
        (".cairn/x", "outside_worktree"),
        (".", "bad_path"),
    ] {
        let out = add_stdin(&env, path, b"data");
        assert_eq!(out.status.code(), Some(2), "{path}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["kind"], kind, "{path}: {doc}");
        assert_eq!(fs::read(env.path(".cairn/index")).unwrap(), index, "{path}");
    }
    let out = env
        .cmd_in(&env.root)
        .args(["add", "--stdin", "a", "b"])
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn memory_stays_flat_for_a_large_stream() {
    let env = Env::new();
    let big = env.outside("big.bin");
    let mut f = fs::File::create(&big).unwrap();
    for i in 0..48 {
        f.write_all(&random_bytes(100 + i, 4 << 20)).unwrap();
    }
    drop(f);
    let stdin = Stdio::from(fs::File::open(&big).unwrap());
    let m = run_measured(&env.root, &["add", "--stdin", "big.bin"], &[], stdin);
    assert_eq!(m.code, 0, "{}", m.stderr);
    // 192 MiB streamed: a window, the pack writer's queue and the binary, far below it.
    assert!(m.peak_kib < 100 * 1024, "peak {} KiB", m.peak_kib);
    env.ok(&["commit", "-m", "big"]);
    let out = env.ok_bytes(&["cat", "HEAD:big.bin"]);
    assert_eq!(out.len(), 192 << 20);
    assert!(out == fs::read(&big).unwrap());
}

#[test]
fn a_kill_part_way_leaves_the_index_as_it_was() {
    let env = Env::new();
    fs::write(env.path("keep"), "keep").unwrap();
    env.ok(&["add", "keep"]);
    let index = fs::read(env.path(".cairn/index")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .current_dir(&env.root)
        .args(["--no-progress", "add", "--stdin", "s.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&random_bytes(9, 20 << 20)).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(fs::read(env.path(".cairn/index")).unwrap(), index);
    env.ok(&["verify", "--data"]);
    assert_eq!(env.ok(&["status", "--short"]).trim(), "A  keep");
}
