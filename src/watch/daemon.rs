//! The monitor process: one inotify watch per directory of the worktree, a book of the
//! paths changed since it started, and a socket answering "what changed since token T".
//!
//! One thread, one loop: `poll` on the inotify descriptor and the listening socket. A
//! question "since T" creates a cookie file in `.cairn/watch/` and waits (still reading
//! events) until the cookie's own event is read: inotify keeps one instance's events in
//! order, so every change made before the question has been read by then.
//!
//! What the book cannot account for exactly makes it start again ("everything changed" to
//! any older token): a queue overflow, a directory moved (its watches' paths would be
//! wrong), too many changed paths. A directory created later is watched, and named as
//! changed itself, so all found in it counts as changed (it may have filled before its watch
//! was added). When watches run out the monitor keeps running but answers "everything" to
//! every question, and says why in `cairn watch status`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::listener::{read_question, Listener};
use super::protocol::{Answer, Health, Question};
use super::Token;
use crate::error::{Error, IoContext, Result};

/// Changed paths the book holds, at most: past that it starts again (and clients do a full
/// pass), which keeps the monitor's memory and its answers small.
const MAX_CHANGED: usize = 100_000;

/// How long a question waits for its cookie's event before the answer is "everything".
const COOKIE_WAIT: Duration = Duration::from_millis(1500);

/// How often the monitor checks that its worktree, repository and socket are still there.
const TICK_MS: i32 = 1000;

/// Directory events the monitor needs: every way a name or a file's data or metadata can
/// change, and the directory itself going away.
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::DONT_FOLLOW
        | WatchMask::ONLYDIR
}

/// What a started monitor reports once its watches are in place.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// Its process id.
    pub pid: u32,
    /// Directories watched.
    pub directories: usize,
}

/// Why the monitor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// `cairn watch stop`.
    Stopped,
    /// The worktree, the repository or the socket went away (a newer monitor took it).
    Gone(String),
}

/// Runs the monitor of the worktree `root` with the repository `cairn_dir` until it is
/// stopped or they go away; `ready` is called once the watches are in place and the
/// socket answers. Refused on a file system inotify cannot see changes on, when another
/// monitor runs, or when watches run out.
pub fn run(root: &Path, cairn_dir: &Path, ready: impl FnOnce(Ready)) -> Result<Ended> {
    for p in [root, cairn_dir] {
        check_file_system(p)?;
    }
    let dir = super::dir(cairn_dir);
    std::fs::create_dir_all(&dir).ctx("could not create directory", &dir)?;
    let lock_path = dir.join("lock");
    let lock = std::fs::File::create(&lock_path).ctx("could not create file", &lock_path)?;
    if lock.try_lock().is_err() {
        return Err(Error::Watch {
            what: "a monitor already runs for this worktree".into(),
            path: root.to_path_buf(),
        });
    }
    clear_leftovers(&dir);
    let mut m = Monitor::new(root, cairn_dir)?;
    m.watch_tree(b"")?;
    let listener = Listener::bind(cairn_dir)?;
    ready(Ready {
        pid: std::process::id(),
        directories: m.dirs.len(),
    });
    let ended = m.serve(&listener);
    listener.remove();
    drop(lock);
    Ok(ended)
}

/// Removes what a killed monitor left in `.cairn/watch/`: its socket names and cookies
/// (none belongs to a running monitor: this one holds the lock).
fn clear_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.as_bytes();
        if name.starts_with(b"sock-") || name.starts_with(b"cookie-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Refuses network and FUSE file systems: changes made on another machine, or by a FUSE
/// server, never reach this machine's inotify.
fn check_file_system(path: &Path) -> Result<()> {
    const REMOTE: &[(i64, &str)] = &[
        (0x6969, "NFS"),
        (0x517b, "SMB"),
        (0xff53_4d42, "CIFS"),
        (0xfe53_4d42, "SMB2"),
        (0x6573_5546, "FUSE"),
        (0x0102_1997, "9P"),
        (0x00c3_6400, "Ceph"),
        (0x5346_414f, "AFS"),
        (0x7375_7245, "Coda"),
        (0x0bd0_0bd0, "Lustre"),
        (0x4750_4653, "GPFS"),
    ];
    let magic = crate::fsutil::fs_magic(path).ctx("could not examine the file system", path)?;
    match REMOTE.iter().find(|(m, _)| *m == magic) {
        Some((_, name)) => Err(Error::Watch {
            what: format!("the monitor cannot see changes on a {name} file system"),
            path: path.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// What the monitor knows: its watches and the book of changes.
struct Monitor {
    root: PathBuf,
    cairn_dir: PathBuf,
    inotify: Inotify,
    /// Watched directories by watch descriptor: the descriptor and the path ("" the root).
    dirs: HashMap<i32, (WatchDescriptor, Vec<u8>)>,
    /// `.cairn/watch`, watched for cookies.
    cookie_wd: WatchDescriptor,
    /// The repository directory's name when it lies at the worktree's root: not watched.
    skip: Option<Vec<u8>>,
    instance: u64,
    /// Changes recorded; the token of an answer.
    seq: u64,
    /// The first token of the book: older ones get "everything".
    reset: u64,
    /// Each changed path with the `seq` of its last change.
    changed: HashMap<Vec<u8>, u64>,
    /// The highest cookie whose event was read.
    cookie_seen: u64,
    cookie_next: u64,
    /// Why the monitor cannot answer exactly any more.
    broken: Option<String>,
    ending: Option<Ended>,
}

/// A question waiting for its cookie.
struct Waiting {
    stream: UnixStream,
    since: Token,
    cookie: u64,
    deadline: Instant,
}

impl Monitor {
    fn new(root: &Path, cairn_dir: &Path) -> Result<Monitor> {
        let inotify = Inotify::init().ctx("could not start inotify", root)?;
        let watch_dir = super::dir(cairn_dir);
        let cookie_wd = inotify
            .watches()
            .add(&watch_dir, mask())
            .map_err(|e| watch_error(&watch_dir, &e))?;
        let skip = cairn_dir
            .strip_prefix(root)
            .ok()
            .map(|rel| rel.as_os_str().as_bytes().to_vec());
        Ok(Monitor {
            root: root.to_path_buf(),
            cairn_dir: cairn_dir.to_path_buf(),
            inotify,
            dirs: HashMap::new(),
            cookie_wd,
            skip,
            instance: new_instance(),
            seq: 1,
            reset: 1,
            changed: HashMap::new(),
            cookie_seen: 0,
            cookie_next: 0,
            broken: None,
            ending: None,
        })
    }

    fn token(&self) -> Token {
        Token {
            instance: self.instance,
            seq: self.seq,
        }
    }

    /// Watches the directory `rel` and every directory below it: each is watched before it
    /// is listed, so a directory created meanwhile is either listed or reported. An error
    /// when a directory cannot be watched or listed (the caller decides what that means).
    fn watch_tree(&mut self, rel: &[u8]) -> Result<()> {
        let top = crate::worktree::abs(&self.root, rel);
        let skip = self
            .skip
            .as_ref()
            .map(|s| self.root.join(OsStr::from_bytes(s)));
        let walk = ignore::WalkBuilder::new(&top)
            .standard_filters(false)
            .follow_links(false)
            .filter_entry(move |e| skip.as_deref() != Some(e.path()))
            .build();
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if is_vanished(&e) => continue,
                Err(e) => {
                    return Err(Error::Watch {
                        what: format!("could not list a directory to watch: {e}"),
                        path: top,
                    })
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            match self.inotify.watches().add(path, mask()) {
                Ok(wd) => {
                    let rel = path.strip_prefix(&self.root).unwrap_or(path);
                    let rel = rel.as_os_str().as_bytes().to_vec();
                    self.dirs.insert(wd.get_watch_descriptor_id(), (wd, rel));
                }
                // Gone, or replaced by a file, since it was listed: its parent's event says so.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                Err(e) => return Err(watch_error(path, &e)),
            }
        }
        Ok(())
    }

    /// Forgets every change and watches the whole worktree again: any older token gets
    /// "everything".
    fn start_again(&mut self) {
        self.seq += 1;
        self.reset = self.seq;
        self.changed.clear();
        let old = std::mem::take(&mut self.dirs);
        if let Err(why) = self.watch_tree(b"") {
            self.broken = Some(why.to_string());
        }
        for (id, (wd, _)) in old {
            if !self.dirs.contains_key(&id) {
                let _ = self.inotify.watches().remove(wd);
            }
        }
    }

    fn record(&mut self, rel: Vec<u8>) {
        self.seq += 1;
        self.changed.insert(rel, self.seq);
        if self.changed.len() > MAX_CHANGED {
            self.seq += 1;
            self.reset = self.seq;
            self.changed.clear();
        }
    }

    /// The loop: events, questions, and the once-a-second check, until the end.
    fn serve(&mut self, listener: &Listener) -> Ended {
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut last_check = Instant::now();
        loop {
            let timeout = waiting
                .iter()
                .map(|w| w.deadline.saturating_duration_since(Instant::now()))
                .min()
                .map_or(TICK_MS, |d| {
                    i32::try_from(d.as_millis()).unwrap_or(TICK_MS).min(TICK_MS)
                });
            let fds = [self.inotify.as_fd(), listener.as_fd()];
            let Ok(readable) = crate::fsutil::poll_readable(&fds, timeout) else {
                return Ended::Gone("could not wait for events".into());
            };
            if readable[0] {
                self.read_events(&mut buffer);
            }
            if readable[1] {
                self.accept(listener, &mut waiting);
            }
            self.answer_waiting(&mut waiting);
            if last_check.elapsed() >= Duration::from_millis(TICK_MS as u64) {
                last_check = Instant::now();
                self.check_still_there(listener);
            }
            if let Some(end) = self.ending.take() {
                for w in waiting {
                    self.answer(w.stream, Answer::Everything(self.token()));
                }
                return end;
            }
        }
    }

    fn read_events(&mut self, buffer: &mut [u8]) {
        loop {
            let events: Vec<(i32, EventMask, Option<Vec<u8>>)> =
                match self.inotify.read_events(buffer) {
                    Ok(events) => events
                        .map(|e| {
                            let name = e.name.map(|n| n.as_bytes().to_vec());
                            (e.wd.get_watch_descriptor_id(), e.mask, name)
                        })
                        .collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                    Err(e) => {
                        self.ending = Some(Ended::Gone(format!("could not read events: {e}")));
                        return;
                    }
                };
            if events.is_empty() {
                return;
            }
            for (wd, mask, name) in events {
                self.event(wd, mask, name);
            }
        }
    }

    /// Takes in one event.
    fn event(&mut self, wd: i32, mask: EventMask, name: Option<Vec<u8>>) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            return self.start_again();
        }
        if wd == self.cookie_wd.get_watch_descriptor_id() {
            return self.cookie_event(mask, name.as_deref());
        }
        let Some((_, dir)) = self.dirs.get(&wd) else {
            return; // a watch removed meanwhile
        };
        let dir = dir.clone();
        if mask.contains(EventMask::IGNORED) {
            self.dirs.remove(&wd);
        }
        let Some(name) = name else {
            // About a watched directory itself: its parent reports it, but for the root.
            let self_gone = EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED;
            if dir.is_empty() && mask.intersects(self_gone) {
                self.ending = Some(Ended::Gone("the worktree was removed or moved".into()));
            }
            return;
        };
        if dir.is_empty() && self.skip.as_deref() == Some(name.as_slice()) {
            if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                self.ending = Some(Ended::Gone("the repository was removed".into()));
            }
            return;
        }
        let rel = crate::repo_path::RepoPath::new(&dir)
            .join(&name)
            .into_bytes();
        self.name_event(rel, mask);
    }

    fn name_event(&mut self, rel: Vec<u8>, mask: EventMask) {
        if !mask.contains(EventMask::ISDIR) {
            return self.record(rel);
        }
        if mask.intersects(EventMask::MOVED_FROM | EventMask::MOVED_TO) {
            // The watches below it now stand at another path: start again.
            return self.start_again();
        }
        if mask.contains(EventMask::CREATE) {
            if let Err(why) = self.watch_tree(&rel) {
                self.broken = Some(why.to_string());
            }
        }
        self.record(rel);
    }

    fn cookie_event(&mut self, mask: EventMask, name: Option<&[u8]>) {
        if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED) {
            self.ending = Some(Ended::Gone("the repository was removed".into()));
            return;
        }
        let n = name
            .and_then(|n| n.strip_prefix(b"cookie-"))
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok());
        if let (Some(n), true) = (n, mask.contains(EventMask::CREATE)) {
            self.cookie_seen = self.cookie_seen.max(n);
        }
    }

    fn cookie_path(&self, n: u64) -> PathBuf {
        super::dir(&self.cairn_dir).join(format!("cookie-{n}"))
    }

    /// Takes every pending connection's question.
    fn accept(&mut self, listener: &Listener, waiting: &mut Vec<Waiting>) {
        while let Some(stream) = listener.accept() {
            let Some(question) = read_question(&stream) else {
                continue;
            };
            match question {
                Question::Since(since) => {
                    self.cookie_next += 1;
                    let cookie = self.cookie_next;
                    if std::fs::write(self.cookie_path(cookie), b"").is_err() {
                        self.answer(stream, Answer::Everything(self.token()));
                        continue;
                    }
                    waiting.push(Waiting {
                        stream,
                        since,
                        cookie,
                        deadline: Instant::now() + COOKIE_WAIT,
                    });
                }
                Question::Status => {
                    let health = Health {
                        pid: std::process::id(),
                        directories: u32::try_from(self.dirs.len()).unwrap_or(u32::MAX),
                        reason: self.broken.clone().unwrap_or_default(),
                    };
                    self.answer(stream, Answer::Status(self.token(), health));
                }
                Question::Stop => {
                    self.answer(stream, Answer::Stopping(self.token(), std::process::id()));
                    self.ending = Some(Ended::Stopped);
                }
            }
        }
    }

    /// Answers the questions whose cookie was read, and those that waited too long (with
    /// "everything": the token is still good, since events not read yet get later ones).
    fn answer_waiting(&mut self, waiting: &mut Vec<Waiting>) {
        let now = Instant::now();
        let (done, rest): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(waiting)
            .into_iter()
            .partition(|w| w.cookie <= self.cookie_seen || w.deadline <= now);
        *waiting = rest;
        for w in done {
            let _ = std::fs::remove_file(self.cookie_path(w.cookie));
            let answer = match w.cookie <= self.cookie_seen {
                true => self.since(w.since),
                false => Answer::Everything(self.token()),
            };
            self.answer(w.stream, answer);
        }
    }

    /// What changed since `t`, when the book goes back that far.
    fn since(&self, t: Token) -> Answer {
        let known = t.instance == self.instance && (self.reset..=self.seq).contains(&t.seq);
        if self.broken.is_some() || !known {
            return Answer::Everything(self.token());
        }
        let mut paths: Vec<Vec<u8>> = self
            .changed
            .iter()
            .filter(|(_, s)| **s > t.seq)
            .map(|(p, _)| p.clone())
            .collect();
        paths.sort_unstable();
        Answer::Changes(self.token(), paths)
    }

    fn answer(&self, mut stream: UnixStream, answer: Answer) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = stream.write_all(&answer.encode());
    }

    fn check_still_there(&mut self, listener: &Listener) {
        let gone = if !listener.is_public() {
            Some("another monitor took the socket")
        } else if !self.root.is_dir() {
            Some("the worktree was removed")
        } else if !self.cairn_dir.join("config.toml").is_file() {
            Some("the repository was removed")
        } else {
            None
        };
        if let Some(why) = gone {
            self.ending = Some(Ended::Gone(why.into()));
        }
    }
}

fn is_vanished(e: &ignore::Error) -> bool {
    e.io_error()
        .is_some_and(|io| matches!(io.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)))
}

/// The error of a watch that could not be added, with the way out when the system's
/// limit of watches is reached.
fn watch_error(path: &Path, e: &std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => Error::Watch {
            what: "inotify watches ran out: raise the limit with `sysctl fs.inotify.max_user_watches=N`".into(),
            path: path.to_path_buf(),
        },
        _ => Error::Watch {
            what: format!("could not watch the directory: {e}"),
            path: path.to_path_buf(),
        },
    }
}

/// A random id for this monitor process: a token of an earlier one must never match.
fn new_instance() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut h = blake3::Hasher::new();
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    let bytes: [u8; 8] = h.finalize().as_bytes()[..8].try_into().expect("8 bytes");
    u64::from_le_bytes(bytes).max(1)
}
