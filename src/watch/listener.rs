//! The monitor's socket: bound under a name of its own process, published as `sock`, and
//! the one-line questions read from it.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{Question, MAX_QUESTION};
use crate::error::{IoContext, Result};

/// The socket, bound under a name of this process's own and then linked to `sock`: the
/// monitor can tell whether `sock` is still its own (a newer monitor may have taken it).
pub(super) struct Listener {
    listener: UnixListener,
    own: PathBuf,
    public: PathBuf,
}

impl Listener {
    pub(super) fn bind(cairn_dir: &Path) -> Result<Listener> {
        let public = super::socket_path(cairn_dir);
        let own = public.with_file_name(format!("sock-{}", std::process::id()));
        let tmp = public.with_file_name(format!("sock-{}.tmp", std::process::id()));
        for p in [&own, &tmp] {
            let _ = std::fs::remove_file(p);
        }
        let listener = super::client::with_short_path(&own, |p| UnixListener::bind(p))
            .ctx("could not create the monitor's socket", &own)?;
        std::fs::hard_link(&own, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &public))
            .ctx("could not create the monitor's socket", &public)?;
        listener
            .set_nonblocking(true)
            .ctx("could not create the monitor's socket", &own)?;
        Ok(Listener {
            listener,
            own,
            public,
        })
    }

    /// Whether `sock` still names this monitor's socket.
    pub(super) fn is_public(&self) -> bool {
        let ino = |p: &Path| {
            std::fs::symlink_metadata(p)
                .map(|m| (m.dev(), m.ino()))
                .ok()
        };
        ino(&self.own).is_some() && ino(&self.own) == ino(&self.public)
    }

    pub(super) fn remove(&self) {
        if self.is_public() {
            let _ = std::fs::remove_file(&self.public);
        }
        let _ = std::fs::remove_file(&self.own);
    }
    /// A pending connection, if any (the socket does not block).
    pub(super) fn accept(&self) -> Option<UnixStream> {
        self.listener.accept().ok().map(|(s, _)| s)
    }

    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

/// Reads a question: one short line, sent at once (a client that dawdles is dropped).
pub(super) fn read_question(stream: &UnixStream) -> Option<Question> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut line = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    let mut r = stream;
    while line.len() < MAX_QUESTION {
        if r.read(&mut byte).ok()? == 0 {
            return None;
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return Question::decode(&line);
        }
    }
    None
}
