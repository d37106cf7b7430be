//! Path names in text output, quoted as git quotes them with `core.quotePath=true` (its
//! default): a name holding a control character, `"`, `\` or any byte from 0x7f up is
//! printed in double quotes with C escapes (`\n`, `\t`, `\"`, `\\`, else three octal
//! digits), so every name is one line, a terminal never sees a raw escape sequence, and a
//! script can unquote it back to the exact bytes. Other names are printed unchanged, which
//! keeps the common case a plain copy. `status -z` prints names raw instead.

use std::io::{Result, Write};

/// Whether a name is quoted when it holds a space but nothing else to escape. git's short
/// status does so (its rename arrows make spaces ambiguous); `ls-files` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Space {
    Plain,
    Quoted,
}

/// The escape letter for `b`, `Some(0)` for octal, `None` when `b` is printed as it is.
fn escape(b: u8) -> Option<u8> {
    match b {
        0x07 => Some(b'a'),
        0x08 => Some(b'b'),
        b'\t' => Some(b't'),
        b'\n' => Some(b'n'),
        0x0b => Some(b'v'),
        0x0c => Some(b'f'),
        b'\r' => Some(b'r'),
        b'"' | b'\\' => Some(b),
        0..=0x1f | 0x7f..=0xff => Some(0),
        _ => None,
    }
}

/// Writes `name`, quoted when it must be.
pub(super) fn write_name(out: &mut dyn Write, name: &[u8], space: Space) -> Result<()> {
    let escapes = name.iter().any(|b| escape(*b).is_some());
    let spaced = space == Space::Quoted && name.contains(&b' ');
    if !escapes && !spaced {
        return out.write_all(name);
    }
    let mut q = Vec::with_capacity(name.len() + 8);
    q.push(b'"');
    for &b in name {
        match escape(b) {
            None => q.push(b),
            Some(0) => {
                q.extend_from_slice(&[b'\\', b'0' + (b >> 6), b'0' + (b >> 3 & 7), b'0' + (b & 7)]);
            }
            Some(letter) => q.extend_from_slice(&[b'\\', letter]),
        }
    }
    q.push(b'"');
    out.write_all(&q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(name: &[u8], space: Space) -> String {
        let mut out = Vec::new();
        write_name(&mut out, name, space).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Expected strings are git 2.47's output for the same names (`git status --short` and
    /// `git ls-files`).
    #[test]
    fn quotes_as_git_does() {
        let cases: [(&[u8], &str); 9] = [
            (b"plain/name.txt", "plain/name.txt"),
            (b"a\nb", r#""a\nb""#),
            (b"b\\s", r#""b\\s""#),
            (b"bell\x07\x01\x1b\x7f", r#""bell\a\001\033\177""#),
            ("café".as_bytes(), r#""caf\303\251""#),
            (b"q\"t", r#""q\"t""#),
            (b"raw\xff", r#""raw\377""#),
            (b"tab\there", r#""tab\there""#),
            (b"\x08\x0b\x0c\r", r#""\b\v\f\r""#),
        ];
        for (name, want) in cases {
            assert_eq!(quoted(name, Space::Plain), want);
            assert_eq!(quoted(name, Space::Quoted), want);
        }
        assert_eq!(quoted(b"sp ace", Space::Plain), "sp ace");
        assert_eq!(quoted(b"sp ace", Space::Quoted), r#""sp ace""#);
    }
}
