//! The `cairn` binary: parse the command line, run one command, map the outcome to an exit
//! code. Everything else lives in the library and in `cli`.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

/// mimalloc: status and add of many small files allocate per path and per entry, and glibc's
/// malloc and free were a third of a no-op status's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let argv = std::env::args_os().collect();
    let args = cli::args::Cli::parse_from(cli::log::expand_count(argv, cli::args::Cli::command));
    cli::run(args)
}
