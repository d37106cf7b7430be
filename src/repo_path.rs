//! Paths inside a repository: `/`-separated raw bytes relative to the worktree root, as the
//! staging index and trees store them. Bytes, not `str`: a file named in Latin-1 or anything
//! else that is not UTF-8 is stored, listed and restored under its exact name.
//!
//! [`RepoPath`] is to [`RepoPathBuf`] what `Path` is to `PathBuf`: a borrowed view that the
//! index's and the trees' own bytes can be looked at through without a copy. The empty path
//! is the root. A path never starts or ends with `/` and has no empty, `.` or `..` part;
//! [`crate::worktree::resolve`] and the tree decoder make sure of that before one is built.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// A borrowed repository path.
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct RepoPath([u8]);

/// An owned repository path.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPathBuf(Vec<u8>);

impl RepoPath {
    /// Views `bytes` as a repository path.
    pub fn new(bytes: &[u8]) -> &RepoPath {
        // SAFETY: RepoPath is a repr(transparent) wrapper of [u8], so the two references have
        // the same layout and the same lifetime (as std does for Path over OsStr).
        #[allow(unsafe_code, reason = "a borrowed view, as std has for Path")]
        unsafe {
            &*(bytes as *const [u8] as *const RepoPath)
        }
    }

    /// The worktree's root.
    pub fn root() -> &'static RepoPath {
        RepoPath::new(b"")
    }

    /// The path's bytes, `/`-separated, as the index and trees store them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True for the worktree's root, the empty path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The directory holding this path: the root for a top-level name and for the root.
    pub fn parent(&self) -> &RepoPath {
        let end = self.0.iter().rposition(|b| *b == b'/').unwrap_or(0);
        RepoPath::new(&self.0[..end])
    }

    /// The last part of the path (the whole path at the top level).
    pub fn file_name(&self) -> &[u8] {
        let start = self.0.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
        &self.0[start..]
    }

    /// The path of `name` inside this directory.
    pub fn join(&self, name: &[u8]) -> RepoPathBuf {
        if self.is_root() {
            return RepoPathBuf(name.to_vec());
        }
        let mut p = Vec::with_capacity(self.0.len() + 1 + name.len());
        p.extend_from_slice(&self.0);
        p.push(b'/');
        p.extend_from_slice(name);
        RepoPathBuf(p)
    }

    /// True when this path is `dir` or lies below it; everything is under the root. A
    /// sibling that merely starts with the same bytes (`ab` beside `a`) is not.
    pub fn is_under(&self, dir: &RepoPath) -> bool {
        dir.is_root()
            || (self.0.starts_with(&dir.0)
                && (self.0.len() == dir.0.len() || self.0[dir.0.len()] == b'/'))
    }

    /// The directories above this path, nearest first, not counting the root.
    pub fn ancestors(&self) -> impl Iterator<Item = &RepoPath> {
        let mut rest = self.parent();
        std::iter::from_fn(move || {
            if rest.is_root() {
                return None;
            }
            let here = rest;
            rest = rest.parent();
            Some(here)
        })
    }

    /// This path and the directories above it from the top down, not counting the root:
    /// `a`, `a/b`, `a/b/c` for `a/b/c`. For work where each step rests on the one above
    /// (creating or checking directories one level at a time).
    pub fn prefixes(&self) -> impl Iterator<Item = &RepoPath> {
        let ends = self.0.iter().enumerate().filter(|(_, b)| **b == b'/');
        let whole = (!self.is_root()).then_some(self.0.len());
        ends.map(|(i, _)| i)
            .chain(whole)
            .map(|end| RepoPath::new(&self.0[..end]))
    }

    /// The parts of the path from the top down (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|b| *b == b'/').filter(|p| !p.is_empty())
    }

    /// Whether this is a relative path of valid names (see `tree::check_name`: none empty,
    /// `.`, `..`, longer than a tree can hold, or holding a NUL), checked in one pass over its
    /// bytes: what a path read from a file or a socket must be before it is used. The root
    /// (empty) is not one.
    pub fn is_valid(&self) -> bool {
        self.0.split(|b| *b == b'/').all(|c| {
            !c.is_empty()
                && c != b"."
                && c != b".."
                && c.len() <= u16::MAX as usize
                && !c.contains(&0)
        })
    }

    /// How many directories deep the path is: 1 for a top-level name, 0 for the root.
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// An owned copy.
    pub fn to_buf(&self) -> RepoPathBuf {
        RepoPathBuf(self.0.to_vec())
    }

    /// The path for people: the bytes as UTF-8, with anything else replaced.
    pub fn display(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl RepoPathBuf {
    /// The worktree's root, the empty path.
    pub fn new() -> RepoPathBuf {
        RepoPathBuf(Vec::new())
    }

    /// The path's bytes, without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The borrowed view.
    pub fn as_path(&self) -> &RepoPath {
        RepoPath::new(&self.0)
    }
}

impl From<Vec<u8>> for RepoPathBuf {
    fn from(bytes: Vec<u8>) -> RepoPathBuf {
        RepoPathBuf(bytes)
    }
}

impl From<&[u8]> for RepoPathBuf {
    fn from(bytes: &[u8]) -> RepoPathBuf {
        RepoPathBuf(bytes.to_vec())
    }
}

impl From<&RepoPath> for RepoPathBuf {
    fn from(p: &RepoPath) -> RepoPathBuf {
        p.to_buf()
    }
}

impl Deref for RepoPathBuf {
    type Target = RepoPath;

    fn deref(&self) -> &RepoPath {
        self.as_path()
    }
}

impl Borrow<RepoPath> for RepoPathBuf {
    fn borrow(&self) -> &RepoPath {
        self.as_path()
    }
}

impl AsRef<RepoPath> for RepoPathBuf {
    fn as_ref(&self) -> &RepoPath {
        self.as_path()
    }
}

impl AsRef<[u8]> for RepoPath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl ToOwned for RepoPath {
    type Owned = RepoPathBuf;

    fn to_owned(&self) -> RepoPathBuf {
        self.to_buf()
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl fmt::Display for RepoPathBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_path().fmt(f)
    }
}

impl fmt::Debug for RepoPathBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_path(), f)
    }
}

/// In JSON a path is a string: UTF-8 names exactly, anything else with its invalid bytes
/// replaced (`path_hex` fields carry exact bytes where a document needs them).
impl serde::Serialize for RepoPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display())
    }
}

impl serde::Serialize for RepoPathBuf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_path().serialize(s)
    }
}

/// The schema of a path in a JSON document: a string.
fn path_schema() -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": "A path relative to the worktree root, with `/` between names."
    })
}

impl schemars::JsonSchema for RepoPath {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RepoPath".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        path_schema()
    }
}

impl schemars::JsonSchema for RepoPathBuf {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RepoPath".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        path_schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &RepoPath {
        RepoPath::new(s.as_bytes())
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(p("a/b/c").parent(), p("a/b"));
        assert_eq!(p("a").parent(), RepoPath::root());
        assert_eq!(RepoPath::root().parent(), RepoPath::root());
        assert_eq!(p("a/b/c").file_name(), b"c");
        assert_eq!(p("top").file_name(), b"top");
    }

    #[test]
    fn join_from_the_root_and_below() {
        assert_eq!(RepoPath::root().join(b"a").as_bytes(), b"a");
        assert_eq!(p("a/b").join(b"c").as_bytes(), b"a/b/c");
    }

    #[test]
    fn under_is_by_whole_parts() {
        assert!(p("a/b").is_under(p("a")));
        assert!(p("a").is_under(p("a")));
        assert!(p("a").is_under(RepoPath::root()));
        assert!(!p("ab").is_under(p("a")));
        assert!(!p("a").is_under(p("a/b")));
    }

    #[test]
    fn ancestors_nearest_first() {
        let got: Vec<&[u8]> = p("a/b/c").ancestors().map(RepoPath::as_bytes).collect();
        assert_eq!(got, [&b"a/b"[..], b"a"]);
        assert_eq!(p("a").ancestors().count(), 0);
        assert_eq!(p("a/b/c").depth(), 3);
        assert_eq!(RepoPath::root().depth(), 0);
    }

    #[test]
    fn prefixes_top_down_with_the_path_itself() {
        let got: Vec<&[u8]> = p("a/b/c").prefixes().map(RepoPath::as_bytes).collect();
        assert_eq!(got, [&b"a"[..], b"a/b", b"a/b/c"]);
        assert_eq!(p("a").prefixes().count(), 1);
        assert_eq!(RepoPath::root().prefixes().count(), 0);
    }

    #[test]
    fn names_that_are_not_utf8_keep_their_bytes() {
        let raw = RepoPath::new(b"dir/caf\xe9");
        assert_eq!(raw.file_name(), b"caf\xe9");
        assert_eq!(raw.to_buf().into_bytes(), b"dir/caf\xe9");
        assert_eq!(raw.to_string(), "dir/caf\u{fffd}");
    }
}
