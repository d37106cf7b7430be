//! Text renderings of outcomes, for people. Paths are quoted as git quotes them (see
//! `quote`), so an odd name is one exact, unambiguous line.

use std::io::{Result, Write};

use cairn::decorate::LayerRefs;
use cairn::diff::{ChangeKind, ChangedPath};
use cairn::integrity::VerifyOutcome;
use cairn::object::EntryKind;
use cairn::ops::add::{AddOutcome, Staged};
use cairn::ops::cat::CatOutcome;
use cairn::ops::checkout::CheckoutOutcome;
use cairn::ops::commit::CommitOutcome;
use cairn::ops::config::ConfigOutcome;
use cairn::ops::diff::DiffOutcome;
use cairn::ops::forget::ForgetOutcome;
use cairn::ops::gc::GcOutcome;
use cairn::ops::init::InitOutcome;
use cairn::ops::line::LineOutcome;
use cairn::ops::ls::LsOutcome;
use cairn::ops::mv::MvOutcome;
use cairn::ops::pull::PullStatus;
use cairn::ops::reflog::ReflogOutcome;
use cairn::ops::remote::RemoteVerb;
use cairn::ops::reset::ResetOutcome;
use cairn::ops::restore::RestoreOutcome;
use cairn::ops::rm::RmOutcome;
use cairn::ops::show::ShowOutcome;
use cairn::ops::stats::StatsOutcome;
use cairn::ops::status::{PathChange, StatusOutcome};
use cairn::ops::tag::TagOutcome;
use cairn::ops::verify_proof::VerifyProofOutcome;
use cairn::repo_path::{RepoPath, RepoPathBuf};
use indicatif::HumanBytes;

use super::changes;
use super::log::{self, LogView};
use super::printer::Printer;
use super::quote::{write_name, Space};

/// `n` and the noun, singular for one: "1 file", "2 files", "3 directories".
pub(super) fn n(count: impl TryInto<u64>, noun: &str) -> String {
    let count: u64 = count.try_into().unwrap_or(u64::MAX);
    if count == 1 {
        return format!("1 {noun}");
    }
    match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{count} {stem}ies"),
        _ if noun.ends_with(['s', 'x']) || noun.ends_with("ch") => format!("{count} {noun}es"),
        _ => format!("{count} {noun}s"),
    }
}

fn path(out: &mut dyn Write, p: &RepoPath) -> Result<()> {
    write_name(out, p.as_bytes(), Space::Plain)
}

pub(super) fn init(o: &InitOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    writeln!(
        out,
        "initialised an empty cairn repository in {} ({}, chunks {}/{}/{})",
        o.path.display(),
        o.hash.name(),
        HumanBytes(u64::from(o.chunk_min)),
        HumanBytes(u64::from(o.chunk_avg)),
        HumanBytes(u64::from(o.chunk_max))
    )
}

pub(super) fn add(o: &AddOutcome, out: &mut dyn Write, p: &Printer) -> Result<()> {
    if o.dry_run || p.verbose > 0 {
        for s in &o.staged {
            let verb = if s.change == Staged::Removed {
                "remove"
            } else {
                "add"
            };
            write!(out, "{verb} '")?;
            path(out, &s.path)?;
            writeln!(out, "'")?;
        }
    }
    for s in &o.skipped {
        write!(out, "skipped '")?;
        path(out, &s.path)?;
        writeln!(out, "': {}", s.reason)?;
    }
    if o.dry_run {
        return Ok(());
    }
    writeln!(
        out,
        "staged {} new, {} modified, {} removed; read {} in {}, stored {} new ({} after compression)",
        o.counts.new,
        o.counts.modified,
        o.counts.removed,
        HumanBytes(o.bytes_read),
        n(o.files_read, "file"),
        HumanBytes(o.bytes_new),
        HumanBytes(o.bytes_stored)
    )?;
    if o.bytes_resumed > 0 {
        let resumed = HumanBytes(o.bytes_resumed);
        writeln!(
            out,
            "went on from an interrupted add: {resumed} of that was read then"
        )?;
    }
    Ok(())
}

pub(super) fn add_stdin(
    o: &cairn::ops::add_stdin::AddStdinOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    write!(out, "staged ")?;
    path(out, &o.path)?;
    writeln!(
        out,
        " from standard input ({}{}): {} of {} new, stored {} new ({} after compression)",
        HumanBytes(o.size),
        if o.replaced {
            ", replacing the staged content"
        } else {
            ""
        },
        o.chunks_new,
        n(o.chunks, "chunk"),
        HumanBytes(o.bytes_new),
        HumanBytes(o.bytes_stored)
    )
}

pub(super) fn rm(o: &RmOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for p in &o.removed {
        write!(out, "rm '")?;
        path(out, p)?;
        writeln!(out, "'")?;
    }
    Ok(())
}

pub(super) fn commit(o: &CommitOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let Some(layer) = o.layer.filter(|_| o.committed) else {
        // --skip-if-unchanged: HEAD's id on stdout, as a commit prints its layer's.
        if let Some(head) = o.layer {
            writeln!(out, "{head}")?;
        }
        eprintln!("nothing to commit, the staging area matches HEAD: no layer written");
        return Ok(());
    };
    writeln!(out, "{layer}")?;
    let c = &o.counts;
    eprintln!(
        "[{} {}] {} added, {} modified, {} deleted; {}, {}",
        o.line,
        layer.short(),
        c.added,
        c.modified,
        c.deleted,
        n(c.files, "file"),
        HumanBytes(c.bytes)
    );
    Ok(())
}

fn label(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "new file:   ",
        ChangeKind::Modified => "modified:   ",
        ChangeKind::Deleted => "deleted:    ",
        ChangeKind::TypeChange => "typechange: ",
        ChangeKind::Renamed => "renamed:    ",
        ChangeKind::Copied => "copied:     ",
    }
}

/// `status` as the text renderers see it: the outcome, and the current directory as a
/// repository path, which the long and short formats show paths relative to (as git).
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(super) struct StatusView<'a> {
    #[serde(flatten)]
    pub outcome: &'a StatusOutcome,
    #[serde(skip)]
    pub cwd: RepoPathBuf,
}

/// `p` relative to the directory `cwd` (both from the root): `../other.txt`, `./` for the
/// directory itself. A trailing `/` (an untracked directory) is kept.
pub(super) fn relative(p: &[u8], cwd: &[u8]) -> Vec<u8> {
    if cwd.is_empty() {
        return p.to_vec();
    }
    let slash = p.ends_with(b"/");
    let p = p.strip_suffix(b"/").unwrap_or(p);
    let a: Vec<&[u8]> = p.split(|b| *b == b'/').collect();
    let b: Vec<&[u8]> = cwd.split(|b| *b == b'/').collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<u8> = b"../".repeat(b.len() - common);
    out.extend_from_slice(&a[common..].join(&b'/'));
    if out.is_empty() {
        out.extend_from_slice(b"./");
    } else if slash && !out.ends_with(b"/") {
        out.push(b'/');
    }
    out
}

fn section(out: &mut dyn Write, title: &str, changes: &[PathChange], cwd: &[u8]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    writeln!(out, "{title}")?;
    for c in changes {
        write!(out, "\t{}", label(c.change))?;
        if let Some(old) = &c.old_path {
            write_name(out, &relative(old.as_bytes(), cwd), Space::Plain)?;
            write!(out, " -> ")?;
        }
        write_name(out, &relative(c.path.as_bytes(), cwd), Space::Plain)?;
        writeln!(out)?;
    }
    writeln!(out)
}

pub(super) fn status_long(v: &StatusView, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let (o, cwd) = (v.outcome, v.cwd.as_bytes());
    match (&o.line, &o.head) {
        (Some(line), Some(_)) => writeln!(out, "On line {line}")?,
        (Some(line), None) => writeln!(out, "On line {line}, no layers yet")?,
        (None, Some(h)) => writeln!(out, "HEAD detached at {}", h.short())?,
        (None, None) => {}
    }
    section(out, "Changes to be committed:", &o.staged, cwd)?;
    section(out, "Changes not staged for commit:", &o.unstaged, cwd)?;
    if !o.untracked.is_empty() {
        writeln!(out, "Untracked files:")?;
        for p in &o.untracked {
            write!(out, "\t")?;
            write_name(out, &relative(p.as_bytes(), cwd), Space::Plain)?;
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    if o.is_clean() {
        writeln!(out, "nothing to commit, worktree clean")?;
    }
    Ok(())
}

/// git's short format: X is the staged change, Y the unstaged one, `R  old -> new` for a
/// rename; names quoted as git's short status quotes them (spaces too) and relative to the
/// current directory.
pub(super) fn status_short(v: &StatusView, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let cwd = v.cwd.as_bytes();
    short_entries(v.outcome, &mut |x, y, p, old| {
        write!(out, "{x}{y} ")?;
        if let Some(old) = old {
            write_name(out, &relative(old.as_bytes(), cwd), Space::Quoted)?;
            write!(out, " -> ")?;
        }
        write_name(out, &relative(p.as_bytes(), cwd), Space::Quoted)?;
        writeln!(out)
    })
}

/// git's `-z` short format: names raw and from the root, each entry ended by NUL; a
/// rename is `R  new`, NUL, `old`, NUL.
pub(super) fn status_short_z(v: &StatusView, out: &mut dyn Write, _: &Printer) -> Result<()> {
    short_entries(v.outcome, &mut |x, y, p, old| {
        write!(out, "{x}{y} ")?;
        out.write_all(p.as_bytes())?;
        out.write_all(b"\0")?;
        if let Some(old) = old {
            out.write_all(old.as_bytes())?;
            out.write_all(b"\0")?;
        }
        Ok(())
    })
}

/// One short-format entry: the staged and unstaged letters, the path, a rename's source.
type ShortEntry<'a> = dyn FnMut(char, char, &RepoPath, Option<&RepoPath>) -> Result<()> + 'a;

/// Calls `entry` with each path's two letters (staged, unstaged) in path order, and the
/// staged rename's source, untracked paths last.
fn short_entries(o: &StatusOutcome, entry: &mut ShortEntry) -> Result<()> {
    let (mut i, mut j) = (0, 0);
    let (s, u) = (&o.staged, &o.unstaged);
    while i < s.len() || j < u.len() {
        let take_s = j >= u.len() || (i < s.len() && s[i].path <= u[j].path);
        let take_u = i >= s.len() || (j < u.len() && u[j].path <= s[i].path);
        let x = if take_s { s[i].change.letter() } else { ' ' };
        let y = if take_u { u[j].change.letter() } else { ' ' };
        let p = if take_s { &s[i].path } else { &u[j].path };
        let old = if take_s {
            s[i].old_path.as_deref()
        } else {
            None
        };
        entry(x, y, p, old)?;
        i += usize::from(take_s);
        j += usize::from(take_u);
    }
    for p in &o.untracked {
        entry('?', '?', p, None)?;
    }
    Ok(())
}

/// `log` in every text form: long (the default), `--oneline` or `--format`, each layer
/// followed by its changed paths when asked.
pub(super) fn log(v: &LogView, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let style = &v.style;
    for l in &v.outcome.layers {
        if let Some(pieces) = &style.format {
            log::write_formatted(out, pieces, l)?;
        } else if style.oneline {
            write!(out, "{}", l.id.short())?;
            decorations(out, &l.refs)?;
            writeln!(out, " {}", log::subject(&l.message))?;
        } else {
            write!(out, "layer {}", l.id)?;
            decorations(out, &l.refs)?;
            writeln!(out)?;
            header_body(out, &l.author, l.time_ns, &l.counts, &l.message)?;
        }
        if let Some(format) = style.changes {
            changes::list(format, l.changes.as_deref().unwrap_or_default(), out)?;
        }
        // The long form ends each layer with a blank line; its list is set off by another.
        if style.changes.is_some() && !style.oneline && style.format.is_none() {
            writeln!(out)?;
        }
    }
    Ok(())
}

/// ` (HEAD -> main, tag: v2)` after an id; nothing when no reference names the layer.
fn decorations(out: &mut dyn Write, r: &LayerRefs) -> Result<()> {
    if r.is_empty() {
        return Ok(());
    }
    write!(out, " ({})", r.describe())
}

/// Author, date, file counts and the indented message: what log and show print alike.
fn header_body(
    out: &mut dyn Write,
    author: &str,
    time_ns: i64,
    c: &cairn::object::LayerCounts,
    message: &str,
) -> Result<()> {
    writeln!(out, "Author: {author}")?;
    writeln!(out, "Date:   {}", utc(time_ns))?;
    writeln!(
        out,
        "Files:  {} ({}), {} added, {} modified, {} deleted",
        c.files,
        HumanBytes(c.bytes),
        c.added,
        c.modified,
        c.deleted
    )?;
    writeln!(out)?;
    for line in message.lines() {
        writeln!(out, "    {line}")?;
    }
    writeln!(out)
}

/// `show`: the layer, then its changes as `--name-status` lists them.
pub(super) fn show(o: &ShowOutcome, out: &mut dyn Write, p: &Printer) -> Result<()> {
    show_as::<{ changes::format::NAME_STATUS }>(o, out, p)
}

/// `show` with its changes in format `F` (one of `changes::format`).
pub(super) fn show_as<const F: u8>(
    o: &ShowOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    write!(out, "layer {}", o.id)?;
    decorations(out, &o.refs)?;
    writeln!(out)?;
    if let Some(p) = &o.parent {
        writeln!(out, "Parent: {p}")?;
    }
    writeln!(out, "Tree:   {}", o.tree)?;
    header_body(out, &o.author, o.time_ns, &o.counts, &o.message)?;
    changes::list(F, &o.changes, out)
}

/// One change as `--name-status` prints it (`M\tpath`, `R100\told\tnew`); kept for the
/// renderers of `log`.
#[allow(dead_code)]
fn changed_line(out: &mut dyn Write, c: &ChangedPath) -> Result<()> {
    changes::name_status_line(out, c)
}

pub(super) fn ls(o: &LsOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for e in &o.entries {
        path(out, &e.path)?;
        writeln!(out, "{}", if e.kind == EntryKind::Dir { "/" } else { "" })?;
    }
    Ok(())
}

pub(super) fn ls_long(o: &LsOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for e in &o.entries {
        let kind = match e.kind {
            EntryKind::File => "file",
            EntryKind::Dir => "dir ",
            EntryKind::Symlink => "link",
        };
        write!(
            out,
            "{kind} {:06o} {:>12} {} ",
            e.mode,
            e.size,
            e.id.short()
        )?;
        path(out, &e.path)?;
        writeln!(out, "{}", if e.kind == EntryKind::Dir { "/" } else { "" })?;
    }
    Ok(())
}

/// `diff` with its changes in format `F` (one of `changes::format`).
pub(super) fn diff_as<const F: u8>(
    o: &DiffOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    changes::list(F, &o.changes, out)
}

/// Default diff output: status letter, sizes before and after, path.
pub(super) fn diff_default(o: &DiffOutcome, out: &mut dyn Write, p: &Printer) -> Result<()> {
    diff_as::<{ changes::format::SIZES }>(o, out, p)
}

/// `diff --name-status`.
pub(super) fn diff_name_status(o: &DiffOutcome, out: &mut dyn Write, p: &Printer) -> Result<()> {
    diff_as::<{ changes::format::NAME_STATUS }>(o, out, p)
}

/// `diff --stat`: aligned names, human sizes before and after, and a summary line.
pub(super) fn diff_stat(o: &DiffOutcome, out: &mut dyn Write, p: &Printer) -> Result<()> {
    diff_as::<{ changes::format::STAT }>(o, out, p)
}

pub(super) fn checkout(o: &CheckoutOutcome, out: &mut dyn Write, p: &Printer) -> Result<()> {
    if p.verbose > 0 {
        for w in &o.written {
            write!(out, "write '")?;
            path(out, w)?;
            writeln!(out, "'")?;
        }
        for d in &o.deleted {
            write!(out, "delete '")?;
            path(out, d)?;
            writeln!(out, "'")?;
        }
    }
    let short = |id: Option<cairn::ObjectId>| id.map_or("no layer yet".into(), |i| i.short());
    if let Some(line) = &o.created_line {
        writeln!(out, "created line {line}")?;
    }
    if o.paths_only {
        writeln!(out, "paths taken from {}", short(o.layer))?;
    }
    match (&o.line, o.detached) {
        (_, true) => writeln!(out, "HEAD is now detached at {}", short(o.head))?,
        (Some(line), false) => writeln!(out, "on line {line} at {}", short(o.head))?,
        (None, false) => writeln!(out, "HEAD stays detached at {}", short(o.head))?,
    }
    writeln!(
        out,
        "{} written ({}), {} deleted",
        n(o.written.len(), "file"),
        HumanBytes(o.bytes),
        o.deleted.len()
    )
}

pub(super) fn restore(o: &RestoreOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    writeln!(
        out,
        "restored {}, {} and {} ({}) of {} into {}",
        n(o.files, "file"),
        n(o.symlinks, "symlink"),
        n(o.dirs, "directory"),
        HumanBytes(o.bytes),
        o.layer.short(),
        o.to.display()
    )
}

pub(super) fn tag(o: &TagOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    if let Some(t) = &o.created {
        writeln!(out, "tagged {} as {}", t.layer.short(), t.name)?;
    }
    if let Some(t) = &o.deleted {
        writeln!(out, "deleted tag {} (was {})", t.name, t.layer.short())?;
    }
    for t in &o.tags {
        writeln!(out, "{} {}", t.name, t.layer)?;
    }
    Ok(())
}

pub(super) fn mv(o: &MvOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let verb = if o.dry_run { "would move" } else { "moved" };
    for m in &o.moved {
        write!(out, "{verb} '")?;
        path(out, &m.from)?;
        write!(out, "' to '")?;
        path(out, &m.to)?;
        writeln!(out, "'")?;
    }
    Ok(())
}

pub(super) fn config(o: &ConfigOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for s in &o.settings {
        writeln!(out, "{}={}", s.key, s.value)?;
    }
    // A read prints the bare value, for scripts; a change prints nothing, as git's does.
    match (&o.value, o.changed) {
        (Some(v), false) => writeln!(out, "{v}"),
        _ => Ok(()),
    }
}

pub(super) fn line(o: &LineOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let short = |id: Option<cairn::ObjectId>| id.map_or("no layers yet".into(), |i| i.short());
    if let Some(l) = &o.created {
        writeln!(out, "created line {} at {}", l.name, short(l.layer))?;
    }
    if let Some(l) = &o.deleted {
        writeln!(out, "deleted line {} (was {})", l.name, short(l.layer))?;
    }
    if let (Some(l), Some(from)) = (&o.renamed, &o.renamed_from) {
        writeln!(out, "renamed line {from} to {}", l.name)?;
    }
    for l in &o.lines {
        let mark = if l.current { '*' } else { ' ' };
        writeln!(out, "{mark} {} {}", l.name, short(l.layer))?;
    }
    Ok(())
}

/// `cat --json`: the outcome's fields and the bytes in base64.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(super) struct CatJson<'a> {
    #[serde(flatten)]
    pub outcome: &'a CatOutcome,
    /// The bytes, in standard base64 with padding.
    pub content_base64: String,
}

/// A writer that refuses to grow past a cap, so `cat --json` of a huge file fails cleanly.
pub(super) struct Capped {
    pub data: Vec<u8>,
    cap: usize,
}

impl Capped {
    pub(super) fn new(cap: usize) -> Capped {
        Capped {
            data: Vec::new(),
            cap,
        }
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> Result<usize> {
        if self.data.len() + buf.len() > self.cap {
            return Err(std::io::Error::other(
                "more than 64 MiB: use --range, or cat without --json",
            ));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Standard base64 with padding.
pub(super) fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub(super) fn verify(o: &VerifyOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for name in &o.repaired {
        writeln!(out, "rebuilt the index of pack {name} from the pack")?;
    }
    for d in &o.damage {
        writeln!(out, "damaged: {}: {}", d.object, d.problem)?;
        for l in &d.layers {
            writeln!(out, "  in layer {l}")?;
        }
        for p in &d.paths {
            write!(out, "  at ")?;
            path(out, p)?;
            writeln!(out)?;
        }
    }
    let what = if o.bytes_checked > 0 {
        format!(", re-hashed {}", HumanBytes(o.bytes_checked))
    } else {
        String::new()
    };
    writeln!(
        out,
        "checked {} ({}{what}), {}, {}, {}, {}: {}",
        n(o.packs, "pack"),
        n(o.objects, "object"),
        n(o.layers, "layer"),
        n(o.trees, "tree"),
        n(o.files, "file"),
        n(o.chunks, "chunk"),
        if o.is_clean() {
            "no damage".to_string()
        } else {
            format!("{} damaged", n(o.damage.len(), "object"))
        }
    )
}

pub(super) fn reset(o: &ResetOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    if o.paths_only {
        for p in &o.unstaged {
            writeln!(out, "unstaged {}", p.display())?;
        }
        return Ok(());
    }
    let from = o.from.map_or("nothing".into(), |f| f.short());
    match (&o.line, o.to) {
        (Some(line), Some(to)) => writeln!(out, "line {line} moved from {from} to {}", to.short())?,
        (None, Some(to)) => writeln!(out, "HEAD moved from {from} to {}", to.short())?,
        (_, None) => {}
    }
    if o.hard {
        writeln!(
            out,
            "{} written, {} deleted",
            n(o.written, "file"),
            o.deleted
        )?;
    } else if !o.unstaged.is_empty() {
        for p in &o.unstaged {
            writeln!(out, "unstaged {}", p.display())?;
        }
    }
    Ok(())
}

/// git's `abcd1234abcd HEAD@{0}: commit: subject`, newest first.
pub(super) fn reflog(o: &ReflogOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for e in &o.entries {
        let id = e.new.map_or_else(|| "0".repeat(12), |id| id.short());
        writeln!(out, "{id} {}: {}", e.selector, e.message)?;
    }
    Ok(())
}

pub(super) fn gc(o: &GcOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let verb = if o.dry_run { "would remove" } else { "removed" };
    writeln!(
        out,
        "{verb} {}: {} deleted, {} rewritten, {} merged, {} kept, {}; {} freed",
        n(o.dead_objects, "unreferenced object"),
        n(o.packs_deleted, "pack"),
        o.packs_rewritten,
        o.packs_merged,
        o.packs_kept,
        n(o.orphan_files_removed, "orphan file"),
        HumanBytes(o.bytes_freed)
    )?;
    if o.layers_kept_by_reflog > 0 {
        writeln!(
            out,
            "kept {} that only recent reflog entries name (`cairn reflog` lists them; \
             --prune=now drops them)",
            n(o.layers_kept_by_reflog, "layer")
        )?;
    }
    if o.indexes_rebuilt > 0 {
        writeln!(
            out,
            "rebuilt {} from their packs",
            n(o.indexes_rebuilt, "damaged pack index")
        )?;
    }
    Ok(())
}

pub(super) fn stats(o: &StatsOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    writeln!(out, "layers:            {}", o.layers)?;
    writeln!(
        out,
        "files at HEAD:     {} ({})",
        o.head_files,
        HumanBytes(o.head_bytes)
    )?;
    writeln!(out, "logical bytes:     {}", HumanBytes(o.logical_bytes))?;
    writeln!(
        out,
        "chunks:            {} ({})",
        o.chunks,
        HumanBytes(o.chunk_bytes)
    )?;
    writeln!(
        out,
        "stored:            {} in {}",
        HumanBytes(o.pack_bytes),
        n(o.packs, "pack")
    )?;
    writeln!(out, "dedup ratio:       {:.2}", o.dedup_ratio)?;
    writeln!(out, "compression ratio: {:.2}", o.compression_ratio)?;
    writeln!(out, "chunk sizes:")?;
    for b in &o.chunk_sizes {
        writeln!(
            out,
            "  {:>10} - {:<10} {}",
            HumanBytes(b.from),
            HumanBytes(b.to),
            b.count
        )?;
    }
    Ok(())
}

/// What a proof established; nothing on stdout when it was rejected (the error is on
/// stderr).
pub(super) fn verify_proof(o: &VerifyProofOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let Some(v) = &o.proven else {
        return Ok(());
    };
    writeln!(out, "proof verified")?;
    writeln!(out, "layer:  {} ({})", v.layer, v.hash.name())?;
    let raw = cairn::proof::from_hex(&v.path_hex).unwrap_or_default();
    if raw.is_empty() {
        writeln!(out, "path:   / (the root directory)")?;
    } else {
        write!(out, "path:   ")?;
        path(out, RepoPath::new(&raw))?;
        writeln!(out)?;
    }
    let kind = match v.kind {
        cairn::proof::Kind::File => "file",
        cairn::proof::Kind::Dir => "directory",
        cairn::proof::Kind::Symlink => "symlink",
    };
    writeln!(out, "kind:   {kind}, mode {:o}", v.mode)?;
    writeln!(out, "size:   {} bytes", v.size)?;
    writeln!(out, "id:     {}", v.id)?;
    if let Some(r) = &v.range {
        match r.len {
            0 => writeln!(out, "bytes:  none (the file is empty)")?,
            n => writeln!(out, "bytes:  {}-{} ({n} bytes)", r.start, r.end - 1)?,
        }
        writeln!(out, "blake3: {} (plain BLAKE3 of the bytes)", r.blake3)?;
        writeln!(out, "sha256: {}", r.sha256)?;
    }
    if let Some(o) = &o.output {
        writeln!(out, "wrote the proven bytes to {}", o.display())?;
    }
    Ok(())
}

/// restic's forget table: the kept layers with their reasons, then the forgotten ones.
pub(super) fn forget(o: &ForgetOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let (keep, drop) = if o.dry_run {
        ("would keep", "would forget")
    } else {
        ("keep", "forget")
    };
    writeln!(
        out,
        "{keep} {} on line {}:",
        n(o.kept.len(), "layer"),
        o.line
    )?;
    for k in &o.kept {
        let why: Vec<&str> = k.reasons.iter().map(|r| r.text()).collect();
        let summary = k.message.lines().next().unwrap_or("");
        writeln!(
            out,
            "  {}  {}  {:<28}  {summary}",
            k.id.short(),
            utc(k.time_ns),
            why.join(", ")
        )?;
    }
    if !o.forgotten.is_empty() {
        writeln!(out, "{drop} {}:", n(o.forgotten.len(), "layer"))?;
    }
    for f in &o.forgotten {
        let summary = f.message.lines().next().unwrap_or("");
        writeln!(out, "  {}  {}  {summary}", f.id.short(), utc(f.time_ns))?;
    }
    for t in &o.tags_moved {
        writeln!(
            out,
            "tag {}: {} -> {}",
            t.name,
            t.old.short(),
            t.new.short()
        )?;
    }
    if o.forgotten.is_empty() {
        writeln!(out, "nothing to forget")?;
    } else if !o.dry_run {
        writeln!(
            out,
            "line {} now at {} (was {}); `cairn gc --prune=now` reclaims the forgotten \
             layers' data now, `cairn gc` after the reflog's grace period",
            o.line,
            o.new_tip.short(),
            o.old_tip.short()
        )?;
    }
    Ok(())
}

/// Formats nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn utc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// Who fetched what: packs, ranged chunks, bytes.
fn fetched(f: &cairn::remote::fetch::Fetched) -> String {
    let ranged = if f.ranged_chunks > 0 {
        format!(" and {} by range", n(f.ranged_chunks, "chunk"))
    } else {
        String::new()
    };
    format!(
        "fetched {}{ranged} ({})",
        n(f.packs, "pack"),
        HumanBytes(f.bytes)
    )
}

pub(super) fn remote(
    o: &cairn::ops::remote::RemoteOutcome,
    out: &mut dyn Write,
    p: &Printer,
) -> Result<()> {
    for r in &o.remotes {
        match o.action {
            RemoteVerb::List if p.verbose > 0 => {
                let ep = r.endpoint.as_deref().unwrap_or("-");
                let region = r.region.as_deref().unwrap_or("-");
                writeln!(out, "{}\t{}\tendpoint {ep}\tregion {region}", r.name, r.url)?;
            }
            RemoteVerb::List => writeln!(out, "{}\t{}", r.name, r.url)?,
            RemoteVerb::Added => writeln!(out, "added remote {} ({})", r.name, r.url)?,
            RemoteVerb::Removed => writeln!(out, "removed remote {} ({})", r.name, r.url)?,
        }
    }
    Ok(())
}

pub(super) fn push_many(
    o: &cairn::ops::push::PushManyOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    use cairn::ops::push::RefResult;
    if o.references.is_empty() {
        return writeln!(out, "nothing to push to {}", o.remote);
    }
    writeln!(
        out,
        "pushed to {}: uploaded {} ({}), {} already there",
        o.remote,
        n(o.packs_uploaded, "pack"),
        HumanBytes(o.bytes_uploaded),
        o.packs_present
    )?;
    for r in &o.references {
        let from = r.old.map_or("new".into(), |id| id.short());
        let to = r.new.short();
        match r.result {
            RefResult::Created => writeln!(out, "  created     {} {to}", r.reference)?,
            RefResult::Updated => writeln!(out, "  updated     {} {from} -> {to}", r.reference)?,
            RefResult::Forced => writeln!(out, "  forced      {} {from} -> {to}", r.reference)?,
            RefResult::UpToDate => writeln!(out, "  up to date  {} {to}", r.reference)?,
            RefResult::Refused => writeln!(
                out,
                "  refused     {}: {}",
                r.reference,
                r.reason.as_deref().unwrap_or("")
            )?,
        }
    }
    if o.refused > 0 {
        writeln!(out, "{} refused", n(o.refused, "reference"))?;
    }
    Ok(())
}

pub(super) fn push(
    o: &cairn::ops::push::PushOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    if o.up_to_date {
        return writeln!(
            out,
            "{} is up to date on {} ({})",
            o.reference,
            o.remote,
            o.new.short()
        );
    }
    let from = o.old.map_or("new".into(), |id| id.short());
    writeln!(
        out,
        "{} {} to {}: {from} -> {}; uploaded {} ({}), {} already there",
        if o.forced { "force-pushed" } else { "pushed" },
        o.reference,
        o.remote,
        o.new.short(),
        n(o.packs_uploaded, "pack"),
        HumanBytes(o.bytes_uploaded),
        o.packs_present
    )
}

pub(super) fn pull(
    o: &cairn::ops::pull::PullOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    let short = |id: Option<cairn::ObjectId>| id.map_or("nothing".into(), |i| i.short());
    match o.status {
        PullStatus::FastForward => writeln!(
            out,
            "line {} moved {} -> {}; {}, wrote {}",
            o.line,
            short(o.old),
            short(o.new),
            fetched(&o.fetched),
            n(o.checked_out, "file")
        )?,
        PullStatus::Ahead => writeln!(
            out,
            "line {} has layers {} lacks: nothing to pull (push them to publish)",
            o.line, o.remote
        )?,
        PullStatus::UpToDate => writeln!(out, "line {} is up to date with {}", o.line, o.remote)?,
    }
    if !o.tags_created.is_empty() {
        writeln!(out, "new tags: {}", o.tags_created.join(", "))?;
    }
    if !o.tags_differing.is_empty() {
        writeln!(
            out,
            "tags that differ from the remote's (left alone): {}",
            o.tags_differing.join(", ")
        )?;
    }
    Ok(())
}

pub(super) fn clone(
    o: &cairn::ops::clone::CloneOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    let at = match (&o.line, o.layer) {
        (_, None) => "an empty repository".to_string(),
        (Some(line), Some(id)) => format!("line {line} at {}", id.short()),
        (None, Some(id)) => format!("layer {} (detached)", id.short()),
    };
    writeln!(
        out,
        "cloned {} into {}: {}, {}; {}; checked out {at} ({}){}",
        o.url,
        o.dir.display(),
        n(o.lines, "line"),
        n(o.tags, "tag"),
        fetched(&o.fetched),
        n(o.checked_out, "file"),
        if o.partial { "; partial clone" } else { "" }
    )
}

pub(super) fn export(
    o: &cairn::ops::export::ExportOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    let to = o
        .output
        .as_ref()
        .map_or("standard output".into(), |p| p.display().to_string());
    writeln!(
        out,
        "exported {}, {} and {} ({}) of {} to {to}{}",
        n(o.files, "file"),
        n(o.symlinks, "symlink"),
        n(o.dirs, "directory"),
        HumanBytes(o.bytes),
        o.layer.short(),
        if o.zstd { ", zstd-compressed" } else { "" }
    )
}

pub(super) fn import(
    o: &cairn::ops::import::ImportOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    for s in &o.skipped {
        write!(out, "skipped '")?;
        path(out, &s.path)?;
        writeln!(out, "': {}", s.reason)?;
    }
    let links = if o.hardlinks > 0 {
        format!(" ({} of them hard links)", o.hardlinks)
    } else {
        String::new()
    };
    writeln!(
        out,
        "staged {}{links} and {} ({}), {} replacing tracked entries; stored {} new ({} after compression)",
        n(o.files, "file"),
        n(o.symlinks, "symlink"),
        HumanBytes(o.bytes),
        o.replaced,
        HumanBytes(o.bytes_new),
        HumanBytes(o.bytes_stored)
    )
}

pub(super) fn watch(
    o: &cairn::ops::watch::WatchOutcome,
    out: &mut dyn Write,
    _: &Printer,
) -> Result<()> {
    match (o.action.as_str(), o.pid) {
        ("stopped", Some(pid)) => writeln!(out, "monitor stopped (pid {pid})")?,
        ("not-running", _) | (_, None) => writeln!(out, "no monitor runs for this worktree")?,
        (action, Some(pid)) => {
            let what = match action {
                "started" => "monitor started",
                "already-running" => "monitor already running",
                _ => "monitor running",
            };
            let dirs = o.directories.unwrap_or(0);
            writeln!(out, "{what} (pid {pid}), watching {dirs} directories")?;
        }
    }
    if let Some(why) = &o.degraded {
        writeln!(
            out,
            "it checks nothing exactly: {why}; `cairn watch stop` and start it again"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn plurals() {
        assert_eq!(super::n(1u64, "file"), "1 file");
        assert_eq!(super::n(0u64, "file"), "0 files");
        assert_eq!(super::n(2usize, "directory"), "2 directories");
        assert_eq!(super::n(1u64, "directory"), "1 directory");
        assert_eq!(super::n(3u64, "day"), "3 days");
        assert_eq!(
            super::n(2u64, "damaged pack index"),
            "2 damaged pack indexes"
        );
    }

    #[test]
    fn base64_vectors() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            super::utc(1_763_726_400_000_000_000),
            "2025-11-21 12:00:00 UTC"
        );
        assert_eq!(
            super::utc(951_782_400_000_000_000),
            "2000-02-29 00:00:00 UTC"
        );
    }
}
