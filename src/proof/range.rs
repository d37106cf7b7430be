//! Compact proofs for a run of consecutive leaves (the chunks that cover a byte range):
//! one hash per maximal subtree outside the run, found by walking the RFC 6962 shape.

use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::merkle;

/// The compact proof for the leaves `a..b` (a < b): the roots of the maximal subtrees
/// outside `a..b`, depth first, left to right, with the RFC 6962 split.
pub fn range_proof(
    algo: HashAlgo,
    node: Domain,
    leaves: &[ObjectId],
    a: usize,
    b: usize,
) -> Vec<ObjectId> {
    fn walk(
        ctx: (HashAlgo, Domain, &[ObjectId], usize, usize),
        lo: usize,
        hi: usize,
        out: &mut Vec<ObjectId>,
    ) {
        let (algo, node, leaves, a, b) = ctx;
        if hi <= a || lo >= b {
            out.push(merkle::root(algo, node, &leaves[lo..hi]));
        } else if lo < a || hi > b {
            let k = lo + merkle::split(hi - lo);
            walk(ctx, lo, k, out);
            walk(ctx, k, hi, out);
        }
    }
    let mut out = Vec::new();
    if a < b && b <= leaves.len() {
        walk((algo, node, leaves, a, b), 0, leaves.len(), &mut out);
    }
    out
}

/// Rebuilds the root of `count` leaves from the consecutive leaves `first..` and their
/// range proof. `None` when the proof does not fit the shape (too few or too many hashes).
pub fn root_from_range(
    algo: HashAlgo,
    node: Domain,
    count: usize,
    first: usize,
    leaves: &[ObjectId],
    proof: &[ObjectId],
) -> Option<ObjectId> {
    struct Walk<'a> {
        algo: HashAlgo,
        node: Domain,
        a: usize,
        b: usize,
        leaves: &'a [ObjectId],
        proof: std::slice::Iter<'a, ObjectId>,
    }
    impl Walk<'_> {
        fn go(&mut self, lo: usize, hi: usize) -> Option<ObjectId> {
            if hi <= self.a || lo >= self.b {
                return self.proof.next().copied();
            }
            if lo >= self.a && hi <= self.b {
                let inside = &self.leaves[lo - self.a..hi - self.a];
                return Some(merkle::root(self.algo, self.node, inside));
            }
            let k = lo + merkle::split(hi - lo);
            let l = self.go(lo, k)?;
            let r = self.go(k, hi)?;
            Some(merkle::parent(self.algo, self.node, &l, &r))
        }
    }
    if leaves.is_empty() {
        let empty = count == 0 && first == 0 && proof.is_empty();
        return empty.then(|| merkle::root(algo, node, &[]));
    }
    let b = first.checked_add(leaves.len())?;
    if b > count {
        return None;
    }
    let mut w = Walk {
        algo,
        node,
        a: first,
        b,
        leaves,
        proof: proof.iter(),
    };
    let root = w.go(0, count)?;
    w.proof.next().is_none().then_some(root)
}
