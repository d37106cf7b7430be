//! Content diffs: unified line diffs of two versions of a file, computed with `imara-diff`
//! (the histogram algorithm, as git's `--histogram`, with its slider heuristic).
//!
//! Content comes from the store (layers and the index) or from the worktree file, which is
//! read once and checked against the id it was hashed to: a file that changed since then is
//! an error ("unstable"), never a diff of bytes the change list did not describe. Content
//! with a NUL byte in its first 8,000 bytes is binary (git's rule), and a side larger than
//! the cap is not read at all.

use std::path::Path;

use imara_diff::{Algorithm, Diff, InternedInput};
use rayon::prelude::*;
use serde::{Serialize, Serializer};

use crate::diff::{Change, ChangeKind, ChangedPath, Side};
use crate::error::{Error, IoContext, Result};
use crate::hash::{Domain, ObjectId};
use crate::object::{ChunkRef, EntryKind, FileObject};
use crate::read::ChunkCache;
use crate::renames::ChunkLists;
use crate::repo::Repository;
use crate::worktree;

/// Lines of context around each change, as git's `-U` (3 by default).
pub const DEFAULT_CONTEXT: u32 = 3;
/// Sides larger than this are not diffed (`--max-patch-bytes` raises it): 16 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 20;
/// How many leading bytes are searched for a NUL to call content binary (git's number).
const BINARY_PROBE: usize = 8000;

/// How patches are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchOptions {
    /// Lines of context around each change.
    pub context: u32,
    /// Sides larger than this many bytes are reported as too large instead of diffed.
    pub max_bytes: u64,
}

impl Default for PatchOptions {
    fn default() -> PatchOptions {
        PatchOptions {
            context: DEFAULT_CONTEXT,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// The content diff of one changed path.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FilePatch {
    /// git's mode before (`100644`, `100755`, `120000` for a symlink); absent when added.
    pub old_mode: Option<String>,
    /// git's mode after; absent when deleted.
    pub new_mode: Option<String>,
    /// The file id before; absent when added.
    pub old_id: Option<ObjectId>,
    /// The file id after; absent when deleted.
    pub new_id: Option<ObjectId>,
    /// What the content diff found.
    pub content: Content,
}

/// The content part of a patch.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// The content is the same on both sides (a pure rename or mode change).
    Same,
    /// A line diff.
    Text {
        /// The hunks, in file order.
        hunks: Vec<Hunk>,
        /// For `.csv` and `.tsv` files: rows added and removed (lines, header included).
        #[serde(skip_serializing_if = "Option::is_none")]
        rows: Option<RowCounts>,
    },
    /// A NUL byte in the first 8,000 bytes of either side.
    Binary,
    /// A side is larger than the cap: not read.
    TooLarge {
        /// The cap, in bytes.
        max_bytes: u64,
    },
}

/// Rows added and removed in a CSV or TSV file.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct RowCounts {
    /// Lines only in the new version.
    pub added: u32,
    /// Lines only in the old version.
    pub removed: u32,
}

/// One hunk: `@@ -old_start,old_lines +new_start,new_lines @@` and its lines.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Hunk {
    /// First old line shown (1-based; the line before, 0 at the start, when none is).
    pub old_start: u32,
    /// Old lines shown.
    pub old_lines: u32,
    /// First new line shown, as `old_start`.
    pub new_start: u32,
    /// New lines shown.
    pub new_lines: u32,
    /// Context, removed and added lines.
    pub lines: Vec<Line>,
}

/// One line of a hunk.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Line {
    /// `' '` context, `'-'` removed, `'+'` added.
    pub op: char,
    /// The line's bytes without its newline (JSON: as UTF-8, invalid bytes replaced).
    #[serde(serialize_with = "lossy")]
    #[schemars(with = "String")]
    pub text: Vec<u8>,
    /// The line is the last of its file and has no newline after it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_newline: bool,
}

fn lossy<S: Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

/// git's octal mode of a side: `100644`, `100755`, `120000`.
pub fn git_mode(s: &Side) -> String {
    match s.kind {
        EntryKind::Symlink => "120000".into(),
        _ if s.mode & 0o111 != 0 => "100755".into(),
        _ => "100644".into(),
    }
}

/// Where the new side's content is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewSide {
    /// The store (a layer or the index).
    Store,
    /// The worktree file at the change's path.
    Worktree,
}

/// The changes as operations report them, each with its patch when `opts` asks for one.
/// Patches are made in parallel; any error (a missing chunk, a worktree file that changed)
/// fails the whole call.
pub fn changed_paths(
    repo: &Repository,
    changes: Vec<Change>,
    opts: Option<&PatchOptions>,
    lists: &dyn ChunkLists,
    new_side: NewSide,
) -> Result<Vec<ChangedPath>> {
    let Some(opts) = opts else {
        return Ok(changes.into_iter().map(ChangedPath::from).collect());
    };
    let cache = ChunkCache::new(64 << 20);
    let patches: Vec<FilePatch> = changes
        .par_iter()
        .map(|c| file_patch(repo, &cache, lists, c, opts, new_side))
        .collect::<Result<_>>()?;
    Ok(changes
        .into_iter()
        .zip(patches)
        .map(|(c, p)| ChangedPath {
            patch: Some(p),
            ..ChangedPath::from(c)
        })
        .collect())
}

/// The patch of one change.
pub fn file_patch(
    repo: &Repository,
    cache: &ChunkCache,
    lists: &dyn ChunkLists,
    c: &Change,
    opts: &PatchOptions,
    new_side: NewSide,
) -> Result<FilePatch> {
    let content = if c.old.map(|s| s.id) == c.new.map(|s| s.id) {
        Content::Same
    } else {
        let old = match &c.old {
            Some(s) => stored(repo, cache, lists, s, opts.max_bytes)?,
            None => Some(Vec::new()),
        };
        let new = match (&c.new, new_side, c.kind) {
            (None, _, _) => Some(Vec::new()),
            (Some(s), NewSide::Worktree, k) if k != ChangeKind::Deleted => from_worktree(
                repo,
                &worktree::abs(repo.root(), c.path.as_bytes()),
                s,
                opts.max_bytes,
            )?,
            (Some(s), _, _) => stored(repo, cache, lists, s, opts.max_bytes)?,
        };
        match (old, new) {
            (Some(a), Some(b)) => text_or_binary(&a, &b, opts.context, is_table(c)),
            _ => Content::TooLarge {
                max_bytes: opts.max_bytes,
            },
        }
    };
    Ok(FilePatch {
        old_mode: c.old.as_ref().map(git_mode),
        new_mode: c.new.as_ref().map(git_mode),
        old_id: c.old.map(|s| s.id),
        new_id: c.new.map(|s| s.id),
        content,
    })
}

fn is_table(c: &Change) -> bool {
    let name = c.path.file_name().to_ascii_lowercase();
    name.ends_with(b".csv") || name.ends_with(b".tsv")
}

/// A stored file's content, or `None` when it is larger than `max`.
fn stored(
    repo: &Repository,
    cache: &ChunkCache,
    lists: &dyn ChunkLists,
    s: &Side,
    max: u64,
) -> Result<Option<Vec<u8>>> {
    let chunks = lists.chunks(&s.id)?;
    let obj = FileObject { chunks };
    if obj.size() > max {
        return Ok(None);
    }
    crate::read::read_small(repo, cache, &obj).map(Some)
}

/// The worktree's content at `path` (a symlink's target), checked against the id `s` it
/// was hashed to; `None` when it is larger than `max`.
fn from_worktree(repo: &Repository, path: &Path, s: &Side, max: u64) -> Result<Option<Vec<u8>>> {
    let meta = std::fs::symlink_metadata(path).ctx("could not stat file", path)?;
    if meta.len() > max && s.kind != EntryKind::Symlink {
        return Ok(None);
    }
    let data = if meta.file_type().is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        let t = std::fs::read_link(path).ctx("could not read symlink", path)?;
        t.as_os_str().as_bytes().to_vec()
    } else {
        read_no_follow(path, max)?
    };
    if content_id(repo, &data) != s.id {
        return Err(Error::Unstable {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(data))
}

/// Reads a regular file without following a symlink put in its place, at most `max + 1`
/// bytes (a file that grew past the cap then fails the id check).
fn read_no_follow(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::Unstable {
                path: path.to_path_buf(),
            },
            _ => Error::io("could not open file", path)(e),
        })?;
    let mut data = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .ctx("could not read file", path)?;
    Ok(data)
}

/// The file id `data` has in this repository: its chunks' merkle root.
pub fn content_id(repo: &Repository, data: &[u8]) -> ObjectId {
    let algo = repo.algo();
    let chunks = repo
        .chunker()
        .cuts(data)
        .into_iter()
        .map(|r| ChunkRef {
            len: r.len() as u32,
            id: algo.hash(Domain::Chunk, &data[r]),
        })
        .collect();
    FileObject { chunks }.id(algo)
}

fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(BINARY_PROBE)].contains(&0)
}

/// The line diff of `old` and `new`, or binary.
pub fn text_or_binary(old: &[u8], new: &[u8], context: u32, table: bool) -> Content {
    if is_binary(old) || is_binary(new) {
        return Content::Binary;
    }
    let input = InternedInput::new(old, new);
    let mut diff = Diff::compute(Algorithm::Histogram, &input);
    diff.postprocess_lines(&input);
    let rows = table.then(|| RowCounts {
        added: diff.count_additions(),
        removed: diff.count_removals(),
    });
    let hunks = hunks(
        &diff,
        &input,
        context,
        !old.ends_with(b"\n"),
        !new.ends_with(b"\n"),
    );
    Content::Text { hunks, rows }
}

/// Groups the diff's changes into hunks with `context` lines around them, merging changes
/// whose contexts touch, as git does.
fn hunks(
    diff: &Diff,
    input: &InternedInput<&[u8]>,
    context: u32,
    old_open: bool,
    new_open: bool,
) -> Vec<Hunk> {
    let changes: Vec<imara_diff::Hunk> = diff.hunks().collect();
    let (n_old, n_new) = (input.before.len() as u32, input.after.len() as u32);
    let line = |op: char, tok: imara_diff::Token, last: bool| Line {
        op,
        text: strip_newline(input.interner[tok]).to_vec(),
        no_newline: last,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < changes.len() {
        let mut j = i;
        while j + 1 < changes.len()
            && changes[j + 1].before.start - changes[j].before.end <= 2 * context
        {
            j += 1;
        }
        let lead = changes[i].before.start.min(context);
        let (b0, a0) = (
            changes[i].before.start - lead,
            changes[i].after.start - lead,
        );
        let tail = (n_old - changes[j].before.end).min(context);
        let (b1, a1) = (changes[j].before.end + tail, changes[j].after.end + tail);
        let mut lines = Vec::new();
        let mut pos = b0;
        let ctx_line = |p: u32| {
            line(
                ' ',
                input.before[p as usize],
                old_open && new_open && p + 1 == n_old,
            )
        };
        for h in &changes[i..=j] {
            lines.extend((pos..h.before.start).map(ctx_line));
            lines.extend(
                h.before
                    .clone()
                    .map(|p| line('-', input.before[p as usize], old_open && p + 1 == n_old)),
            );
            lines.extend(
                h.after
                    .clone()
                    .map(|p| line('+', input.after[p as usize], new_open && p + 1 == n_new)),
            );
            pos = h.before.end;
        }
        lines.extend((pos..b1).map(ctx_line));
        out.push(Hunk {
            old_start: if b1 > b0 { b0 + 1 } else { b0 },
            old_lines: b1 - b0,
            new_start: if a1 > a0 { a0 + 1 } else { a0 },
            new_lines: a1 - a0,
            lines,
        });
        i = j + 1;
    }
    out
}

fn strip_newline(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\n").unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(c: &Content) -> String {
        let Content::Text { hunks, .. } = c else {
            return format!("{c:?}");
        };
        let mut s = String::new();
        for h in hunks {
            s += &format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_lines, h.new_start, h.new_lines
            );
            for l in &h.lines {
                s += &format!("{}{}\n", l.op, String::from_utf8_lossy(&l.text));
                if l.no_newline {
                    s += "\\ No newline at end of file\n";
                }
            }
        }
        s
    }

    #[test]
    fn one_change_in_the_middle_has_three_lines_of_context() {
        let old = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = b"1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            render(&text_or_binary(old, new, 3, false)),
            "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_are_separate_hunks_and_near_ones_merge() {
        let old: Vec<u8> = (1..=20)
            .flat_map(|n| format!("{n}\n").into_bytes())
            .collect();
        let new = String::from_utf8(old.clone())
            .unwrap()
            .replace("2\n", "two\n")
            .replace("19\n", "nineteen\n");
        let text = render(&text_or_binary(&old, new.as_bytes(), 3, false));
        assert_eq!(text.matches("@@ -").count(), 2, "{text}");
        let merged = render(&text_or_binary(&old, new.as_bytes(), 8, false));
        assert_eq!(merged.matches("@@ -").count(), 1, "{merged}");
    }

    #[test]
    fn added_deleted_empty_and_no_newline_as_git() {
        assert_eq!(
            render(&text_or_binary(b"", b"a\nb\n", 3, false)),
            "@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        assert_eq!(
            render(&text_or_binary(b"a\n", b"", 3, false)),
            "@@ -1,1 +0,0 @@\n-a\n"
        );
        assert_eq!(render(&text_or_binary(b"", b"", 3, false)), "");
        assert_eq!(
            render(&text_or_binary(b"a\nb", b"a\nc", 3, false)),
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
        );
        assert_eq!(
            render(&text_or_binary(b"a\nb", b"a\nb\n", 3, false)),
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
        );
    }

    #[test]
    fn nul_means_binary_and_tables_count_rows() {
        assert!(matches!(
            text_or_binary(b"a\0b", b"a", 3, false),
            Content::Binary
        ));
        let Content::Text { rows, .. } = text_or_binary(b"h\n1\n2\n", b"h\n1\n3\n4\n", 3, true)
        else {
            panic!("text");
        };
        let rows = rows.unwrap();
        assert_eq!((rows.added, rows.removed), (2, 1));
    }
}
