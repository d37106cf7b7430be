//! The command-line front: dispatch, output policy and exit codes.

pub(crate) mod args;
mod bar;
mod changes;
mod commands;
pub(crate) mod help;
pub(crate) mod log;
mod printer;
mod quote;
mod render;
#[cfg(test)]
mod schema;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cairn::session::Common;

use args::{Cli, Command};
use printer::Printer;

/// Every exit code cairn ends with, in one place (docs/JSON.md, "Exit codes").
pub(crate) mod exit {
    /// The command did what was asked.
    pub(crate) const OK: u8 = 0;
    /// An answer, not a failure: differences found (`diff --exit-code`), damage found
    /// (`verify`), a proof that does not verify, a setting that is not set.
    pub(crate) const FOUND: u8 = 1;
    /// The command failed, or its command line could not be parsed; nothing was changed.
    pub(crate) const ERROR: u8 = 2;
    /// `commit` had nothing to commit. Not 1, which git gives it, because 1 already means
    /// "found differences" here; not 2, so a nightly job can tell "no change" from
    /// "broken" without reading the output.
    pub(crate) const NOTHING_TO_COMMIT: u8 = 3;
}

/// Exit code 2: an error.
pub(crate) const EXIT_ERROR: u8 = exit::ERROR;

/// What every command handler gets.
pub(crate) struct Ctx {
    pub cwd: PathBuf,
    pub common: Common,
    pub printer: Printer,
    progress: bar::Mode,
    /// `--repo` and `--work-tree`, absolute.
    pub repo_dir: Option<PathBuf>,
    work_tree: Option<PathBuf>,
}

impl Ctx {
    pub(crate) fn bar(&self) -> bar::Bar {
        bar::Bar::new(self.progress)
    }

    /// The repository: `--repo` with `--work-tree` (or the current directory), else the
    /// one whose worktree holds the current directory.
    pub(crate) fn repo(&self) -> cairn::Result<cairn::Repository> {
        match &self.repo_dir {
            Some(dir) => {
                let root = self.work_tree.as_deref().unwrap_or(&self.cwd);
                cairn::Repository::open_at(dir, root)
            }
            None => cairn::Repository::discover(&self.cwd),
        }
    }

    /// Takes the writers' lock of `repo`, waiting up to --lock-timeout.
    pub(crate) fn lock<'r>(
        &self,
        repo: &'r cairn::Repository,
    ) -> cairn::Result<cairn::repo::Locked<'r>> {
        repo.lock(self.common.lock_timeout)
    }
}

pub(crate) fn run(cli: Cli) -> ExitCode {
    let g = &cli.global;
    let printer = || Printer::new(g.json, g.quiet, g.verbose);
    if let Err(e) = thread_pool(g.threads) {
        return report(e, &printer());
    }
    let ctx = match context(g, printer()) {
        Ok(ctx) => ctx,
        Err(e) => return report(e, &printer()),
    };
    match dispatch(&cli.command, &ctx) {
        Ok(code) => code,
        Err(e) => report(e, &ctx.printer),
    }
}

/// Sizes rayon's pool from `--threads`; starting the threads can fail (a process limit).
fn thread_pool(threads: Option<u16>) -> anyhow::Result<()> {
    let Some(n) = threads else { return Ok(()) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(usize::from(n))
        .build_global()
        .map_err(|e| anyhow::anyhow!("could not start {n} worker threads (--threads): {e}"))
}

fn context(g: &args::Global, printer: Printer) -> anyhow::Result<Ctx> {
    let cwd = match &g.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()?,
    };
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    let mut common = Common::new(&cwd);
    common.lock_timeout = g.lock_timeout;
    common.threads = g.threads.map(usize::from);
    // `--progress json` is asked for by a program and wins over `--no-progress`, which
    // only silences the bars.
    let progress = match g.progress {
        args::ProgressArg::Json => bar::Mode::Json,
        args::ProgressArg::Never => bar::Mode::Off,
        args::ProgressArg::Auto
            if !g.no_progress && !g.json && !g.quiet && std::io::stderr().is_terminal() =>
        {
            bar::Mode::Draw
        }
        args::ProgressArg::Auto => bar::Mode::Off,
    };
    let repo_dir = g.repo.as_ref().map(|d| cwd.join(d));
    let work_tree = g.work_tree.as_ref().map(|d| cwd.join(d));
    Ok(Ctx {
        repo_dir,
        work_tree,
        cwd,
        common,
        printer,
        progress,
    })
}

/// Ends on a command line clap could not parse. With `--json` among the arguments a
/// script also gets the error as a JSON document on stdout (kind `usage`), as for every
/// other error; help and version requests print as usual.
pub(crate) fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let info = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json && !info {
        let text = e.render().to_string();
        let message = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_string();
        printer::ErrorDocument::new(
            "usage",
            message,
            Some("run the command with --help for its arguments"),
            None,
            EXIT_ERROR,
        )
        .print();
        let _ = write!(std::io::stderr(), "{text}");
        return ExitCode::from(EXIT_ERROR);
    }
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_ERROR))
}

/// Prints an error and picks the exit code: a closed stdout (`cairn log | head`) is not an
/// error.
fn report(e: anyhow::Error, printer: &Printer) -> ExitCode {
    if e.chain().any(is_broken_pipe) {
        return ExitCode::from(exit::OK);
    }
    let code = printer::exit_code_of(&e);
    printer.error(&e, code);
    ExitCode::from(code)
}

/// True for a broken pipe, however it was wrapped: the library's `Error::Io` names it as
/// its source, but an `io::Error` made from another error hides that error from `source()`,
/// so it is unwrapped too.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::BrokenPipe
                || io.get_ref().is_some_and(|inner| is_broken_pipe(inner))
        })
    })
}

fn dispatch(command: &Command, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    use commands as c;
    match command {
        Command::Init(a) => c::init(a, ctx),
        Command::Add(a) => c::add(a, ctx),
        Command::Rm(a) => c::rm(a, ctx),
        Command::Mv(a) => c::mv(a, ctx),
        Command::Status(a) => c::status(a, ctx),
        Command::Commit(a) => c::commit(a, ctx),
        Command::Log(a) => c::log(a, ctx),
        Command::Show(a) => c::show(a, ctx),
        Command::Ls(a) => c::ls(a, ctx),
        Command::Cat(a) => c::cat(a, ctx),
        Command::Diff(a) => c::diff(a, ctx),
        Command::Checkout(a) => c::checkout(a, ctx),
        Command::Restore(a) => c::restore(a, ctx),
        Command::Tag(a) => c::tag(a, ctx),
        Command::Line(a) => c::line(a, ctx),
        Command::Config(a) => c::config(a, ctx),
        Command::Verify(a) => c::verify(a, ctx),
        Command::Reset(a) => c::reset(a, ctx),
        Command::Reflog(a) => c::reflog(a, ctx),
        Command::Gc(a) => c::gc(a, ctx),
        Command::Forget(a) => c::forget(a, ctx),
        Command::Stats => c::stats(ctx),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "cairn", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Prove(a) => c::prove(a, ctx),
        Command::VerifyProof(a) => c::verify_proof(a, ctx),
        Command::Remote(a) => c::remote(a, ctx),
        Command::Push(a) => c::push(a, ctx),
        Command::Pull(a) => c::pull(a, ctx),
        Command::Clone(a) => c::clone(a, ctx),
        Command::Export(a) => c::export(a, ctx),
        Command::Import(a) => c::import(a, ctx),
        Command::Mount(a) => c::mount(a, ctx),
        Command::Umount(a) => c::umount(a, ctx),
        Command::Watch(a) => c::watch(a, ctx),
    }
}
