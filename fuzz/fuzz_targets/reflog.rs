//! Reflog parsing: never a panic; what parses re-encodes to the same complete lines.
#![no_main]

use cairn::reflog::{parse, Entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse(data) {
        let again: Vec<u8> = entries.iter().flat_map(Entry::encode).collect();
        // A torn last line (no newline) is skipped, so compare the complete lines only.
        let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        assert_eq!(again, &data[..complete], "reflog lines round-trip");
    }
});
