//! What `lines/`, `tags/`, `layers/` and `HEAD` show, read from the references at each
//! lookup and listing (never cached here), so layers committed while mounted appear.

use std::collections::HashSet;

use super::inodes::{LAYERS, LINES, TAGS};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::pack::ObjectKind;
use crate::refs::{check_name, RefKind};
use crate::repo::Repository;

/// A layer shown under one of the three directories.
pub(crate) struct Listed {
    /// The line's or tag's name, or the layer's id in hex.
    pub name: String,
    pub tree: ObjectId,
    pub time_ns: i64,
    /// The bytes of all its files.
    pub bytes: u64,
}

fn kind_of(dir: u64) -> Option<RefKind> {
    match dir {
        LINES => Some(RefKind::Line),
        TAGS => Some(RefKind::Tag),
        _ => None,
    }
}

fn listed(repo: &Repository, name: String, layer: &ObjectId) -> Result<Listed> {
    let l = repo.read_layer(layer)?;
    Ok(Listed {
        name,
        tree: l.tree,
        time_ns: l.time_ns,
        bytes: l.counts.bytes,
    })
}

/// The layer `name` names in the directory `dir`; `None` when there is no such name.
pub(crate) fn lookup(repo: &Repository, dir: u64, name: &[u8]) -> Result<Option<Listed>> {
    let Ok(name) = std::str::from_utf8(name) else {
        return Ok(None);
    };
    if dir == LAYERS {
        let Ok(id) = name.parse::<ObjectId>() else {
            return Ok(None);
        };
        // Only a layer: an id of another kind of object is no name here, not damage.
        if name.len() != 64 || !is_layer(repo, &id) {
            return Ok(None);
        }
        return listed(repo, id.to_string(), &id).map(Some);
    }
    let Some(kind) = kind_of(dir) else {
        return Ok(None);
    };
    // The name becomes a path under .cairn/refs: only names a reference can have.
    if check_name(name).is_err() {
        return Ok(None);
    }
    match repo.refs().get(kind, name)? {
        Some(id) => listed(repo, name.to_string(), &id).map(Some),
        None => Ok(None),
    }
}

fn is_layer(repo: &Repository, id: &ObjectId) -> bool {
    let found = |r: &Repository| r.store.locate(id).map(|(_, e)| e.kind);
    match found(repo) {
        Some(kind) => kind == ObjectKind::Layer,
        None => repo.store.refresh().is_ok() && found(repo) == Some(ObjectKind::Layer),
    }
}

/// Every name of the directory `dir`: the lines or tags, or for `layers/` every layer the
/// references reach through parents.
pub(crate) fn list(repo: &Repository, dir: u64) -> Result<Vec<Listed>> {
    let refs = repo.refs();
    if let Some(kind) = kind_of(dir) {
        let mut out = Vec::new();
        for name in refs.list(kind)? {
            if let Some(id) = refs.get(kind, &name)? {
                out.push(listed(repo, name, &id)?);
            }
        }
        return Ok(out);
    }
    let mut seen = HashSet::new();
    let mut stack = refs.roots(&mut crate::refs::fail_unreadable)?;
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let l = repo.read_layer(&id)?;
        stack.extend(l.parent);
        out.push(Listed {
            name: id.to_string(),
            tree: l.tree,
            time_ns: l.time_ns,
            bytes: l.counts.bytes,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Where the `HEAD` link points: `layers/<id>`; `None` before the first commit.
pub(crate) fn head_target(repo: &Repository) -> Result<Option<String>> {
    Ok(repo.head()?.1.map(|id| format!("layers/{id}")))
}
