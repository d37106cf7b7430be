//! Building trees bottom-up from the staging index, in memory. `commit` writes the trees the
//! store lacks; `status` compares the result with HEAD without writing anything.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::hash::{HashAlgo, ObjectId};
use crate::index::{IndexEntry, StagingIndex};
use crate::object::tree::MAX_DEPTH;
use crate::object::{EntryKind, Tree, TreeEntry};
use crate::repo_path::RepoPath;

/// The trees of a staging index, built in memory, and its totals.
pub struct Built {
    /// The root tree's id.
    pub root: ObjectId,
    /// Every tree of the index, by id.
    pub trees: HashMap<ObjectId, Tree>,
    /// Files (and symlinks) in the index.
    pub files: u64,
    /// Bytes of all files in the index.
    pub bytes: u64,
}

/// Builds all trees of the index. Paths must be sorted (the index keeps them so).
pub fn build(index: &StagingIndex, algo: HashAlgo) -> Result<Built> {
    let mut items: Vec<(&[u8], &IndexEntry)> = index
        .entries
        .iter()
        .map(|(p, e)| (p.as_slice(), e))
        .collect();
    items.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut built = Built {
        root: ObjectId::default(),
        trees: HashMap::new(),
        files: 0,
        bytes: 0,
    };
    if let Some((p, _)) = items.iter().find(|(p, _)| too_deep(p)) {
        return Err(Error::too_deep(PathBuf::from(OsStr::from_bytes(p))));
    }
    let (root, bytes) = build_dir(&items, 0, algo, &mut built.trees)?;
    built.root = root;
    built.files = items.len() as u64;
    built.bytes = bytes;
    Ok(built)
}

/// Whether a path lies below more than [`MAX_DEPTH`] directories: its trees could be
/// written but no walk would read them back. Checked once here, so `build_dir`'s recursion
/// is bounded too.
pub(crate) fn too_deep(path: &[u8]) -> bool {
    RepoPath::new(path).ancestors().count() > MAX_DEPTH
}

/// Builds the tree of the directory whose paths, all sharing the first `skip` bytes, are
/// `items`. Returns its id and the bytes of all files below it.
fn build_dir(
    items: &[(&[u8], &IndexEntry)],
    skip: usize,
    algo: HashAlgo,
    trees: &mut HashMap<ObjectId, Tree>,
) -> Result<(ObjectId, u64)> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    let mut i = 0;
    while i < items.len() {
        let rest = &items[i].0[skip..];
        match rest.iter().position(|b| *b == b'/') {
            None => {
                let e = file_entry(rest, items[i].1);
                total += e.size;
                entries.push(e);
                i += 1;
            }
            Some(k) => {
                let name = &rest[..k];
                let j = i + items[i..]
                    .iter()
                    .position(|(p, _)| {
                        !(p[skip..].starts_with(name) && p.get(skip + k) == Some(&b'/'))
                    })
                    .unwrap_or(items.len() - i);
                let (id, size) = build_dir(&items[i..j], skip + k + 1, algo, trees)?;
                total += size;
                entries.push(TreeEntry {
                    name: name.to_vec(),
                    kind: EntryKind::Dir,
                    mode: 0,
                    size,
                    mtime_ns: 0,
                    id,
                });
                i = j;
            }
        }
    }
    // Path order puts "a.txt" before "a/x", name order puts "a" first: sort by name.
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::BadPath {
            what: "the staging index holds a file and a directory of the same name".into(),
            path: String::from_utf8_lossy(&w[0].name).into_owned().into(),
        });
    }
    let tree = Tree { entries };
    let id = tree.id(algo);
    trees.insert(id, tree);
    Ok((id, total))
}

fn file_entry(name: &[u8], e: &IndexEntry) -> TreeEntry {
    TreeEntry {
        name: name.to_vec(),
        kind: e.kind(),
        mode: e.mode,
        size: e.chunks.iter().map(|c| u64::from(c.len)).sum(),
        mtime_ns: e.stat.mtime_ns,
        id: e.file_id,
    }
}
