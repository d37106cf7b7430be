//! The client side: asking the monitor, and the state a command keeps for the next one.
//! Every failure here means "check every file", never an error: the monitor only ever
//! saves time.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{Answer, Question};
use super::state::{self, State};
use super::{socket_path, state_path, Token};
use crate::index::{index_path, StagingIndex};
use crate::repo::Repository;

/// How long a client waits for the monitor: its answer follows one cookie's round trip, a
/// few milliseconds; a monitor that takes longer is stuck, and the client checks every file.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `question` to the monitor of the repository `cairn_dir` and reads its answer.
/// An error when nothing listens (at once: connecting to a socket file no process holds is
/// refused) or the answer is late or malformed.
pub fn ask(cairn_dir: &Path, question: Question) -> std::io::Result<Answer> {
    use std::io::Write;
    let mut stream = with_socket_path(cairn_dir, |p| UnixStream::connect(p))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(&question.encode())?;
    Answer::read_from(&mut stream).map_err(std::io::Error::other)
}

/// Runs `f` on the socket's path, or, when that is too long for a socket address (108
/// bytes), on the same socket reached through the open watch directory's descriptor.
pub(crate) fn with_socket_path<T>(
    cairn_dir: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    with_short_path(&socket_path(cairn_dir), f)
}

/// Runs `f` on `path`, or on `/proc/self/fd/N/NAME` through its open parent directory when
/// `path` is too long for a socket address.
pub(crate) fn with_short_path<T>(
    path: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    if path.as_os_str().len() < 100 {
        return f(path);
    }
    let dir = File::open(parent)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    f(&short)
}

/// The trailing checksum of the staging index file of `cairn_dir` as it is now; `None` when
/// there is none or it cannot be read.
fn file_checksum(cairn_dir: &Path) -> Option<[u8; 32]> {
    let file = File::open(index_path(cairn_dir)).ok()?;
    let at = file.metadata().ok()?.len().checked_sub(32)?;
    let mut checksum = [0u8; 32];
    file.read_exact_at(&mut checksum, at).ok()?;
    Some(checksum)
}

/// What the monitor said, for a command about to compare the index with the worktree.
pub struct Look {
    token: Token,
    /// The checksum of the index it was taken for.
    checksum: [u8; 32],
    /// The paths (files, or directories meaning all below) to check, sorted; `None`: all.
    paths: Option<Vec<Vec<u8>>>,
}

impl Look {
    /// Asks the monitor what changed since the state kept for `index`, which the caller has
    /// just loaded: the state is bound to the checksum of the bytes that load read.
    /// `None` when no monitor answers or the index came from no file: the command checks
    /// every file and keeps no state.
    pub fn take(repo: &Repository, index: &StagingIndex) -> Option<Look> {
        let cairn = repo.dir();
        let checksum = index.checksum()?.0;
        if !socket_path(cairn).exists() {
            return None;
        }
        let kept = std::fs::read(state_path(cairn))
            .ok()
            .and_then(|b| state::decode(&b).ok())
            .filter(|s| s.index == checksum);
        let since = kept.as_ref().map_or(Token::default(), |s| s.token);
        let (token, paths) = match ask(cairn, Question::Since(since)).ok()? {
            Answer::Changes(t, mut paths) if t.instance == since.instance => {
                paths.extend(kept.map(|s| s.recheck).unwrap_or_default());
                paths.sort_unstable();
                paths.dedup();
                (t, Some(paths))
            }
            Answer::Changes(t, _) | Answer::Everything(t) => (t, None),
            Answer::Status(..) | Answer::Stopping(..) => return None,
        };
        (token.instance != 0).then_some(Look {
            token,
            checksum,
            paths,
        })
    }

    /// Whether the monitor vouches for the files it did not name.
    pub fn is_exact(&self) -> bool {
        self.paths.is_some()
    }

    /// The positions of the entries of `index` to check, in path order: those the monitor
    /// or the kept state named, and all below a directory named; `None`: every entry.
    pub fn candidates(&self, index: &StagingIndex) -> Option<Vec<usize>> {
        let paths = self.paths.as_ref()?;
        if !index.entries.is_sorted() {
            return None;
        }
        let entries = index.entries.as_slice();
        let mut out = Vec::new();
        for p in paths {
            out.extend(index.entries.get_index_of(p.as_slice()));
            let below = [p.as_slice(), b"/"].concat();
            let start = entries.partition_point(|k, _| k < below.as_slice());
            let run = entries.slice(start..entries.len());
            let n = run.keys().take_while(|k| k.starts_with(&below)).count();
            out.extend(start..start + n);
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// Records a stat pass against the index this look was taken for: the paths found not
    /// clean, and the entries whose stat data cannot prove them clean (racy), are checked
    /// again next time; every other entry matched the worktree as of the token. A state
    /// that cannot be written only costs the next command a full pass.
    pub fn save<'a>(
        &self,
        repo: &Repository,
        index: &StagingIndex,
        not_clean: impl IntoIterator<Item = &'a [u8]>,
    ) {
        let mut recheck: Vec<Vec<u8>> = not_clean.into_iter().map(<[u8]>::to_vec).collect();
        recheck.extend(racy(index));
        write_state(
            repo.dir(),
            &State {
                token: self.token,
                index: self.checksum,
                recheck,
            },
        );
    }

    /// After `add` used this look and saved `index` (under the writers' lock): the new
    /// index's entries are what the old one had but for paths this look named (checked
    /// again next time) and files read now (their change, if any, came after the token),
    /// so the state carries over with every path the look named. Racy entries are taken
    /// against the loaded file's time, which is no later than the saved one's (more of
    /// them, never fewer).
    pub fn carry(&self, repo: &Repository, index: &StagingIndex) {
        let (Some(paths), Some(checksum)) = (&self.paths, index.checksum()) else {
            return;
        };
        let mut recheck = paths.clone();
        recheck.extend(racy(index));
        write_state(
            repo.dir(),
            &State {
                token: self.token,
                index: checksum.0,
                recheck,
            },
        );
    }
}

/// The entries whose stat data would not show a change made within the same timestamp tick
/// as the index file that was loaded ([`StagingIndex::is_racy`]).
fn racy(index: &StagingIndex) -> impl Iterator<Item = Vec<u8>> + '_ {
    index
        .entries
        .iter()
        .filter(|(_, e)| index.is_racy(e))
        .map(|(p, _)| p.to_vec())
}

/// A command that rewrites the index without changing its entries' stat data (commit):
/// the state kept for the old index, if it was for that index, is kept for the new one.
pub struct Carry {
    kept: Option<State>,
}

impl Carry {
    /// Before the index of `cairn_dir` is replaced (under the writers' lock).
    pub fn before(cairn_dir: &Path) -> Carry {
        let kept = (|| {
            let checksum = file_checksum(cairn_dir)?;
            let bytes = std::fs::read(state_path(cairn_dir)).ok()?;
            state::decode(&bytes).ok().filter(|s| s.index == checksum)
        })();
        Carry { kept }
    }

    /// After the index was replaced by one with the same entries.
    pub fn after(self, cairn_dir: &Path) {
        let (Some(mut kept), Some(checksum)) = (self.kept, file_checksum(cairn_dir)) else {
            return;
        };
        kept.index = checksum;
        write_state(cairn_dir, &kept);
    }
}

/// Replaces the state file (a temporary file renamed over it, so a reader sees the old or
/// the new one). Not synced: after a crash a torn file fails its checksum, and the next
/// command does a full pass.
fn write_state(cairn_dir: &Path, state: &State) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dest = state_path(cairn_dir);
    let tmp = dest.with_file_name(format!("state-{}-{n}.tmp", std::process::id()));
    let written =
        std::fs::write(&tmp, state::encode(state)).and_then(|()| std::fs::rename(&tmp, &dest));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
