//! Layer references: a full id, a unique hex prefix (4+ digits), `HEAD`, a line or tag
//! name (or `lines/NAME`, `tags/NAME` in full), each optionally followed by `~N` or `^` steps
//! back through parents. A name that could mean two things is an error naming both.

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::pack::ObjectKind;
use crate::refs::RefKind;
use crate::repo::Repository;

/// What a reference named: the layer, and the line when the reference was a line's name
/// (checkout attaches HEAD to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub layer: ObjectId,
    pub line: Option<String>,
}

/// Resolves a reference to a layer id.
pub(crate) fn resolve(repo: &Repository, spec: &str) -> Result<ObjectId> {
    resolve_full(repo, spec).map(|r| r.layer)
}

pub(crate) fn resolve_full(repo: &Repository, spec: &str) -> Result<Resolved> {
    let (base, steps) =
        split_steps(spec).ok_or_else(|| unknown(repo, spec, "bad ~N or ^ suffix"))?;
    let (mut layer, line) = resolve_base(repo, base, spec)?;
    for _ in 0..steps {
        layer = repo
            .read_layer(&layer)?
            .parent
            .ok_or_else(|| Error::UnknownRef {
                name: format!("{spec}: the history is shorter than that"),
                path: repo.dir().to_path_buf(),
            })?;
    }
    Ok(Resolved {
        layer,
        line: if steps == 0 { line } else { None },
    })
}

/// Splits `base~2^` into `base` and the number of parent steps.
fn split_steps(spec: &str) -> Option<(&str, usize)> {
    let end = spec.find(['~', '^']).unwrap_or(spec.len());
    let (base, mut rest) = spec.split_at(end);
    let mut steps = 0usize;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('^') {
            steps += 1;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('~') {
            let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let n = if digits == 0 {
                1
            } else {
                r[..digits].parse().ok()?
            };
            steps = steps.checked_add(n)?;
            rest = &r[digits..];
        } else {
            return None;
        }
    }
    Some((base, steps))
}

fn resolve_base(repo: &Repository, base: &str, spec: &str) -> Result<(ObjectId, Option<String>)> {
    let refs = repo.refs();
    if base == "HEAD" || base == "@" {
        let (line, head) = repo.head()?;
        let id = head.ok_or_else(|| Error::UnknownRef {
            name: format!("{spec}: there are no layers yet"),
            path: repo.dir().to_path_buf(),
        })?;
        return Ok((id, line));
    }
    if let Some(found) = qualified(repo, base)? {
        return Ok(found);
    }
    let valid_name = crate::refs::check_name(base).is_ok();
    let named = |kind| match valid_name {
        true => refs.get(kind, base),
        false => Ok(None),
    };
    let (line, tag) = (named(RefKind::Line)?, named(RefKind::Tag)?);
    if let Some(named) = line.or(tag) {
        refuse_hex_clash(repo, base, spec, named)?;
    }
    match (line, tag) {
        (Some(l), Some(t)) if l != t => {
            return Err(Error::UnknownRef {
                name: format!(
                    "{spec} is ambiguous: it names the line {}/{base} and the tag {}/{base}; \
                     write one of those",
                    RefKind::Line,
                    RefKind::Tag
                ),
                path: repo.dir().to_path_buf(),
            })
        }
        (Some(l), _) => return Ok((l, Some(base.to_string()))),
        (None, Some(t)) => return Ok((t, None)),
        (None, None) => {}
    }
    resolve_hex(repo, base, spec)
}

/// `lines/NAME` and `tags/NAME`: a reference named in full, never ambiguous.
fn qualified(repo: &Repository, base: &str) -> Result<Option<(ObjectId, Option<String>)>> {
    let Some((dir, name)) = base.split_once('/') else {
        return Ok(None);
    };
    let Some(kind) = RefKind::from_dir(dir) else {
        return Ok(None);
    };
    if crate::refs::check_name(name).is_err() {
        return Ok(None);
    }
    let id = repo
        .refs()
        .get(kind, name)?
        .ok_or_else(|| Error::UnknownRef {
            name: format!("{base}: there is no such {}", kind.noun()),
            path: repo.dir().to_path_buf(),
        })?;
    Ok(Some((
        id,
        (kind == RefKind::Line).then(|| name.to_string()),
    )))
}

/// A name made only of hex digits that is also the start of another layer's id could mean
/// either (cairn refuses such names for new references; older ones may exist).
fn refuse_hex_clash(repo: &Repository, base: &str, spec: &str, named: ObjectId) -> Result<()> {
    let hex = base.len() >= 4 && base.len() <= 64 && base.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Ok(());
    }
    let prefix = base.to_ascii_lowercase();
    let other = layers_with_prefix(repo, &prefix)
        .into_iter()
        .find(|id| *id != named);
    match other {
        None => Ok(()),
        Some(id) => Err(Error::UnknownRef {
            name: format!(
                "{spec} is ambiguous: it names a line or tag and starts the id of layer {id}; \
                 write {}/{base}, {}/{base} or the full id",
                RefKind::Line,
                RefKind::Tag
            ),
            path: repo.dir().to_path_buf(),
        }),
    }
}

fn resolve_hex(repo: &Repository, base: &str, spec: &str) -> Result<(ObjectId, Option<String>)> {
    let is_hex = base.len() >= 4 && base.len() <= 64 && base.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hex {
        return Err(unknown(repo, spec, "not a line, tag or layer id"));
    }
    let prefix = base.to_ascii_lowercase();
    let matches = layers_with_prefix(repo, &prefix);
    match matches.len() {
        1 => Ok((matches[0], None)),
        0 => Err(unknown(repo, spec, "no layer id starts with it")),
        _ => Err(Error::UnknownRef {
            name: format!(
                "{spec} is ambiguous; candidates: {}",
                matches
                    .iter()
                    .map(super::hash::ObjectId::to_hex)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            path: repo.dir().to_path_buf(),
        }),
    }
}

/// Every stored layer whose hex id starts with `prefix`.
pub(crate) fn layers_with_prefix(repo: &Repository, prefix: &str) -> Vec<ObjectId> {
    let mut out: Vec<ObjectId> = repo
        .store
        .packs()
        .iter()
        .flat_map(|p| p.index.entries().flatten())
        .filter(|e| e.kind == ObjectKind::Layer && e.id.to_hex().starts_with(prefix))
        .map(|e| e.id)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// An unknown-reference error that lists the names that do exist.
fn unknown(repo: &Repository, spec: &str, why: &str) -> Error {
    let refs = repo.refs();
    let mut known = vec!["HEAD".to_string()];
    for kind in RefKind::ALL {
        known.extend(refs.list(kind).unwrap_or_default());
    }
    Error::UnknownRef {
        name: format!("{spec} ({why}); known names: {}", known.join(", ")),
        path: repo.dir().to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::split_steps;

    #[test]
    fn steps() {
        assert_eq!(split_steps("HEAD"), Some(("HEAD", 0)));
        assert_eq!(split_steps("HEAD~3"), Some(("HEAD", 3)));
        assert_eq!(split_steps("main^^"), Some(("main", 2)));
        assert_eq!(split_steps("v1~"), Some(("v1", 1)));
        assert_eq!(split_steps("a~2~3^"), Some(("a", 6)));
        assert_eq!(split_steps("a~x"), None);
    }
}
