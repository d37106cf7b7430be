//! Resume file decoding: never a panic; what decodes encodes to the same bytes.
#![no_main]

use cairn::resume::{decode, encode, Partial};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = decode(data) {
        let refs: Vec<(&[u8], &Partial)> = records.iter().map(|(r, p)| (r.as_slice(), p)).collect();
        assert_eq!(encode(&refs), data, "resume files round-trip");
    }
});
