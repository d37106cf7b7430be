//! The wall clock as cairn records it: nanoseconds since the Unix epoch, as in layers and
//! in the index's stat data.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in nanoseconds since the epoch; 0 for a clock set before 1970, which stamps a
/// layer oddly but harms nothing.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
