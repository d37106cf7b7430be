//! Tree decoding: never a panic; what decodes is canonical (re-encodes to the same bytes)
//! and has a well-defined id.
#![no_main]

use cairn::object::Tree;
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = Tree::decode(data) {
        assert_eq!(tree.encode(), data, "tree encodings are canonical");
        let _ = tree.id(HashAlgo::Blake3);
        for e in &tree.entries {
            assert!(tree.get(&e.name).is_some());
        }
    }
});
