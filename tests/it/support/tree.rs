//! Whole-tree snapshots (contents, modes, symlink targets, mtimes) compared entry by entry.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// File contents in a snapshot: compared whole, printed short.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // FNV-1a, only to tell contents apart in failure messages.
        let h = self.0.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        write!(f, "<{} bytes, fnv {h:016x}>", self.0.len())
    }
}

/// One entry of a directory tree, as `symlink_metadata` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File {
        mode: u32,
        mtime_ns: i64,
        content: Bytes,
    },
    Symlink {
        target: Vec<u8>,
        mtime_ns: i64,
    },
}

/// Every entry below `dir` by relative path (raw bytes), not following symlinks. Entries
/// named in `skip` (such as `.cairn`) are left out, with everything below them.
pub(crate) fn snapshot(dir: &Path, skip: &[&str]) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    walk(dir, b"", skip, &mut out);
    out
}

fn walk(dir: &Path, prefix: &[u8], skip: &[&str], out: &mut BTreeMap<Vec<u8>, Node>) {
    for e in fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("dir entry");
        let name = e.file_name();
        if skip.iter().any(|s| OsStr::new(s) == name) {
            continue;
        }
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let p = e.path();
        let m = fs::symlink_metadata(&p).expect("lstat");
        let mtime_ns = m.mtime() * 1_000_000_000 + m.mtime_nsec();
        let node = if m.file_type().is_symlink() {
            let target = fs::read_link(&p).expect("readlink");
            Node::Symlink {
                target: target.as_os_str().as_bytes().to_vec(),
                mtime_ns,
            }
        } else if m.is_dir() {
            walk(&p, &rel, skip, out);
            Node::Dir
        } else {
            Node::File {
                mode: m.mode() & 0o7777,
                mtime_ns,
                content: Bytes(fs::read(&p).expect("read")),
            }
        };
        out.insert(rel, node);
    }
}

fn lossy(p: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(p))
}

/// Asserts that `actual` holds exactly the entries of `expected` (contents, modes, symlink
/// targets, mtimes of files and symlinks), apart from the paths in `extra` and the
/// directories above them, which `actual` may also hold.
pub(crate) fn assert_same_tree(
    expected: &BTreeMap<Vec<u8>, Node>,
    actual: &BTreeMap<Vec<u8>, Node>,
    extra: &[&[u8]],
    what: &str,
) {
    let allowed: BTreeSet<Vec<u8>> = extra
        .iter()
        .flat_map(|p| {
            let mut v = vec![p.to_vec()];
            for (i, b) in p.iter().enumerate() {
                if *b == b'/' {
                    v.push(p[..i].to_vec());
                }
            }
            v
        })
        .collect();
    let mut problems = Vec::new();
    for (p, want) in expected {
        match actual.get(p) {
            None => problems.push(format!("missing {}", lossy(p))),
            Some(got) if got != want => {
                problems.push(format!("differs {}: want {want:?}, got {got:?}", lossy(p)));
            }
            Some(_) => {}
        }
    }
    for p in actual.keys() {
        if !expected.contains_key(p) && !allowed.contains(p) {
            problems.push(format!("extra {}", lossy(p)));
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: {} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every path below `dir` (recursively, not following symlinks), for checking that nothing
/// appeared where it should not.
pub(crate) fn all_paths(dir: &Path, skip: &[&str]) -> BTreeSet<Vec<u8>> {
    snapshot(dir, skip).into_keys().collect()
}
