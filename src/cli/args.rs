//! The command line, as clap types. They stop here: each command turns its arguments into
//! the library's options.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// The longest `--lock-timeout`: a day. Longer waits are a mistake, and the bound keeps the
/// deadline arithmetic far from overflow.
pub(crate) const MAX_LOCK_TIMEOUT_SECS: f64 = 86_400.0;
/// The most `--threads`: far more than any machine's cores, few enough to start.
pub(crate) const MAX_THREADS: i64 = 1024;

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "A content-addressed, layered store for files and datasets"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more (for add: every staged path).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Never draw progress bars (`--progress json` still writes its lines).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Progress on stderr: bars when it is a terminal (auto), never, or JSON lines for
    /// programs (json, see docs/JSON.md).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub progress: ProgressArg,
    /// Run as if cairn was started in DIR.
    #[arg(short = 'C', id = "chdir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The repository directory, kept apart from the data (for init: where to create it).
    /// The worktree is then --work-tree, or else the current directory.
    #[arg(long, global = true, value_name = "DIR", env = "CAIRN_DIR")]
    pub repo: Option<PathBuf>,
    /// The worktree of the --repo repository.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "CAIRN_WORK_TREE",
        requires = "repo"
    )]
    pub work_tree: Option<PathBuf>,
    /// Seconds a writer waits for another writer's lock (0 to 86400, fractions allowed).
    #[arg(long, global = true, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub lock_timeout: Duration,
    /// Worker threads, 1 to 1024 (default: one per core; `add` reads files on 16, or one per
    /// core when there are more).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS))]
    pub threads: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressArg {
    /// Bars when stderr is a terminal and neither --json nor -q is given.
    Auto,
    /// No progress at all.
    Never,
    /// One JSON object per line on stderr: begin, progress (at most 4 a second), end.
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum HashArg {
    Blake3,
    Sha256,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a repository (.cairn/) in DIR or the current directory.
    Init(InitArgs),
    /// Stage files: store their content and record them in the staging index.
    Add(AddArgs),
    /// Stop tracking paths, and delete them from the worktree unless --cached.
    Rm(RmArgs),
    /// Move or rename tracked files and directories, in the worktree and the index.
    Mv(MvArgs),
    /// Show staged, unstaged and untracked changes.
    Status(StatusArgs),
    /// Write the staged state as a new layer and print its id.
    Commit(CommitArgs),
    /// List layers, newest first.
    Log(LogArgs),
    /// Show a layer: its metadata and the paths it changed.
    Show(ShowArgs),
    /// List the tree of a layer.
    Ls(LsArgs),
    /// Print a file of a layer, or a byte range of it.
    Cat(CatArgs),
    /// Compare the index, the worktree and layers.
    Diff(DiffArgs),
    /// Move the worktree and the index to a layer, or bring paths back from one.
    Checkout(CheckoutArgs),
    /// Materialise a layer, or some of its paths, into another directory.
    Restore(RestoreArgs),
    /// Create, delete or list tags.
    Tag(TagArgs),
    /// Read or set the author's name and email (user.name, user.email).
    Config(ConfigArgs),
    /// List, create, delete or rename lines (git's branches).
    #[command(visible_alias = "branch")]
    Line(LineArgs),
    /// Check the repository: structure, and with --data every stored byte.
    Verify(VerifyArgs),
    /// Move the current line to a layer (the index follows; --hard: the worktree too), or
    /// unstage paths.
    Reset(ResetArgs),
    /// Remove what no layer, tag, line, the staging index or recent reflog entry references.
    Gc(GcArgs),
    /// Drop layers from a line by a keep policy (restic's forget); `gc` then reclaims them.
    Forget(ForgetArgs),
    /// Where HEAD or a line has been: each move, newest first, as `HEAD@{N}`.
    Reflog(ReflogArgs),
    /// Layers, files, bytes, dedup and compression ratios, chunk sizes.
    Stats,
    /// Print a shell completion script.
    Completions {
        /// The shell to write the script for.
        shell: clap_complete::Shell,
    },
    /// Write a proof that a path (and optionally some bytes) is in a layer, as JSON.
    Prove(ProveArgs),
    /// Check a proof written by `cairn prove`; needs no repository.
    VerifyProof(VerifyProofArgs),
    /// Add, list or remove remotes (S3 buckets or directories to push to and pull from).
    Remote(RemoteArgs),
    /// Upload a line or tag to a remote: the packs it lacks, then the reference.
    Push(PushArgs),
    /// Fetch a line's new layers from a remote and move the line and worktree forward.
    Pull(PullArgs),
    /// Copy a repository from a remote (s3://bucket/prefix, file:///path) into a new directory.
    Clone(CloneArgs),
    /// Write a layer, or some of its paths, as a tar stream (optionally zstd-compressed).
    Export(ExportArgs),
    /// Stage the members of a tar stream (plain, gzip or zstd) without writing the worktree.
    Import(ImportArgs),
    /// Show the layers as a read-only file system (FUSE) until unmounted or signalled.
    Mount(MountArgs),
    /// Unmount a `cairn mount`.
    Umount(UmountArgs),
    /// Start, stop or ask the file-system monitor (inotify), with which status and add
    /// check only the files that changed.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(subcommand)]
    pub action: WatchCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WatchCommand {
    /// Start a monitor of this worktree in the background; returns once it watches every
    /// directory.
    Start,
    /// Stop the monitor of this worktree.
    Stop,
    /// Say whether a monitor runs for this worktree.
    Status,
    /// Be the monitor, in the foreground (what `start` runs).
    #[command(hide = true)]
    Run,
}

#[derive(Debug, Args)]
pub(crate) struct MountArgs {
    /// The directory to mount on (it must exist).
    pub dir: PathBuf,
    /// Show this layer (any name `cat` takes: HEAD~2, v1, an id) at the root, instead of
    /// lines/, tags/, layers/ and HEAD.
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
    /// Bytes of verified chunks and directories kept in memory (K, M, G suffixes); the
    /// process takes this plus a fixed baseline.
    #[arg(long, value_name = "SIZE", value_parser = parse_size64, default_value = "256M")]
    pub cache_size: u64,
    /// Return once mounted and serve in the background; `cairn umount DIR` ends it.
    #[arg(long)]
    pub daemon: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UmountArgs {
    /// The directory a `cairn mount` is mounted on.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to create the repository (default: the current directory).
    #[arg(value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The hash algorithm of every object id, fixed for the repository's life.
    #[arg(long, value_enum, default_value = "blake3")]
    pub hash: HashArg,
    /// Average chunk size (a power of two, 1K to 4M; suffixes K and M).
    #[arg(long, value_name = "AVG", value_parser = parse_size)]
    pub chunk_size: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Files and directories to stage, relative to the current directory.
    pub paths: Vec<PathBuf>,
    /// Stage every change in the worktree, deletions included.
    #[arg(short = 'A', long)]
    pub all: bool,
    /// Show what would be staged without reading or storing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Add paths even when ignore files exclude them.
    #[arg(short, long)]
    pub force: bool,
    /// Skip (and report) files and directories that cannot be read, instead of failing.
    #[arg(long)]
    pub ignore_errors: bool,
    /// Stage standard input as the content of the one PATH given (the worktree is not
    /// written), e.g. `pg_dump db | cairn add --stdin db.sql`.
    #[arg(long, conflicts_with_all = ["all", "dry_run", "force", "ignore_errors"])]
    pub stdin: bool,
    /// Also stage the paths listed in FILE (`-`: standard input), one per line, relative to
    /// the current directory; each must exist or be tracked.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["all", "stdin"])]
    pub files_from: Option<PathBuf>,
    /// With --files-from: names are separated by NUL bytes, not newlines (as `find -print0`
    /// writes them).
    #[arg(short = '0', long = "null", requires = "files_from")]
    pub null: bool,
    /// Leave out paths matching PATTERN (gitignore syntax, repeatable), on top of the ignore
    /// files: not read, added or deleted, even when named or tracked.
    #[arg(long, value_name = "PATTERN", conflicts_with = "stdin")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Tracked paths to remove, relative to the current directory.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Keep the files in the worktree.
    #[arg(long)]
    pub cached: bool,
    /// Delete even files with changes that are not staged.
    #[arg(short, long)]
    pub force: bool,
    /// Remove directories and everything below them.
    #[arg(short)]
    pub r: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MvArgs {
    /// The tracked files or directories to move, then the new name or an existing
    /// directory to move them into.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Replace a file at the destination (never a directory).
    #[arg(short, long)]
    pub force: bool,
    /// Show what would move without moving anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// git's two-column format: `XY path`, `??` for untracked.
    #[arg(short, long)]
    pub short: bool,
    /// The short format with each entry ended by NUL and names unquoted, as git's -z.
    #[arg(short = 'z')]
    pub nul: bool,
    #[command(flatten)]
    pub renames: RenameArgs,
}

/// Rename and copy detection, as git's flags.
#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// Find renames of files that share at least N of their content (git's -M: `90%`, or
    /// digits read as a fraction, so 5 is 50%); the default is 50%.
    #[arg(short = 'M', long = "find-renames", value_name = "N", num_args = 0..=1,
          default_missing_value = "50%")]
    pub find_renames: Option<String>,
    /// Do not look for renames.
    #[arg(long, conflicts_with = "find_renames")]
    pub no_renames: bool,
    /// Also find copies: new files whose content came from a modified file.
    #[arg(long, conflicts_with = "no_renames")]
    pub find_copies: bool,
    /// Compare by shared chunks only when at most N files are unpaired on each side.
    #[arg(long, value_name = "N")]
    pub rename_limit: Option<usize>,
}

/// Parses a similarity as git does: `90%` is 90 percent; bare digits are a fraction, so
/// `5` is 50% and `05` is 5%.
pub(crate) fn parse_similarity(s: &str) -> Result<u8, String> {
    let bad = || format!("{s:?} is not a similarity such as 50% or 9 (90%)");
    if let Some(p) = s.strip_suffix('%') {
        return p.parse::<u8>().ok().filter(|n| *n <= 100).ok_or_else(bad);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let digits: String = s.chars().chain("00".chars()).take(2).collect();
    digits.parse::<u8>().map_err(|_| bad())
}

#[derive(Debug, Args)]
pub(crate) struct CommitArgs {
    /// The layer's message: its first line is the subject `log --oneline` shows.
    #[arg(short, long)]
    pub message: String,
    /// Record this author ("Name <email>") instead of the one the environment and
    /// settings give: CAIRN_AUTHOR, else the name from CAIRN_AUTHOR_NAME, user.name
    /// (repository, then user level) or USER, and the email from CAIRN_AUTHOR_EMAIL or
    /// user.email (see `cairn config`).
    #[arg(long, value_parser = parse_author, value_name = "AUTHOR")]
    pub author: Option<String>,
    /// Start a new line NAME at the new layer (required when HEAD is detached).
    #[arg(short = 'b', value_name = "NAME")]
    pub line: Option<String>,
    /// Write a layer even when nothing changed since HEAD (its tree is HEAD's).
    #[arg(long)]
    pub allow_empty: bool,
    /// When nothing changed since HEAD, write nothing and exit 0 (for jobs that commit
    /// only when something changed); without it, nothing to commit exits 3.
    #[arg(long, conflicts_with_all = ["allow_empty", "line"])]
    pub skip_if_unchanged: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The layer to start from (default HEAD): id, prefix, HEAD~N, tag or line.
    pub layer: Option<String>,
    /// Show at most N layers (also -N: `log -3`).
    #[arg(short = 'n', value_name = "N")]
    pub max: Option<usize>,
    /// One line per layer: short id, references, first line of the message.
    #[arg(long)]
    pub oneline: bool,
    /// Only layers made at or after DATE: 2026-12-01, "2026-12-01 10:00",
    /// 2026-12-01T10:00:00Z, @SECONDS, "3 days ago", 2.weeks.ago, 1h, yesterday (UTC).
    #[arg(long, visible_alias = "after", value_name = "DATE")]
    pub since: Option<String>,
    /// Only layers made at or before DATE (same forms as --since).
    #[arg(long, visible_alias = "before", value_name = "DATE")]
    pub until: Option<String>,
    /// The changes printed after each layer (none unless one of these is given).
    #[command(flatten)]
    pub changes: ChangeFormat,
    #[command(flatten)]
    pub renames: RenameArgs,
    /// Print each layer as FORMAT says: %H id, %h short id, %s subject, %b body,
    /// %an author, %ad date, %aI ISO date, %at Unix seconds, %d references, %n newline, %%.
    #[arg(long, value_name = "FORMAT", conflicts_with = "oneline")]
    pub format: Option<String>,
    /// Only layers that changed these paths (a directory: anything below it).
    #[arg(last = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The layer to show (HEAD by default).
    pub layer: Option<String>,
    #[command(flatten)]
    pub format: ChangeFormat,
    #[command(flatten)]
    pub renames: RenameArgs,
}

/// How a list of changes is shown (diff and show).
#[derive(Debug, Args)]
pub(crate) struct ChangeFormat {
    /// Show a unified content diff of each file.
    #[arg(short = 'p', long = "patch")]
    pub patch: bool,
    /// Lines of context in patches (implies --patch); 3 by default.
    #[arg(short = 'U', long = "unified", value_name = "N")]
    pub unified: Option<u32>,
    /// Do not diff sides larger than SIZE (such as 64M); 16M by default.
    #[arg(long, value_name = "SIZE", value_parser = parse_size64)]
    pub max_patch_bytes: Option<u64>,
    /// One line per file with its sizes before and after, and a summary.
    #[arg(long, conflicts_with_all = ["name_status", "name_only"])]
    pub stat: bool,
    /// One line per file: status letter and path.
    #[arg(long, conflicts_with = "name_only")]
    pub name_status: bool,
    /// Only the paths of the changed files.
    #[arg(long)]
    pub name_only: bool,
}

/// Parses a size in bytes: `1048576`, `64K`, `16M`, `2G` (KiB, MiB, GiB).
fn parse_size64(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.trim_end_matches("IB").trim_end_matches('B');
    let (num, shift) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{s:?} is not a size such as 1048576, 64K, 16M or 2G"))
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The layer to list: an id or prefix, HEAD~N, a tag or a line.
    #[arg(default_value = "HEAD")]
    pub layer: String,
    /// A path in the layer, relative to the worktree root (any bytes a file name can hold).
    pub path: Option<OsString>,
    /// List every file below, recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Show kind, mode, size and id.
    #[arg(short)]
    pub long: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// LAYER:PATH, for example HEAD~2:data/a.csv (PATH relative to the worktree root).
    pub spec: OsString,
    /// Bytes START-END (inclusive), START- or -N (the last N).
    #[arg(long, allow_hyphen_values = true)]
    pub range: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// With no layer: index against worktree. One: that layer against the worktree (or,
    /// with --cached, against the index).
    pub from: Option<String>,
    /// A second layer: compare the two layers.
    pub to: Option<String>,
    /// Compare a layer (HEAD by default) with the index: what a commit would record.
    #[arg(long, visible_alias = "staged")]
    pub cached: bool,
    /// Exit with 1 when there are differences and 0 when there are none.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub format: ChangeFormat,
    #[command(flatten)]
    pub renames: RenameArgs,
    /// Only these paths.
    #[arg(last = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckoutArgs {
    /// A layer: id, prefix, HEAD~N, tag or line (a line name attaches HEAD to it). With -b
    /// the default is HEAD.
    #[arg(required_unless_present = "new_line")]
    pub target: Option<String>,
    /// Create the line NAME at the layer and check it out.
    #[arg(short = 'b', value_name = "NAME", conflicts_with = "paths")]
    pub new_line: Option<String>,
    /// Overwrite and delete local changes.
    #[arg(short, long)]
    pub force: bool,
    /// Only these paths, overwritten as the layer has them (naming them is consent, as in
    /// git); HEAD stays where it is.
    #[arg(last = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// The setting: user.name, user.email or gc.auto (packs merged past this many; 0: never).
    #[arg(required_unless_present = "list")]
    pub key: Option<String>,
    /// The value to set; without it, the setting is printed.
    #[arg(conflicts_with_all = ["unset", "list"])]
    pub value: Option<String>,
    /// Use the user's settings file ($XDG_CONFIG_HOME/cairn/config.toml, else
    /// ~/.config/cairn/config.toml) instead of the repository's (.cairn/settings.toml).
    #[arg(long)]
    pub global: bool,
    /// Remove the setting.
    #[arg(long, conflicts_with = "list")]
    pub unset: bool,
    /// List every setting, with the file it comes from.
    #[arg(short, long, conflicts_with = "key")]
    pub list: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LineArgs {
    /// The line to create (or to delete with -d, or to rename with -m).
    pub name: Option<String>,
    /// The layer to create the line at (default HEAD); with -m, the new name.
    pub layer: Option<String>,
    /// Delete the line; refused when no other line, tag or HEAD reaches its layers.
    #[arg(short, long, conflicts_with_all = ["rename", "force_delete"])]
    pub delete: bool,
    /// Delete the line even when its layers would be reached by nothing (-d --force).
    #[arg(short = 'D', conflicts_with = "rename")]
    pub force_delete: bool,
    /// Rename a line: `-m NEW` renames the current line, `-m OLD NEW` another one.
    #[arg(short = 'm', long = "move")]
    pub rename: bool,
    /// Move an existing line when creating; replace one when renaming; delete unreached.
    #[arg(short, long)]
    pub force: bool,
    /// List the lines, the current one marked with `*` (the default without a name).
    #[arg(short, long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The layer to write out: an id or prefix, HEAD~N, a tag or a line.
    pub layer: String,
    /// Paths in the layer, relative to the worktree root (default: everything).
    pub paths: Vec<OsString>,
    /// The directory to write into.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Write into a directory that is not empty.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// The tag to create (or delete with -d).
    pub name: Option<String>,
    /// The layer to tag (default HEAD).
    pub layer: Option<String>,
    /// Delete the tag.
    #[arg(short, long)]
    pub delete: bool,
    /// List tags.
    #[arg(short, long)]
    pub list: bool,
    /// Move an existing tag.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Read and re-hash every stored object.
    #[arg(long)]
    pub data: bool,
    /// Only these layers (default: everything reachable from HEAD, lines and tags).
    pub layers: Vec<String>,
    /// Check the remote NAME instead of this repository (with --data, download everything).
    #[arg(long, value_name = "NAME", conflicts_with = "layers")]
    pub remote: Option<String>,
    /// First rebuild damaged pack indexes from their packs (takes the writers' lock).
    #[arg(long, conflicts_with = "remote")]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    /// The layer to move to: an id, a line, a tag, `HEAD~N`, `HEAD@{N}` [default: HEAD].
    pub target: Option<String>,
    /// Only set these paths' index entries to the layer's (unstage them); the line stays.
    #[arg(last = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Move only the line; the index and the worktree stay as they are.
    #[arg(long, conflicts_with_all = ["mixed", "hard"])]
    pub soft: bool,
    /// Move the line and set the index to the layer; the worktree stays (the default).
    #[arg(long, conflicts_with = "hard")]
    pub mixed: bool,
    /// Move the index and the worktree too, discarding local changes to tracked files.
    #[arg(long)]
    pub hard: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Report what would be removed without removing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Drop layers that only reflog entries older than this keep: `now` (drop all of
    /// them), `never`, or a duration such as `2.weeks`, `3d`, `1h` [default: 2.weeks].
    #[arg(long, value_name = "WHEN", value_parser = cairn::reflog::Grace::parse)]
    pub prune: Option<cairn::reflog::Grace>,
}

#[derive(Debug, Args)]
pub(crate) struct ForgetArgs {
    /// Keep the newest N layers (`unlimited`: all).
    #[arg(long, value_name = "N", value_parser = parse_keep, default_value = "0")]
    pub keep_last: u32,
    /// Keep the newest layer of each of the last N hours that have layers (UTC).
    #[arg(long, value_name = "N", value_parser = parse_keep, default_value = "0")]
    pub keep_hourly: u32,
    /// Keep the newest layer of each of the last N days that have layers (UTC).
    #[arg(long, value_name = "N", value_parser = parse_keep, default_value = "0")]
    pub keep_daily: u32,
    /// Keep the newest layer of each of the last N ISO weeks that have layers (UTC).
    #[arg(long, value_name = "N", value_parser = parse_keep, default_value = "0")]
    pub keep_weekly: u32,
    /// Keep the newest layer of each of the last N months that have layers (UTC).
    #[arg(long, value_name = "N", value_parser = parse_keep, default_value = "0")]
    pub keep_monthly: u32,
    /// Keep the newest layer of each of the last N years that have layers (UTC).
    #[arg(long, value_name = "N", value_parser = parse_keep, default_value = "0")]
    pub keep_yearly: u32,
    /// Keep every layer a tag names (without it, forgetting a tagged layer is refused).
    #[arg(long)]
    pub keep_tag: bool,
    /// The line to thin out [default: HEAD's line].
    #[arg(long, value_name = "NAME")]
    pub line: Option<String>,
    /// Show what would be kept and forgotten without changing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// Parses a keep count: a number, or `unlimited` (every bucket).
fn parse_keep(s: &str) -> Result<u32, String> {
    if s == "unlimited" {
        return Ok(u32::MAX);
    }
    s.parse::<u32>()
        .map_err(|_| format!("`{s}` is not a count: use a number or `unlimited`"))
}

#[derive(Debug, Args)]
pub(crate) struct ReflogArgs {
    /// The line whose moves to list, or HEAD [default: HEAD].
    pub reference: Option<String>,
    /// At most N entries, newest first.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub limit: Option<usize>,
}

/// Parses `--lock-timeout`: a finite number of seconds from 0 to a day. `Duration` panics on
/// negative, infinite or huge values, so they are refused here with a message.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds, such as 5 or 0.5"))?;
    if !secs.is_finite() {
        return Err(format!("{s:?} is not a finite number of seconds"));
    }
    if !(0.0..=MAX_LOCK_TIMEOUT_SECS).contains(&secs) {
        return Err(format!(
            "{s:?} is out of range: from 0 to {MAX_LOCK_TIMEOUT_SECS} seconds (a day)"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// Parses `--author`: one line of text, since `log` prints it as one (a newline in it could
/// forge the lines that follow).
fn parse_author(s: &str) -> Result<String, String> {
    if s.trim().is_empty() || s.chars().any(char::is_control) {
        return Err(format!(
            "{s:?} is not an author: give a name on one line, such as \"Ada <ada@example.org>\""
        ));
    }
    Ok(s.to_string())
}

/// Parses `--region`: an S3 region name such as `us-east-1` (letters, digits, `-`, `_`, `.`).
fn parse_region(s: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if s.is_empty() || !s.chars().all(ok) {
        return Err(format!("{s:?} is not a region name such as us-east-1"));
    }
    Ok(s.to_string())
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

#[derive(Debug, Args)]
pub(crate) struct ProveArgs {
    /// LAYER:PATH, for example HEAD:data/a.csv (PATH relative to the worktree root).
    pub spec: OsString,
    /// Carry bytes START-END (inclusive), START- or -N (the last N), as for `cat`.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "content")]
    pub range: Option<String>,
    /// Carry the whole content (at most 64 MiB of chunks).
    #[arg(long)]
    pub content: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyProofArgs {
    /// The proof file (`-` for standard input).
    pub file: PathBuf,
    /// Fail unless the proof is for this layer id (64 hex digits).
    #[arg(long, value_name = "LAYER_ID")]
    pub root: Option<String>,
    /// Write the proven bytes to this file.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RemoteArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<RemoteCommand>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RemoteCommand {
    /// Add a remote. Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    Add {
        /// The remote's name, as push, pull and `verify --remote` will know it.
        name: String,
        /// s3://bucket/prefix or file:///absolute/path
        url: String,
        /// The S3 endpoint, for services other than AWS (http:// allowed), e.g.
        /// http://127.0.0.1:3900. Default: AWS_ENDPOINT_URL, else AWS.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The S3 region. Default: AWS_REGION, else us-east-1.
        #[arg(long, value_parser = parse_region)]
        region: Option<String>,
    },
    /// List remotes (-v: with endpoints and regions).
    List,
    /// Forget a remote (nothing on the remote is touched).
    Remove {
        /// The remote to forget.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The remote (default: origin, or the only remote).
    pub remote: Option<String>,
    /// The line or tag to push (default: HEAD's line).
    pub target: Option<String>,
    /// Push every tag the remote lacks; a tag that names another layer there is refused
    /// and reported, never moved.
    #[arg(long, conflicts_with_all = ["target", "all"])]
    pub tags: bool,
    /// Push every line and every tag, with one upload; each reference's result is reported.
    #[arg(long, conflicts_with = "target")]
    pub all: bool,
    /// Move the remote's line even when its layer is not an ancestor of ours (after history
    /// was rewritten); only if nobody moved it since the push started. Tags never move.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The remote (default: origin, or the only remote).
    pub remote: Option<String>,
    /// The line to pull (default: HEAD's line).
    pub line: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CloneArgs {
    /// s3://bucket/prefix or file:///absolute/path
    pub url: String,
    /// The new worktree (default: the last part of the URL).
    #[arg(value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// The S3 endpoint (http:// allowed); it is remembered for the remote `origin`.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The S3 region; it is remembered for the remote `origin`.
    #[arg(long, value_parser = parse_region)]
    pub region: Option<String>,
    /// Fetch only what this layer needs and check it out (a line, tag or id on the remote).
    #[arg(long, value_name = "LAYER")]
    pub layer: Option<String>,
    /// Fetch and check out only these paths (relative to the worktree root); later pulls
    /// keep to them.
    #[arg(last = true)]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The layer to export: an id or prefix, HEAD~N, a tag or a line.
    pub layer: String,
    /// Paths in the layer, relative to the worktree root (default: everything).
    pub paths: Vec<OsString>,
    /// The file to write (`-` or none: standard output). A name ending in .zst or .tzst
    /// means --zstd.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Compress the stream with zstd, at LEVEL (1 to 19, default 3).
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "3",
          value_parser = clap::value_parser!(i32).range(1..=19))]
    pub zstd: Option<i32>,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The tar file (`-` or none: standard input).
    #[arg(value_name = "TARBALL")]
    pub input: Option<PathBuf>,
    /// Stage the members under this directory (relative to the current directory).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
}
