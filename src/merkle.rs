//! Merkle roots over a list of leaf hashes, split as in RFC 6962: the left subtree holds the
//! largest power of two strictly below the leaf count. One leaf is its own root; no leaves
//! hash to `H(node domain, "")`, which no inner node can equal since inner nodes hash
//! exactly 64 bytes.

use crate::hash::{Domain, HashAlgo, ObjectId};

/// The root over `leaves`, hashing inner nodes in `node`.
pub fn root(algo: HashAlgo, node: Domain, leaves: &[ObjectId]) -> ObjectId {
    match leaves.len() {
        0 => algo.hash(node, b""),
        1 => leaves[0],
        n => {
            let k = split(n);
            let l = root(algo, node, &leaves[..k]);
            let r = root(algo, node, &leaves[k..]);
            parent(algo, node, &l, &r)
        }
    }
}

/// The inner node over subtrees `l` and `r`: `H(node, l | r)`.
pub fn parent(algo: HashAlgo, node: Domain, l: &ObjectId, r: &ObjectId) -> ObjectId {
    algo.hash_parts(node, &[l.as_bytes(), r.as_bytes()])
}

/// The largest power of two strictly less than `n` (n >= 2).
pub fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The sibling hashes from leaf `index` up to the root, lowest first.
pub fn audit_path(
    algo: HashAlgo,
    node: Domain,
    leaves: &[ObjectId],
    index: usize,
) -> Vec<ObjectId> {
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0, leaves.len());
    let mut stack = Vec::new();
    while hi - lo > 1 {
        let k = lo + split(hi - lo);
        if index < k {
            stack.push(root(algo, node, &leaves[k..hi]));
            hi = k;
        } else {
            stack.push(root(algo, node, &leaves[lo..k]));
            lo = k;
        }
    }
    while let Some(h) = stack.pop() {
        path.push(h);
    }
    path
}

/// Recomputes the root from a leaf, its index, the leaf count and its audit path.
pub fn root_from_path(
    algo: HashAlgo,
    node: Domain,
    leaf: ObjectId,
    index: usize,
    count: usize,
    path: &[ObjectId],
) -> Option<ObjectId> {
    if index >= count {
        return None;
    }
    // Record, top down, whether the leaf went left at each level.
    let mut sides = Vec::new();
    let (mut lo, mut hi) = (0, count);
    while hi - lo > 1 {
        let k = lo + split(hi - lo);
        sides.push(index < k);
        if index < k {
            hi = k;
        } else {
            lo = k;
        }
    }
    if sides.len() != path.len() {
        return None;
    }
    let mut h = leaf;
    for (went_left, sib) in sides.iter().rev().zip(path) {
        h = if *went_left {
            parent(algo, node, &h, sib)
        } else {
            parent(algo, node, sib, &h)
        };
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u32) -> Vec<ObjectId> {
        (0..n)
            .map(|i| HashAlgo::Blake3.hash(Domain::FileLeaf, &i.to_le_bytes()))
            .collect()
    }

    #[test]
    fn split_points() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(1025), 1024);
    }

    #[test]
    fn audit_paths_verify() {
        let a = HashAlgo::Blake3;
        for n in 1..40 {
            let l = leaves(n);
            let r = root(a, Domain::FileNode, &l);
            for i in 0..n as usize {
                let p = audit_path(a, Domain::FileNode, &l, i);
                assert_eq!(
                    root_from_path(a, Domain::FileNode, l[i], i, n as usize, &p),
                    Some(r)
                );
                if n > 1 {
                    let wrong = (i + 1) % n as usize;
                    assert_ne!(
                        root_from_path(a, Domain::FileNode, l[wrong], i, n as usize, &p),
                        Some(r)
                    );
                }
            }
        }
    }

    #[test]
    fn empty_root_differs_from_nodes() {
        let a = HashAlgo::Blake3;
        assert_eq!(
            root(a, Domain::TreeNode, &[]),
            a.hash(Domain::TreeNode, b"")
        );
        assert_ne!(
            root(a, Domain::TreeNode, &[]),
            root(a, Domain::FileNode, &[])
        );
    }
}
