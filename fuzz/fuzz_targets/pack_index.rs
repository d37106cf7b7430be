//! Pack index opening, lookups, listing and verification: never a panic, whatever the
//! bytes. The first byte picks whether the checksum is fixed up first, so that the
//! fuzzer also reaches the checks behind it.
#![no_main]

mod scratch;

use cairn::hash::{Domain, ObjectId};
use cairn::pack::PackIndex;
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;
use scratch::scratch;

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode & 1 == 1 && bytes.len() >= 32 {
        let n = bytes.len() - 32;
        let sum = HashAlgo::Blake3.hash(Domain::Checksum, &bytes[..n]);
        bytes[n..].copy_from_slice(sum.as_bytes());
    }
    let path = scratch("idx").join("x.idx");
    std::fs::write(&path, &bytes).expect("write scratch");
    let Ok(idx) = PackIndex::open(&path) else {
        return;
    };
    let entries: Vec<_> = idx.entries().collect();
    assert_eq!(entries.len(), idx.len());
    let sorted = idx.verify(HashAlgo::Blake3).is_ok();
    for e in entries.iter().flatten() {
        let found = idx.lookup(&e.id);
        if sorted {
            assert_eq!(
                found.map(|f| f.id),
                Some(e.id),
                "a verified index finds its ids"
            );
        }
    }
    let _ = idx.lookup(&ObjectId([0x5a; 32]));
    let _ = idx.lookup(&ObjectId([0; 32]));
    let _ = idx.lookup(&ObjectId([0xff; 32]));
});
