//! Layer decoding: never a panic; what decodes is canonical.
#![no_main]

use cairn::object::Layer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(layer) = Layer::decode(data) {
        assert_eq!(layer.encode(), data, "layer encodings are canonical");
    }
});
