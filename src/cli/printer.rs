//! Where output goes: JSON or text on stdout, errors on stderr, all decided here.

use std::io::Write;

use schemars::JsonSchema;
use serde::Serialize;

use super::exit;

/// The version of every `--json` document's shape, printed as its `schema_version` field.
/// It goes up when a field is removed, renamed or changes its type or meaning; a new field
/// does not change it (docs/JSON.md, "Versioning").
pub(crate) const SCHEMA_VERSION: u32 = 1;

pub(crate) struct Printer {
    pub json: bool,
    quiet: bool,
    pub verbose: u8,
}

/// A text renderer: writes an outcome for people.
pub(super) type Render<T> = fn(&T, &mut dyn Write, &Printer) -> std::io::Result<()>;

/// A `--json` document: the outcome's fields with `schema_version` first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Versioned<'a, T> {
    /// The version of this document's shape (docs/JSON.md, "Versioning").
    #[schemars(extend("const" = SCHEMA_VERSION))]
    schema_version: u32,
    #[serde(flatten)]
    document: &'a T,
}

impl<'a, T> Versioned<'a, T> {
    pub(crate) fn new(document: &'a T) -> Versioned<'a, T> {
        Versioned {
            schema_version: SCHEMA_VERSION,
            document,
        }
    }
}

/// The document printed on stdout for an error under `--json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ErrorDocument {
    /// The version of this document's shape.
    #[schemars(extend("const" = SCHEMA_VERSION))]
    schema_version: u32,
    /// What went wrong.
    error: ErrorBody,
}

/// What went wrong, for a program.
#[derive(Serialize, JsonSchema)]
struct ErrorBody {
    /// A stable machine-readable name (docs/JSON.md lists them); `usage` for a command line
    /// that could not be parsed, `error` for a failure that has no kind of its own.
    kind: String,
    /// The message for people; it may change between releases.
    message: String,
    /// What to do about it, when there is something to say.
    hint: Option<String>,
    /// The file or directory the error names, when it names one.
    path: Option<String>,
    /// The exit code the command ends with.
    exit_code: u8,
}

impl ErrorDocument {
    /// The document for an error of `kind`, ending the command with `exit_code`.
    pub(crate) fn new(
        kind: &str,
        message: String,
        hint: Option<&str>,
        path: Option<&std::path::Path>,
        exit_code: u8,
    ) -> ErrorDocument {
        ErrorDocument {
            schema_version: SCHEMA_VERSION,
            error: ErrorBody {
                kind: kind.to_string(),
                message,
                hint: hint.map(str::to_string),
                path: path.map(|p| p.to_string_lossy().into_owned()),
                exit_code,
            },
        }
    }

    /// Writes the document as one line on stdout. Not println!, which panics when stdout
    /// is closed: the error is on stderr anyway.
    pub(crate) fn print(&self) {
        if let Ok(line) = serde_json::to_string(self) {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }
}

impl Printer {
    pub(crate) fn new(json: bool, quiet: bool, verbose: u8) -> Printer {
        Printer {
            json,
            quiet,
            verbose,
        }
    }

    /// True with `-q`: nothing but errors is printed.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Prints an outcome: one JSON document with --json, else the text rendering (none
    /// with -q). The outcome must have a schema: every document is in docs/schema/.
    pub(crate) fn outcome<T: Serialize + JsonSchema>(
        &self,
        value: &T,
        render: Render<T>,
    ) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        if self.json {
            serde_json::to_writer_pretty(&mut out, &Versioned::new(value))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        } else if !self.quiet {
            render(value, &mut out, self)?;
        }
        out.flush()
    }

    /// Reports an error that ends the command with `exit_code`: `error: ...` and a hint on
    /// stderr; with --json also a JSON document on stdout so scripts always get one.
    pub(crate) fn error(&self, e: &anyhow::Error, exit_code: u8) {
        let cairn_error = e.downcast_ref::<cairn::Error>();
        let hint = cairn_error.and_then(cairn::Error::hint);
        let kind = cairn_error.map_or("error", |e| e.kind());
        let message = match cairn_error {
            Some(inner) => inner.to_string(),
            None => format!("{e:#}"),
        };
        eprintln!("error: {message}");
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
        if self.json {
            let path = cairn_error.and_then(cairn::Error::path);
            ErrorDocument::new(kind, message, hint, path, exit_code).print();
        }
    }
}

/// The exit code an error ends the command with: "nothing to commit" is told apart from
/// failures, so a nightly job can tell "no change tonight" from "broken".
pub(crate) fn exit_code_of(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<cairn::Error>() {
        Some(cairn::Error::NothingToCommit { .. }) => exit::NOTHING_TO_COMMIT,
        _ => exit::ERROR,
    }
}
