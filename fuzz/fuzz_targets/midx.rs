//! Multi-pack index opening, lookups and verification: never a panic, whatever the bytes,
//! and never a wrong answer from a bucket that passed its check. The first byte picks
//! whether the head checksum is fixed up first (bit 0) and the bucket sums too (bit 1), so
//! that the fuzzer also reaches the checks behind them. A sound table folded with itself
//! (as a base and its tail are) must come back byte for byte.
#![no_main]

use cairn::hash::{Domain, ObjectId};
use cairn::pack::midx::encode_merged;
use cairn::pack::Midx;
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 24;
const ENTRY: usize = 54;

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Recomputes the bucket sums (when asked) and the head checksum of `b`, where its counts
/// allow.
fn fix_up(b: &mut [u8], buckets: bool) {
    if b.len() < HEADER {
        return;
    }
    let algo = HashAlgo::Blake3;
    let packs = le32(b, 12).min(1 << 16);
    let fanout = HEADER + packs * 32;
    let sums = fanout + 1024;
    let entries = sums + 256 * 32 + 32;
    if b.len() < entries {
        return;
    }
    if buckets {
        let mut lo = 0;
        for i in 0..256 {
            let hi = le32(b, fanout + i * 4).max(lo);
            let (s, e) = (entries + lo * ENTRY, entries + hi * ENTRY);
            if e > b.len() {
                break;
            }
            let sum = algo.hash(Domain::Checksum, &b[s..e]);
            b[sums + i * 32..sums + i * 32 + 32].copy_from_slice(sum.as_bytes());
            lo = hi;
        }
    }
    let head = algo.hash(Domain::Checksum, &b[..entries - 32]);
    b[entries - 32..entries].copy_from_slice(head.as_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode & 1 == 1 {
        fix_up(&mut bytes, mode & 2 == 2);
    }
    let Ok(m) = Midx::from_bytes(bytes.clone(), HashAlgo::Blake3) else {
        return;
    };
    let _ = m.names();
    let entries: Vec<_> = m.entries().collect();
    assert_eq!(entries.len(), m.len());
    for (pack, e) in entries.iter().flatten() {
        assert!(*pack < m.names().len());
        if let Ok(found) = m.lookup(&e.id) {
            // A bucket that passed its check holds sorted, valid entries: the id is found.
            assert_eq!(found.map(|(_, f)| f.id), Some(e.id), "a checked bucket finds its ids");
        }
    }
    let all_good = m.verify().is_ok();
    for id in [ObjectId([0x5a; 32]), ObjectId([0; 32]), ObjectId([0xff; 32])] {
        let found = m.lookup(&id);
        assert!(found.is_ok() || !all_good);
    }
    // Folding a table with itself as its tail (what a writer does with a base and a tail)
    // refuses a damaged one and gives a sound one back byte for byte.
    let folded = encode_merged(HashAlgo::Blake3, &[&m, &m], &[]);
    assert_eq!(folded.is_some(), all_good);
    if let Some(folded) = folded {
        assert!(folded == bytes, "a sound table folds into itself");
    }
});
