//! `cairn prove LAYER:PATH [--range R | --content]`: a proof that binds a path of a layer,
//! and optionally some of its bytes, to the layer id. Reads only the trees on the path, the
//! file object and the chunks that cover the range, so it answers in milliseconds whatever
//! the size of the layer.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hash::Domain;
use crate::object::{EntryKind, TreeEntry};
use crate::ops::cat::{parse_range, split_spec};
use crate::proof::{self, Content, Hex, HexId, Kind, Level, Proof};
use crate::repo::Repository;
use crate::revparse;

#[derive(Debug, Clone)]
pub struct ProveOptions {
    /// `LAYER:PATH`, the path relative to the worktree root (empty: the root directory).
    pub spec: String,
    /// `START-END` (inclusive), `START-` or `-N`, as for `cat`: carry those bytes.
    pub range: Option<String>,
    /// Carry the whole content (works for empty files too).
    pub content: bool,
}

pub fn prove(repo: &Repository, opts: &ProveOptions) -> Result<Proof> {
    let algo = repo.algo();
    let shown = PathBuf::from(&opts.spec);
    let (layer_ref, path) = split_spec(&opts.spec)?;
    let layer_id = revparse::resolve(repo, layer_ref)?;
    let layer = repo.read_layer(&layer_id)?;
    let encoding = layer.encode();
    if algo.hash(Domain::Layer, &encoding) != layer_id {
        return Err(Error::corrupt(
            "layer",
            repo.dir(),
            format!("layer {layer_id} does not re-encode to its id"),
        ));
    }
    let mut entry = TreeEntry {
        name: Vec::new(),
        kind: EntryKind::Dir,
        mode: 0,
        size: layer.counts.bytes,
        mtime_ns: 0,
        id: layer.tree,
    };
    let mut levels = Vec::new();
    let mut names: Vec<&[u8]> = Vec::new();
    for part in path.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
        if entry.kind != EntryKind::Dir {
            return Err(Error::PathNotFound { path: shown });
        }
        let tree = repo.read_tree(&entry.id)?;
        let Ok(i) = tree
            .entries
            .binary_search_by(|e| e.name.as_slice().cmp(part))
        else {
            return Err(Error::PathNotFound { path: shown });
        };
        levels.push(Level::new(algo, &tree, i));
        entry = tree.entries[i].clone();
        names.push(part);
    }
    let path = names.join(&b'/');
    let content = content(repo, opts, &entry, &shown)?;
    let mut p = Proof {
        format: proof::PROOF_FORMAT.into(),
        version: proof::PROOF_VERSION,
        hash: algo,
        layer: HexId(layer_id),
        layer_encoding: Hex(encoding),
        path: String::from_utf8_lossy(&path).into_owned(),
        path_hex: Hex(path),
        kind: Kind::from(entry.kind),
        mode: entry.mode,
        size: entry.size,
        id: HexId(entry.id),
        levels,
        content,
        check: HexId::default(),
    };
    p.seal();
    Ok(p)
}

/// The content section for `--range` or `--content`, reading only the covering chunks.
fn content(
    repo: &Repository,
    opts: &ProveOptions,
    entry: &TreeEntry,
    shown: &Path,
) -> Result<Option<Content>> {
    if opts.range.is_none() && !opts.content {
        return Ok(None);
    }
    let invalid = |what: String| Error::Invalid {
        what,
        path: shown.to_path_buf(),
    };
    if entry.kind == EntryKind::Dir {
        return Err(invalid(
            "is a directory: only files and symlinks have bytes to prove".into(),
        ));
    }
    let obj = repo.read_file(&entry.id)?;
    if obj.size() != entry.size {
        return Err(Error::corrupt(
            "tree",
            repo.dir(),
            format!(
                "the entry says {} bytes, its file object {}",
                entry.size,
                obj.size()
            ),
        ));
    }
    let (start, end) = match &opts.range {
        Some(r) => parse_range(r, obj.size()).map_err(invalid)?,
        None => (0, obj.size()),
    };
    let (a, b) = proof::covering(&obj.chunks, start, end);
    let carried: u64 = obj.chunks[a..b].iter().map(|c| c.len as u64).sum();
    if carried > proof::MAX_CONTENT_BYTES {
        return Err(invalid(format!(
            "the chunks covering that range hold {carried} bytes; a proof carries at most \
             {} MiB: prove a smaller --range",
            proof::MAX_CONTENT_BYTES >> 20
        )));
    }
    let data = obj.chunks[a..b]
        .iter()
        .map(|c| repo.read_chunk(&c.id))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Content::new(repo.algo(), &obj, start, end, a, data)))
}
