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
use cairn::ops::diff::DiffOutcome;
use cairn::ops::gc::GcOutcome;
use cairn::ops::init::InitOutcome;
use cairn::ops::ls::LsOutcome;
use cairn::ops::pull::PullStatus;
use cairn::ops::remote::RemoteVerb;
use cairn::ops::reset::ResetOutcome;
use cairn::ops::restore::RestoreOutcome;
use cairn::ops::rm::RmOutcome;
use cairn::ops::show::ShowOutcome;
use cairn::ops::stats::StatsOutcome;
use cairn::ops::status::{PathChange, StatusOutcome};
use cairn::ops::tag::TagOutcome;
use cairn::ops::verify_proof::VerifyProofOutcome;
use cairn::repo_path::RepoPath;
use indicatif::HumanBytes;

use super::log::{self, ChangeList, LogView};
use super::printer::Printer;
use super::quote::{write_name, Space};

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
    let count = |c: Staged| o.staged.iter().filter(|s| s.change == c).count();
    writeln!(
        out,
        "staged {} new, {} modified, {} removed; read {} in {} files, stored {} new ({} after compression)",
        count(Staged::New),
        count(Staged::Modified),
        count(Staged::Removed),
        HumanBytes(o.bytes_read),
        o.files_read,
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
    writeln!(out, "{}", o.layer)?;
    let c = &o.counts;
    eprintln!(
        "[{} {}] {} added, {} modified, {} deleted; {} files, {}",
        o.line,
        o.layer.short(),
        c.added,
        c.modified,
        c.deleted,
        c.files,
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
    }
}

fn section(out: &mut dyn Write, title: &str, changes: &[PathChange]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    writeln!(out, "{title}")?;
    for c in changes {
        write!(out, "\t{}", label(c.change))?;
        path(out, &c.path)?;
        writeln!(out)?;
    }
    writeln!(out)
}

pub(super) fn status_long(o: &StatusOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    match (&o.line, &o.head) {
        (Some(line), Some(_)) => writeln!(out, "On line {line}")?,
        (Some(line), None) => writeln!(out, "On line {line}, no layers yet")?,
        (None, Some(h)) => writeln!(out, "HEAD detached at {}", h.short())?,
        (None, None) => {}
    }
    section(out, "Changes to be committed:", &o.staged)?;
    section(out, "Changes not staged for commit:", &o.unstaged)?;
    if !o.untracked.is_empty() {
        writeln!(out, "Untracked files:")?;
        for p in &o.untracked {
            write!(out, "\t")?;
            path(out, p)?;
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    if o.is_clean() {
        writeln!(out, "nothing to commit, worktree clean")?;
    }
    Ok(())
}

/// git's short format: X is the staged change, Y the unstaged one; names quoted as git's
/// short status quotes them (spaces too).
pub(super) fn status_short(o: &StatusOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    short_entries(o, &mut |x, y, p| {
        write!(out, "{x}{y} ")?;
        write_name(out, p.as_bytes(), Space::Quoted)?;
        writeln!(out)
    })
}

/// git's `-z` short format: names raw, each entry ended by NUL.
pub(super) fn status_short_z(o: &StatusOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    short_entries(o, &mut |x, y, p| {
        write!(out, "{x}{y} ")?;
        out.write_all(p.as_bytes())?;
        out.write_all(b"\0")
    })
}

/// Calls `entry` with each path's two letters (staged, unstaged) in path order, untracked
/// paths last.
fn short_entries(
    o: &StatusOutcome,
    entry: &mut dyn FnMut(char, char, &RepoPath) -> Result<()>,
) -> Result<()> {
    let (mut i, mut j) = (0, 0);
    let (s, u) = (&o.staged, &o.unstaged);
    while i < s.len() || j < u.len() {
        let take_s = j >= u.len() || (i < s.len() && s[i].path <= u[j].path);
        let take_u = i >= s.len() || (j < u.len() && u[j].path <= s[i].path);
        let x = if take_s { s[i].change.letter() } else { ' ' };
        let y = if take_u { u[j].change.letter() } else { ' ' };
        let p = if take_s { &s[i].path } else { &u[j].path };
        entry(x, y, p)?;
        i += usize::from(take_s);
        j += usize::from(take_u);
    }
    for p in &o.untracked {
        entry('?', '?', p)?;
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
        let changes = l.changes.as_deref().unwrap_or_default();
        match style.changes {
            ChangeList::None => {}
            ChangeList::Stat => changes_stat(out, changes)?,
            ChangeList::NameStatus => {
                for c in changes {
                    changed_line(out, c)?;
                }
            }
            ChangeList::NameOnly => {
                for c in changes {
                    path(out, &c.path)?;
                    writeln!(out)?;
                }
            }
        }
        // The long form ends each layer with a blank line; its list is set off by another.
        if style.changes != ChangeList::None && !style.oneline && style.format.is_none() {
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

/// One layer's changes in the form of `diff --stat`: path and sizes, then a total.
fn changes_stat(out: &mut dyn Write, changes: &[ChangedPath]) -> Result<()> {
    let (mut before, mut after) = (0u64, 0u64);
    for c in changes {
        write!(out, " ")?;
        path(out, &c.path)?;
        writeln!(out, " | {} -> {} bytes", size(c.old_size), size(c.new_size))?;
        before += c.old_size.unwrap_or(0);
        after += c.new_size.unwrap_or(0);
    }
    writeln!(
        out,
        " {} files changed, {} -> {}",
        changes.len(),
        HumanBytes(before),
        HumanBytes(after)
    )
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

pub(super) fn show(o: &ShowOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    writeln!(out, "layer {}", o.id)?;
    if let Some(p) = &o.parent {
        writeln!(out, "Parent: {p}")?;
    }
    writeln!(out, "Tree:   {}", o.tree)?;
    header_body(out, &o.author, o.time_ns, &o.counts, &o.message)?;
    for ch in &o.changes {
        changed_line(out, ch)?;
    }
    Ok(())
}

fn changed_line(out: &mut dyn Write, c: &ChangedPath) -> Result<()> {
    write!(out, "{}\t", c.change.letter())?;
    path(out, &c.path)?;
    writeln!(out)
}

fn size(s: Option<u64>) -> String {
    s.map_or("-".into(), |n| n.to_string())
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

/// Default diff output: status letter, sizes before and after, path.
pub(super) fn diff_default(o: &DiffOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for c in &o.changes {
        write!(
            out,
            "{} {:>12} -> {:<12} ",
            c.change.letter(),
            size(c.old_size),
            size(c.new_size)
        )?;
        path(out, &c.path)?;
        writeln!(out)?;
    }
    Ok(())
}

pub(super) fn diff_name_status(o: &DiffOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    for c in &o.changes {
        changed_line(out, c)?;
    }
    Ok(())
}

/// Per-file byte counts and a total, in the spirit of git's --stat.
pub(super) fn diff_stat(o: &DiffOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let (mut before, mut after) = (0u64, 0u64);
    for c in &o.changes {
        write!(out, " ")?;
        path(out, &c.path)?;
        writeln!(out, " | {} -> {} bytes", size(c.old_size), size(c.new_size))?;
        before += c.old_size.unwrap_or(0);
        after += c.new_size.unwrap_or(0);
    }
    writeln!(
        out,
        " {} files changed, {} -> {}",
        o.changes.len(),
        HumanBytes(before),
        HumanBytes(after)
    )
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
    match (&o.line, o.detached) {
        (_, true) => writeln!(out, "HEAD is now detached at {}", o.layer.short())?,
        (Some(line), false) => writeln!(out, "on line {line} at {}", o.layer.short())?,
        (None, false) => writeln!(out, "at {}", o.layer.short())?,
    }
    writeln!(
        out,
        "{} files written ({}), {} deleted",
        o.written.len(),
        HumanBytes(o.bytes),
        o.deleted.len()
    )
}

pub(super) fn restore(o: &RestoreOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    writeln!(
        out,
        "restored {} files, {} symlinks and {} directories ({}) of {} into {}",
        o.files,
        o.symlinks,
        o.dirs,
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

/// `cat --json`: the outcome's fields and the bytes in base64.
#[derive(serde::Serialize)]
pub(super) struct CatJson<'a> {
    #[serde(flatten)]
    pub outcome: &'a CatOutcome,
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
        "checked {} packs ({} objects{what}), {} layers, {} trees, {} files, {} chunks: {}",
        o.packs,
        o.objects,
        o.layers,
        o.trees,
        o.files,
        o.chunks,
        if o.is_clean() {
            "no damage".to_string()
        } else {
            format!("{} damaged objects", o.damage.len())
        }
    )
}

pub(super) fn reset(o: &ResetOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let from = o.from.map_or("nothing".into(), |f| f.short());
    match &o.line {
        Some(line) => writeln!(out, "line {line} moved from {from} to {}", o.to.short())?,
        None => writeln!(out, "HEAD moved from {from} to {}", o.to.short())?,
    }
    if o.hard {
        writeln!(out, "{} files written, {} deleted", o.written, o.deleted)?;
    }
    Ok(())
}

pub(super) fn gc(o: &GcOutcome, out: &mut dyn Write, _: &Printer) -> Result<()> {
    let verb = if o.dry_run { "would remove" } else { "removed" };
    writeln!(
        out,
        "{verb} {} unreferenced objects: {} packs deleted, {} rewritten, {} kept, {} orphan files; {} freed",
        o.dead_objects,
        o.packs_deleted,
        o.packs_rewritten,
        o.packs_kept,
        o.orphan_files_removed,
        HumanBytes(o.bytes_freed)
    )?;
    if o.indexes_rebuilt > 0 {
        writeln!(
            out,
            "rebuilt {} damaged pack indexes from their packs",
            o.indexes_rebuilt
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
        "stored:            {} in {} packs",
        HumanBytes(o.pack_bytes),
        o.packs
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

/// Formats nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn utc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// Who fetched what: packs, ranged chunks, bytes.
fn fetched(f: &cairn::remote::fetch::Fetched) -> String {
    let ranged = if f.ranged_chunks > 0 {
        format!(" and {} chunks by range", f.ranged_chunks)
    } else {
        String::new()
    };
    format!(
        "fetched {} packs{ranged} ({})",
        f.packs,
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
        "pushed {} to {}: {from} -> {}; uploaded {} packs ({}), {} already there",
        o.reference,
        o.remote,
        o.new.short(),
        o.packs_uploaded,
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
            "line {} moved {} -> {}; {}, wrote {} files",
            o.line,
            short(o.old),
            short(o.new),
            fetched(&o.fetched),
            o.checked_out
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
        "cloned {} into {}: {} lines, {} tags; {}; checked out {at} ({} files){}",
        o.url,
        o.dir.display(),
        o.lines,
        o.tags,
        fetched(&o.fetched),
        o.checked_out,
        if o.partial { "; partial clone" } else { "" }
    )
}

#[cfg(test)]
mod tests {
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
