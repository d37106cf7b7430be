//! A deep history written straight through the library: `layers` layers over a tree of
//! `dirs` directories of `files` small files, each layer after the first changing one file
//! (and every tenth layer [`FOLLOWED`]), with a reflog entry per layer as commit writes
//! them. Every object is real (chunks, file objects, trees, layers, compressed as add and
//! commit store them), all in one data pack and one metadata pack ([`build`]), or as
//! `cairn commit` leaves them ([`build_in_packs`] with `per_layer`): each layer's objects in
//! packs of their own, small packs merged past the `gc.auto` threshold after each layer, so
//! the pack count of a long-lived repository is measured without committing 10,000 times
//! through the command line (32 minutes here, fsyncs dominating). Shared by
//! `examples/deep_history` and `tests/it/deep_history.rs`.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use cairn::hash::{Domain, HashAlgo, ObjectId};
use cairn::object::{ChunkRef, EntryKind, FileObject, Layer, LayerCounts, Tree, TreeEntry};
use cairn::pack::{compress, Encoded, ObjectKind, PackClass, PackWriter};
use cairn::reflog::{Entry, LogName};
use cairn::refs::RefKind;
use cairn::Repository;

/// The file every tenth layer changes: what `log -- PATH` follows.
pub(crate) const FOLLOWED: &str = "d000/f000.txt";

/// The shape of a history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Layers, the first holding every file.
    pub(crate) layers: usize,
    /// Top-level directories.
    pub(crate) dirs: usize,
    /// Files in each of them.
    pub(crate) files: usize,
}

/// Builds the history in the repository `repo` (freshly initialised, no layers) and puts
/// the line `main` on its newest layer. Returns the layers, oldest first. The worktree is
/// not written: `cairn reset --hard` does that.
pub(crate) fn build(repo: &Repository, shape: Shape) -> cairn::Result<Vec<ObjectId>> {
    build_in_packs(repo, shape, false)
}

/// [`build`], with `per_layer` each layer's objects in packs of their own, published before
/// the next layer is written, and small packs merged after each layer as commit merges them.
pub(crate) fn build_in_packs(
    repo: &Repository,
    shape: Shape,
    per_layer: bool,
) -> cairn::Result<Vec<ObjectId>> {
    let mut b = Builder::new(repo, shape);
    let mut layers = Vec::with_capacity(shape.layers);
    let mut parent = None;
    for n in 0..shape.layers {
        let edited = b.edit(n)?;
        let tree = b.root()?;
        let layer = Layer {
            parent,
            tree,
            time_ns: 1_767_225_600_000_000_000 + n as i64 * 60_000_000_000,
            counts: LayerCounts {
                files: (shape.dirs * shape.files) as u64,
                bytes: b.bytes,
                added: if n == 0 { edited as u64 } else { 0 },
                modified: if n == 0 { 0 } else { edited as u64 },
                deleted: 0,
            },
            author: "history <history@example.org>".into(),
            message: format!("layer {n}\n\nchanges {edited} files\n"),
        };
        let id = layer.id(b.algo);
        b.meta
            .add(id, ObjectKind::Layer, &Encoded::raw(&layer.encode()))?;
        b.log
            .push((parent, id, layer.time_ns, format!("commit: layer {n}")));
        parent = Some(id);
        layers.push(id);
        if per_layer {
            b.publish(repo)?;
        }
    }
    b.finish(repo, &layers)?;
    Ok(layers)
}

/// The content of `path` as of `version`: a few lines, so files differ by more than a byte.
pub(crate) fn content(path: &str, version: usize) -> Vec<u8> {
    format!("{path}\nversion {version}\n{}\n", "x".repeat(version % 97)).into_bytes()
}

/// The path of file `f` of directory `d`.
pub(crate) fn path_of(d: usize, f: usize) -> String {
    format!("d{d:03}/f{f:03}.txt")
}

/// The file layer `n` changes (layer 0 adds them all): [`FOLLOWED`] every tenth layer,
/// another one spread over the tree otherwise.
pub(crate) fn edited_by(shape: Shape, n: usize) -> (usize, usize) {
    let total = shape.dirs * shape.files;
    let k = if n.is_multiple_of(10) {
        0
    } else {
        1 + (n * 7919) % (total - 1)
    };
    (k / shape.files, k % shape.files)
}

struct Builder {
    algo: HashAlgo,
    level: i32,
    shape: Shape,
    /// Each file's entry, per directory.
    entries: Vec<Vec<TreeEntry>>,
    dir_ids: Vec<ObjectId>,
    bytes: u64,
    data: PackWriter,
    meta: PackWriter,
    log: Vec<(Option<ObjectId>, ObjectId, i64, String)>,
}

impl Builder {
    fn new(repo: &Repository, shape: Shape) -> Builder {
        Builder {
            algo: repo.algo(),
            level: repo.config.zstd_level(),
            shape,
            entries: vec![Vec::new(); shape.dirs],
            dir_ids: vec![ObjectId::default(); shape.dirs],
            bytes: 0,
            data: PackWriter::for_repo(repo, PackClass::Data),
            meta: PackWriter::for_repo(repo, PackClass::Meta),
            log: Vec::new(),
        }
    }

    /// Writes layer `n`'s new files and the directories they are in; returns how many.
    fn edit(&mut self, n: usize) -> cairn::Result<usize> {
        if n > 0 {
            let (d, f) = edited_by(self.shape, n);
            self.bytes -= self.entries[d][f].size;
            self.entries[d][f] = self.file(d, f, n)?;
            self.bytes += self.entries[d][f].size;
            self.dir(d)?;
            return Ok(1);
        }
        for d in 0..self.shape.dirs {
            self.entries[d] = (0..self.shape.files)
                .map(|f| self.file(d, f, 0))
                .collect::<cairn::Result<_>>()?;
            self.bytes += self.entries[d].iter().map(|e| e.size).sum::<u64>();
            self.dir(d)?;
        }
        Ok(self.shape.dirs * self.shape.files)
    }

    fn file(&mut self, d: usize, f: usize, version: usize) -> cairn::Result<TreeEntry> {
        let bytes = content(&path_of(d, f), version);
        let chunk = self.algo.hash(Domain::Chunk, &bytes);
        self.data
            .add(chunk, ObjectKind::Chunk, &compress(&bytes, self.level))?;
        let object = FileObject {
            chunks: vec![ChunkRef {
                id: chunk,
                len: bytes.len() as u32,
            }],
        };
        let id = object.id(self.algo);
        let (encoded, _) = object.encode_stored(self.algo);
        self.meta
            .add(id, ObjectKind::File, &compress(&encoded, self.level))?;
        Ok(entry(
            format!("f{f:03}.txt"),
            EntryKind::File,
            id,
            bytes.len() as u64,
        ))
    }

    fn dir(&mut self, d: usize) -> cairn::Result<()> {
        let tree = Tree {
            entries: self.entries[d].clone(),
        };
        self.dir_ids[d] = self.put(&tree)?;
        Ok(())
    }

    fn root(&mut self) -> cairn::Result<ObjectId> {
        let entries = (0..self.shape.dirs)
            .map(|d| entry(format!("d{d:03}"), EntryKind::Dir, self.dir_ids[d], 0))
            .collect();
        self.put(&Tree { entries })
    }

    fn put(&mut self, t: &Tree) -> cairn::Result<ObjectId> {
        let id = t.id(self.algo);
        self.meta
            .add(id, ObjectKind::Tree, &compress(&t.encode(), self.level))?;
        Ok(id)
    }

    /// Publishes the packs written so far and goes on in new ones, then merges small packs
    /// as a commit does after it.
    fn publish(&mut self, repo: &Repository) -> cairn::Result<()> {
        let data = PackWriter::for_repo(repo, PackClass::Data);
        std::mem::replace(&mut self.data, data).finish()?;
        let meta = PackWriter::for_repo(repo, PackClass::Meta);
        std::mem::replace(&mut self.meta, meta).finish()?;
        let locked = repo.lock(Duration::from_secs(5))?;
        cairn::pack::consolidate::auto(&locked, &cairn::NoProgress)?;
        Ok(())
    }

    /// Publishes the packs, then the reflogs and the line, as commit orders them.
    fn finish(self, repo: &Repository, layers: &[ObjectId]) -> cairn::Result<()> {
        self.data.finish()?;
        self.meta.finish()?;
        let mut text = Vec::new();
        // The last move is the line's own, logged below as it is made.
        for (old, new, time_ns, message) in &self.log[..self.log.len() - 1] {
            let e = Entry {
                old: *old,
                new: Some(*new),
                time_ns: *time_ns,
                message: message.clone(),
            };
            text.extend_from_slice(&e.encode());
        }
        for log in [LogName::Head, LogName::Line("main".into())] {
            let path = log.path(repo.dir());
            std::fs::create_dir_all(path.parent().expect("logs/ is below .cairn"))
                .map_err(|e| io_error(&path, e))?;
            let mut f = std::fs::File::create(&path).map_err(|e| io_error(&path, e))?;
            f.write_all(&text).map_err(|e| io_error(&path, e))?;
        }
        let tip = layers.last().expect("at least one layer");
        let locked = repo.lock(Duration::from_secs(5))?;
        locked.refs().set(RefKind::Line, "main", tip)?;
        Ok(())
    }
}

fn io_error(path: &Path, e: std::io::Error) -> cairn::Error {
    cairn::Error::BadArgument {
        what: format!("could not write the reflog: {e}"),
        path: path.to_path_buf(),
    }
}

fn entry(name: String, kind: EntryKind, id: ObjectId, size: u64) -> TreeEntry {
    TreeEntry {
        name: name.into_bytes(),
        kind,
        mode: if kind == EntryKind::Dir { 0 } else { 0o644 },
        size,
        mtime_ns: 1_767_225_600_000_000_000,
        id,
    }
}
