//! `cairn cat LAYER:PATH [--range]`: a file's bytes, or a byte range of them, streamed in
//! constant memory from only the chunks that cover the range.

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::EntryKind;
use crate::read::{copy_range, lookup, ChunkCache};
use crate::repo::Repository;
use crate::repo_path::RepoPathBuf;
use crate::revparse;
use crate::spec::{parse_range, spec_path, split_spec};

/// Which file to print, and which of its bytes.
#[derive(Debug, Clone)]
pub struct CatOptions {
    /// `LAYER:PATH`, the path relative to the worktree root: any bytes a name can hold.
    pub spec: Vec<u8>,
    /// `START-END` (inclusive), `START-` or `-N` (the last N bytes).
    pub range: Option<String>,
}

/// What was printed. The bytes themselves went to the writer (`cat --json` carries them in
/// base64 as `content_base64`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CatOutcome {
    /// The layer the spec's LAYER resolved to.
    pub layer: ObjectId,
    /// The file's path in that layer, relative to the worktree root, '/'-separated.
    pub path: RepoPathBuf,
    /// The whole file's size in bytes, whatever the range.
    pub size: u64,
    /// The first byte and one past the last byte written.
    pub start: u64,
    /// See `start`: `end - start` bytes were written, none when the two are equal.
    pub end: u64,
}

/// Streams the file (or the range of it) that `opts.spec` names to `out`. A path the layer
/// lacks is `Error::NotInLayer`, a directory `Error::IsADirectory`.
pub fn cat(repo: &Repository, opts: &CatOptions, out: &mut dyn Write) -> Result<CatOutcome> {
    let (layer_ref, path) = split_spec(&opts.spec)?;
    let layer = revparse::resolve(repo, layer_ref)?;
    let root = repo.read_layer(&layer)?.tree;
    let shown = spec_path(&opts.spec);
    let e = lookup(repo, &root, &path)?.ok_or(Error::NotInLayer {
        path: shown.clone(),
    })?;
    if e.kind == EntryKind::Dir {
        return Err(Error::IsADirectory {
            what: "`cairn ls` lists it",
            path: shown,
        });
    }
    let obj = repo.read_file(&e.id).map_err(|err| err.at(&shown))?;
    if obj.size() != e.size {
        return Err(crate::materialize::size_mismatch(&e, obj.size(), &shown));
    }
    let size = obj.size();
    let (start, end) = match &opts.range {
        Some(r) => parse_range(r, size).map_err(|what| Error::BadArgument {
            what,
            path: shown.clone(),
        })?,
        None => (0, size),
    };
    copy_range(repo, &ChunkCache::new(8 << 20), &obj, start, end, out)
        .map_err(|err| err.at(&shown))?;
    Ok(CatOutcome {
        layer,
        path: RepoPathBuf::from(path),
        size,
        start,
        end,
    })
}
