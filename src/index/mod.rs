//! The staging index: the full tracked state of the worktree, like git's index.
//!
//! File layout: `magic "CAIRNSTG" | version u32 | payload_len u64 | payload |
//! checksum 32`, where the payload is the bincode 2 encoding (standard configuration:
//! little-endian, variable-length integers) of [`PayloadRef`] and the checksum is
//! `H(Checksum, everything before it)`. The file is replaced atomically. The entries are
//! read ([`entries`]) and written ([`encode`]) by hand, each on two threads; the walk cache
//! and the cached trees go through bincode.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::{Domain, HashAlgo, ObjectId};
use crate::object::{file, ChunkRef, EntryKind, FileObject};
use crate::repo_path::RepoPath;

mod encode;
mod entries;
mod map;
mod paths;
mod tracked;

pub use map::Slice;
pub use tracked::{CachedTree, Entries, Map, TreeCache};

/// Magic bytes at the start of every staging index file.
pub const INDEX_MAGIC: &[u8; 8] = b"CAIRNSTG";
/// Version 2 added the walk cache, version 3 its racy directories, version 4 the cached
/// trees of unchanged directories, version 5 entries of one chunk without their file id
/// (the chunk's leaf gives it); versions 1 (no cache) to 4 are still read.
pub const INDEX_VERSION: u32 = 5;
const BINCODE_LIMIT: usize = 1 << 32;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<BINCODE_LIMIT>()
}

/// Stat data of a worktree file when it was staged, for the fast path of status and add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct Stat {
    /// Length in bytes.
    pub size: u64,
    /// Modification time, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Inode change time, in nanoseconds since the Unix epoch.
    pub ctime_ns: i64,
    /// Inode number: a file replaced by another of the same size and times still shows.
    pub ino: u64,
    /// The full `st_mode`, file type bits included.
    pub mode: u32,
}

impl Stat {
    /// From a `stat` buffer filled by the system (`fstatat`), equal to
    /// [`Stat::from_metadata`] of the same file.
    pub fn from_raw(st: &libc::stat) -> Stat {
        Stat {
            size: st.st_size as u64,
            mtime_ns: nanos(st.st_mtime, st.st_mtime_nsec),
            ctime_ns: nanos(st.st_ctime, st.st_ctime_nsec),
            ino: st.st_ino,
            mode: st.st_mode,
        }
    }

    /// From the metadata the standard library returns, equal to [`Stat::from_raw`] of the same
    /// file.
    pub fn from_metadata(m: &std::fs::Metadata) -> Stat {
        Stat {
            size: m.len(),
            mtime_ns: nanos(m.mtime(), m.mtime_nsec()),
            ctime_ns: nanos(m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            mode: m.mode(),
        }
    }
}

/// Seconds and nanoseconds as one count, saturating for times beyond the years 1677-2262.
fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// One tracked path.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// [`EntryKind`] as its byte: file or symlink.
    pub kind: u8,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// The worktree file's stat data when its content was staged.
    pub stat: Stat,
    /// The staged content: its file id and chunks.
    content: Content,
}

/// What an entry stages. Most files of a large tree are one chunk, and such a file's id is
/// the hash of its one merkle leaf: kept without the id, computed when asked, an entry takes
/// 88 bytes instead of 120 (32 MB less for every command that loads an index of a million
/// files), and the file keeps it the same way (FORMAT.md section 14). An empty file's id is
/// the empty root. Anything else (several chunks, or content staged under an id that is not
/// its own, which no writer makes) keeps its id and chunks in an allocation of its own.
#[derive(Debug, Clone)]
enum Content {
    One { algo: HashAlgo, chunk: ChunkRef },
    Empty { algo: HashAlgo },
    Listed(Box<Listed>),
}

#[derive(Debug, Clone)]
struct Listed {
    file_id: ObjectId,
    chunks: Vec<ChunkRef>,
}

/// The file id of empty content, hashed once per algorithm: every load compares each
/// chunkless entry with it.
fn empty_id(algo: HashAlgo) -> ObjectId {
    static IDS: [OnceLock<ObjectId>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = match algo {
        HashAlgo::Blake3 => 0,
        HashAlgo::Sha256 => 1,
    };
    *IDS[slot].get_or_init(|| crate::merkle::root(algo, Domain::FileNode, &[]))
}

impl Content {
    /// The content of the file object `file_id` of `chunks`, kept as compactly as it can be.
    pub(super) fn new(algo: HashAlgo, file_id: ObjectId, chunks: Vec<ChunkRef>) -> Content {
        match chunks.as_slice() {
            [c] if file::leaf(algo, c, 0) == file_id => Content::One { algo, chunk: *c },
            [] if file_id == empty_id(algo) => Content::Empty { algo },
            _ => Content::listed(file_id, chunks),
        }
    }

    fn listed(file_id: ObjectId, chunks: Vec<ChunkRef>) -> Content {
        Content::Listed(Box::new(Listed { file_id, chunks }))
    }
}

impl PartialEq for IndexEntry {
    /// The same kind, mode, stat data, file id and chunks, however they are kept.
    fn eq(&self, other: &IndexEntry) -> bool {
        self.kind == other.kind
            && self.mode == other.mode
            && self.stat == other.stat
            && self.same_content(other)
    }
}

impl Eq for IndexEntry {}

impl IndexEntry {
    /// An entry staging the file object `file_id`, whose chunks are `chunks`.
    pub fn new(
        kind: u8,
        mode: u32,
        stat: Stat,
        algo: HashAlgo,
        file_id: ObjectId,
        chunks: Vec<ChunkRef>,
    ) -> IndexEntry {
        IndexEntry {
            kind,
            mode,
            stat,
            content: Content::new(algo, file_id, chunks),
        }
    }

    /// An entry staging the content of `chunks`, its file id computed from them.
    pub fn of_chunks(
        kind: u8,
        mode: u32,
        stat: Stat,
        algo: HashAlgo,
        chunks: Vec<ChunkRef>,
    ) -> IndexEntry {
        let content = match chunks.as_slice() {
            [chunk] => Content::One {
                algo,
                chunk: *chunk,
            },
            [] => Content::Empty { algo },
            _ => {
                let file = FileObject { chunks };
                Content::listed(file.id(algo), file.chunks)
            }
        };
        IndexEntry {
            kind,
            mode,
            stat,
            content,
        }
    }

    /// The entry's kind, reading an unknown byte as a file.
    pub fn kind(&self) -> EntryKind {
        EntryKind::from_u8(self.kind).unwrap_or(EntryKind::File)
    }

    /// The staged content's file id.
    pub fn file_id(&self) -> ObjectId {
        match &self.content {
            Content::One { algo, chunk } => file::leaf(*algo, chunk, 0),
            Content::Empty { algo } => empty_id(*algo),
            Content::Listed(l) => l.file_id,
        }
    }

    /// The staged content's chunks in file order: its file object.
    pub fn chunks(&self) -> &[ChunkRef] {
        match &self.content {
            Content::One { chunk, .. } => std::slice::from_ref(chunk),
            Content::Empty { .. } => &[],
            Content::Listed(l) => &l.chunks,
        }
    }

    /// Whether the two entries stage the same content (their kinds and modes aside),
    /// without computing file ids where the chunks tell.
    pub fn same_content(&self, other: &IndexEntry) -> bool {
        match (&self.content, &other.content) {
            (Content::One { algo, chunk }, Content::One { algo: a, chunk: c }) => {
                algo == a && chunk == c
            }
            _ => self.file_id() == other.file_id() && self.chunks() == other.chunks(),
        }
    }

    /// The entry of a layer's file or symlink `e` (with its chunks) staged without being
    /// written to the worktree (`reset`, an unstage). Its stat data is unknown but for the
    /// size, so status compares a worktree file of another size as modified and reads one
    /// of the same size to compare its content: a stale stat can hide nothing.
    pub fn from_layer(
        algo: HashAlgo,
        e: &crate::object::TreeEntry,
        chunks: Vec<ChunkRef>,
    ) -> IndexEntry {
        let stat = Stat {
            size: e.size,
            ..Stat::default()
        };
        IndexEntry::new(e.kind as u8, e.mode, stat, algo, e.id, chunks)
    }

    /// Whether this entry stages exactly the layer entry `e` (content, kind and mode).
    pub fn stages(&self, e: &crate::object::TreeEntry) -> bool {
        self.kind == e.kind as u8 && self.mode == e.mode && self.file_id() == e.id
    }

    /// The staged content as a file object.
    pub fn file_object(&self) -> FileObject {
        FileObject {
            chunks: self.chunks().to_vec(),
        }
    }
}

/// What the last full walk of the worktree found, so that status can skip walking when no
/// directory changed (git's "untracked cache"). Adding or removing a name changes its
/// directory's mtime; editing an ignore file changes that file's stat data.
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct WalkCache {
    /// Every directory the walk entered (`""` is the root), with its stat data.
    pub dirs: Vec<(Vec<u8>, Stat)>,
    /// The ignore files the walk saw, with their stat data.
    pub ignore_files: Vec<(Vec<u8>, Stat)>,
    /// Files the walk found that the index did not track, sorted.
    pub untracked: Vec<Vec<u8>>,
    /// Directories of `dirs` modified so shortly before the walk that a further change might
    /// not show in their mtime: status lists them again instead of trusting the cache. Sorted.
    pub racy: Vec<Vec<u8>>,
}

impl WalkCache {
    /// Whether the walk entered the directory `dir` (`""` is the root).
    pub fn has_dir(&self, dir: &[u8]) -> bool {
        self.dirs
            .binary_search_by(|(p, _)| p.as_slice().cmp(dir))
            .is_ok()
    }
}

/// The walk cache of version 2, which had no racy directories.
#[derive(bincode::Decode)]
struct WalkCacheV2 {
    dirs: Vec<(Vec<u8>, Stat)>,
    ignore_files: Vec<(Vec<u8>, Stat)>,
    untracked: Vec<Vec<u8>>,
}

/// The payload after the entries, by version.
#[derive(bincode::Decode)]
struct TailV2 {
    walk_cache: Option<WalkCacheV2>,
}

#[derive(bincode::Decode)]
struct TailV3 {
    walk_cache: Option<WalkCache>,
}

#[derive(bincode::Decode)]
struct Tail {
    walk_cache: Option<WalkCache>,
    trees: Vec<(Vec<u8>, CachedTree)>,
}

struct Payload {
    /// The tree this index equals, when known (after commit or checkout, before any change).
    base_tree: Option<ObjectId>,
    entries: Entries,
    walk_cache: Option<WalkCache>,
    /// The file's trailing checksum, verified.
    checksum: ObjectId,
}

/// [`Tail`] by reference, for encoding without copying the cached trees.
#[derive(bincode::Encode)]
struct TailRef<'a> {
    walk_cache: &'a Option<WalkCache>,
    trees: Pairs<'a, Vec<u8>, CachedTree, TreeCache>,
}

/// A map encoded as bincode encodes a `Vec` of its pairs, without collecting them.
struct Pairs<'a, K, V, M>(&'a M, std::marker::PhantomData<(K, V)>);

impl<'a, K, V, M> bincode::Encode for Pairs<'a, K, V, M>
where
    &'a M: IntoIterator<Item = (&'a K, &'a V)>,
    K: bincode::Encode + 'a,
    V: bincode::Encode + 'a,
{
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> std::result::Result<(), bincode::error::EncodeError> {
        let n = self.0.into_iter().count() as u64;
        n.encode(e)?;
        for (k, v) in self.0 {
            k.encode(e)?;
            v.encode(e)?;
        }
        Ok(())
    }
}

/// The staging index in memory. Paths are raw bytes relative to the worktree, `/`-separated,
/// kept sorted.
#[derive(Debug, Default)]
pub struct StagingIndex {
    /// Fx hashing: paths come from the user's own worktree, and SipHash was a tenth of status.
    /// Read like a map; every change forgets the cached trees above it.
    pub entries: Entries,
    /// The tree this index equals, when known (after commit or checkout, before any change); `None`
    /// once anything is staged.
    pub base_tree: Option<ObjectId>,
    /// The last full walk's findings; `None` when unknown or stale.
    pub walk_cache: Option<WalkCache>,
    /// Modification time of the index file when loaded: entries modified at or after it are
    /// "racy" and must be re-hashed, since a change within the timestamp granularity would
    /// not show in their stat data.
    pub loaded_mtime_ns: Option<i64>,
    /// The trailing checksum of the file last loaded or saved: see [`StagingIndex::checksum`].
    checksum: Option<ObjectId>,
}

impl StagingIndex {
    /// Reads the index at `path`; an empty index when there is no file yet, [`Error::Corrupt`] when
    /// its checksum or encoding is bad.
    pub fn load(path: &Path, algo: HashAlgo) -> Result<StagingIndex> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StagingIndex::default())
            }
            Err(e) => return Err(Error::io("could not read the staging index", path)(e)),
        };
        // The racy check needs the mtime of the very file that was read, not of a newer one
        // renamed into place meanwhile: stat the open handle.
        let meta = file
            .metadata()
            .ctx("could not read the staging index", path)?;
        let payload = match decode(&mut file, meta.len(), algo) {
            Ok(p) => p,
            Err(Refused::Io(e)) => {
                return Err(Error::io("could not read the staging index", path)(e))
            }
            Err(Refused::Bad(d)) => return Err(Error::corrupt("staging index", path, d)),
        };
        Ok(StagingIndex {
            entries: payload.entries,
            base_tree: payload.base_tree,
            walk_cache: payload.walk_cache,
            loaded_mtime_ns: Some(Stat::from_metadata(&meta).mtime_ns),
            checksum: Some(payload.checksum),
        })
    }

    /// The trailing checksum of the index file this index was loaded from or last saved to;
    /// `None` for an index never read from or written to a file. It names the file's exact
    /// bytes, so state kept beside the index (a file-system monitor's) can be bound to it.
    /// Changes made in memory since do not change it.
    pub fn checksum(&self) -> Option<ObjectId> {
        self.checksum
    }

    /// A copy of the tracked entries (and their cached trees), with no base tree, walk
    /// cache or checksum: a view to change in memory, never saved over the index.
    pub fn view(&self) -> StagingIndex {
        StagingIndex {
            entries: self.entries.clone(),
            loaded_mtime_ns: self.loaded_mtime_ns,
            ..StagingIndex::default()
        }
    }

    /// Writes the index to `path` atomically (through `tmp_dir`), its entries in path order;
    /// the entries in memory stay in their order. The file is streamed: a million entries are
    /// never held twice in memory.
    pub fn save(&mut self, path: &Path, tmp_dir: &Path, algo: HashAlgo) -> Result<()> {
        let mut checksum = None;
        fsutil::write_atomic_with(tmp_dir, path, |f| {
            checksum = Some(write_to(self, algo, f)?);
            Ok(())
        })?;
        self.checksum = checksum;
        Ok(())
    }

    /// True when the entry's stat data might not reveal a change.
    pub fn is_racy(&self, e: &IndexEntry) -> bool {
        self.loaded_mtime_ns.is_none_or(|t| e.stat.mtime_ns >= t)
    }

    /// The tracked files standing where `p` needs a directory (a file `a` for a path `a/b`),
    /// nearest first.
    pub fn files_above<'a>(&'a self, p: &'a RepoPath) -> impl Iterator<Item = &'a RepoPath> + 'a {
        p.ancestors()
            .filter(|d| self.entries.contains_key(d.as_bytes()))
    }

    /// Entries at `prefix` or below it (`prefix` empty: all).
    pub fn under<'a>(
        &'a self,
        prefix: &'a RepoPath,
    ) -> impl Iterator<Item = (&'a [u8], &'a IndexEntry)> + 'a {
        self.entries
            .iter()
            .filter(move |(p, _)| RepoPath::new(p).is_under(prefix))
    }
}

/// Writes the index file and returns its checksum: one pass counts the payload's bytes (its
/// length comes first), one encodes them while another thread hashes and writes them.
fn write_to(
    index: &StagingIndex,
    algo: HashAlgo,
    f: &mut std::fs::File,
) -> std::io::Result<ObjectId> {
    let order = (!index.entries.is_sorted()).then(|| index.entries.sorted_order());
    let head = encode::Head {
        base_tree: &index.base_tree,
        entries: &index.entries,
        order: order.as_deref(),
    };
    let tail = TailRef {
        walk_cache: &index.walk_cache,
        trees: Pairs(index.entries.trees(), std::marker::PhantomData),
    };
    let tail = bincode::encode_to_vec(tail, bincode_config()).map_err(io_err)?;
    let len = (head.len() + tail.len()) as u64;
    let start = [
        &INDEX_MAGIC[..],
        &INDEX_VERSION.to_le_bytes(),
        &len.to_le_bytes(),
    ]
    .concat();
    let mut sum = algo.hasher(Domain::Checksum);
    head.write(&start, &tail, f, &mut sum)?;
    let checksum = sum.finish();
    f.write_all(checksum.as_bytes())?;
    Ok(checksum)
}

fn io_err(e: bincode::error::EncodeError) -> std::io::Error {
    match e {
        bincode::error::EncodeError::Io { inner, .. } => inner,
        other => std::io::Error::other(other.to_string()),
    }
}

/// Why an index file was not read: it could not be, or it is not a valid index.
enum Refused {
    Io(std::io::Error),
    Bad(String),
}

impl From<String> for Refused {
    fn from(s: String) -> Refused {
        Refused::Bad(s)
    }
}

/// Reads an index file of `file_len` bytes from `f`. The payload is decoded as it is read
/// and hashed on the way; a damaged file is reported as a checksum mismatch, whatever its
/// damage made the decoder find first.
fn decode(
    f: &mut dyn Read,
    file_len: u64,
    algo: HashAlgo,
) -> std::result::Result<Payload, Refused> {
    let mut head = [0u8; 20];
    if file_len < 52 || f.read_exact(&mut head).is_err() || &head[..8] != INDEX_MAGIC {
        return Err(Refused::Bad("not a cairn staging index".into()));
    }
    let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if !(1..=INDEX_VERSION).contains(&version) {
        return Err(Refused::Bad(format!(
            "unsupported staging index version {version}"
        )));
    }
    let len = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
    if len != file_len - 52 {
        return Err(Refused::Bad("length does not match the file".into()));
    }
    let mut sum = algo.hasher(Domain::Checksum);
    sum.update(&head);
    let mut src = entries::Source::new(f, len, sum);
    let decoded = decode_payload(&mut src, version, algo);
    let ours = src.finish().map_err(Refused::Io)?;
    let mut theirs = [0u8; 32];
    f.read_exact(&mut theirs).map_err(Refused::Io)?;
    if ours.as_bytes() != &theirs {
        return Err(Refused::Bad("checksum does not match".into()));
    }
    let (base_tree, entries, walk_cache) = decoded?;
    Ok(Payload {
        base_tree,
        entries,
        walk_cache,
        checksum: ours,
    })
}

/// The decoded payload: base tree, entries (with their cached trees) and walk cache.
type Decoded = (Option<ObjectId>, Entries, Option<WalkCache>);

fn decode_payload(
    src: &mut entries::Source,
    version: u32,
    algo: HashAlgo,
) -> std::result::Result<Decoded, String> {
    let (base_tree, entries) = entries::read(src, version, algo)?;
    let rest = src.rest()?;
    let (tail, used) = decode_tail(version, &rest).map_err(|e| e.to_string())?;
    if used != rest.len() {
        return Err("trailing bytes after the entries".into());
    }
    let trees = check_trees(tail.trees)?;
    Ok((
        base_tree,
        Entries::from_sorted(entries, trees),
        tail.walk_cache,
    ))
}

/// The cached trees as the file lists them: directory paths (or `""`, the root), strictly
/// sorted. Whether each still fits the entries is checked where it is used.
fn check_trees(trees: Vec<(Vec<u8>, CachedTree)>) -> std::result::Result<TreeCache, String> {
    if trees.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err("cached trees are not strictly sorted".into());
    }
    if let Some((p, _)) = trees
        .iter()
        .find(|(p, _)| !p.is_empty() && !RepoPath::new(p).is_valid())
    {
        return Err(format!(
            "invalid cached tree path {:?}",
            String::from_utf8_lossy(p)
        ));
    }
    Ok(trees.into_iter().collect())
}

/// The walk cache of any version (none in version 1) and the cached trees (none before
/// version 4), as the current tail, and the bytes they took.
fn decode_tail(
    version: u32,
    b: &[u8],
) -> std::result::Result<(Tail, usize), bincode::error::DecodeError> {
    let no_trees = |walk_cache| Tail {
        walk_cache,
        trees: Vec::new(),
    };
    Ok(match version {
        1 => (no_trees(None), 0),
        2 => {
            let (tail, used): (TailV2, usize) = decode_bounded(b)?;
            let walk_cache = tail.walk_cache.map(|c| WalkCache {
                dirs: c.dirs,
                ignore_files: c.ignore_files,
                untracked: c.untracked,
                racy: Vec::new(),
            });
            (no_trees(walk_cache), used)
        }
        3 => {
            let (tail, used): (TailV3, usize) = decode_bounded(b)?;
            (no_trees(tail.walk_cache), used)
        }
        _ => decode_bounded(b)?,
    })
}

/// Decodes a bincode payload with a limit in proportion to its size. bincode reserves what
/// a length prefix claims before it reads the elements, up to its limit: with a flat 4 GiB
/// limit, a few hostile bytes could make it reserve gigabytes. Decoded, a valid payload
/// takes at most 25 times its encoded size (the extreme: a list of empty paths, one byte
/// each encoded, 24 in memory; an entry of at least 42 bytes takes 128), so the smallest of
/// these limits above 32 times the size never refuses a valid index, and a hostile one gets
/// at most 128 times its size.
fn decode_bounded<T: bincode::Decode<()>>(
    b: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    fn limited<T: bincode::Decode<()>, const L: usize>(
        b: &[u8],
    ) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
        bincode::decode_from_slice(b, bincode::config::standard().with_limit::<L>())
    }
    match b.len().saturating_mul(32).saturating_add(1 << 16) {
        n if n <= 1 << 18 => limited::<T, { 1 << 18 }>(b),
        n if n <= 1 << 20 => limited::<T, { 1 << 20 }>(b),
        n if n <= 1 << 22 => limited::<T, { 1 << 22 }>(b),
        n if n <= 1 << 24 => limited::<T, { 1 << 24 }>(b),
        n if n <= 1 << 26 => limited::<T, { 1 << 26 }>(b),
        n if n <= 1 << 28 => limited::<T, { 1 << 28 }>(b),
        n if n <= 1 << 30 => limited::<T, { 1 << 30 }>(b),
        _ => limited::<T, BINCODE_LIMIT>(b),
    }
}

/// The index's path inside `.cairn`.
pub fn index_path(cairn_dir: &Path) -> PathBuf {
    cairn_dir.join("index")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file's entry, distinct for each `n`; the tests of the map and of the tracked
    /// entries use it too.
    pub(super) fn entry(n: u8) -> IndexEntry {
        IndexEntry {
            kind: EntryKind::File as u8,
            mode: 0o644,
            stat: Stat {
                size: u64::from(n),
                mtime_ns: 5,
                ctime_ns: 6,
                ino: 7,
                mode: 0o100644,
            },
            content: Content::listed(
                ObjectId([n; 32]),
                vec![ChunkRef {
                    id: ObjectId([n; 32]),
                    len: u32::from(n) + 1,
                }],
            ),
        }
    }

    #[test]
    fn round_trip_and_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut idx = StagingIndex::default();
        idx.entries.insert(b"b/c", entry(2));
        idx.entries.insert(b"a", entry(1));
        idx.base_tree = Some(ObjectId([9; 32]));
        idx.save(&p, dir.path(), HashAlgo::Blake3).unwrap();
        let back = StagingIndex::load(&p, HashAlgo::Blake3).unwrap();
        assert_eq!(
            back.entries.keys().collect::<Vec<_>>(),
            vec![&b"a"[..], &b"b/c"[..]]
        );
        assert_eq!(back.entries[&b"b/c".to_vec()], entry(2));
        assert_eq!(back.base_tree, Some(ObjectId([9; 32])));
        // Loaded with room: staging a new path does not grow (copy) the map.
        let mut back = back;
        let room = back.entries.capacity();
        assert!(room > back.entries.len());
        back.entries.insert(b"c", entry(3));
        assert_eq!(back.entries.capacity(), room);

        let mut bytes = std::fs::read(&p).unwrap();
        bytes[30] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert!(StagingIndex::load(&p, HashAlgo::Blake3).is_err());
    }

    /// Content is kept as compactly as it can be, its file id computed where it is not
    /// kept, and entries are equal however their content is kept.
    #[test]
    fn content_is_kept_compactly() {
        for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
            let c = |n: u8| ChunkRef {
                id: algo.hash(Domain::Chunk, &[n]),
                len: u32::from(n) + 1,
            };
            let file = |chunks: &[ChunkRef]| FileObject {
                chunks: chunks.to_vec(),
            };
            let of = |chunks: &[ChunkRef]| {
                IndexEntry::of_chunks(1, 0o644, Stat::default(), algo, chunks.to_vec())
            };
            let given = |id: ObjectId, chunks: &[ChunkRef]| {
                IndexEntry::new(1, 0o644, Stat::default(), algo, id, chunks.to_vec())
            };
            for chunks in [&[][..], &[c(1)], &[c(1), c(2)], &[c(3), c(2), c(1)]] {
                let e = of(chunks);
                assert_eq!(e.file_id(), file(chunks).id(algo), "{chunks:?}");
                assert_eq!(e.chunks(), chunks);
                let inline = !matches!(e.content, Content::Listed(_));
                assert_eq!(inline, chunks.len() < 2, "{chunks:?}");
                let same = given(file(chunks).id(algo), chunks);
                assert_eq!(same, e);
                assert!(same.same_content(&e));
                assert_eq!(
                    matches!(same.content, Content::Listed(_)),
                    !inline,
                    "{chunks:?}"
                );
            }
            // An id that is not the chunks' own is kept as given, and differs.
            let odd = given(ObjectId([7; 32]), &[c(1)]);
            assert!(matches!(odd.content, Content::Listed(_)));
            assert_eq!(odd.file_id(), ObjectId([7; 32]));
            assert_eq!(odd.chunks(), &[c(1)]);
            assert_ne!(odd, of(&[c(1)]));
            assert!(!odd.same_content(&of(&[c(1)])));
            assert!(!of(&[c(1)]).same_content(&of(&[c(2)])));
            let nothing = given(ObjectId::default(), &[]);
            assert!(matches!(nothing.content, Content::Listed(_)));
            assert_ne!(nothing, of(&[]));
        }
    }

    /// What a million entries cost: the entry, its path and its place in the map. A larger
    /// entry is a few megabytes more for every million files staged.
    #[test]
    fn an_entry_stays_small() {
        assert_eq!(std::mem::size_of::<Content>(), 40);
        assert_eq!(std::mem::size_of::<IndexEntry>(), 88);
    }

    /// Writes `payload` as a checksummed index of `version` and returns the load error.
    fn load_error(p: &std::path::Path, version: u32, payload: &[u8]) -> String {
        let mut b = INDEX_MAGIC.to_vec();
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        b.extend_from_slice(payload);
        let sum = HashAlgo::Blake3.hash(Domain::Checksum, &b);
        b.extend_from_slice(sum.as_bytes());
        std::fs::write(p, &b).unwrap();
        StagingIndex::load(p, HashAlgo::Blake3)
            .unwrap_err()
            .to_string()
    }

    /// A payload whose length prefixes claim more than the file holds is refused before
    /// anything of that size is reserved, not after a short read.
    #[test]
    fn hostile_lengths_reserve_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        // 2^26 chunk refs, 2.4 GB reserved: the file id then the count before version 5,
        // the count plus one then the file id since.
        let entry = |version| {
            let mut entry = vec![0, 1, 1, b'a', 1, 0, 0, 0, 0, 0, 0];
            let (id, count) = ([1; 32], [252, 0, 0, 0, 4]);
            match version {
                ..=4 => entry.extend_from_slice(&[&id[..], &count].concat()),
                _ => entry.extend_from_slice(&[&[252, 1, 0, 0, 4][..], &id].concat()),
            }
            entry
        };
        for version in 1..=INDEX_VERSION {
            let entry = entry(version);
            let payloads: [&[u8]; 3] = [
                &[0, 252, 0, 0, 0, 1],                      // 2^24 entries: 2 GiB reserved
                &[0, 1, 252, 0xff, 0xff, 0xff, 0xff, b'a'], // a path of 2^32 - 1 bytes
                &entry,
            ];
            for payload in payloads {
                let err = load_error(&p, version, payload);
                assert!(
                    err.contains("exceeds what the payload holds"),
                    "v{version} {payload:?}: {err}"
                );
            }
        }
    }

    #[test]
    fn a_repeated_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut entry = vec![1, b'a', 1, 0, 0, 0, 0, 0, 0];
        entry.extend_from_slice(&[1; 1]); // no chunks: a file id follows
        entry.extend_from_slice(&[0; 32]);
        let payload = [&[0u8, 2][..], &entry, &entry, &[0]].concat();
        let err = load_error(&dir.path().join("index"), INDEX_VERSION, &payload);
        assert!(err.contains("appears twice"), "{err}");
    }

    /// Found by the staging_index fuzz target when the limit was a flat 4 GiB: a walk cache
    /// entry whose path claims 770 MiB made bincode reserve that much. Under the limit in
    /// proportion to the payload's size, it claims less than the limit and fails as a short
    /// read, having reserved at most 256 KiB.
    #[test]
    fn hostile_walk_cache_path() {
        let dir = tempfile::tempdir().unwrap();
        let payload: &[u8] = &[
            0, 0, 1, 4, 0, 3, 0, 0, 0, 0, 0, 0, 0x3f, 0x2e, 0x82, 0, 0x47, 2, 0x1f, 0x2e, 0xb8,
            0x35, 0x97, 0x11, 0xfc, 0xc4, 0x9f, 2, 0xff, 1, 0xfb, 0xa4, 1, 0xa, 0x9a, 0xb, 4, 0xfc,
            1, 1, 0x24, 0x30,
        ];
        let err = load_error(&dir.path().join("index"), 2, payload);
        assert!(err.contains("damaged staging index"), "{err}");
    }

    /// An index of several batches and blocks, so that decoding and building the map, and
    /// encoding and writing, each run on two threads.
    fn large_index(n: u32) -> StagingIndex {
        let mut idx = StagingIndex::default();
        for i in 0..n {
            let path = format!("d{:02}/f{i:05}", i % 50).into_bytes();
            idx.entries.insert(path, entry((i % 251) as u8));
        }
        idx
    }

    /// The checksum names the file's trailing bytes, loaded or saved; a new index has none.
    #[test]
    fn checksum_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut idx = large_index(20_000);
        assert_eq!(idx.checksum(), None);
        idx.save(&p, dir.path(), HashAlgo::Blake3).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.len() > 1 << 20, "several blocks: {}", bytes.len());
        let trailer = ObjectId::from_slice(&bytes[bytes.len() - 32..]);
        assert_eq!(idx.checksum(), trailer);
        let back = StagingIndex::load(&p, HashAlgo::Blake3).unwrap();
        assert_eq!(back.checksum(), trailer);
        assert_eq!(back.entries.len(), 20_000);
        assert!(
            !idx.entries.is_sorted(),
            "inserted out of order, and left so"
        );
        let in_order = idx.entries.sorted_order();
        let sorted = in_order
            .iter()
            .map(|&at| idx.entries.get_index(at as usize).unwrap());
        assert!(
            back.entries.iter().eq(sorted),
            "the same entries, in path order"
        );
        // Written through the order, the file is the one the sorted map writes.
        let mut moved = idx.view();
        moved.entries.sort();
        let q = dir.path().join("sorted");
        moved.save(&q, dir.path(), HashAlgo::Blake3).unwrap();
        assert!(std::fs::read(&q).unwrap() == bytes);
        assert_eq!(back.view().checksum(), None, "a view is never a file");
        idx.entries.insert(b"zz", entry(1));
        idx.save(&p, dir.path(), HashAlgo::Blake3).unwrap();
        assert_ne!(idx.checksum(), trailer);
    }

    /// A flipped bit anywhere, or a file cut anywhere, is a damaged index, whichever thread
    /// of the load meets the damage first.
    #[test]
    fn damage_anywhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        large_index(20_000)
            .save(&p, dir.path(), HashAlgo::Blake3)
            .unwrap();
        let good = std::fs::read(&p).unwrap();
        let len = good.len();
        let mut spots: Vec<usize> = (0..40).map(|k| k * (len / 40) + k % 7).collect();
        spots.extend([0, 8, 12, 19, 20, 21, len - 33, len - 32, len - 1]);
        for at in spots {
            let mut bad = good.clone();
            bad[at] ^= 1 << (at % 8);
            std::fs::write(&p, &bad).unwrap();
            let err = StagingIndex::load(&p, HashAlgo::Blake3).unwrap_err();
            assert!(
                err.to_string().contains("staging index"),
                "bit at {at}: {err}"
            );
        }
        for cut in [0, 19, 52, 4096, len / 2, len - 33, len - 1] {
            std::fs::write(&p, &good[..cut]).unwrap();
            let err = StagingIndex::load(&p, HashAlgo::Blake3).unwrap_err();
            assert!(
                err.to_string().contains("staging index"),
                "cut at {cut}: {err}"
            );
        }
    }

    /// The payload of `entries` in the map's own order, which need not be sorted.
    fn payload_of(entries: &tracked::Map) -> Vec<u8> {
        let head = encode::Head {
            base_tree: &None,
            entries,
            order: None,
        };
        let mut out = Vec::new();
        let mut sum = HashAlgo::Blake3.hasher(Domain::Checksum);
        head.write(&[], &[0, 0], &mut out, &mut sum).unwrap();
        assert_eq!(out.len(), head.len() + 2);
        out
    }

    /// A checksummed file whose paths break the rules far into the entries (in a later
    /// batch than the first) is refused, with what is wrong.
    #[test]
    fn bad_paths_deep_in_a_large_index() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut good = large_index(10_000);
        good.entries.sort();
        let cases: [(&[u8], &str); 3] = [
            (b"a", "not strictly sorted"),
            (b"d49/f09999/x", "below a tracked file"),
            (b"zz/../x", "invalid path"),
        ];
        for (extra, want) in cases {
            let mut map = (*good.entries).clone();
            map.insert(extra, entry(1));
            map.insert(b"zzz", entry(2));
            let err = load_error(&p, INDEX_VERSION, &payload_of(&map));
            assert!(err.contains(want), "{extra:?}: {err}");
        }
        let mut map = (*good.entries).clone();
        map.insert(
            b"zzz",
            IndexEntry {
                kind: 2,
                ..entry(1)
            },
        );
        let err = load_error(&p, INDEX_VERSION, &payload_of(&map));
        assert!(err.contains("invalid kind"), "{err}");
        let cut = payload_of(&good.entries);
        let err = load_error(&p, INDEX_VERSION, &cut[..cut.len() - 1]);
        assert!(err.contains("damaged staging index"), "{err}");
    }

    #[test]
    fn under_prefix() {
        let is_under = |p: &[u8], dir: &[u8]| RepoPath::new(p).is_under(RepoPath::new(dir));
        assert!(is_under(b"a/b", b"a"));
        assert!(is_under(b"a", b"a"));
        assert!(!is_under(b"ab", b"a"));
        assert!(is_under(b"x", b""));
    }
}
