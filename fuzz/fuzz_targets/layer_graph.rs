//! Layer graph opening and walking: never a panic, whatever the bytes, and a table that
//! opens is one a walk can trust to end: every parent step lowers the depth by one, so a
//! walk from any entry reaches a first layer in `depth - 1` steps, and every id is found
//! where it is listed. The first byte picks whether the checksum is fixed up first (bit
//! 0), so that the fuzzer also reaches the checks of order, parents and depths behind it.
#![no_main]

use cairn::hash::{Domain, ObjectId};
use cairn::layer_graph::{encode, LayerGraph, Node};
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode & 1 == 1 && bytes.len() >= 32 {
        let end = bytes.len() - 32;
        let sum = HashAlgo::Blake3.hash(Domain::Checksum, &bytes[..end]);
        bytes[end..].copy_from_slice(sum.as_bytes());
    }
    let Ok(g) = LayerGraph::from_bytes(bytes.clone(), HashAlgo::Blake3) else {
        return;
    };
    let mut nodes = Vec::with_capacity(g.len());
    for e in g.entries() {
        assert_eq!(g.find(&e.id).map(|p| g.id(p)), Some(e.id), "listed ids are found");
        // The walk from here ends after depth - 1 steps, each one level down.
        let (mut at, mut steps) = (e, 0u32);
        while let Some(p) = at.parent {
            let parent = g.entry(p);
            assert_eq!(parent.depth + 1, at.depth, "depths fall by one a step");
            at = parent;
            steps += 1;
            assert!(steps < e.depth, "a walk outlives its depth");
        }
        assert_eq!(at.depth, 1);
        nodes.push(Node {
            id: e.id,
            tree: e.tree,
            time_ns: e.time_ns,
            parent: e.parent.map(|p| g.id(p)),
        });
    }
    for id in [ObjectId([0; 32]), ObjectId([0xff; 32]), ObjectId([0x5a; 32])] {
        if let Some(p) = g.find(&id) {
            assert_eq!(g.id(p), id);
        }
    }
    // A table that opens is the table of its own entries, byte for byte.
    let again = encode(HashAlgo::Blake3, nodes).expect("a sound table re-encodes");
    assert!(again == bytes, "a sound table encodes back to itself");
});
