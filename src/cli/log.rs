//! What the command line adds to `log`: `-N` as a short form of `-n N`, and `--format`
//! with its placeholders.

use std::ffi::{OsStr, OsString};
use std::io::{Result, Write};

use cairn::ops::log::{LogEntry, LogOutcome};
use clap::{Arg, Command};
use serde::Serialize;

/// A history and how to print it: the JSON document is the outcome alone.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct LogView {
    #[serde(flatten)]
    pub outcome: LogOutcome,
    #[serde(skip)]
    pub style: LogStyle,
}

/// How `log` prints each layer.
#[derive(Debug, Default)]
pub(super) struct LogStyle {
    /// `--oneline`: short id, decorations, subject.
    pub oneline: bool,
    /// `--format`: the pieces to print instead of the header.
    pub format: Option<Vec<Piece>>,
    /// How each layer's changed paths are printed (one of `changes::format`), as `diff`
    /// prints them; `None`: not at all.
    pub changes: Option<u8>,
}

/// The placeholders of `--format`, as the error for an unknown one lists them.
pub(super) const PLACEHOLDERS: &str = "%H %h %s %b %an %ad %aI %at %d %n %%";

/// One piece of a `--format` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    /// Text copied as it is.
    Text(String),
    /// `%H`: the full id.
    Id,
    /// `%h`: the short id.
    ShortId,
    /// `%s`: the message's first line.
    Subject,
    /// `%b`: the message after its first line, blank lines before it dropped.
    Body,
    /// `%an`: the author.
    Author,
    /// `%ad`: the date as log prints it, `2026-12-06 12:00:00 UTC`.
    Date,
    /// `%aI`: the date in ISO 8601, `2026-12-06T12:00:00Z`.
    IsoDate,
    /// `%at`: the date in Unix seconds.
    UnixDate,
    /// `%d`: ` (HEAD -> main, tag: v2)`, or nothing when no reference names the layer.
    Decorations,
}

/// Reads a `--format` string; the error names every unknown placeholder (`cwd`: the
/// directory the error names).
pub(super) fn parse_format(format: &str, cwd: &std::path::Path) -> cairn::Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut unknown = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        let piece = match chars.next() {
            Some('%') => Piece::Text("%".into()),
            Some('n') => Piece::Text("\n".into()),
            Some('H') => Piece::Id,
            Some('h') => Piece::ShortId,
            Some('s') => Piece::Subject,
            Some('b') => Piece::Body,
            Some('d') => Piece::Decorations,
            Some('a') => match chars.next() {
                Some('n') => Piece::Author,
                Some('d') => Piece::Date,
                Some('I') => Piece::IsoDate,
                Some('t') => Piece::UnixDate,
                other => {
                    unknown.push(format!("%a{}", other.map(String::from).unwrap_or_default()));
                    continue;
                }
            },
            other => {
                unknown.push(format!("%{}", other.map(String::from).unwrap_or_default()));
                continue;
            }
        };
        match piece {
            Piece::Text(t) => text.push_str(&t),
            p => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(p);
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    if !unknown.is_empty() {
        return Err(cairn::Error::BadArgument {
            what: format!(
                "--format has unknown placeholders {}; the known ones are {PLACEHOLDERS}",
                unknown
                    .iter()
                    .map(|u| format!("{u:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            path: cwd.to_path_buf(),
        });
    }
    Ok(pieces)
}

/// Writes one layer as the format says, then a newline.
pub(super) fn write_formatted(out: &mut dyn Write, pieces: &[Piece], l: &LogEntry) -> Result<()> {
    for p in pieces {
        match p {
            Piece::Text(t) => write!(out, "{t}")?,
            Piece::Id => write!(out, "{}", l.id)?,
            Piece::ShortId => write!(out, "{}", l.id.short())?,
            Piece::Subject => write!(out, "{}", subject(&l.message))?,
            Piece::Body => write!(out, "{}", body(&l.message))?,
            Piece::Author => write!(out, "{}", l.author)?,
            Piece::Date => write!(out, "{}", super::render::utc(l.time_ns))?,
            Piece::IsoDate => write!(out, "{}", l.time)?,
            Piece::UnixDate => write!(out, "{}", l.time_ns.div_euclid(1_000_000_000))?,
            Piece::Decorations => {
                if !l.refs.is_empty() {
                    write!(out, " ({})", l.refs.describe())?;
                }
            }
        }
    }
    writeln!(out)
}

/// The message's first line.
pub(super) fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

/// The message after its first line, the blank lines that follow it dropped.
fn body(message: &str) -> &str {
    message
        .split_once('\n')
        .map_or("", |(_, rest)| rest.trim_start_matches(['\n', '\r']))
}

/// `cairn log -3` is `cairn log -n 3`, as in git. clap cannot take a number as a flag, so
/// the arguments are rewritten before it parses them: only those of the `log` subcommand,
/// only before `--`, and never a value of an option (`log --since -3` stays as it is).
/// Every other command keeps its arguments as typed (`cat --range -100`).
/// `command` makes the command-line definition, only when some argument looks like `-N`.
pub(crate) fn expand_count(
    args: Vec<OsString>,
    command: impl FnOnce() -> Command,
) -> Vec<OsString> {
    // Most command lines hold no `-N`: they are not worth building the definition for.
    if !args.iter().any(|a| count(a).is_some()) {
        return args;
    }
    let mut cmd = command();
    cmd.build();
    let Some(at) = subcommand_at(&cmd, &args) else {
        return args;
    };
    let Some(log) = cmd.find_subcommand("log").filter(|_| args[at] == "log") else {
        return args;
    };
    let mut out = args[..=at].to_vec();
    let (mut value_next, mut positional) = (false, false);
    for a in &args[at + 1..] {
        if !value_next && !positional {
            if let Some(n) = count(a) {
                out.extend([OsString::from("-n"), n.into()]);
                continue;
            }
        }
        positional |= !value_next && a == "--";
        value_next = !value_next && !positional && value_follows(log, a);
        out.push(a.clone());
    }
    out
}

/// The position of the subcommand: the first argument that is neither an option nor an
/// option's value.
fn subcommand_at(cmd: &Command, args: &[OsString]) -> Option<usize> {
    let mut value_next = false;
    for (i, a) in args.iter().enumerate().skip(1) {
        if value_next {
            value_next = false;
        } else if a.as_encoded_bytes().starts_with(b"-") {
            value_next = value_follows(cmd, a);
        } else {
            return Some(i);
        }
    }
    None
}

/// `-N`: the digits of N.
fn count(a: &OsStr) -> Option<&str> {
    let digits = a.to_str()?.strip_prefix('-')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// True when the option `a` of `cmd` takes its value from the next argument: `--since`,
/// but not `--since=x`; `-n`, but not `-n3`; `-qC` (a value taker last in a group).
fn value_follows(cmd: &Command, a: &OsStr) -> bool {
    let takes = |arg: &Arg| arg.get_action().takes_values();
    let Some(s) = a.to_str() else { return false };
    if let Some(long) = s.strip_prefix("--") {
        return !long.contains('=')
            && cmd
                .get_arguments()
                .any(|arg| arg.get_long() == Some(long) && takes(arg));
    }
    let Some(shorts) = s.strip_prefix('-') else {
        return false;
    };
    for (i, c) in shorts.char_indices() {
        if cmd
            .get_arguments()
            .any(|arg| arg.get_short() == Some(c) && takes(arg))
        {
            // The rest of the group, if any, is the value.
            return i + c.len_utf8() == shorts.len();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn expand(args: &str) -> String {
        let args = args.split(' ').map(OsString::from).collect();
        let out = expand_count(args, super::super::args::Cli::command);
        let out: Vec<_> = out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        out.join(" ")
    }

    #[test]
    fn a_number_flag_of_log_is_a_count() {
        assert_eq!(expand("cairn log -3"), "cairn log -n 3");
        assert_eq!(
            expand("cairn log --oneline -10 HEAD"),
            "cairn log --oneline -n 10 HEAD"
        );
        assert_eq!(expand("cairn --json log -2"), "cairn --json log -n 2");
        assert_eq!(expand("cairn -C -5 log -2"), "cairn -C -5 log -n 2");
        assert_eq!(expand("cairn -qC dir log -2"), "cairn -qC dir log -n 2");
        assert_eq!(
            expand("cairn --lock-timeout 3 log -2"),
            "cairn --lock-timeout 3 log -n 2"
        );
    }

    #[test]
    fn values_paths_and_other_commands_keep_their_numbers() {
        assert_eq!(
            expand("cairn cat --range -100 HEAD:a"),
            "cairn cat --range -100 HEAD:a"
        );
        assert_eq!(expand("cairn log --since -3"), "cairn log --since -3");
        assert_eq!(
            expand("cairn log --format -3 -1"),
            "cairn log --format -3 -n 1"
        );
        assert_eq!(expand("cairn log -n -3"), "cairn log -n -3");
        assert_eq!(expand("cairn log -- -3"), "cairn log -- -3");
        assert_eq!(expand("cairn log -3x"), "cairn log -3x");
        assert_eq!(expand("cairn log -"), "cairn log -");
        assert_eq!(
            expand("cairn -C log -3"),
            "cairn -C log -3",
            "log is -C's value"
        );
        assert_eq!(expand("cairn"), "cairn");
    }

    #[test]
    fn formats_read_and_refuse() {
        use Piece::*;
        let parse_format = |f| super::parse_format(f, std::path::Path::new("/w"));
        assert_eq!(
            parse_format("%h %s%n%%%an<%aI>%d").unwrap(),
            [
                ShortId,
                Text(" ".into()),
                Subject,
                Text("\n%".into()),
                Author,
                Text("<".into()),
                IsoDate,
                Text(">".into()),
                Decorations
            ]
        );
        assert_eq!(parse_format("").unwrap(), []);
        assert_eq!(parse_format("plain").unwrap(), [Text("plain".into())]);
        let e = parse_format("%x %H %ax %a %").unwrap_err().to_string();
        for named in [r#""%x", "%ax", "%a ", "%""#, "%H %h", "(/w)"] {
            assert!(e.contains(named), "{named} in {e}");
        }
        let e = parse_format("%Q").unwrap_err();
        assert_eq!(e.kind(), "bad_argument");
    }

    #[test]
    fn subject_and_body() {
        assert_eq!(subject("one\n\ntwo\nthree\n"), "one");
        assert_eq!(body("one\n\ntwo\nthree\n"), "two\nthree\n");
        assert_eq!(body("one"), "");
        assert_eq!(subject(""), "");
    }
}
