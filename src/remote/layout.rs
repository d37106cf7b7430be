//! The keys of a remote, relative to its root (`s3://bucket/prefix/` or the directory of a
//! `file://` URL). docs/REMOTES.md describes each one.
//!
//! ```text
//! config.toml                         the repository's config.toml, written by the first push
//! HEAD                                "ref: lines/<name>\n": the line a clone checks out
//! packs/<name>.pack                   pack files, byte for byte as in .cairn/packs
//! packs/<name>.idx                    their indexes; written after the pack, so a pack
//!                                     without an index is an unfinished upload
//! refs/lines/<name>, refs/tags/<name> "<64 hex>\n", as in .cairn/refs
//! refs-log/<kind>/<name>/<ns>-<nonce>  one object per accepted push, never rewritten
//! locks/<kind>/<name>/<ns>-<nonce>     intents of pushes in progress, deleted after
//! ```

use crate::hash::ObjectId;
use crate::refs::RefKind;

/// The key of the repository's `config.toml`, written by the first push.
pub const CONFIG: &str = "config.toml";
/// The key of the remote's HEAD: the line a clone checks out.
pub const HEAD: &str = "HEAD";
/// The directory of pack files and their indexes.
pub const PACKS: &str = "packs/";

/// The key of pack `name`.
pub fn pack(name: &ObjectId) -> String {
    format!("packs/{name}.pack")
}

/// The key of pack `name`'s index, written after the pack.
pub fn idx(name: &ObjectId) -> String {
    format!("packs/{name}.idx")
}

/// Every line's or every tag's reference.
pub fn refs_dir(kind: RefKind) -> String {
    format!("refs/{kind}/")
}

/// The key of the line or tag `name`.
pub fn reference(kind: RefKind, name: &str) -> String {
    format!("refs/{kind}/{name}")
}

/// The directory of the ref log of the line or tag `name`.
pub fn log_dir(kind: RefKind, name: &str) -> String {
    format!("refs-log/{kind}/{name}/")
}

/// The directory of push intents on the line or tag `name`.
pub fn lock_dir(kind: RefKind, name: &str) -> String {
    format!("locks/{kind}/{name}/")
}

/// The ref logs of every line or of every tag.
pub fn logs_dir(kind: RefKind) -> String {
    format!("refs-log/{kind}/")
}

/// The intents of pushes of every line or of every tag.
pub fn locks_dir(kind: RefKind) -> String {
    format!("locks/{kind}/")
}

/// The ref-log key a push writes while holding the intent `intent`: the same
/// `<ns>-<nonce>`, so that an intent left by a dead push leads to its log entry.
pub fn log_for_intent(kind: RefKind, name: &str, intent: &str) -> String {
    let stamp = intent.rsplit('/').next().unwrap_or(intent);
    format!("{}{stamp}", log_dir(kind, name))
}

/// The intent a ref-log entry was written under (see [`log_for_intent`]).
pub fn intent_for_log(kind: RefKind, name: &str, log_key: &str) -> String {
    let stamp = log_key.rsplit('/').next().unwrap_or(log_key);
    format!("{}{stamp}", lock_dir(kind, name))
}

/// What a key under `packs/` names: the pack and whether it is the index.
pub fn parse_pack_key(key: &str) -> Option<(ObjectId, bool)> {
    let file = key.strip_prefix(PACKS)?;
    if let Some(stem) = file.strip_suffix(".idx") {
        return stem.parse().ok().map(|id| (id, true));
    }
    file.strip_suffix(".pack")?
        .parse()
        .ok()
        .map(|id| (id, false))
}

/// A key that sorts by time and cannot collide: `<ns since epoch, 20 digits>-<nonce>`.
pub fn timed_key(dir: &str, time_ns: i64, nonce: &str) -> String {
    format!("{dir}{time_ns:020}-{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_keys() {
        let id = ObjectId::default();
        assert_eq!(parse_pack_key(&pack(&id)), Some((id, false)));
        assert_eq!(parse_pack_key(&idx(&id)), Some((id, true)));
        assert_eq!(parse_pack_key("packs/x.idx"), None);
        assert_eq!(parse_pack_key("refs/lines/main"), None);
        assert_eq!(
            timed_key("locks/lines/main/", 42, "ab"),
            "locks/lines/main/00000000000000000042-ab"
        );
        let intent = "locks/lines/main/00000000000000000042-ab";
        let log = log_for_intent(RefKind::Line, "main", intent);
        assert_eq!(log, "refs-log/lines/main/00000000000000000042-ab");
        assert_eq!(intent_for_log(RefKind::Line, "main", &log), intent);
    }
}
