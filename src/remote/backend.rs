//! The storage a remote lives on, behind a small synchronous trait: list, get (whole, ranges,
//! to a file), put (with a condition), put a file (multipart when large), delete.
//!
//! One implementation wraps any `object_store` store (S3 and compatible services, a local
//! directory for `file://` URLs, memory in unit tests) and drives it from a tokio runtime it
//! owns, so the rest of cairn stays synchronous. Several threads may call it at once; each
//! call blocks its thread on the shared runtime.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{
    GetResultPayload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
    WriteMultipart,
};

/// One stored object as a listing or a read reports it. `key` is relative to the remote's
/// root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Where the object is, relative to the remote's root.
    pub key: String,
    /// The object's length in bytes.
    pub size: u64,
    /// The server's clock, in milliseconds since the epoch.
    pub modified_ms: i64,
    /// The store's entity tag, used to make a later [`Cond::Update`] conditional; `None` when the
    /// store gives none.
    pub e_tag: Option<String>,
    /// The store's object version, where it keeps versions; `None` otherwise.
    pub version: Option<String>,
}

/// How a put treats an object already at the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Write whatever is there.
    Overwrite,
    /// Only if nothing is there (`If-None-Match: *`).
    Create,
    /// Only if the object is still the one read (`If-Match: <etag>`).
    Update {
        /// The entity tag from the read's [`Meta`].
        e_tag: Option<String>,
        /// The version from the read's [`Meta`].
        version: Option<String>,
    },
}

/// What went wrong, sorted by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object at the key.
    #[error("not found")]
    NotFound,
    /// A [`Cond::Create`] put found an object at the key.
    #[error("already exists")]
    AlreadyExists,
    /// A [`Cond::Update`] put found the object changed since it was read.
    #[error("the object changed since it was read")]
    Precondition,
    /// The store cannot do what was asked, such as a conditional put; says what.
    #[error("not supported by this store: {0}")]
    NotImplemented(String),
    /// The store refused the credentials or the request (HTTP 401 or 403); `message` is its
    /// answer on one line.
    #[error("{message}")]
    Denied {
        /// The store's answer, on one line.
        message: String,
        /// The error the store returned.
        #[source]
        source: object_store::Error,
    },
    /// Any other failure of the store or the network; `message` is the answer on one line.
    #[error("{message}")]
    Failed {
        /// The store's or the network's answer, on one line.
        message: String,
        /// The error the store returned.
        #[source]
        source: object_store::Error,
    },
    /// A local file of the transfer could not be read or written.
    #[error("{what}: {source}")]
    Local {
        /// What failed: the local file, or what cairn was doing with it.
        what: String,
        /// What the operating system answered.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// True when the store refused who we are or what we asked, so the user should look at
    /// the credentials rather than the network.
    pub fn is_denied(&self) -> bool {
        matches!(self, StoreError::Denied { .. })
    }
}

/// The result of a [`Backend`] call.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// A remote's storage. Keys are `/`-separated and relative to the remote's root.
pub trait Backend: Send + Sync {
    /// Every object whose key starts with `prefix` (a directory, ending in `/`).
    fn list(&self, prefix: &str) -> StoreResult<Vec<Meta>>;
    /// The whole object, or `None` when there is none.
    fn get(&self, key: &str) -> StoreResult<Option<(Vec<u8>, Meta)>>;
    /// Several byte ranges of one object, in the order asked.
    fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> StoreResult<Vec<Bytes>>;
    /// Appends bytes `from..` of the object to `file` (opened for appending), calling
    /// `progress` with each piece's length. Returns the object's size.
    fn download(
        &self,
        key: &str,
        from: u64,
        file: &mut File,
        progress: &dyn Fn(u64),
    ) -> StoreResult<u64>;
    /// Stores `data` at `key` if `cond` allows, returning what was written.
    fn put(&self, key: &str, data: Vec<u8>, cond: Cond) -> StoreResult<Meta>;
    /// Uploads a file, in parts when it is large, calling `progress` as bytes go out.
    fn upload(&self, key: &str, path: &FsPath, progress: &dyn Fn(u64)) -> StoreResult<()>;
    /// Removes the object at `key`; a key with no object is not an error.
    fn delete(&self, key: &str) -> StoreResult<()>;
}

/// Files above this size go up in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Part size (S3 wants at least 5 MiB but the last).
pub const PART_SIZE: usize = 8 << 20;
/// Parts in flight per file.
const PART_CONCURRENCY: usize = 4;

/// Any `object_store` store, under a key prefix, driven by its own runtime.
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rt: tokio::runtime::Runtime,
}

impl ObjectStoreBackend {
    /// Serves the store's objects under `prefix` (no leading or trailing `/` needed), starting the
    /// runtime that drives it.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> std::io::Result<ObjectStoreBackend> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("cairn-remote")
            .enable_all()
            .build()?;
        let prefix = prefix.trim_matches('/');
        Ok(ObjectStoreBackend {
            store,
            prefix: prefix.to_string(),
            rt,
        })
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    fn meta(&self, m: object_store::ObjectMeta) -> Meta {
        let full = m.location.to_string();
        let key = if self.prefix.is_empty() {
            full
        } else {
            full.strip_prefix(&self.prefix)
                .map(|k| k.trim_start_matches('/').to_string())
                .unwrap_or(full)
        };
        Meta {
            key,
            size: m.size,
            modified_ms: m.last_modified.timestamp_millis(),
            e_tag: m.e_tag,
            version: m.version,
        }
    }
}

impl Backend for ObjectStoreBackend {
    fn list(&self, prefix: &str) -> StoreResult<Vec<Meta>> {
        let dir = self.path(prefix.trim_end_matches('/'));
        self.rt.block_on(async {
            let mut stream = self.store.list(Some(&dir));
            let mut out = Vec::new();
            while let Some(m) = stream.next().await {
                out.push(self.meta(m.map_err(convert)?));
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn get(&self, key: &str) -> StoreResult<Option<(Vec<u8>, Meta)>> {
        let path = self.path(key);
        self.rt.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => {
                    let meta = self.meta(r.meta.clone());
                    let bytes = r.bytes().await.map_err(convert)?;
                    Ok(Some((bytes.to_vec(), meta)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(convert(e)),
            }
        })
    }

    fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> StoreResult<Vec<Bytes>> {
        let path = self.path(key);
        self.rt
            .block_on(self.store.get_ranges(&path, ranges))
            .map_err(convert)
    }

    fn download(
        &self,
        key: &str,
        from: u64,
        file: &mut File,
        progress: &dyn Fn(u64),
    ) -> StoreResult<u64> {
        let path = self.path(key);
        self.rt.block_on(async {
            let opts = object_store::GetOptions {
                range: (from > 0).then_some(object_store::GetRange::Offset(from)),
                ..Default::default()
            };
            let r = self.store.get_opts(&path, opts).await.map_err(convert)?;
            let size = r.meta.size;
            let local_write = |source| StoreError::Local {
                what: "could not write the download".into(),
                source,
            };
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            match r.payload {
                // A local file (file:// remotes): copied in large blocks, not the 8 KiB pieces
                // of the generic stream.
                GetResultPayload::File(mut src, _) => {
                    src.seek(SeekFrom::Start(r.range.start))
                        .map_err(local_write)?;
                    let mut src = src.take(r.range.end - r.range.start);
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = src.read(&mut buf).map_err(local_write)?;
                        if n == 0 {
                            break;
                        }
                        out.write_all(&buf[..n]).map_err(local_write)?;
                        progress(n as u64);
                    }
                }
                GetResultPayload::Stream(mut stream) => {
                    while let Some(piece) = stream.next().await {
                        let piece = piece.map_err(convert)?;
                        out.write_all(&piece).map_err(local_write)?;
                        progress(piece.len() as u64);
                    }
                }
            }
            out.flush().map_err(local_write)?;
            Ok(size)
        })
    }

    fn put(&self, key: &str, data: Vec<u8>, cond: Cond) -> StoreResult<Meta> {
        let path = self.path(key);
        let size = data.len() as u64;
        let mode = match cond {
            Cond::Overwrite => PutMode::Overwrite,
            Cond::Create => PutMode::Create,
            Cond::Update { e_tag, version } => PutMode::Update(UpdateVersion { e_tag, version }),
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let r = self
            .rt
            .block_on(self.store.put_opts(&path, PutPayload::from(data), opts))
            .map_err(convert)?;
        Ok(Meta {
            key: key.to_string(),
            size,
            modified_ms: 0,
            e_tag: r.e_tag,
            version: r.version,
        })
    }

    fn upload(&self, key: &str, path: &FsPath, progress: &dyn Fn(u64)) -> StoreResult<()> {
        let io = |source| StoreError::Local {
            what: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size <= MULTIPART_THRESHOLD {
            let mut data = Vec::with_capacity(size as usize);
            file.read_to_end(&mut data).map_err(io)?;
            self.put(key, data, Cond::Overwrite)?;
            progress(size);
            return Ok(());
        }
        let dest = self.path(key);
        self.rt.block_on(async {
            let upload = self.store.put_multipart(&dest).await.map_err(convert)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = match read_full(&mut file, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(io(e));
                    }
                };
                if n == 0 {
                    break;
                }
                if let Err(e) = w.wait_for_capacity(PART_CONCURRENCY).await {
                    let _ = w.abort().await;
                    return Err(convert(e));
                }
                w.put(Bytes::copy_from_slice(&buf[..n]));
                progress(n as u64);
            }
            w.finish().await.map(|_| ()).map_err(convert)
        })
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        let path = self.path(key);
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(convert(e)),
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Sorts an `object_store` error into what cairn does about it, keeping the remote's answer
/// (status, S3 error code and message) on one line.
fn convert(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists,
        object_store::Error::Precondition { .. } => StoreError::Precondition,
        object_store::Error::NotImplemented { operation, .. } => {
            StoreError::NotImplemented(operation)
        }
        source @ (object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }) => StoreError::Denied {
            message: one_line(&source),
            source,
        },
        source => StoreError::Failed {
            message: one_line(&source),
            source,
        },
    }
}

/// An error and its causes as one line, with an S3 XML answer cut down to code and message.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cause = c.source();
    }
    let text = parts.join(": ");
    let text = match (xml_field(&text, "Code"), xml_field(&text, "Message")) {
        (Some(code), msg) => {
            let head = text.split("<?xml").next().unwrap_or("").trim_end();
            let msg = msg.map(|m| format!(": {m}")).unwrap_or_default();
            format!("{head} {code}{msg}")
        }
        _ => text,
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn xml_field<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn backend() -> ObjectStoreBackend {
        ObjectStoreBackend::new(Arc::new(InMemory::new()), "pre/fix").unwrap()
    }

    #[test]
    fn put_get_list_delete() {
        let b = backend();
        b.put("refs/lines/main", b"x\n".to_vec(), Cond::Create)
            .unwrap();
        assert!(matches!(
            b.put("refs/lines/main", b"y\n".to_vec(), Cond::Create),
            Err(StoreError::AlreadyExists)
        ));
        let (data, meta) = b.get("refs/lines/main").unwrap().unwrap();
        assert_eq!(data, b"x\n");
        let listed = b.list("refs/").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "refs/lines/main");
        let stale = Cond::Update {
            e_tag: Some("\"nope\"".into()),
            version: None,
        };
        assert!(matches!(
            b.put("refs/lines/main", b"z\n".to_vec(), stale),
            Err(StoreError::Precondition)
        ));
        let fresh = Cond::Update {
            e_tag: meta.e_tag,
            version: meta.version,
        };
        b.put("refs/lines/main", b"z\n".to_vec(), fresh).unwrap();
        b.delete("refs/lines/main").unwrap();
        assert!(b.get("refs/lines/main").unwrap().is_none());
        b.delete("refs/lines/main").unwrap();
    }

    #[test]
    fn multipart_and_ranges() {
        let b = backend();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big");
        let data: Vec<u8> = (0..(MULTIPART_THRESHOLD as usize + PART_SIZE + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        let sent = std::sync::atomic::AtomicU64::new(0);
        b.upload("packs/big", &src, &|n| {
            sent.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(sent.into_inner(), data.len() as u64);
        let got = b.get_ranges("packs/big", &[3..10, 100..101]).unwrap();
        assert_eq!(&got[0][..], &data[3..10]);
        assert_eq!(&got[1][..], &data[100..101]);
        let dest = dir.path().join("copy");
        let mut f = File::create(&dest).unwrap();
        f.write_all(&data[..1000]).unwrap();
        let size = b.download("packs/big", 1000, &mut f, &|_| {}).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
    }

    #[test]
    fn one_line_keeps_the_answer() {
        let text = "Error performing PUT http://x in 1ms - Server returned non-2xx status code: \
                    403 Forbidden: <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>bad\nsig</Message></Error>";
        let e = std::io::Error::other(text);
        let line = one_line(&e);
        assert!(
            line.contains("403 Forbidden: SignatureDoesNotMatch: bad sig"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
