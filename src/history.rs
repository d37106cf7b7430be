//! Questions about the history of layers (each layer names its parent).

use crate::error::Result;
use crate::hash::ObjectId;
use crate::repo::Repository;

/// True when `ancestor` is `tip` or one of its ancestors in this repository's history. A
/// layer on the way that cannot be read is an error, not a "no": push and pull decide from
/// the answer whether a line may move, and a guess could lose layers or refuse a safe move.
pub fn is_ancestor(repo: &Repository, ancestor: &ObjectId, tip: &ObjectId) -> Result<bool> {
    let mut next = Some(*tip);
    while let Some(id) = next {
        if id == *ancestor {
            return Ok(true);
        }
        next = repo.read_layer(&id)?.parent;
    }
    Ok(false)
}
