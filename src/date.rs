//! Times as people type them (`log --since`, `--until`) and as JSON documents print them.
//!
//! The accepted syntax is small on purpose, so that every form is documented and none is a
//! guess (docs/EVERYDAY.md, "History: log"):
//!
//! - a date or date and time: `2026-12-01`, `2026-12-01 10:00`, `2026-12-01T10:00:00`, in
//!   UTC (cairn prints every time in UTC), or with a zone: `2026-12-01T10:00:00Z`,
//!   `2026-12-01T10:00:00+02:00`;
//! - Unix seconds: `@1764583200`;
//! - relative to now: `now`, `today` (midnight UTC), `yesterday` (24 hours ago), and a span
//!   with an optional `ago`: `3 days ago`, `2.weeks.ago`, `1h`, `1h 30min`. Spans are
//!   `humantime`'s: seconds to years, a month being 30.44 days and a year 365.25.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat};

const NS_PER_SEC: i64 = 1_000_000_000;

/// The instant `text` names, in nanoseconds since the Unix epoch, with relative forms taken
/// back from `now_ns`. The error is a sentence naming the text and the accepted forms.
pub fn parse_time(text: &str, now_ns: i64) -> Result<i64, String> {
    let t = text.trim();
    absolute(t).or_else(|| relative(t, now_ns)).ok_or_else(|| {
        format!(
            "cannot read {text:?} as a time: use a date (2026-12-01, 2026-12-01 10:00, \
                 2026-12-01T10:00:00Z), @UNIX-SECONDS, or a span back from now \
                 (3 days ago, 2.weeks.ago, 1h, yesterday)"
        )
    })
}

/// Now, in nanoseconds since the Unix epoch, as layers record it.
pub fn now_ns() -> i64 {
    crate::clock::now_ns()
}

/// An instant as ISO 8601 in UTC to the second: `2026-12-06T12:00:00Z`.
pub fn iso8601(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A date, a date and time, or `@seconds`; `None` when `t` is none of those.
fn absolute(t: &str) -> Option<i64> {
    if let Some(secs) = t.strip_prefix('@') {
        return secs.parse::<i64>().ok()?.checked_mul(NS_PER_SEC);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return d.timestamp_nanos_opt();
    }
    // A space is accepted for the `T`, as people write it.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, fmt) {
            return d.and_utc().timestamp_nanos_opt();
        }
    }
    let rfc_with_space = t.replacen(' ', "T", 1);
    if let Ok(d) = DateTime::parse_from_rfc3339(&rfc_with_space) {
        return d.timestamp_nanos_opt();
    }
    let day = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
    day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()
}

/// `now`, `today`, `yesterday` or a span back from `now_ns`.
fn relative(t: &str, now_ns: i64) -> Option<i64> {
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "now" => return Some(now_ns),
        "yesterday" => return now_ns.checked_sub(24 * 3600 * NS_PER_SEC),
        "today" => return Some(now_ns - now_ns.rem_euclid(24 * 3600 * NS_PER_SEC)),
        _ => {}
    }
    let span = undot(&lower);
    let span = span.trim();
    let span = span.strip_suffix("ago").unwrap_or(span).trim_end();
    // humantime reads a bare number as an error, and "ago" alone as no span: both are refused.
    if span.is_empty() || !span.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let d = humantime::parse_duration(span).ok()?;
    let ns = i64::try_from(d.as_nanos()).ok()?;
    now_ns.checked_sub(ns)
}

/// git's `2.weeks.ago`: dots between words are spaces; a dot between two digits stays, so
/// `1.5h` is an hour and a half.
fn undot(s: &str) -> String {
    let b = s.as_bytes();
    s.char_indices()
        .map(|(i, c)| {
            let digits_around =
                i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if c == '.' && !digits_around {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06T12:00:00Z.
    const NOW: i64 = 1_796_558_400 * NS_PER_SEC;
    const HOUR: i64 = 3600 * NS_PER_SEC;
    const DAY: i64 = 24 * HOUR;

    fn at(s: &str) -> i64 {
        parse_time(s, NOW).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn now_is_the_instant_the_tests_assume() {
        assert_eq!(iso8601(NOW), "2026-12-06T12:00:00Z");
    }

    #[test]
    fn dates_and_times_are_utc_unless_they_name_a_zone() {
        let dec1 = at("2026-12-01");
        assert_eq!(iso8601(dec1), "2026-12-01T00:00:00Z");
        assert_eq!(at("2026-12-01 10:00"), dec1 + 10 * HOUR);
        assert_eq!(at("2026-12-01T10:00"), dec1 + 10 * HOUR);
        assert_eq!(
            at("2026-12-01 10:00:30"),
            dec1 + 10 * HOUR + 30 * NS_PER_SEC
        );
        assert_eq!(at("2026-12-01T10:00:00Z"), dec1 + 10 * HOUR);
        assert_eq!(at("2026-12-01T10:00:00+02:00"), dec1 + 8 * HOUR);
        assert_eq!(at("2026-12-01 10:00:00-01:00"), dec1 + 11 * HOUR);
        assert_eq!(at("  2026-12-01  "), dec1, "surrounding blanks are ignored");
        assert_eq!(at("@0"), 0);
        assert_eq!(at("@1796558400"), NOW);
    }

    #[test]
    fn spans_count_back_from_now() {
        assert_eq!(at("now"), NOW);
        assert_eq!(at("yesterday"), NOW - DAY);
        assert_eq!(at("Yesterday"), NOW - DAY);
        assert_eq!(at("today"), NOW - 12 * HOUR);
        assert_eq!(at("3 days ago"), NOW - 3 * DAY);
        assert_eq!(at("2.weeks.ago"), NOW - 14 * DAY);
        assert_eq!(at("2 weeks"), NOW - 14 * DAY);
        assert_eq!(at("1h"), NOW - HOUR);
        assert_eq!(at("1h 30min ago"), NOW - 90 * 60 * NS_PER_SEC);
        assert_eq!(at("1.5h"), NOW - 90 * 60 * NS_PER_SEC);
        assert_eq!(at("1 year ago"), NOW - 31_557_600 * NS_PER_SEC);
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        for bad in [
            "",
            "ago",
            "3",
            "-3 days",
            "soon",
            "2026-13-01",
            "2026-02-30",
            "2026-12-01 25:00",
            "3 fortnights ago",
            "@x",
            "@99999999999999999999",
            "1 day 2026",
        ] {
            let e = parse_time(bad, NOW).expect_err(bad);
            assert!(e.contains("3 days ago"), "{bad}: {e}");
        }
    }

    #[test]
    fn instants_beyond_the_nanosecond_range_are_refused_not_wrapped() {
        assert!(parse_time("@9300000000", NOW).is_err(), "year 2264");
        assert!(parse_time("3000-01-01", NOW).is_err());
        assert!(parse_time("400 years ago", NOW).is_err());
        assert!(parse_time("yesterday", i64::MIN + 1).is_err());
    }

    #[test]
    fn iso_times_are_to_the_second_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(NOW + 999_999_999), "2026-12-06T12:00:00Z");
        assert_eq!(iso8601(-NS_PER_SEC), "1969-12-31T23:59:59Z");
    }
}
