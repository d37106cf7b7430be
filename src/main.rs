//! The `cairn` binary: parse the command line, run one command, map the outcome to an exit
//! code. Everything else lives in the library and in `cli`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    cli::run(args)
}
