//! Retention: which layers of a line a keep policy keeps (restic's `forget` rules), and the
//! line's history written again without the others.
//!
//! Layers form a chain of single parents, so dropping a layer in the middle means writing
//! every kept layer after it again with a new parent. Only the layer objects are new: the
//! trees are the same, so every proof against a tree still holds. Writing the new layers
//! does not move anything; the caller moves the line (the commit point) once they are
//! published.

use std::collections::HashMap;

use serde::Serialize;

use crate::diff::{diff_trees, ChangeKind};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::Layer;
use crate::pack::{Encoded, ObjectKind, PackClass, PackWriter};
use crate::repo::Repository;

/// How many layers each rule keeps. `u32::MAX` means no limit (restic's `unlimited`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// The newest N layers.
    pub last: u32,
    /// The newest layer of each of the last N hours that have layers.
    pub hourly: u32,
    /// The newest layer of each of the last N days that have layers.
    pub daily: u32,
    /// The newest layer of each of the last N ISO weeks that have layers.
    pub weekly: u32,
    /// The newest layer of each of the last N months that have layers.
    pub monthly: u32,
    /// The newest layer of each of the last N years that have layers.
    pub yearly: u32,
    /// Every tagged layer.
    pub tagged: bool,
}

impl Policy {
    /// True when no rule keeps anything: forgetting with it would drop every layer, so it
    /// is refused (as restic refuses `forget` without a keep option).
    pub fn is_empty(&self) -> bool {
        !self.tagged
            && [
                self.last,
                self.hourly,
                self.daily,
                self.weekly,
                self.monthly,
                self.yearly,
            ]
            .iter()
            .all(|&n| n == 0)
    }
}

/// Why a layer is kept. A layer may be kept for several reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The line's newest layer: it is what the line, the index and the worktree stand on.
    Tip,
    /// One of the newest `--keep-last` layers.
    Last,
    /// The newest layer of its hour.
    Hourly,
    /// The newest layer of its day.
    Daily,
    /// The newest layer of its ISO week.
    Weekly,
    /// The newest layer of its month.
    Monthly,
    /// The newest layer of its year.
    Yearly,
    /// The oldest layer, kept because there were fewer hours with layers than asked.
    OldestHourly,
    /// The oldest layer, kept because there were fewer days with layers than asked.
    OldestDaily,
    /// The oldest layer, kept because there were fewer weeks with layers than asked.
    OldestWeekly,
    /// The oldest layer, kept because there were fewer months with layers than asked.
    OldestMonthly,
    /// The oldest layer, kept because there were fewer years with layers than asked.
    OldestYearly,
    /// A tag names it (`--keep-tag`).
    Tagged,
}

impl Reason {
    /// How the reason reads in a table: restic's words.
    pub fn text(self) -> &'static str {
        match self {
            Reason::Tip => "line tip",
            Reason::Last => "last layer",
            Reason::Hourly => "hourly layer",
            Reason::Daily => "daily layer",
            Reason::Weekly => "weekly layer",
            Reason::Monthly => "monthly layer",
            Reason::Yearly => "yearly layer",
            Reason::OldestHourly => "oldest hourly layer",
            Reason::OldestDaily => "oldest daily layer",
            Reason::OldestWeekly => "oldest weekly layer",
            Reason::OldestMonthly => "oldest monthly layer",
            Reason::OldestYearly => "oldest yearly layer",
            Reason::Tagged => "tagged",
        }
    }
}

/// A time-bucket rule: its count, what it keeps, and how a time falls in a bucket.
struct Bucket {
    left: u32,
    reason: Reason,
    oldest: Reason,
    key: fn(i64) -> i64,
    last_key: Option<i64>,
}

/// The bucket of a layer time, in UTC: hour, day, ISO week, month or year as one number.
/// UTC, not the local zone, so a policy chooses the same layers on every machine and in
/// every zone a script runs in.
fn utc(ns: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_nanos(ns)
}

fn hour_key(ns: i64) -> i64 {
    use chrono::{Datelike, Timelike};
    let t = utc(ns);
    i64::from(t.year()) * 1_000_000
        + i64::from(t.month()) * 10_000
        + i64::from(t.day()) * 100
        + i64::from(t.hour())
}

fn day_key(ns: i64) -> i64 {
    use chrono::Datelike;
    let t = utc(ns);
    i64::from(t.year()) * 10_000 + i64::from(t.month()) * 100 + i64::from(t.day())
}

fn week_key(ns: i64) -> i64 {
    use chrono::Datelike;
    let w = utc(ns).iso_week();
    i64::from(w.year()) * 100 + i64::from(w.week())
}

fn month_key(ns: i64) -> i64 {
    use chrono::Datelike;
    let t = utc(ns);
    i64::from(t.year()) * 100 + i64::from(t.month())
}

fn year_key(ns: i64) -> i64 {
    use chrono::Datelike;
    i64::from(utc(ns).year())
}

/// What the policy needs to know of one layer.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// When the layer was made, in nanoseconds since the epoch.
    pub time_ns: i64,
    /// True when a tag names the layer.
    pub tagged: bool,
}

/// The reasons each layer is kept, for layers given newest first (the line's order, not
/// sorted by time: a layer's position on the line decides, as a clock set back must not
/// reorder history). An empty list means the layer is forgotten. The first layer, the
/// line's tip, is always kept.
///
/// As restic: going from newest to oldest, each bucket rule keeps a layer whose bucket
/// differs from the last one it kept, while its count lasts; when a time rule has count
/// left after the oldest layer, that oldest layer is kept as well.
pub fn choose(policy: &Policy, layers: &[Candidate]) -> Vec<Vec<Reason>> {
    let bucket = |left, reason, oldest, key| Bucket {
        left,
        reason,
        oldest,
        key,
        last_key: None,
    };
    let mut buckets = [
        bucket(
            policy.hourly,
            Reason::Hourly,
            Reason::OldestHourly,
            hour_key,
        ),
        bucket(policy.daily, Reason::Daily, Reason::OldestDaily, day_key),
        bucket(
            policy.weekly,
            Reason::Weekly,
            Reason::OldestWeekly,
            week_key,
        ),
        bucket(
            policy.monthly,
            Reason::Monthly,
            Reason::OldestMonthly,
            month_key,
        ),
        bucket(
            policy.yearly,
            Reason::Yearly,
            Reason::OldestYearly,
            year_key,
        ),
    ];
    let mut out = Vec::with_capacity(layers.len());
    for (nr, layer) in layers.iter().enumerate() {
        let mut why = Vec::new();
        if nr == 0 {
            why.push(Reason::Tip);
        }
        if (nr as u64) < u64::from(policy.last) {
            why.push(Reason::Last);
        }
        for b in &mut buckets {
            let key = (b.key)(layer.time_ns);
            if b.left > 0 && b.last_key != Some(key) {
                b.last_key = Some(key);
                if b.left != u32::MAX {
                    b.left -= 1;
                }
                why.push(b.reason);
            }
        }
        if policy.tagged && layer.tagged {
            why.push(Reason::Tagged);
        }
        out.push(why);
    }
    keep_oldest(&buckets, &mut out);
    out
}

/// restic's rule for short histories: a time rule that still has count left after every
/// layer also keeps the oldest layer, so the oldest state survives until enough newer
/// buckets exist to replace it.
fn keep_oldest(buckets: &[Bucket], out: &mut [Vec<Reason>]) {
    let Some(oldest) = out.last_mut() else {
        return;
    };
    for b in buckets {
        if b.left > 0 && b.left != u32::MAX && !oldest.contains(&b.reason) {
            oldest.push(b.oldest);
        }
    }
}

/// One layer of the line and the decision about it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The layer's id before the rewrite.
    pub id: ObjectId,
    /// The layer.
    pub layer: Layer,
    /// Why it is kept; empty when it is forgotten.
    pub reasons: Vec<Reason>,
}

/// The kept layers written again, oldest first: `(old id, new id)`. A kept layer whose
/// parent chain did not change keeps its id, and is not written.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// Every kept layer's old and new id, oldest first; equal when nothing below changed.
    pub ids: Vec<(ObjectId, ObjectId)>,
    /// The new layer objects, oldest first, not yet stored.
    pub layers: Vec<(ObjectId, Layer)>,
    /// `ids` by old id, for lookups on long lines.
    by_old: HashMap<ObjectId, ObjectId>,
}

impl Rewritten {
    /// The new id of an old kept layer; `None` for a forgotten one.
    pub fn new_id(&self, old: &ObjectId) -> Option<ObjectId> {
        self.by_old.get(old).copied()
    }
}

/// The kept layers of `line` (newest first, as [`choose`] took them) with their new
/// parents and their counts recomputed against them. Nothing is written.
pub fn rewrite(repo: &Repository, line: &[Planned]) -> Result<Rewritten> {
    let mut out = Rewritten::default();
    let mut parent: Option<(ObjectId, ObjectId)> = None; // (new id, tree)
    for p in line.iter().rev().filter(|p| !p.reasons.is_empty()) {
        let new_parent = parent.map(|(id, _)| id);
        let (id, layer) = if p.layer.parent == new_parent {
            (p.id, p.layer.clone())
        } else {
            let mut layer = p.layer.clone();
            layer.parent = new_parent;
            recount(repo, &mut layer, parent.map(|(_, tree)| tree))?;
            let id = layer.id(repo.algo());
            out.layers.push((id, layer.clone()));
            (id, layer)
        };
        out.ids.push((p.id, id));
        out.by_old.insert(p.id, id);
        parent = Some((id, layer.tree));
    }
    Ok(out)
}

/// Sets a layer's added, modified and deleted counts to its changes against `parent_tree`,
/// as commit counts them (a change of kind counts as modified). Files and bytes are the
/// layer's own tree's, unchanged.
fn recount(repo: &Repository, layer: &mut Layer, parent_tree: Option<ObjectId>) -> Result<()> {
    let changes = diff_trees(repo, parent_tree, Some(layer.tree))?;
    let count = |kinds: &[ChangeKind]| changes.iter().filter(|c| kinds.contains(&c.kind)).count();
    layer.counts.added = count(&[ChangeKind::Added]) as u64;
    layer.counts.modified = count(&[ChangeKind::Modified, ChangeKind::TypeChange]) as u64;
    layer.counts.deleted = count(&[ChangeKind::Deleted]) as u64;
    Ok(())
}

/// Stores the new layer objects in one metadata pack, published before this returns, so
/// the line can then be moved onto them.
pub fn store(repo: &Repository, rewritten: &Rewritten) -> Result<()> {
    if rewritten.layers.is_empty() {
        return Ok(());
    }
    let mut w = PackWriter::for_repo(repo, PackClass::Meta);
    for (id, layer) in &rewritten.layers {
        if !repo.store.contains(id) {
            w.add(*id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))?;
        }
    }
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600 * 1_000_000_000;
    const DAY: i64 = 24 * HOUR;

    /// Layers at these times (nanoseconds), newest first, none tagged.
    fn at(times: &[i64]) -> Vec<Candidate> {
        times
            .iter()
            .map(|&time_ns| Candidate {
                time_ns,
                tagged: false,
            })
            .collect()
    }

    fn kept(reasons: &[Vec<Reason>]) -> Vec<usize> {
        (0..reasons.len())
            .filter(|&i| !reasons[i].is_empty())
            .collect()
    }

    #[test]
    fn an_empty_policy_is_empty_and_keep_tag_alone_is_not() {
        assert!(Policy::default().is_empty());
        let tags = Policy {
            tagged: true,
            ..Policy::default()
        };
        assert!(!tags.is_empty());
    }

    #[test]
    fn keep_last_keeps_the_newest_n_and_the_tip_always() {
        let layers = at(&[50, 40, 30, 20, 10]);
        let p = Policy {
            last: 3,
            ..Policy::default()
        };
        let r = choose(&p, &layers);
        assert_eq!(kept(&r), [0, 1, 2]);
        assert_eq!(r[0], [Reason::Tip, Reason::Last]);
        let only_tags = Policy {
            tagged: true,
            ..Policy::default()
        };
        assert_eq!(kept(&choose(&only_tags, &layers)), [0], "the tip stays");
    }

    #[test]
    fn keep_daily_keeps_the_newest_of_each_day() {
        // Day 10: three layers; day 9: two; day 7: one.
        let d = |day: i64, h: i64| day * DAY + h * HOUR;
        let layers = at(&[d(10, 20), d(10, 12), d(10, 1), d(9, 23), d(9, 2), d(7, 5)]);
        let p = Policy {
            daily: 2,
            ..Policy::default()
        };
        let r = choose(&p, &layers);
        assert_eq!(kept(&r), [0, 3], "the newest of day 10 and of day 9");
        // Asking for more days than have layers keeps the oldest layer too, as restic.
        let p = Policy {
            daily: 5,
            ..Policy::default()
        };
        let r = choose(&p, &layers);
        assert_eq!(kept(&r), [0, 3, 5]);
        assert_eq!(r[5], [Reason::Daily]);
        let p = Policy {
            daily: 4,
            ..Policy::default()
        };
        let mut short = layers.clone();
        short.truncate(5);
        let r = choose(&p, &short);
        assert_eq!(kept(&r), [0, 3, 4]);
        assert_eq!(r[4], [Reason::OldestDaily]);
    }

    #[test]
    fn weeks_are_iso_weeks_and_rules_add_up() {
        // 2024-01-01 was a Monday: days 0..6 are one ISO week, day 7 starts the next.
        let jan1 = 1_704_067_200 * 1_000_000_000;
        let layers = at(&[jan1 + 8 * DAY, jan1 + 7 * DAY, jan1 + 6 * DAY, jan1]);
        let p = Policy {
            weekly: 2,
            last: 1,
            ..Policy::default()
        };
        let r = choose(&p, &layers);
        assert_eq!(kept(&r), [0, 2]);
        assert_eq!(r[0], [Reason::Tip, Reason::Last, Reason::Weekly]);
        assert_eq!(r[2], [Reason::Weekly]);
    }

    #[test]
    fn unlimited_keeps_one_per_bucket_and_tags_are_kept_when_asked() {
        let d = |day: i64| day * DAY;
        let mut layers = at(&[d(5), d(5) - 1, d(3), d(1)]);
        layers[1].tagged = true;
        let p = Policy {
            monthly: u32::MAX,
            tagged: true,
            ..Policy::default()
        };
        let r = choose(&p, &layers);
        assert_eq!(kept(&r), [0, 1], "one month, and the tagged layer");
        assert_eq!(r[1], [Reason::Tagged]);
    }
}
