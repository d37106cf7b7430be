//! `cairn verify-proof FILE [--root LAYER_ID] [--output FILE]`: checks a proof with no
//! repository. A proof that does not verify is an outcome (`verified: false`, exit 1), not
//! an error; a file that is not a proof at all is an error (exit 2).

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::proof::{self, ProofError, Verified, MAX_PROOF_BYTES};

/// Which proof to check, against what, and where its bytes go.
#[derive(Debug, Clone)]
pub struct VerifyProofOptions {
    /// The proof file; `-` reads standard input.
    pub proof: PathBuf,
    /// The layer id the proof must be for (64 hex digits).
    pub root: Option<String>,
    /// Where to write the proven bytes.
    pub output: Option<PathBuf>,
}

/// Whether the proof holds, and what it establishes.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VerifyProofOutcome {
    /// Whether the proof holds; when false, `error` says why and nothing else is set.
    pub verified: bool,
    /// Why the proof was rejected.
    pub error: Option<String>,
    /// What the proof establishes (layer and hash algorithm, path, kind, mode, size, id, and
    /// the range of bytes it carries with their hashes); its fields are at the top level of
    /// the JSON, and absent when not verified.
    #[serde(flatten)]
    pub proven: Option<Verified>,
    /// The file the proven bytes were written to.
    pub output: Option<PathBuf>,
}

/// Checks a proof with no repository: a proof that does not hold is an outcome with
/// `verified` false; a file that is not a proof, or one too large to be one, is an error.
pub fn verify_proof(opts: &VerifyProofOptions) -> Result<VerifyProofOutcome> {
    let root = match &opts.root {
        Some(r) => Some(
            r.trim()
                .parse::<ObjectId>()
                .map_err(|_| Error::BadArgument {
                    what: format!("--root {r:?} is not a layer id (64 hexadecimal digits)"),
                    path: opts.proof.clone(),
                })?,
        ),
        None => None,
    };
    let bytes = read_capped(&opts.proof)?;
    let proven = match proof::verify_json(&bytes, root.as_ref()) {
        Ok(v) => v,
        Err(ProofError::Invalid(why)) => {
            return Ok(VerifyProofOutcome {
                verified: false,
                error: Some(why),
                proven: None,
                output: None,
            })
        }
        Err(e @ ProofError::Malformed(_)) => {
            return Err(Error::MalformedProof {
                what: e.to_string(),
                path: opts.proof.clone(),
            })
        }
    };
    let output = match &opts.output {
        Some(dest) => Some(write_output(&proven, dest)?),
        None => None,
    };
    Ok(VerifyProofOutcome {
        verified: true,
        error: None,
        proven: Some(proven),
        output,
    })
}

/// Reads the proof, refusing one larger than any proof can be before holding it: a file
/// (standard input redirected from one too) by its size, a pipe as soon as it passes the
/// limit.
fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let file = if path == Path::new("-") {
        let fd = std::io::stdin().as_fd().try_clone_to_owned();
        std::fs::File::from(fd.ctx("could not read the proof", path)?)
    } else {
        std::fs::File::open(path).ctx("could not open the proof", path)?
    };
    let meta = file.metadata().ctx("could not read the proof", path)?;
    if meta.is_file() && meta.len() > MAX_PROOF_BYTES {
        return Err(too_large(path));
    }
    // The size as capacity, so the buffer is never regrown and copied; a pipe has no size,
    // and reserving the limit costs memory only as it is filled.
    let capacity = if meta.is_file() {
        meta.len() + 1
    } else {
        MAX_PROOF_BYTES + 1
    };
    read_limited(file, capacity as usize, path)
}

/// Reads at most [`MAX_PROOF_BYTES`] (a growing file or a pipe can hold more than it said).
fn read_limited(from: impl Read, capacity: usize, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(capacity);
    from.take(MAX_PROOF_BYTES + 1)
        .read_to_end(&mut bytes)
        .ctx("could not read the proof", path)?;
    if bytes.len() as u64 > MAX_PROOF_BYTES {
        return Err(too_large(path));
    }
    Ok(bytes)
}

fn too_large(path: &Path) -> Error {
    Error::MalformedProof {
        what: format!(
            "larger than any proof ({} MiB at most)",
            MAX_PROOF_BYTES >> 20
        ),
        path: path.to_path_buf(),
    }
}

/// Writes the proven bytes to `dest`, atomically (staged beside it).
fn write_output(proven: &Verified, dest: &Path) -> Result<PathBuf> {
    let Some(range) = &proven.range else {
        return Err(Error::BadArgument {
            what: "the proof carries no bytes to write: make it with `cairn prove --range` \
                   or `--content`"
                .into(),
            path: dest.to_path_buf(),
        });
    };
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fsutil::write_atomic(dir, dest, &range.bytes)?;
    Ok(dest.to_path_buf())
}
