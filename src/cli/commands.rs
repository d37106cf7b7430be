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
    };
    ctx.printer
        .outcome(&ops::init::init(&opts)?, render::init)?;
    OK
}

pub(super) fn add(a: &AddArgs, ctx: &Ctx) -> Outcome {
    if a.paths.is_empty() && !a.all {
        return Err(cairn::Error::BadArgument {
            what: "nothing to add: name paths, or use -A for everything".into(),
            path: ctx.cwd.clone(),
        }
        .into());
    }
    let repo = ctx.repo()?;
    let opts = ops::add::AddOptions {
        paths: a.paths.clone(),
        all: a.all,
        dry_run: a.dry_run,
        force: a.force,
        ignore_errors: a.ignore_errors,
    };
    let outcome = ops::add::add(&ctx.lock(&repo)?, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::add)?;
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

pub(super) fn status(a: &StatusArgs, ctx: &Ctx) -> Outcome {
    let outcome = ops::status::status(&ctx.repo()?)?;
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
    };
    let outcome = ops::commit::commit(&ctx.lock(&repo)?, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::commit)?;
    OK
}

pub(super) fn log(a: &LogArgs, ctx: &Ctx) -> Outcome {
    use super::log::{parse_format, ChangeList, LogStyle, LogView};
    let changes = match (a.stat, a.name_status, a.name_only) {
        (true, _, _) => ChangeList::Stat,
        (_, true, _) => ChangeList::NameStatus,
        (_, _, true) => ChangeList::NameOnly,
        _ => ChangeList::None,
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
        start: a.layer.clone(),
        max: a.max,
        paths: a.paths.clone(),
        since_ns: when(&a.since, "--since")?,
        until_ns: when(&a.until, "--until")?,
        changes: changes != ChangeList::None,
    };
    let outcome = ops::log::log(&ctx.repo()?, &ctx.common, &opts)?;
    ctx.printer
        .outcome(&LogView { outcome, style }, render::log)?;
    OK
}

pub(super) fn show(a: &ShowArgs, ctx: &Ctx) -> Outcome {
    let outcome = ops::show::show(&ctx.repo()?, &a.layer)?;
    ctx.printer.outcome(&outcome, render::show)?;
    OK
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
    let opts = ops::diff::DiffOptions {
        from: a.from.clone(),
        to: a.to.clone(),
        paths: a.paths.clone(),
    };
    let outcome = ops::diff::diff(&ctx.repo()?, &ctx.common, &opts)?;
    let r = if a.stat {
        render::diff_stat
    } else if a.name_status {
        render::diff_name_status
    } else {
        render::diff_default
    };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

pub(super) fn checkout(a: &CheckoutArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::checkout::CheckoutOptions {
        target: a.target.clone(),
        paths: a.paths.clone(),
        force: a.force,
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
        Ok(ExitCode::from(1))
    }
}

pub(super) fn reset(a: &ResetArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::reset::ResetOptions {
        target: a.target.clone(),
        hard: a.hard,
    };
    let repo = ctx.repo()?;
    let outcome = ops::reset::reset(&ctx.lock(&repo)?, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::reset)?;
    OK
}

pub(super) fn gc(a: &GcArgs, ctx: &Ctx) -> Outcome {
    let opts = ops::gc::GcOptions { dry_run: a.dry_run };
    let repo = ctx.repo()?;
    let outcome = ops::gc::gc(&ctx.lock(&repo)?, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::gc)?;
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
            Ok(ExitCode::from(1))
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
    };
    let outcome = ops::push::push(&ctx.repo()?, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::push)?;
    OK
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
