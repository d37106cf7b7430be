//! The `cairn` binary: parse the command line, run one command, map the outcome to an exit
//! code. Everything else lives in the library and in `cli`.

mod cli;

use std::process::ExitCode;

use clap::FromArgMatches;

/// mimalloc: status and add of many small files allocate per path and per entry, and glibc's
/// malloc and free were a third of a no-op status's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc hands memory freed in large runs back to the system only a second later (its
/// version 3's default) and only when it next collects: a command that drops the staging
/// index (190 MB at a million files) and then maps the multi-pack index, or frees the
/// files of a walk before the index fills, kept both in its resident memory (a first commit
/// of a million files peaked at 340 MB instead of 270, a full add at 275 instead of 253).
/// Purging at once cost no measurable time there.
fn purge_freed_memory_at_once() {
    /// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same in its versions 2 and
    /// 3); the bindings crate does not name it.
    const PURGE_DELAY: std::ffi::c_int = 15;
    #[allow(unsafe_code, reason = "the allocator's own option call")]
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: sets an integer option of the linked allocator; reads no memory of ours.
    #[allow(unsafe_code, reason = "the allocator's own option call")]
    unsafe {
        mi_option_set(PURGE_DELAY, 0);
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv = cli::log::expand_count(argv, cli::help::command);
    let parsed = cli::help::command()
        .try_get_matches_from(argv)
        .and_then(|m| cli::args::Cli::from_arg_matches(&m));
    match parsed {
        Ok(args) => cli::run(args),
        Err(e) => cli::usage_error(&e),
    }
}
