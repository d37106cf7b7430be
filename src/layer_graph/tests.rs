use super::*;

fn id(algo: HashAlgo, n: u32) -> ObjectId {
    algo.hash(Domain::Layer, &n.to_le_bytes())
}

/// A chain of `n` layers, the first without a parent, plus a second chain of three
/// branching off its third layer.
fn nodes(algo: HashAlgo, n: u32) -> Vec<Node> {
    let mut out: Vec<Node> = (0..n)
        .map(|i| Node {
            id: id(algo, i),
            tree: algo.hash(Domain::Checksum, &i.to_le_bytes()),
            time_ns: i64::from(i) * 1_000 - 5,
            parent: i.checked_sub(1).map(|p| id(algo, p)),
        })
        .collect();
    for i in 0..3u32 {
        let parent = if i == 0 { 2 } else { 1000 + i - 1 };
        out.push(Node {
            id: id(algo, 1000 + i),
            tree: ObjectId([7; 32]),
            time_ns: -1,
            parent: Some(id(algo, parent)),
        });
    }
    out
}

#[test]
fn round_trip_lookup_and_depths() {
    for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
        let all = nodes(algo, 300);
        let bytes = encode(algo, all.clone()).unwrap();
        assert_eq!(bytes.len(), HEADER + FANOUT + 303 * ENTRY_LEN + SUM);
        let g = LayerGraph::from_bytes(bytes.clone(), algo).unwrap();
        assert_eq!(g.len(), 303);
        for n in &all {
            let pos = g.find(&n.id).unwrap();
            let e = g.entry(pos);
            assert_eq!((e.id, e.tree, e.time_ns), (n.id, n.tree, n.time_ns));
            assert_eq!(e.parent.map(|p| g.id(p)), n.parent);
        }
        let tip = g.entry(g.find(&id(algo, 299)).unwrap());
        assert_eq!(tip.depth, 300);
        let branch = g.entry(g.find(&id(algo, 1002)).unwrap());
        assert_eq!(branch.depth, 6, "three layers on the third");
        assert_eq!(g.find(&id(algo, 5000)), None);
        // Given in another order, with duplicates: the same bytes.
        let mut shuffled = all.clone();
        shuffled.reverse();
        shuffled.extend_from_slice(&all[..10]);
        assert!(encode(algo, shuffled).unwrap() == bytes);
        // The other algorithm's repository refuses it.
        let other = match algo {
            HashAlgo::Blake3 => HashAlgo::Sha256,
            HashAlgo::Sha256 => HashAlgo::Blake3,
        };
        assert!(LayerGraph::from_bytes(bytes, other).is_err());
    }
}

#[test]
fn a_missing_parent_or_a_loop_is_not_encoded() {
    let algo = HashAlgo::Blake3;
    let mut all = nodes(algo, 10);
    all.remove(4);
    assert!(encode(algo, all).is_none(), "layer 5's parent is missing");
    let mut looped = nodes(algo, 10);
    looped[0].parent = Some(id(algo, 9));
    assert!(encode(algo, looped).is_none(), "the parents loop");
    let empty = LayerGraph::from_bytes(encode(algo, Vec::new()).unwrap(), algo).unwrap();
    assert!(empty.is_empty() && empty.find(&id(algo, 0)).is_none());
}

/// A flip of any byte fails the checks on opening: the checksum covers everything.
#[test]
fn every_flipped_byte_is_caught() {
    let algo = HashAlgo::Blake3;
    let good = encode(algo, nodes(algo, 20)).unwrap();
    for at in 0..good.len() {
        for bit in [0x01, 0x80] {
            let mut bad = good.clone();
            bad[at] ^= bit;
            assert!(LayerGraph::from_bytes(bad, algo).is_err(), "byte {at}");
        }
    }
    for len in [0, 10, HEADER, good.len() - 1] {
        assert!(LayerGraph::from_bytes(good[..len].to_vec(), algo).is_err());
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(LayerGraph::from_bytes(longer, algo).is_err());
}

/// Rewrites entry `i`'s parent and depth fields, then the checksum, as a forger would.
fn forge(algo: HashAlgo, b: &mut [u8], i: usize, parent: u32, depth: u32) {
    let s = entry_at(i) + 72;
    b[s..s + 4].copy_from_slice(&parent.to_le_bytes());
    b[s + 4..s + 8].copy_from_slice(&depth.to_le_bytes());
    let end = b.len() - SUM;
    let sum = algo.hash(Domain::Checksum, &b[..end]);
    b[end..].copy_from_slice(sum.as_bytes());
}

/// Tables whose checksum holds but whose parents loop, point out of the table or whose
/// depths lie are refused on opening.
#[test]
fn forged_parents_and_depths_are_refused() {
    let algo = HashAlgo::Blake3;
    let good = encode(algo, nodes(algo, 4)).unwrap();
    let g = LayerGraph::from_bytes(good.clone(), algo).unwrap();
    let pos = |n| g.find(&id(algo, n)).unwrap();
    let (first, last) = (pos(0) as usize, pos(3) as usize);
    // The first layer's parent made the last: a loop, whatever depth it claims.
    for depth in [0, 1, 4, 5, u32::MAX] {
        let mut b = good.clone();
        forge(algo, &mut b, first, last as u32, depth);
        let e = LayerGraph::from_bytes(b, algo).err().unwrap();
        assert!(e.contains("depth"), "{e}");
    }
    let mut b = good.clone();
    forge(algo, &mut b, last, g.len() as u32, 4);
    let e = LayerGraph::from_bytes(b, algo).err().unwrap();
    assert!(e.contains("out of range"), "{e}");
    // A self-loop.
    let mut b = good.clone();
    forge(algo, &mut b, last, last as u32, 4);
    assert!(LayerGraph::from_bytes(b, algo).is_err());
    // Order: two entries swapped, checksum fixed.
    let mut b = good.clone();
    let (x, y) = (entry_at(0), entry_at(1));
    let first_entry = b[x..y].to_vec();
    b.copy_within(y..y + ENTRY_LEN, x);
    b[y..y + ENTRY_LEN].copy_from_slice(&first_entry);
    let end = b.len() - SUM;
    let sum = algo.hash(Domain::Checksum, &b[..end]);
    b[end..].copy_from_slice(sum.as_bytes());
    assert!(LayerGraph::from_bytes(b, algo).is_err());
}
