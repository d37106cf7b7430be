//! Questions about the history of layers (each layer names its parent).

use crate::error::Result;
use crate::hash::ObjectId;
use crate::repo::Repository;

/// True when `ancestor` is `tip` or one of its ancestors in this repository's history. A
/// layer on the way that cannot be read is an error, not a "no": push and pull decide from
/// the answer whether a line may move, and a guess could lose layers or refuse a safe move.
pub(crate) fn is_ancestor(repo: &Repository, ancestor: &ObjectId, tip: &ObjectId) -> Result<bool> {
    let mut next = Some(*tip);
    while let Some(id) = next {
        if id == *ancestor {
            return Ok(true);
        }
        next = repo.read_layer(&id)?.parent;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkParams;
    use crate::hash::HashAlgo;

    #[test]
    fn a_history_that_cannot_be_read_is_an_error_not_a_no() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path(), HashAlgo::Blake3, ChunkParams::default()).unwrap();
        let (a, b) = ("1".repeat(64), "2".repeat(64));
        let (a, b): (ObjectId, ObjectId) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(
            is_ancestor(&repo, &a, &a).unwrap(),
            "a layer is its own ancestor"
        );
        assert!(is_ancestor(&repo, &a, &b).is_err(), "layer b is in no pack");
    }
}
