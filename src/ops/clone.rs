//! `cairn clone`: a new repository from a remote: same hash and chunker settings, every line
//! and tag, the packs (all of them, or with `--layer` / paths only what that layer or those
//! paths need), and a worktree checked out at the remote's default line or the named layer.
//!
//! An interrupted clone is continued by running the same command again: the repository it
//! started is recognised by its `origin` (or, killed before it recorded one, as an empty
//! repository with nothing else in the directory), and packs already here are not fetched
//! again.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkout::{checkout, sparse_checkout, CheckoutOptions};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::ObjectId;
use crate::progress::Progress;
use crate::refs::{Head, RefKind, DEFAULT_LINE};
use crate::remote::config::{RemoteSpec, Remotes};
use crate::remote::fetch::{fetch_all, fetch_partial, Fetched};
use crate::remote::{refs, Remote};
use crate::repo::{Repository, CAIRN_DIR};
use crate::revparse;
use crate::session::Common;
use crate::worktree;

/// Where to clone from and to, and how much to fetch.
#[derive(Debug, Clone)]
pub struct CloneOptions {
    /// `s3://bucket/prefix` or `file:///absolute/path`.
    pub url: String,
    /// The new worktree (absolute).
    pub dir: PathBuf,
    /// The S3 endpoint, for services other than AWS; `None`: `AWS_ENDPOINT_URL`, else AWS.
    /// Remembered for `origin`.
    pub endpoint: Option<String>,
    /// The S3 region; `None`: `AWS_REGION`, else `us-east-1`. Remembered for `origin`.
    pub region: Option<String>,
    /// Only what this layer needs (a line, tag, id or prefix as on the remote).
    pub layer: Option<String>,
    /// Only these paths of the layer (repository paths, `/`-separated).
    pub paths: Vec<String>,
}

/// The repository made, and what was fetched and checked out.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CloneOutcome {
    /// The URL cloned from, as given.
    pub url: String,
    /// The new worktree's root, absolute.
    pub dir: PathBuf,
    /// The name the remote is recorded under here: `origin`.
    pub remote: String,
    /// The line HEAD is on, unless a layer was checked out detached.
    pub line: Option<String>,
    /// The layer checked out; `None` for a remote with no layers yet.
    pub layer: Option<ObjectId>,
    /// Lines copied from the remote, all of them whatever was fetched.
    pub lines: u64,
    /// Tags copied from the remote, all of them whatever was fetched.
    pub tags: u64,
    /// True when only part of the remote's content was fetched.
    pub partial: bool,
    /// What was downloaded: whole packs, chunks fetched by byte range, and their bytes.
    pub fetched: Fetched,
    /// Files written into the worktree.
    pub checked_out: u64,
}

/// The directory a clone of `url` goes to by default: the last part of its prefix, or its
/// bucket (or directory) name.
pub fn default_dir(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1.trim_end_matches('/');
    let last = rest.rsplit('/').next()?;
    (!last.is_empty() && last != "." && last != "..").then(|| last.to_string())
}

/// Clones the remote at `opts.url` into `opts.dir`, or continues an interrupted clone of the
/// same URL there.
pub fn clone(
    opts: &CloneOptions,
    common: &Common,
    progress: &dyn Progress,
) -> Result<CloneOutcome> {
    let spec = RemoteSpec {
        url: opts.url.clone(),
        endpoint: opts.endpoint.clone(),
        region: opts.region.clone(),
        paths: opts.paths.clone(),
    };
    let remote = Remote::open("origin", &spec, false)?;
    let config = remote.config()?.ok_or_else(|| {
        remote.invalid("there is no cairn repository there (nothing was pushed yet?)".into())
    })?;
    let repo = prepare(&opts.dir, &spec, &config)?;
    let common = Common {
        cwd: repo.root().to_path_buf(),
        ..common.clone()
    };
    let lines = refs::list(&remote, RefKind::Line)?;
    let tags = refs::list(&remote, RefKind::Tag)?;
    let head = default_line(&remote, &lines)?;
    // Created here, so locked here: one lock from the first ref to the checkout.
    let repo = repo.lock(common.lock_timeout)?;
    for (kind, list) in [(RefKind::Line, &lines), (RefKind::Tag, &tags)] {
        for (name, id) in list {
            repo.refs()
                .because(format!("clone: from {}", opts.url))
                .set(kind, name, id)?;
        }
    }
    repo.refs()
        .because(format!("clone: from {}", opts.url))
        .set_head(&Head::Line(head.clone()))?;
    let mut out = CloneOutcome {
        url: opts.url.clone(),
        dir: repo.root().to_path_buf(),
        remote: remote.name.clone(),
        line: Some(head.clone()),
        layer: None,
        lines: lines.len() as u64,
        tags: tags.len() as u64,
        partial: opts.layer.is_some() || !opts.paths.is_empty(),
        fetched: Fetched::default(),
        checked_out: 0,
    };
    // The default line by its full name: a tag of the same name cannot be taken for it.
    let target = opts
        .layer
        .clone()
        .unwrap_or_else(|| format!("{}/{head}", RefKind::Line));
    let paths: Vec<Vec<u8>> = opts.paths.iter().map(|p| worktree::layer_path(p)).collect();
    if !out.partial {
        out.fetched = fetch_all(&repo, &remote, progress)?;
    } else {
        let resolve = |r: &Repository| revparse::resolve(r, &target);
        out.fetched = fetch_partial(repo.root(), &remote, resolve, &paths, progress)?.0;
    }
    // Listed again, so the store sees the packs just fetched.
    repo.store.refresh()?;
    crate::layer_graph::update(&repo)?;
    if lines.is_empty() && opts.layer.is_none() {
        return Ok(out);
    }
    let resolved = revparse::resolve_full(&repo, &target)?;
    out.layer = Some(resolved.layer);
    out.line = resolved.line.clone();
    out.checked_out = if paths.is_empty() {
        let opts = CheckoutOptions {
            target,
            paths: Vec::new(),
            force: true,
            new_line: None,
        };
        checkout(&repo, &common, &opts, progress)?.written.len() as u64
    } else {
        let n = sparse_checkout(&repo, &common, resolved.layer, &paths, true, progress)?;
        let head = match &resolved.line {
            Some(l) => Head::Line(l.clone()),
            None => Head::Detached(resolved.layer),
        };
        repo.refs()
            .because(format!("clone: from {}", opts.url))
            .set_head(&head)?;
        n
    };
    Ok(out)
}

/// Creates the repository in `dir` with the remote's settings and records the remote as
/// `origin`; or takes up what an interrupted clone of the same URL left there: its
/// repository, a repository `init` finished before the remote was recorded, or an `init`
/// the kill cut short.
fn prepare(dir: &Path, spec: &RemoteSpec, config: &crate::config::Config) -> Result<Repository> {
    remove_dead_inits(dir)?;
    if dir.join(CAIRN_DIR).join("config.toml").is_file() {
        let repo = Repository::open(dir)?;
        let origin = Remotes::load(repo.dir())?.remote.remove("origin");
        return match origin {
            Some(o) if o.url == spec.url => Ok(repo),
            None if untouched(&repo)? => record_origin(repo, spec, config),
            _ => Err(Error::AlreadyARepository {
                path: repo.dir().to_path_buf(),
            }),
        };
    }
    // An init killed inside this clone leaves a `.cairn` without `config.toml` holding only
    // the skeleton: start it again.
    let own = dir.join(CAIRN_DIR);
    if crate::repo::unfinished_init(&own) {
        std::fs::remove_dir_all(&own).ctx("could not remove an unfinished init", &own)?;
    }
    if !crate::materialize::is_empty_dir(dir)? {
        return Err(Error::NotEmpty {
            force: false,
            path: dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dir).ctx("could not create directory", dir)?;
    let repo = Repository::init(dir, config.hash, config.chunker)?;
    // Tests kill a clone here: a repository, but no remote recorded yet.
    crate::failpoint::hit("clone:after-init");
    record_origin(repo, spec, config)
}

/// Gives a new, empty repository the remote's settings and records the remote as `origin`:
/// the point from which a clone run again continues instead of starting over.
fn record_origin(
    repo: Repository,
    spec: &RemoteSpec,
    config: &crate::config::Config,
) -> Result<Repository> {
    if repo.config != *config {
        // Same settings as the remote's repository (nothing is stored yet, so even the hash
        // may change).
        let path = repo.dir().join("config.toml");
        fsutil::write_atomic(&repo.tmp_dir(), &path, config.to_toml().as_bytes())?;
    }
    let mut remotes = Remotes::default();
    remotes.remote.insert("origin".into(), spec.clone());
    remotes.save(repo.dir())?;
    Repository::open(repo.root())
}

/// True for a repository nothing has happened in: no line, no tag, no pack, and nothing in
/// the worktree but `.cairn`. A clone killed before it recorded its remote leaves one, and
/// making it a clone loses nothing.
fn untouched(repo: &Repository) -> Result<bool> {
    let refs = repo.refs();
    if !refs.list(RefKind::Line)?.is_empty()
        || !refs.list(RefKind::Tag)?.is_empty()
        || !repo.store.packs().is_empty()
    {
        return Ok(false);
    }
    let root = repo.root();
    let entries = std::fs::read_dir(root).ctx("could not read directory", root)?;
    for e in entries {
        if e.ctx("could not read directory", root)?.file_name() != CAIRN_DIR {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes the `.cairn-init-<pid>` directories that an `init` of an earlier cairn (which
/// built `.cairn` under that name and renamed it) left in `dir` when killed, if process
/// `pid` is gone: they hold nothing but an empty repository's skeleton.
fn remove_dead_inits(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(it) => it,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("could not read directory", dir)(e)),
    };
    for e in entries {
        let e = e.ctx("could not read directory", dir)?;
        let name = e.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(".cairn-init-"));
        let Some(pid) = pid.and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !crate::fsutil::process_alive(pid) {
            let path = e.path();
            std::fs::remove_dir_all(&path).ctx("could not remove an unfinished init", &path)?;
        }
    }
    Ok(())
}

/// The line a clone checks out: the remote's `HEAD`, else `main`, else the first line.
fn default_line(remote: &Remote, lines: &[(String, ObjectId)]) -> Result<String> {
    let has = |n: &str| lines.iter().any(|(l, _)| l == n);
    if let Some(h) = remote.head_line()?.filter(|h| has(h)) {
        return Ok(h);
    }
    if has(DEFAULT_LINE) || lines.is_empty() {
        return Ok(DEFAULT_LINE.to_string());
    }
    Ok(lines[0].0.clone())
}
