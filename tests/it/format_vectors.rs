//! Pinned format vectors. Every kind of byte cairn writes is checked here against files in
//! `fixtures/`, so a format change cannot slip through: it fails these tests until the
//! fixtures are regenerated on purpose with
//! `CAIRN_BLESS=1 cargo test --test it format_vectors::`, which then shows in review as a
//! diff of `fixtures/` (and must come with a version bump).
//!
//! Where docs/FORMAT.md describes an algorithm (FastCDC cuts, the merkle split, the hash
//! domains, the staging index's bincode bytes), a small independent implementation here
//! recomputes the values from the description, so the document cannot drift from the code.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::Digest;

use cairn::build::build;
use cairn::chunk::{ChunkParams, Chunker};
use cairn::config::Config;
use cairn::hash::{Domain, HashAlgo, ObjectId};
use cairn::index::{IndexEntry, StagingIndex, Stat, WalkCache};
use cairn::layer_graph;
use cairn::object::{file, ChunkRef, EntryKind, FileObject, Layer, LayerCounts, Tree};
use cairn::pack::{midx, Encoded, ObjectKind, PackClass, PackIndex, PackWriter, Store};
use cairn::Repository;

const ALGOS: [HashAlgo; 2] = [HashAlgo::Blake3, HashAlgo::Sha256];
const SEED_A: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_B: u64 = 0xD1B5_4A32_D192_ED03;

// ---------------------------------------------------------------------------------------
// Helpers.

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn blessing() -> bool {
    std::env::var_os("CAIRN_BLESS").is_some()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares `value` with the JSON fixture `name`, or writes the fixture when blessing.
fn pin(name: &str, value: &Value) {
    let path = fixtures().join(name);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(value).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with CAIRN_BLESS=1 once)", path.display()));
    let want: Value = serde_json::from_str(&text).unwrap();
    if let Some(d) = first_diff(&want, value, "") {
        panic!("fixtures/{name} no longer matches the code, so a format changed: {d}");
    }
}

/// Compares bytes with a fixture file, or writes it when blessing.
fn pin_bytes(name: &str, bytes: &[u8]) {
    let path = fixtures().join(name);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == bytes,
        "fixtures/{name} no longer matches the code, so a format changed"
    );
}

/// The first place where two JSON documents differ.
fn first_diff(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| {
            let null = Value::Null;
            first_diff(
                x.get(k).unwrap_or(&null),
                y.get(k).unwrap_or(&null),
                &format!("{at}.{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_diff(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("at `{at}` pinned {a}, now {b}")),
    }
}

/// The seeded generator of the chunking vectors: xorshift64 with shifts 13, 7, 17; each
/// step's new state is emitted as 8 little-endian bytes; the output is cut to `len`.
/// Not the tests' shared generator (`support::Rng`): the pinned vectors in `fixtures/` name
/// this one and hold hashes of its output, so it must never change.
fn xorshift(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn chunk_refs(algo: HashAlgo, params: ChunkParams, data: &[u8]) -> Vec<ChunkRef> {
    Chunker::new(params)
        .cuts(data)
        .into_iter()
        .map(|r| ChunkRef {
            id: algo.hash(Domain::Chunk, &data[r.clone()]),
            len: r.len() as u32,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Independent implementations of what docs/FORMAT.md describes.

fn read_table(name: &str) -> Vec<(usize, u64)> {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let mut parts = l.split_whitespace().rev();
            let value = parts.next().unwrap().trim_start_matches("0x");
            let index = parts.next().map_or(i, |n| n.parse().unwrap());
            (index, u64::from_str_radix(value, 16).unwrap())
        })
        .collect()
}

struct RefCdc {
    gear: Vec<u64>,
    masks: [u64; 26],
}

impl RefCdc {
    fn load() -> RefCdc {
        let gear: Vec<u64> = read_table("fastcdc/gear.txt")
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(gear.len(), 256);
        let mut masks = [0u64; 26];
        for (bits, m) in read_table("fastcdc/masks.txt") {
            masks[bits] = m;
        }
        RefCdc { gear, masks }
    }

    /// The length of the chunk at the start of `data`, byte by byte as FORMAT.md states it.
    fn cut(&self, data: &[u8], p: ChunkParams) -> usize {
        let (min, avg, max) = (p.min as usize, p.avg as usize, p.max as usize);
        if data.len() <= min {
            return data.len();
        }
        let bits = p.avg.trailing_zeros() as usize;
        let (mask_s, mask_l) = (self.masks[bits + 1], self.masks[bits - 1]);
        let end = data.len().min(max);
        let center = avg.min(end);
        let mut h = 0u64;
        for (j, b) in data.iter().enumerate().take(end & !1).skip(min) {
            h = (h << 1).wrapping_add(self.gear[*b as usize]);
            let mask = if j < center & !1 { mask_s } else { mask_l };
            if h & mask == 0 {
                return j;
            }
        }
        end
    }

    fn cuts(&self, data: &[u8], p: ChunkParams) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let n = self.cut(&data[pos..], p);
            out.push(pos..pos + n);
            pos += n;
        }
        out
    }
}

/// RFC 6962 root: the left subtree holds the largest power of two below the leaf count.
fn ref_root(algo: HashAlgo, node: Domain, leaves: &[ObjectId]) -> ObjectId {
    match leaves.len() {
        0 => algo.hash(node, b""),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let l = ref_root(algo, node, &leaves[..k]);
            let r = ref_root(algo, node, &leaves[k..]);
            algo.hash_parts(node, &[&l.0, &r.0])
        }
    }
}

fn ref_hash(algo: HashAlgo, context: &str, data: &[u8]) -> [u8; 32] {
    match algo {
        HashAlgo::Blake3 => {
            let key = blake3::derive_key(context, b"");
            *blake3::keyed_hash(&key, data).as_bytes()
        }
        HashAlgo::Sha256 => {
            let mut h = sha2::Sha256::new();
            h.update(context.as_bytes());
            h.update([0u8]);
            h.update(data);
            h.finalize().into()
        }
    }
}

fn ref_file_id(algo: HashAlgo, chunks: &[ChunkRef]) -> ObjectId {
    let mut offset = 0u64;
    let leaves: Vec<ObjectId> = chunks
        .iter()
        .map(|c| {
            let mut leaf = c.id.0.to_vec();
            leaf.extend_from_slice(&offset.to_le_bytes());
            leaf.extend_from_slice(&c.len.to_le_bytes());
            offset += u64::from(c.len);
            ObjectId(ref_hash(algo, Domain::FileLeaf.context(), &leaf))
        })
        .collect();
    ref_root(algo, Domain::FileNode, &leaves)
}

/// bincode 2 "standard" varint, as FORMAT.md spells it out.
fn varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xFFFF => {
            out.push(251);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFFFF_FFFF => {
            out.push(252);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(253);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The staging index file of `version` (2 to 5), written by hand from FORMAT.md.
pub(crate) fn ref_staging_index(algo: HashAlgo, idx: &StagingIndex, version: u32) -> Vec<u8> {
    let mut p = Vec::new();
    match idx.base_tree {
        None => p.push(0),
        Some(t) => {
            p.push(1);
            p.extend_from_slice(&t.0);
        }
    }
    varint(&mut p, idx.entries.len() as u64);
    for (path, e) in &idx.entries {
        varint(&mut p, path.len() as u64);
        p.extend_from_slice(path);
        p.push(e.kind);
        varint(&mut p, u64::from(e.mode));
        varint(&mut p, e.stat.size);
        varint(&mut p, zigzag(e.stat.mtime_ns));
        varint(&mut p, zigzag(e.stat.ctime_ns));
        varint(&mut p, e.stat.ino);
        varint(&mut p, u64::from(e.stat.mode));
        let (file_id, chunks) = (e.file_id(), e.chunks());
        // Version 5: one chunk whose leaf gives the file id goes without the id.
        if version >= 5 && chunks.len() == 1 && ref_file_id(algo, chunks) == file_id {
            p.push(0);
        } else {
            if version >= 5 {
                varint(&mut p, chunks.len() as u64 + 1);
            }
            p.extend_from_slice(&file_id.0);
            if version < 5 {
                varint(&mut p, chunks.len() as u64);
            }
        }
        for c in chunks {
            p.extend_from_slice(&c.id.0);
            varint(&mut p, u64::from(c.len));
        }
    }
    let stat = |p: &mut Vec<u8>, s: &Stat| {
        varint(p, s.size);
        varint(p, zigzag(s.mtime_ns));
        varint(p, zigzag(s.ctime_ns));
        varint(p, s.ino);
        varint(p, u64::from(s.mode));
    };
    let bytes = |p: &mut Vec<u8>, b: &[u8]| {
        varint(p, b.len() as u64);
        p.extend_from_slice(b);
    };
    match &idx.walk_cache {
        None => p.push(0),
        Some(c) => {
            p.push(1);
            for list in [&c.dirs, &c.ignore_files] {
                varint(&mut p, list.len() as u64);
                for (path, s) in list {
                    bytes(&mut p, path);
                    stat(&mut p, s);
                }
            }
            // Version 2 has no racy list.
            let lists = [&c.untracked[..], &c.racy[..]];
            for list in &lists[..if version >= 3 { 2 } else { 1 }] {
                varint(&mut p, list.len() as u64);
                for path in *list {
                    bytes(&mut p, path);
                }
            }
        }
    }
    // Version 4: the remembered trees, sorted by directory.
    if version >= 4 {
        varint(&mut p, idx.entries.trees().len() as u64);
        for (dir, t) in idx.entries.trees() {
            bytes(&mut p, dir);
            p.extend_from_slice(&t.id.0);
            varint(&mut p, t.files);
            varint(&mut p, t.size);
        }
    }
    let mut out = b"CAIRNSTG".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(p.len() as u64).to_le_bytes());
    out.extend_from_slice(&p);
    let sum = ref_hash(algo, Domain::Checksum.context(), &out);
    out.extend_from_slice(&sum);
    out
}

// ---------------------------------------------------------------------------------------
// The fixed objects the vectors are made of.

const T0: i64 = 1_700_000_000_123_456_789;

struct FixedFile {
    path: &'static [u8],
    kind: EntryKind,
    mode: u32,
    content: Vec<u8>,
}

/// A small worktree: nested directories, a name that sorts differently as a path and as a
/// name (`data.txt` vs `data/`), an executable, a symlink, an empty file, a non-UTF-8 name
/// and a file of several chunks.
fn fixed_files() -> Vec<FixedFile> {
    let f = |path, kind, mode, content: &[u8]| FixedFile {
        path,
        kind,
        mode,
        content: content.to_vec(),
    };
    vec![
        f(b"README.md", EntryKind::File, 0o644, b"# cairn\n"),
        f(
            b"bin/run.sh",
            EntryKind::File,
            0o755,
            b"#!/bin/sh\necho hi\n",
        ),
        f(b"caf\xe9.txt", EntryKind::File, 0o644, b"latin-1 name\n"),
        f(b"data.txt", EntryKind::File, 0o644, b"data\n"),
        f(b"data/a.csv", EntryKind::File, 0o600, b"x,y\n1,2\n"),
        FixedFile {
            path: b"data/blob.bin",
            kind: EntryKind::File,
            mode: 0o644,
            content: xorshift(SEED_B, 200_000),
        },
        f(b"data/sub/empty", EntryKind::File, 0o644, b""),
        f(b"link", EntryKind::Symlink, 0o777, b"README.md"),
    ]
}

fn fixed_index(algo: HashAlgo) -> StagingIndex {
    let mut idx = StagingIndex::default();
    for (i, f) in fixed_files().into_iter().enumerate() {
        let chunks = chunk_refs(algo, ChunkParams::default(), &f.content);
        let file = FileObject { chunks };
        let type_bits = if f.kind == EntryKind::Symlink {
            0o120000
        } else {
            0o100000
        };
        let stat = Stat {
            size: f.content.len() as u64,
            mtime_ns: T0 + i as i64,
            ctime_ns: T0 + 1000 + i as i64,
            ino: 1000 + i as u64,
            mode: type_bits | f.mode,
        };
        let (kind, id) = (f.kind as u8, file.id(algo));
        let entry = IndexEntry::new(kind, f.mode, stat, algo, id, file.chunks);
        idx.entries.insert(f.path, entry);
    }
    idx
}

/// Every tree below `id` with its directory path, parents first.
fn trees_by_path(
    trees: &std::collections::HashMap<ObjectId, Vec<u8>>,
    id: ObjectId,
    path: &str,
    out: &mut Vec<(String, ObjectId, Tree)>,
) {
    let t = Tree::decode(&trees[&id]).unwrap();
    out.push((path.to_string(), id, t.clone()));
    for e in &t.entries {
        if e.kind == EntryKind::Dir {
            let name = String::from_utf8_lossy(&e.name);
            let sub = if path.is_empty() {
                name.into_owned()
            } else {
                format!("{path}/{name}")
            };
            trees_by_path(trees, e.id, &sub, out);
        }
    }
}

fn fixed_layers(algo: HashAlgo) -> (Layer, Layer) {
    let built = build(&fixed_index(algo), algo).unwrap();
    let first = Layer {
        parent: None,
        tree: built.root,
        time_ns: T0,
        counts: LayerCounts {
            files: built.files,
            bytes: built.bytes,
            added: built.files,
            modified: 0,
            deleted: 0,
        },
        author: "Ada Lovelace <ada@example.org>".into(),
        message: "first layer".into(),
    };
    let second = Layer {
        parent: Some(first.id(algo)),
        tree: Tree::default().id(algo),
        time_ns: -1,
        counts: LayerCounts {
            files: 0,
            bytes: 0,
            added: 0,
            modified: 0,
            deleted: built.files,
        },
        author: String::new(),
        message: "delete everything\n\nnon-ASCII: caf\u{e9}".into(),
    };
    (first, second)
}

/// Chunk contents of the two-file data pack and the fixed file contents of the file
/// object vectors.
fn chunk_texts(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("chunk {i}\n").repeat(i + 1).into_bytes())
        .collect()
}

fn file_case(algo: HashAlgo, n: usize) -> FileObject {
    FileObject {
        chunks: chunk_texts(n)
            .iter()
            .map(|c| ChunkRef {
                id: algo.hash(Domain::Chunk, c),
                len: c.len() as u32,
            })
            .collect(),
    }
}

/// A small staging index whose integers need every varint width.
fn small_staging_index() -> StagingIndex {
    let algo = HashAlgo::Blake3;
    let dir_stat = Stat {
        size: 4096,
        mtime_ns: T0,
        ctime_ns: T0,
        ino: 2,
        mode: 0o40755,
    };
    let mut idx = StagingIndex::default();
    idx.base_tree = Some(algo.hash(Domain::TreeNode, b""));
    idx.walk_cache = Some(WalkCache {
        dirs: vec![(Vec::new(), dir_stat), (b"dir".to_vec(), dir_stat)],
        ignore_files: vec![(b".cairnignore".to_vec(), dir_stat)],
        untracked: vec![b"dir/fifo".to_vec()],
        racy: vec![b"dir".to_vec()],
    });
    let hello = b"hello\n";
    let chunks = vec![ChunkRef {
        id: algo.hash(Domain::Chunk, hello),
        len: hello.len() as u32,
    }];
    idx.entries.insert(
        b"a.txt",
        IndexEntry::of_chunks(
            EntryKind::File as u8,
            0o644,
            Stat {
                size: 6,
                mtime_ns: T0,
                ctime_ns: -1_500_000_000,
                ino: 70_000,
                mode: 0o100644,
            },
            algo,
            chunks,
        ),
    );
    let target = b"a.txt";
    let chunks = vec![ChunkRef {
        id: algo.hash(Domain::Chunk, target),
        len: target.len() as u32,
    }];
    idx.entries.insert(
        b"dir/link",
        IndexEntry::of_chunks(
            EntryKind::Symlink as u8,
            0o777,
            Stat {
                size: 5,
                mtime_ns: 0,
                ctime_ns: 300,
                ino: 42,
                mode: 0o120777,
            },
            algo,
            chunks,
        ),
    );
    // The trees these entries build, as a commit remembers them.
    let built = build(&idx, algo).unwrap();
    idx.entries.remember_trees(built.cache);
    idx
}

fn saved_index_bytes(idx: &mut StagingIndex, algo: HashAlgo) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    idx.save(&p, dir.path(), algo).unwrap();
    std::fs::read(&p).unwrap()
}

/// The pack files written for `objects` by one writer: (name, pack bytes, idx bytes).
fn write_pack(
    class: PackClass,
    objects: &[(ObjectId, ObjectKind, Vec<u8>)],
) -> (ObjectId, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (packs, tmp) = (dir.path().join("packs"), dir.path().join("tmp"));
    std::fs::create_dir_all(&packs).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut w = PackWriter::new(HashAlgo::Blake3, class, &packs, &tmp);
    for (id, kind, bytes) in objects {
        w.add(*id, *kind, &Encoded::raw(bytes)).unwrap();
    }
    let names = w.finish().unwrap();
    assert_eq!(names.len(), 1);
    let name = names[0];
    let pack = std::fs::read(packs.join(format!("{name}.pack"))).unwrap();
    let idx = std::fs::read(packs.join(format!("{name}.idx"))).unwrap();
    (name, pack, idx)
}

/// A pack index of no objects, built by hand from FORMAT.md (no pack is ever empty, so the
/// writer never makes one, but readers must accept it).
fn empty_pack_index(algo: HashAlgo) -> Vec<u8> {
    let mut b = b"CAIRNIDX".to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[0u8; 1024]);
    let sum = ref_hash(algo, Domain::Checksum.context(), &b);
    b.extend_from_slice(&sum);
    b
}

fn meta_objects() -> Vec<(ObjectId, ObjectKind, Vec<u8>)> {
    let algo = HashAlgo::Blake3;
    let file = file_case(algo, 2);
    let built = build(&fixed_index(algo), algo).unwrap();
    let (layer, _) = fixed_layers(algo);
    vec![
        (file.id(algo), ObjectKind::File, file.encode()),
        (
            built.root,
            ObjectKind::Tree,
            built.trees[&built.root].clone(),
        ),
        (layer.id(algo), ObjectKind::Layer, layer.encode()),
    ]
}

fn data_objects() -> Vec<(ObjectId, ObjectKind, Vec<u8>)> {
    chunk_texts(2)
        .into_iter()
        .map(|c| {
            (
                HashAlgo::Blake3.hash(Domain::Chunk, &c),
                ObjectKind::Chunk,
                c,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// (a) Chunk boundaries.

fn chunk_vector(seed: u64, len: usize, params: ChunkParams) -> Value {
    let data = xorshift(seed, len);
    let cuts = Chunker::new(params).cuts(&data);
    assert_eq!(cuts, RefCdc::load().cuts(&data, params), "FORMAT.md's cut");
    let ids = |algo: HashAlgo| -> Vec<String> {
        cuts.iter()
            .take(4)
            .map(|r| algo.hash(Domain::Chunk, &data[r.clone()]).to_hex())
            .collect()
    };
    let file = |algo| FileObject {
        chunks: chunk_refs(algo, params, &data),
    };
    json!({
        "generator": "xorshift64: x ^= x << 13; x ^= x >> 7; x ^= x << 17; emit x as 8 LE bytes",
        "seed": format!("{seed:#018x}"),
        "len": len,
        "params": { "min": params.min, "avg": params.avg, "max": params.max },
        "chunks_offset_len": cuts.iter().map(|r| [r.start, r.len()]).collect::<Vec<_>>(),
        "first_chunk_ids": { "blake3": ids(HashAlgo::Blake3), "sha256": ids(HashAlgo::Sha256) },
        "file_id": {
            "blake3": file(HashAlgo::Blake3).id(HashAlgo::Blake3).to_hex(),
            "sha256": file(HashAlgo::Sha256).id(HashAlgo::Sha256).to_hex(),
        },
    })
}

#[test]
fn chunk_boundaries_are_pinned() {
    let default = ChunkParams::default();
    pin(
        "chunks/default-1mib.json",
        &chunk_vector(SEED_A, 1 << 20, default),
    );
    let small = ChunkParams::with_avg(4096).unwrap();
    pin(
        "chunks/avg4096-256kib.json",
        &chunk_vector(SEED_B, 256 << 10, small),
    );
}

#[test]
fn reference_cut_agrees_on_edge_cases() {
    let r = RefCdc::load();
    for (bits, m) in fastcdc::v2020::MASKS.iter().enumerate().skip(5) {
        assert_eq!(r.masks[bits], *m, "pinned mask {bits}");
    }
    for avg in [1024, 4096, 65536, 1 << 20] {
        let p = ChunkParams::with_avg(avg).unwrap();
        let max = p.max as usize;
        let inputs = [
            vec![],
            vec![7],
            vec![0; 3 * max + 5],
            xorshift(u64::from(avg), p.min as usize),
            xorshift(u64::from(avg), max),
            xorshift(u64::from(avg) + 1, max + 1),
            xorshift(u64::from(avg) + 2, 5 * max + 3),
            xorshift(u64::from(avg) + 3, avg as usize - 1),
            xorshift(u64::from(avg) + 4, avg as usize + 1),
        ];
        // Lengths from min to max in odd steps, so odd `end` and `center` occur.
        let odd = (p.min as usize..max).step_by(if avg <= 4096 { 37 } else { max });
        let odd = odd.map(|n| xorshift(n as u64, n));
        for data in inputs.into_iter().chain(odd) {
            assert_eq!(Chunker::new(p).cuts(&data), r.cuts(&data, p), "avg {avg}");
        }
    }
}

/// Feeding the stream chunker 1, 37 or 4096 bytes at a time gives the pinned cuts.
#[test]
fn streaming_gives_the_pinned_cuts() {
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let p = ChunkParams::with_avg(4096).unwrap();
    let data = xorshift(SEED_B, 256 << 10);
    let want: Vec<usize> = Chunker::new(p)
        .cuts(&data)
        .iter()
        .map(std::iter::ExactSizeIterator::len)
        .collect();
    for piece in [1, 37, 4096] {
        let mut got = Vec::new();
        Chunker::new(p)
            .stream(Trickle(&data, piece), |c| {
                got.push(c.len());
                Ok(())
            })
            .unwrap();
        assert_eq!(got, want, "pieces of {piece}");
    }
}

// ---------------------------------------------------------------------------------------
// (b) Hash domains, (c) merkle roots and file ids.

#[test]
fn hash_domains_are_pinned() {
    let input = b"The quick brown fox jumps over the lazy dog";
    let mut domains = Vec::new();
    for d in Domain::ALL {
        let ctx = d.context();
        for algo in ALGOS {
            assert_eq!(algo.hash(d, input).0, ref_hash(algo, ctx, input), "{d:?}");
            assert_eq!(algo.hash(d, b"").0, ref_hash(algo, ctx, b""), "{d:?}");
        }
        domains.push(json!({
            "domain": format!("{d:?}"),
            "context": ctx,
            "blake3_key": hex(&blake3::derive_key(ctx, b"")),
            "blake3": HashAlgo::Blake3.hash(d, input).to_hex(),
            "blake3_empty": HashAlgo::Blake3.hash(d, b"").to_hex(),
            "sha256": HashAlgo::Sha256.hash(d, input).to_hex(),
            "sha256_empty": HashAlgo::Sha256.hash(d, b"").to_hex(),
        }));
    }
    let text = std::str::from_utf8(input).unwrap();
    pin(
        "hashes.json",
        &json!({ "input": text, "input_hex": hex(input), "domains": domains }),
    );
}

#[test]
fn merkle_roots_are_pinned() {
    let mut roots = serde_json::Map::new();
    for algo in ALGOS {
        let list: Vec<String> = (0..=7u8)
            .map(|n| {
                let leaves: Vec<ObjectId> = (0..n).map(|i| ObjectId([i; 32])).collect();
                let got = cairn::merkle::root(algo, Domain::FileNode, &leaves);
                assert_eq!(got, ref_root(algo, Domain::FileNode, &leaves), "{n} leaves");
                got.to_hex()
            })
            .collect();
        roots.insert(algo.name().into(), json!(list));
    }
    pin(
        "merkle.json",
        &json!({
            "leaves": "leaf i is 32 bytes of value i; roots[n] is the root over leaves 0..n",
            "node_domain": "FileNode",
            "roots": roots,
        }),
    );
}

#[test]
fn file_ids_are_pinned() {
    let mut cases = Vec::new();
    for n in [0, 1, 2, 3, 5] {
        let mut per_algo = serde_json::Map::new();
        for algo in ALGOS {
            let f = file_case(algo, n);
            assert_eq!(f.id(algo), ref_file_id(algo, &f.chunks));
            assert_eq!(FileObject::decode(&f.encode()).unwrap(), f);
            per_algo.insert(
                algo.name().into(),
                json!({
                    "chunks": f.chunks.iter().map(|c| json!([c.id.to_hex(), c.len])).collect::<Vec<_>>(),
                    "leaves": f.leaves(algo).iter().map(cairn::ObjectId::to_hex).collect::<Vec<_>>(),
                    "encoding": hex(&f.encode()),
                    "file_id": f.id(algo).to_hex(),
                }),
            );
        }
        let contents: Vec<String> = chunk_texts(n)
            .into_iter()
            .map(|c| String::from_utf8(c).unwrap())
            .collect();
        cases.push(json!({ "chunk_contents": contents, "ids": per_algo }));
    }
    pin("files.json", &json!({ "cases": cases }));
}

// ---------------------------------------------------------------------------------------
// (d) Trees and layers.

#[test]
fn tree_and_layer_ids_are_pinned() {
    let mut out = serde_json::Map::new();
    for algo in ALGOS {
        let idx = fixed_index(algo);
        let built = build(&idx, algo).unwrap();
        let mut trees = Vec::new();
        trees_by_path(&built.trees, built.root, "", &mut trees);
        assert_eq!(trees.len(), built.trees.len());
        let trees: Vec<Value> = trees
            .iter()
            .map(|(path, id, t)| {
                let enc = t.encode();
                assert_eq!(Tree::decode(&enc).unwrap(), *t);
                let leaves: Vec<ObjectId> = t
                    .entries
                    .iter()
                    .map(|e| {
                        let mut b = Vec::new();
                        e.encode(&mut b);
                        ObjectId(ref_hash(algo, Domain::TreeLeaf.context(), &b))
                    })
                    .collect();
                assert_eq!(ref_root(algo, Domain::TreeNode, &leaves), *id);
                json!({ "dir": path, "id": id.to_hex(), "encoding": hex(&enc) })
            })
            .collect();
        let entries: Vec<Value> = idx
            .entries
            .iter()
            .map(|(p, e)| {
                json!({
                    "path_hex": hex(p),
                    "path": String::from_utf8_lossy(p),
                    "kind": e.kind,
                    "mode": e.mode,
                    "size": e.stat.size,
                    "mtime_ns": e.stat.mtime_ns,
                    "file_id": e.file_id().to_hex(),
                    "chunks": e.chunks().iter().map(|c| json!([c.id.to_hex(), c.len])).collect::<Vec<_>>(),
                })
            })
            .collect();
        let (first, second) = fixed_layers(algo);
        let layers: Vec<Value> = [&first, &second]
            .iter()
            .map(|l| {
                assert_eq!(Layer::decode(&l.encode()).unwrap(), **l);
                let id = ObjectId(ref_hash(algo, Domain::Layer.context(), &l.encode()));
                assert_eq!(l.id(algo), id);
                json!({
                    "parent": l.parent.map(|p| p.to_hex()),
                    "tree": l.tree.to_hex(),
                    "time_ns": l.time_ns,
                    "counts": l.counts,
                    "author": l.author,
                    "message": l.message,
                    "encoding": hex(&l.encode()),
                    "id": id.to_hex(),
                })
            })
            .collect();
        out.insert(
            algo.name().into(),
            json!({
                "index_entries": entries,
                "root": built.root.to_hex(),
                "files": built.files,
                "bytes": built.bytes,
                "trees": trees,
                "layers": layers,
            }),
        );
    }
    pin("tree-and-layer.json", &Value::Object(out));
}

// ---------------------------------------------------------------------------------------
// (e) Packs, pack indexes, the staging index and the config, byte for byte.

#[test]
fn packs_and_indexes_are_pinned() {
    let mut out = serde_json::Map::new();
    for (label, class, objects) in [
        ("meta", PackClass::Meta, meta_objects()),
        ("data", PackClass::Data, data_objects()),
    ] {
        let (name, pack, idx) = write_pack(class, &objects);
        // The name hashes every 42-byte record header in write order (FORMAT.md, section 12).
        let mut headers = Vec::new();
        let mut at = 16;
        while at < pack.len() {
            let header = &pack[at..at + 42];
            let stored = u32::from_le_bytes(header[38..42].try_into().unwrap()) as usize;
            headers.extend_from_slice(header);
            at += 42 + stored;
        }
        assert_eq!(headers.len(), objects.len() * 42);
        assert_eq!(
            name.0,
            ref_hash(HashAlgo::Blake3, Domain::Pack.context(), &headers)
        );
        check_pack_decodes(&pack, &idx, &objects);
        out.insert(
            label.into(),
            json!({ "name": name.to_hex(), "pack": hex(&pack), "idx": hex(&idx) }),
        );
    }
    pin("packs.json", &Value::Object(out));
}

/// The multi-pack index over the two pinned packs (FORMAT.md section 13a), byte for byte,
/// recomputed here from the description; every object reads back through it.
#[test]
fn multi_pack_index_is_pinned() {
    let algo = HashAlgo::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let mut packs = Vec::new();
    let mut objects = Vec::new();
    for (class, objs) in [
        (PackClass::Meta, meta_objects()),
        (PackClass::Data, data_objects()),
    ] {
        let (name, pack, idx) = write_pack(class, &objs);
        std::fs::write(dir.path().join(format!("{name}.pack")), &pack).unwrap();
        std::fs::write(dir.path().join(format!("{name}.idx")), &idx).unwrap();
        packs.push((name, idx));
        objects.extend(objs);
    }
    let indexes: Vec<(ObjectId, PackIndex)> = packs
        .iter()
        .map(|(n, _)| {
            (
                *n,
                PackIndex::open(&dir.path().join(format!("{n}.idx"))).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(ObjectId, &PackIndex)> = indexes.iter().map(|(n, i)| (*n, i)).collect();
    let bytes = midx::encode(algo, &refs);
    assert_eq!(bytes, ref_midx(&packs), "FORMAT.md's multi-pack index");
    let m = midx::Midx::from_bytes(bytes.clone(), algo).unwrap();
    m.verify().unwrap();
    std::fs::write(dir.path().join(midx::MIDX_FILE), &bytes).unwrap();
    let store = Store::open(dir.path(), algo).unwrap();
    assert!(store.uses_midx());
    for (id, kind, raw) in &objects {
        assert!(m.lookup(id).unwrap().is_some());
        assert_eq!(&store.read(id, *kind, dir.path()).unwrap(), raw);
    }
    let mut names: Vec<String> = packs.iter().map(|(n, _)| n.to_hex()).collect();
    names.sort();
    pin(
        "midx.json",
        &json!({ "packs": names, "multi_pack_index": hex(&bytes) }),
    );
    // FORMAT.md's worked example quotes the names and the head sum.
    let doc = std::fs::read_to_string(fixtures().join("../docs/FORMAT.md")).unwrap();
    let head = 24 + 32 * names.len() + 1024 + 8192;
    for quoted in names
        .iter()
        .map(String::as_str)
        .chain([&*hex(&bytes[head..head + 32])])
    {
        assert!(doc.contains(quoted), "docs/FORMAT.md should quote {quoted}");
    }
}

/// A multi-pack index built by hand from FORMAT.md: the entries of every pack index (read
/// from their bytes), numbered by the pack's place among the sorted names, sorted by id.
fn ref_midx(packs: &[(ObjectId, Vec<u8>)]) -> Vec<u8> {
    let mut packs = packs.to_vec();
    packs.sort_by_key(|(n, _)| *n);
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for (number, (_, idx)) in packs.iter().enumerate() {
        let count = u32::from_le_bytes(idx[12..16].try_into().unwrap()) as usize;
        for i in 0..count {
            let e = &idx[16 + 1024 + i * 50..16 + 1024 + (i + 1) * 50];
            let mut m = e[..32].to_vec();
            m.extend_from_slice(&(number as u32).to_le_bytes());
            m.extend_from_slice(&e[32..]);
            entries.push(m);
        }
    }
    entries.sort();
    let mut out = b"CAIRNMDX".to_vec();
    for v in [1, packs.len() as u32, entries.len() as u32, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (name, _) in &packs {
        out.extend_from_slice(&name.0);
    }
    for b in 0..256 {
        let n = entries.iter().filter(|e| usize::from(e[0]) <= b).count() as u32;
        out.extend_from_slice(&n.to_le_bytes());
    }
    let checksum = Domain::Checksum.context();
    for b in 0..256 {
        let bucket: Vec<u8> = entries
            .iter()
            .filter(|e| usize::from(e[0]) == b)
            .flatten()
            .copied()
            .collect();
        out.extend_from_slice(&ref_hash(HashAlgo::Blake3, checksum, &bucket));
    }
    let head = ref_hash(HashAlgo::Blake3, checksum, &out);
    out.extend_from_slice(&head);
    out.extend(entries.into_iter().flatten());
    out
}

/// The layer graph over the two fixed layers (FORMAT.md 13b), built through the library and
/// by hand from the text, pinned in `fixtures/layer-graph.json`.
#[test]
fn layer_graph_vector() {
    let algo = HashAlgo::Blake3;
    let bytes = pinned_layer_graph();
    let g = layer_graph::LayerGraph::from_bytes(bytes.clone(), algo).unwrap();
    let (first, second) = fixed_layers(algo);
    let (a, b) = (first.id(algo), second.id(algo));
    let e = g.entry(g.find(&b).unwrap());
    assert_eq!(
        (e.tree, e.time_ns, e.depth),
        (second.tree, second.time_ns, 2)
    );
    assert_eq!(e.parent.map(|p| g.id(p)), Some(a));
    assert_eq!(g.entry(g.find(&a).unwrap()).parent, None);
    assert!(layer_graph::LayerGraph::from_bytes(bytes.clone(), HashAlgo::Sha256).is_err());
    pin(
        "layer-graph.json",
        &json!({ "layers": [a.to_hex(), b.to_hex()], "layer_graph": hex(&bytes) }),
    );
    let doc = std::fs::read_to_string(fixtures().join("../docs/FORMAT.md")).unwrap();
    let sum = hex(&bytes[bytes.len() - 32..]);
    assert!(
        doc.contains(&sum),
        "docs/FORMAT.md should quote the checksum {sum}"
    );
}

/// The layer graph of the two fixed layers, checked against one written by hand from
/// FORMAT.md: entries sorted by id, the parent's position (or ffffffff), the depth.
fn pinned_layer_graph() -> Vec<u8> {
    let algo = HashAlgo::Blake3;
    let (first, second) = fixed_layers(algo);
    let node = |l: &Layer| layer_graph::Node {
        id: l.id(algo),
        tree: l.tree,
        time_ns: l.time_ns,
        parent: l.parent,
    };
    let bytes = layer_graph::encode(algo, vec![node(&second), node(&first)]).unwrap();
    let mut layers = [
        (first.id(algo), &first, 1u32),
        (second.id(algo), &second, 2),
    ];
    layers.sort_by_key(|(id, _, _)| *id);
    let mut out = b"CAIRNLGR".to_vec();
    for v in [1u32, 1, 2, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for b in 0..256 {
        let n = layers
            .iter()
            .filter(|(id, _, _)| usize::from(id.0[0]) <= b)
            .count() as u32;
        out.extend_from_slice(&n.to_le_bytes());
    }
    for (id, l, depth) in &layers {
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&l.tree.0);
        out.extend_from_slice(&l.time_ns.to_le_bytes());
        let parent = l.parent.map_or(u32::MAX, |p| {
            layers.iter().position(|(id, _, _)| *id == p).unwrap() as u32
        });
        out.extend_from_slice(&parent.to_le_bytes());
        out.extend_from_slice(&depth.to_le_bytes());
    }
    let sum = ref_hash(algo, Domain::Checksum.context(), &out);
    out.extend_from_slice(&sum);
    assert_eq!(bytes, out, "FORMAT.md's layer graph");
    bytes
}

/// The multi-pack index of the two pinned packs, as the fuzzing corpus holds it.
fn pinned_midx() -> Vec<u8> {
    let packs = [
        write_pack(PackClass::Meta, &meta_objects()),
        write_pack(PackClass::Data, &data_objects()),
    ];
    let packs: Vec<(ObjectId, Vec<u8>)> = packs.into_iter().map(|(n, _, i)| (n, i)).collect();
    ref_midx(&packs)
}

/// Decodes a pack and its index back, by hand and through the library.
fn check_pack_decodes(pack: &[u8], idx: &[u8], objects: &[(ObjectId, ObjectKind, Vec<u8>)]) {
    assert_eq!(&pack[..8], b"CAIRNPAK");
    let dir = tempfile::tempdir().unwrap();
    let name = HashAlgo::Blake3.hash(Domain::Pack, b"any name");
    std::fs::write(dir.path().join(format!("{name}.idx")), idx).unwrap();
    std::fs::write(dir.path().join(format!("{name}.pack")), pack).unwrap();
    let index = PackIndex::open(&dir.path().join(format!("{name}.idx"))).unwrap();
    index.verify(HashAlgo::Blake3).unwrap();
    assert_eq!(index.len(), objects.len());
    let store = Store::open(dir.path(), HashAlgo::Blake3).unwrap();
    let mut offset = 16u64;
    for (id, kind, bytes) in objects {
        let e = index.lookup(id).unwrap();
        assert_eq!(
            (e.offset, e.kind, e.raw_len),
            (offset, *kind, bytes.len() as u32)
        );
        let at = offset as usize;
        assert_eq!(&pack[at..at + 32], &id.0);
        assert_eq!(pack[at + 32], *kind as u8);
        assert_eq!(&pack[at + 42..at + 42 + bytes.len()], &bytes[..]);
        assert_eq!(&store.read(id, *kind, dir.path()).unwrap(), bytes);
        offset += 42 + bytes.len() as u64;
    }
    assert_eq!(offset as usize, pack.len());
}

#[test]
fn staging_index_is_pinned() {
    let algo = HashAlgo::Blake3;
    let mut idx = small_staging_index();
    let bytes = saved_index_bytes(&mut idx, algo);
    assert_eq!(
        bytes,
        ref_staging_index(algo, &idx, 5),
        "FORMAT.md's staging index"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    std::fs::write(&p, &bytes).unwrap();
    let back = StagingIndex::load(&p, algo).unwrap();
    assert_eq!(back.base_tree, idx.base_tree);
    assert_eq!(back.entries, idx.entries);
    assert_eq!(back.walk_cache, idx.walk_cache);
    assert_eq!(back.entries.trees(), idx.entries.trees());
    assert_eq!(back.entries.trees().len(), 2, "the root and dir");
    let mut fixed = fixed_index(algo);
    let fixed_bytes = saved_index_bytes(&mut fixed, algo);
    assert_eq!(fixed_bytes, ref_staging_index(algo, &fixed, 5));
    // Version 4 files, as the previous release wrote them (every entry with its file id),
    // are still read, into the same entries and trees, however their content is kept.
    let v4 = ref_staging_index(algo, &idx, 4);
    let fixed_v4 = ref_staging_index(algo, &fixed, 4);
    for (old, want, want_bytes) in [(&v4, &idx, &bytes), (&fixed_v4, &fixed, &fixed_bytes)] {
        std::fs::write(&p, old).unwrap();
        let mut back = StagingIndex::load(&p, algo).unwrap();
        assert_eq!(back.entries, want.entries);
        assert_eq!(back.entries.trees(), want.entries.trees());
        // Saved again, it is the version 5 file.
        assert_eq!(&saved_index_bytes(&mut back, algo), want_bytes);
    }
    // Version 3 files, as the previous release wrote them, are still read: no remembered
    // trees, so the first commit builds every tree.
    let v3 = ref_staging_index(algo, &idx, 3);
    std::fs::write(&p, &v3).unwrap();
    let back = StagingIndex::load(&p, algo).unwrap();
    let mut untreed = idx.entries.clone();
    untreed.forget_trees();
    assert_eq!(back.entries, untreed);
    assert_eq!(back.walk_cache, idx.walk_cache);
    // Version 2 files, as earlier releases wrote them, are still read: no racy directories.
    let v2 = ref_staging_index(algo, &idx, 2);
    std::fs::write(&p, &v2).unwrap();
    let back = StagingIndex::load(&p, algo).unwrap();
    assert_eq!(back.entries, untreed);
    let mut cache = idx.walk_cache.clone().unwrap();
    cache.racy.clear();
    assert_eq!(back.walk_cache, Some(cache));
    pin(
        "staging-index.json",
        &json!({
            "small": hex(&bytes),
            "small_v4": hex(&v4),
            "small_v3": hex(&v3),
            "small_v2": hex(&v2),
            "fixed_tree_index": hex(&fixed_bytes)
        }),
    );
}

#[test]
fn config_is_pinned() {
    for (name, algo, avg) in [
        ("config/default-blake3.toml", HashAlgo::Blake3, 65536),
        ("config/avg1k-sha256.toml", HashAlgo::Sha256, 1024),
    ] {
        let c = Config::new(algo, ChunkParams::with_avg(avg).unwrap());
        let text = c.to_toml();
        assert_eq!(Config::parse(&text, Path::new(name)).unwrap(), c);
        pin_bytes(name, text.as_bytes());
    }
}

/// A file of 1,000 chunks, `chunk <i>\n` each: stored as chunk lists.
fn list_case(algo: HashAlgo) -> FileObject {
    FileObject {
        chunks: (0..1000)
            .map(|i| {
                let c = format!("chunk {i}\n");
                ChunkRef {
                    id: algo.hash(Domain::Chunk, c.as_bytes()),
                    len: c.len() as u32,
                }
            })
            .collect(),
    }
}

#[test]
fn file_lists_are_pinned() {
    let mut per_algo = serde_json::Map::new();
    for algo in ALGOS {
        let f = list_case(algo);
        assert_eq!(f.id(algo), ref_file_id(algo, &f.chunks));
        let (object, lists) = f.encode_stored(algo);
        // The cut rule, restated: after a chunk whose id ends in a u32 (LE) divisible by
        // 64, once the list holds 16 refs; always at 1024 refs.
        let mut cuts = Vec::new();
        let mut run = 0;
        for (i, c) in f.chunks.iter().enumerate() {
            run += 1;
            let tail = u32::from_le_bytes(c.id.0[28..].try_into().unwrap());
            if run == 1024 || (run >= 16 && tail % 64 == 0) || i + 1 == f.chunks.len() {
                cuts.push(i + 1);
                run = 0;
            }
        }
        let mut start = 0;
        let mut want_object = vec![2u8];
        want_object.extend((cuts.len() as u32).to_le_bytes());
        for (end, (id, enc)) in cuts.iter().zip(&lists) {
            let mut want = ((end - start) as u32).to_le_bytes().to_vec();
            for c in &f.chunks[start..*end] {
                want.extend(c.id.0);
                want.extend(c.len.to_le_bytes());
            }
            assert_eq!(*enc, want);
            assert_eq!(id.0, ref_hash(algo, Domain::ChunkList.context(), &want));
            want_object.extend(id.0);
            start = *end;
        }
        assert_eq!((cuts.len(), object.clone()), (lists.len(), want_object));
        per_algo.insert(
            algo.name().into(),
            json!({
                "cuts": cuts,
                "lists": lists.iter().map(|(id, _)| id.to_hex()).collect::<Vec<_>>(),
                "encoding": hex(&object),
                "file_id": f.id(algo).to_hex(),
            }),
        );
    }
    pin(
        "file-lists.json",
        &json!({ "chunk_contents": "chunk <i>\n for i in 0..1000", "ids": per_algo }),
    );
}

// ---------------------------------------------------------------------------------------
// Seeds for fuzzing: valid encodings of every decoder's input.

fn corpus() -> Vec<(String, Vec<u8>)> {
    let algo = HashAlgo::Blake3;
    let built = build(&fixed_index(algo), algo).unwrap();
    let mut trees = Vec::new();
    trees_by_path(&built.trees, built.root, "", &mut trees);
    let (first, second) = fixed_layers(algo);
    let (_, meta_pack, meta_idx) = write_pack(PackClass::Meta, &meta_objects());
    let (_, data_pack, data_idx) = write_pack(PackClass::Data, &data_objects());
    let mut out = vec![
        ("tree/empty".into(), Tree::default().encode()),
        ("tree/root".into(), trees[0].2.encode()),
        ("tree/data".into(), trees[2].2.encode()),
        ("layer/first".into(), first.encode()),
        ("layer/second".into(), second.encode()),
        ("file/empty".into(), file_case(algo, 0).encode()),
        ("file/one".into(), file_case(algo, 1).encode()),
        ("file/five".into(), file_case(algo, 5).encode()),
        ("file/lists".into(), list_case(algo).encode_stored(algo).0),
        (
            "file/list".into(),
            list_case(algo).encode_stored(algo).1[0].1.clone(),
        ),
        ("pack-index/empty.idx".into(), empty_pack_index(algo)),
        ("pack-index/meta.idx".into(), meta_idx),
        ("pack-index/data.idx".into(), data_idx),
        ("pack/meta.pack".into(), meta_pack),
        ("midx/two-packs".into(), pinned_midx()),
        ("midx/empty".into(), ref_midx(&[])),
        ("layer-graph/two-layers".into(), pinned_layer_graph()),
        ("pack/data.pack".into(), data_pack),
        (
            "staging-index/empty".into(),
            saved_index_bytes(&mut StagingIndex::default(), algo),
        ),
        (
            "staging-index/small".into(),
            saved_index_bytes(&mut small_staging_index(), algo),
        ),
        (
            "staging-index/small-v4".into(),
            ref_staging_index(algo, &small_staging_index(), 4),
        ),
        (
            "staging-index/small-v3".into(),
            ref_staging_index(algo, &small_staging_index(), 3),
        ),
    ];
    for (name, h, avg) in [
        ("config/default.toml", HashAlgo::Blake3, 65536),
        ("config/sha256-1k.toml", HashAlgo::Sha256, 1024),
    ] {
        let c = Config::new(h, ChunkParams::with_avg(avg).unwrap());
        out.push((name.into(), c.to_toml().into_bytes()));
    }
    out
}

#[test]
fn fuzz_corpus_decodes() {
    for (name, bytes) in corpus() {
        pin_bytes(&format!("corpus/{name}"), &bytes);
    }
    let root = fixtures().join("corpus");
    let dir = tempfile::tempdir().unwrap();
    for decoder in std::fs::read_dir(&root).unwrap() {
        let decoder = decoder.unwrap().path();
        let kind = decoder.file_name().unwrap().to_str().unwrap().to_string();
        for seed in std::fs::read_dir(&decoder).unwrap() {
            let path = seed.unwrap().path();
            let b = std::fs::read(&path).unwrap();
            let ok = match kind.as_str() {
                "tree" => Tree::decode(&b).is_ok(),
                "layer" => Layer::decode(&b).is_ok(),
                "file" => file::decode_stored(&b).is_ok() || file::decode_list(&b).is_ok(),
                "pack" => b.starts_with(b"CAIRNPAK"),
                "midx" => {
                    midx::Midx::from_bytes(b, HashAlgo::Blake3).is_ok_and(|m| m.verify().is_ok())
                }
                "layer-graph" => layer_graph::LayerGraph::from_bytes(b, HashAlgo::Blake3).is_ok(),
                "pack-index" => {
                    PackIndex::open(&path).is_ok_and(|i| i.verify(HashAlgo::Blake3).is_ok())
                }
                "staging-index" => {
                    let p = dir.path().join("index");
                    std::fs::write(&p, &b).unwrap();
                    StagingIndex::load(&p, HashAlgo::Blake3).is_ok()
                }
                "config" => Config::parse(std::str::from_utf8(&b).unwrap(), &path).is_ok(),
                "reflog" => cairn::reflog::parse(&b).is_ok_and(|e| !e.is_empty()),
                "resume" => cairn::resume::decode(&b).is_ok_and(|r| !r.is_empty()),
                "watch-state" => cairn::watch::state::decode(&b).is_ok(),
                other => panic!("unknown corpus directory {other}"),
            };
            assert!(ok, "{} does not decode", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// (f) A frozen repository written by an earlier cairn.

/// Copies the fixture's `.cairn` to a temporary worktree; git keeps no empty directories,
/// so `tmp/` is created here.
fn open_repo_v1() -> (tempfile::TempDir, Repository) {
    open_frozen("repo-v1")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn read_path(repo: &Repository, tree: ObjectId, path: &str) -> Vec<u8> {
    let mut id = tree;
    let mut parts = path.split('/').peekable();
    while let Some(name) = parts.next() {
        let t = repo.read_tree(&id).unwrap();
        let e = t.get(name.as_bytes()).unwrap_or_else(|| panic!("{path}"));
        id = e.id;
        if parts.peek().is_none() {
            let file = repo.read_file(&id).unwrap();
            let mut bytes = Vec::new();
            for c in &file.chunks {
                bytes.extend(repo.read_chunk(&c.id).unwrap());
            }
            assert_eq!(bytes.len() as u64, e.size);
            return bytes;
        }
    }
    unreachable!("a path has a last component")
}

#[test]
fn repo_v1_reads_back() {
    let pinned: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("repo-v1.json")).unwrap())
            .unwrap();
    let s = |k: &str| pinned[k].as_str().unwrap().to_string();
    let (_dir, repo) = open_repo_v1();
    let (line, head) = repo.head().unwrap();
    assert_eq!(line.as_deref(), Some("main"));
    let head = head.unwrap();
    assert_eq!(head.to_hex(), s("head"));
    let tag = std::fs::read_to_string(repo.dir().join("refs/tags/v1")).unwrap();
    assert_eq!(tag.trim_end(), s("first"));

    let second = repo.read_layer(&head).unwrap();
    assert_eq!(second.parent.map(|p| p.to_hex()), Some(s("first")));
    assert_eq!(second.tree.to_hex(), s("second_tree"));
    assert_eq!(second.message, "second");
    let first = repo.read_layer(&s("first").parse().unwrap()).unwrap();
    assert_eq!(first.parent, None);
    assert_eq!(first.tree.to_hex(), s("first_tree"));

    let names: Vec<String> = repo
        .read_tree(&second.tree)
        .unwrap()
        .entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    let want: Vec<String> = serde_json::from_value(pinned["root_names"].clone()).unwrap();
    assert_eq!(names, want);

    let worktree = fixtures().join("repo-v1");
    for path in [
        "README.md",
        "bin/run.sh",
        "data/big.bin",
        "data/notes.txt",
        "empty",
    ] {
        let want = std::fs::read(worktree.join(path)).unwrap();
        assert_eq!(read_path(&repo, second.tree, path), want, "{path}");
    }
    assert_eq!(read_path(&repo, second.tree, "link"), b"README.md");
    let old_notes = read_path(&repo, first.tree, "data/notes.txt");
    let now = std::fs::read(worktree.join("data/notes.txt")).unwrap();
    assert!(now.starts_with(&old_notes) && now.len() > old_notes.len());

    // Unchanged subtrees are shared between the layers.
    let bin = |tree| repo.read_tree(&tree).unwrap().get(b"bin").unwrap().id;
    assert_eq!(bin(first.tree), bin(second.tree));

    // Every pack index verifies, both codecs occur, and every object reads back verified.
    let mut codecs = std::collections::HashSet::new();
    for p in repo.store.packs() {
        p.index.verify(repo.algo()).unwrap();
        for e in p.index.entries() {
            let e = e.unwrap();
            codecs.insert(e.codec as u8);
            match e.kind {
                ObjectKind::Chunk => drop(repo.read_chunk(&e.id).unwrap()),
                ObjectKind::File => drop(repo.read_file(&e.id).unwrap()),
                ObjectKind::Tree => drop(repo.read_tree(&e.id).unwrap()),
                ObjectKind::Layer => drop(repo.read_layer(&e.id).unwrap()),
                ObjectKind::List => panic!("format 1 of repo-v1 has no chunk lists"),
            }
        }
    }
    assert_eq!(codecs.len(), 2, "raw and zstd records");
    let index = repo.load_index().unwrap();
    assert_eq!(index.base_tree, Some(second.tree));
    assert_eq!(build(&index, repo.algo()).unwrap().root, second.tree);
}

/// Copies a frozen repository's `.cairn` to a temporary worktree, creating `tmp/`.
fn open_frozen(name: &str) -> (tempfile::TempDir, Repository) {
    let src = fixtures().join(name).join(".cairn");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, &dir.path().join(".cairn"));
    std::fs::create_dir_all(dir.path().join(".cairn/tmp")).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    (dir, repo)
}

/// The chunk lists a stored file object names (none when it is stored whole).
fn stored_lists(repo: &Repository, id: &ObjectId) -> Vec<String> {
    let raw = repo.store.read(id, ObjectKind::File, repo.dir()).unwrap();
    match file::decode_stored(&raw).unwrap() {
        file::StoredFile::Whole(_) => Vec::new(),
        file::StoredFile::Lists(ids) => ids.iter().map(cairn::ObjectId::to_hex).collect(),
    }
}

#[test]
fn repo_lists_reads_back() {
    let pinned: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("repo-lists.json")).unwrap())
            .unwrap();
    let (_dir, repo) = open_frozen("repo-lists");
    let head = repo.head().unwrap().1.unwrap();
    assert_eq!(head.to_hex(), pinned["head"].as_str().unwrap());
    let second = repo.read_layer(&head).unwrap();
    let first = repo.read_layer(&second.parent.unwrap()).unwrap();
    assert_eq!(
        second.parent.unwrap().to_hex(),
        pinned["first"].as_str().unwrap()
    );

    let now = std::fs::read(fixtures().join("repo-lists/big.bin")).unwrap();
    let mut old = now[..200_000].to_vec();
    old.extend(&now[203_000..]);
    let mut lists = Vec::new();
    for (layer, want, key) in [
        (&first, &old, "first_lists"),
        (&second, &now, "second_lists"),
    ] {
        let entry = repo
            .read_tree(&layer.tree)
            .unwrap()
            .get(b"big.bin")
            .unwrap()
            .clone();
        assert!(read_path(&repo, layer.tree, "big.bin") == *want, "{key}");
        let got = stored_lists(&repo, &entry.id);
        let pinned: Vec<String> = serde_json::from_value(pinned[key].clone()).unwrap();
        assert_eq!(got, pinned, "{key}");
        lists.push(got);
    }
    // The insertion changed the one list around it; the other four are shared.
    let shared = lists[1].iter().filter(|l| lists[0].contains(l)).count();
    assert_eq!((shared, lists[1].len()), (4, 5));

    for p in repo.store.packs() {
        p.index.verify(repo.algo()).unwrap();
        for e in p.index.entries().flatten() {
            match e.kind {
                ObjectKind::File => drop(repo.read_file(&e.id).unwrap()),
                ObjectKind::Tree => drop(repo.read_tree(&e.id).unwrap()),
                ObjectKind::Layer => drop(repo.read_layer(&e.id).unwrap()),
                ObjectKind::Chunk => drop(repo.read_chunk(&e.id).unwrap()),
                ObjectKind::List => {
                    let raw = repo
                        .store
                        .read(&e.id, ObjectKind::List, repo.dir())
                        .unwrap();
                    assert_eq!(file::list_id(repo.algo(), &raw), e.id);
                }
            }
        }
    }
}

/// FORMAT.md quotes pinned values in its worked examples; they must stay the real ones.
#[test]
fn format_md_quotes_pinned_values() {
    let doc = std::fs::read_to_string(fixtures().join("../docs/FORMAT.md")).unwrap();
    let hashes: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("hashes.json")).unwrap())
            .unwrap();
    let tl: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tree-and-layer.json")).unwrap(),
    )
    .unwrap();
    let files: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("files.json")).unwrap())
            .unwrap();
    let packs: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("packs.json")).unwrap())
            .unwrap();
    let lists: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("file-lists.json")).unwrap())
            .unwrap();
    let mut quoted: Vec<&Value> = Vec::new();
    for d in hashes["domains"].as_array().unwrap() {
        quoted.extend([&d["blake3_key"], &d["blake3"], &d["sha256"]]);
    }
    quoted.extend([
        &tl["blake3"]["root"],
        &tl["sha256"]["root"],
        &tl["blake3"]["layers"][0]["id"],
        &tl["sha256"]["layers"][0]["id"],
        &tl["blake3"]["layers"][0]["tree"],
        &files["cases"][2]["ids"]["blake3"]["file_id"],
        &files["cases"][2]["ids"]["sha256"]["file_id"],
        &lists["ids"]["blake3"]["file_id"],
        &lists["ids"]["blake3"]["lists"][0],
        &packs["data"]["name"],
    ]);
    for v in quoted {
        let v = v.as_str().unwrap();
        assert!(doc.contains(v), "docs/FORMAT.md should quote {v}");
    }
}

/// The resume file of an add (docs/FORMAT.md, section 14a). The expected bytes are also
/// built here from the description, independently of the writer.
#[test]
fn resume_file_is_pinned() {
    use cairn::index::Stat;
    use cairn::object::ChunkRef;
    use cairn::resume::{decode, encode, Partial};
    let chunk = |n: u8, len: u32| ChunkRef {
        id: ObjectId::from_slice(&[n; 32]).unwrap(),
        len,
    };
    let records = vec![
        (
            b"data/big.bin".to_vec(),
            Partial {
                stat: Stat {
                    size: 5 << 30,
                    mtime_ns: 1_700_000_000_000_000_001,
                    ctime_ns: 1_700_000_000_000_000_002,
                    ino: 4242,
                    mode: 0o100644,
                },
                offset: 196_608,
                chunks: vec![chunk(1, 65_536), chunk(2, 131_072)],
            },
        ),
        (
            "odd name \u{e9}".as_bytes().to_vec(),
            Partial {
                stat: Stat {
                    size: 9 << 20,
                    mtime_ns: -1,
                    ctime_ns: 0,
                    ino: u64::MAX,
                    mode: 0o100755,
                },
                offset: 0,
                chunks: vec![],
            },
        ),
    ];
    let refs: Vec<(&[u8], &Partial)> = records.iter().map(|(r, p)| (r.as_slice(), p)).collect();
    let bytes = encode(&refs);
    let mut by_hand = b"CAIRNRSM".to_vec();
    by_hand.extend(1u32.to_le_bytes());
    by_hand.extend(2u32.to_le_bytes());
    for (rel, p) in &records {
        by_hand.extend((rel.len() as u32).to_le_bytes());
        by_hand.extend(rel);
        by_hand.extend(p.stat.size.to_le_bytes());
        by_hand.extend(p.stat.mtime_ns.to_le_bytes());
        by_hand.extend(p.stat.ctime_ns.to_le_bytes());
        by_hand.extend(p.stat.ino.to_le_bytes());
        by_hand.extend(p.stat.mode.to_le_bytes());
        by_hand.extend(p.offset.to_le_bytes());
        by_hand.extend((p.chunks.len() as u32).to_le_bytes());
        for c in &p.chunks {
            by_hand.extend(c.id.as_bytes());
            by_hand.extend(c.len.to_le_bytes());
        }
    }
    let sum = *blake3::hash(&by_hand).as_bytes();
    by_hand.extend(sum);
    assert_eq!(hex(&bytes), hex(&by_hand));
    pin_bytes("resume/add-resume", &bytes);
    let fixture = std::fs::read(fixtures().join("resume/add-resume")).unwrap();
    assert_eq!(decode(&fixture).unwrap(), records);
}

/// The reflog (docs/FORMAT.md, "Reflog"): one text line per move. The expected bytes are
/// also built here from the description, independently of the writer.
#[test]
fn reflog_is_pinned() {
    use cairn::reflog::{parse, Entry};
    let id = |n: u8| ObjectId::from_slice(&[n; 32]).unwrap();
    let entries = vec![
        Entry {
            old: None,
            new: Some(id(0xab)),
            time_ns: 1_700_000_000_000_000_001,
            message: "commit (initial): first".into(),
        },
        Entry {
            old: Some(id(0xab)),
            new: Some(id(0x01)),
            time_ns: 1_700_000_000_500_000_000,
            message: "checkout: moving from main to v1 — naïve".into(),
        },
        Entry {
            old: Some(id(0x01)),
            new: Some(id(0xab)),
            time_ns: 0,
            message: String::new(),
        },
    ];
    let bytes: Vec<u8> = entries.iter().flat_map(Entry::encode).collect();
    let mut by_hand = String::new();
    for e in &entries {
        let hex = |i: Option<ObjectId>| i.map_or("0".repeat(64), |i| hex(i.as_bytes()));
        let line = format!(
            "{} {} {}\t{}\n",
            hex(e.old),
            hex(e.new),
            e.time_ns,
            e.message
        );
        by_hand.push_str(&line);
    }
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), by_hand);
    pin_bytes("reflog/HEAD", &bytes);
    let fixture = std::fs::read(fixtures().join("reflog/HEAD")).unwrap();
    assert_eq!(parse(&fixture).unwrap(), entries);
}

/// The monitor's state file (docs/FORMAT.md, "Monitor state file"). The expected bytes are
/// also built here from the description, independently of the writer.
#[test]
fn watch_state_is_pinned() {
    use cairn::watch::state::{decode, encode, State};
    use cairn::watch::Token;
    let state = State {
        token: Token {
            instance: 0x0123_4567_89ab_cdef,
            seq: 1_000_001,
        },
        index: [0xa5; 32],
        recheck: vec![
            b"d000".to_vec(),
            b"d001/f0007".to_vec(),
            "odd name \u{e9}\t".as_bytes().to_vec(),
        ],
    };
    let bytes = encode(&state);
    let mut by_hand = b"CAIRNWST".to_vec();
    by_hand.extend(1u32.to_le_bytes());
    by_hand.extend(state.token.instance.to_le_bytes());
    by_hand.extend(state.token.seq.to_le_bytes());
    by_hand.extend(state.index);
    by_hand.extend(3u32.to_le_bytes());
    for p in &state.recheck {
        by_hand.extend((p.len() as u32).to_le_bytes());
        by_hand.extend(p);
    }
    let sum = *blake3::hash(&by_hand).as_bytes();
    by_hand.extend(sum);
    assert_eq!(hex(&bytes), hex(&by_hand));
    pin_bytes("watch/state", &bytes);
    let fixture = std::fs::read(fixtures().join("watch/state")).unwrap();
    assert_eq!(decode(&fixture).unwrap(), state);
}

/// The monitor's answers on its socket (docs/FORMAT.md, "Monitor protocol"), built by
/// hand from the description.
#[test]
fn watch_answers_are_pinned() {
    use cairn::watch::protocol::{Answer, Health, Question};
    use cairn::watch::Token;
    let t = Token {
        instance: 0xfeed_f00d_0000_0001,
        seq: 77,
    };
    let head = |kind: u8| {
        let mut b = b"CAIRNWAN".to_vec();
        b.extend(1u32.to_le_bytes());
        b.push(kind);
        b.extend(t.instance.to_le_bytes());
        b.extend(t.seq.to_le_bytes());
        b
    };
    let mut changes = head(0);
    changes.extend(2u32.to_le_bytes());
    for p in [&b"a/b"[..], b"d000"] {
        changes.extend((p.len() as u32).to_le_bytes());
        changes.extend(p);
    }
    let mut status = head(2);
    status.extend(4242u32.to_le_bytes());
    status.extend(1001u32.to_le_bytes());
    status.extend(0u32.to_le_bytes());
    let mut stopping = head(3);
    stopping.extend(4242u32.to_le_bytes());
    let health = Health {
        pid: 4242,
        directories: 1001,
        reason: String::new(),
    };
    for (answer, want) in [
        (
            Answer::Changes(t, vec![b"a/b".to_vec(), b"d000".to_vec()]),
            changes,
        ),
        (Answer::Everything(t), head(1)),
        (Answer::Status(t, health), status),
        (Answer::Stopping(t, 4242), stopping),
    ] {
        assert_eq!(hex(&answer.encode()), hex(&want));
        assert_eq!(Answer::decode(&want).unwrap(), answer);
    }
    assert_eq!(
        Question::Since(t).encode(),
        b"cairn-watch 1 since feedf00d00000001 77\n"
    );
    assert_eq!(Question::Status.encode(), b"cairn-watch 1 status\n");
    assert_eq!(Question::Stop.encode(), b"cairn-watch 1 stop\n");
}
