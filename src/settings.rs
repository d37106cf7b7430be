//! Settings a user changes with `cairn config`: today the author's name and email. Two
//! files of the same TOML format, the repository's overriding the user's:
//!
//! ```toml
//! [user]
//! name = "Ada Lovelace"
//! email = "ada@example.org"
//! ```
//!
//! - the repository level, `.cairn/settings.toml` (not `config.toml`, which is the versioned
//!   repository format and refuses unknown keys);
//! - the user level, `$XDG_CONFIG_HOME/cairn/config.toml`, else `~/.config/cairn/config.toml`.
//!
//! Keys this cairn does not know are kept as they are when the file is rewritten, so a
//! newer cairn's settings survive an older one's `config`.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// The keys `cairn config` reads and writes.
pub const KEYS: [&str; 3] = ["user.name", "user.email", "gc.auto"];

/// The repository-level settings file's name inside `.cairn`.
pub const REPO_FILE: &str = "settings.toml";

/// One settings file: its TOML table, and where it lives.
#[derive(Debug, Clone)]
pub struct Settings {
    table: toml::Table,
    path: PathBuf,
}

impl Settings {
    /// The settings file at `path`; empty when it does not exist.
    pub fn load(path: &Path) -> Result<Settings> {
        let table = match std::fs::read_to_string(path) {
            Ok(text) => text
                .parse::<toml::Table>()
                .map_err(|e| Error::corrupt("settings file", path, e.message().to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(e).ctx("could not read the settings file", path),
        };
        Ok(Settings {
            table,
            path: path.to_path_buf(),
        })
    }

    /// The file these settings are read from and saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `key` (`section.name`), when it is set to a string.
    pub fn get(&self, key: &str) -> Option<&str> {
        let (section, name) = key.split_once('.')?;
        self.table.get(section)?.get(name)?.as_str()
    }

    /// Sets `key` to `value`; both must pass [`check`].
    pub fn set(&mut self, key: &str, value: &str) {
        let (section, name) = key.split_once('.').expect("keys are checked");
        let entry = self
            .table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let table = entry.as_table_mut().expect("made a table above");
        table.insert(name.to_string(), toml::Value::String(value.to_string()));
    }

    /// Removes `key`; false when it was not set. An emptied section goes too.
    pub fn unset(&mut self, key: &str) -> bool {
        let Some((section, name)) = key.split_once('.') else {
            return false;
        };
        let Some(table) = self.table.get_mut(section).and_then(|v| v.as_table_mut()) else {
            return false;
        };
        let removed = table.remove(name).is_some();
        if table.is_empty() {
            self.table.remove(section);
        }
        removed
    }

    /// Every string value, as `section.name` and value, sorted by key.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (section, v) in &self.table {
            let Some(t) = v.as_table() else { continue };
            for (name, v) in t {
                if let Some(s) = v.as_str() {
                    out.push((format!("{section}.{name}"), s.to_string()));
                }
            }
        }
        out.sort();
        out
    }

    /// Writes the file atomically, creating its directory (the user level's may not exist).
    pub fn save(&self) -> Result<()> {
        let dir = self.path.parent().expect("a settings file has a directory");
        std::fs::create_dir_all(dir).ctx("could not create directory", dir)?;
        let text = toml::to_string(&self.table).expect("a TOML table serialises");
        fsutil::write_atomic(dir, &self.path, text.as_bytes())
    }
}

/// The repository-level settings file of the repository whose `.cairn` is `cairn_dir`.
pub fn repo_path(cairn_dir: &Path) -> PathBuf {
    cairn_dir.join(REPO_FILE)
}

/// The user-level settings file: `$XDG_CONFIG_HOME/cairn/config.toml` when that variable
/// holds an absolute path, else `$HOME/.config/cairn/config.toml`; `None` without either.
pub fn user_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".config"))
    })?;
    Some(base.join("cairn").join("config.toml"))
}

/// Refuses a key cairn does not know, or a value that could not be recorded as (part of)
/// a layer's one-line author: control characters (a newline could forge the lines `log`
/// prints after it), `<` or `>` (they delimit the email), blank values, spaces in an email.
pub fn check(key: &str, value: Option<&str>) -> std::result::Result<(), String> {
    if !KEYS.contains(&key) {
        return Err(format!(
            "unknown setting {key:?}: cairn knows {}",
            KEYS.join(" and ")
        ));
    }
    let Some(v) = value else { return Ok(()) };
    if key == "gc.auto" && v.trim().parse::<usize>().is_err() {
        return Err(format!(
            "{v:?} cannot be gc.auto: a number of packs, 0 for never"
        ));
    }
    let bad = v.trim().is_empty()
        || v.chars().any(|c| c.is_control() || c == '<' || c == '>')
        || (key == "user.email" && v.chars().any(char::is_whitespace));
    match bad {
        true => Err(format!(
            "{v:?} cannot be {key}: one line, without '<' or '>'{}",
            if key == "user.email" {
                " or spaces"
            } else {
                ""
            }
        )),
        false => Ok(()),
    }
}

/// The author a new layer records, from the first of these that is set:
///
/// 1. `CAIRN_AUTHOR`, the whole author (`Ada <ada@example.org>`), as before settings existed;
/// 2. the name from `CAIRN_AUTHOR_NAME`, the repository's `user.name`, the user's
///    `user.name`, `USER`, else `unknown`; and the email, if any, from `CAIRN_AUTHOR_EMAIL`,
///    the repository's `user.email`, the user's `user.email`.
///
/// The result is `Name <email>`, or `Name` with no email. `commit --author` wins over all of
/// these; the caller checks it. A variable or setting that could forge a line is refused.
pub fn author(cairn_dir: &Path) -> Result<String> {
    let var = |name: &'static str, key: &str| -> Result<Option<String>> {
        let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        check(key, Some(&v)).map_err(|why| Error::BadArgument {
            what: format!("the environment variable {name}: {why}"),
            path: cairn_dir.to_path_buf(),
        })?;
        Ok(Some(v))
    };
    if let Some(whole) = whole_author(cairn_dir)? {
        return Ok(whole);
    }
    let levels = levels(cairn_dir)?;
    let from_files = |key: &str| -> Result<Option<String>> {
        for s in &levels {
            if let Some(v) = s.get(key) {
                check(key, Some(v))
                    .map_err(|why| Error::corrupt("settings file", s.path(), why))?;
                return Ok(Some(v.to_string()));
            }
        }
        Ok(None)
    };
    let name = match var("CAIRN_AUTHOR_NAME", "user.name")? {
        Some(n) => n,
        None => from_files("user.name")?
            .or_else(|| {
                std::env::var("USER")
                    .ok()
                    .filter(|u| check("user.name", Some(u)).is_ok())
            })
            .unwrap_or_else(|| "unknown".into()),
    };
    let email = match var("CAIRN_AUTHOR_EMAIL", "user.email")? {
        Some(e) => Some(e),
        None => from_files("user.email")?,
    };
    Ok(match email {
        Some(e) => format!("{name} <{e}>"),
        None => name,
    })
}

/// `CAIRN_AUTHOR`, a whole author that may hold `<email>`: checked only for what would
/// forge a line. Unset or empty: `None`.
fn whole_author(cairn_dir: &Path) -> Result<Option<String>> {
    let Some(v) = std::env::var("CAIRN_AUTHOR").ok().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.trim().is_empty() || v.chars().any(char::is_control) {
        true => Err(Error::BadArgument {
            what: "the environment variable CAIRN_AUTHOR must be one line of text".into(),
            path: cairn_dir.to_path_buf(),
        }),
        false => Ok(Some(v)),
    }
}

/// The settings files that apply in the repository at `cairn_dir`, repository level first.
pub fn levels(cairn_dir: &Path) -> Result<Vec<Settings>> {
    let mut out = vec![Settings::load(&repo_path(cairn_dir))?];
    if let Some(p) = user_path() {
        out.push(Settings::load(&p)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_unset_keep_what_they_do_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("config.toml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            "future = 3\n[user]\nname = \"Old\"\n[core]\nx = \"y\"\n",
        )
        .unwrap();
        let mut s = Settings::load(&p).unwrap();
        assert_eq!(s.get("user.name"), Some("Old"));
        s.set("user.name", "Ada Lovelace");
        s.set("user.email", "ada@example.org");
        s.save().unwrap();
        let mut s = Settings::load(&p).unwrap();
        assert_eq!(s.get("user.name"), Some("Ada Lovelace"));
        assert_eq!(s.get("core.x"), Some("y"), "unknown keys survive");
        assert!(s.unset("user.name") && s.unset("user.email"));
        assert!(!s.unset("user.name"));
        s.save().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("future = 3") && !text.contains("[user]"),
            "{text}"
        );
    }

    /// The pinned file: what `config user.name` and `config user.email` write, byte for byte.
    #[test]
    fn pinned_vector() {
        let pinned = include_str!("../fixtures/settings/settings.toml");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.toml");
        let mut s = Settings::load(&p).unwrap();
        s.set("user.name", "Ada Lovelace");
        s.set("user.email", "ada@example.org");
        s.save().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), pinned);
        let back = Settings::load(&p).unwrap();
        assert_eq!(back.get("user.email"), Some("ada@example.org"));
    }

    #[test]
    fn values_that_could_forge_a_line_are_refused() {
        assert!(check("user.name", Some("Ada Lovelace")).is_ok());
        assert!(check("user.email", Some("ada@example.org")).is_ok());
        for bad in ["", "  ", "a\nb", "a<b", "x>"] {
            assert!(check("user.name", Some(bad)).is_err(), "{bad:?}");
        }
        assert!(check("user.email", Some("a b@c")).is_err());
        assert!(check("user.nickname", None).is_err());
        assert!(check("name", None).is_err());
    }

    #[test]
    fn a_damaged_file_is_an_error_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.toml");
        std::fs::write(&p, "[user\nname = 1").unwrap();
        assert!(matches!(Settings::load(&p), Err(Error::Corrupt { .. })));
    }
}
