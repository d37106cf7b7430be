//! Monitor state file and monitor answer decoding: never a panic; what decodes encodes to
//! the same bytes (the state file's paths are strictly sorted, so its encoding is unique).
#![no_main]

use cairn::watch::protocol::Answer;
use cairn::watch::state::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = decode(data) {
        assert_eq!(encode(&state), data, "state files round-trip");
    }
    if let Ok(answer) = Answer::decode(data) {
        assert_eq!(answer.encode(), data, "answers round-trip");
    }
});
