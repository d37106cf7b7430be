//! The baseline of the remotes benchmark: copies files to or from S3 with `object_store`
//! directly, with the settings cairn's remotes use (four files at a time; files over 16 MiB as
//! multipart uploads of 8 MiB parts, four in flight), and nothing else: no listing, no
//! checks, no references.
//!
//! ```text
//! s3_raw put DIR s3://bucket/prefix     upload every file of DIR
//! s3_raw get s3://bucket/prefix DIR [--sync]
//!                                       download every object under the prefix (--sync:
//!                                       fsync each file, as cairn does before using a pack)
//! s3_raw probe s3://bucket/prefix       does the store honour If-None-Match / If-Match?
//! ```
//! Endpoint, region and credentials come from the `AWS_*` environment variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, WriteMultipart};

const FILES_AT_ONCE: usize = 4;
const MULTIPART_THRESHOLD: u64 = 16 << 20;
const PART: usize = 8 << 20;
const PARTS_AT_ONCE: usize = 4;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let start = Instant::now();
    let bytes = match args.as_slice() {
        [cmd, dir, url] if cmd == "put" => rt.block_on(put(Path::new(dir), url))?,
        [cmd, url, dir] if cmd == "get" => rt.block_on(get(url, Path::new(dir), false))?,
        [cmd, url, dir, sync] if cmd == "get" && sync == "--sync" => {
            rt.block_on(get(url, Path::new(dir), true))?
        }
        [cmd, url] if cmd == "probe" => return rt.block_on(probe(url)),
        _ => return Err("usage: s3_raw put DIR URL | get URL DIR | probe URL".into()),
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} bytes in {secs:.2} s ({:.1} MiB/s)",
        bytes,
        bytes as f64 / 1048576.0 / secs
    );
    Ok(())
}

fn store(url: &str) -> Res<(Arc<dyn ObjectStore>, String)> {
    let rest = url.strip_prefix("s3://").ok_or("not an s3:// URL")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let s3 = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()?;
    Ok((Arc::new(s3), prefix.trim_matches('/').to_string()))
}

async fn put(dir: &Path, url: &str) -> Res<u64> {
    let (s3, prefix) = store(url)?;
    let files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    let sizes: Vec<u64> = stream::iter(files)
        .map(|f| {
            let s3 = s3.clone();
            let key = Key::from(format!(
                "{prefix}/{}",
                f.file_name().unwrap().to_string_lossy()
            ));
            async move { upload(s3.as_ref(), &key, &f).await }
        })
        .buffer_unordered(FILES_AT_ONCE)
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}

async fn upload(s3: &dyn ObjectStore, key: &Key, file: &Path) -> Res<u64> {
    let data = std::fs::read(file)?;
    let size = data.len() as u64;
    if size <= MULTIPART_THRESHOLD {
        s3.put(key, data.into()).await?;
        return Ok(size);
    }
    let mut w = WriteMultipart::new_with_chunk_size(s3.put_multipart(key).await?, PART);
    for part in data.chunks(PART) {
        w.wait_for_capacity(PARTS_AT_ONCE).await?;
        w.put(bytes::Bytes::copy_from_slice(part));
    }
    w.finish().await?;
    Ok(size)
}

async fn get(url: &str, dir: &Path, sync: bool) -> Res<u64> {
    let (s3, prefix) = store(url)?;
    std::fs::create_dir_all(dir)?;
    let objects: Vec<_> = s3.list(Some(&Key::from(prefix))).try_collect().await?;
    let sizes: Vec<u64> = stream::iter(objects)
        .map(|m| {
            let s3 = s3.clone();
            let dest = dir.join(m.location.filename().unwrap_or("object"));
            async move {
                let mut body = s3.get(&m.location).await?.into_stream();
                let mut f = std::fs::File::create(dest)?;
                let mut n = 0u64;
                while let Some(piece) = body.next().await {
                    let piece = piece?;
                    std::io::Write::write_all(&mut f, &piece)?;
                    n += piece.len() as u64;
                }
                if sync {
                    f.sync_all()?;
                }
                Res::Ok(n)
            }
        })
        .buffer_unordered(FILES_AT_ONCE)
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}

/// Writes a key twice with `If-None-Match: *` and once with a wrong `If-Match`, and says
/// whether the store refused them as it should.
async fn probe(url: &str) -> Res<()> {
    use object_store::{PutMode, PutOptions, UpdateVersion};
    let (s3, prefix) = store(url)?;
    let key = Key::from(format!("{prefix}/probe-{}", std::process::id()));
    let create = || PutOptions::from(PutMode::Create);
    s3.put_opts(&key, b"one".to_vec().into(), create()).await?;
    let second = s3.put_opts(&key, b"two".to_vec().into(), create()).await;
    println!(
        "If-None-Match: * on an existing key: {}",
        match second {
            Err(object_store::Error::AlreadyExists { .. }) => "refused (honoured)".to_string(),
            Ok(_) => "accepted (ignored)".to_string(),
            Err(e) => format!("error: {e}"),
        }
    );
    let stale = PutMode::Update(UpdateVersion {
        e_tag: Some("\"00000000000000000000000000000000\"".into()),
        version: None,
    });
    let third = s3
        .put_opts(&key, b"three".to_vec().into(), stale.into())
        .await;
    println!(
        "If-Match: <wrong etag>: {}",
        match third {
            Err(object_store::Error::Precondition { .. }) => "refused (honoured)".to_string(),
            Ok(_) => "accepted (ignored)".to_string(),
            Err(e) => format!("error: {e}"),
        }
    );
    s3.delete(&key).await?;
    Ok(())
}
