//! The one helper module of the integration tests.
//!
//! - [`TestRepo`] (`repo.rs`): the temporary directory is the worktree; commands run with
//!   the environment's author left out.
//! - [`Env`] (`env.rs`): the worktree is `base/work`, with room beside it; commands run with
//!   `--no-progress` and a fixed author.
//! - `process.rs`: functions on a worktree root for tests that kill commands or run them side
//!   by side, and the workload those tests change from round to round.
//! - `tree.rs`: whole-tree snapshots compared entry by entry.
//! - `memory.rs`: a command's own peak memory.
//! - `rng.rs`: the one seeded random generator.
//!
//! Argument order everywhere: the directory first, then the command's arguments, then what
//! is expected (an exit code) or extra environment; a seed before a length.

mod env;
mod memory;
mod process;
mod repo;
mod rng;
mod tree;

use std::ffi::OsStr;
use std::process::Output;

pub(crate) use env::{set_modified, set_mtime, Env};
pub(crate) use memory::run_measured;
pub(crate) use process::*;
pub(crate) use repo::TestRepo;
pub(crate) use rng::{random_bytes, text, Rng};
pub(crate) use tree::{all_paths, assert_same_tree, snapshot, Node};

/// A layer, tree or object id as cairn prints it: 64 lowercase hex digits.
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn show<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that `cairn args` exited 0.
pub(crate) fn assert_success<S: AsRef<OsStr>>(out: &Output, args: &[S]) {
    assert!(
        out.status.success(),
        "`cairn {}` failed ({:?})\nstdout: {}\nstderr: {}",
        show(args),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the exit code `code` and exactly one `error:` line on stderr, and no panic;
/// returns stderr.
pub(crate) fn assert_failure<S: AsRef<OsStr>>(out: &Output, args: &[S], code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "`cairn {}`: wrong exit code\nstdout: {}\nstderr: {stderr}",
        show(args),
        String::from_utf8_lossy(&out.stdout),
    );
    let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(
        errors,
        1,
        "`cairn {}`: expected one `error: ` line on stderr, got:\n{stderr}",
        show(args)
    );
    assert!(
        !stderr.contains("panicked"),
        "`cairn {}` panicked:\n{stderr}",
        show(args)
    );
    stderr
}

/// Asserts exit 2 with at least one `error:` line on stderr; returns stderr. Looser than
/// [`assert_failure`]: the callers check messages that may come with notes.
pub(crate) fn assert_error<S: AsRef<OsStr>>(out: &Output, args: &[S]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "`cairn {}` should exit 2; stdout: {} stderr: {stderr}",
        show(args),
        String::from_utf8_lossy(&out.stdout),
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "`cairn {}` should print an `error:` line: {stderr}",
        show(args)
    );
    stderr
}

/// The keys of a JSON object, sorted.
pub(crate) fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"))
        .keys()
        // Every document has it; tests/it/json_contract.rs checks it.
        .filter(|k| *k != "schema_version")
        .cloned()
        .collect();
    k.sort();
    k
}
