//! Staging index loading: never a panic, never an allocation sized by a length the file
//! cannot back. The first byte picks whether the header's length and the checksum are
//! fixed up, so that the fuzzer reaches the bincode payload.
#![no_main]

mod scratch;

use cairn::hash::Domain;
use cairn::index::StagingIndex;
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;
use scratch::scratch;

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode & 1 == 1 {
        // magic | version | payload_len | payload | checksum: keep the fuzzer's magic,
        // version and payload, make the length and checksum agree with them.
        let mut fixed = cairn::index::INDEX_MAGIC.to_vec();
        fixed.extend_from_slice(&cairn::index::INDEX_VERSION.to_le_bytes());
        fixed.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        fixed.extend_from_slice(&bytes);
        let sum = HashAlgo::Blake3.hash(Domain::Checksum, &fixed);
        fixed.extend_from_slice(sum.as_bytes());
        bytes = fixed;
    }
    let dir = scratch("stg");
    let path = dir.join("index");
    std::fs::write(&path, &bytes).expect("write scratch");
    if let Ok(mut index) = StagingIndex::load(&path, HashAlgo::Blake3) {
        // What loads saves and loads again to the same entries.
        index.save(&path, &dir, HashAlgo::Blake3).expect("save");
        let again = StagingIndex::load(&path, HashAlgo::Blake3).expect("reload");
        assert_eq!(again.entries, index.entries);
        assert_eq!(again.base_tree, index.base_tree);
    }
});
