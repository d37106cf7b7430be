//! `cairn remote add | list | remove`, and `cairn verify --remote NAME`.

use serde::Serialize;

use super::verify::VerifyOutcome;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::remote::config::{parse_url, RemoteSpec, Remotes};
use crate::remote::{verify as rverify, Remote};
use crate::repo::Repository;
use crate::session::Common;

#[derive(Debug, Clone)]
pub enum RemoteAction {
    Add {
        name: String,
        url: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
    List,
    Remove {
        name: String,
    },
}

#[derive(Debug, Serialize)]
pub struct RemoteInfo {
    pub name: String,
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The paths of a path-limited clone; empty: everything.
    pub paths: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RemoteOutcome {
    /// `added`, `removed` or `list`.
    pub action: &'static str,
    /// The remote added or removed, or every remote for `list`.
    pub remotes: Vec<RemoteInfo>,
}

pub fn remote(repo: &Repository, common: &Common, action: &RemoteAction) -> Result<RemoteOutcome> {
    let invalid = |what: String| Error::RemoteSetup {
        what,
        path: Remotes::path(repo.dir()),
    };
    if let RemoteAction::List = action {
        let all = Remotes::load(repo.dir())?;
        return Ok(RemoteOutcome {
            action: "list",
            remotes: all.remote.iter().map(|(n, s)| info(n, s)).collect(),
        });
    }
    let _lock = repo.lock(common.lock_timeout)?;
    let mut all = Remotes::load(repo.dir())?;
    let (verb, name, spec) = match action {
        RemoteAction::Add {
            name,
            url,
            endpoint,
            region,
        } => {
            crate::refs::check_name(name).map_err(invalid)?;
            if all.remote.contains_key(name) {
                return Err(invalid(format!("a remote named {name:?} exists already")));
            }
            parse_url(url).map_err(invalid)?;
            if let Some(ep) = endpoint {
                if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                    return Err(invalid(format!("endpoint {ep:?} is not an http(s) URL")));
                }
            }
            let spec = RemoteSpec {
                url: url.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
                paths: Vec::new(),
            };
            all.remote.insert(name.clone(), spec.clone());
            ("added", name, spec)
        }
        RemoteAction::Remove { name } => match all.remote.remove(name) {
            Some(spec) => ("removed", name, spec),
            None => return Err(invalid(format!("there is no remote named {name:?}"))),
        },
        RemoteAction::List => unreachable!("handled above"),
    };
    all.save(repo.dir())?;
    Ok(RemoteOutcome {
        action: verb,
        remotes: vec![info(name, &spec)],
    })
}

fn info(name: &str, s: &RemoteSpec) -> RemoteInfo {
    RemoteInfo {
        name: name.to_string(),
        url: s.url.clone(),
        endpoint: s.endpoint.clone(),
        region: s.region.clone(),
        paths: s.paths.clone(),
    }
}

/// Checks the remote `name`: every pack index (checksum, order, pack name, pack size), every
/// metadata pack record by record, with `data` every data pack too, every layer, tree, file
/// object and chunk reachable from its lines, tags and ref log, and that every layer its ref
/// log accepted is still on its line.
pub fn verify(
    repo: &Repository,
    name: &str,
    data: bool,
    progress: &dyn Progress,
) -> Result<VerifyOutcome> {
    let (name, spec) = Remotes::load(repo.dir())?.pick(Some(name), repo.dir())?;
    let remote = Remote::open(&name, &spec, false)?;
    rverify::verify(&remote, data, progress)
}
