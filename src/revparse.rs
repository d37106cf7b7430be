//! Layer references: a full id, a unique hex prefix (4+ digits), `HEAD`, a line or tag
//! name (or `lines/NAME`, `tags/NAME` in full), a reflog entry (`HEAD@{N}`, `LINE@{N}`,
//! `@{N}` for the current line), each optionally followed by `~N` or `^` steps back through
//! parents. A name that could mean two things is an error naming both; a name that means
//! nothing is an error suggesting the existing names closest to it.

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::pack::ObjectKind;
use crate::reflog::LogName;
use crate::refs::{Head, RefKind};
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
    let (layer, line) = resolve_base(repo, base, spec)?;
    // Through the layer graph where it covers the chain: a lookup a step, not a layer
    // object read from a pack of its own.
    let layer = match steps {
        0 => layer,
        _ => crate::layer_graph::nth_ancestor(repo, &layer, steps)?.ok_or_else(|| {
            Error::UnknownRef {
                name: format!("{spec}: the history is shorter than that"),
                path: repo.dir().to_path_buf(),
            }
        })?,
    };
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
    if let Some((name, n)) = split_reflog(base) {
        return resolve_reflog(repo, name, n, spec).map(|id| (id, None));
    }
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

/// `NAME@{N}` split into `NAME` and what is between the braces; `None` when `base` is not
/// of that form.
fn split_reflog(base: &str) -> Option<(&str, &str)> {
    let inner = base.strip_suffix('}')?;
    let at = inner.rfind("@{")?;
    Some((&inner[..at], &inner[at + 2..]))
}

/// The layer the `n`-th newest entry of a reflog moved its reference to (`@{0}` is the
/// last move). `name` is `HEAD`, a line (or `lines/NAME`), or empty for the current line
/// (HEAD's own log when HEAD is detached), as in git.
fn resolve_reflog(repo: &Repository, name: &str, n: &str, spec: &str) -> Result<ObjectId> {
    let fail = |why: String| Error::UnknownRef {
        name: format!("{spec}: {why}"),
        path: repo.dir().to_path_buf(),
    };
    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    let n: usize = match digits.then(|| n.parse().ok()).flatten() {
        Some(n) => n,
        None => {
            return Err(fail(format!(
                "{n:?} is not an entry number; write @{{N}}, as HEAD@{{1}}"
            )))
        }
    };
    let log = log_for(repo, name, spec)?;
    let refs = repo.refs();
    let entries = refs.reflog(&log)?;
    let entry = (n < entries.len())
        .then(|| &entries[entries.len() - 1 - n])
        .ok_or_else(|| {
            fail(format!(
                "the reflog of {log} has {} (the newest is {log}@{{0}})",
                plural(entries.len(), "entry", "entries")
            ))
        })?;
    let id = entry
        .new
        .ok_or_else(|| fail("that move left it on no layer".to_string()))?;
    if !repo.store.contains(&id) {
        return Err(fail(format!(
            "layer {id} is no longer stored (`cairn gc` drops layers only old reflog \
             entries name, or all of them with --prune=now)"
        )));
    }
    Ok(id)
}

/// The log of the reference `name` (in `spec`, for messages): `HEAD`, a line (or
/// `lines/NAME`), or empty for the current line (HEAD's own log when HEAD is detached).
/// A tag or unknown name is an error, suggesting close names.
pub(crate) fn log_for(repo: &Repository, name: &str, spec: &str) -> Result<LogName> {
    let refs = repo.refs();
    Ok(match name {
        "HEAD" | "@" => LogName::Head,
        "" => match refs.head()? {
            Head::Line(line) => LogName::Line(line),
            Head::Detached(_) => LogName::Head,
        },
        _ => {
            let line = name
                .strip_prefix(&format!("{}/", RefKind::Line))
                .unwrap_or(name);
            let valid = crate::refs::check_name(line).is_ok();
            if valid && refs.get(RefKind::Line, line)?.is_some() {
                LogName::Line(line.to_string())
            } else if valid && refs.get(RefKind::Tag, line)?.is_some() {
                return Err(Error::UnknownRef {
                    name: format!("{spec}: {line} is a tag, and tags have no reflog"),
                    path: repo.dir().to_path_buf(),
                });
            } else {
                return Err(unknown(repo, spec, &format!("there is no line {name}")));
            }
        }
    })
}

/// `1 entry`, `3 entries`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
            name: format!(
                "{base}: there is no such {}{}",
                kind.noun(),
                did_you_mean(&repo.refs().list(kind).unwrap_or_default(), name)
            ),
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
    let all_hex = !base.is_empty() && base.bytes().all(|b| b.is_ascii_hexdigit());
    if all_hex && base.len() < MIN_PREFIX {
        let why = format!(
            "not a line or tag, and too short for a layer id prefix, which needs at least \
             {MIN_PREFIX} hex digits"
        );
        return Err(unknown(repo, spec, &why));
    }
    if !all_hex || base.len() > 64 {
        return Err(unknown(repo, spec, "not a line, tag or layer id"));
    }
    let prefix = base.to_ascii_lowercase();
    let mut matches = layers_with_prefix(repo, &prefix);
    if matches.is_empty() && repo.store.refresh().is_ok() {
        // The packs were listed while gc merged them: listed before the merged pack was
        // published, its sources deleted before they were opened. A new listing has it.
        matches = layers_with_prefix(repo, &prefix);
    }
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

/// Every stored layer whose hex id starts with `prefix` (lowercase hex digits). Each pack
/// index is sorted by id, so the ids that start with the prefix are one run, found by a
/// binary search: the cost follows the number of packs and of matches, not of objects.
pub(crate) fn layers_with_prefix(repo: &Repository, prefix: &str) -> Vec<ObjectId> {
    let Some((lo, hi)) = prefix_bounds(prefix) else {
        return Vec::new();
    };
    let mut out: Vec<ObjectId> = Vec::new();
    for p in repo.store.packs() {
        let idx = &p.index;
        // A damaged index (an entry of an unknown kind met by the search) is read whole.
        let from = first_not_below(idx, &lo).unwrap_or(0);
        for e in (from..idx.len()).filter_map(|i| idx.entry(i)) {
            if e.id > hi {
                break;
            }
            if e.kind == ObjectKind::Layer && e.id >= lo {
                out.push(e.id);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The position of the first entry of `idx` whose id is not below `lo`, by binary search;
/// `None` when an entry on the way cannot be read.
fn first_not_below(idx: &crate::pack::PackIndex, lo: &ObjectId) -> Option<usize> {
    let (mut a, mut b) = (0, idx.len());
    while a < b {
        let mid = a + (b - a) / 2;
        if idx.entry(mid)?.id < *lo {
            a = mid + 1;
        } else {
            b = mid;
        }
    }
    Some(a)
}

/// The least and greatest ids that start with the hex digits `prefix`.
fn prefix_bounds(prefix: &str) -> Option<(ObjectId, ObjectId)> {
    if prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let pad = |digit: char| {
        let mut hex = prefix.to_ascii_lowercase();
        hex.extend(std::iter::repeat_n(digit, 64 - prefix.len()));
        hex.parse::<ObjectId>().ok()
    };
    Some((pad('0')?, pad('f')?))
}

/// The fewest hex digits a layer id prefix may have: shorter ones match too much to mean
/// one layer for long.
const MIN_PREFIX: usize = 4;

/// An unknown-reference error suggesting the existing names closest to the one given.
fn unknown(repo: &Repository, spec: &str, why: &str) -> Error {
    let refs = repo.refs();
    let mut known = vec!["HEAD".to_string()];
    for kind in RefKind::ALL {
        known.extend(refs.list(kind).unwrap_or_default());
    }
    let name = split_steps(spec).map_or(spec, |(base, _)| base);
    let name = split_reflog(name).map_or(name, |(n, _)| n);
    Error::UnknownRef {
        name: format!("{spec} ({why}){}", did_you_mean(&known, name)),
        path: repo.dir().to_path_buf(),
    }
}

/// `; did you mean main?` naming up to three of `known` close to `name` (by Jaro-Winkler
/// similarity, as clap suggests subcommands, or equal but for case); when none is, the
/// first few known names.
fn did_you_mean(known: &[String], name: &str) -> String {
    const LISTED: usize = 10;
    let close = suggestions(known, name);
    match close.as_slice() {
        [] if known.is_empty() => String::new(),
        [] => {
            let more = if known.len() > LISTED { ", ..." } else { "" };
            let first = known[..known.len().min(LISTED)].join(", ");
            format!("; known names: {first}{more}")
        }
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    }
}

/// Up to three of `known` close to `name`, closest first.
fn suggestions(known: &[String], name: &str) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .filter(|k| k.as_str() != name)
        .map(|k| {
            let same_but_case = k.eq_ignore_ascii_case(name);
            let score = if same_but_case {
                1.0
            } else {
                strsim::jaro_winkler(k, name)
            };
            (score, k)
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, k)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::{prefix_bounds, split_reflog, split_steps, suggestions};

    #[test]
    fn prefix_bounds_cover_exactly_the_ids_that_start_with_it() {
        let (lo, hi) = prefix_bounds("aBc1").unwrap();
        assert_eq!(lo.to_hex(), format!("abc1{}", "0".repeat(60)));
        assert_eq!(hi.to_hex(), format!("abc1{}", "f".repeat(60)));
        // An odd number of digits bounds half a byte.
        let (lo, hi) = prefix_bounds("abc").unwrap();
        assert_eq!((lo.0[1], hi.0[1]), (0xc0, 0xcf));
        let full = "7".repeat(64);
        assert_eq!(prefix_bounds(&full).map(|(l, h)| l == h), Some(true));
        assert!(prefix_bounds("xyz1").is_none());
        assert!(prefix_bounds(&"a".repeat(65)).is_none());
    }

    #[test]
    fn reflog_specs() {
        assert_eq!(split_reflog("HEAD@{2}"), Some(("HEAD", "2")));
        assert_eq!(split_reflog("@{0}"), Some(("", "0")));
        assert_eq!(split_reflog("main@{x}"), Some(("main", "x")));
        assert_eq!(split_reflog("main"), None);
        assert_eq!(split_reflog("main}"), None);
        assert_eq!(split_steps("HEAD@{2}~1^"), Some(("HEAD@{2}", 2)));
    }

    #[test]
    fn close_names() {
        let known: Vec<String> = ["HEAD", "main", "feature", "v1.0", "zz"]
            .map(String::from)
            .to_vec();
        assert_eq!(suggestions(&known, "mian"), ["main"]);
        assert_eq!(suggestions(&known, "head"), ["HEAD"]);
        assert_eq!(suggestions(&known, "featur"), ["feature"]);
        assert!(suggestions(&known, "0123abcd").is_empty());
        assert!(suggestions(&known, "main").is_empty());
    }

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
