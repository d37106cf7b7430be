//! `LAYER:PATH` specs and byte ranges, as `cat` and `prove` take them from the user.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Splits `LAYER:PATH` at the first `:`; the path is repository-relative (a leading `/` or
/// `./` is dropped) and may be any bytes, the layer reference must be UTF-8.
pub(crate) fn split_spec(spec: &[u8]) -> Result<(&str, Vec<u8>)> {
    let invalid = |what: String| Error::BadArgument {
        what,
        path: spec_path(spec),
    };
    let Some(colon) = spec.iter().position(|b| *b == b':') else {
        return Err(invalid(format!(
            "{:?} is not LAYER:PATH (for example HEAD:data/a.csv)",
            String::from_utf8_lossy(spec)
        )));
    };
    let layer = std::str::from_utf8(&spec[..colon])
        .map_err(|_| invalid("the layer before `:` is not UTF-8, so it names no layer".into()))?;
    Ok((layer, crate::worktree::layer_path_bytes(&spec[colon + 1..])))
}

/// The spec as a path for messages, byte for byte.
pub(crate) fn spec_path(spec: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(spec))
}

/// Parses a range against a file of `size` bytes into `start..end` (end exclusive).
pub(crate) fn parse_range(range: &str, size: u64) -> std::result::Result<(u64, u64), String> {
    let bad = || format!("range {range:?} is not START-END, START- or -N");
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => {
            let n = num(b)?;
            if n == 0 || n > size {
                return Err(format!("range {range:?}: the file has {size} bytes"));
            }
            (size - n, size)
        }
        (false, true) => (num(a)?, size),
        (false, false) => {
            let (s, e) = (num(a)?, num(b)?);
            if e < s {
                return Err(format!("range {range:?} ends before it starts"));
            }
            (s, e.saturating_add(1))
        }
        (true, true) => return Err(bad()),
    };
    if start >= size || end > size {
        return Err(format!(
            "range {range:?} is past the end of the file ({size} bytes)"
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-9", 100), Ok((0, 10)));
        assert_eq!(parse_range("90-", 100), Ok((90, 100)));
        assert_eq!(parse_range("-10", 100), Ok((90, 100)));
        assert_eq!(parse_range("99-99", 100), Ok((99, 100)));
        assert!(parse_range("100-", 100).is_err());
        assert!(parse_range("0-100", 100).is_err());
        assert!(parse_range("-101", 100).is_err());
        assert!(parse_range("5-4", 100).is_err());
        assert!(parse_range("x", 100).is_err());
        assert!(parse_range("0-0", 0).is_err());
    }
}
