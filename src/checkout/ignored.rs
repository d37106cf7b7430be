//! Whether an untracked worktree path is excluded by the worktree's ignore files
//! (`.gitignore` and `.cairnignore`, as `add` and `status` read them): a checkout
//! overwrites such files instead of refusing, as git does.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use crate::repo_path::RepoPath;
use crate::worktree::{self, IGNORE_FILE};

/// The ignore files of a worktree, each directory's read once, when first needed.
pub(super) struct Ignored {
    root: std::path::PathBuf,
    dirs: Mutex<HashMap<Vec<u8>, Option<Arc<Gitignore>>>>,
}

impl Ignored {
    pub(super) fn new(root: &Path) -> Ignored {
        Ignored {
            root: root.to_path_buf(),
            dirs: Mutex::new(HashMap::new()),
        }
    }

    /// True when `p` (or a directory above it) is ignored: each directory's files decide
    /// for what is below it, the deepest one that says anything winning, and nothing below
    /// an ignored directory is let back in (gitignore's rules). An ignore file that cannot
    /// be read ignores nothing, so the checkout refuses rather than overwrites.
    pub(super) fn is_ignored(&self, p: &RepoPath, is_dir: bool) -> bool {
        let mut prefixes: Vec<&RepoPath> = p.ancestors().collect();
        prefixes.reverse();
        let dirs_above = prefixes.iter().map(|d| (*d, true));
        dirs_above
            .chain(std::iter::once((p, is_dir)))
            .any(|(q, dir)| self.decides(q, dir))
    }

    /// The verdict on `q` alone of the ignore files in the directories above it.
    fn decides(&self, q: &RepoPath, is_dir: bool) -> bool {
        let abs = worktree::abs(&self.root, q.as_bytes());
        let mut above: Vec<&RepoPath> = q.ancestors().collect();
        above.push(RepoPath::root());
        for dir in above {
            let Some(g) = self.matcher(dir) else { continue };
            match g.matched(&abs, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }

    fn matcher(&self, dir: &RepoPath) -> Option<Arc<Gitignore>> {
        let mut dirs = self.dirs.lock().expect("no panics while held");
        dirs.entry(dir.as_bytes().to_vec())
            .or_insert_with(|| {
                let abs = worktree::abs(&self.root, dir.as_bytes());
                let mut b = GitignoreBuilder::new(&abs);
                for name in [".gitignore", IGNORE_FILE] {
                    if abs.join(name).is_file() {
                        b.add(abs.join(name));
                    }
                }
                b.build().ok().filter(|g| !g.is_empty()).map(Arc::new)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_each_directory_apply_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        std::fs::write(root.join(".gitignore"), "*.tmp\nbuild/\n").unwrap();
        std::fs::write(root.join("sub/.cairnignore"), "!keep.tmp\n*.log\n").unwrap();
        let ig = Ignored::new(&root);
        let yes = |p: &str| ig.is_ignored(RepoPath::new(p.as_bytes()), false);
        assert!(yes("a.tmp"));
        assert!(yes("sub/deep/b.tmp"));
        assert!(!yes("sub/keep.tmp"), "a deeper file lets it back in");
        assert!(yes("sub/x.log"));
        assert!(!yes("x.log"), "sub's rules do not apply above it");
        assert!(yes("build/out.bin"), "below an ignored directory");
        assert!(!yes("a.txt"));
    }
}
