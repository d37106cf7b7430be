//! A cairn command's own peak memory.
//!
//! The kernel counts a child's peak from before its `exec`, while the child still shares or
//! copies the memory of the process that started it; with every test in one process that is
//! hundreds of MiB, whatever cairn itself uses. So cairn runs under GNU time, a process of
//! about a MiB, which reports the peak of its own child (`ru_maxrss` from `wait4`).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// Where GNU time is (not the shell's `time` keyword); `scripts/test.sh` installs it.
const GNU_TIME: &str = "/usr/bin/time";

/// How a measured command ended: its exit code (minus the signal number if a signal ended
/// it), its stderr and its peak resident memory in KiB.
pub(crate) struct Measured {
    pub code: i32,
    pub stderr: String,
    pub peak_kib: u64,
}

/// Runs `cairn args` in `dir` with `envs` added and `stdin`, stdout discarded, under GNU time.
pub(crate) fn run_measured(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Stdio,
) -> Measured {
    let report = tempfile::NamedTempFile::new().expect("a file for time's report");
    let out = Command::new(GNU_TIME)
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("run {GNU_TIME} (GNU time; scripts/test.sh installs it): {e}"));
    let report = fs::read_to_string(report.path()).expect("read time's report");
    // The figure is the last line; a line before it says how a failed command ended.
    let peak_kib = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak in time's report: {report:?}"));
    let signal = report
        .lines()
        .find_map(|l| l.strip_prefix("Command terminated by signal "))
        .map(|n| n.trim().parse::<i32>().expect("a signal number"));
    let code = match signal {
        Some(n) => -n,
        None => out.status.code().expect("time exits normally"),
    };
    Measured {
        code,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        peak_kib,
    }
}
