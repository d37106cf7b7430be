//! `cairn init`: create a repository.

use std::path::PathBuf;

use serde::Serialize;

use crate::chunk::ChunkParams;
use crate::error::{Error, IoContext, Result};
use crate::hash::HashAlgo;
use crate::repo::Repository;

/// Where to create the repository, and the settings fixed for its life.
pub struct InitOptions {
    /// The worktree root; created with its parents when missing. Refused inside an existing
    /// repository.
    pub dir: PathBuf,
    /// The hash algorithm of every object id.
    pub hash: HashAlgo,
    /// The average chunk size in bytes (bounds a quarter and four times it); `None`:
    /// `ChunkParams::DEFAULT_AVG`.
    pub chunk_avg: Option<u32>,
    /// Create the repository directory here, apart from any worktree (`--repo`), instead
    /// of `.cairn` in `dir`; `dir` is then left alone.
    pub separate: Option<PathBuf>,
}

/// The repository made.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InitOutcome {
    /// The new `.cairn` directory, absolute (symlinks resolved).
    pub path: PathBuf,
    /// The hash algorithm, `"blake3"` or `"sha256"` in JSON.
    pub hash: HashAlgo,
    /// The smallest chunk in bytes; only a file's last chunk may be shorter.
    pub chunk_min: u32,
    /// The chunk size in bytes the chunker aims for on average.
    pub chunk_avg: u32,
    /// The largest chunk in bytes.
    pub chunk_max: u32,
}

/// Creates a repository in `opts.dir`, refusing when it or a directory above it already
/// is one.
pub fn init(opts: &InitOptions) -> Result<InitOutcome> {
    let params = match opts.chunk_avg {
        Some(avg) => ChunkParams::with_avg(avg).map_err(|what| Error::BadArgument {
            what,
            path: opts.dir.clone(),
        })?,
        None => ChunkParams::default(),
    };
    if let Some(dir) = &opts.separate {
        let path = Repository::init_separate(dir, opts.hash, params)?;
        return Ok(InitOutcome {
            path,
            hash: opts.hash,
            chunk_min: params.min,
            chunk_avg: params.avg,
            chunk_max: params.max,
        });
    }
    // Refuse inside an existing repository before creating anything.
    let existing = opts
        .dir
        .ancestors()
        .find(|a| a.exists())
        .map(std::fs::canonicalize);
    if let Some(Ok(base)) = existing {
        if let Some(root) = crate::repo::find_root(&base) {
            return Err(Error::AlreadyARepository {
                path: root.join(crate::repo::CAIRN_DIR),
            });
        }
    }
    std::fs::create_dir_all(&opts.dir).ctx("could not create directory", &opts.dir)?;
    let repo = Repository::init(&opts.dir, opts.hash, params)?;
    Ok(InitOutcome {
        path: repo.dir().to_path_buf(),
        hash: opts.hash,
        chunk_min: params.min,
        chunk_avg: params.avg,
        chunk_max: params.max,
    })
}
