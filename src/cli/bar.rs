//! Progress on stderr, only when the CLI decided to show it: bars drawn with indicatif, or
//! JSON lines for programs (`--progress json`).
//!
//! A phase with a byte total draws bytes (done, total, rate, ETA) with its items counted
//! beside; one without draws its items. Nothing is drawn before the first phase begins nor
//! for a phase with nothing to count, so no bar ever shows an unlabelled `0/0`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn::Unit;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Off,
    Draw,
    Json,
}

/// The JSON lines' clock, in milliseconds after `origin`: when the phase began, and when a
/// progress line was last written, so at most four a second are written. Atomics, not a
/// lock: `advance` reads the clock once per chunk, from every worker thread.
struct JsonClock {
    origin: Instant,
    phase_ms: AtomicU64,
    last_ms: AtomicU64,
}

impl JsonClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// What a line of `--progress json` reports.
#[derive(Debug, Clone, Copy, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Event {
    /// A phase starts, with its totals.
    Begin,
    /// Work done in the phase so far.
    Progress,
    /// The phase is over.
    End,
}

/// One line of `--progress json` on stderr (docs/JSON.md, "Progress events"). It has no
/// `schema_version`: the lines are described by `docs/schema/progress-event.json`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct ProgressEvent<'a> {
    /// `begin`, `progress` or `end`.
    pub(crate) event: Event,
    /// What the command is doing: `adding`, `writing`, `verifying`, ...
    pub(crate) phase: &'a str,
    /// What `items` counts: `files`, `packs`, `chunks`, `objects`, ...
    pub(crate) unit: &'static str,
    /// Items in the phase, 0 when not known.
    pub(crate) items: u64,
    /// Bytes in the phase, 0 when not known.
    pub(crate) bytes: u64,
    /// Items done so far.
    pub(crate) items_done: u64,
    /// Bytes done so far.
    pub(crate) bytes_done: u64,
    /// Milliseconds since the phase began.
    pub(crate) elapsed_ms: u64,
}

/// Progress events at most this often, in milliseconds.
const JSON_EVERY_MS: u64 = 250;

pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    json: Option<JsonClock>,
    /// The phase's counts: items done, and bytes done (for the rate of an item bar).
    items: AtomicU64,
    bytes: AtomicU64,
    /// Whether the bar counts bytes (its length is the byte total) or items.
    in_bytes: AtomicBool,
    /// A phase that began with no totals (a stream): drawn as a spinner with bytes once
    /// something moves, and not at all when nothing does.
    unknown: AtomicBool,
    /// The phase's unit and item total, for the text beside a byte bar.
    phase: Mutex<(Unit, u64)>,
    /// The phase's name and byte total, for the JSON lines.
    bar_prefix: Mutex<&'static str>,
    total_bytes: AtomicU64,
}

impl Bar {
    pub(crate) fn new(mode: Mode) -> Bar {
        let bar = (mode == Mode::Draw)
            .then(|| ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()));
        let json = (mode == Mode::Json).then(|| JsonClock {
            origin: Instant::now(),
            phase_ms: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        });
        if let Some(b) = &bar {
            b.set_draw_target(ProgressDrawTarget::hidden());
        }
        Bar {
            bar,
            json,
            items: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            in_bytes: AtomicBool::new(false),
            unknown: AtomicBool::new(false),
            phase: Mutex::new((Unit::Files, 0)),
            bar_prefix: Mutex::new(""),
            total_bytes: AtomicU64::new(0),
        }
    }

    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> ")
    }

    /// Writes one JSON line on stderr: the event, the phase, its totals and what is done.
    /// A closed stderr is no reason to stop the work.
    fn json_line(&self, event: Event, clock: &JsonClock) {
        let (unit, items) = *self.phase.lock().expect("not poisoned");
        let prefix = self.bar_prefix.lock().expect("not poisoned");
        let line = ProgressEvent {
            event,
            phase: &prefix,
            unit: unit.noun(2),
            items,
            bytes: self.total_bytes.load(Relaxed),
            items_done: self.items.load(Relaxed),
            bytes_done: self.bytes.load(Relaxed),
            elapsed_ms: clock.now_ms() - clock.phase_ms.load(Relaxed),
        };
        if let Ok(text) = serde_json::to_string(&line) {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// Draws a phase with no totals: bytes so far and their rate, and the items done.
    fn show_spinner(&self, b: &ProgressBar) {
        b.unset_length();
        b.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} {spinner} {binary_bytes} ({binary_bytes_per_sec}) {msg} {elapsed}",
            )
            .expect("valid template"),
        );
        b.set_draw_target(ProgressDrawTarget::stderr());
        b.enable_steady_tick(Duration::from_millis(200));
    }

    /// The text beside a byte bar: `3/10 files`.
    fn items_message(&self, done: u64) -> String {
        let (unit, total) = *self.phase.lock().expect("not poisoned");
        format!("{done}/{total} {}", unit.noun(total))
    }
}

impl cairn::Progress for Bar {
    fn begin(&self, phase: &'static str, unit: Unit, items: u64, bytes: u64) {
        self.items.store(0, Relaxed);
        self.bytes.store(0, Relaxed);
        self.total_bytes.store(bytes, Relaxed);
        *self.phase.lock().expect("not poisoned") = (unit, items);
        *self.bar_prefix.lock().expect("not poisoned") = phase;
        if let Some(clock) = &self.json {
            let now = clock.now_ms();
            clock.phase_ms.store(now, Relaxed);
            clock.last_ms.store(now, Relaxed);
            self.json_line(Event::Begin, clock);
        }
        let Some(b) = &self.bar else { return };
        b.reset();
        b.set_prefix(phase);
        self.unknown.store(items == 0 && bytes == 0, Relaxed);
        if items == 0 && bytes == 0 {
            b.set_draw_target(ProgressDrawTarget::hidden());
            return;
        }
        let in_bytes = bytes > 0;
        self.in_bytes.store(in_bytes, Relaxed);
        if in_bytes {
            b.set_length(bytes);
            b.set_style(Self::style(
                "{prefix:>12} [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} ETA {eta} {msg}",
            ));
            b.set_message(self.items_message(0));
        } else {
            b.set_length(items);
            b.set_style(Self::style(
                "{prefix:>12} [{wide_bar}] {pos}/{len} {msg} {elapsed}",
            ));
            b.set_message(unit.noun(items));
        }
        b.set_draw_target(ProgressDrawTarget::stderr());
        b.enable_steady_tick(Duration::from_millis(200));
    }

    fn advance(&self, items: u64, bytes: u64) {
        let done = self.items.fetch_add(items, Relaxed) + items;
        let total = self.bytes.fetch_add(bytes, Relaxed) + bytes;
        if let Some(clock) = &self.json {
            let now = clock.now_ms();
            let last = clock.last_ms.load(Relaxed);
            let due = now >= last + JSON_EVERY_MS;
            if due
                && clock
                    .last_ms
                    .compare_exchange(last, now, Relaxed, Relaxed)
                    .is_ok()
            {
                self.json_line(Event::Progress, clock);
            }
        }
        let Some(b) = &self.bar else { return };
        if self.unknown.swap(false, Relaxed) {
            self.show_spinner(b);
        }
        if b.length().is_none() {
            b.inc(bytes);
            let (unit, _) = *self.phase.lock().expect("not poisoned");
            b.set_message(format!("{done} {}", unit.noun(done)));
            return;
        }
        if self.in_bytes.load(Relaxed) {
            b.inc(bytes);
            if items > 0 {
                b.set_message(self.items_message(done));
            }
            return;
        }
        b.inc(items);
        if bytes > 0 {
            let (unit, len) = *self.phase.lock().expect("not poisoned");
            let secs = b.elapsed().as_secs_f64().max(0.001);
            b.set_message(format!(
                "{} {} ({}/s)",
                unit.noun(len),
                HumanBytes(total),
                HumanBytes((total as f64 / secs) as u64)
            ));
        }
    }

    fn end(&self) {
        if let Some(clock) = &self.json {
            self.json_line(Event::End, clock);
        }
        if let Some(b) = &self.bar {
            b.disable_steady_tick();
            b.finish_and_clear();
        }
    }

    fn wants_totals(&self) -> bool {
        self.bar.is_some() || self.json.is_some()
    }
}
