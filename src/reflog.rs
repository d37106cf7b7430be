//! The reflog: for HEAD and for every line, an append-only record of each move, so that a
//! layer left behind by `reset`, `checkout` or a deleted commit can be found again
//! (`HEAD@{1}`) and is kept by gc for a grace period.
//!
//! One file per reference: `.cairn/logs/HEAD` and `.cairn/logs/lines/<name>`. One line per
//! move, oldest first (docs/FORMAT.md, "Reflog"):
//!
//! ```text
//! <old id, 64 hex> SP <new id, 64 hex> SP <time ns, decimal> TAB <message> LF
//! ```
//!
//! An id of 64 zeros means "none" (a line created, HEAD on an unborn line). Entries are
//! appended and synced *before* the reference moves, so a crash leaves at worst an entry
//! naming a move that did not happen, which only keeps layers alive a little longer. A final
//! line without its newline is what such a crash tears: readers skip it and the next append
//! cuts it off. Anything else malformed is refused as damage, never guessed at.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::refs::RefKind;

/// The longest line a reader accepts, newline excluded. Writers stay far below it: the ids
/// and time take at most 151 bytes and messages are cut to [`MAX_MESSAGE`].
pub const MAX_LINE: usize = 4096;
/// Messages longer than this many bytes are cut (at a character boundary) when written.
pub const MAX_MESSAGE: usize = 1024;
/// The largest log a reader loads: about two million moves. A larger file is refused
/// rather than read into memory.
pub const MAX_FILE: u64 = 256 << 20;

/// Which reference a log belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogName {
    /// HEAD, wherever it points.
    Head,
    /// The line of this name.
    Line(String),
}

impl LogName {
    /// The log's path below `.cairn`.
    pub fn path(&self, cairn_dir: &Path) -> PathBuf {
        let logs = cairn_dir.join("logs");
        match self {
            LogName::Head => logs.join("HEAD"),
            LogName::Line(name) => logs.join(RefKind::Line.dir()).join(name),
        }
    }
}

impl std::fmt::Display for LogName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogName::Head => f.write_str("HEAD"),
            LogName::Line(name) => f.write_str(name),
        }
    }
}

/// One recorded move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Entry {
    /// The layer the reference pointed at before; null when it did not exist or had none.
    pub old: Option<ObjectId>,
    /// The layer it points at after; null when the move left it on no layer.
    pub new: Option<ObjectId>,
    /// When, in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// What moved it: `commit: <subject>`, `checkout: moving from a to b`, ...
    pub message: String,
}

impl Entry {
    /// An entry stamped now, its message made safe to write: control characters (a newline
    /// would split the entry) become spaces, and it is cut to [`MAX_MESSAGE`] bytes.
    pub fn now(old: Option<ObjectId>, new: Option<ObjectId>, message: &str) -> Entry {
        Entry {
            old,
            new,
            time_ns: crate::clock::now_ns().max(0),
            message: clean_message(message),
        }
    }

    /// The entry's line, newline included.
    pub fn encode(&self) -> Vec<u8> {
        let id = |id: &Option<ObjectId>| id.map_or_else(|| "0".repeat(64), |id| id.to_hex());
        let text = format!(
            "{} {} {}\t{}\n",
            id(&self.old),
            id(&self.new),
            self.time_ns.max(0),
            clean_message(&self.message)
        );
        text.into_bytes()
    }
}

/// The reflog message of a commit: `commit: <subject>`, or `commit (initial): <subject>`
/// for a layer with no parent, as git writes them.
pub fn commit_reason(initial: bool, message: &str) -> String {
    let subject = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let what = if initial {
        "commit (initial)"
    } else {
        "commit"
    };
    format!("{what}: {}", subject.trim())
}

/// How long reflog entries keep the layers they name alive through gc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// No entry keeps anything (`--prune=now`).
    Now,
    /// Entries younger than this keep their old and new layers.
    For(std::time::Duration),
    /// Every entry keeps its layers (`--prune=never`).
    Forever,
}

/// Git's `gc.pruneExpire`: two weeks.
pub const DEFAULT_GRACE: Grace = Grace::For(std::time::Duration::from_secs(14 * 24 * 3600));

impl Default for Grace {
    fn default() -> Grace {
        DEFAULT_GRACE
    }
}

impl Grace {
    /// Reads `now`, `never`, or a duration: a number and a unit, as `30s`, `15min`, `1h`,
    /// `3d`, `2w`, `2.weeks` or `6 months` (git's dotted form is accepted).
    pub fn parse(text: &str) -> std::result::Result<Grace, String> {
        match text.trim() {
            "now" => Ok(Grace::Now),
            "never" => Ok(Grace::Forever),
            t => humantime::parse_duration(&t.replace('.', " "))
                .map(Grace::For)
                .map_err(|e| {
                    format!(
                        "{text:?} is not a duration ({e}); write now, never, or as 3d, 2.weeks, 1h"
                    )
                }),
        }
    }

    /// The oldest entry time (ns) that still keeps its layers, at `now_ns`; `None` when
    /// every entry does, `i64::MAX` when none does.
    pub fn cutoff(self, now_ns: i64) -> Option<i64> {
        match self {
            Grace::Now => Some(i64::MAX),
            Grace::Forever => None,
            Grace::For(d) => Some(now_ns.saturating_sub(d.as_nanos().min(i64::MAX as u128) as i64)),
        }
    }

    /// Entries younger than the grace period from now (by the wall clock).
    pub fn cutoff_now(self) -> Option<i64> {
        self.cutoff(crate::clock::now_ns())
    }
}

/// `message` with control characters turned into spaces, cut to [`MAX_MESSAGE`] bytes.
fn clean_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE));
    for c in message.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_MESSAGE {
            break;
        }
        out.push(c);
    }
    out
}

/// Parses a whole log, oldest entry first. A last line without its newline (torn by a
/// crash mid-append) is skipped; any other malformed line is an error naming it (1-based).
pub fn parse(bytes: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut number = 0usize;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        number += 1;
        let line = &rest[..end];
        out.push(parse_line(line).map_err(|why| format!("line {number}: {why}"))?);
        rest = &rest[end + 1..];
    }
    Ok(out)
}

/// One line, without its newline.
fn parse_line(line: &[u8]) -> std::result::Result<Entry, String> {
    if line.len() > MAX_LINE {
        return Err(format!("longer than {MAX_LINE} bytes"));
    }
    let tab = line
        .iter()
        .position(|&b| b == b'\t')
        .ok_or("no tab before the message")?;
    let (head, message) = (&line[..tab], &line[tab + 1..]);
    let head = std::str::from_utf8(head).map_err(|_| "ids and time are not text")?;
    let mut fields = head.split(' ');
    let (Some(old), Some(new), Some(time), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected an old id, a new id and a time".into());
    };
    let message = std::str::from_utf8(message).map_err(|_| "the message is not UTF-8")?;
    if message.len() > MAX_MESSAGE {
        return Err(format!("the message is longer than {MAX_MESSAGE} bytes"));
    }
    if message.chars().any(char::is_control) {
        return Err("the message holds a control character".into());
    }
    Ok(Entry {
        old: parse_id(old)?,
        new: parse_id(new)?,
        time_ns: parse_time(time)?,
        message: message.to_string(),
    })
}

/// 64 lowercase hex digits; all zeros is "none".
fn parse_id(text: &str) -> std::result::Result<Option<ObjectId>, String> {
    let hex = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex {
        return Err(format!("{:?} is not 64 lowercase hex digits", cut(text)));
    }
    if text.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("{text} is not a layer id"))
}

/// Decimal digits only (no sign, no leading zero), fitting a signed 64-bit count: the one
/// way the writer spells a time.
fn parse_time(text: &str) -> std::result::Result<i64, String> {
    let digits = !text.is_empty()
        && text.len() <= 19
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    digits
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| format!("{:?} is not a time in nanoseconds", cut(text)))
}

/// At most 80 characters of hostile text for an error message.
fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Opens a log without following a symlink at its name: a hostile repository's
/// `logs/HEAD -> ~/.profile` must not make a commit append to that file.
fn open(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .append(append)
        .create(append)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The entries of the log at `path`, oldest first; none when it does not exist.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let file = match open(path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("could not read reflog", path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .ctx("could not read reflog", path)?;
    if bytes.len() as u64 > MAX_FILE {
        let detail = format!("larger than {} MiB", MAX_FILE >> 20);
        return Err(Error::corrupt("reflog", path, detail));
    }
    parse(&bytes).map_err(|why| Error::corrupt("reflog", path, why))
}

/// Appends `entry` to the log at `path` and syncs it, creating the file (and its
/// directories) if needed. A torn last line left by a crash is cut off first, so the new
/// entry starts a line of its own.
pub(crate) fn append(path: &Path, entry: &Entry) -> Result<()> {
    let dir = path.parent().expect("a log has a directory");
    let created = std::fs::symlink_metadata(path).is_err();
    if created {
        std::fs::create_dir_all(dir).ctx("could not create reflog directory", dir)?;
    }
    let mut file = open(path, true).ctx("could not open reflog", path)?;
    cut_torn_tail(&mut file, path)?;
    file.write_all(&entry.encode())
        .ctx("could not write reflog", path)?;
    file.sync_all().ctx("could not sync reflog", path)?;
    if created {
        // The new name, and the directories `create_dir_all` may have made with it
        // (`logs/`, `logs/lines/`), up to `.cairn` itself.
        for d in dir.ancestors().take(3) {
            fsutil::sync_dir(d)?;
        }
    }
    Ok(())
}

/// Truncates the file after its last newline when it does not end with one.
fn cut_torn_tail(file: &mut std::fs::File, path: &Path) -> Result<()> {
    let len = file.metadata().ctx("could not stat reflog", path)?.len();
    if len == 0 {
        return Ok(());
    }
    // The torn part is at most one line long; read a little more to find the newline.
    let back = len.min(MAX_LINE as u64 + 2);
    file.seek(SeekFrom::Start(len - back))
        .ctx("could not read reflog", path)?;
    let mut tail = Vec::with_capacity(back as usize);
    file.read_to_end(&mut tail)
        .ctx("could not read reflog", path)?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => len - back + i as u64 + 1,
        None if back == len => 0,
        None => {
            let detail = format!("its last line is longer than {MAX_LINE} bytes");
            return Err(Error::corrupt("reflog", path, detail));
        }
    };
    file.set_len(keep).ctx("could not repair reflog", path)
}

/// Removes a log; nothing when there is none.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => fsutil::sync_dir(path.parent().expect("a log has a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("could not delete reflog", path)(e)),
    }
}

/// Moves a log to a new name (a line renamed); nothing when there is none.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    fsutil::rename_durable(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_slice(&[n; 32]).unwrap()
    }

    #[test]
    fn grace_periods() {
        let day = 24 * 3600;
        let secs = |n| Grace::For(std::time::Duration::from_secs(n));
        assert_eq!(Grace::parse("now"), Ok(Grace::Now));
        assert_eq!(Grace::parse("never"), Ok(Grace::Forever));
        assert_eq!(Grace::parse("2.weeks"), Ok(secs(14 * day)));
        assert_eq!(Grace::parse("3d"), Ok(secs(3 * day)));
        assert_eq!(Grace::parse("1h"), Ok(secs(3600)));
        for bad in ["", "soon", "-1d", "3 parsecs", "2..weeks x"] {
            assert!(Grace::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Grace::Now.cutoff(10), Some(i64::MAX));
        assert_eq!(Grace::Forever.cutoff(10), None);
        assert_eq!(secs(1).cutoff(3_000_000_000), Some(2_000_000_000));
        assert_eq!(secs(u64::MAX).cutoff(0), Some(i64::MIN + 1));
    }

    #[test]
    fn round_trip() {
        let e = Entry {
            old: None,
            new: Some(id(7)),
            time_ns: 1_700_000_000_123_456_789,
            message: "commit: first".into(),
        };
        let line = e.encode();
        assert_eq!(parse(&line).unwrap(), vec![e]);
    }

    #[test]
    fn messages_are_made_safe() {
        let e = Entry::now(None, Some(id(1)), "a\nb\tc\u{7f}");
        assert_eq!(e.message, "a b c ");
        let long = "é".repeat(MAX_MESSAGE);
        let e = Entry::now(None, Some(id(1)), &long);
        assert!(e.message.len() <= MAX_MESSAGE && e.message.len() > MAX_MESSAGE - 2);
        assert_eq!(parse(&e.encode()).unwrap()[0].message, e.message);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let mut bytes = Entry::now(None, Some(id(1)), "one").encode();
        let second = Entry::now(Some(id(1)), Some(id(2)), "two").encode();
        for cut in 0..second.len() {
            let mut b = bytes.clone();
            b.extend_from_slice(&second[..cut]);
            assert_eq!(parse(&b).unwrap().len(), 1, "cut at {cut}");
        }
        bytes.extend_from_slice(&second);
        assert_eq!(parse(&bytes).unwrap().len(), 2);
    }

    #[test]
    fn hostile_lines_are_refused() {
        let good = String::from_utf8(Entry::now(None, Some(id(1)), "m").encode()).unwrap();
        let z = "0".repeat(64);
        let cases = [
            format!("{}\n", "x".repeat(MAX_LINE + 1)),
            format!("{} {z} 1\tm\n", "g".repeat(64)),
            format!("{} {z} 1\tm\n", "A".repeat(64)),
            format!("{z} {z} -1\tm\n"),
            format!("{z} {z} 99999999999999999999\tm\n"),
            format!("{z} {z}\tm\n"),
            format!("{z} {z} 1 2\tm\n"),
            format!("{z} {z} 1 m\n"),
            format!("{z} {z} 1\tm\u{1b}\n"),
            format!("{z} {z} 01\tm\n"),
            format!("{z} {z} 1\t{}\n", "m".repeat(MAX_MESSAGE + 1)),
            "\n".to_string(),
        ];
        for bad in cases {
            let text = format!("{good}{bad}{good}");
            let err = parse(text.as_bytes()).unwrap_err();
            assert!(err.starts_with("line 2:"), "{bad:?}: {err}");
        }
        let mut bytes = good.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\t\n");
        assert!(parse(&bytes).is_err());
    }

    #[test]
    fn a_log_that_is_a_symlink_is_neither_read_nor_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious\n").unwrap();
        let path = LogName::Head.path(&tmp.path().join(".cairn"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(append(&path, &Entry::now(None, Some(id(1)), "x")).is_err());
        assert!(read(&path).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
    }

    #[test]
    fn append_cuts_a_torn_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let path = LogName::Line("main".into()).path(tmp.path());
        append(&path, &Entry::now(None, Some(id(1)), "one")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"0000 torn").unwrap();
        append(&path, &Entry::now(Some(id(1)), Some(id(2)), "two")).unwrap();
        let all = read(&path).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].message, "two");
        // A file that is only a torn line is emptied before the append.
        std::fs::write(&path, b"torn").unwrap();
        append(&path, &Entry::now(None, Some(id(3)), "three")).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }
}
