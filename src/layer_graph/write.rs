//! When and how the layer graph is written, and verify's check of it against the layers.
//!
//! Written under the writers' lock only, through `tmp/`, fsync and a rename, so a reader
//! (and a kill at any instant) sees the old table or the new one. `gc` writes it from the
//! layer objects alone; clone, pull, pack merges and commits extend the old table (when it
//! passes its checks) by the layers the refs reach that it does not list.

use std::collections::HashMap;
use std::io::Write;

use super::{encode, LayerGraph, Node, GRAPH_FILE};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::repo::{Locked, Repository};

/// A commit rewrites the graph once more than this many layers of its chain are missing
/// from it: a walk then reads at most this many layer objects (each from a pack of its own
/// until packs merge) before it reaches the table, a commit reads as many to count them,
/// and a commit pays for a rewrite (80 bytes a layer) once per this many commits. With 64,
/// `cat HEAD~500:PATH` over 2,000 packs opened up to 64 of them and a one-file commit 50
/// (1.2 to 1.3x a repository of few packs); 16 keeps both within a millisecond or so, and
/// the rewrite at 10,000 layers (800 KB) comes to 50 KB a commit.
pub const UNCOVERED_LIMIT: usize = 16;

/// After a commit on `parent`: extends the graph when packs were merged (the
/// commit paid for a rewrite already) or when more than [`UNCOVERED_LIMIT`] layers of the
/// chain are not in it. Counting reads at most that many layer objects, all written by
/// the last commits.
pub fn after_commit(repo: &Locked, parent: Option<ObjectId>, merged: bool) -> Result<()> {
    // The new layer is missing from it, and so may be its parent's chain.
    match merged || too_many_missing(repo, 1, parent) {
        true => update(repo),
        false => Ok(()),
    }
}

/// After a pull moved a line to `tip`: extends the graph when more than
/// [`UNCOVERED_LIMIT`] layers of its chain are missing from it, as a commit does, so a pull
/// of one layer rewrites nothing.
pub fn after_pull(repo: &Locked, tip: &ObjectId) -> Result<()> {
    match too_many_missing(repo, 0, Some(*tip)) {
        true => update(repo),
        false => Ok(()),
    }
}

/// Whether more than [`UNCOVERED_LIMIT`] layers are missing from the graph: `missing`
/// already, and those of the chain from `from` down to the first one it lists. Reads at
/// most that many layer objects, those the last commits or pulls wrote. A layer that
/// cannot be read (a partial clone's history) ends the count: the command has done its
/// work, and the table would leave that chain out anyway.
fn too_many_missing(repo: &Repository, mut missing: usize, from: Option<ObjectId>) -> bool {
    let graph = repo.layer_graph();
    let mut at = from;
    while let Some(id) = at {
        if graph.as_ref().is_some_and(|g| g.find(&id).is_some()) {
            return false;
        }
        missing += 1;
        if missing > UNCOVERED_LIMIT {
            return true;
        }
        at = match repo.read_layer(&id) {
            Ok(l) => l.parent,
            Err(_) => return false,
        };
    }
    false
}

/// Extends the graph by every layer HEAD, the lines and the tags reach that it does not
/// list (a damaged graph is written again whole). Nothing is written when it lists them
/// all already.
pub fn update(repo: &Locked) -> Result<()> {
    let old = LayerGraph::open(&repo.dir().join(GRAPH_FILE), repo.algo())
        .ok()
        .flatten();
    let mut nodes: HashMap<ObjectId, Node> = HashMap::new();
    if let Some(g) = &old {
        nodes.extend(g.entries().map(|e| {
            let node = Node {
                id: e.id,
                tree: e.tree,
                time_ns: e.time_ns,
                parent: e.parent.map(|p| g.id(p)),
            };
            (e.id, node)
        }));
    }
    let before = nodes.len();
    add_reachable(repo, &mut nodes)?;
    if old.is_some() && nodes.len() == before {
        return Ok(());
    }
    write(repo, nodes)
}

/// Writes the graph again from the layer objects alone (`gc`: a table listing layers gc
/// just deleted, or one forged to pass its checks, is not carried over).
pub fn rebuild(repo: &Locked) -> Result<()> {
    let mut nodes = HashMap::new();
    add_reachable(repo, &mut nodes)?;
    write(repo, nodes)
}

/// Adds the layers the refs reach to `nodes`, each chain read down to a layer already
/// there or a first layer. A chain with a layer that cannot be read is left out (each
/// entry needs its parent's), and so is a reference that cannot be read: the graph only
/// speeds up walks, and verify reports the damage.
fn add_reachable(repo: &Repository, nodes: &mut HashMap<ObjectId, Node>) -> Result<()> {
    let roots = repo.refs().roots(&mut |_, _| Ok(()))?;
    'roots: for root in roots {
        let mut chain = Vec::new();
        let mut at = Some(root);
        while let Some(id) = at.filter(|id| !nodes.contains_key(id)) {
            let Ok(l) = repo.read_layer(&id) else {
                continue 'roots;
            };
            chain.push(Node {
                id,
                tree: l.tree,
                time_ns: l.time_ns,
                parent: l.parent,
            });
            at = l.parent;
        }
        nodes.extend(chain.into_iter().map(|n| (n.id, n)));
    }
    Ok(())
}

/// Replaces `.cairn/layer-graph` by the graph of `nodes` (removes it when there are none).
fn write(repo: &Locked, nodes: HashMap<ObjectId, Node>) -> Result<()> {
    let dest = repo.dir().join(GRAPH_FILE);
    repo.forget_layer_graph();
    if nodes.is_empty() {
        return match std::fs::remove_file(&dest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::Error::io(
                "could not remove the layer graph",
                &dest,
            )(e)),
            _ => Ok(()),
        };
    }
    let Some(bytes) = encode(repo.algo(), nodes.into_values().collect()) else {
        return Ok(());
    };
    let half = bytes.len() / 2;
    crate::fsutil::write_atomic_with(&repo.tmp_dir(), &dest, |f| {
        f.write_all(&bytes[..half])?;
        crate::failpoint::hit("graph:mid-write");
        f.write_all(&bytes[half..])
    })?;
    crate::failpoint::hit("graph:after-write");
    Ok(())
}

/// A layer's parent, tree and time, as its object holds them.
pub type LayerFacts = (Option<ObjectId>, ObjectId, i64);

/// What is wrong with the layer graph, if anything: it does not pass its checks, or an
/// entry differs from its layer object (parent, tree or time), or names a layer that
/// cannot be read. Every entry is checked: against `known` (the layers a walk read
/// already), or else against the layer object, read now.
pub fn check(repo: &Repository, known: &dyn Fn(&ObjectId) -> Option<LayerFacts>) -> Option<String> {
    let g = match LayerGraph::open(&repo.dir().join(GRAPH_FILE), repo.algo()) {
        Ok(None) => return None,
        Ok(Some(g)) => g,
        Err(e) => {
            let hint = "readers ignore it; `cairn gc` writes it again";
            return Some(format!("{e}; {hint}"));
        }
    };
    let hint = "walks through it may go wrong: `cairn gc` writes it again from the layers";
    for e in g.entries() {
        let facts = match known(&e.id) {
            Some(f) => Ok(f),
            None => repo
                .read_layer(&e.id)
                .map(|l| (l.parent, l.tree, l.time_ns)),
        };
        let why = match facts {
            Err(err) => format!("it lists layer {}, which cannot be read: {err}", e.id),
            Ok((parent, _, _)) if parent != e.parent.map(|p| g.id(p)) => {
                format!("its entry for layer {} names another parent", e.id)
            }
            Ok((_, tree, time_ns)) if tree != e.tree || time_ns != e.time_ns => {
                format!("its entry for layer {} differs from the layer", e.id)
            }
            Ok(_) => continue,
        };
        return Some(format!("{why}; {hint}"));
    }
    None
}
