//! Progress bars with indicatif, on stderr, only when the CLI decided to show them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    bytes: AtomicU64,
}

impl Bar {
    pub(crate) fn new(show: bool) -> Bar {
        let bar = show.then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Bar {
            bar,
            bytes: AtomicU64::new(0),
        }
    }
}

impl cairn::Progress for Bar {
    fn begin(&self, phase: &'static str, files: u64, _bytes: u64) {
        let Some(b) = &self.bar else { return };
        self.bytes.store(0, Relaxed);
        b.reset();
        b.set_length(files);
        b.set_prefix(phase);
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} files {msg} {elapsed}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        b.set_style(style);
    }

    fn advance(&self, files: u64, bytes: u64) {
        let Some(b) = &self.bar else { return };
        let total = self.bytes.fetch_add(bytes, Relaxed) + bytes;
        b.inc(files);
        let secs = b.elapsed().as_secs_f64().max(0.001);
        b.set_message(format!(
            "{} ({}/s)",
            HumanBytes(total),
            HumanBytes((total as f64 / secs) as u64)
        ));
    }

    fn end(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
