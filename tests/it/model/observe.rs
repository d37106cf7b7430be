//! What cairn actually holds, read back to compare with the model: the worktree from the
//! file system, the staging index, layers and refs through the library (every byte read
//! back from the packs and checked against its id on the way).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cairn::object::{EntryKind, FileObject};
use cairn::read::flatten;
use cairn::refs::Head as RepoHead;
use cairn::refs::RefKind;
use cairn::{ObjectId, Repository};

use super::world::{Entry, Head, Model, Tree};
use crate::support::{snapshot, Node};

/// Files and symlinks of the worktree (directories and `.cairn` left out), and the names
/// of cairn's temporary files found in it.
pub(super) fn worktree(root: &Path) -> (Tree, Vec<Vec<u8>>) {
    let mut temps = Vec::new();
    let mut out = Tree::new();
    for (p, node) in snapshot(root, &[".cairn"]) {
        let base = p.rsplit(|b| *b == b'/').next().unwrap_or(&p);
        if base.starts_with(b".cairn-tmp-") {
            temps.push(p);
            continue;
        }
        let e = match node {
            Node::Dir => continue,
            Node::File { mode, content, .. } => Entry::File {
                mode,
                bytes: content.0,
            },
            Node::Symlink { target, .. } => Entry::Link(target),
        };
        out.insert(p, e);
    }
    (out, temps)
}

fn content(repo: &Repository, obj: &FileObject) -> Vec<u8> {
    let mut out = Vec::new();
    for c in &obj.chunks {
        out.extend(repo.read_chunk(&c.id).expect("a tracked chunk reads back"));
    }
    out
}

fn entry(repo: &Repository, kind: EntryKind, mode: u32, obj: &FileObject) -> Entry {
    let bytes = content(repo, obj);
    match kind {
        EntryKind::Symlink => Entry::Link(bytes),
        _ => Entry::File { mode, bytes },
    }
}

/// The staging index, each entry's content read back from its chunks.
pub(super) fn index(repo: &Repository) -> Tree {
    let idx = repo.load_index().expect("the staging index loads");
    idx.entries
        .iter()
        .map(|(p, e)| (p.to_vec(), entry(repo, e.kind(), e.mode, &e.file_object())))
        .collect()
}

/// Every tree the index remembers (git's cache-tree) is the one its entries build now, from
/// scratch: no change left a stale one behind.
pub(super) fn assert_remembered_trees_hold(repo: &Repository, what: &str) {
    let idx = repo.load_index().expect("the staging index loads");
    let scratch = cairn::build::build(&idx, repo.algo()).expect("the index builds");
    for (dir, t) in idx.entries.trees() {
        assert_eq!(
            scratch.cache.get(dir),
            Some(t),
            "{what}: the remembered tree of {:?}",
            String::from_utf8_lossy(dir)
        );
    }
}

/// Every file and symlink of a layer, read back through its tree and file objects.
pub(super) fn layer(repo: &Repository, id: &str) -> Tree {
    let id: ObjectId = id.parse().expect("a layer id");
    let tree = repo.read_layer(&id).expect("the layer reads").tree;
    let mut all = Vec::new();
    flatten(repo, &tree, b"", &mut all).expect("the layer's trees read");
    all.into_iter()
        .filter(|(_, e)| e.kind != EntryKind::Dir)
        .map(|(p, e)| {
            let obj = repo.read_file(&e.id).expect("a file object reads");
            (p, entry(repo, e.kind, e.mode, &obj))
        })
        .collect()
}

/// Names of lines or tags with the layers (by number) they point at.
pub(super) type Named = Vec<(String, usize)>;

/// HEAD, lines and tags as the model names them (layer ids turned into layer numbers).
pub(super) fn refs(repo: &Repository, m: &Model) -> (Head, Named, Named) {
    let number = |id: ObjectId| {
        let hex = id.to_hex();
        m.layers
            .iter()
            .position(|l| l.id == hex)
            .unwrap_or_else(|| panic!("a ref names layer {hex}, which no commit made"))
    };
    let refs = repo.refs();
    let head = match refs.head().expect("HEAD reads") {
        RepoHead::Line(name) => Head::Line(name),
        RepoHead::Detached(id) => Head::Detached(number(id)),
    };
    let list = |kind: RefKind| -> Named {
        let names = refs.list(kind).expect("refs list");
        names
            .into_iter()
            .map(|n| {
                let id = refs.get(kind, &n).expect("a ref reads").expect("listed");
                (n, number(id))
            })
            .collect()
    };
    (head, list(RefKind::Line), list(RefKind::Tag))
}

/// Makes the worktree hold `e` at `rel` (replacing whatever is there).
pub(super) fn put(root: &Path, rel: &[u8], e: &Entry) {
    let p = root.join(OsStr::from_bytes(rel));
    fs::create_dir_all(p.parent().expect("a parent")).expect("create parents");
    let _ = fs::remove_file(&p);
    match e {
        Entry::File { mode, bytes } => {
            fs::write(&p, bytes).expect("write a file");
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).expect("chmod");
        }
        Entry::Link(target) => {
            std::os::unix::fs::symlink(OsStr::from_bytes(target), &p).expect("symlink");
        }
    }
}
