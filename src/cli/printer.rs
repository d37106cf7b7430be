//! Where output goes: JSON or text on stdout, errors on stderr, all decided here.

use std::io::Write;

use serde::Serialize;

pub(crate) struct Printer {
    pub json: bool,
    quiet: bool,
    pub verbose: u8,
}

/// A text renderer: writes an outcome for people.
pub(super) type Render<T> = fn(&T, &mut dyn Write, &Printer) -> std::io::Result<()>;

impl Printer {
    pub(crate) fn new(json: bool, quiet: bool, verbose: u8) -> Printer {
        Printer {
            json,
            quiet,
            verbose,
        }
    }

    /// Prints an outcome: one JSON document with --json, else the text rendering (none
    /// with -q).
    pub(crate) fn outcome<T: Serialize>(
        &self,
        value: &T,
        render: Render<T>,
    ) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        if self.json {
            serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
            writeln!(out)?;
        } else if !self.quiet {
            render(value, &mut out, self)?;
        }
        out.flush()
    }

    /// Reports an error: `error: ...` and a hint on stderr; with --json also a JSON
    /// document on stdout so scripts always get one.
    pub(crate) fn error(&self, e: &anyhow::Error) {
        let cairn_error = e.downcast_ref::<cairn::Error>();
        let hint = cairn_error.and_then(cairn::Error::hint);
        let kind = cairn_error.map_or("error", |e| e.kind());
        let message = match e.downcast_ref::<cairn::Error>() {
            Some(inner) => inner.to_string(),
            None => format!("{e:#}"),
        };
        eprintln!("error: {message}");
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
        if self.json {
            let doc = serde_json::json!({ "error": { "kind": kind, "message": message, "hint": hint, "exit_code": 2 } });
            // Not println!, which panics when stdout is closed: the error is on stderr anyway.
            let _ = writeln!(std::io::stdout(), "{doc}");
        }
    }
}
