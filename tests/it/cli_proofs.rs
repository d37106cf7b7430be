//! `cairn prove` and `cairn verify-proof` end to end, through the built binary. The proofs
//! are verified from a directory that holds no repository.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{random_bytes, run_measured};

/// A repository with 1 KiB average chunks (256 B minimum) so small files have many chunks,
/// and an empty directory elsewhere to verify from.
struct Env {
    repo: TempDir,
    away: TempDir,
}

impl Env {
    fn new(args: &[&str]) -> Env {
        let env = Env {
            repo: tempfile::tempdir().expect("temp dir"),
            away: tempfile::tempdir().expect("temp dir"),
        };
        let mut init = vec!["init", "-q", "--chunk-size", "1K"];
        init.extend_from_slice(args);
        env.ok(env.repo.path(), &init);
        env
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        Command::cargo_bin("cairn")
            .expect("the cairn binary")
            .current_dir(dir)
            .env("USER", "tester")
            .args(args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .expect("run cairn")
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.repo.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn commit(&self, msg: &str) -> String {
        self.ok(self.repo.path(), &["add", "-A", "-q"]);
        let out = self.ok(self.repo.path(), &["commit", "-m", msg]);
        out.trim().to_string()
    }

    /// `cairn prove args` in the repository; the proof is saved in the other directory.
    fn prove(&self, name: &str, args: &[&str]) -> PathBuf {
        let mut all = vec!["prove"];
        all.extend_from_slice(args);
        let proof = self.ok(self.repo.path(), &all);
        let path = self.away.path().join(name);
        std::fs::write(&path, proof).unwrap();
        path
    }

    /// `cairn --json verify-proof` from the directory without a repository.
    fn verify(&self, proof: &Path, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["--json", "verify-proof", proof.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = self.run(self.away.path(), &all);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), doc, err)
    }
}

fn sample() -> (Env, Vec<u8>, String) {
    let env = Env::new(&[]);
    let big = random_bytes(7, 20_000);
    env.write("data/big.bin", &big);
    env.write("data/empty", b"");
    env.write("a/b/c/d/e/f/g/deep.txt", b"seven levels down\n");
    env.write("notes.txt", b"hello\n");
    std::os::unix::fs::symlink("data/big.bin", env.repo.path().join("link")).unwrap();
    let layer = env.commit("first");
    (env, big, layer)
}

#[test]
fn range_proofs_verify_without_a_repository() {
    let (env, big, layer) = sample();
    assert!(!env.away.path().join(".cairn").exists());
    let n = big.len() as u64;
    let ranges: Vec<(String, u64, u64)> = vec![
        ("0-0".into(), 0, 1),
        ("-1".into(), n - 1, n),
        ("0-".into(), 0, n),
        (format!("0-{}", n - 1), 0, n),
        ("1000-3999".into(), 1000, 4000),
        ("511-1536".into(), 511, 1537),
        ("12345-".into(), 12345, n),
    ];
    for (i, (range, start, end)) in ranges.iter().enumerate() {
        let spec = "HEAD:data/big.bin";
        let proof = env.prove(&format!("p{i}.json"), &[spec, "--range", range]);
        let out = env.away.path().join(format!("bytes{i}"));
        let (code, doc, err) = env.verify(&proof, &["--output", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{range}: {err}");
        assert_eq!(doc["verified"], true);
        assert_eq!(doc["layer"], layer.as_str());
        assert_eq!(doc["path"], "data/big.bin");
        assert_eq!(doc["kind"], "file");
        assert_eq!(doc["size"], n);
        assert_eq!(doc["range"]["start"], *start, "{range}");
        assert_eq!(doc["range"]["end"], *end, "{range}");
        let want = &big[*start as usize..*end as usize];
        assert_eq!(std::fs::read(&out).unwrap(), want, "{range}");
        assert_eq!(doc["range"]["blake3"], blake3::hash(want).to_hex().as_str());
    }
    // 1000-3999 spans several 1 KiB chunks.
    let p: Value =
        serde_json::from_slice(&std::fs::read(env.away.path().join("p4.json")).unwrap()).unwrap();
    let chunks = p["content"]["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 2, "{} chunks", chunks.len());
    assert!(p["content"]["leaf_count"].as_u64().unwrap() > chunks.len() as u64);
}

#[test]
fn entry_proofs_verify_for_every_kind() {
    let (env, _, layer) = sample();
    let cases = [
        ("HEAD:a/b/c/d/e/f/g/deep.txt", "file", 18),
        ("HEAD:data/empty", "file", 0),
        ("HEAD:link", "symlink", 12),
        ("HEAD:a/b/c", "dir", 18),
        ("HEAD:notes.txt", "file", 6),
    ];
    for (i, (spec, kind, size)) in cases.iter().enumerate() {
        let proof = env.prove(&format!("e{i}.json"), &[spec]);
        let (code, doc, err) = env.verify(&proof, &["--root", &layer]);
        assert_eq!(code, 0, "{spec}: {err}");
        assert_eq!(doc["kind"], *kind, "{spec}");
        assert_eq!(doc["size"], *size, "{spec}");
        assert_eq!(doc["path"], spec.trim_start_matches("HEAD:"));
        assert!(doc["range"].is_null());
    }
    // The text rendering names what was proven.
    let proof = env.away.path().join("e0.json");
    let text = env.ok(env.away.path(), &["verify-proof", proof.to_str().unwrap()]);
    assert!(text.contains("proof verified"), "{text}");
    assert!(text.contains(&layer), "{text}");
    assert!(text.contains("a/b/c/d/e/f/g/deep.txt"), "{text}");
}

#[test]
fn empty_files_and_symlinks_carry_content() {
    let (env, _, _) = sample();
    let proof = env.prove("empty.json", &["HEAD:data/empty", "--content"]);
    let out = env.away.path().join("empty.out");
    let (code, doc, err) = env.verify(&proof, &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (doc["size"].as_u64(), doc["range"]["len"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"");
    let proof = env.prove("link.json", &["HEAD:link", "--content"]);
    let out = env.away.path().join("link.out");
    let (code, _, err) = env.verify(&proof, &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"data/big.bin");
}

#[test]
fn another_layer_or_any_change_fails_with_exit_1() {
    let (env, big, first) = sample();
    env.write("data/big.bin", &random_bytes(8, 20_000));
    let second = env.commit("second");
    let old = env.prove("old.json", &["HEAD~1:data/big.bin", "--range", "100-200"]);
    let (code, doc, _) = env.verify(&old, &["--root", &first]);
    assert_eq!(code, 0);
    assert_eq!(
        doc["range"]["blake3"],
        blake3::hash(&big[100..201]).to_hex().as_str()
    );
    let (code, doc, err) = env.verify(&old, &["--root", &second]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["verified"], false);
    assert!(err.starts_with("error: proof does not verify"), "{err}");
    assert!(doc["error"].as_str().unwrap().contains(&second));
    // A byte of chunk data, an audit path hash, the path: each change fails.
    let text = std::fs::read_to_string(&old).unwrap();
    let p: Value = serde_json::from_str(&text).unwrap();
    let data = p["content"]["chunks"][0]["data"].as_str().unwrap();
    let sib = p["levels"][0]["audit_path"][0].as_str().unwrap();
    let flip = |s: &str| {
        let c = if s.starts_with('0') { "1" } else { "0" };
        format!("{c}{}", &s[1..])
    };
    for (from, to) in [
        (data.to_string(), flip(data)),
        (sib.to_string(), flip(sib)),
        ("\"data/big.bin\"".into(), "\"data/bag.bin\"".into()),
        ("\"mode\": 420".into(), "\"mode\": 493".into()),
    ] {
        let bad = env.away.path().join("bad.json");
        std::fs::write(&bad, text.replacen(&from, &to, 1)).unwrap();
        let (code, _, err) = env.verify(&bad, &[]);
        assert_eq!(code, 1, "{from} -> {to}: {err}");
        assert!(err.contains("error:"), "{err}");
    }
    let (code, _, _) = env.verify(&old, &[]);
    assert_eq!(code, 0);
}

#[test]
fn malformed_proofs_and_bad_requests_exit_2() {
    let (env, _, _) = sample();
    let proof = env.prove("ok.json", &["HEAD:notes.txt"]);
    let text = std::fs::read_to_string(&proof).unwrap();
    let bad = env.away.path().join("bad.json");
    for broken in [
        text[..text.len() / 2].to_string(),
        text.replacen("\"layer\": \"", "\"layer\": \"X", 1),
        "not json".to_string(),
    ] {
        std::fs::write(&bad, broken).unwrap();
        let (code, doc, err) = env.verify(&bad, &[]);
        assert_eq!(code, 2, "{err}");
        assert!(err.starts_with("error:"), "{err}");
        assert_eq!(doc["error"]["exit_code"], 2);
    }
    let missing = env.away.path().join("missing.json");
    assert_eq!(env.verify(&missing, &[]).0, 2);
    assert_eq!(env.verify(&proof, &["--root", "abc"]).0, 2);
    // A proof without bytes cannot be written out.
    let out = env.away.path().join("x");
    assert_eq!(env.verify(&proof, &["-o", out.to_str().unwrap()]).0, 2);
    // Bytes of a directory, ranges past the end, paths that do not exist.
    let repo = env.repo.path();
    for args in [
        &["prove", "HEAD:a/b", "--range", "0-1"][..],
        &["prove", "HEAD:notes.txt", "--range", "6-"],
        &["prove", "HEAD:no/such"],
        &["prove", "HEAD:notes.txt/x"],
        &["prove", "nolayer:notes.txt"],
    ] {
        let out = env.run(repo, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn sha256_repositories_prove_too() {
    let env = Env::new(&["--hash", "sha256"]);
    let data = random_bytes(3, 5000);
    env.write("x/y.bin", &data);
    let layer = env.commit("sha");
    let proof = env.prove("p.json", &["HEAD:x/y.bin", "--range", "1000-2999"]);
    let (code, doc, err) = env.verify(&proof, &["--root", &layer]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["hash"], "sha256");
    assert_eq!(doc["range"]["len"], 2000);
}

#[test]
fn verify_proof_reads_standard_input() {
    let (env, _, _) = sample();
    let proof = env.prove("p.json", &["HEAD:notes.txt", "--content"]);
    let out = Command::cargo_bin("cairn")
        .unwrap()
        .current_dir(env.away.path())
        .args(["verify-proof", "-"])
        .write_stdin(std::fs::read(&proof).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("bytes:  0-5 (6 bytes)"));
}

/// A proof file larger than any proof is refused from its size, before it is read: rejecting
/// a 200 MiB file used to read 160 MiB of it and peak at 432 MB. Standard input redirected
/// from such a file too.
#[test]
fn an_oversize_proof_is_refused_without_reading_it() {
    let away = tempfile::tempdir().unwrap();
    let huge = away.path().join("huge.json");
    // Sparse: no disk is used.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    let from_file = || Stdio::from(std::fs::File::open(&huge).unwrap());
    for (args, stdin) in [
        (["verify-proof", "huge.json"], Stdio::null()),
        (["verify-proof", "-"], from_file()),
    ] {
        let m = run_measured(away.path(), &args, &[], stdin);
        let (code, err, peak_kib) = (m.code, m.stderr, m.peak_kib);
        assert!(code >= 0, "cairn died: signal {}: {err}", -code);
        assert_eq!(code, 2, "{err}");
        let refused = err.starts_with("error: ") && err.contains("larger than any proof");
        assert!(refused, "{args:?}: {err}");
        assert!(
            err.contains(&format!("({})", huge.display())) || args[1] == "-",
            "{err}"
        );
        assert!(
            peak_kib < 32 << 10,
            "{args:?}: peak {peak_kib} KiB to refuse by size"
        );
    }
}

const EXAMPLE: &str = "fixtures/proofs/example-sha256.json";
const EXAMPLE_LAYER: &str = "4638560d80c0c8638b6fe8c66b7ffee7d73db0e17072e5fa65373d4847be1519";

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The fenced block of `lang` in docs/PROOFS.md (the first one).
fn doc_block(lang: &str) -> String {
    let doc = std::fs::read_to_string(manifest("docs/PROOFS.md")).unwrap();
    let open = format!("```{lang}\n");
    let start = doc.find(&open).expect("block") + open.len();
    let len = doc[start..].find("```").expect("end of block");
    doc[start..start + len].to_string()
}

/// A proof written by an earlier cairn still verifies: the format is stable.
#[test]
fn pinned_example_verifies_and_is_the_documented_one() {
    let env = Env::new(&[]);
    let out = env.away.path().join("bytes");
    let example = manifest(EXAMPLE);
    let args = ["--root", EXAMPLE_LAYER, "-o", out.to_str().unwrap()];
    let (code, doc, err) = env.verify(&example, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["path"], "data/cairn.txt");
    assert_eq!(std::fs::read(&out).unwrap(), b"f stones that marks ");
    let pinned = std::fs::read_to_string(&example).unwrap();
    assert_eq!(
        doc_block("json"),
        pinned,
        "docs/PROOFS.md shows the pinned proof"
    );
}

/// The reference verifier in docs/PROOFS.md agrees with cairn, when python3 is installed.
#[test]
fn documented_python_verifier_agrees() {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 is not installed: skipped");
        return;
    }
    let env = Env::new(&["--hash", "sha256"]);
    env.write("d/x.bin", &random_bytes(5, 9000));
    env.write("empty", b"");
    let layer = env.commit("py");
    let script = env.away.path().join("verify.py");
    std::fs::write(&script, doc_block("python")).unwrap();
    let python = |proof: &Path, root: &str| {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(proof)
            .arg(root)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let mut proofs = vec![manifest(EXAMPLE)];
    for (i, args) in [
        &["HEAD:d/x.bin", "--range", "1500-6000"][..],
        &["HEAD:d/x.bin", "--content"],
        &["HEAD:empty", "--content"],
        &["HEAD:d"],
        &["HEAD:"],
    ]
    .iter()
    .enumerate()
    {
        proofs.push(env.prove(&format!("py{i}.json"), args));
    }
    for (i, proof) in proofs.iter().enumerate() {
        let root = if i == 0 { EXAMPLE_LAYER } else { &layer };
        let (code, text) = python(proof, root);
        assert_eq!(code, Some(0), "{}: {text}", proof.display());
        let (_, doc, _) = env.verify(proof, &[]);
        if let Some(sha) = doc["range"]["sha256"].as_str() {
            assert!(text.contains(sha), "{text}");
        }
        // Tampered: one hex digit of the first level's entry, or another root.
        let text = std::fs::read_to_string(proof).unwrap();
        let bad = env.away.path().join("bad.json");
        let changed = text.replacen("\"entry\": \"0", "\"entry\": \"1", 1);
        if changed != text {
            std::fs::write(&bad, &changed).unwrap();
            assert_eq!(python(&bad, root).0, Some(1), "{}", proof.display());
        }
        assert_eq!(python(proof, &"0".repeat(64)).0, Some(1));
    }
}
