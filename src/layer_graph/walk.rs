//! Walking back through parents: a step is a table lookup where the layer graph lists the
//! layer, and a layer object read where it does not (layers made since it was written),
//! after which the walk goes on in the graph.

use std::sync::Arc;

use super::{LayerFacts, LayerGraph};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::pack::ObjectKind;
use crate::repo::Repository;

/// Parent steps over one repository, with its layer graph if it has a sound one.
pub struct Parents<'r> {
    repo: &'r Repository,
    graph: Option<Arc<LayerGraph>>,
}

impl<'r> Parents<'r> {
    /// Steps through the repository's layer graph where it covers a layer.
    pub fn new(repo: &'r Repository) -> Parents<'r> {
        Parents {
            repo,
            graph: repo.layer_graph(),
        }
    }

    /// Steps that read every layer object, as if there were no graph.
    pub fn objects_only(repo: &'r Repository) -> Parents<'r> {
        Parents { repo, graph: None }
    }

    /// The parent, tree and time of the layer `id` as the graph lists them; `None` when there
    /// is no graph or it does not list `id`.
    pub fn listed(&self, id: &ObjectId) -> Option<LayerFacts> {
        let g = self.graph.as_ref()?;
        let e = g.entry(g.find(id)?);
        Some((e.parent.map(|p| g.id(p)), e.tree, e.time_ns))
    }

    /// The parent of the layer `id`: from the graph when it lists `id`, else read from the
    /// layer object (an error when that cannot be read).
    pub fn parent(&self, id: &ObjectId) -> Result<Option<ObjectId>> {
        match self.listed(id) {
            Some((parent, _, _)) => Ok(parent),
            None => Ok(self.repo.read_layer(id)?.parent),
        }
    }

    /// The layer `n` parent steps back from `id` (`None`: the history is shorter), and
    /// whether the graph gave it. Within the graph, positions are followed, not searched.
    fn nth(&self, id: &ObjectId, n: usize) -> Result<(Option<ObjectId>, bool)> {
        let (mut at, mut pos, mut left) = (*id, None, n);
        while left > 0 {
            let found = self
                .graph
                .as_ref()
                .and_then(|g| pos.or_else(|| g.find(&at)));
            let parent = match (&self.graph, found) {
                (Some(g), Some(p)) => {
                    let e = g.entry(p);
                    // Depths fall by one a step: a chain this short ends before `left`.
                    if (e.depth as usize) <= left {
                        return Ok((None, true));
                    }
                    pos = e.parent;
                    pos.map(|p| g.id(p))
                }
                _ => {
                    pos = None;
                    self.repo.read_layer(&at)?.parent
                }
            };
            let Some(parent) = parent else {
                return Ok((None, false));
            };
            at = parent;
            left -= 1;
        }
        Ok((Some(at), pos.is_some()))
    }
}

/// The layer `n` parent steps back from `id`; `None` when the history is shorter. Through
/// the layer graph where it covers the walk; a layer it names that is not stored here (a
/// stale or forged table) is not an answer, and the walk is made again from the layer
/// objects.
pub fn nth_ancestor(repo: &Repository, id: &ObjectId, n: usize) -> Result<Option<ObjectId>> {
    let graph = Parents::new(repo);
    if graph.graph.is_some() {
        match graph.nth(id, n)? {
            (Some(found), true) if !is_stored_layer(repo, &found) => {}
            (found, _) => return Ok(found),
        }
    }
    Ok(Parents::objects_only(repo).nth(id, n)?.0)
}

/// True when the store holds `id` as a layer (found in an index, not read).
pub fn is_stored_layer(repo: &Repository, id: &ObjectId) -> bool {
    repo.store
        .locate(id)
        .is_some_and(|(_, e)| e.kind == ObjectKind::Layer)
}
