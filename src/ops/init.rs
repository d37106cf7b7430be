//! `cairn init`: create a repository.

use std::path::PathBuf;

use serde::Serialize;

use crate::chunk::ChunkParams;
use crate::error::{Error, IoContext, Result};
use crate::hash::HashAlgo;
use crate::repo::Repository;

pub struct InitOptions {
    pub dir: PathBuf,
    pub hash: HashAlgo,
    pub chunk_avg: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct InitOutcome {
    pub path: PathBuf,
    pub hash: HashAlgo,
    pub chunk_min: u32,
    pub chunk_avg: u32,
    pub chunk_max: u32,
}

pub fn init(opts: &InitOptions) -> Result<InitOutcome> {
    let params = match opts.chunk_avg {
        Some(avg) => ChunkParams::with_avg(avg).map_err(|what| Error::BadArgument {
            what,
            path: opts.dir.clone(),
        })?,
        None => ChunkParams::default(),
    };
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
