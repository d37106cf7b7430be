//! What `add` and `restore` report to a progress receiver: byte totals up front, bytes that
//! move inside a large file before it is done, and counts that add up.

use std::fs;
use std::sync::Mutex;

use cairn::ops::restore::{restore, RestoreOptions};
use cairn::ops::{add, commit, init};
use cairn::progress::{NoProgress, Progress, Unit};
use cairn::session::Common;
use cairn::{HashAlgo, Repository};

use crate::support::random_bytes;

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Begin(&'static str, Unit, u64, u64),
    Advance(u64, u64),
    End,
}

/// Records every call, and asks for totals as a drawn bar does.
struct Recorder(Mutex<Vec<Event>>);

impl Progress for Recorder {
    fn begin(&self, phase: &'static str, unit: Unit, items: u64, bytes: u64) {
        self.0
            .lock()
            .unwrap()
            .push(Event::Begin(phase, unit, items, bytes));
    }
    fn advance(&self, items: u64, bytes: u64) {
        self.0.lock().unwrap().push(Event::Advance(items, bytes));
    }
    fn end(&self) {
        self.0.lock().unwrap().push(Event::End);
    }
    fn wants_totals(&self) -> bool {
        true
    }
}

impl Recorder {
    fn new() -> Recorder {
        Recorder(Mutex::new(Vec::new()))
    }

    /// The one phase recorded: its begin, and the sums of its advances.
    fn phase(&self) -> (Event, u64, u64, Vec<Event>) {
        let ev = self.0.lock().unwrap().clone();
        assert_eq!(ev.last(), Some(&Event::End), "{ev:?}");
        let begins: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, Event::Begin(..)))
            .collect();
        assert_eq!(begins.len(), 1, "{ev:?}");
        let (mut items, mut bytes) = (0, 0);
        for e in &ev {
            if let Event::Advance(i, b) = e {
                items += i;
                bytes += b;
            }
        }
        (begins[0].clone(), items, bytes, ev)
    }
}

/// Advances that carried bytes before the first item was done: the bar moved inside the
/// large file.
fn bytes_before_first_item(ev: &[Event]) -> u64 {
    ev.iter()
        .take_while(|e| !matches!(e, Event::Advance(i, _) if *i > 0))
        .filter_map(|e| match e {
            Event::Advance(0, b) => Some(*b),
            _ => None,
        })
        .sum()
}

const BIG: usize = 6 << 20;

#[test]
fn add_and_restore_report_bytes_inside_a_large_file() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("w");
    fs::create_dir(&root).unwrap();
    init::init(&init::InitOptions {
        dir: root.clone(),
        hash: HashAlgo::Blake3,
        chunk_avg: Some(64 << 10),
        separate: None,
    })
    .unwrap();
    fs::write(root.join("big"), random_bytes(1, BIG)).unwrap();
    let repo = Repository::open(&root).unwrap();
    let common = Common::new(&root);
    let all = add::AddOptions {
        paths: Vec::new(),
        all: true,
        dry_run: false,
        force: false,
        ignore_errors: false,
        exclude: Vec::new(),
        counts_only: false,
    };
    let locked = repo.lock(common.lock_timeout).unwrap();
    let rec = Recorder::new();
    add::add(&locked, &common, &all, &rec).unwrap();
    let (begin, items, bytes, ev) = rec.phase();
    assert_eq!(begin, Event::Begin("adding", Unit::Files, 1, BIG as u64));
    assert_eq!((items, bytes), (1, BIG as u64));
    assert!(
        bytes_before_first_item(&ev) == BIG as u64 && ev.len() > 10,
        "the bytes came chunk by chunk before the file was done: {ev:?}"
    );
    let msg = commit::CommitOptions {
        message: "big".into(),
        author: Some("test".into()),
        new_line: None,
        ..Default::default()
    };
    commit::commit(&locked, &msg, &NoProgress).unwrap();
    drop(locked);

    let rec = Recorder::new();
    let opts = RestoreOptions {
        layer: "HEAD".into(),
        paths: Vec::new(),
        to: d.path().join("out"),
        force: false,
    };
    restore(&repo, &opts, &rec).unwrap();
    let (begin, items, bytes, ev) = rec.phase();
    assert_eq!(begin, Event::Begin("restoring", Unit::Files, 1, BIG as u64));
    assert_eq!((items, bytes), (1, BIG as u64));
    assert!(
        bytes_before_first_item(&ev) == BIG as u64 && ev.len() > 4,
        "{ev:?}"
    );
    assert_eq!(
        fs::read(d.path().join("out/big")).unwrap(),
        random_bytes(1, BIG)
    );
}

#[test]
fn units_name_what_they_count() {
    assert_eq!(Unit::Files.noun(1), "file");
    assert_eq!(Unit::Files.noun(0), "files");
    assert_eq!(Unit::Packs.noun(2), "packs");
    assert_eq!(Unit::Chunks.noun(1), "chunk");
}

#[test]
fn progress_json_writes_begin_progress_and_end_lines() {
    let env = crate::support::Env::new();
    fs::write(env.path("big"), random_bytes(2, 3 << 20)).unwrap();
    for i in 0..20 {
        fs::write(env.path(format!("f{i}")), format!("{i}")).unwrap();
    }
    let out = env
        .cmd_in(&env.root)
        .args(["--progress", "json", "--json", "add", "-A"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // stdout holds the outcome, stderr only the events.
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["staged"].is_array(), "{doc}");
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let first = &events[0];
    let last = events.last().unwrap();
    assert_eq!(first["event"], "begin");
    assert_eq!(first["phase"], "adding");
    assert_eq!(first["unit"], "files");
    assert_eq!(first["items"], 21);
    assert_eq!(first["bytes"], (3 << 20) + 10 + 2 * 10);
    assert_eq!(last["event"], "end");
    assert_eq!(last["items_done"], 21);
    assert_eq!(last["bytes_done"], first["bytes"]);
    for e in &events[1..events.len() - 1] {
        assert_eq!(e["event"], "progress", "{e}");
    }
}

#[test]
fn a_usage_error_under_json_is_a_json_document() {
    let env = crate::support::Env::new();
    let out = env
        .cmd_in(&env.root)
        .args(["--json", "log", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "usage");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--bogus"),
        "{doc}"
    );
    // Without --json, stdout stays empty and help is not an error.
    let out = env
        .cmd_in(&env.root)
        .args(["log", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = env
        .cmd_in(&env.root)
        .args(["--json", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
}
