//! `cairn remote add | list | remove`, and `cairn verify --remote NAME`.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::integrity::VerifyOutcome;
use crate::progress::Progress;
use crate::remote::config::{parse_url, RemoteSpec, Remotes};
use crate::remote::{verify as rverify, Remote};
use crate::repo::{Locked, Repository};

/// The change to make to the remotes.
#[derive(Debug, Clone)]
pub enum RemoteAction {
    /// Record a remote.
    Add {
        /// The remote's name, under the rules of line and tag names; must be new.
        name: String,
        /// `s3://bucket/prefix` or `file:///absolute/path`.
        url: String,
        /// The S3 endpoint (`http://` or `https://`), for services other than AWS; `None`:
        /// `AWS_ENDPOINT_URL`, else AWS.
        endpoint: Option<String>,
        /// The S3 region; `None`: `AWS_REGION`, else `us-east-1`.
        region: Option<String>,
    },
    /// Forget a remote; its copy is not touched.
    Remove {
        /// The remote's name.
        name: String,
    },
}

/// One remote, as `remotes.toml` records it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RemoteInfo {
    /// The remote's name.
    pub name: String,
    /// `s3://bucket/prefix` or `file:///absolute/path`.
    pub url: String,
    /// The S3 endpoint; null: `AWS_ENDPOINT_URL`, else AWS.
    pub endpoint: Option<String>,
    /// The S3 region; null: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// The paths of a path-limited clone; empty: everything.
    pub paths: Vec<String>,
}

/// What `remote` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemoteVerb {
    /// A remote was recorded (`"added"` in JSON).
    Added,
    /// A remote was forgotten (`"removed"` in JSON).
    Removed,
    /// The remotes were listed (`"list"` in JSON).
    List,
}

/// The remotes a `remote` command touched or listed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RemoteOutcome {
    /// What was done: `"added"`, `"removed"` or `"list"`.
    pub action: RemoteVerb,
    /// The remote added or removed, or every remote for `list`.
    pub remotes: Vec<RemoteInfo>,
}

/// Adds or removes a remote: a change to `remotes.toml`, so under the writers' lock.
pub fn remote(repo: &Locked, action: &RemoteAction) -> Result<RemoteOutcome> {
    let invalid = |what: String| Error::RemoteSetup {
        what,
        path: Remotes::path(repo.dir()),
    };
    let mut all = Remotes::load(repo.dir())?;
    let (verb, name, spec) = match action {
        RemoteAction::Add {
            name,
            url,
            endpoint,
            region,
        } => {
            crate::refs::check_name(name).map_err(|why| Error::BadName {
                why,
                path: Remotes::path(repo.dir()),
            })?;
            if all.remote.contains_key(name) {
                return Err(Error::AlreadyExists {
                    what: "remote",
                    name: name.clone(),
                    path: Remotes::path(repo.dir()),
                });
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
            (RemoteVerb::Added, name, spec)
        }
        RemoteAction::Remove { name } => match all.remote.remove(name) {
            Some(spec) => (RemoteVerb::Removed, name, spec),
            None => return Err(invalid(format!("there is no remote named {name:?}"))),
        },
    };
    all.save(repo.dir())?;
    Ok(RemoteOutcome {
        action: verb,
        remotes: vec![info(name, &spec)],
    })
}

/// Every remote, read without the lock.
pub fn list(repo: &Repository) -> Result<RemoteOutcome> {
    let all = Remotes::load(repo.dir())?;
    Ok(RemoteOutcome {
        action: RemoteVerb::List,
        remotes: all.remote.iter().map(|(n, s)| info(n, s)).collect(),
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
