//! `cairn config`: read and write the author's name and email, at the repository level
//! (`.cairn/settings.toml`) or the user level (`--global`). See [`crate::settings`] for the
//! files and for how `commit` picks its author.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::repo::{Locked, Repository};
use crate::settings::{self, Settings};

/// Which settings file a command reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `.cairn/settings.toml` of the repository.
    Repository,
    /// The user's file (`--global`).
    User,
}

/// One setting and where it comes from.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Setting {
    /// `user.name` or `user.email` (or a key a newer cairn wrote).
    pub key: String,
    /// Its value.
    pub value: String,
    /// The level it was read from.
    pub level: Level,
    /// The file it was read from.
    pub file: PathBuf,
}

/// What `config` read or changed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConfigOutcome {
    /// The key read, set or unset; null for a listing.
    pub key: Option<String>,
    /// The value read or set; null when the key is not set (or was unset).
    pub value: Option<String>,
    /// For a read or a change: the file it came from or went to; null when not set.
    pub file: Option<PathBuf>,
    /// True for a change (a set or an unset), false for a read or a listing.
    pub changed: bool,
    /// For `--unset`: whether the key was set before.
    pub removed: bool,
    /// For `--list`: every setting, the repository's first, each level in key order.
    pub settings: Vec<Setting>,
}

impl ConfigOutcome {
    fn new(key: Option<&str>) -> ConfigOutcome {
        ConfigOutcome {
            key: key.map(str::to_string),
            value: None,
            file: None,
            changed: false,
            removed: false,
            settings: Vec::new(),
        }
    }
}

/// The settings files a reader sees: the repository's then the user's inside a repository
/// (`repo`), only the user's with `--global` or outside any repository (`None`).
fn readable(repo: Option<&Repository>) -> Result<Vec<(Level, Settings)>> {
    let mut out = Vec::new();
    if let Some(r) = repo {
        out.push((
            Level::Repository,
            Settings::load(&settings::repo_path(r.dir()))?,
        ));
    }
    if let Some(p) = settings::user_path() {
        out.push((Level::User, Settings::load(&p)?));
    }
    Ok(out)
}

/// The value of `key`: the repository's when it sets one, else the user's.
pub fn get(repo: Option<&Repository>, key: &str) -> Result<ConfigOutcome> {
    refuse(key, None, repo)?;
    let mut out = ConfigOutcome::new(Some(key));
    if let Some((_, s)) = readable(repo)?
        .into_iter()
        .find(|(_, s)| s.get(key).is_some())
    {
        out.value = s.get(key).map(str::to_string);
        out.file = Some(s.path().to_path_buf());
    }
    Ok(out)
}

/// Every setting of the levels a reader sees.
pub fn list(repo: Option<&Repository>) -> Result<ConfigOutcome> {
    let mut out = ConfigOutcome::new(None);
    for (level, s) in readable(repo)? {
        for (key, value) in s.entries() {
            out.settings.push(Setting {
                key,
                value,
                level,
                file: s.path().to_path_buf(),
            });
        }
    }
    Ok(out)
}

/// Sets `key` to `value`, or removes it (`value` `None`), in the repository's file (`repo`,
/// under the writers' lock) or the user's (`None`). The file is replaced atomically.
pub fn set(repo: Option<&Locked>, key: &str, value: Option<&str>) -> Result<ConfigOutcome> {
    let repo = repo.map(|l| -> &Repository { l });
    refuse(key, value, repo)?;
    let path = match repo {
        Some(r) => settings::repo_path(r.dir()),
        None => settings::user_path().ok_or_else(|| Error::BadArgument {
            what: "no user settings file: neither XDG_CONFIG_HOME nor HOME is set".into(),
            path: PathBuf::from("~/.config/cairn/config.toml"),
        })?,
    };
    let mut s = Settings::load(&path)?;
    let mut out = ConfigOutcome::new(Some(key));
    out.changed = true;
    match value {
        Some(v) => s.set(key, v),
        None => out.removed = s.unset(key),
    }
    // Unsetting what is not set changes nothing, and creates no file.
    if value.is_some() || out.removed {
        s.save()?;
    }
    out.value = value.map(str::to_string);
    out.file = Some(path);
    Ok(out)
}

fn refuse(key: &str, value: Option<&str>, repo: Option<&Repository>) -> Result<()> {
    settings::check(key, value).map_err(|what| Error::BadArgument {
        what,
        path: repo.map_or_else(PathBuf::new, |r| settings::repo_path(r.dir())),
    })
}
