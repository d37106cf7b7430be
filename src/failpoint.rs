//! Crash injection for tests: when `CAIRN_FAILPOINT` names a point the process reaches, the
//! process aborts there at once, as if killed, so tests can check what a crash at that
//! instant leaves behind.

/// Aborts the process when the environment names this fail point.
pub fn hit(name: &str) {
    if std::env::var_os("CAIRN_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}
