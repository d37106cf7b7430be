//! File object and chunk list decoding: never a panic; what decodes is canonical and has an
//! id.
#![no_main]

use cairn::object::file::{self, StoredFile};
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match file::decode_stored(data) {
        Ok(StoredFile::Whole(f)) => {
            assert_eq!(f.encode(), data, "file object encodings are canonical");
            let _ = f.id(HashAlgo::Sha256);
            let _ = f.size();
        }
        Ok(StoredFile::Lists(ids)) => {
            assert_eq!(data.len(), 5 + 32 * ids.len(), "one id a list");
        }
        Err(_) => {}
    }
    if let Ok(list) = file::decode_list(data) {
        assert_eq!(file::encode_list(&list), data, "chunk list encodings are canonical");
        let _ = file::list_id(HashAlgo::Blake3, data);
    }
});
