//! config.toml parsing: never a panic; what parses round-trips.
#![no_main]

use std::path::Path;

use cairn::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Config::parse(text, Path::new("config.toml")) {
        let again = Config::parse(&c.to_toml(), Path::new("config.toml"));
        assert_eq!(again.ok(), Some(c), "a parsed config round-trips");
    }
});
