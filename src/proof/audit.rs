//! A tree's root and one leaf's audit path in a single pass. Proving an entry must also check
//! the tree against its id, and both need every node of the tree: computing them together
//! hashes each node once instead of twice. Large subtrees are hashed in parallel, since a
//! directory can hold 100,000 entries.

use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;

/// Below this many leaves a subtree is hashed on the current thread.
const PARALLEL_NODES: usize = 4096;

/// The RFC 6962 root over `leaves` and, when `index` is given, the audit path of that leaf
/// (sibling hashes, lowest first), as `merkle::root` and `merkle::audit_path` compute them.
pub fn root_and_path(
    algo: HashAlgo,
    node: Domain,
    leaves: &[ObjectId],
    index: Option<usize>,
) -> (ObjectId, Vec<ObjectId>) {
    let mut path = Vec::new();
    let root = walk(
        algo,
        node,
        leaves,
        index.filter(|i| *i < leaves.len()),
        &mut path,
    );
    (root, path)
}

/// The root of `leaves`; on the way back up from leaf `index`, each sibling is pushed, so
/// the lowest comes first.
fn walk(
    algo: HashAlgo,
    node: Domain,
    leaves: &[ObjectId],
    index: Option<usize>,
    path: &mut Vec<ObjectId>,
) -> ObjectId {
    if leaves.len() < 2 || (index.is_none() && leaves.len() < PARALLEL_NODES) {
        return merkle::root(algo, node, leaves);
    }
    let k = merkle::split(leaves.len());
    let (left, right) = leaves.split_at(k);
    let (l, r) = match index {
        Some(i) if i < k => {
            let (l, r) = join(
                leaves.len(),
                || walk(algo, node, left, Some(i), path),
                || walk(algo, node, right, None, &mut Vec::new()),
            );
            path.push(r);
            (l, r)
        }
        Some(i) => {
            let (l, r) = join(
                leaves.len(),
                || walk(algo, node, left, None, &mut Vec::new()),
                || walk(algo, node, right, Some(i - k), path),
            );
            path.push(l);
            (l, r)
        }
        None => join(
            leaves.len(),
            || walk(algo, node, left, None, &mut Vec::new()),
            || walk(algo, node, right, None, &mut Vec::new()),
        ),
    };
    merkle::parent(algo, node, &l, &r)
}

/// Runs both halves of a subtree of `n` leaves, in parallel when it is large.
fn join<A: Send, B: Send>(
    n: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if n < PARALLEL_NODES {
        (a(), b())
    } else {
        rayon::join(a, b)
    }
}
