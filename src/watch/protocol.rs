//! What a client and the monitor say on `.cairn/watch/sock` (docs/FORMAT.md, "Monitor
//! protocol"). One question per connection: a line of text, then one binary answer, after
//! which the monitor closes the connection. Integers little-endian:
//!
//! ```text
//! question: "cairn-watch 1 since <instance, 16 hex digits> <seq>\n"
//!         | "cairn-watch 1 status\n" | "cairn-watch 1 stop\n"
//! answer:   "CAIRNWAN"  version u32 (1)  kind u8  instance u64  seq u64  then by kind:
//!   0 changes:    count u32, count x { path_len u32, path }
//!   1 everything: nothing (the client checks every file)
//!   2 status:     pid u32, directories u32, reason_len u32, reason (UTF-8; empty: healthy)
//!   3 stopping:   pid u32
//! ```
//!
//! The answer is hostile input to the client: lengths are bounded and every path must be a
//! valid repository path, or the answer is refused (and the client checks every file).

use std::io::Read;

use super::{Reader, Token};
use crate::repo_path::RepoPath;

const MAGIC: &[u8; 8] = b"CAIRNWAN";
/// The protocol version spoken and the only one understood.
pub const VERSION: u32 = 1;
/// Bytes of a question, at most.
pub const MAX_QUESTION: usize = 128;
/// Bytes of an answer, at most: a monitor with more changed paths answers "everything".
pub const MAX_ANSWER: u64 = 64 << 20;

/// A client's question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// What changed since this token.
    Since(Token),
    /// Whether the monitor runs, and how.
    Status,
    /// End the monitor.
    Stop,
}

impl Question {
    /// The question's line.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Question::Since(t) => format!(
                "cairn-watch {VERSION} since {:016x} {}\n",
                t.instance, t.seq
            ),
            Question::Status => format!("cairn-watch {VERSION} status\n"),
            Question::Stop => format!("cairn-watch {VERSION} stop\n"),
        }
        .into_bytes()
    }

    /// Reads a question's line; `None` for anything else.
    pub fn decode(line: &[u8]) -> Option<Question> {
        let line = std::str::from_utf8(line).ok()?.strip_suffix('\n')?;
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["cairn-watch", "1", "since", instance, seq] if instance.len() == 16 => {
                Some(Question::Since(Token {
                    instance: u64::from_str_radix(instance, 16).ok()?,
                    seq: seq.parse().ok()?,
                }))
            }
            ["cairn-watch", "1", "status"] => Some(Question::Status),
            ["cairn-watch", "1", "stop"] => Some(Question::Stop),
            _ => None,
        }
    }
}

/// What the monitor knows of itself, for `cairn watch status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The monitor's process id.
    pub pid: u32,
    /// Directories it watches.
    pub directories: u32,
    /// Why it answers "everything" to every question (watches ran out); empty when it
    /// answers exactly.
    pub reason: String,
}

/// The monitor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// These paths (files, or directories meaning everything below them) may have changed
    /// since the token asked about, and nothing else did.
    Changes(Token, Vec<Vec<u8>>),
    /// Anything may have changed: the token is unknown, or the monitor lost track.
    Everything(Token),
    /// The monitor's health.
    Status(Token, Health),
    /// The monitor is ending.
    Stopping(Token, u32),
}

impl Answer {
    /// The answer's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, token) = match self {
            Answer::Changes(t, _) => (0u8, t),
            Answer::Everything(t) => (1, t),
            Answer::Status(t, _) => (2, t),
            Answer::Stopping(t, _) => (3, t),
        };
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&token.instance.to_le_bytes());
        out.extend_from_slice(&token.seq.to_le_bytes());
        match self {
            Answer::Changes(_, paths) => {
                let count = u32::try_from(paths.len()).expect("fewer than 4 billion paths");
                out.extend_from_slice(&count.to_le_bytes());
                for p in paths {
                    let len = u32::try_from(p.len()).expect("under 4 GiB");
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(p);
                }
            }
            Answer::Everything(_) => {}
            Answer::Status(_, h) => {
                out.extend_from_slice(&h.pid.to_le_bytes());
                out.extend_from_slice(&h.directories.to_le_bytes());
                let len = u32::try_from(h.reason.len()).expect("a short reason");
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(h.reason.as_bytes());
            }
            Answer::Stopping(_, pid) => out.extend_from_slice(&pid.to_le_bytes()),
        }
        out
    }

    /// Reads an answer from `r`, at most [`MAX_ANSWER`] bytes of it.
    pub fn read_from(r: &mut dyn Read) -> Result<Answer, String> {
        let mut bytes = Vec::new();
        r.take(MAX_ANSWER + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_ANSWER {
            return Err("answer too long".into());
        }
        Answer::decode(&bytes)
    }

    /// Reads an answer's bytes; the reason when they are not a valid answer.
    pub fn decode(bytes: &[u8]) -> Result<Answer, String> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err("not a cairn monitor answer".into());
        }
        let mut r = Reader::new(&bytes[8..]);
        let version = r.u32()?;
        if version != VERSION {
            return Err(format!("unsupported monitor protocol version {version}"));
        }
        let kind = r.take(1)?[0];
        let token = Token {
            instance: r.u64()?,
            seq: r.u64()?,
        };
        let answer = match kind {
            0 => Answer::Changes(token, read_paths(&mut r)?),
            1 => Answer::Everything(token),
            2 => Answer::Status(token, read_health(&mut r)?),
            3 => Answer::Stopping(token, r.u32()?),
            k => return Err(format!("unknown answer kind {k}")),
        };
        if r.left() != 0 {
            return Err("trailing bytes after the answer".into());
        }
        Ok(answer)
    }
}

fn read_paths(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, String> {
    let count = r.u32()? as usize;
    if count > r.left() / 5 {
        return Err("more paths than bytes".into());
    }
    let mut paths = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.u32()? as usize;
        let p = r.take(len)?;
        if !RepoPath::new(p).is_valid() {
            return Err(format!("invalid path {:?}", String::from_utf8_lossy(p)));
        }
        paths.push(p.to_vec());
    }
    Ok(paths)
}

fn read_health(r: &mut Reader<'_>) -> Result<Health, String> {
    let pid = r.u32()?;
    let directories = r.u32()?;
    let len = r.u32()? as usize;
    let reason = std::str::from_utf8(r.take(len)?).map_err(|e| e.to_string())?;
    Ok(Health {
        pid,
        directories,
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Token = Token {
        instance: 0xfeed_0000_beef_0001,
        seq: 9,
    };

    #[test]
    fn questions_round_trip_and_strangers_are_refused() {
        for q in [Question::Since(T), Question::Status, Question::Stop] {
            assert_eq!(Question::decode(&q.encode()), Some(q));
        }
        for bad in [
            &b"cairn-watch 2 status\n"[..],
            b"cairn-watch 1 status",
            b"cairn-watch 1 since 12 3\n",
            b"cairn-watch 1 since 000000000000000g 3\n",
            b"cairn-watch 1 since 0000000000000001 -3\n",
            b"\xff\n",
        ] {
            assert_eq!(Question::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_round_trip() {
        let health = Health {
            pid: 77,
            directories: 1001,
            reason: "watches ran out".into(),
        };
        for a in [
            Answer::Changes(T, vec![b"a".to_vec(), b"d/\xffx".to_vec()]),
            Answer::Changes(T, Vec::new()),
            Answer::Everything(T),
            Answer::Status(T, health),
            Answer::Stopping(T, 5),
        ] {
            assert_eq!(Answer::decode(&a.encode()).unwrap(), a);
        }
    }

    #[test]
    fn hostile_answers_are_refused() {
        let good = Answer::Changes(T, vec![b"a/b".to_vec()]).encode();
        for n in 0..good.len() {
            assert!(Answer::decode(&good[..n]).is_err(), "length {n}");
        }
        for bad in [&b"../etc"[..], b"/abs", b"a/../b", b""] {
            let a = Answer::Changes(T, vec![bad.to_vec()]).encode();
            assert!(Answer::decode(&a).is_err(), "{bad:?}");
        }
        // A count of four billion paths in a short answer is refused before any allocation.
        let mut lie = good.clone();
        lie[29..33].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Answer::decode(&lie).is_err());
    }
}
