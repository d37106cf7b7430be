//! `cairn export LAYER [PATHS] [-o FILE]`: a layer, or some of its paths, as a tar stream
//! (optionally zstd-compressed) with modes, times and symlinks, in flat memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{write_tar, TarCounts};
use crate::error::{Error, IoContext, Result};
use crate::hash::ObjectId;
use crate::progress::Progress;
use crate::read::select;
use crate::repo::Repository;
use crate::revparse;

/// What to export, and where.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The layer: an id or prefix, HEAD~N, a tag or a line.
    pub layer: String,
    /// Paths in the layer, relative to the worktree root (empty: everything).
    pub paths: Vec<Vec<u8>>,
    /// The file to write; `None`: the writer the caller gives (standard output).
    pub output: Option<PathBuf>,
    /// Compress with zstd at this level.
    pub zstd: Option<i32>,
}

/// What was exported.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ExportOutcome {
    /// The layer the reference resolved to.
    pub layer: ObjectId,
    /// The file written; null for standard output.
    pub output: Option<PathBuf>,
    /// Whether the stream is zstd-compressed.
    pub zstd: bool,
    /// Regular files in the stream.
    pub files: u64,
    /// Symbolic links in the stream.
    pub symlinks: u64,
    /// Directories in the stream.
    pub dirs: u64,
    /// Bytes of file content (before any compression).
    pub bytes: u64,
}

/// Writes the tar stream to `opts.output`, or else to `stdout`. A file is written beside
/// its name and renamed into place when complete, so a failed or killed export never
/// leaves a truncated archive under the name asked for.
pub fn export(
    repo: &Repository,
    opts: &ExportOptions,
    stdout: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<ExportOutcome> {
    let layer = revparse::resolve(repo, &opts.layer)?;
    let l = repo.read_layer(&layer)?;
    let entries = select(repo, &l.tree, &opts.paths)?;
    let write = |out: &mut dyn Write, name: &Path| -> Result<TarCounts> {
        match opts.zstd {
            Some(level) => {
                let z = zstd::Encoder::new(out, level).ctx("could not start zstd", name)?;
                let (counts, z) = write_tar(repo, &entries, l.time_ns, z, name, progress)?;
                z.finish().ctx("could not write the tar stream", name)?;
                Ok(counts)
            }
            None => write_tar(repo, &entries, l.time_ns, out, name, progress).map(|(c, _)| c),
        }
    };
    let counts = match &opts.output {
        None => {
            let name = Path::new("<stdout>");
            let mut out = BufWriter::with_capacity(1 << 20, stdout);
            let counts = write(&mut out, name)?;
            out.flush().ctx("could not write the tar stream", name)?;
            counts
        }
        Some(path) => to_file(path, |out| write(out, path))?,
    };
    Ok(ExportOutcome {
        layer,
        output: opts.output.clone(),
        zstd: opts.zstd.is_some(),
        files: counts.files,
        symlinks: counts.symlinks,
        dirs: counts.dirs,
        bytes: counts.bytes,
    })
}

/// Runs `write` on a temporary file beside `path`, then syncs it and renames it to `path`;
/// on any failure the temporary file is removed.
fn to_file<T>(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<T> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| Error::BadArgument {
        what: "the output must name a file".into(),
        path: path.to_path_buf(),
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let done = (|| {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("could not create file", path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let value = write(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io("could not write the tar stream", path)(e.into_error()))?;
        file.sync_all()
            .ctx("could not write the tar stream", path)?;
        std::fs::rename(&tmp, path).ctx("could not write file", path)?;
        Ok(value)
    })();
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}
