//! `cairn forget`: drop layers from a line by a keep policy, as restic's `forget`. The kept
//! layers after the first forgotten one are written again with new parents (same trees,
//! times, authors and messages; counts against the new parent), in one pack published
//! before the line moves: a kill at any instant leaves the old line or the new one. The
//! reflog keeps the old tip, so `gc` keeps the old layers for its grace period and
//! `cairn reset --hard HEAD@{1}` undoes a forget; `gc --prune=now` reclaims them.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::object::Layer;
use crate::refs::RefKind;
use crate::repo::{Locked, Repository};
use crate::retention::{self, Candidate, Planned, Policy, Reason};

/// The policy, the line, and whether to change anything.
#[derive(Debug, Clone, Default)]
pub struct ForgetOptions {
    /// What to keep; one that keeps nothing is refused.
    pub policy: Policy,
    /// The line to thin out; HEAD's when `None`.
    pub line: Option<String>,
    /// Report the decision without writing or moving anything.
    pub dry_run: bool,
}

/// A layer the policy keeps.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct KeptLayer {
    /// Its id before the forget.
    pub id: ObjectId,
    /// Its id after: the same unless a layer below it was forgotten (then it was written
    /// again with a new parent). With `--dry-run`, the id it would get.
    pub new_id: ObjectId,
    /// When it was made, in nanoseconds since the epoch.
    pub time_ns: i64,
    /// Its message.
    pub message: String,
    /// Why it is kept: `tip`, `last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`,
    /// `oldest_daily` (and the other `oldest_*`), `tagged`.
    pub reasons: Vec<Reason>,
}

/// A layer the policy drops from the line.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ForgottenLayer {
    /// Its id.
    pub id: ObjectId,
    /// When it was made, in nanoseconds since the epoch.
    pub time_ns: i64,
    /// Its message.
    pub message: String,
}

/// A tag moved from a kept layer's old id to its new one.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MovedTag {
    /// The tag's name.
    pub name: String,
    /// The layer it named.
    pub old: ObjectId,
    /// The same layer written again, which it names now.
    pub new: ObjectId,
}

/// What the policy decided and what moved.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ForgetOutcome {
    /// The line thinned out.
    pub line: String,
    /// True when nothing was written or moved.
    pub dry_run: bool,
    /// The line's tip before.
    pub old_tip: ObjectId,
    /// The line's tip after (with `--dry-run`, what it would be).
    pub new_tip: ObjectId,
    /// The kept layers, newest first.
    pub kept: Vec<KeptLayer>,
    /// The forgotten layers, newest first.
    pub forgotten: Vec<ForgottenLayer>,
    /// Tags on kept layers that now name the layers' new ids.
    pub tags_moved: Vec<MovedTag>,
}

/// Applies `opts.policy` to the line: chooses, writes the kept layers again, moves the line
/// (reflog: `forget: kept K of N layers`) and the tags of rewritten layers.
pub fn forget(repo: &Locked, opts: &ForgetOptions) -> Result<ForgetOutcome> {
    if opts.policy.is_empty() {
        return Err(Error::BadArgument {
            what: "forget needs a keep option (--keep-last, --keep-daily, ... or --keep-tag): \
                   without one it would drop every layer"
                .into(),
            path: repo.root().to_path_buf(),
        });
    }
    let (line, tip) = target(repo, opts.line.as_deref())?;
    let mut planned = walk(repo, tip)?;
    let tags = tags_on_line(repo, &planned)?;
    let candidates: Vec<Candidate> = (0..planned.len())
        .map(|i| Candidate {
            time_ns: planned[i].layer.time_ns,
            tagged: tags.contains_key(&i),
        })
        .collect();
    for (p, why) in planned
        .iter_mut()
        .zip(retention::choose(&opts.policy, &candidates))
    {
        p.reasons = why;
    }
    refuse_tagged(repo, &planned, &tags)?;
    let rewritten = retention::rewrite(repo, &planned)?;
    let new_tip = rewritten.new_id(&tip).expect("the tip is always kept");
    let tags_moved = moved_tags(&planned, &tags, &rewritten);
    if !opts.dry_run {
        if new_tip != tip {
            retention::store(repo, &rewritten)?;
            crate::failpoint::hit("forget:before-ref");
            let kept = rewritten.ids.len();
            let reason = format!("forget: kept {kept} of {} layers", planned.len());
            repo.refs()
                .because(reason)
                .set(RefKind::Line, &line, &new_tip)?;
        }
        // After the line (the commit point). A kill here leaves tags on the old copies of
        // kept layers; the next forget finds them by content and moves them.
        crate::failpoint::hit("forget:before-tags");
        for t in &tags_moved {
            repo.refs().set(RefKind::Tag, &t.name, &t.new)?;
        }
    }
    Ok(outcome(
        line,
        opts.dry_run,
        tip,
        new_tip,
        planned,
        &rewritten,
        tags_moved,
    ))
}

/// The line to thin out and its tip: the named line, or HEAD's.
fn target(repo: &Repository, line: Option<&str>) -> Result<(String, ObjectId)> {
    let refs = repo.refs();
    let name = match line {
        Some(n) => n.to_string(),
        None => repo.head()?.0.ok_or_else(|| Error::DetachedHead {
            what: "name the line to thin out with `forget --line NAME`",
            path: repo.dir().join("HEAD"),
        })?,
    };
    let tip = refs
        .get(RefKind::Line, &name)?
        .ok_or_else(|| Error::UnknownRef {
            name: format!("line {name}"),
            path: refs.ref_path(RefKind::Line, &name),
        })?;
    Ok((name, tip))
}

/// A tag and the layer it names.
struct TagAt {
    name: String,
    at: ObjectId,
}

/// The tags on the line's layers, by position in `planned`. A tag naming a layer off the
/// line with the same tree, time, author and message as one on it (an old copy, left by a
/// forget killed before it moved its tags) counts as on that layer, and moves with it.
fn tags_on_line(repo: &Repository, planned: &[Planned]) -> Result<HashMap<usize, Vec<TagAt>>> {
    let refs = repo.refs();
    let by_id: HashMap<ObjectId, usize> =
        planned.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let same = |a: &Layer, b: &Layer| {
        (a.tree, a.time_ns, &a.author, &a.message) == (b.tree, b.time_ns, &b.author, &b.message)
    };
    let mut out: HashMap<usize, Vec<TagAt>> = HashMap::new();
    for name in refs.list(RefKind::Tag)? {
        let Some(at) = refs.get(RefKind::Tag, &name)? else {
            continue;
        };
        let place = match by_id.get(&at) {
            Some(&i) => Some(i),
            None => {
                let layer = repo.read_layer(&at)?;
                planned.iter().position(|p| same(&p.layer, &layer))
            }
        };
        if let Some(i) = place {
            out.entry(i).or_default().push(TagAt { name, at });
        }
    }
    Ok(out)
}

/// The line's layers from the tip to the first, newest first, not yet decided.
fn walk(repo: &Repository, tip: ObjectId) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    let mut next = Some(tip);
    while let Some(id) = next {
        let layer = repo.read_layer(&id)?;
        next = layer.parent;
        out.push(Planned {
            id,
            layer,
            reasons: Vec::new(),
        });
    }
    Ok(out)
}

/// A tag pins its layer: forgetting a tagged layer is refused unless `--keep-tag` keeps
/// it, so a tag never silently names a layer gone from its line.
fn refuse_tagged(
    repo: &Repository,
    planned: &[Planned],
    tags: &HashMap<usize, Vec<TagAt>>,
) -> Result<()> {
    let pinned = (0..planned.len())
        .filter(|&i| planned[i].reasons.is_empty())
        .find_map(|i| tags.get(&i).map(|t| (planned[i].id, t)));
    let Some((id, tags)) = pinned else {
        return Ok(());
    };
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    Err(Error::BadArgument {
        what: format!(
            "the policy would forget layer {} which tag {} names: add --keep-tag to keep \
             tagged layers, or delete the tag first (`cairn tag -d {}`)",
            id.short(),
            names.join(", "),
            names[0]
        ),
        path: repo.refs().kind_dir(RefKind::Tag),
    })
}

/// The tags on kept layers that do not name the layer's new id yet.
fn moved_tags(
    planned: &[Planned],
    tags: &HashMap<usize, Vec<TagAt>>,
    rewritten: &retention::Rewritten,
) -> Vec<MovedTag> {
    let mut out = Vec::new();
    for (i, on) in tags {
        let Some(new) = rewritten.new_id(&planned[*i].id) else {
            continue;
        };
        for t in on.iter().filter(|t| t.at != new) {
            out.push(MovedTag {
                name: t.name.clone(),
                old: t.at,
                new,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn outcome(
    line: String,
    dry_run: bool,
    old_tip: ObjectId,
    new_tip: ObjectId,
    planned: Vec<Planned>,
    rewritten: &retention::Rewritten,
    tags_moved: Vec<MovedTag>,
) -> ForgetOutcome {
    let (mut kept, mut forgotten) = (Vec::new(), Vec::new());
    for p in planned {
        if p.reasons.is_empty() {
            forgotten.push(ForgottenLayer {
                id: p.id,
                time_ns: p.layer.time_ns,
                message: p.layer.message,
            });
        } else {
            kept.push(KeptLayer {
                id: p.id,
                new_id: rewritten.new_id(&p.id).unwrap_or(p.id),
                time_ns: p.layer.time_ns,
                message: p.layer.message,
                reasons: p.reasons,
            });
        }
    }
    ForgetOutcome {
        line,
        dry_run,
        old_tip,
        new_tip,
        kept,
        forgotten,
        tags_moved,
    }
}
