//! Text renderings of a list of changes, shared by `diff`, `show` (and `log`): the size
//! table, `--name-status`, `--name-only`, `--stat` and patches. Each takes a slice of
//! changes, so any command that has one can print it the same way.

use std::io::{Result, Write};

use cairn::diff::{ChangeKind, ChangedPath};
use cairn::patch::{Content, FilePatch, Hunk};
use cairn::repo_path::RepoPath;
use indicatif::HumanBytes;

use super::quote::{write_name, Space};

/// Which rendering of a change list (a `u8` so it can pick a renderer at compile time).
pub(super) mod format {
    /// Status letter, sizes before and after, path (`diff`'s default).
    pub(crate) const SIZES: u8 = 0;
    /// `M\tpath`, `R087\told\tnew` (`show`'s default).
    pub(crate) const NAME_STATUS: u8 = 1;
    /// Paths only.
    pub(crate) const NAME_ONLY: u8 = 2;
    /// An aligned table of sizes and a summary line.
    pub(crate) const STAT: u8 = 3;
    /// Unified content diffs.
    pub(crate) const PATCH: u8 = 4;
}

/// Renders `changes` in `format` (one of [`format`]'s constants).
pub(super) fn list(format: u8, changes: &[ChangedPath], out: &mut dyn Write) -> Result<()> {
    match format {
        format::NAME_STATUS => name_status(out, changes),
        format::NAME_ONLY => name_only(out, changes),
        format::STAT => stat(out, changes),
        format::PATCH => patches(out, changes),
        _ => sizes(out, changes),
    }
}

fn path(out: &mut dyn Write, p: &RepoPath) -> Result<()> {
    write_name(out, p.as_bytes(), Space::Plain)
}

/// git's status letter with a rename's or copy's similarity: `R100`, `C075`, `M`.
fn letter(c: &ChangedPath) -> String {
    match c.similarity {
        Some(s) if matches!(c.change, ChangeKind::Renamed | ChangeKind::Copied) => {
            format!("{}{s:03}", c.change.letter())
        }
        _ => c.change.letter().to_string(),
    }
}

/// One `--name-status` line: `M\tpath`, or `R100\told\tnew` as git.
pub(super) fn name_status_line(out: &mut dyn Write, c: &ChangedPath) -> Result<()> {
    write!(out, "{}\t", letter(c))?;
    if let Some(old) = &c.old_path {
        path(out, old)?;
        write!(out, "\t")?;
    }
    path(out, &c.path)?;
    writeln!(out)
}

/// `--name-status`: one line per change.
pub(super) fn name_status(out: &mut dyn Write, changes: &[ChangedPath]) -> Result<()> {
    changes.iter().try_for_each(|c| name_status_line(out, c))
}

/// `--name-only`: the (new) path of each change.
pub(super) fn name_only(out: &mut dyn Write, changes: &[ChangedPath]) -> Result<()> {
    for c in changes {
        path(out, &c.path)?;
        writeln!(out)?;
    }
    Ok(())
}

fn size(s: Option<u64>) -> String {
    s.map_or("-".into(), |n| n.to_string())
}

/// The size table: letter, bytes before and after, path (`old -> new` for a rename).
pub(super) fn sizes(out: &mut dyn Write, changes: &[ChangedPath]) -> Result<()> {
    for c in changes {
        write!(
            out,
            "{} {:>12} -> {:<12} ",
            c.change.letter(),
            size(c.old_size),
            size(c.new_size)
        )?;
        if let Some(old) = &c.old_path {
            path(out, old)?;
            write!(out, " -> ")?;
        }
        path(out, &c.path)?;
        writeln!(out)?;
    }
    Ok(())
}

/// A change's name as `--stat` shows it: `path`, or `old => new` for a rename or copy.
fn stat_name(c: &ChangedPath) -> Vec<u8> {
    let mut name = Vec::new();
    if let Some(old) = &c.old_path {
        // Writing to a Vec cannot fail.
        let _ = write_name(&mut name, old.as_bytes(), Space::Plain);
        name.extend_from_slice(b" => ");
    }
    let _ = write_name(&mut name, c.path.as_bytes(), Space::Plain);
    name
}

fn human(s: Option<u64>) -> String {
    s.map_or("-".into(), |n| HumanBytes(n).to_string())
}

/// `--stat`: names aligned on `|`, human sizes before and after, and a summary line.
pub(super) fn stat(out: &mut dyn Write, changes: &[ChangedPath]) -> Result<()> {
    let names: Vec<Vec<u8>> = changes.iter().map(stat_name).collect();
    let width = names.iter().map(|n| display_width(n)).max().unwrap_or(0);
    let olds: Vec<String> = changes.iter().map(|c| human(c.old_size)).collect();
    let old_width = olds.iter().map(String::len).max().unwrap_or(0);
    let (mut before, mut after) = (0u64, 0u64);
    for ((c, name), old) in changes.iter().zip(&names).zip(&olds) {
        out.write_all(b" ")?;
        out.write_all(name)?;
        let pad = width - display_width(name);
        writeln!(
            out,
            "{:pad$} | {old:>old_width$} -> {}",
            "",
            human(c.new_size)
        )?;
        before += c.old_size.unwrap_or(0);
        after += c.new_size.unwrap_or(0);
    }
    writeln!(
        out,
        " {} changed, {} -> {}",
        super::render::n(changes.len(), "file"),
        HumanBytes(before),
        HumanBytes(after)
    )
}

/// Characters, not bytes, so names with accents align (quoted names are ASCII anyway).
fn display_width(b: &[u8]) -> usize {
    String::from_utf8_lossy(b).chars().count()
}

/// Every change's patch, in order; a change without one (not asked for) prints its header.
pub(super) fn patches(out: &mut dyn Write, changes: &[ChangedPath]) -> Result<()> {
    changes.iter().try_for_each(|c| patch(out, c))
}

/// `prefix` and the path, quoted as one name as git does (`"a/odd\tname"`).
fn prefixed(out: &mut dyn Write, prefix: &str, p: &RepoPath) -> Result<()> {
    write_name(
        out,
        &[prefix.as_bytes(), p.as_bytes()].concat(),
        Space::Plain,
    )
}

/// One file's patch, in git's format with a `diff --cairn` first line.
pub(super) fn patch(out: &mut dyn Write, c: &ChangedPath) -> Result<()> {
    let old = c.old_path.as_deref().unwrap_or(&c.path);
    write!(out, "diff --cairn ")?;
    prefixed(out, "a/", old)?;
    write!(out, " ")?;
    prefixed(out, "b/", &c.path)?;
    writeln!(out)?;
    let Some(p) = &c.patch else { return Ok(()) };
    header(out, c, p, old)?;
    let side = |out: &mut dyn Write, prefix: &str, present: bool, p: &RepoPath| {
        if present {
            prefixed(out, prefix, p)
        } else {
            write!(out, "/dev/null")
        }
    };
    let (has_old, has_new) = (p.old_id.is_some(), p.new_id.is_some());
    match &p.content {
        Content::Same => Ok(()),
        Content::Binary | Content::TooLarge { .. } => {
            let what = if matches!(p.content, Content::Binary) {
                "Binary files"
            } else {
                "Files"
            };
            write!(out, "{what} ")?;
            side(out, "a/", has_old, old)?;
            write!(out, " and ")?;
            side(out, "b/", has_new, &c.path)?;
            match p.content {
                Content::TooLarge { max_bytes } => writeln!(
                    out,
                    " differ (larger than {}: raise --max-patch-bytes to see the lines)",
                    HumanBytes(max_bytes)
                ),
                _ => writeln!(out, " differ"),
            }
        }
        Content::Text { hunks, rows } => {
            if hunks.is_empty() {
                return Ok(());
            }
            write!(out, "--- ")?;
            side(out, "a/", has_old, old)?;
            write!(out, "\n+++ ")?;
            side(out, "b/", has_new, &c.path)?;
            writeln!(out)?;
            hunks.iter().try_for_each(|h| hunk(out, h))?;
            // After the hunks, where patch tools skip text they do not know.
            if let Some(r) = rows {
                let ext = if c.path.as_bytes().to_ascii_lowercase().ends_with(b".tsv") {
                    "tsv"
                } else {
                    "csv"
                };
                let rows = |n: u32| if n == 1 { "row" } else { "rows" };
                writeln!(
                    out,
                    "# {ext}: +{} {}, -{} {}",
                    r.added,
                    rows(r.added),
                    r.removed,
                    rows(r.removed)
                )?;
            }
            Ok(())
        }
    }
}

/// git's extended header lines: modes, similarity and rename or copy source, ids.
fn header(out: &mut dyn Write, c: &ChangedPath, p: &FilePatch, old: &RepoPath) -> Result<()> {
    match (&p.old_mode, &p.new_mode) {
        (None, Some(m)) => writeln!(out, "new file mode {m}")?,
        (Some(m), None) => writeln!(out, "deleted file mode {m}")?,
        (Some(a), Some(b)) if a != b => writeln!(out, "old mode {a}\nnew mode {b}")?,
        _ => {}
    }
    if let (Some(s), Some(_)) = (c.similarity, &c.old_path) {
        let word = if c.change == ChangeKind::Copied {
            "copy"
        } else {
            "rename"
        };
        writeln!(out, "similarity index {s}%")?;
        write!(out, "{word} from ")?;
        path(out, old)?;
        write!(out, "\n{word} to ")?;
        path(out, &c.path)?;
        writeln!(out)?;
    }
    if p.old_id != p.new_id {
        let short = |id: &Option<cairn::ObjectId>| id.map_or("000000000000".into(), |i| i.short());
        write!(out, "index {}..{}", short(&p.old_id), short(&p.new_id))?;
        match (&p.old_mode, &p.new_mode) {
            (Some(a), Some(b)) if a == b => writeln!(out, " {a}")?,
            _ => writeln!(out)?,
        }
    }
    Ok(())
}

fn hunk(out: &mut dyn Write, h: &Hunk) -> Result<()> {
    writeln!(
        out,
        "@@ -{} +{} @@",
        range(h.old_start, h.old_lines),
        range(h.new_start, h.new_lines)
    )?;
    for l in &h.lines {
        write!(out, "{}", l.op)?;
        out.write_all(&l.text)?;
        writeln!(out)?;
        if l.no_newline {
            writeln!(out, "\\ No newline at end of file")?;
        }
    }
    Ok(())
}

/// git writes a one-line range without its count: `-3` rather than `-3,1`.
fn range(start: u32, lines: u32) -> String {
    if lines == 1 {
        start.to_string()
    } else {
        format!("{start},{lines}")
    }
}
