//! Finding renames and copies in a list of changes, without reading file content.
//!
//! A path deleted and another added with the same file id is a rename (similarity 100),
//! paired through a hash map. What is left is compared by shared chunks: a file object
//! lists its chunks with their lengths, so the similarity of two versions is the bytes of
//! the chunks they share over the larger size, found through a map from chunk id to the
//! candidate sources that hold it. A large file edited in place keeps most of its chunks
//! (content-defined cuts move only near the edit), so it is found as a rename or copy at
//! the cost of reading two chunk lists. A file of one chunk changes it whole on any edit,
//! so small files (up to [`LINES_MAX`]) that are still unpaired are compared by the bytes of
//! the lines they share, as git does.

use std::collections::HashMap;

use crate::diff::{Change, ChangeKind, Side};
use crate::error::Result;
use crate::hash::ObjectId;
use crate::object::{ChunkRef, EntryKind};
use crate::repo::Repository;
use crate::repo_path::RepoPath;

/// How renames and copies are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenameOptions {
    /// Look at all (`--no-renames` turns it off).
    pub enabled: bool,
    /// The least similarity, in percent, for a pair to count (`-M50%` is git's default).
    pub threshold: u8,
    /// Also look for copies: added files whose content came from a file that is still
    /// there and was modified (git's `-C`).
    pub copies: bool,
    /// Compare by shared chunks only when at most this many added files and this many
    /// sources are left unpaired (git's `diff.renameLimit`); exact renames are always found.
    pub limit: usize,
}

impl Default for RenameOptions {
    fn default() -> RenameOptions {
        RenameOptions {
            enabled: true,
            threshold: 50,
            copies: false,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// The default of [`RenameOptions::limit`]: git's `diff.renameLimit` is 1,000 for the
/// content comparison it must read files for; comparing chunk lists costs far less.
pub const DEFAULT_LIMIT: usize = 10_000;

/// Where the chunk lists of file ids come from: files staged or hashed in memory first,
/// then the store.
pub trait ChunkLists: Sync {
    /// The chunks of file `id`.
    fn chunks(&self, id: &ObjectId) -> Result<Vec<ChunkRef>>;

    /// The content of file `id`, when its chunks are at hand (`None`: not available, such
    /// as a worktree file only hashed); small files are compared by their lines.
    fn content(&self, id: &ObjectId) -> Result<Option<Vec<u8>>> {
        let _ = id;
        Ok(None)
    }
}

/// The store, with chunk lists known in memory (index entries) looked up first.
pub struct StoreLists<'a> {
    /// The repository the other ids are read from.
    pub repo: &'a Repository,
    /// Chunk lists by file id, not necessarily in the store.
    pub known: HashMap<ObjectId, &'a [ChunkRef]>,
}

impl ChunkLists for StoreLists<'_> {
    fn chunks(&self, id: &ObjectId) -> Result<Vec<ChunkRef>> {
        match self.known.get(id) {
            Some(c) => Ok(c.to_vec()),
            None => Ok(self.repo.read_file(id)?.chunks),
        }
    }

    fn content(&self, id: &ObjectId) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        for c in self.chunks(id)? {
            match self.repo.read_chunk(&c.id) {
                Ok(data) => out.extend_from_slice(&data),
                // Hashed but not stored (a worktree file): not compared.
                Err(crate::error::Error::MissingObject { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some(out))
    }
}

/// The changes with renames and copies found, and whether the chunk comparison was
/// skipped because there were more candidates than the limit.
#[derive(Debug)]
pub struct Detected {
    /// Sorted by (new) path; a rename replaces its deletion and its addition.
    pub changes: Vec<Change>,
    /// More unpaired files than [`RenameOptions::limit`]: only exact renames were found.
    pub limit_exceeded: bool,
}

/// Finds renames (and copies, when asked) among `changes` (sorted by path).
pub fn detect(
    changes: Vec<Change>,
    opts: &RenameOptions,
    lists: &dyn ChunkLists,
) -> Result<Detected> {
    let mut d = Detected {
        changes,
        limit_exceeded: false,
    };
    if !opts.enabled {
        return Ok(d);
    }
    let mut pairs = exact(&d.changes, opts.copies);
    let (more, exceeded) = by_chunks(&d.changes, &pairs, opts, lists)?;
    pairs.extend(more);
    let (more, too_many) = by_lines(&d.changes, &pairs, opts, lists)?;
    pairs.extend(more);
    d.limit_exceeded = exceeded || too_many;
    d.changes = apply(d.changes, &pairs);
    Ok(d)
}

/// A source (by index into the changes) paired with an addition.
#[derive(Debug, Clone, Copy)]
struct Pair {
    source: usize,
    added: usize,
    similarity: u8,
    copy: bool,
}

fn is_content(s: &Side) -> bool {
    s.kind != EntryKind::Dir
}

/// Indexes of the changes of `kind`, with their side.
fn of_kind(changes: &[Change], kind: ChangeKind) -> impl Iterator<Item = (usize, Side)> + '_ {
    changes.iter().enumerate().filter_map(move |(i, c)| {
        let side = if kind == ChangeKind::Added {
            c.new
        } else {
            c.old
        };
        (c.kind == kind)
            .then_some(side?)
            .filter(is_content)
            .map(|s| (i, s))
    })
}

/// Pairs by equal file id and kind: deletions first (renames), then, with `copies`, the
/// old sides of modified files. Among equal deletions, one with the same file name wins,
/// so moving a directory of identical files keeps each name with its twin. Every lookup is
/// a hash map and every deletion is taken once, so thousands of equal files (empty ones)
/// cost linear time.
fn exact(changes: &[Change], copies: bool) -> Vec<Pair> {
    type Key = (ObjectId, EntryKind);
    let mut by_name: HashMap<(Key, &[u8]), Vec<usize>> = HashMap::new();
    let mut by_id: HashMap<Key, std::collections::VecDeque<usize>> = HashMap::new();
    for (i, s) in of_kind(changes, ChangeKind::Deleted)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let key = (s.id, s.kind);
        by_name
            .entry((key, changes[i].path.file_name()))
            .or_default()
            .push(i);
        by_id.entry(key).or_default().push_front(i);
    }
    let mut modified: HashMap<Key, usize> = HashMap::new();
    if copies {
        for (i, s) in of_kind(changes, ChangeKind::Modified) {
            modified.entry((s.id, s.kind)).or_insert(i);
        }
    }
    let mut taken = vec![false; changes.len()];
    let mut pairs = Vec::new();
    for (a, s) in of_kind(changes, ChangeKind::Added) {
        let key = (s.id, s.kind);
        let named = by_name.get_mut(&(key, changes[a].path.file_name()));
        let source = named
            .and_then(|l| pop_free(l, &taken))
            .or_else(|| by_id.get_mut(&key).and_then(|q| pop_front_free(q, &taken)));
        if let Some(source) = source {
            taken[source] = true;
            pairs.push(Pair {
                source,
                added: a,
                similarity: 100,
                copy: false,
            });
        } else if let Some(&source) = modified.get(&key) {
            pairs.push(Pair {
                source,
                added: a,
                similarity: 100,
                copy: true,
            });
        }
    }
    pairs
}

/// The last index of `list` not yet taken (the list is in reverse path order, so this is
/// the first in path order), dropping taken ones.
fn pop_free(list: &mut Vec<usize>, taken: &[bool]) -> Option<usize> {
    while let Some(i) = list.pop() {
        if !taken[i] {
            return Some(i);
        }
    }
    None
}

/// The first index of `queue` (path order) not yet taken, dropping taken ones.
fn pop_front_free(queue: &mut std::collections::VecDeque<usize>, taken: &[bool]) -> Option<usize> {
    while let Some(i) = queue.pop_front() {
        if !taken[i] {
            return Some(i);
        }
    }
    None
}

/// The regular files no pair holds yet that `keep` accepts: additions, and sources
/// (deletions, and modified files when looking for copies).
type Unpaired = Vec<(usize, Side)>;
fn unpaired(
    changes: &[Change],
    paired: &[Pair],
    copies: bool,
    keep: impl Fn(&Change) -> bool,
) -> (Unpaired, Unpaired) {
    let mut used = vec![false; changes.len()];
    for p in paired {
        used[p.added] = true;
        used[p.source] |= !p.copy;
    }
    let files = |kind: ChangeKind| -> Unpaired {
        of_kind(changes, kind)
            .filter(|(i, s)| s.kind == EntryKind::File && !used[*i] && keep(&changes[*i]))
            .collect()
    };
    let added = files(ChangeKind::Added);
    let mut sources = files(ChangeKind::Deleted);
    if copies {
        sources.extend(files(ChangeKind::Modified));
    }
    (added, sources)
}

/// Files up to this size that no other pass paired are compared by their lines, as git
/// compares content: a small file is one chunk, which any edit changes.
pub const LINES_MAX: u64 = 1 << 20;
/// At most this many (added, source) pairs are compared by lines; past it, only what the
/// other passes found is reported (and the limit is said to be exceeded).
pub const LINE_PAIRS_MAX: usize = 100_000;

/// Pairs small files by the bytes of the lines they share, over the larger size, as git's
/// similarity. Only pairs whose sizes allow the threshold are compared.
fn by_lines(
    changes: &[Change],
    paired: &[Pair],
    opts: &RenameOptions,
    lists: &dyn ChunkLists,
) -> Result<(Vec<Pair>, bool)> {
    let small = |c: &Change| c.new_size.or(c.old_size).is_some_and(|n| n <= LINES_MAX);
    let (added, sources) = unpaired(changes, paired, opts.copies, small);
    let size = |i: usize, added: bool| {
        let c = &changes[i];
        if added { c.new_size } else { c.old_size }.unwrap_or(0)
    };
    let cap = LINE_PAIRS_MAX.min(opts.limit.saturating_mul(opts.limit));
    let mut candidates = Vec::new();
    for (ai, &(a, _)) in added.iter().enumerate() {
        for (si, &(s, _)) in sources.iter().enumerate() {
            let (x, y) = (size(a, true), size(s, false));
            if similarity(x.min(y), x, y) >= opts.threshold {
                if candidates.len() == cap {
                    return Ok((Vec::new(), true));
                }
                candidates.push((si, ai));
            }
        }
    }
    let load = |list: &Unpaired| -> Result<Vec<Option<Vec<u8>>>> {
        list.iter().map(|(_, s)| lists.content(&s.id)).collect()
    };
    let (a_data, s_data) = (load(&added)?, load(&sources)?);
    let mut scores = Vec::new();
    for (si, ai) in candidates {
        if let (Some(a), Some(s)) = (&a_data[ai], &s_data[si]) {
            let sim = similarity(shared_lines(s, a), s.len() as u64, a.len() as u64);
            if sim >= opts.threshold {
                scores.push((si, ai, sim));
            }
        }
    }
    let as_candidates = |list: &Unpaired| -> Vec<Candidate> {
        list.iter()
            .map(|&(at, _)| Candidate {
                at,
                size: 0,
                chunks: Vec::new(),
            })
            .collect()
    };
    let pairs = choose(
        changes,
        &as_candidates(&sources),
        &as_candidates(&added),
        scores,
    );
    Ok((pairs, false))
}

/// The bytes of `old`'s lines that are unchanged in `new`, by a line diff.
fn shared_lines(old: &[u8], new: &[u8]) -> u64 {
    use imara_diff::{Algorithm, Diff, InternedInput};
    let input = InternedInput::new(old, new);
    let diff = Diff::compute(Algorithm::Histogram, &input);
    input
        .before
        .iter()
        .enumerate()
        .filter(|(i, _)| !diff.is_removed(*i as u32))
        .map(|(_, t)| input.interner[*t].len() as u64)
        .sum()
}

/// One candidate for the chunk comparison: a change index, its size and chunks.
struct Candidate {
    at: usize,
    size: u64,
    chunks: Vec<ChunkRef>,
}

/// Pairs what `exact` left by shared chunk bytes. Returns the pairs and whether the limit
/// stopped the comparison.
fn by_chunks(
    changes: &[Change],
    paired: &[Pair],
    opts: &RenameOptions,
    lists: &dyn ChunkLists,
) -> Result<(Vec<Pair>, bool)> {
    // Only regular files of more than one chunk can share part of their content.
    let (added, sources) = unpaired(changes, paired, opts.copies, |_| true);
    if added.is_empty() || sources.is_empty() {
        return Ok((Vec::new(), false));
    }
    if added.len() > opts.limit || sources.len() > opts.limit {
        return Ok((Vec::new(), true));
    }
    let load = |list: Vec<(usize, Side)>| -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for (at, s) in list {
            let chunks = lists.chunks(&s.id)?;
            if chunks.len() > 1 {
                let size = chunks.iter().map(|c| u64::from(c.len)).sum();
                out.push(Candidate { at, size, chunks });
            }
        }
        Ok(out)
    };
    let sources = load(sources)?;
    let added = load(added)?;
    let scores = score(&sources, &added, opts.threshold);
    Ok((choose(changes, &sources, &added, scores), false))
}

/// Every (source, added, similarity) at or above the threshold. Shared bytes count each
/// chunk id as often as it occurs in both files, so repeated chunks (runs of zeros) are not
/// counted more often than they are really shared.
fn score(sources: &[Candidate], added: &[Candidate], threshold: u8) -> Vec<(usize, usize, u8)> {
    let mut holders: HashMap<ObjectId, Vec<(usize, u32)>> = HashMap::new();
    for (si, s) in sources.iter().enumerate() {
        for (id, n) in counts(&s.chunks) {
            holders.entry(id).or_default().push((si, n));
        }
    }
    let mut out = Vec::new();
    for (ai, a) in added.iter().enumerate() {
        let mut shared: HashMap<usize, u64> = HashMap::new();
        let lens: HashMap<ObjectId, u32> = a.chunks.iter().map(|c| (c.id, c.len)).collect();
        for (id, n) in counts(&a.chunks) {
            for &(si, m) in holders.get(&id).map_or(&[][..], Vec::as_slice) {
                *shared.entry(si).or_default() += u64::from(lens[&id]) * u64::from(n.min(m));
            }
        }
        for (si, bytes) in shared {
            let sim = similarity(bytes, sources[si].size, a.size);
            if sim >= threshold {
                out.push((si, ai, sim));
            }
        }
    }
    out
}

/// `shared` over the larger of the two sizes, in whole percent, rounded down (so 100 means
/// every byte is shared).
pub fn similarity(shared: u64, old: u64, new: u64) -> u8 {
    let max = old.max(new);
    if max == 0 {
        return 100;
    }
    (u128::from(shared.min(max)) * 100 / u128::from(max)) as u8
}

fn counts(chunks: &[ChunkRef]) -> HashMap<ObjectId, u32> {
    let mut m = HashMap::new();
    for c in chunks {
        *m.entry(c.id).or_insert(0) += 1;
    }
    m
}

/// The best pairs first (highest similarity, then path order), each added file once and
/// each deleted file once; a modified file can be the source of several copies.
fn choose(
    changes: &[Change],
    sources: &[Candidate],
    added: &[Candidate],
    mut scores: Vec<(usize, usize, u8)>,
) -> Vec<Pair> {
    let path = |i: usize| -> &RepoPath { &changes[i].path };
    scores.sort_by(|x, y| {
        y.2.cmp(&x.2)
            .then_with(|| path(added[x.1].at).cmp(path(added[y.1].at)))
            .then_with(|| path(sources[x.0].at).cmp(path(sources[y.0].at)))
    });
    let mut taken_added = vec![false; added.len()];
    let mut taken_source = vec![false; sources.len()];
    let mut out = Vec::new();
    for (si, ai, sim) in scores {
        let copy = changes[sources[si].at].kind == ChangeKind::Modified;
        if taken_added[ai] || (!copy && taken_source[si]) {
            continue;
        }
        taken_added[ai] = true;
        taken_source[si] = !copy;
        out.push(Pair {
            source: sources[si].at,
            added: added[ai].at,
            similarity: sim,
            copy,
        });
    }
    out
}

/// Replaces each paired addition by a rename or copy and drops the renamed deletions.
fn apply(changes: Vec<Change>, pairs: &[Pair]) -> Vec<Change> {
    let mut gone = vec![false; changes.len()];
    let mut by_added: HashMap<usize, Pair> = HashMap::new();
    for p in pairs {
        by_added.insert(p.added, *p);
        if !p.copy {
            gone[p.source] = true;
        }
    }
    let sources: Vec<(Option<u64>, Option<Side>, _)> = changes
        .iter()
        .map(|c| (c.old_size, c.old, c.path.clone()))
        .collect();
    let mut out: Vec<Change> = changes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !gone[*i])
        .map(|(i, mut c)| {
            if let Some(p) = by_added.get(&i) {
                let (size, side, path) = &sources[p.source];
                c.kind = if p.copy {
                    ChangeKind::Copied
                } else {
                    ChangeKind::Renamed
                };
                c.old_size = *size;
                c.old = *side;
                c.old_path = Some(path.clone());
                c.similarity = Some(p.similarity);
            }
            c
        })
        .collect();
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Domain, HashAlgo};
    use crate::repo_path::RepoPathBuf;

    struct Lists(HashMap<ObjectId, Vec<ChunkRef>>);

    impl ChunkLists for Lists {
        fn chunks(&self, id: &ObjectId) -> Result<Vec<ChunkRef>> {
            Ok(self.0.get(id).cloned().unwrap_or_default())
        }
    }

    fn id(n: u64) -> ObjectId {
        HashAlgo::Blake3.hash(Domain::Chunk, &n.to_le_bytes())
    }

    fn side(n: u64) -> Side {
        Side {
            id: id(n),
            mode: 0o644,
            kind: EntryKind::File,
        }
    }

    fn change(path: &str, kind: ChangeKind, old: Option<u64>, new: Option<u64>) -> Change {
        Change {
            path: RepoPathBuf::from(path.as_bytes().to_vec()),
            kind,
            old_size: old.map(|_| 10),
            new_size: new.map(|_| 10),
            old_path: None,
            similarity: None,
            old: old.map(side),
            new: new.map(side),
        }
    }

    fn chunked(ids: &[u64]) -> Vec<ChunkRef> {
        ids.iter()
            .map(|&n| ChunkRef {
                id: id(n),
                len: 100,
            })
            .collect()
    }

    #[test]
    fn same_id_is_a_rename_and_same_name_wins() {
        let changes = vec![
            change("a/x", ChangeKind::Deleted, Some(1), None),
            change("a/y", ChangeKind::Deleted, Some(1), None),
            change("b/x", ChangeKind::Added, None, Some(1)),
            change("b/y", ChangeKind::Added, None, Some(1)),
        ];
        let d = detect(changes, &RenameOptions::default(), &Lists(HashMap::new())).unwrap();
        assert_eq!(d.changes.len(), 2);
        for c in &d.changes {
            assert_eq!(c.kind, ChangeKind::Renamed);
            assert_eq!(c.similarity, Some(100));
            assert_eq!(c.old_path.as_ref().unwrap().file_name(), c.path.file_name());
        }
    }

    #[test]
    fn shared_chunks_make_a_rename_above_the_threshold_only() {
        let lists = Lists(HashMap::from([
            (id(1), chunked(&[10, 11, 12, 13])),
            (id(2), chunked(&[10, 11, 12, 99])),
        ]));
        let changes = || {
            vec![
                change("new", ChangeKind::Added, None, Some(2)),
                change("old", ChangeKind::Deleted, Some(1), None),
            ]
        };
        let d = detect(changes(), &RenameOptions::default(), &lists).unwrap();
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].similarity, Some(75));
        let strict = RenameOptions {
            threshold: 80,
            ..RenameOptions::default()
        };
        assert_eq!(detect(changes(), &strict, &lists).unwrap().changes.len(), 2);
        let off = RenameOptions {
            enabled: false,
            ..RenameOptions::default()
        };
        assert_eq!(detect(changes(), &off, &lists).unwrap().changes.len(), 2);
    }

    #[test]
    fn copies_come_from_modified_files_when_asked() {
        let lists = Lists(HashMap::from([
            (id(1), chunked(&[10, 11, 12, 13])),
            (id(2), chunked(&[10, 11, 12, 14])),
            (id(3), chunked(&[10, 11, 12, 15])),
        ]));
        let changes = || {
            vec![
                change("copy", ChangeKind::Added, None, Some(3)),
                change("orig", ChangeKind::Modified, Some(1), Some(2)),
            ]
        };
        let d = detect(changes(), &RenameOptions::default(), &lists).unwrap();
        assert!(d.changes.iter().all(|c| c.kind != ChangeKind::Copied));
        let c = RenameOptions {
            copies: true,
            ..RenameOptions::default()
        };
        let d = detect(changes(), &c, &lists).unwrap();
        assert_eq!(d.changes[0].kind, ChangeKind::Copied);
        assert_eq!(d.changes[1].kind, ChangeKind::Modified);
    }

    #[test]
    fn repeated_chunks_are_not_counted_twice_and_the_limit_is_reported() {
        let lists = Lists(HashMap::from([
            (id(1), chunked(&[7, 8])),
            (id(2), chunked(&[7, 7, 7, 7])),
        ]));
        let changes = || {
            vec![
                change("new", ChangeKind::Added, None, Some(2)),
                change("old", ChangeKind::Deleted, Some(1), None),
            ]
        };
        // One chunk of 100 bytes shared out of 400.
        let d = detect(changes(), &RenameOptions::default(), &lists).unwrap();
        assert_eq!(d.changes.len(), 2);
        let tiny = RenameOptions {
            limit: 0,
            ..RenameOptions::default()
        };
        assert!(detect(changes(), &tiny, &lists).unwrap().limit_exceeded);
        assert_eq!(similarity(100, 400, 200), 25);
        assert_eq!(similarity(0, 0, 0), 100);
    }

    #[test]
    fn many_equal_files_moved_pair_by_name_in_linear_time() {
        // 40,000 files of one content (empty files): quadratic pairing would take minutes.
        let n = 40_000;
        let mut changes: Vec<Change> = (0..n)
            .map(|i| change(&format!("a/{i:05}"), ChangeKind::Deleted, Some(1), None))
            .collect();
        changes
            .extend((0..n).map(|i| change(&format!("b/{i:05}"), ChangeKind::Added, None, Some(1))));
        let start = std::time::Instant::now();
        let d = detect(changes, &RenameOptions::default(), &Lists(HashMap::new())).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(d.changes.len(), n);
        assert!(d
            .changes
            .iter()
            .all(|c| c.old_path.as_ref().unwrap().file_name() == c.path.file_name()));
    }
}
