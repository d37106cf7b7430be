//! File object decoding: never a panic; what decodes is canonical and has an id.
#![no_main]

use cairn::object::FileObject;
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = FileObject::decode(data) {
        assert_eq!(file.encode(), data, "file object encodings are canonical");
        let _ = file.id(HashAlgo::Sha256);
        let _ = file.size();
    }
});
