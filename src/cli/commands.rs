//! One handler per command: turn clap arguments into library options, run the operation,
//! render the outcome.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use cairn::ops;
use cairn::HashAlgo;

use super::args::*;
use super::render;
use super::Ctx;

type Outcome = anyhow::Result<ExitCode>;

const OK: Outcome = Ok(ExitCode::SUCCESS);

pub(super) fn init(a: &InitArgs, ctx: &Ctx) -> Outcome {
    let dir = a.path.as_ref().map_or(ctx.cwd.clone(), |d| ctx.cwd.join(d));
    let hash = match a.hash {
        HashArg::Blake3 => HashAlgo::Blake3,
        HashArg::Sha256 => HashAlgo::Sha256,
    };
    let opts = ops::init::InitOptions {
        dir,
        hash,
        chunk_avg: a.chunk_size,
        separate: ctx.repo_dir.clone(),
    };
    ctx.printer
        .outcome(&ops::init::init(&opts)?, render::init)?;
    OK
}

pub(super) fn add(a: &AddArgs, ctx: &Ctx) -> Outcome {
    if a.stdin {
        return add_stdin(a, ctx);
    }
    if a.paths.is_empty() && !a.all && a.files_from.is_none() {
        return Err(cairn::Error::BadArgument {
            what: "nothing to add: name paths, or use -A for everything".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    }
    let mut paths = a.paths.clone();
    if let Some(list) = &a.files_from {
        paths.extend(files_from(list, a.null, ctx)?);
    }
    let repo = ctx.repo()?;
    let opts = ops::add::AddOptions {
        paths,
        all: a.all,
        dry_run: a.dry_run,
        force: a.force,
        ignore_errors: a.ignore_errors,
        exclude: a.exclude.clone(),
        // Only JSON and `-v` print the paths staged.
        counts_only: !ctx.printer.json && ctx.printer.verbose == 0,
    };
    let outcome = ops::add::add(&ctx.lock(&repo)?, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::add)?;
    OK
}

/// The names of `add --files-from LIST` (`-`: standard input).
fn files_from(
    list: &std::path::Path,
    nul: bool,
    ctx: &Ctx,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let names = if list.as_os_str() == "-" {
        cairn::pathspec::read_names(std::io::stdin().lock(), nul)
    } else {
        let path = ctx.cwd.join(list);
        std::fs::File::open(&path).and_then(|f| cairn::pathspec::read_names(f, nul))
    };
    names.map_err(|e| {
        cairn::Error::io("could not read the list of paths", ctx.cwd.join(list))(e).into()
    })
}

/// `add --stdin PATH`.
fn add_stdin(a: &AddArgs, ctx: &Ctx) -> Outcome {
    use std::io::IsTerminal;
    let [path] = a.paths.as_slice() else {
        return Err(cairn::Error::BadArgument {
            what: "add --stdin takes exactly one path: where to stage the content".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    };
    if std::io::stdin().is_terminal() {
        return Err(cairn::Error::BadArgument {
            what: "standard input is a terminal: pipe the content in, as in `cmd | cairn add --stdin PATH`".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    }
    let repo = ctx.repo()?;
    let opts = ops::add_stdin::AddStdinOptions {
        path: path.clone(),
        mode: 0o644,
    };
    let outcome = ops::add_stdin::add_stdin(
        &ctx.lock(&repo)?,
        &ctx.common,
        &opts,
        &mut std::io::stdin(),
        &ctx.bar(),
    )?;
    ctx.printer.outcome(&outcome, render::add_stdin)?;
    OK
}

pub(super) fn rm(a: &RmArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::rm::RmOptions {
        paths: a.paths.clone(),
        cached: a.cached,
        force: a.force,
        recursive: a.r,
    };
    ctx.printer.outcome(
        &ops::rm::rm(&ctx.lock(&repo)?, &ctx.common, &opts)?,
        render::rm,
    )?;
    OK
}

pub(super) fn mv(a: &MvArgs, ctx: &Ctx) -> Outcome {
    let (dest, sources) = a.paths.split_last().expect("clap asks for two paths");
    let repo = ctx.repo()?;
    let opts = ops::mv::MvOptions {
        sources: sources.to_vec(),
        destination: dest.clone(),
        force: a.force,
        dry_run: a.dry_run,
    };
    let outcome = ops::mv::mv(&ctx.lock(&repo)?, &ctx.common, &opts)?;
    ctx.printer.outcome(&outcome, render::mv)?;
    OK
}

pub(super) fn status(a: &StatusArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let (renames, stray) = rename_options(&a.renames)?;
    if let Some(word) = stray {
        anyhow::bail!("{word:?} is not a similarity such as 50% or 9 (90%)");
    }
    let outcome = ops::status::status_with(&repo, &renames)?;
    rename_note(outcome.rename_limit_exceeded, ctx);
    // Paths below the current directory are shown relative to it, as git does; -z stays
    // root-relative, as git's porcelain formats.
    let cwd = cairn::worktree::resolve(repo.root(), &ctx.common.cwd, std::path::Path::new("."))
        .unwrap_or_default();
    let outcome = render::StatusView {
        outcome: &outcome,
        cwd,
    };
    let r = if a.nul {
        render::status_short_z
    } else if a.short {
        render::status_short
    } else {
        render::status_long
    };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

pub(super) fn commit(a: &CommitArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::commit::CommitOptions {
        message: a.message.clone(),
        author: a.author.clone(),
        new_line: a.line.clone(),
        allow_empty: a.allow_empty,
        skip_if_unchanged: a.skip_if_unchanged,
    };
    let outcome = ops::commit::commit(&ctx.lock(&repo)?, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::commit)?;
    OK
}

pub(super) fn log(a: &LogArgs, ctx: &Ctx) -> Outcome {
    use super::log::{parse_format, LogStyle, LogView};
    const NONE: u8 = u8::MAX;
    let changes = Some(list_format(&a.changes, NONE)).filter(|f| *f != NONE);
    let (renames, stray) = rename_options(&a.renames)?;
    let start = match (stray, &a.layer) {
        (Some(word), None) => Some(word),
        (Some(word), Some(_)) => {
            anyhow::bail!("{word:?} is not a similarity such as 50% or 9 (90%)")
        }
        (None, l) => l.clone(),
    };
    let style = LogStyle {
        oneline: a.oneline,
        format: a
            .format
            .as_deref()
            .map(|f| parse_format(f, &ctx.cwd))
            .transpose()?,
        changes,
    };
    let now = cairn::date::now_ns();
    let when = |d: &Option<String>, flag: &str| {
        d.as_deref()
            .map(|d| cairn::date::parse_time(d, now))
            .transpose()
            .map_err(|what| cairn::Error::BadArgument {
                what: format!("{flag}: {what}"),
                path: ctx.cwd.clone(),
            })
    };
    let opts = ops::log::LogOptions {
        start,
        max: a.max,
        paths: a.paths.clone(),
        since_ns: when(&a.since, "--since")?,
        until_ns: when(&a.until, "--until")?,
        changes: changes.is_some(),
        renames,
        patch: patch_options(&a.changes),
    };
    let outcome = ops::log::log(&ctx.repo()?, &ctx.common, &opts)?;
    ctx.printer
        .outcome(&LogView { outcome, style }, render::log)?;
    OK
}

pub(super) fn show(a: &ShowArgs, ctx: &Ctx) -> Outcome {
    use super::changes::format as f;
    let (renames, stray) = rename_options(&a.renames)?;
    let layer = match (stray, a.layer.as_deref()) {
        (Some(word), None) => word,
        (Some(word), Some(_)) => {
            anyhow::bail!("{word:?} is not a similarity such as 50% or 9 (90%)")
        }
        (None, l) => l.unwrap_or("HEAD").to_string(),
    };
    let opts = ops::show::ShowOptions {
        renames,
        patch: patch_options(&a.format),
    };
    let outcome = ops::show::show_with(&ctx.repo()?, &layer, &opts)?;
    rename_note(outcome.rename_limit_exceeded, ctx);
    let r = match list_format(&a.format, f::NAME_STATUS) {
        f::NAME_ONLY => render::show_as::<{ f::NAME_ONLY }>,
        f::STAT => render::show_as::<{ f::STAT }>,
        f::PATCH => render::show_as::<{ f::PATCH }>,
        _ => render::show,
    };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

/// The rename options the flags ask for, and a layer that `-M` took as its value.
///
/// git reads `-M` with its value attached (`-M90%`), so `-M HEAD~1` is `-M` and a layer;
/// clap gives `-M` the next word when it may take one, so a word that is not a similarity
/// is handed back to be read as the layer it is.
fn rename_options(
    a: &RenameArgs,
) -> anyhow::Result<(cairn::renames::RenameOptions, Option<String>)> {
    let mut o = cairn::renames::RenameOptions {
        enabled: !a.no_renames,
        copies: a.find_copies,
        ..Default::default()
    };
    let mut layer = None;
    if let Some(t) = &a.find_renames {
        match parse_similarity(t) {
            Ok(n) => o.threshold = n,
            Err(_) if !t.starts_with('-') && t.parse::<f64>().is_err() => layer = Some(t.clone()),
            Err(e) => anyhow::bail!(e),
        }
    }
    if let Some(l) = a.rename_limit {
        o.limit = l;
    }
    Ok((o, layer))
}

/// Tells on stderr that renames by shared chunks were not looked for (as git warns).
fn rename_note(exceeded: bool, ctx: &Ctx) {
    if exceeded && !ctx.printer.json {
        eprintln!(
            "note: too many unpaired files to compare their chunks: only renames of unchanged \
             content are shown (raise --rename-limit)"
        );
    }
}

/// Patches when -p or -U asks for them.
fn patch_options(a: &ChangeFormat) -> Option<cairn::patch::PatchOptions> {
    (a.patch || a.unified.is_some()).then(|| {
        let d = cairn::patch::PatchOptions::default();
        cairn::patch::PatchOptions {
            context: a.unified.unwrap_or(d.context),
            max_bytes: a.max_patch_bytes.unwrap_or(d.max_bytes),
        }
    })
}

/// Which change-list rendering the flags pick (one of `changes::format`).
fn list_format(a: &ChangeFormat, default: u8) -> u8 {
    use super::changes::format as f;
    if a.stat {
        f::STAT
    } else if a.name_status {
        f::NAME_STATUS
    } else if a.name_only {
        f::NAME_ONLY
    } else if a.patch || a.unified.is_some() {
        f::PATCH
    } else {
        default
    }
}

pub(super) fn ls(a: &LsArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::ls::LsOptions {
        layer: a.layer.clone(),
        path: cairn::worktree::layer_path_bytes(a.path.as_deref().unwrap_or_default().as_bytes())
            .into(),
        recursive: a.recursive,
    };
    let outcome = ops::ls::ls(&ctx.repo()?, &opts)?;
    let r = if a.long { render::ls_long } else { render::ls };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

/// Raw bytes on stdout; with --json, one document carrying the bytes in base64 (bounded,
/// since a JSON document is held in memory).
pub(super) fn cat(a: &CatArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::cat::CatOptions {
        spec: a.spec.as_bytes().to_vec(),
        range: a.range.clone(),
    };
    if !ctx.printer.json {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        ops::cat::cat(&repo, &opts, &mut out)?;
        out.flush()?;
        return OK;
    }
    let mut buf = render::Capped::new(64 << 20);
    let outcome = ops::cat::cat(&repo, &opts, &mut buf)?;
    let doc = render::CatJson {
        outcome: &outcome,
        content_base64: render::base64(&buf.data),
    };
    ctx.printer.outcome(&doc, |_, _, _| Ok(()))?;
    OK
}

pub(super) fn diff(a: &DiffArgs, ctx: &Ctx) -> Outcome {
    use super::changes::format as f;
    let format = list_format(&a.format, f::SIZES);
    let (renames, stray) = rename_options(&a.renames)?;
    // A layer `-M` took comes before the ones clap saw.
    let (from, to) = match (stray, &a.from, &a.to) {
        (None, from, to) => (from.clone(), to.clone()),
        (Some(w), None, None) => (Some(w), None),
        (Some(w), Some(f), None) => (Some(w), Some(f.clone())),
        (Some(w), Some(_), Some(_)) => {
            anyhow::bail!("{w:?} is not a similarity such as 50% or 9 (90%)")
        }
        (Some(_), None, Some(_)) => unreachable!("clap fills FROM before TO"),
    };
    let opts = ops::diff::DiffOptions {
        from,
        to,
        cached: a.cached,
        paths: a.paths.clone(),
        renames,
        // Patches are made only when they are shown (or asked for with --json).
        patch: patch_options(&a.format).filter(|_| format == f::PATCH),
    };
    let outcome = ops::diff::diff(&ctx.repo()?, &ctx.common, &opts)?;
    rename_note(outcome.rename_limit_exceeded, ctx);
    let r = match format {
        f::STAT => render::diff_stat,
        f::NAME_STATUS => render::diff_name_status,
        f::NAME_ONLY => render::diff_as::<{ f::NAME_ONLY }>,
        f::PATCH => render::diff_as::<{ f::PATCH }>,
        _ => render::diff_default,
    };
    ctx.printer.outcome(&outcome, r)?;
    if a.exit_code && outcome.has_changes() {
        return Ok(ExitCode::from(super::exit::FOUND));
    }
    OK
}

pub(super) fn checkout(a: &CheckoutArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::checkout::CheckoutOptions {
        target: a.target.clone().unwrap_or_else(|| "HEAD".into()),
        paths: a.paths.clone(),
        force: a.force,
        new_line: a.new_line.clone(),
    };
    let outcome = ops::checkout::checkout(&ctx.lock(&repo)?, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::checkout)?;
    OK
}

pub(super) fn restore(a: &RestoreArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let paths = a
        .paths
        .iter()
        .map(|p| cairn::worktree::layer_path_bytes(p.as_bytes()))
        .collect();
    let opts = ops::restore::RestoreOptions {
        layer: a.layer.clone(),
        paths,
        to: ctx.cwd.join(&a.to),
        force: a.force,
    };
    let outcome = ops::restore::restore(&repo, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::restore)?;
    OK
}

pub(super) fn tag(a: &TagArgs, ctx: &Ctx) -> Outcome {
    use ops::tag::TagAction;
    let action = match (&a.name, a.delete, a.list) {
        (Some(name), true, _) => TagAction::Delete { name: name.clone() },
        (Some(name), false, false) => TagAction::Create {
            name: name.clone(),
            layer: a.layer.clone().unwrap_or_else(|| "HEAD".into()),
            force: a.force,
        },
        (None, true, _) => {
            return Err(cairn::Error::BadArgument {
                what: "-d needs the name of the tag to delete".into(),
                path: ctx.cwd.clone(),
            }
            .into())
        }
        _ => {
            let outcome = ops::tag::list(&ctx.repo()?)?;
            ctx.printer.outcome(&outcome, render::tag)?;
            return OK;
        }
    };
    let repo = ctx.repo()?;
    let outcome = ops::tag::tag(&ctx.lock(&repo)?, &action)?;
    ctx.printer.outcome(&outcome, render::tag)?;
    OK
}

/// Reading a setting that is not set exits 1 and prints nothing, as git's `config` does.
pub(super) fn config(a: &ConfigArgs, ctx: &Ctx) -> Outcome {
    use ops::config as c;
    // Outside a repository, reads see the user's settings only, as git's do.
    let repo = match ctx.repo() {
        Ok(r) if !a.global => Some(r),
        Err(cairn::Error::NotARepository { .. }) if !a.unset && a.value.is_none() => None,
        Err(e) if !a.global => return Err(e.into()),
        _ => None,
    };
    let key = a.key.as_deref().unwrap_or_default();
    let outcome = if a.list {
        c::list(repo.as_ref())?
    } else if a.unset || a.value.is_some() {
        let locked = repo.as_ref().map(|r| ctx.lock(r)).transpose()?;
        c::set(locked.as_ref(), key, a.value.as_deref())?
    } else {
        c::get(repo.as_ref(), key)?
    };
    ctx.printer.outcome(&outcome, render::config)?;
    let unset_read = !a.list && !a.unset && a.value.is_none() && outcome.value.is_none();
    Ok(if unset_read {
        ExitCode::from(super::exit::FOUND)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn line(a: &LineArgs, ctx: &Ctx) -> Outcome {
    use ops::line::LineAction;
    let need = |what: &str| -> anyhow::Error {
        cairn::Error::BadArgument {
            what: what.into(),
            path: ctx.cwd.clone(),
        }
        .into()
    };
    let action = if a.rename {
        match (&a.name, &a.layer) {
            (Some(new), None) => LineAction::Rename {
                old: None,
                new: new.clone(),
                force: a.force,
            },
            (Some(old), Some(new)) => LineAction::Rename {
                old: Some(old.clone()),
                new: new.clone(),
                force: a.force,
            },
            _ => {
                return Err(need(
                    "-m needs the new name (or the old name and the new one)",
                ))
            }
        }
    } else if a.delete || a.force_delete {
        match (&a.name, &a.layer) {
            (Some(name), None) => LineAction::Delete {
                name: name.clone(),
                force: a.force || a.force_delete,
            },
            (None, _) => return Err(need("-d needs the name of the line to delete")),
            (Some(_), Some(_)) => return Err(need("-d deletes one line at a time")),
        }
    } else {
        match &a.name {
            Some(name) if !a.list => LineAction::Create {
                name: name.clone(),
                layer: a.layer.clone().unwrap_or_else(|| "HEAD".into()),
                force: a.force,
            },
            _ => {
                let outcome = ops::line::list(&ctx.repo()?)?;
                ctx.printer.outcome(&outcome, render::line)?;
                return OK;
            }
        }
    };
    let repo = ctx.repo()?;
    let outcome = ops::line::line(&ctx.lock(&repo)?, &action)?;
    ctx.printer.outcome(&outcome, render::line)?;
    OK
}

/// Exit 1 when damage is found: an answer, not an error.
pub(super) fn verify(a: &VerifyArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::verify::VerifyOptions {
        data: a.data,
        layers: a.layers.clone(),
    };
    let outcome = match &a.remote {
        Some(name) => ops::remote::verify(&ctx.repo()?, name, a.data, &ctx.bar())?,
        None if a.repair => {
            ops::verify::verify_and_repair(&ctx.lock(&ctx.repo()?)?, &opts, &ctx.bar())?
        }
        None => ops::verify::verify(&ctx.repo()?, &opts, &ctx.bar())?,
    };
    ctx.printer.outcome(&outcome, render::verify)?;
    if outcome.is_clean() {
        OK
    } else {
        Ok(ExitCode::from(super::exit::FOUND))
    }
}

pub(super) fn reset(a: &ResetArgs, ctx: &Ctx) -> Outcome {
    use ops::reset::ResetMode;
    let mode = match (a.soft, a.hard) {
        (true, _) => ResetMode::Soft,
        (_, true) => ResetMode::Hard,
        _ => ResetMode::Mixed,
    };
    let opts = ops::reset::ResetOptions {
        target: a.target.clone(),
        mode,
        paths: a.paths.clone(),
    };
    let repo = ctx.repo()?;
    let outcome = ops::reset::reset(&ctx.lock(&repo)?, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::reset)?;
    OK
}

pub(super) fn reflog(a: &ReflogArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::reflog::ReflogOptions {
        reference: a.reference.clone(),
        limit: a.limit,
    };
    let outcome = ops::reflog::reflog(&ctx.repo()?, &opts)?;
    ctx.printer.outcome(&outcome, render::reflog)?;
    OK
}

pub(super) fn gc(a: &GcArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::gc::GcOptions {
        dry_run: a.dry_run,
        grace: a.prune.unwrap_or_default(),
    };
    let repo = ctx.repo()?;
    let outcome = ops::gc::gc(&ctx.lock(&repo)?, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::gc)?;
    OK
}

pub(super) fn forget(a: &ForgetArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::forget::ForgetOptions {
        policy: cairn::retention::Policy {
            last: a.keep_last,
            hourly: a.keep_hourly,
            daily: a.keep_daily,
            weekly: a.keep_weekly,
            monthly: a.keep_monthly,
            yearly: a.keep_yearly,
            tagged: a.keep_tag,
        },
        line: a.line.clone(),
        dry_run: a.dry_run,
    };
    let repo = ctx.repo()?;
    let outcome = ops::forget::forget(&ctx.lock(&repo)?, &opts)?;
    ctx.printer.outcome(&outcome, render::forget)?;
    OK
}

pub(super) fn stats(ctx: &Ctx) -> Outcome {
    let outcome = ops::stats::stats(&ctx.repo()?)?;
    ctx.printer.outcome(&outcome, render::stats)?;
    OK
}

/// The proof is a JSON document whether or not --json is given.
pub(super) fn prove(a: &ProveArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::prove::ProveOptions {
        spec: a.spec.as_bytes().to_vec(),
        range: a.range.clone(),
        content: a.content,
    };
    let proof = ops::prove::prove(&ctx.repo()?, &opts)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(proof.to_json().as_bytes())?;
    out.flush()?;
    OK
}

/// Needs no repository. A proof that does not verify exits 1 with an `error:` line.
pub(super) fn verify_proof(a: &VerifyProofArgs, ctx: &Ctx) -> Outcome {
    let proof = if a.file.as_os_str() == "-" {
        a.file.clone()
    } else {
        ctx.cwd.join(&a.file)
    };
    let opts = ops::verify_proof::VerifyProofOptions {
        proof,
        root: a.root.clone(),
        output: a.output.as_ref().map(|o| ctx.cwd.join(o)),
    };
    let outcome = ops::verify_proof::verify_proof(&opts)?;
    ctx.printer.outcome(&outcome, render::verify_proof)?;
    match &outcome.error {
        None => OK,
        Some(why) => {
            eprintln!("error: proof does not verify: {why}");
            eprintln!("hint: the proof was changed, or is for another layer than --root");
            Ok(ExitCode::from(super::exit::FOUND))
        }
    }
}

pub(super) fn remote(a: &RemoteArgs, ctx: &Ctx) -> Outcome {
    use ops::remote::RemoteAction;
    let action = match &a.action {
        None | Some(RemoteCommand::List) => {
            let outcome = ops::remote::list(&ctx.repo()?)?;
            ctx.printer.outcome(&outcome, render::remote)?;
            return OK;
        }
        Some(RemoteCommand::Add {
            name,
            url,
            endpoint,
            region,
        }) => RemoteAction::Add {
            name: name.clone(),
            url: url.clone(),
            endpoint: endpoint.clone(),
            region: region.clone(),
        },
        Some(RemoteCommand::Remove { name }) => RemoteAction::Remove { name: name.clone() },
    };
    let repo = ctx.repo()?;
    let outcome = ops::remote::remote(&ctx.lock(&repo)?, &action)?;
    ctx.printer.outcome(&outcome, render::remote)?;
    OK
}

pub(super) fn push(a: &PushArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::push::PushOptions {
        remote: a.remote.clone(),
        target: a.target.clone(),
        force: a.force,
    };
    let many = match (a.tags, a.all) {
        (true, _) => ops::push::Many::Tags,
        (_, true) => ops::push::Many::All,
        _ => {
            let outcome = ops::push::push(&ctx.repo()?, &opts, &ctx.bar())?;
            ctx.printer.outcome(&outcome, render::push)?;
            return OK;
        }
    };
    let outcome = ops::push::push_many(&ctx.repo()?, &opts, many, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::push_many)?;
    // Refused references are reported in the document; the exit code tells a script.
    match outcome.refused {
        0 => OK,
        _ => Ok(ExitCode::from(1)),
    }
}

pub(super) fn pull(a: &PullArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::pull::PullOptions {
        remote: a.remote.clone(),
        line: a.line.clone(),
    };
    let repo = ctx.repo()?;
    let outcome = ops::pull::pull(&ctx.lock(&repo)?, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::pull)?;
    OK
}

pub(super) fn clone(a: &CloneArgs, ctx: &Ctx) -> Outcome {
    // Named `directory`: `dir` is the global -C option's id.
    let dir = match &a.directory {
        Some(d) => ctx.cwd.join(d),
        None => match ops::clone::default_dir(&a.url) {
            Some(d) => ctx.cwd.join(d),
            None => {
                return Err(cairn::Error::BadArgument {
                    what: format!("cannot name a directory after {:?}: give one", a.url),
                    path: ctx.cwd.clone(),
                }
                .into())
            }
        },
    };
    let opts = ops::clone::CloneOptions {
        url: a.url.clone(),
        dir,
        endpoint: a.endpoint.clone(),
        region: a.region.clone(),
        layer: a.layer.clone(),
        paths: a.paths.clone(),
    };
    let outcome = ops::clone::clone(&opts, &ctx.common, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::clone)?;
    OK
}

pub(super) fn export(a: &ExportArgs, ctx: &Ctx) -> Outcome {
    use std::io::IsTerminal;
    let output = a
        .output
        .as_ref()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| ctx.cwd.join(p));
    if output.is_none() && ctx.printer.json {
        return Err(cairn::Error::BadArgument {
            what: "--json needs -o FILE: the tar stream goes to standard output".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    }
    if output.is_none() && std::io::stdout().is_terminal() {
        return Err(cairn::Error::BadArgument {
            what: "refusing to write a tar stream to a terminal: give -o FILE or redirect".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    }
    let by_name = output
        .as_ref()
        .is_some_and(|p| p.extension().is_some_and(|e| e == "zst" || e == "tzst"));
    let opts = ops::export::ExportOptions {
        layer: a.layer.clone(),
        paths: a
            .paths
            .iter()
            .map(|p| cairn::worktree::layer_path_bytes(p.as_bytes()))
            .collect(),
        zstd: a.zstd.or(by_name.then_some(3)),
        output,
    };
    let stdout = std::io::stdout();
    let outcome = ops::export::export(&ctx.repo()?, &opts, &mut stdout.lock(), &ctx.bar())?;
    if opts.output.is_some() {
        ctx.printer.outcome(&outcome, render::export)?;
    }
    OK
}

pub(super) fn import(a: &ImportArgs, ctx: &Ctx) -> Outcome {
    use std::io::IsTerminal;
    let file = a.input.as_ref().filter(|p| p.as_os_str() != "-");
    if file.is_none() && std::io::stdin().is_terminal() {
        return Err(cairn::Error::BadArgument {
            what: "standard input is a terminal: name a tar file, or pipe one in".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    }
    let repo = ctx.repo()?;
    let opts = ops::import::ImportOptions {
        prefix: a.prefix.clone(),
    };
    let (mut input, name): (Box<dyn std::io::Read>, std::path::PathBuf) = match file {
        Some(p) => {
            let path = ctx.cwd.join(p);
            let f = std::fs::File::open(&path)
                .map_err(|e| cairn::Error::io("could not open file", &path)(e))?;
            (Box::new(f), path)
        }
        None => (Box::new(std::io::stdin()), "<stdin>".into()),
    };
    let locked = ctx.lock(&repo)?;
    let outcome = ops::import::import(&locked, &ctx.common, &opts, &mut input, &name, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::import)?;
    OK
}

/// Set in the environment of the process `mount --daemon` starts: it writes its outcome as
/// one JSON line on stdout once mounted, which the starting process waits for.
const MOUNT_READY_ENV: &str = "CAIRN_MOUNT_READY";

pub(super) fn mount(a: &MountArgs, ctx: &Ctx) -> Outcome {
    if a.daemon {
        return mount_daemon(ctx);
    }
    let repo = ctx.repo()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    let opts = ops::mount::MountOptions {
        dir: ctx.cwd.join(&a.dir),
        layer: a.layer.clone(),
        cache_size: a.cache_size,
        threads,
        lock_timeout: ctx.common.lock_timeout,
    };
    let log: cairn::mount::Log = std::sync::Arc::new(|m: &str| {
        let _ = writeln!(std::io::stderr(), "error: {m}");
    });
    let (mounted, outcome) = ops::mount::mount(repo, &opts, log)?;
    if std::env::var_os(MOUNT_READY_ENV).is_some() {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &outcome)?;
        writeln!(out)?;
        out.flush()?;
    } else if !ctx.printer.is_quiet() && !ctx.printer.json {
        let dir = outcome.dir.display();
        let _ = writeln!(
            std::io::stderr(),
            "mounted on {dir}; Ctrl-C or `cairn umount {dir}` unmounts"
        );
    }
    let outcome = ops::mount::serve(mounted, outcome)?;
    ctx.printer.outcome(&outcome, |o, out, _| {
        writeln!(out, "unmounted {} ({})", o.dir.display(), o.ended)
    })?;
    OK
}

/// Starts this same command without `--daemon` in a process group of its own (a Ctrl-C
/// in this terminal does not reach it) and returns once it has mounted, or fails with it.
fn mount_daemon(ctx: &Ctx) -> Outcome {
    use std::io::BufRead;
    use std::io::IsTerminal;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let args = std::env::args_os().skip(1).filter(|x| x != "--daemon");
    // On a terminal the daemon keeps saying what fails (a damaged chunk) there; otherwise
    // its stderr is a pipe read until it is mounted, so that whoever captures ours (a
    // script, a test) is not held open by the daemon for as long as it serves.
    let on_terminal = std::io::stderr().is_terminal();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .env(MOUNT_READY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if on_terminal {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .process_group(0)
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut line)?;
    }
    let Ok(mut outcome) = serde_json::from_str::<ops::mount::MountOutcome>(&line) else {
        // It failed before mounting and said why on its stderr: pass that on.
        if let Some(mut err) = child.stderr.take() {
            std::io::copy(&mut err, &mut std::io::stderr())?;
        }
        let status = child.wait()?;
        return Ok(ExitCode::from(status.code().map_or(2, |c| c as u8)));
    };
    outcome.ended = "running".into();
    ctx.printer.outcome(&outcome, |o, out, _| {
        let dir = o.dir.display();
        writeln!(
            out,
            "mounted on {dir} (pid {}); `cairn umount {dir}` unmounts",
            o.pid
        )
    })?;
    OK
}

pub(super) fn umount(a: &UmountArgs, ctx: &Ctx) -> Outcome {
    let outcome = ops::mount::umount(&ctx.cwd.join(&a.dir))?;
    ctx.printer.outcome(&outcome, |o, out, _| {
        writeln!(out, "unmounted {}", o.dir.display())
    })?;
    OK
}

pub(super) fn watch(a: &WatchArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let outcome = match a.action {
        WatchCommand::Start => return watch_start(&repo, ctx),
        WatchCommand::Run => return watch_run(&repo),
        WatchCommand::Stop => ops::watch::stop(&repo)?,
        WatchCommand::Status => ops::watch::status(&repo)?,
    };
    ctx.printer.outcome(&outcome, render::watch)?;
    OK
}

/// Starts `cairn watch run` in its own process group, and waits for its first line: the
/// outcome once it is ready, or nothing when it failed (its error is on its stderr, passed
/// on, with its exit code).
fn watch_start(repo: &cairn::Repository, ctx: &Ctx) -> Outcome {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let now = ops::watch::status(repo)?;
    if now.running {
        let outcome = ops::watch::WatchOutcome {
            action: "already-running".into(),
            ..now
        };
        ctx.printer.outcome(&outcome, render::watch)?;
        return OK;
    }
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--repo")
        .arg(repo.dir())
        .arg("--work-tree")
        .arg(repo.root())
        .args(["watch", "run"])
        .current_dir(repo.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut line)?;
    }
    let Ok(outcome) = serde_json::from_str::<ops::watch::WatchOutcome>(&line) else {
        if let Some(mut err) = child.stderr.take() {
            std::io::copy(&mut err, &mut std::io::stderr())?;
        }
        let status = child.wait()?;
        return Ok(ExitCode::from(status.code().map_or(2, |c| c as u8)));
    };
    ctx.printer.outcome(&outcome, render::watch)?;
    OK
}

/// The monitor itself: its one line on stdout says it is ready; it ends silently.
fn watch_run(repo: &cairn::Repository) -> Outcome {
    ops::watch::run(repo, |o| {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, o);
        let _ = writeln!(out);
        let _ = out.flush();
    })?;
    OK
}
