//! Staging index loading: never a panic, never an allocation sized by a length the file
//! cannot back. The first byte picks whether the header's length and the checksum are
//! fixed up, so that the fuzzer reaches the bincode payload. Whatever trees a loaded index
//! remembers, building through them never panics.
#![no_main]

mod scratch;

use cairn::build::{build, build_cached};
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
        // What loads saves and loads again to the same entries and remembered trees.
        index.save(&path, &dir, HashAlgo::Blake3).expect("save");
        let again = StagingIndex::load(&path, HashAlgo::Blake3).expect("reload");
        assert_eq!(again.entries, index.entries);
        assert_eq!(again.entries.trees(), index.entries.trees());
        assert_eq!(again.base_tree, index.base_tree);
        // The checksum a save leaves is the one the file then loads with.
        assert_eq!(again.checksum(), index.checksum());
        assert!(again.checksum().is_some());
        trees_build(index);
    }
});

/// Whatever trees a loaded index remembers, building through them fails cleanly or
/// succeeds; and the trees the entries build, once remembered, build the same root.
fn trees_build(mut index: StagingIndex) {
    let _ = build_cached(&index, HashAlgo::Blake3, &|_| true);
    if let Ok(scratch) = build(&index, HashAlgo::Blake3) {
        index.entries.remember_trees(scratch.cache);
        let again = build_cached(&index, HashAlgo::Blake3, &|_| true).expect("builds again");
        assert_eq!(again.root, scratch.root);
        assert!(again.trees.is_empty(), "every tree was remembered");
    }
}
