//! The monitor state a client keeps, `.cairn/watch/state`: the token of the last answer it
//! acted on, the staging index that answer was checked against, and the paths that were not
//! clean then (changed, or racily clean), which every later client checks again.
//!
//! A missing, damaged, unknown-version file, or one made for another index, only means a
//! full stat pass: nothing is lost by ignoring it. Bytes (docs/FORMAT.md, "Monitor state
//! file"), integers little-endian:
//!
//! ```text
//! "CAIRNWST"  version u32 (1)  instance u64  seq u64  index checksum [32]
//! count u32   count x { path_len u32, path }      (repo paths, strictly sorted)
//! BLAKE3 of every byte before it [32]
//! ```

use super::{Reader, Token};
use crate::repo_path::RepoPath;

const MAGIC: &[u8; 8] = b"CAIRNWST";
/// The version written and the only one read.
pub const VERSION: u32 = 1;
/// Bytes before the paths: magic, version, token, index checksum, count.
const HEAD_LEN: usize = 8 + 4 + 8 + 8 + 32 + 4;

/// What a client learnt the last time it asked the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The monitor's token when the client's stat pass began.
    pub token: Token,
    /// The trailing checksum of the staging index the pass compared against.
    pub index: [u8; 32],
    /// Paths (files, or directories meaning everything below them) to check again whatever
    /// the monitor says: they were not clean, or not provably clean, at `token`.
    pub recheck: Vec<Vec<u8>>,
}

/// The file's bytes for `state` (its paths sorted and deduplicated first).
pub fn encode(state: &State) -> Vec<u8> {
    let mut paths: Vec<&Vec<u8>> = state.recheck.iter().collect();
    paths.sort_unstable();
    paths.dedup();
    let mut out =
        Vec::with_capacity(HEAD_LEN + 32 + paths.iter().map(|p| 4 + p.len()).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&state.token.instance.to_le_bytes());
    out.extend_from_slice(&state.token.seq.to_le_bytes());
    out.extend_from_slice(&state.index);
    let count = u32::try_from(paths.len()).expect("fewer paths than the index holds");
    out.extend_from_slice(&count.to_le_bytes());
    for p in paths {
        let len = u32::try_from(p.len()).expect("a path shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(p);
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Reads a state file's bytes; the reason when they are not a valid state of this version.
pub fn decode(bytes: &[u8]) -> Result<State, String> {
    if bytes.len() < HEAD_LEN + 32 || &bytes[..8] != MAGIC {
        return Err("not a cairn monitor state file".into());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return Err("checksum does not match".into());
    }
    let mut r = Reader::new(&body[8..]);
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!("unsupported monitor state version {version}"));
    }
    let token = Token {
        instance: r.u64()?,
        seq: r.u64()?,
    };
    let index: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
    let count = r.u32()? as usize;
    // Each path takes at least five bytes: a count beyond what is left is a lie.
    if count > r.left() / 5 {
        return Err("more paths than bytes".into());
    }
    let mut recheck: Vec<Vec<u8>> = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.u32()? as usize;
        let p = r.take(len)?;
        if !RepoPath::new(p).is_valid() {
            return Err(format!("invalid path {:?}", String::from_utf8_lossy(p)));
        }
        if recheck.last().is_some_and(|q| q.as_slice() >= p) {
            return Err("paths are not strictly sorted".into());
        }
        recheck.push(p.to_vec());
    }
    if r.left() != 0 {
        return Err("trailing bytes after the paths".into());
    }
    Ok(State {
        token,
        index,
        recheck,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            token: Token {
                instance: 0x0123_4567_89ab_cdef,
                seq: 42,
            },
            index: [7; 32],
            recheck: vec![
                b"a/b".to_vec(),
                b"dir".to_vec(),
                "\u{e9}t\u{e9}\n".as_bytes().to_vec(),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(decode(&encode(&s)).unwrap(), s);
        let empty = State {
            recheck: Vec::new(),
            ..s
        };
        assert_eq!(decode(&encode(&empty)).unwrap(), empty);
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_refused() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode(&b).is_err(), "bit {i}");
        }
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "length {n}");
        }
    }

    /// A file whose checksum holds but whose paths are hostile: refused all the same.
    #[test]
    fn hostile_paths_are_refused() {
        for bad in [&b"../x"[..], b"/abs", b"a//b", b"", b"a/./b", b"nul\0"] {
            let mut s = sample();
            s.recheck = vec![bad.to_vec()];
            assert!(decode(&encode(&s)).is_err(), "{bad:?}");
        }
    }
}
