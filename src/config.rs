//! `.cairn/config.toml`: format version, hash algorithm, chunker bounds and compression,
//! all fixed at init.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkParams;
use crate::error::{Error, IoContext, Result};
use crate::hash::HashAlgo;

/// The repository format version `config.toml` declares and this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A repository's settings, fixed at init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The repository format version: [`FORMAT_VERSION`].
    pub format: u32,
    /// The hash algorithm of every id in the repository.
    pub hash: HashAlgo,
    /// The chunker's bounds: changing them would cut files differently, so they never change.
    pub chunker: ChunkParams,
    /// How new pack records are compressed.
    pub compression: Compression,
}

/// How new pack records are compressed. Records say their own codec, so a change would not break
/// reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compression {
    /// `zstd` or `none`.
    pub codec: String,
    /// zstd level, 1 to 19.
    pub level: i32,
}

impl Config {
    /// The settings `init` writes: `hash` and `chunker` as given, zstd at level 3.
    pub fn new(hash: HashAlgo, chunker: ChunkParams) -> Config {
        Config {
            format: FORMAT_VERSION,
            hash,
            chunker,
            compression: Compression {
                codec: "zstd".into(),
                level: 3,
            },
        }
    }

    /// The zstd level to use, 0 meaning no compression.
    pub fn zstd_level(&self) -> i32 {
        if self.compression.codec == "zstd" {
            self.compression.level
        } else {
            0
        }
    }

    /// The settings as `config.toml` text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }

    /// Parses `config.toml` text read from `path`: [`Error::Corrupt`] for unknown keys, an
    /// unsupported format or invalid chunker or compression settings.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let c: Config = toml::from_str(text)
            .map_err(|e| Error::corrupt("config", path, e.message().to_string()))?;
        if c.format != FORMAT_VERSION {
            return Err(Error::corrupt(
                "config",
                path,
                format!(
                    "format {} is not supported by this cairn (it reads {FORMAT_VERSION})",
                    c.format
                ),
            ));
        }
        c.chunker
            .validate()
            .map_err(|e| Error::corrupt("config", path, e))?;
        let codec_ok = matches!(c.compression.codec.as_str(), "zstd" | "none");
        if !codec_ok || !(1..=19).contains(&c.compression.level) {
            return Err(Error::corrupt(
                "config",
                path,
                "unknown compression settings",
            ));
        }
        Ok(c)
    }

    /// Reads and parses the `config.toml` at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).ctx("could not read config", path)?;
        Config::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject() {
        let c = Config::new(HashAlgo::Sha256, ChunkParams::default());
        let p = Path::new("config.toml");
        assert_eq!(Config::parse(&c.to_toml(), p).unwrap(), c);
        assert!(Config::parse("format = 2", p).is_err());
        let bad = c.to_toml().replace("format = 1", "format = 9");
        assert!(Config::parse(&bad, p).is_err());
        let bad = c.to_toml().replace("avg = 65536", "avg = 1000");
        assert!(Config::parse(&bad, p).is_err());
    }
}
