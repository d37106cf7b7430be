//! The `cairn` binary: parse the command line, run one command, map the outcome to an exit
//! code. Everything else lives in the library and in `cli`.

mod cli;

use std::process::ExitCode;

use clap::FromArgMatches;

/// mimalloc: status and add of many small files allocate per path and per entry, and glibc's
/// malloc and free were a third of a no-op status's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cairn::purge_freed_memory_at_once();
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
