//! `.cairn/remotes.toml`: the remotes a repository knows, by name, and their URLs.
//!
//! ```toml
//! [remote.origin]
//! url = "s3://bucket/prefix"
//! endpoint = "http://127.0.0.1:3900"   # optional
//! region = "garage"                    # optional
//! paths = ["data/raw"]                 # optional: a path-limited clone
//! ```
//!
//! A file of its own rather than a table in `config.toml`: `config.toml` is part of the
//! versioned format and rejects unknown keys, while remotes are local settings that change
//! often and that other implementations need not understand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// The remotes file's name inside `.cairn`.
pub const REMOTES_FILE: &str = "remotes.toml";

/// The contents of the remotes file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remotes {
    /// Every remote, by name.
    #[serde(default)]
    pub remote: BTreeMap<String, RemoteSpec>,
}

/// One remote: where it is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    /// Where the remote lives: `s3://bucket[/prefix]` or `file:///absolute/path` (see
    /// [`parse_url`]).
    pub url: String,
    /// The S3 endpoint, for services other than AWS (`http://` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The S3 region; `None`: the `AWS_*` environment decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The paths a path-limited clone took; `pull` keeps to them. Empty: everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

impl Remotes {
    /// The remotes file of the repository at `cairn_dir`.
    pub fn path(cairn_dir: &Path) -> PathBuf {
        cairn_dir.join(REMOTES_FILE)
    }

    /// The remotes of the repository at `cairn_dir`; none when the file does not exist.
    pub fn load(cairn_dir: &Path) -> Result<Remotes> {
        let p = Remotes::path(cairn_dir);
        match std::fs::read_to_string(&p) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| Error::corrupt("remotes file", &p, e.message().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Remotes::default()),
            Err(e) => Err(e).ctx("could not read the remotes file", &p),
        }
    }

    /// Writes the remotes file of the repository at `cairn_dir`, atomically.
    pub fn save(&self, cairn_dir: &Path) -> Result<()> {
        let text = toml::to_string(self).expect("remotes serialise");
        fsutil::write_atomic(
            &cairn_dir.join("tmp"),
            &Remotes::path(cairn_dir),
            text.as_bytes(),
        )
    }

    /// The remote called `name`, or when no name is given: `origin`, or the only remote.
    pub fn pick(&self, name: Option<&str>, cairn_dir: &Path) -> Result<(String, RemoteSpec)> {
        let chosen = match name {
            Some(n) => self.remote.get_key_value(n),
            None if self.remote.contains_key("origin") => self.remote.get_key_value("origin"),
            None if self.remote.len() == 1 => self.remote.iter().next(),
            None => None,
        };
        match chosen {
            Some((n, spec)) => Ok((n.clone(), spec.clone())),
            None => {
                let known: Vec<&str> = self.remote.keys().map(String::as_str).collect();
                let what = match (name, known.is_empty()) {
                    (_, true) => {
                        "no remote is configured: add one with `cairn remote add NAME URL`"
                            .to_string()
                    }
                    (Some(n), false) => {
                        format!("no remote named {n:?}; known remotes: {}", known.join(", "))
                    }
                    (None, false) => format!(
                        "several remotes and none is called origin: name one of {}",
                        known.join(", ")
                    ),
                };
                Err(Error::RemoteSetup {
                    what,
                    path: Remotes::path(cairn_dir),
                })
            }
        }
    }
}

/// Where a remote's objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `s3://bucket/prefix`
    S3 {
        /// The bucket's name.
        bucket: String,
        /// The key prefix inside the bucket, without leading or trailing `/`; empty for the
        /// bucket's root.
        prefix: String,
    },
    /// `file:///absolute/path`
    File {
        /// The remote's directory, absolute.
        path: PathBuf,
    },
}

/// Parses a remote URL: `s3://bucket[/prefix]` or `file:///absolute/path`.
pub fn parse_url(url: &str) -> std::result::Result<Location, String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = !bucket.is_empty()
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c));
        if !bucket_ok {
            return Err(format!(
                "{url:?}: the bucket name must be lowercase letters, digits, '.' and '-'"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err(format!(
                "{url:?}: the prefix has an empty, '.' or '..' part"
            ));
        }
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(format!(
                "{url:?}: a file URL needs an absolute path, as in file:///srv/cairn"
            ));
        }
        return Ok(Location::File {
            path: PathBuf::from(path),
        });
    }
    Err(format!(
        "{url:?} is not a remote URL: use s3://bucket/prefix or file:///absolute/path"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("s3://b-1/a/b/").unwrap(),
            Location::S3 {
                bucket: "b-1".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            parse_url("s3://b").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            parse_url("file:///srv/x").unwrap(),
            Location::File {
                path: "/srv/x".into()
            }
        );
        for bad in [
            "s3://",
            "s3://B/x",
            "s3://b/../x",
            "file://rel",
            "http://x",
            "b/x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trip_and_pick() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        assert_eq!(Remotes::load(dir.path()).unwrap(), Remotes::default());
        assert!(Remotes::default().pick(None, dir.path()).is_err());
        let mut r = Remotes::default();
        let spec = RemoteSpec {
            url: "s3://b/p".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: None,
            paths: vec![],
        };
        r.remote.insert("backup".into(), spec.clone());
        r.save(dir.path()).unwrap();
        let back = Remotes::load(dir.path()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.pick(None, dir.path()).unwrap().0, "backup");
        r.remote.insert("other".into(), spec);
        assert!(r.pick(None, dir.path()).is_err());
        assert!(r.pick(Some("nope"), dir.path()).is_err());
    }
}
