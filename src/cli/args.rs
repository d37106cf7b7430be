//! The command line, as clap types. They stop here: each command turns its arguments into
//! the library's options.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "A content-addressed, layered store for files and datasets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more (for add: every staged path).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Never draw progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Run as if cairn was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Seconds a writer waits for another writer's lock.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 5.0)]
    pub lock_timeout: f64,
    /// Worker threads (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HashArg {
    Blake3,
    Sha256,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a repository (.cairn/) in DIR or the current directory.
    Init {
        dir: Option<PathBuf>,
        /// The hash algorithm of every object id, fixed for the repository's life.
        #[arg(long, value_enum, default_value = "blake3")]
        hash: HashArg,
        /// Average chunk size (a power of two, 1K to 4M; suffixes K and M).
        #[arg(long, value_name = "AVG", value_parser = parse_size)]
        chunk_size: Option<u32>,
    },
    /// Stage files: store their content and record them in the staging index.
    Add {
        paths: Vec<PathBuf>,
        /// Stage every change in the worktree, deletions included.
        #[arg(short = 'A', long)]
        all: bool,
        /// Show what would be staged without reading or storing anything.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Add paths even when ignore files exclude them.
        #[arg(short, long)]
        force: bool,
    },
    /// Stop tracking paths, and delete them from the worktree unless --cached.
    Rm {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Keep the files in the worktree.
        #[arg(long)]
        cached: bool,
        /// Delete even files with changes that are not staged.
        #[arg(short, long)]
        force: bool,
        /// Remove directories and everything below them.
        #[arg(short)]
        r: bool,
    },
    /// Show staged, unstaged and untracked changes.
    Status {
        /// git's two-column format: `XY path`, `??` for untracked.
        #[arg(short, long)]
        short: bool,
    },
    /// Write the staged state as a new layer and print its id.
    Commit {
        #[arg(short, long)]
        message: String,
        #[arg(long)]
        author: Option<String>,
    },
    /// List layers, newest first.
    Log {
        /// Show at most N layers.
        #[arg(short = 'n', value_name = "N")]
        max: Option<usize>,
        /// One line per layer.
        #[arg(long)]
        oneline: bool,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

/// Parses `65536`, `64K`, `64KiB`, `1M`.
fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.trim_end_matches("IB").trim_end_matches('B');
    let (num, mult) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1024),
        Some('M') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t, 1),
    };
    num.parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size such as 65536, 64K or 1M"))
}
