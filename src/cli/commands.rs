//! One handler per command: turn clap arguments into library options, run the operation,
//! render the outcome.

use std::io::Write;
use std::process::ExitCode;

use cairn::ops;
use cairn::HashAlgo;

use super::args::*;
use super::render;
use super::Ctx;

type Outcome = anyhow::Result<ExitCode>;

const OK: Outcome = Ok(ExitCode::SUCCESS);

pub fn init(a: &InitArgs, ctx: &Ctx) -> Outcome {
    let dir = a.dir.as_ref().map_or(ctx.cwd.clone(), |d| ctx.cwd.join(d));
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

pub fn add(a: &AddArgs, ctx: &Ctx) -> Outcome {
    if a.paths.is_empty() && !a.all {
        return Err(cairn::Error::Invalid {
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
    };
    let outcome = ops::add::add(&repo, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::add)?;
    OK
}

pub fn rm(a: &RmArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::rm::RmOptions {
        paths: a.paths.clone(),
        cached: a.cached,
        force: a.force,
        recursive: a.r,
    };
    ctx.printer
        .outcome(&ops::rm::rm(&repo, &ctx.common, &opts)?, render::rm)?;
    OK
}

pub fn status(a: &StatusArgs, ctx: &Ctx) -> Outcome {
    let outcome = ops::status::status(&ctx.repo()?)?;
    let r = if a.short {
        render::status_short
    } else {
        render::status_long
    };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

pub fn commit(a: &CommitArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::commit::CommitOptions {
        message: a.message.clone(),
        author: a.author.clone(),
        new_line: a.line.clone(),
    };
    let outcome = ops::commit::commit(&repo, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::commit)?;
    OK
}

pub fn log(a: &LogArgs, ctx: &Ctx) -> Outcome {
    let outcome = ops::log::log(&ctx.repo()?, &ops::log::LogOptions { max: a.max })?;
    let r = if a.oneline {
        render::log_oneline
    } else {
        render::log_long
    };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

pub fn show(a: &ShowArgs, ctx: &Ctx) -> Outcome {
    let outcome = ops::show::show(&ctx.repo()?, &a.layer)?;
    ctx.printer.outcome(&outcome, render::show)?;
    OK
}

pub fn ls(a: &LsArgs, ctx: &Ctx) -> Outcome {
    let path = a.path.as_deref().unwrap_or("");
    let path = path.trim_start_matches("./").trim_matches('/');
    let opts = ops::ls::LsOptions {
        layer: a.layer.clone(),
        path: path.as_bytes().to_vec(),
        recursive: a.recursive,
    };
    let outcome = ops::ls::ls(&ctx.repo()?, &opts)?;
    let r = if a.long { render::ls_long } else { render::ls };
    ctx.printer.outcome(&outcome, r)?;
    OK
}

/// Raw bytes on stdout; with --json, one document carrying the bytes in base64 (bounded,
/// since a JSON document is held in memory).
pub fn cat(a: &CatArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::cat::CatOptions {
        spec: a.spec.clone(),
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

pub fn diff(a: &DiffArgs, ctx: &Ctx) -> Outcome {
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

pub fn checkout(a: &CheckoutArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let opts = ops::checkout::CheckoutOptions {
        target: a.target.clone(),
        paths: a.paths.clone(),
        force: a.force,
    };
    let outcome = ops::checkout::checkout(&repo, &ctx.common, &opts, &ctx.bar())?;
    ctx.printer.outcome(&outcome, render::checkout)?;
    OK
}

pub fn restore(a: &RestoreArgs, ctx: &Ctx) -> Outcome {
    let repo = ctx.repo()?;
    let paths = a
        .paths
        .iter()
        .map(|p| {
            let p = p.trim_start_matches("./").trim_matches('/');
            p.as_bytes().to_vec()
        })
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

pub fn tag(a: &TagArgs, ctx: &Ctx) -> Outcome {
    use ops::tag::TagAction;
    let action = match (&a.name, a.delete, a.list) {
        (Some(name), true, _) => TagAction::Delete { name: name.clone() },
        (Some(name), false, false) => TagAction::Create {
            name: name.clone(),
            layer: a.layer.clone().unwrap_or_else(|| "HEAD".into()),
            force: a.force,
        },
        (None, true, _) => {
            return Err(cairn::Error::Invalid {
                what: "-d needs the name of the tag to delete".into(),
                path: ctx.cwd.clone(),
            }
            .into())
        }
        _ => TagAction::List,
    };
    let outcome = ops::tag::tag(&ctx.repo()?, &ctx.common, &action)?;
    ctx.printer.outcome(&outcome, render::tag)?;
    OK
}
