//! HEAD and named references.
//!
//! `.cairn/HEAD` holds either `ref: lines/<name>` (on a line) or a 64-hex layer id
//! (detached). `.cairn/refs/lines/<name>` and `.cairn/refs/tags/<name>` each hold a 64-hex
//! layer id and a newline. Every write is atomic.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::reflog::{self, Entry, LogName};

/// The line `init` puts HEAD on.
pub const DEFAULT_LINE: &str = "main";

/// The two kinds of named reference. Their directory names (`lines`, `tags`: under
/// `.cairn/refs/` and a remote's `refs/`, `refs-log/` and `locks/`) are spelled only here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    /// A line: moves forward as layers are committed on it.
    Line,
    /// A tag: names one layer and stays put unless forced.
    Tag,
}

impl RefKind {
    /// Every kind, lines first: the order walks and listings use.
    pub const ALL: [RefKind; 2] = [RefKind::Line, RefKind::Tag];

    /// The directory a reference of this kind lives in: `lines` or `tags`.
    pub fn dir(self) -> &'static str {
        match self {
            RefKind::Line => "lines",
            RefKind::Tag => "tags",
        }
    }

    /// What one reference of this kind is called in messages: `line` or `tag`.
    pub fn noun(self) -> &'static str {
        match self {
            RefKind::Line => "line",
            RefKind::Tag => "tag",
        }
    }

    /// The kind a name of this kind must not clash with.
    pub fn other(self) -> RefKind {
        match self {
            RefKind::Line => RefKind::Tag,
            RefKind::Tag => RefKind::Line,
        }
    }

    /// The kind whose directory is `dir`.
    pub fn from_dir(dir: &str) -> Option<RefKind> {
        RefKind::ALL.into_iter().find(|k| k.dir() == dir)
    }
}

impl std::fmt::Display for RefKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir())
    }
}

/// HEAD's text when it is on a line: this prefix, then the line's name.
fn head_prefix() -> String {
    format!("ref: {}/", RefKind::Line.dir())
}

/// The text of a HEAD (local or a remote's) on `line`.
pub fn head_text(line: &str) -> String {
    format!("{}{line}\n", head_prefix())
}

/// The line a HEAD's text names, when it names one (not checked as a name).
pub fn head_text_line(text: &str) -> Option<&str> {
    text.trim_end_matches('\n')
        .strip_prefix(head_prefix().as_str())
}

/// The directories below `.cairn/` that hold references, parents first.
pub fn ref_dirs() -> [String; 3] {
    let [a, b] = RefKind::ALL.map(|k| format!("refs/{}", k.dir()));
    ["refs".to_string(), a, b]
}

/// What HEAD points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// On a line, by name; the line may have no layers yet.
    Line(String),
    /// At one layer, on no line.
    Detached(ObjectId),
}

/// The references of one repository: HEAD, lines and tags under its `.cairn` directory.
pub struct Refs {
    dir: PathBuf,
}

impl Refs {
    /// The references of the repository whose `.cairn` directory is `cairn_dir`.
    pub fn new(cairn_dir: &Path) -> Refs {
        Refs {
            dir: cairn_dir.to_path_buf(),
        }
    }

    fn head_path(&self) -> PathBuf {
        self.dir.join("HEAD")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// What HEAD points at; [`Error::Corrupt`] when it is neither a line nor a layer id.
    pub fn head(&self) -> Result<Head> {
        let p = self.head_path();
        let text = std::fs::read_to_string(&p).ctx("could not read HEAD", &p)?;
        let text = text.trim_end_matches('\n');
        if let Some(name) = text.strip_prefix(head_prefix().as_str()) {
            check_name(name).map_err(|d| Error::corrupt("HEAD", &p, d))?;
            return Ok(Head::Line(name.to_string()));
        }
        text.parse()
            .map(Head::Detached)
            .map_err(|_| Error::corrupt("HEAD", &p, "neither a line nor a layer id"))
    }

    /// The directory holding the references of `kind`.
    pub fn kind_dir(&self, kind: RefKind) -> PathBuf {
        self.dir.join("refs").join(kind.dir())
    }

    /// The file of the reference `name` of `kind`.
    pub fn ref_path(&self, kind: RefKind, name: &str) -> PathBuf {
        self.kind_dir(kind).join(name)
    }

    /// The layer a line or tag points at; `None` when it does not exist.
    pub fn get(&self, kind: RefKind, name: &str) -> Result<Option<ObjectId>> {
        let p = self.ref_path(kind, name);
        match std::fs::read_to_string(&p) {
            Ok(text) => text
                .trim_end_matches('\n')
                .parse()
                .map(Some)
                .map_err(|_| Error::corrupt("reference", &p, "not a layer id")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("could not read reference", &p)(e)),
        }
    }

    /// The names of all lines or tags, sorted.
    pub fn list(&self, kind: RefKind) -> Result<Vec<String>> {
        let dir = self.kind_dir(kind);
        let mut names = Vec::new();
        for e in std::fs::read_dir(&dir).ctx("could not list references", &dir)? {
            let e = e.ctx("could not list references", &dir)?;
            if let Some(n) = e.file_name().to_str() {
                if check_name(n).is_ok() {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Refuses a name for a new line or tag (`kind`) that a reference could not be told
    /// apart by: not a valid name, `HEAD`, all hex digits (it would read as a layer id), or
    /// the name of a reference of the other kind (a tag `main` beside the line `main`).
    pub fn check_new(&self, kind: RefKind, name: &str) -> Result<()> {
        let (what, other) = (kind.noun(), kind.other());
        let refuse = |why: String, path: PathBuf| Error::BadName { why, path };
        check_name(name).map_err(|why| refuse(why, self.kind_dir(kind)))?;
        if let Some(why) = unreadable_name(name) {
            return Err(refuse(
                format!("{what} name {name:?} {why}; choose another"),
                self.ref_path(kind, name),
            ));
        }
        if self.get(other, name)?.is_some() {
            let theirs = other.noun();
            return Err(refuse(
                format!(
                    "a {theirs} is named {name} already, and a {what} of the same name would \
                     make `{name}` ambiguous; choose another name"
                ),
                self.ref_path(other, name),
            ));
        }
        Ok(())
    }

    /// The layer HEAD points at, and the line it is on (if any). `None` layer: an unborn
    /// line with no commits yet.
    pub fn resolve_head(&self) -> Result<(Option<String>, Option<ObjectId>)> {
        match self.head()? {
            Head::Line(name) => {
                let id = self.get(RefKind::Line, &name)?;
                Ok((Some(name), id))
            }
            Head::Detached(id) => Ok((None, Some(id))),
        }
    }

    /// Every layer the references name: HEAD's (on a line or detached), then every line's
    /// and every tag's, by kind and name; a layer named twice is listed twice. A reference
    /// that cannot be read goes to `unreadable` with its name (`HEAD`, `lines/<name>`):
    /// gc fails on it, verify records it and goes on. A directory that cannot be listed
    /// fails.
    pub fn roots(
        &self,
        unreadable: &mut dyn FnMut(String, Error) -> Result<()>,
    ) -> Result<Vec<ObjectId>> {
        let mut roots = Vec::new();
        match self.resolve_head() {
            Ok((_, id)) => roots.extend(id),
            Err(e) => unreadable("HEAD".into(), e)?,
        }
        for kind in RefKind::ALL {
            for name in self.list(kind)? {
                match self.get(kind, &name) {
                    Ok(id) => roots.extend(id),
                    Err(e) => unreadable(format!("{kind}/{name}"), e)?,
                }
            }
        }
        Ok(roots)
    }
}

/// The references of a repository whose writers' lock is held: everything [`Refs`] reads,
/// and the methods that move references. Only [`crate::repo::Locked::refs`] makes one, so
/// no reference moves without the lock.
///
/// Every move of HEAD or of a line is recorded in the reflog ([`crate::reflog`]) before the
/// reference itself is written, with the reason given by [`RefsMut::because`]. Tags have no
/// log, as in git.
pub struct RefsMut {
    refs: Refs,
    reason: Option<String>,
}

impl std::ops::Deref for RefsMut {
    type Target = Refs;

    fn deref(&self) -> &Refs {
        &self.refs
    }
}

/// The reflog message of a move whose caller gave no reason.
const NO_REASON: &str = "update";

impl RefsMut {
    /// The references in `refs`, for a holder of the writers' lock.
    pub(crate) fn new(refs: Refs) -> RefsMut {
        RefsMut { refs, reason: None }
    }

    /// The same references, recording `reason` (`commit: <subject>`, `reset: moving to
    /// HEAD~1`, ...) in the reflog for every move made through them.
    pub fn because(mut self, reason: impl Into<String>) -> RefsMut {
        self.reason = Some(reason.into());
        self
    }

    fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or(NO_REASON)
    }

    /// Appends one move to a log (synced) before the reference is written.
    fn log(&self, log: &LogName, old: Option<ObjectId>, new: Option<ObjectId>) -> Result<()> {
        let entry = Entry::now(old, new, self.reason());
        reflog::append(&log.path(&self.refs.dir), &entry)
    }

    /// Points HEAD at a line or a layer, atomically. HEAD's reflog records the move when HEAD
    /// now names another line or layer (not when it is set to what it was).
    pub fn set_head(&self, head: &Head) -> Result<()> {
        let text = match head {
            Head::Line(name) => head_text(name),
            Head::Detached(id) => format!("{id}\n"),
        };
        // What HEAD was cannot always be read (a damaged HEAD is being repaired): then the
        // entry says it pointed at nothing.
        let before = self.head().ok();
        let old = self.resolve_head().ok().and_then(|(_, id)| id);
        let new = match head {
            Head::Line(name) => self.get(RefKind::Line, name).ok().flatten(),
            Head::Detached(id) => Some(*id),
        };
        let moved = before.as_ref() != Some(head) || old != new;
        // HEAD on a line with no layers yet names nothing to come back to.
        if moved && new.is_some() {
            self.log(&LogName::Head, old, new)?;
        }
        crate::failpoint::hit("refs:after-log");
        fsutil::write_atomic(&self.refs.tmp(), &self.refs.head_path(), text.as_bytes())
    }

    /// Points the line or tag `name` at layer `id`, creating it if needed, atomically. A
    /// line's move goes in its reflog, and in HEAD's too when HEAD is on that line.
    pub fn set(&self, kind: RefKind, name: &str, id: &ObjectId) -> Result<()> {
        if kind == RefKind::Line {
            let old = self.get(kind, name).ok().flatten();
            self.log(&LogName::Line(name.to_string()), old, Some(*id))?;
            if self.head().ok() == Some(Head::Line(name.to_string())) {
                self.log(&LogName::Head, old, Some(*id))?;
            }
        }
        crate::failpoint::hit("refs:after-log");
        let p = self.ref_path(kind, name);
        fsutil::write_atomic(&self.refs.tmp(), &p, format!("{id}\n").as_bytes())
    }

    /// Deletes a line or tag; false when it did not exist. A deleted line's reflog goes
    /// with it, as in git; HEAD's log still remembers the layers HEAD was on.
    pub fn delete(&self, kind: RefKind, name: &str) -> Result<bool> {
        let p = self.ref_path(kind, name);
        let existed = match std::fs::remove_file(&p) {
            Ok(()) => fsutil::sync_dir(p.parent().expect("refs have a parent")).map(|()| true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("could not delete reference", &p)(e)),
        }?;
        if kind == RefKind::Line {
            reflog::remove(&LogName::Line(name.to_string()).path(&self.refs.dir))?;
        }
        Ok(existed)
    }

    /// Renames the line `from` to `to` (which must not exist), its reflog with it, and
    /// keeps HEAD on it if HEAD was on `from`. The move is recorded in the line's log (and
    /// in HEAD's when HEAD follows) with this value's reason. A crash part-way leaves both
    /// names or the old one, never neither.
    pub fn rename_line(&self, from: &str, to: &str) -> Result<()> {
        let kind = RefKind::Line;
        let id = self.get(kind, from)?.ok_or_else(|| Error::UnknownRef {
            name: format!("line {from}"),
            path: self.ref_path(kind, from),
        })?;
        let (old_log, new_log) = (LogName::Line(from.into()), LogName::Line(to.into()));
        self.log(&old_log, Some(id), Some(id))?;
        reflog::rename(&old_log.path(&self.refs.dir), &new_log.path(&self.refs.dir))?;
        let p = self.ref_path(kind, to);
        fsutil::write_atomic(&self.refs.tmp(), &p, format!("{id}\n").as_bytes())?;
        if self.head().ok() == Some(Head::Line(from.to_string())) {
            self.set_head(&Head::Line(to.to_string()))?;
        }
        crate::failpoint::hit("line:before-delete");
        let old = self.ref_path(kind, from);
        std::fs::remove_file(&old).ctx("could not delete reference", &old)?;
        fsutil::sync_dir(old.parent().expect("refs have a parent"))
    }

    /// The reflog message of a checkout to `to` (as the user wrote it), naming where HEAD
    /// is now: `checkout: moving from main to v2`.
    pub fn checkout_reason(&self, to: &str) -> String {
        let from = match self.head() {
            Ok(Head::Line(name)) => name,
            Ok(Head::Detached(id)) => id.short(),
            Err(_) => "HEAD".to_string(),
        };
        format!("checkout: moving from {from} to {to}")
    }
}

impl Refs {
    /// The entries of a reference's reflog, oldest first; none when it has no log.
    pub fn reflog(&self, log: &LogName) -> Result<Vec<Entry>> {
        reflog::read(&log.path(&self.dir))
    }

    /// Every line with a reflog, and HEAD: what gc reads for recent history. A line whose
    /// log exists but whose reference was lost still counts.
    pub fn logs(&self) -> Result<Vec<LogName>> {
        let mut out = vec![LogName::Head];
        let dir = LogName::Line(String::new()).path(&self.dir);
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let e = e.ctx("could not list reflogs", &dir)?;
                    if let Some(n) = e.file_name().to_str().filter(|n| check_name(n).is_ok()) {
                        out.push(LogName::Line(n.to_string()));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("could not list reflogs", &dir)(e)),
        }
        out[1..].sort_by_key(ToString::to_string);
        Ok(out)
    }
}

/// For [`Refs::roots`] where any unreadable reference must fail the caller.
pub fn fail_unreadable(_: String, e: Error) -> Result<()> {
    Err(e)
}

/// Line and tag names: letters, digits, `.`, `_`, `-`; not starting with `.` or `-`.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: use letters, digits, '.', '_' and '-'"
        ))
    }
}

/// Why a valid name still cannot name a new reference: it would read as something else.
fn unreadable_name(name: &str) -> Option<&'static str> {
    if name == "HEAD" {
        return Some("is HEAD's");
    }
    // A shorter all-hex name (`2024`, `cafe`) is allowed, as in git: revparse calls it
    // ambiguous, naming both readings, only if it also starts another layer's id.
    let full_id = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
    full_id.then_some("would read as a layer id (it is 64 hex digits)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("main").is_ok());
        assert!(check_name("v1.0-rc_2").is_ok());
        for bad in ["", "..", "-x", ".x", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    fn scratch() -> (tempfile::TempDir, RefsMut) {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["refs/lines", "refs/tags", "tmp"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("HEAD"), head_text("main")).unwrap();
        let refs = RefsMut::new(Refs::new(tmp.path()));
        (tmp, refs)
    }

    fn oid(n: u8) -> ObjectId {
        ObjectId::from_slice(&[n; 32]).unwrap()
    }

    /// (old, new, message) of each entry of a log, oldest first.
    fn moves(refs: &Refs, log: LogName) -> Vec<(Option<ObjectId>, Option<ObjectId>, String)> {
        let all = refs.reflog(&log).unwrap();
        all.into_iter().map(|e| (e.old, e.new, e.message)).collect()
    }

    #[test]
    fn moves_are_logged_where_git_logs_them() {
        let (_tmp, refs) = scratch();
        let main = || LogName::Line("main".into());
        refs.set(RefKind::Line, "main", &oid(1)).unwrap();
        let refs = refs.because("commit: two");
        refs.set(RefKind::Line, "main", &oid(2)).unwrap();
        // A line HEAD is not on: only its own log.
        refs.set(RefKind::Line, "side", &oid(1)).unwrap();
        // Tags have no log.
        refs.set(RefKind::Tag, "v1", &oid(1)).unwrap();
        let refs = refs.because("checkout: moving from main to side");
        refs.set_head(&Head::Line("side".into())).unwrap();
        // Setting HEAD to what it is already records nothing.
        refs.set_head(&Head::Line("side".into())).unwrap();
        let update = "update".to_string();
        assert_eq!(
            moves(&refs, main()),
            [
                (None, Some(oid(1)), update.clone()),
                (Some(oid(1)), Some(oid(2)), "commit: two".into())
            ]
        );
        assert_eq!(moves(&refs, LogName::Line("side".into())).len(), 1);
        assert_eq!(
            moves(&refs, LogName::Head),
            [
                (None, Some(oid(1)), update),
                (Some(oid(1)), Some(oid(2)), "commit: two".into()),
                (
                    Some(oid(2)),
                    Some(oid(1)),
                    "checkout: moving from main to side".into()
                ),
            ]
        );
        assert_eq!(
            refs.logs().unwrap(),
            [LogName::Head, main(), LogName::Line("side".into())]
        );
        assert_eq!(
            refs.checkout_reason("v1"),
            "checkout: moving from side to v1"
        );
    }

    #[test]
    fn a_deleted_line_loses_its_log_and_a_renamed_one_keeps_it() {
        let (tmp, refs) = scratch();
        refs.set(RefKind::Line, "main", &oid(1)).unwrap();
        refs.set(RefKind::Line, "side", &oid(2)).unwrap();
        assert!(refs.delete(RefKind::Line, "side").unwrap());
        assert!(refs
            .reflog(&LogName::Line("side".into()))
            .unwrap()
            .is_empty());
        assert!(!LogName::Line("side".into()).path(tmp.path()).exists());
        let refs = refs.because("line: renamed from main to trunk");
        refs.rename_line("main", "trunk").unwrap();
        assert_eq!(refs.head().unwrap(), Head::Line("trunk".into()));
        assert_eq!(refs.get(RefKind::Line, "main").unwrap(), None);
        assert_eq!(refs.get(RefKind::Line, "trunk").unwrap(), Some(oid(1)));
        let log = moves(&refs, LogName::Line("trunk".into()));
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].2, "line: renamed from main to trunk");
        // HEAD followed the rename, and says so, as git's log does.
        let head = moves(&refs, LogName::Head);
        assert_eq!(head.len(), 2);
        assert_eq!(head[1], (Some(oid(1)), Some(oid(1)), log[1].2.clone()));
        assert!(refs.rename_line("nope", "x").is_err());
    }

    #[test]
    fn new_names_cannot_be_read_two_ways() {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["refs/lines", "refs/tags", "tmp"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let refs = RefsMut::new(Refs::new(tmp.path()));
        let id = ObjectId::default();
        refs.set(RefKind::Line, "main", &id).unwrap();
        refs.set(RefKind::Tag, "v1", &id).unwrap();
        let err = refs
            .check_new(RefKind::Tag, "main")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a line is named main"), "{err}");
        let err = refs.check_new(RefKind::Line, "v1").unwrap_err().to_string();
        assert!(err.contains("a tag is named v1"), "{err}");
        for bad in ["HEAD", &"0123abcd".repeat(8), "a/b"] {
            assert!(refs.check_new(RefKind::Tag, bad).is_err(), "{bad}");
        }
        for good in ["v2", "main2", "cafe", "2024", "cafe-1", "head"] {
            refs.check_new(RefKind::Tag, good).unwrap();
            refs.check_new(RefKind::Line, good).unwrap();
        }
    }
}
