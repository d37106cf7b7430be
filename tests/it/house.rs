//! The rules the code's structure keeps (docs/ARCHITECTURE.md, "The dependency rule"),
//! checked on the sources so that a change breaking one fails here rather than in review.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The lines of `text` outside its `#[cfg(test)]` module (which, by the crate's habit, is
/// the last item of a file).
fn library_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end].lines().enumerate().map(|(n, l)| (n + 1, l))
}

/// No operation imports another, and nothing below `ops/` imports from it: what two
/// commands share lives in the domain.
#[test]
fn ops_stand_on_the_domain() {
    let ops = src().join("ops");
    let mut found = Vec::new();
    for (path, text) in sources(&src()) {
        let in_ops = path.starts_with(&ops);
        let in_cli = path.starts_with(src().join("cli")) || path.ends_with("main.rs");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let names_ops = code.contains("crate::ops") || (in_ops && code.contains("super::"));
            let is_mod_decl = path.ends_with("ops/mod.rs") && code.starts_with("pub mod ");
            if names_ops && !in_cli && !is_mod_decl && !code.starts_with("use super::*") {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "imports between operations:\n{}",
        found.join("\n")
    );
}

/// The words naming the two kinds of reference are spelled in refs.rs alone; everything
/// else goes through `RefKind`.
#[test]
fn ref_kinds_are_typed() {
    let mut found = Vec::new();
    for (path, text) in sources(&src()) {
        if path.ends_with("refs.rs") && !path.starts_with(src().join("remote")) {
            continue;
        }
        for (n, line) in library_lines(&text) {
            let code = line.split("//").next().unwrap_or("");
            if ["\"lines\"", "\"tags\"", "lines/", "tags/"]
                .iter()
                .any(|w| code.contains(w))
            {
                found.push(format!("{}:{n}: {line}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "ref kinds as strings:\n{}",
        found.join("\n")
    );
}

/// Unsafe code lives in fsutil.rs (and the one cast of repo_path.rs), each allowed there with
/// its reason; the crate denies it everywhere else (Cargo.toml's lints).
#[test]
fn raw_system_calls_are_gathered() {
    let mut found = Vec::new();
    for (path, text) in sources(&src()) {
        if path.ends_with("fsutil.rs") || path.ends_with("repo_path.rs") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("unsafe ") || calls_libc(code) {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "system calls outside fsutil:\n{}",
        found.join("\n")
    );
}

/// True when `code` calls a libc function (`libc::name(`); its constants and types are fine.
fn calls_libc(code: &str) -> bool {
    code.match_indices("libc::").any(|(i, w)| {
        let rest = &code[i + w.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        name.starts_with(|c: char| c.is_ascii_lowercase()) && rest[name.len()..].starts_with('(')
    })
}

/// The crash and fault tests arm fail points through the environment; a build without the
/// `failpoints` feature ignores it, and those tests would fail for no visible reason.
#[test]
fn fail_points_are_compiled_in() {
    if !cfg!(feature = "failpoints") {
        panic!(
            "the integration tests need the failpoints feature: run ./scripts/test.sh, or \
             cargo test --all-targets --features failpoints"
        );
    }
}
