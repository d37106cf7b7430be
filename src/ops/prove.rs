//! `cairn prove LAYER:PATH [--range R | --content]`: a proof that binds a path of a layer,
//! and optionally some of its bytes, to the layer id. Reads only the trees on the path, the
//! file object and the chunks that cover the range, so it answers in milliseconds whatever
//! the size of the layer.

use std::path::Path;

use crate::error::{Error, Result};
use crate::hash::{Domain, ObjectId};
use crate::object::tree::RawTree;
use crate::object::{EntryKind, TreeEntry};
use crate::pack::ObjectKind;
use crate::proof::{self, root_and_path, Content, Hex, HexId, Kind, Level, Proof};
use crate::repo::Repository;
use crate::revparse;
use crate::spec::{parse_range, spec_path, split_spec};

/// Which path of which layer to prove, and which of its bytes to carry.
#[derive(Debug, Clone)]
pub struct ProveOptions {
    /// `LAYER:PATH`, the path relative to the worktree root (empty: the root directory); any
    /// bytes a name can hold.
    pub spec: Vec<u8>,
    /// `START-END` (inclusive), `START-` or `-N`, as for `cat`: carry those bytes.
    pub range: Option<String>,
    /// Carry the whole content (works for empty files too).
    pub content: bool,
}

/// Builds the proof that binds `opts.spec`'s path (and the bytes asked for) to the layer
/// id, ready to serialise as JSON.
pub fn prove(repo: &Repository, opts: &ProveOptions) -> Result<Proof> {
    let algo = repo.algo();
    let shown = spec_path(&opts.spec);
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
    for part in crate::repo_path::RepoPath::new(&path).components() {
        if entry.kind != EntryKind::Dir {
            return Err(Error::PathNotFound { path: shown });
        }
        let Some((level, next)) = level(repo, &entry.id, part)? else {
            return Err(Error::PathNotFound { path: shown });
        };
        levels.push(level);
        entry = next;
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

/// The level proving the entry `name` of tree `id`, and that entry (`None`: no such name).
/// The tree is read raw rather than through `read_tree`: its leaves are hashed once, from
/// the stored bytes, and one pass over its nodes both checks it against its id and yields
/// the audit path.
fn level(repo: &Repository, id: &ObjectId, name: &[u8]) -> Result<Option<(Level, TreeEntry)>> {
    let algo = repo.algo();
    let bytes = repo.store.read(id, ObjectKind::Tree, repo.dir())?;
    let corrupt =
        |detail: String| Error::corrupt("tree", repo.dir(), format!("object {id}{detail}"));
    let tree = RawTree::decode(&bytes).map_err(|d| corrupt(format!(": {d}")))?;
    let leaves = tree.leaves(algo);
    let found = tree.find(name);
    let (root, path) = root_and_path(algo, Domain::TreeNode, &leaves, found);
    if root != *id {
        return Err(corrupt(" does not match its id".into()));
    }
    Ok(found.map(|i| {
        let e = tree.entries[i];
        (
            Level::new(e.encoding(), i, leaves.len(), path),
            e.to_entry(),
        )
    }))
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
    let invalid = |what: String| Error::BadArgument {
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
    let carried: u64 = obj.chunks[a..b].iter().map(|c| u64::from(c.len)).sum();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashAlgo;
    use crate::object::{Layer, LayerCounts, Tree};
    use crate::pack::{Encoded, PackClass, PackWriter};
    use crate::refs::RefKind;

    /// A directory large enough that leaves and nodes are hashed in parallel.
    fn big_tree() -> Tree {
        let entries = (0..5000)
            .map(|i| TreeEntry {
                name: format!("f{i:05}").into_bytes(),
                kind: EntryKind::File,
                mode: 0o644,
                size: 0,
                mtime_ns: i,
                id: HashAlgo::Blake3.hash(Domain::FileNode, b""),
            })
            .collect();
        Tree { entries }
    }

    /// A repository whose HEAD layer names the tree `claimed` but holds `stored` under its id.
    fn repo_storing(dir: &Path, claimed: &Tree, stored: &Tree) -> Repository {
        let repo =
            Repository::init(dir, HashAlgo::Blake3, crate::chunk::ChunkParams::default()).unwrap();
        let algo = repo.algo();
        let layer = Layer {
            parent: None,
            tree: claimed.id(algo),
            time_ns: 0,
            counts: LayerCounts::default(),
            author: "t".into(),
            message: "m".into(),
        };
        let mut w = PackWriter::for_repo(&repo, PackClass::Meta);
        let tree = Encoded::raw(&stored.encode());
        w.add(layer.tree, ObjectKind::Tree, &tree).unwrap();
        w.add(
            layer.id(algo),
            ObjectKind::Layer,
            &Encoded::raw(&layer.encode()),
        )
        .unwrap();
        w.finish().unwrap();
        repo.lock(std::time::Duration::ZERO)
            .unwrap()
            .refs()
            .set(RefKind::Line, "main", &layer.id(algo))
            .unwrap();
        Repository::open(dir).unwrap()
    }

    fn prove_path(repo: &Repository, path: &str) -> Result<Proof> {
        let opts = ProveOptions {
            spec: format!("HEAD:{path}").into_bytes(),
            range: None,
            content: false,
        };
        prove(repo, &opts)
    }

    #[test]
    fn proves_an_entry_of_a_large_directory() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_storing(dir.path(), &big_tree(), &big_tree());
        let p = prove_path(&repo, "f04321").unwrap();
        let v = proof::verify_json(p.to_json().as_bytes(), None).unwrap();
        assert_eq!(v.mtime_ns, 4321);
        assert!(matches!(
            prove_path(&repo, "nope"),
            Err(Error::PathNotFound { .. })
        ));
    }

    #[test]
    fn a_tree_that_does_not_match_its_id_is_refused() {
        let mut stored = big_tree();
        stored.entries[4000].mode = 0o755;
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_storing(dir.path(), &big_tree(), &stored);
        // Whether the name is there or not, and wherever it lies against the change.
        for path in ["f00007", "f04000", "nope"] {
            let err = prove_path(&repo, path).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{path}: {err}");
        }
    }
}
