//! The command-line front: dispatch, output policy and exit codes.

pub mod args;
mod bar;
mod printer;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use cairn::ops::{self, Common};
use cairn::{HashAlgo, Repository};

use args::{Cli, Command, HashArg};
use printer::Printer;

/// Exit codes: 0 success, 1 "found damage" style answers, 2 errors.
pub const EXIT_ERROR: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    let printer = Printer::new(cli.global.json, cli.global.quiet, cli.global.verbose);
    if let Some(n) = cli.global.threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global();
    }
    match dispatch(&cli, &printer) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            printer.error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn dispatch(cli: &Cli, p: &Printer) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    let cwd = match &g.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()?,
    };
    let mut common = Common::new(&std::fs::canonicalize(&cwd).unwrap_or(cwd.clone()));
    common.lock_timeout = Duration::from_secs_f64(g.lock_timeout.max(0.0));
    let bar = || bar::Bar::new(show_progress(g));
    match &cli.command {
        Command::Init {
            dir,
            hash,
            chunk_size,
        } => {
            let dir = dir.as_ref().map_or(cwd.clone(), |d| cwd.join(d));
            let opts = ops::init::InitOptions {
                dir,
                hash: algo(*hash),
                chunk_avg: *chunk_size,
            };
            p.outcome(&ops::init::init(&opts)?, render::init)?;
        }
        Command::Add {
            paths,
            all,
            dry_run,
            force,
        } => {
            if paths.is_empty() && !all {
                return Err(cairn::Error::Invalid {
                    what: "nothing to add: name paths, or use -A for everything".into(),
                    path: cwd,
                }
                .into());
            }
            let repo = Repository::discover(&cwd)?;
            let opts = ops::add::AddOptions {
                paths: paths.clone(),
                all: *all,
                dry_run: *dry_run,
                force: *force,
            };
            p.outcome(&ops::add::add(&repo, &common, &opts, &bar())?, render::add)?;
        }
        Command::Rm {
            paths,
            cached,
            force,
            r,
        } => {
            let repo = Repository::discover(&cwd)?;
            let opts = ops::rm::RmOptions {
                paths: paths.clone(),
                cached: *cached,
                force: *force,
                recursive: *r,
            };
            p.outcome(&ops::rm::rm(&repo, &common, &opts)?, render::rm)?;
        }
        Command::Status { short } => {
            let repo = Repository::discover(&cwd)?;
            let outcome = ops::status::status(&repo)?;
            if *short {
                p.outcome(&outcome, render::status_short)?;
            } else {
                p.outcome(&outcome, render::status_long)?;
            }
        }
        Command::Commit { message, author } => {
            let repo = Repository::discover(&cwd)?;
            let opts = ops::commit::CommitOptions {
                message: message.clone(),
                author: author.clone(),
            };
            p.outcome(
                &ops::commit::commit(&repo, &common, &opts, &bar())?,
                render::commit,
            )?;
        }
        Command::Log { max, oneline } => {
            let repo = Repository::discover(&cwd)?;
            let outcome = ops::log::log(&repo, &ops::log::LogOptions { max: *max })?;
            if *oneline {
                p.outcome(&outcome, render::log_oneline)?;
            } else {
                p.outcome(&outcome, render::log_long)?;
            }
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "cairn", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn algo(h: HashArg) -> HashAlgo {
    match h {
        HashArg::Blake3 => HashAlgo::Blake3,
        HashArg::Sha256 => HashAlgo::Sha256,
    }
}

/// Bars only for people: stderr a terminal, and no --json, -q or --no-progress.
fn show_progress(g: &args::Global) -> bool {
    !g.json && !g.quiet && !g.no_progress && std::io::stderr().is_terminal()
}
