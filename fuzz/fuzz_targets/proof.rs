//! Proof verification from JSON, as `cairn verify-proof` does it: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cairn::proof::verify_json(data, None);
});
