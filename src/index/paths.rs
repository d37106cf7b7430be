//! The checks on the paths of an index file, made entry by entry as they are decoded.

use crate::object::EntryKind;
use crate::repo_path::RepoPath;

/// Checks that paths are relative, normalised and strictly sorted, with no tracked file
/// standing where another path needs a directory, and that kinds are a file or a symlink, so
/// a damaged or hostile index cannot name a file outside the worktree.
///
/// In sorted order every entry between a path and a longer path it prefixes shares that
/// prefix, so the earlier paths that prefix the current one form a stack, each a prefix of
/// the next: linear time, and the stack is kept as lengths of the previous path.
#[derive(Default)]
pub(super) struct PathCheck {
    prev: Vec<u8>,
    /// Lengths of the earlier paths that prefix `prev`, shortest first, `prev`'s own last.
    stack: Vec<usize>,
}

impl PathCheck {
    /// Checks the next path and its entry's kind.
    pub(super) fn next(&mut self, p: &[u8], kind: u8) -> Result<(), String> {
        let prev = &mut self.prev;
        // The stack is empty only before the first path: each path pushes its own length.
        if !self.stack.is_empty() {
            match prev.as_slice().cmp(p) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err("a path appears twice".into()),
                std::cmp::Ordering::Greater => return Err("paths are not strictly sorted".into()),
            }
        }
        if !RepoPath::new(p).is_valid() {
            return Err(format!("invalid path {:?}", String::from_utf8_lossy(p)));
        }
        while self
            .stack
            .last()
            .is_some_and(|&l| !p.starts_with(&prev[..l]))
        {
            self.stack.pop();
        }
        // Every length left names a proper prefix of `p`: a file if followed by `/`.
        if self.stack.iter().any(|&l| p[l] == b'/') {
            return Err(format!(
                "{:?} lies below a tracked file",
                String::from_utf8_lossy(p)
            ));
        }
        if !matches!(
            EntryKind::from_u8(kind),
            Some(EntryKind::File | EntryKind::Symlink)
        ) {
            return Err(format!("invalid kind for {:?}", String::from_utf8_lossy(p)));
        }
        prev.clear();
        prev.extend_from_slice(p);
        self.stack.push(p.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(paths: &[&str]) -> Result<(), String> {
        let mut c = PathCheck::default();
        paths
            .iter()
            .try_for_each(|p| c.next(p.as_bytes(), EntryKind::File as u8))
    }

    #[test]
    fn accepts_a_sorted_tree() {
        check(&["a", "b/c", "b/d/e", "b/d0", "b0", "c/d/e/f", "c/d/g"]).unwrap();
        check(&["a-b", "a/b", "a0"]).unwrap();
    }

    #[test]
    fn refuses_what_could_escape_or_collide() {
        let cases: [(&[&str], &str); 9] = [
            (&["a", "a/b"], "below a tracked file"),
            (&["a", "a-", "a/b"], "below a tracked file"),
            (&["a", "a/b/c"], "below a tracked file"),
            (&["b", "a"], "not strictly sorted"),
            (&["a", "a"], "appears twice"),
            (&["../x"], "invalid path"),
            (&["/etc/x"], "invalid path"),
            (&["a//b"], "invalid path"),
            (&["a/./b"], "invalid path"),
        ];
        for (paths, want) in cases {
            let err = check(paths).unwrap_err();
            assert!(err.contains(want), "{paths:?}: {err}");
        }
        assert!(check(&[""]).is_err());
        let mut c = PathCheck::default();
        assert!(c.next(b"a", 2).unwrap_err().contains("invalid kind"));
    }
}
