//! Comparing trees. Subtrees with the same id on both sides are skipped, so the cost follows
//! the size of the change, not of the repository.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::tree::MAX_DEPTH;
use crate::object::{EntryKind, Tree, TreeEntry};
use crate::repo::Repository;
use crate::repo_path::{RepoPath, RepoPathBuf};

/// How one path differs between two trees. Directories are never reported, only the files and
/// symlinks below them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// In the new tree only (or a directory there replaced it on the old side).
    Added,
    /// A file or symlink on both sides whose content id or mode differs.
    Modified,
    /// In the old tree only (or a directory replaced it on the new side).
    Deleted,
    /// A file became a symlink or the reverse.
    TypeChange,
    /// Removed at `old_path` and added here with the same or similar content.
    Renamed,
    /// Added here with the same or similar content as `old_path`, which is still there.
    Copied,
}

impl ChangeKind {
    /// The letter of git's short formats.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
            ChangeKind::TypeChange => 'T',
            ChangeKind::Renamed => 'R',
            ChangeKind::Copied => 'C',
        }
    }
}

/// One side of a change: what a tree entry (or index entry) held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// The content's file id.
    pub id: ObjectId,
    /// Permission bits (0o777 for a symlink).
    pub mode: u32,
    /// File or symlink.
    pub kind: EntryKind,
}

impl Side {
    fn of(e: &TreeEntry) -> Side {
        Side {
            id: e.id,
            mode: e.mode,
            kind: e.kind,
        }
    }
}

/// One file-level change between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file's path from the worktree root (the new path of a rename or copy).
    pub path: RepoPathBuf,
    /// How it changed.
    pub kind: ChangeKind,
    /// Size before (`None` when added) and after (`None` when deleted).
    pub old_size: Option<u64>,
    /// Size after, in bytes; `None` when deleted.
    pub new_size: Option<u64>,
    /// Where a renamed or copied file came from.
    pub old_path: Option<RepoPathBuf>,
    /// How much of a renamed or copied file's content is shared with its source, in percent.
    pub similarity: Option<u8>,
    /// The entry before; `None` when added.
    pub old: Option<Side>,
    /// The entry after; `None` when deleted.
    pub new: Option<Side>,
}

impl Change {
    /// The path the change had before: the source of a rename or copy, else `path`.
    pub fn source_path(&self) -> &RepoPath {
        self.old_path.as_deref().unwrap_or(&self.path)
    }
}

/// A change as the operations report it (`show`, `diff`): the path in its serialised form.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ChangedPath {
    /// The file's path from the worktree root (the new path of a rename or copy).
    pub path: RepoPathBuf,
    /// How it changed.
    pub change: ChangeKind,
    /// Size before, in bytes; `None` when added.
    pub old_size: Option<u64>,
    /// Size after, in bytes; `None` when deleted.
    pub new_size: Option<u64>,
    /// Where a renamed or copied file came from; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<RepoPathBuf>,
    /// Shared content of a rename or copy with its source, in percent; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<u8>,
    /// The content diff, when one was asked for (`-p`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<crate::patch::FilePatch>,
}

impl From<Change> for ChangedPath {
    fn from(c: Change) -> ChangedPath {
        ChangedPath {
            path: c.path,
            change: c.kind,
            old_size: c.old_size,
            new_size: c.new_size,
            old_path: c.old_path,
            similarity: c.similarity,
            patch: None,
        }
    }
}

/// Where trees come from: the store, or trees built in memory first.
pub trait TreeSource {
    /// The tree `id`: [`Error::Corrupt`] or [`Error::MissingObject`] when it cannot be read.
    fn tree(&self, id: &ObjectId) -> Result<Tree>;
}

impl TreeSource for Repository {
    fn tree(&self, id: &ObjectId) -> Result<Tree> {
        self.read_tree(id)
    }
}

/// Trees built in memory, falling back to the repository.
pub struct Overlay<'a> {
    /// Trees built in memory, by id, encoded as stored, not yet in the store.
    pub trees: &'a HashMap<ObjectId, Vec<u8>>,
    /// Where every other tree is read from.
    pub repo: &'a Repository,
}

impl TreeSource for Overlay<'_> {
    fn tree(&self, id: &ObjectId) -> Result<Tree> {
        match self.trees.get(id) {
            // Encoded here from entries already checked: a failure is a bug, not damage.
            Some(t) => Tree::decode(t).map_err(|why| Error::Corrupt {
                what: "tree built in memory",
                path: id.to_hex().into(),
                detail: why,
            }),
            None => self.repo.read_tree(id),
        }
    }
}

/// The file-level changes from tree `a` to tree `b` (`None`: no tree), sorted by path.
pub fn diff_trees(
    src: &dyn TreeSource,
    a: Option<ObjectId>,
    b: Option<ObjectId>,
) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    diff_each(src, a, b, &mut |c| out.push(c))?;
    out.sort_unstable_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}

/// Hands each file-level change from tree `a` to tree `b` to `out` as the walk finds it,
/// in no set order, and keeps none: a commit of a million new files only counts them, where
/// the list of changes would take more memory than the staging index.
pub fn diff_each(
    src: &dyn TreeSource,
    a: Option<ObjectId>,
    b: Option<ObjectId>,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    diff_dir(src, a, b, RepoPath::root(), 0, out)
}

fn diff_dir(
    src: &dyn TreeSource,
    a: Option<ObjectId>,
    b: Option<ObjectId>,
    prefix: &RepoPath,
    depth: usize,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    check_depth(depth, prefix)?;
    let ta = a.map(|id| src.tree(&id)).transpose()?.unwrap_or_default();
    let tb = b.map(|id| src.tree(&id)).transpose()?.unwrap_or_default();
    let (mut i, mut j) = (0, 0);
    while i < ta.entries.len() || j < tb.entries.len() {
        let ea = ta.entries.get(i);
        let eb = tb.entries.get(j);
        match (ea, eb) {
            (Some(x), Some(y)) if x.name == y.name => {
                diff_entry(src, x, y, &prefix.join(&x.name), depth, out)?;
                i += 1;
                j += 1;
            }
            (Some(x), y) if y.is_none_or(|y| x.name < y.name) => {
                let path = prefix.join(&x.name);
                one_side(src, x, &path, depth, ChangeKind::Deleted, out)?;
                i += 1;
            }
            (_, Some(y)) => {
                let path = prefix.join(&y.name);
                one_side(src, y, &path, depth, ChangeKind::Added, out)?;
                j += 1;
            }
            (_, None) => unreachable!("loop condition"),
        }
    }
    Ok(())
}

fn diff_entry(
    src: &dyn TreeSource,
    x: &TreeEntry,
    y: &TreeEntry,
    path: &RepoPath,
    depth: usize,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    let dir_x = x.kind == EntryKind::Dir;
    let dir_y = y.kind == EntryKind::Dir;
    match (dir_x, dir_y) {
        (true, true) => diff_dir(src, Some(x.id), Some(y.id), path, depth + 1, out),
        (false, false) => {
            push_modified(x, y, path, out);
            Ok(())
        }
        _ => {
            one_side(src, x, path, depth, ChangeKind::Deleted, out)?;
            one_side(src, y, path, depth, ChangeKind::Added, out)
        }
    }
}

/// Reports every file at or below an entry present on one side only. `depth` is the number
/// of directories above the entry.
fn one_side(
    src: &dyn TreeSource,
    e: &TreeEntry,
    path: &RepoPath,
    depth: usize,
    kind: ChangeKind,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    if e.kind != EntryKind::Dir {
        push_one_side(e, path, kind, out);
        return Ok(());
    }
    check_depth(depth + 1, path)?;
    for child in src.tree(&e.id)?.entries {
        one_side(src, &child, &path.join(&child.name), depth + 1, kind, out)?;
    }
    Ok(())
}

// The two leaf pushes are kept out of the recursive functions (never inlined), so the
// `Change` they build takes no room in the frames of a walk that may be 1,024 directories
// deep on a worker thread's stack.

/// Records a file or symlink on both sides, if its kind, content or mode differs.
#[inline(never)]
fn push_modified(x: &TreeEntry, y: &TreeEntry, path: &RepoPath, out: &mut dyn FnMut(Change)) {
    let kind = if x.kind != y.kind {
        ChangeKind::TypeChange
    } else if x.id != y.id || x.mode != y.mode {
        ChangeKind::Modified
    } else {
        return;
    };
    out(Change {
        path: path.to_buf(),
        kind,
        old_size: Some(x.size),
        new_size: Some(y.size),
        old_path: None,
        similarity: None,
        old: Some(Side::of(x)),
        new: Some(Side::of(y)),
    });
}

/// Records a file or symlink present on one side only.
#[inline(never)]
fn push_one_side(e: &TreeEntry, path: &RepoPath, kind: ChangeKind, out: &mut dyn FnMut(Change)) {
    let (old_size, new_size, old, new) = match kind {
        ChangeKind::Deleted => (Some(e.size), None, Some(Side::of(e)), None),
        _ => (None, Some(e.size), None, Some(Side::of(e))),
    };
    out(Change {
        path: path.to_buf(),
        kind,
        old_size,
        new_size,
        old_path: None,
        similarity: None,
        old,
        new,
    });
}

/// Refuses a directory `depth` levels below the root once that passes
/// [`MAX_DEPTH`]: every recursive walk of trees calls this before it descends, so a hostile
/// chain of nested trees is an error, never a stack overflow.
pub fn check_depth(depth: usize, path: &RepoPath) -> Result<()> {
    if depth > MAX_DEPTH {
        let path = PathBuf::from(OsStr::from_bytes(path.as_bytes()));
        return Err(Error::too_deep(path));
    }
    Ok(())
}
