//! Remotes: a repository's packs and references in an object store (S3 and compatible
//! services, or a directory for `file://` URLs), shared by many machines.
//!
//! Packs and their indexes are immutable and named by content, so transfers only ever add
//! what the other side lacks, and an interrupted transfer is resumed by running it again.
//! References move last, through [`refs::publish`], which never lets two pushes overwrite
//! each other's layers. The layout of a remote is in [`layout`] and docs/REMOTES.md.

pub mod backend;
pub mod config;
pub mod fetch;
pub mod index;
pub mod layout;
pub mod lazy;
pub mod partial;
pub mod refs;
pub mod transfer;
pub mod verify;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::hash::{Domain, HashAlgo};
use backend::{Backend, Cond, ObjectStoreBackend, StoreError};
use config::{parse_url, Location, RemoteSpec};

/// An opened remote.
pub struct Remote {
    /// The remote's name in the remotes file (`origin` when cloned).
    pub name: String,
    /// Its settings from the remotes file.
    pub spec: RemoteSpec,
    backend: Box<dyn Backend>,
}

impl Remote {
    /// Connects to the remote `spec` describes. `create`: make a `file://` directory that does
    /// not exist yet (for push). Nothing is sent over the network until the first request.
    pub fn open(name: &str, spec: &RemoteSpec, create: bool) -> Result<Remote> {
        let bad = |what: String| Error::RemoteSetup {
            what,
            path: PathBuf::from(&spec.url),
        };
        let backend: Box<dyn Backend> = match parse_url(&spec.url).map_err(bad)? {
            Location::S3 { bucket, prefix } => {
                let store = s3_store(&bucket, spec).map_err(bad)?;
                Box::new(
                    ObjectStoreBackend::new(Arc::new(store), &prefix)
                        .map_err(|e| bad(format!("could not start the network runtime: {e}")))?,
                )
            }
            Location::File { path } => {
                if create {
                    std::fs::create_dir_all(&path)
                        .map_err(|e| bad(format!("could not create the remote directory: {e}")))?;
                }
                let store = LocalFileSystem::new_with_prefix(&path).map_err(|e| {
                    bad(format!(
                        "no remote directory at {} ({e}); nothing was pushed there yet?",
                        path.display()
                    ))
                })?;
                Box::new(
                    ObjectStoreBackend::new(Arc::new(store), "")
                        .map_err(|e| bad(format!("could not start the runtime: {e}")))?,
                )
            }
        };
        Ok(Remote::with_backend(name, spec, backend))
    }

    /// A remote over any backend (tests use memory).
    pub fn with_backend(name: &str, spec: &RemoteSpec, backend: Box<dyn Backend>) -> Remote {
        Remote {
            name: name.to_string(),
            spec: spec.clone(),
            backend,
        }
    }

    /// The storage underneath, for calls that need its own errors (conditions, ranges, files).
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The URL the remote was opened with.
    pub fn url(&self) -> &str {
        &self.spec.url
    }

    /// The error for a failed request: what was being done, on which key, and the remote's
    /// answer (whose kind tells a refusal from a failure).
    pub fn err(&self, op: &'static str, key: &str, source: StoreError) -> Error {
        Error::Remote {
            remote: self.name.clone(),
            op,
            key: key.to_string(),
            path: PathBuf::from(&self.spec.url),
            source: Box::new(source),
        }
    }

    /// An error about the remote's content or state, not a failed request.
    pub fn invalid(&self, what: String) -> Error {
        Error::RemoteState {
            remote: self.name.clone(),
            what,
            path: PathBuf::from(&self.spec.url),
        }
    }

    /// The object at `key` with its listing data; `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<(Vec<u8>, backend::Meta)>> {
        self.backend.get(key).map_err(|e| self.err("read", key, e))
    }

    /// Every object whose key starts with `prefix`.
    pub fn list(&self, prefix: &str) -> Result<Vec<backend::Meta>> {
        self.backend
            .list(prefix)
            .map_err(|e| self.err("list", prefix, e))
    }

    /// Removes the object at `key`; one that is gone already is no error.
    pub fn delete(&self, key: &str) -> Result<()> {
        self.backend
            .delete(key)
            .map_err(|e| self.err("delete", key, e))
    }

    /// The repository config the first push stored; `None` for an empty remote.
    pub fn config(&self) -> Result<Option<Config>> {
        let Some((bytes, _)) = self.get(layout::CONFIG)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| self.invalid("config.toml is not UTF-8".into()))?;
        Config::parse(&text, &PathBuf::from(format!("{}/config.toml", self.url()))).map(Some)
    }

    /// Makes sure the remote holds objects hashed like ours, storing our config on an empty
    /// remote. Differing chunker settings are fine (ids do not depend on them).
    pub fn ensure_config(&self, ours: &Config) -> Result<()> {
        let theirs = match self.config()? {
            Some(c) => c,
            None if self.create(layout::CONFIG, ours.to_toml().into_bytes())? => return Ok(()),
            None => self
                .config()?
                .ok_or_else(|| self.invalid("config.toml vanished".into()))?,
        };
        if theirs.hash != ours.hash {
            return Err(self.invalid(format!(
                "it holds a {} repository and this one uses {}; ids cannot mix",
                theirs.hash.name(),
                ours.hash.name()
            )));
        }
        Ok(())
    }

    /// The line a clone checks out by default (`HEAD` on the remote).
    pub fn head_line(&self) -> Result<Option<String>> {
        let Some((bytes, _)) = self.get(layout::HEAD)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        Ok(crate::refs::head_text_line(&text)
            .filter(|n| crate::refs::check_name(n).is_ok())
            .map(str::to_string))
    }

    /// Records `line` as the remote's default line unless it has one.
    pub fn init_head(&self, line: &str) -> Result<()> {
        self.create(layout::HEAD, crate::refs::head_text(line).into_bytes())
            .map(|_| ())
    }

    /// Writes `key` unless something is there; false when something was. Stores without
    /// conditional writes get a check and a write (a race keeps either writer's content).
    fn create(&self, key: &str, data: Vec<u8>) -> Result<bool> {
        match self.backend.put(key, data.clone(), Cond::Create) {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists) => Ok(false),
            Err(StoreError::NotImplemented(_)) if self.get(key)?.is_some() => Ok(false),
            Err(StoreError::NotImplemented(_)) => self
                .backend
                .put(key, data, Cond::Overwrite)
                .map(|_| true)
                .map_err(|e| self.err("write", key, e)),
            Err(e) => Err(self.err("write", key, e)),
        }
    }
}

/// An S3 client for `bucket`: credentials and settings from the `AWS_*` environment
/// variables, endpoint and region from the remote's settings when given. Retries are few and
/// short, so a wrong address or a dead server is reported within seconds, not minutes.
fn s3_store(
    bucket: &str,
    spec: &RemoteSpec,
) -> std::result::Result<object_store::aws::AmazonS3, String> {
    let has_credentials = [
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        || std::env::var("AWS_SKIP_SIGNATURE").is_ok_and(|v| v == "true" || v == "1");
    if !has_credentials {
        return Err(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or \
             AWS_SKIP_SIGNATURE=true for a public bucket)"
                .into(),
        );
    }
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = spec.endpoint.clone().or_else(|| {
        ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
    });
    let mut options = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300));
    if let Some(ep) = &endpoint {
        b = b.with_endpoint(ep);
        if ep.starts_with("http://") {
            options = options.with_allow_http(true);
        }
    }
    if let Some(region) = &spec.region {
        b = b.with_region(region);
    }
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    b.with_client_options(options)
        .with_retry(retry)
        .build()
        .map_err(|e| format!("could not set up the S3 client: {e}"))
}

/// A short random-enough string for keys that must not collide across machines: the
/// process, the time, a counter and the host, hashed.
pub(crate) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = format!("{}-{now}-{n}-{}", std::process::id(), hostname());
    HashAlgo::Blake3
        .hash(Domain::Checksum, seed.as_bytes())
        .to_hex()[..16]
        .to_string()
}

pub(crate) fn hostname() -> String {
    crate::fsutil::hostname().unwrap_or_else(|| "unknown".into())
}

/// Who this process is, machine-wide: `<boot id>/<pid namespace>:<pid>`. Another process of
/// the same boot and pid namespace can then tell whether it still runs; `None` where the
/// kernel does not say (then only the lease judges an intent).
pub(crate) fn process_token() -> Option<String> {
    static MACHINE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let machine = MACHINE.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        Some(format!("{}/{}", boot.trim(), ns.to_string_lossy()))
    });
    machine
        .as_ref()
        .map(|m| format!("{m}:{}", std::process::id()))
}

pub(crate) fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

pub(crate) use crate::clock::now_ns;
