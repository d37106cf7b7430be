//! References on a remote and the one way they move: [`publish`].
//!
//! A push must never overwrite a layer another machine pushed a moment before. Stores differ
//! in what they guarantee: AWS S3, MinIO, R2 and s3s honour `If-None-Match` / `If-Match`
//! (compare-and-swap), Garage ignores them, and a directory supports create-only but not
//! compare-and-swap. `publish` therefore does not rely on any one of them:
//!
//! 1. **Intent.** Write a new, uniquely named object under `locks/<kind>/<name>/`, then list
//!    that directory. If another live intent is there, delete ours, wait a random moment and
//!    try again (a few times, then give up with "busy"). Of two overlapping pushes, the one
//!    that lists second always sees the first one's intent, or its finished reference: with
//!    read-after-write consistent listings (S3, Garage, a directory) both cannot go on at once.
//! 2. **Check.** Read the reference. If it is not what the push started from, the remote
//!    moved: stop (the caller reports a non-fast-forward).
//! 3. **Log.** Write `refs-log/<kind>/<name>/<time>-<nonce>`: from, to, host. Log objects are
//!    never rewritten, so every layer ever accepted stays on record even if a store broke
//!    every guarantee above; `verify --remote` reports accepted layers that are no longer on
//!    their line.
//! 4. **Reference**, with a condition where the store has them (create-only for a new
//!    reference, `If-Match` the read ETag otherwise); a failed condition is a lost race.
//! 5. Delete the intent.
//!
//! A push can die anywhere, so an intent is not trusted forever. One older than [`LEASE_MS`]
//! (by the store's clock), one dated more than [`FUTURE_MS`] after ours (a wrong clock or a
//! tampered store: a genuine competitor wrote its intent between ours and our listing), and
//! one whose process, on this machine, no longer runs, belong to no live push. The next push
//! that holds the only live intent recovers them: a dead push's log entry shares its intent's
//! `<time>-<nonce>`, and is deleted when the reference is still where that push started (its
//! reference write never happened, so the push was never accepted); then the intent goes.

use std::collections::BTreeMap;
use std::time::Duration;

use super::backend::{Cond, Meta, StoreError};
use super::layout;
use super::{hostname, nonce, now_ms, now_ns, Remote};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::refs::RefKind;

/// How long an intent keeps other pushes of the same reference out. A push holds its intent
/// only for a few small requests (packs are uploaded before), so this is generous.
pub const LEASE_MS: i64 = 120_000;
/// How far after our own intent another may be dated and still be a live push's. A genuine
/// competitor wrote its intent between our write and our listing, a few requests apart (each
/// retried within 30 s); anything later is a wrong clock or a forged object, and would
/// otherwise keep every push out until the clock caught up with it.
pub const FUTURE_MS: i64 = 60_000;
const ATTEMPTS: u32 = 6;

/// A reference as read from the remote, with the version a conditional write needs.
#[derive(Debug, Clone)]
pub struct RemoteRef {
    /// The layer the reference points at.
    pub id: ObjectId,
    /// The reference object's listing data, whose entity tag or version a conditional write names.
    pub meta: Meta,
}

/// The line or tag `name` on the remote; `None` when it does not exist,
/// [`Error::RemoteState`](crate::Error::RemoteState) when it does not hold a layer id.
pub fn read(remote: &Remote, kind: RefKind, name: &str) -> Result<Option<RemoteRef>> {
    let key = layout::reference(kind, name);
    let Some((bytes, meta)) = remote.get(&key)? else {
        return Ok(None);
    };
    let id = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.trim_end_matches('\n').parse().ok())
        .ok_or_else(|| remote.invalid(format!("{key} does not hold a layer id")))?;
    Ok(Some(RemoteRef { id, meta }))
}

/// Every line or tag on the remote with its layer, sorted by name.
pub fn list(remote: &Remote, kind: RefKind) -> Result<Vec<(String, ObjectId)>> {
    let dir = layout::refs_dir(kind);
    let mut out = Vec::new();
    for m in remote.list(&dir)? {
        let Some(name) = m.key.strip_prefix(&dir) else {
            continue;
        };
        if crate::refs::check_name(name).is_err() {
            continue;
        }
        if let Some(r) = read(remote, kind, name)? {
            out.push((name.to_string(), r.id));
        }
    }
    Ok(out)
}

/// One accepted push, as the ref log records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LogEntry {
    /// The log object's key on the remote: `refs-log/<kind>/<name>/<ns>-<nonce>`.
    pub key: String,
    /// The layer the reference pointed at before; `None` when the push created it.
    pub from: Option<ObjectId>,
    /// The layer the push moved it to.
    pub to: ObjectId,
    /// The host name of the machine that pushed; empty when the entry does not say.
    pub host: String,
    /// The push was forced (`push --force`): `to` need not descend from `from`, and what
    /// the line held before is deliberately no longer on it. Entries written before this
    /// existed have no such line and read as not forced.
    pub forced: bool,
}

/// The ref log of one reference, oldest first. Entries that do not parse are returned as
/// errors by key, for `verify --remote`.
pub fn log(
    remote: &Remote,
    kind: RefKind,
    name: &str,
) -> Result<Vec<std::result::Result<LogEntry, String>>> {
    let mut out = Vec::new();
    for m in remote.list(&layout::log_dir(kind, name))? {
        let parsed = match remote.get(&m.key)? {
            Some((bytes, _)) => parse_log(&m.key, &bytes),
            None => continue,
        };
        out.push(parsed.ok_or(m.key));
    }
    Ok(out)
}

/// The ref logs of every line or tag (`kind`), read with one listing.
#[derive(Debug, Default)]
pub struct Logs {
    /// By name, oldest first, including names whose reference no longer exists.
    pub by_name: BTreeMap<String, Vec<LogEntry>>,
    /// Keys of entries that do not parse or do not fit the layout.
    pub unreadable: Vec<String>,
}

/// Reads the ref logs of every line or every tag (`kind`) with one listing, setting aside the
/// entries that do not parse.
pub fn logs(remote: &Remote, kind: RefKind) -> Result<Logs> {
    let dir = layout::logs_dir(kind);
    let mut out = Logs::default();
    for m in remote.list(&dir)? {
        let name = m.key.strip_prefix(&dir).and_then(|k| k.split_once('/'));
        let Some((name, _)) = name.filter(|(n, _)| crate::refs::check_name(n).is_ok()) else {
            out.unreadable.push(m.key);
            continue;
        };
        match remote.get(&m.key)?.and_then(|(b, _)| parse_log(&m.key, &b)) {
            Some(e) => out.by_name.entry(name.to_string()).or_default().push(e),
            None => out.unreadable.push(m.key),
        }
    }
    Ok(out)
}

fn parse_log(key: &str, bytes: &[u8]) -> Option<LogEntry> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut from = None;
    let mut to = None;
    let mut host = String::new();
    let mut forced = false;
    for line in text.lines() {
        match line.split_once(' ')? {
            ("from", "none") => from = Some(None),
            ("from", id) => from = Some(Some(id.parse().ok()?)),
            ("to", id) => to = Some(id.parse().ok()?),
            ("host", h) => host = h.to_string(),
            ("forced", v) => forced = v == "yes",
            _ => {}
        }
    }
    Some(LogEntry {
        key: key.to_string(),
        from: from?,
        to: to?,
        host,
        forced,
    })
}

/// What became of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The reference now points at the new layer.
    Done,
    /// The reference is not (or no longer) what the push started from; it is this now.
    Moved(Option<ObjectId>),
    /// Other pushes kept holding the reference; describes the youngest.
    Busy(String),
}

/// Moves `kind/name` on the remote from `expected` (`None`: it must not exist) to `new`.
pub fn publish(
    remote: &Remote,
    kind: RefKind,
    name: &str,
    expected: Option<ObjectId>,
    new: ObjectId,
) -> Result<Published> {
    publish_as(remote, (kind, name), expected, new, false)
}

/// [`publish`] of a line forced to a layer that need not descend from `expected`: the same
/// conditional move, recorded as forced in the ref log so that `verify --remote` does not
/// take the layers it left behind for a lost push.
pub fn publish_forced(
    remote: &Remote,
    name: &str,
    expected: Option<ObjectId>,
    new: ObjectId,
) -> Result<Published> {
    publish_as(remote, (RefKind::Line, name), expected, new, true)
}

fn publish_as(
    remote: &Remote,
    (kind, name): (RefKind, &str),
    expected: Option<ObjectId>,
    new: ObjectId,
    forced: bool,
) -> Result<Published> {
    let locks = layout::lock_dir(kind, name);
    let mut busy = String::new();
    for attempt in 0..ATTEMPTS {
        let intent = layout::timed_key(&locks, now_ns(), &nonce());
        put(remote, &intent, intent_body(new), Cond::Create)?;
        match others(remote, kind, name, &intent)? {
            Some(other) => {
                remote.delete(&intent)?;
                busy = other;
                std::thread::sleep(backoff(attempt));
            }
            None => {
                let held = Held {
                    kind,
                    name,
                    intent: &intent,
                    forced,
                };
                let result = publish_held(remote, &held, expected, new);
                remote.delete(&intent)?;
                return result;
            }
        }
    }
    Ok(Published::Busy(busy))
}

/// The reference a publish holds, through its intent.
struct Held<'a> {
    kind: RefKind,
    name: &'a str,
    intent: &'a str,
    /// Logged as a forced move.
    forced: bool,
}

/// What an intent says: the push, and the process that made it, so that a later push on
/// the same machine can tell that it died.
fn intent_body(new: ObjectId) -> Vec<u8> {
    let mut body = format!(
        "push of {new} by {} on {}\n",
        std::process::id(),
        hostname()
    );
    if let Some(me) = super::process_token() {
        body.push_str(&format!("process {me}\n"));
    }
    body.into_bytes()
}

/// Steps 2 to 4, while our intent is the only live one.
fn publish_held(
    remote: &Remote,
    held: &Held,
    expected: Option<ObjectId>,
    new: ObjectId,
) -> Result<Published> {
    let (kind, name) = (held.kind, held.name);
    let current = read(remote, kind, name)?;
    if current.as_ref().map(|r| r.id) != expected {
        return Ok(Published::Moved(current.map(|r| r.id)));
    }
    let from = expected.map_or("none".to_string(), |id| id.to_hex());
    let mut entry = format!("from {from}\nto {new}\nhost {}\n", hostname());
    if held.forced {
        entry.push_str("forced yes\n");
    }
    // Named like our intent, so that whoever recovers a dead intent finds its entry.
    let log_key = layout::log_for_intent(kind, name, held.intent);
    put(remote, &log_key, entry.into_bytes(), Cond::Create)?;
    // Tests kill a push here: logged, reference not yet written.
    crate::failpoint::hit("push:after-log");
    let key = layout::reference(kind, name);
    let cond = match &current {
        None => Cond::Create,
        Some(r) => Cond::Update {
            e_tag: r.meta.e_tag.clone(),
            version: r.meta.version.clone(),
        },
    };
    let text = format!("{new}\n").into_bytes();
    let written = match remote.backend().put(&key, text.clone(), cond) {
        // The store cannot compare-and-swap (a directory, or S3 with conditional writes
        // switched off): the intent already keeps other pushes out, so a plain replace is
        // safe.
        Err(StoreError::NotImplemented(_)) => remote.backend().put(&key, text, Cond::Overwrite),
        other => other,
    };
    match written {
        Ok(_) => Ok(Published::Done),
        Err(StoreError::AlreadyExists | StoreError::Precondition) => {
            let _ = remote.delete(&log_key);
            Ok(Published::Moved(read(remote, kind, name)?.map(|r| r.id)))
        }
        Err(e) => {
            let _ = remote.delete(&log_key);
            Err(remote.err("write", &key, e))
        }
    }
}

/// Writes a key that is unique (an intent, a log entry): a store with conditional writes
/// switched off gets a plain write, which is as good here.
fn put(remote: &Remote, key: &str, data: Vec<u8>, cond: Cond) -> Result<Meta> {
    let b = remote.backend();
    match b.put(key, data.clone(), cond) {
        Err(StoreError::NotImplemented(_)) => b.put(key, data, Cond::Overwrite),
        other => other,
    }
    .map_err(|e| remote.err("write", key, e))
}

/// Another live intent besides `mine` on `kind/name`, described. When there is none, the
/// intents of dead pushes are recovered: we now hold the reference alone.
fn others(remote: &Remote, kind: RefKind, name: &str, mine: &str) -> Result<Option<String>> {
    let listed = remote.list(&layout::lock_dir(kind, name))?;
    // Ages are measured on the store's clock: our own intent's time against theirs.
    let my_time = listed
        .iter()
        .find(|m| m.key == mine)
        .map_or_else(now_ms, |m| m.modified_ms);
    let mut live = None;
    let mut dead = Vec::new();
    for m in listed.iter().filter(|m| m.key != mine) {
        let age = my_time - m.modified_ms;
        let in_lease = (-FUTURE_MS..=LEASE_MS).contains(&age);
        if !in_lease || died_here(remote, &m.key)? {
            dead.push(&m.key);
        } else {
            live = Some(format!(
                "another push of this reference is in progress ({} made {}s ago); try again, \
                 or wait {}s if that push was killed on another machine",
                m.key,
                age.max(0) / 1000,
                LEASE_MS / 1000
            ));
        }
    }
    if live.is_none() {
        for key in dead {
            recover(remote, kind, name, key)?;
        }
    }
    Ok(live)
}

/// True when the intent `key` was made by a process of this machine (same boot, same pid
/// namespace) that no longer runs: a push that was killed. Other machines' pushes are judged
/// by the lease alone.
fn died_here(remote: &Remote, key: &str) -> Result<bool> {
    let Some(me) = super::process_token() else {
        return Ok(false);
    };
    let Some((bytes, _)) = remote.get(key)? else {
        return Ok(false);
    };
    let text = String::from_utf8_lossy(&bytes);
    let theirs = text.lines().find_map(|l| l.strip_prefix("process "));
    let Some((machine, pid)) = theirs.and_then(|t| t.rsplit_once(':')) else {
        return Ok(false);
    };
    let same_machine = me.rsplit_once(':').is_some_and(|(m, _)| m == machine);
    Ok(same_machine
        && pid
            .parse()
            .is_ok_and(|pid| !crate::fsutil::process_alive(pid)))
}

/// Finishes what the dead push of intent `intent` left: its ref-log entry goes when the
/// reference is still where that push started (its reference write never happened, so it
/// was never accepted), then the intent goes. Runs only while our intent is the only live
/// one, so nothing moves the reference meanwhile.
fn recover(remote: &Remote, kind: RefKind, name: &str, intent: &str) -> Result<()> {
    let log_key = layout::log_for_intent(kind, name, intent);
    if let Some((bytes, _)) = remote.get(&log_key)? {
        if let Some(e) = parse_log(&log_key, &bytes) {
            let now = read(remote, kind, name)?.map(|r| r.id);
            if now != Some(e.to) && now == e.from {
                remote.delete(&log_key)?;
            }
        }
    }
    remote.delete(intent)
}

/// Random waits that grow with the attempt, so two pushes that met do not meet again.
fn backoff(attempt: u32) -> Duration {
    let jitter = u64::from_str_radix(&nonce()[..4], 16).unwrap_or(0) % 400;
    Duration::from_millis(100 + 150 * u64::from(attempt) + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::backend::ObjectStoreBackend;
    use crate::remote::config::RemoteSpec;
    use crate::HashAlgo;
    use std::sync::Arc;

    fn memory() -> Remote {
        let spec = RemoteSpec {
            url: "s3://test/x".into(),
            endpoint: None,
            region: None,
            paths: vec![],
        };
        let store = Arc::new(object_store::memory::InMemory::new());
        Remote::with_backend(
            "t",
            &spec,
            Box::new(ObjectStoreBackend::new(store, "x").unwrap()),
        )
    }

    fn id(n: u8) -> ObjectId {
        HashAlgo::Blake3.hash(crate::hash::Domain::Layer, &[n])
    }

    #[test]
    fn publish_moves_and_refuses() {
        let r = memory();
        assert_eq!(
            publish(&r, RefKind::Line, "main", None, id(1)).unwrap(),
            Published::Done
        );
        assert_eq!(read(&r, RefKind::Line, "main").unwrap().unwrap().id, id(1));
        // Someone who still thinks the line is new loses.
        assert_eq!(
            publish(&r, RefKind::Line, "main", None, id(2)).unwrap(),
            Published::Moved(Some(id(1)))
        );
        assert_eq!(
            publish(&r, RefKind::Line, "main", Some(id(1)), id(3)).unwrap(),
            Published::Done
        );
        assert_eq!(
            publish(&r, RefKind::Line, "main", Some(id(1)), id(4)).unwrap(),
            Published::Moved(Some(id(3)))
        );
        let log: Vec<LogEntry> = log(&r, RefKind::Line, "main")
            .unwrap()
            .into_iter()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(log.len(), 2);
        assert_eq!((log[0].from, log[0].to), (None, id(1)));
        assert_eq!((log[1].from, log[1].to), (Some(id(1)), id(3)));
        assert!(r.list("locks/").unwrap().is_empty(), "intents are removed");
        assert_eq!(
            list(&r, RefKind::Line).unwrap(),
            vec![("main".to_string(), id(3))]
        );
    }

    #[test]
    fn a_live_intent_keeps_others_out_and_a_stale_one_does_not() {
        let r = memory();
        let dir = layout::lock_dir(RefKind::Line, "main");
        let live = layout::timed_key(&dir, now_ns(), "other");
        r.backend().put(&live, b"x".to_vec(), Cond::Create).unwrap();
        match publish(&r, RefKind::Line, "main", None, id(1)).unwrap() {
            Published::Busy(why) => assert!(why.contains("in progress"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(read(&r, RefKind::Line, "main").unwrap().is_none());
        r.delete(&live).unwrap();
        assert_eq!(
            publish(&r, RefKind::Line, "main", None, id(1)).unwrap(),
            Published::Done
        );
    }

    /// A forced move is still conditional, and its log entry says it was forced; a normal
    /// one's does not.
    #[test]
    fn a_forced_publish_is_conditional_and_logged_as_forced() {
        let r = memory();
        publish(&r, RefKind::Line, "main", None, id(1)).unwrap();
        assert_eq!(
            publish_forced(&r, "main", Some(id(2)), id(3)).unwrap(),
            Published::Moved(Some(id(1))),
            "only from the value read at the start"
        );
        assert_eq!(
            publish_forced(&r, "main", Some(id(1)), id(3)).unwrap(),
            Published::Done
        );
        let entries: Vec<LogEntry> = log(&r, RefKind::Line, "main")
            .unwrap()
            .into_iter()
            .map(|e| e.unwrap())
            .collect();
        let forced: Vec<bool> = entries.iter().map(|e| e.forced).collect();
        assert_eq!(forced, [false, true]);
        assert_eq!((entries[1].from, entries[1].to), (Some(id(1)), id(3)));
    }

    /// A push of this machine killed after its log entry: its intent does not keep the next
    /// push out, and its entry, never accepted, goes; an accepted one stays.
    #[test]
    fn a_dead_pushs_intent_is_recovered_at_once() {
        let r = memory();
        publish(&r, RefKind::Line, "main", None, id(1)).unwrap();
        let me = crate::remote::process_token().expect("Linux names the boot and pid namespace");
        let machine = me.rsplit_once(':').unwrap().0;
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let dead = |n: &str, from: u8, to: u8| {
            let intent = layout::timed_key(&layout::lock_dir(RefKind::Line, "main"), now_ns(), n);
            let body = format!("push of x by 1 on y\nprocess {machine}:{}\n", gone.id());
            r.backend()
                .put(&intent, body.into_bytes(), Cond::Create)
                .unwrap();
            let entry = format!("from {}\nto {}\nhost y\n", id(from), id(to));
            let key = layout::log_for_intent(RefKind::Line, "main", &intent);
            r.backend()
                .put(&key, entry.into_bytes(), Cond::Create)
                .unwrap();
        };
        dead("a", 1, 2);
        assert_eq!(
            publish(&r, RefKind::Line, "main", Some(id(1)), id(3)).unwrap(),
            Published::Done
        );
        // Killed after writing the reference: that push was accepted.
        dead("b", 3, 4);
        r.backend()
            .put(
                "refs/lines/main",
                format!("{}\n", id(4)).into_bytes(),
                Cond::Overwrite,
            )
            .unwrap();
        assert_eq!(
            publish(&r, RefKind::Line, "main", Some(id(4)), id(5)).unwrap(),
            Published::Done
        );
        let tos: Vec<ObjectId> = log(&r, RefKind::Line, "main")
            .unwrap()
            .into_iter()
            .map(|e| e.unwrap().to)
            .collect();
        assert_eq!(tos, vec![id(1), id(3), id(4), id(5)]);
        assert!(r.list("locks/").unwrap().is_empty());
    }

    #[test]
    fn concurrent_publishes_never_both_win() {
        let r = Arc::new(memory());
        publish(&r, RefKind::Line, "main", None, id(0)).unwrap();
        let results: Vec<Published> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..=4)
                .map(|n| {
                    let r = r.clone();
                    s.spawn(move || publish(&r, RefKind::Line, "main", Some(id(0)), id(n)).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins = results.iter().filter(|p| **p == Published::Done).count();
        assert!(wins <= 1, "{results:?}");
        let tip = read(&r, RefKind::Line, "main").unwrap().unwrap().id;
        let accepted: Vec<ObjectId> = log(&r, RefKind::Line, "main")
            .unwrap()
            .into_iter()
            .map(|e| e.unwrap().to)
            .collect();
        assert!(accepted.contains(&tip), "the log records the tip");
        assert_eq!(accepted.len(), 1 + wins, "one entry per accepted push");
    }
}
