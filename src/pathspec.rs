//! The paths a command names, as sets a walk and the index can ask about quickly: a list of
//! 100,000 names from `add --files-from` must cost a hash lookup per path and directory
//! level, never a scan of every name for every path. Also the `--exclude` patterns
//! (gitignore syntax) and the reading of a list of names.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::{Error, Result};
use crate::repo_path::{RepoPath, RepoPathBuf};

/// A set of repository paths (`""` for everything) with the directories on the way to them.
#[derive(Debug, Default)]
pub struct PathSet {
    everything: bool,
    paths: HashSet<Vec<u8>, rustc_hash::FxBuildHasher>,
    /// Every directory strictly above a path of the set (the root included).
    on_way: HashSet<Vec<u8>, rustc_hash::FxBuildHasher>,
}

impl PathSet {
    /// The set of `specs`.
    pub fn new(specs: &[RepoPathBuf]) -> PathSet {
        let mut set = PathSet::default();
        for s in specs {
            set.everything |= s.is_root();
            for dir in s.ancestors() {
                // Ancestors come nearest first: once one is known, so are those above it.
                if !set.on_way.insert(dir.as_bytes().to_vec()) {
                    break;
                }
            }
            set.paths.insert(s.as_bytes().to_vec());
        }
        set.on_way.insert(Vec::new());
        set
    }

    /// True when `rel` is a path of the set or lies below one.
    pub fn covers(&self, rel: &RepoPath) -> bool {
        self.everything
            || self.paths.contains(rel.as_bytes())
            || rel.ancestors().any(|d| self.paths.contains(d.as_bytes()))
    }

    /// True when `dir` is a directory above a path of the set: a walk must enter it.
    pub fn leads_to(&self, dir: &RepoPath) -> bool {
        self.everything || self.on_way.contains(dir.as_bytes())
    }
}

/// Patterns in gitignore syntax (`*.tmp`, `build/`, `/top-only`, `!keep.tmp`) that take
/// paths out of an add, as if the user had never named them. Anchored patterns are relative
/// to the worktree root; a directory that matches takes everything below it with it.
#[derive(Debug, Clone)]
pub struct Excludes(Option<Gitignore>);

impl Excludes {
    /// No pattern: nothing is excluded.
    pub fn none() -> Excludes {
        Excludes(None)
    }

    /// The patterns, or a `BadArgument` error naming the first that does not parse.
    pub fn new(patterns: &[String]) -> Result<Excludes> {
        if patterns.is_empty() {
            return Ok(Excludes::none());
        }
        // Repository paths are relative, so the root given here never needs stripping.
        let mut b = GitignoreBuilder::new("");
        for p in patterns {
            b.add_line(None, p).map_err(|e| Error::BadArgument {
                what: format!("--exclude {p:?} is not a valid pattern: {e}"),
                path: PathBuf::from(p),
            })?;
        }
        let matcher = b.build().map_err(|e| Error::BadArgument {
            what: format!("--exclude patterns could not be compiled: {e}"),
            path: PathBuf::new(),
        })?;
        Ok(Excludes(Some(matcher)))
    }

    /// True when a pattern excludes `rel` itself (a directory when `is_dir`), looking at it
    /// alone: for a walk, which has already looked at the directories above.
    pub fn matches_here(&self, rel: &RepoPath, is_dir: bool) -> bool {
        let Some(m) = &self.0 else { return false };
        !rel.is_root() && m.matched(as_path(rel), is_dir).is_ignore()
    }

    /// True when a pattern excludes `rel` or a directory above it, as a walk from the root
    /// would see it: a directory excluded is not entered, so nothing below it is re-included.
    pub fn excludes(&self, rel: &RepoPath, is_dir: bool) -> bool {
        if self.0.is_none() {
            return false;
        }
        rel.ancestors()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .any(|d| self.matches_here(d, true))
            || self.matches_here(rel, is_dir)
    }

    /// True when there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

fn as_path(rel: &RepoPath) -> &Path {
    Path::new(OsStr::from_bytes(rel.as_bytes()))
}

/// Reads a list of names: one per line, or separated by NUL bytes with `nul` (the only way
/// to name a file whose name holds a newline). Names are taken byte for byte: no trimming,
/// no quoting, no comments; empty names are skipped, and a last name may lack its separator.
pub fn read_names(mut from: impl Read, nul: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut bytes = Vec::new();
    from.read_to_end(&mut bytes)?;
    let sep = if nul { b'\0' } else { b'\n' };
    Ok(bytes
        .split(|b| *b == sep)
        .filter(|n| !n.is_empty())
        .map(|n| PathBuf::from(OsStr::from_bytes(n)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(specs: &[&str]) -> PathSet {
        let specs: Vec<RepoPathBuf> = specs
            .iter()
            .map(|s| RepoPathBuf::from(s.as_bytes()))
            .collect();
        PathSet::new(&specs)
    }

    fn p(s: &str) -> &RepoPath {
        RepoPath::new(s.as_bytes())
    }

    #[test]
    fn a_set_covers_its_paths_and_below_and_leads_to_their_directories() {
        let s = set(&["a/b", "c"]);
        assert!(s.covers(p("a/b")) && s.covers(p("a/b/x")) && s.covers(p("c/d/e")));
        assert!(!s.covers(p("a")) && !s.covers(p("a/bc")) && !s.covers(p("cd")));
        assert!(s.leads_to(p("")) && s.leads_to(p("a")));
        assert!(!s.leads_to(p("a/b/x")) && !s.leads_to(p("b")));
        let all = set(&[""]);
        assert!(all.covers(p("x/y")) && all.leads_to(p("x")));
        let none = set(&[]);
        assert!(!none.covers(p("x")) && none.leads_to(p("")) && !none.leads_to(p("x")));
    }

    #[test]
    fn excludes_follow_gitignore_rules_from_the_top_down() {
        let ex = |pats: &[&str]| {
            Excludes::new(&pats.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap()
        };
        let e = ex(&["*.tmp", "!keep.tmp", "build/", "/top"]);
        assert!(e.excludes(p("x/a.tmp"), false));
        assert!(!e.excludes(p("x/keep.tmp"), false));
        assert!(e.excludes(p("build/out/keep.txt"), false));
        assert!(
            !e.excludes(p("build"), false),
            "build/ names directories only"
        );
        assert!(e.excludes(p("top/a"), false) && !e.excludes(p("x/top/a"), false));
        // A file below an excluded directory cannot be taken back by a negation.
        let e = ex(&["d/", "!d/keep"]);
        assert!(e.excludes(p("d/keep"), false));
        assert!(!ex(&[]).excludes(p("anything"), false));
        assert!(Excludes::new(&["[z-a]".into()]).is_err());
    }

    #[test]
    fn names_are_read_byte_for_byte() {
        let names = read_names(&b"a b\n\nc\\n\xff\nlast"[..], false).unwrap();
        let want: Vec<PathBuf> = [&b"a b"[..], b"c\\n\xff", b"last"]
            .iter()
            .map(|n| PathBuf::from(OsStr::from_bytes(n)))
            .collect();
        assert_eq!(names, want);
        let names = read_names(&b"one\ntwo\0three\0"[..], true).unwrap();
        assert_eq!(names, [PathBuf::from("one\ntwo"), PathBuf::from("three")]);
    }
}
