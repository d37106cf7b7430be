//! Proofs built over in-memory objects (the same builders `cairn prove` uses), verified,
//! and tampered with every way we can think of.

use proptest::prelude::*;

use super::*;
use crate::merkle;
use crate::object::{Layer, LayerCounts, Tree, TreeEntry};

fn leaves(n: u32) -> Vec<ObjectId> {
    (0..n)
        .map(|i| HashAlgo::Blake3.hash(Domain::FileLeaf, &i.to_le_bytes()))
        .collect()
}

#[test]
fn range_proofs_rebuild_every_root() {
    let algo = HashAlgo::Blake3;
    for n in 1..34usize {
        let l = leaves(n as u32);
        let root = merkle::root(algo, Domain::FileNode, &l);
        for a in 0..n {
            for b in a + 1..=n {
                let p = range_proof(algo, Domain::FileNode, &l, a, b);
                assert!(p.len() <= 2 * 6, "n={n} a={a} b={b}: {} hashes", p.len());
                let got = root_from_range(algo, Domain::FileNode, n, a, &l[a..b], &p);
                assert_eq!(got, Some(root), "n={n} a={a} b={b}");
                // A wrong leaf, a missing or an extra hash, or another position fail.
                let mut wrong = l[a..b].to_vec();
                wrong[0] = algo.hash(Domain::FileLeaf, b"not a leaf");
                let bad = root_from_range(algo, Domain::FileNode, n, a, &wrong, &p);
                assert_ne!(bad, Some(root), "n={n} a={a} b={b}");
                if let Some((_, short)) = p.split_last() {
                    let bad = root_from_range(algo, Domain::FileNode, n, a, &l[a..b], short);
                    assert_ne!(bad, Some(root));
                }
                let mut long = p.clone();
                long.push(root);
                let bad = root_from_range(algo, Domain::FileNode, n, a, &l[a..b], &long);
                assert_eq!(bad, None);
                if b < n {
                    let bad = root_from_range(algo, Domain::FileNode, n, a + 1, &l[a..b], &p);
                    assert_ne!(bad, Some(root), "n={n} a={a} b={b}");
                }
            }
        }
    }
}

#[test]
fn one_pass_root_and_path_match_merkle() {
    let algo = HashAlgo::Blake3;
    // Small trees exhaustively; large ones, which hash subtrees in parallel, at a few leaves.
    let small = (0..40u32).flat_map(|n| (0..=n as usize).map(move |i| (n, i)));
    let large = [4095u32, 4096, 4097, 10_000]
        .into_iter()
        .flat_map(|n| [0, 1, 4095, n as usize - 1, n as usize].map(|i| (n, i)));
    for (n, i) in small.chain(large) {
        let l = leaves(n);
        let want = merkle::root(algo, Domain::TreeNode, &l);
        let (root, path) = root_and_path(algo, Domain::TreeNode, &l, Some(i));
        assert_eq!(root, want, "n={n} i={i}");
        if i < l.len() {
            assert_eq!(
                path,
                merkle::audit_path(algo, Domain::TreeNode, &l, i),
                "n={n} i={i}"
            );
        } else {
            assert!(path.is_empty());
        }
        assert_eq!(
            root_and_path(algo, Domain::TreeNode, &l, None),
            (want, vec![])
        );
    }
}

#[test]
fn range_proof_matches_the_documented_example() {
    // docs/PROOFS.md section 4: 5 leaves, chunks 1..3 carried.
    let algo = HashAlgo::Blake3;
    let l = leaves(5);
    let p = range_proof(algo, Domain::FileNode, &l, 1, 3);
    assert_eq!(p, vec![l[0], l[3], l[4]]);
    let h = |a: &ObjectId, b: &ObjectId| merkle::parent(algo, Domain::FileNode, a, b);
    let want = h(&h(&h(&l[0], &l[1]), &h(&l[2], &l[3])), &l[4]);
    assert_eq!(merkle::root(algo, Domain::FileNode, &l), want);
}

#[test]
fn empty_range_is_the_empty_root() {
    let algo = HashAlgo::Sha256;
    let empty = merkle::root(algo, Domain::FileNode, &[]);
    assert_eq!(
        root_from_range(algo, Domain::FileNode, 0, 0, &[], &[]),
        Some(empty)
    );
    assert_eq!(
        root_from_range(algo, Domain::FileNode, 1, 0, &[], &[]),
        None
    );
    assert_eq!(
        root_from_range(algo, Domain::FileNode, 3, 1, &leaves(1), &[]),
        None
    );
    assert_eq!(
        root_from_range(algo, Domain::FileNode, 1, 1, &leaves(1), &[]),
        None
    );
}

#[test]
fn covering_chunks() {
    let c = |len| ChunkRef {
        id: ObjectId::default(),
        len,
    };
    let chunks = [c(10), c(10), c(10)];
    assert_eq!(covering(&chunks, 0, 1), (0, 1));
    assert_eq!(covering(&chunks, 9, 11), (0, 2));
    assert_eq!(covering(&chunks, 10, 20), (1, 2));
    assert_eq!(covering(&chunks, 29, 30), (2, 3));
    assert_eq!(covering(&chunks, 0, 30), (0, 3));
    assert_eq!(covering(&[], 0, 0), (0, 0));
}

#[test]
fn hex_is_strict() {
    assert_eq!(from_hex("00ff10"), Ok(vec![0, 255, 16]));
    assert!(from_hex("0").is_err());
    assert!(from_hex("FF").is_err());
    assert!(from_hex("0g").is_err());
    assert!(from_hex(" 0").is_err());
    assert_eq!(to_hex(&[0xab, 0x01]), "ab01");
}

/// Objects for a small layer: `docs/readme` (empty), `data/sub/a.bin` with `chunks`
/// chunks, `data/link` (a symlink) and some neighbours.
struct World {
    algo: HashAlgo,
    layer: Layer,
    root: Tree,
    data: Tree,
    sub: Tree,
    file: FileObject,
    chunks: Vec<Vec<u8>>,
}

fn entry(name: &str, kind: EntryKind, size: u64, id: ObjectId) -> TreeEntry {
    TreeEntry {
        name: name.as_bytes().to_vec(),
        kind,
        mode: if kind == EntryKind::Dir { 0 } else { 0o644 },
        size,
        mtime_ns: 1_700_000_000_123_456_789,
        id,
    }
}

fn world(algo: HashAlgo, sizes: &[usize]) -> World {
    let chunks: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| (0..*n).map(|j| (i * 31 + j * 7) as u8).collect())
        .collect();
    let file = FileObject {
        chunks: chunks
            .iter()
            .map(|d| ChunkRef {
                id: algo.hash(Domain::Chunk, d),
                len: d.len() as u32,
            })
            .collect(),
    };
    let size = file.size();
    let target = FileObject {
        chunks: vec![ChunkRef {
            id: algo.hash(Domain::Chunk, b"sub/a.bin"),
            len: 9,
        }],
    };
    let mut names: Vec<TreeEntry> = (0..7)
        .map(|i| {
            entry(
                &format!("n{i}"),
                EntryKind::File,
                i,
                algo.hash(Domain::FileNode, &[i as u8]),
            )
        })
        .collect();
    names.push(entry("a.bin", EntryKind::File, size, file.id(algo)));
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let sub = Tree { entries: names };
    let data = Tree {
        entries: vec![
            entry("link", EntryKind::Symlink, 9, target.id(algo)),
            entry("sub", EntryKind::Dir, size + 21, sub.id(algo)),
        ],
    };
    let empty = FileObject::default().id(algo);
    let docs = Tree {
        entries: vec![entry("readme", EntryKind::File, 0, empty)],
    };
    let root = Tree {
        entries: vec![
            entry("data", EntryKind::Dir, size + 30, data.id(algo)),
            entry("docs", EntryKind::Dir, 0, docs.id(algo)),
        ],
    };
    let layer = Layer {
        parent: None,
        tree: root.id(algo),
        time_ns: 1_700_000_000_000_000_000,
        counts: LayerCounts {
            files: 10,
            bytes: size + 30,
            ..Default::default()
        },
        author: "tester".into(),
        message: "proofs".into(),
    };
    World {
        algo,
        layer,
        root,
        data,
        sub,
        file,
        chunks,
    }
}

/// A proof as `cairn prove` builds it, for `path` through `trees` (one per level).
fn build(w: &World, trees: &[&Tree], names: &[&str], content: Option<(u64, u64)>) -> Proof {
    let mut levels = Vec::new();
    let mut e = None;
    for (t, n) in trees.iter().zip(names) {
        let i = t
            .entries
            .iter()
            .position(|x| x.name == n.as_bytes())
            .unwrap();
        let leaves: Vec<ObjectId> = t.entries.iter().map(|e| e.leaf(w.algo)).collect();
        let mut enc = Vec::new();
        t.entries[i].encode(&mut enc);
        let (root, path) = root_and_path(w.algo, Domain::TreeNode, &leaves, Some(i));
        assert_eq!(root, t.id(w.algo));
        levels.push(Level::new(enc, i, leaves.len(), path));
        e = Some(t.entries[i].clone());
    }
    let e = e.unwrap_or_else(|| entry("", EntryKind::Dir, w.layer.counts.bytes, w.layer.tree));
    let content = content.map(|(start, end)| {
        let (a, b) = covering(&w.file.chunks, start, end);
        Content::new(w.algo, &w.file, start, end, a, w.chunks[a..b].to_vec())
    });
    let path = names.join("/");
    let mut p = Proof {
        format: PROOF_FORMAT.into(),
        version: PROOF_VERSION,
        hash: w.algo,
        layer: HexId(w.layer.id(w.algo)),
        layer_encoding: Hex(w.layer.encode()),
        path: path.clone(),
        path_hex: Hex(path.into_bytes()),
        kind: Kind::from(e.kind),
        mode: e.mode,
        size: e.size,
        id: HexId(e.id),
        levels,
        content,
        check: HexId::default(),
    };
    p.seal();
    p
}

fn file_proof(w: &World, range: Option<(u64, u64)>) -> Proof {
    build(
        w,
        &[&w.root, &w.data, &w.sub],
        &["data", "sub", "a.bin"],
        range,
    )
}

fn verify_ok(p: &Proof) -> Verified {
    let v = verify_json(p.to_json().as_bytes(), Some(&p.layer.0)).expect("verifies");
    assert_eq!(verify(p, None).as_ref(), Ok(&v));
    v
}

#[test]
fn file_and_range_proofs_verify() {
    for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
        let w = world(algo, &[300, 1000, 257, 4096, 1]);
        let all: Vec<u8> = w.chunks.concat();
        let size = all.len() as u64;
        let v = verify_ok(&file_proof(&w, None));
        assert_eq!(
            (v.kind, v.size, v.path.as_str()),
            (Kind::File, size, "data/sub/a.bin")
        );
        assert_eq!(v.id, w.file.id(algo));
        assert!(v.range.is_none());
        for (s, e) in [
            (0, 1),
            (size - 1, size),
            (0, size),
            (299, 301),
            (250, 1600),
            (1556, 1558),
            (5653, 5654),
        ] {
            let v = verify_ok(&file_proof(&w, Some((s, e))));
            let r = v.range.expect("range");
            assert_eq!(r.bytes, &all[s as usize..e as usize], "{s}..{e}");
            assert_eq!(r.blake3, blake3::hash(&r.bytes).to_hex().to_string());
        }
    }
}

#[test]
fn directories_root_symlinks_and_empty_files_verify() {
    let w = world(HashAlgo::Blake3, &[10, 20]);
    let v = verify_ok(&build(&w, &[], &[], None));
    assert_eq!(
        (v.kind, v.id, v.path.as_str()),
        (Kind::Dir, w.layer.tree, "")
    );
    let v = verify_ok(&build(&w, &[&w.root, &w.data], &["data", "sub"], None));
    assert_eq!((v.kind, v.id), (Kind::Dir, w.sub.id(w.algo)));
    let v = verify_ok(&build(&w, &[&w.root, &w.data], &["data", "link"], None));
    assert_eq!((v.kind, v.size), (Kind::Symlink, 9));
    let docs = Tree {
        entries: vec![entry(
            "readme",
            EntryKind::File,
            0,
            FileObject::default().id(w.algo),
        )],
    };
    let mut p = build(&w, &[&w.root, &docs], &["docs", "readme"], None);
    assert_eq!(verify_ok(&p).size, 0);
    // Content of an empty file: no chunks, zero leaves, the empty root.
    p.content = Some(Content::new(
        w.algo,
        &FileObject::default(),
        0,
        0,
        0,
        vec![],
    ));
    p.seal();
    let r = verify_ok(&p).range.expect("content");
    assert_eq!((r.len, r.bytes.len()), (0, 0));
}

#[test]
fn another_root_fails() {
    let w = world(HashAlgo::Blake3, &[10, 20]);
    let p = file_proof(&w, Some((0, 5)));
    let other = HashAlgo::Blake3.hash(Domain::Layer, b"another layer");
    let err = verify_json(p.to_json().as_bytes(), Some(&other)).unwrap_err();
    assert!(
        matches!(err, ProofError::Invalid(ref m) if m.contains("not")),
        "{err}"
    );
}

/// Every way of changing one number the hashes alone cannot pin is still rejected.
#[test]
fn field_changes_are_rejected() {
    let w = world(HashAlgo::Blake3, &[300, 1000, 257, 4096, 1]);
    let base = file_proof(&w, Some((299, 1301)));
    let edits: Vec<fn(&mut Proof)> = vec![
        |p| p.levels[2].count -= 1,
        |p| p.levels[2].count += 1,
        |p| p.levels[0].index ^= 1,
        |p| p.levels[1].count += 1,
        |p| p.content.as_mut().unwrap().start += 1,
        |p| p.content.as_mut().unwrap().end -= 1,
        |p| p.content.as_mut().unwrap().leaf_count += 1,
        |p| p.content.as_mut().unwrap().first_leaf += 1,
        |p| p.content.as_mut().unwrap().chunks[0].offset += 1,
        |p| p.content.as_mut().unwrap().chunks[1].len -= 1,
        |p| p.content.as_mut().unwrap().chunks[1].data.0[5] ^= 1,
        |p| {
            p.content.as_mut().unwrap().range_proof.pop();
        },
        |p| p.content = None,
        |p| p.mode = 0o755,
        |p| p.size += 1,
        |p| p.kind = Kind::Symlink,
        |p| p.id.0 .0[0] ^= 1,
        |p| p.path = "data/sub/b.bin".into(),
        |p| p.path_hex.0.push(b'x'),
        |p| {
            p.levels.pop();
        },
        |p| p.levels[1].audit_path.clear(),
        |p| p.levels[0].entry.0[1] ^= 1,
        |p| p.layer_encoding.0[40] ^= 1,
        |p| p.layer.0 .0[3] ^= 1,
        |p| p.check.0 .0[31] ^= 1,
        |p| p.hash = HashAlgo::Sha256,
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut p = base.clone();
        edit(&mut p);
        assert!(verify(&p, None).is_err(), "edit {i} was accepted");
        assert!(
            verify_json(p.to_json().as_bytes(), None).is_err(),
            "edit {i}"
        );
    }
}

#[test]
fn malformed_documents_are_malformed() {
    let w = world(HashAlgo::Blake3, &[10, 20]);
    let good = file_proof(&w, Some((0, 5))).to_json();
    let malformed = |s: &str| {
        matches!(
            verify_json(s.as_bytes(), None),
            Err(ProofError::Malformed(_))
        )
    };
    assert!(malformed(""));
    assert!(malformed("{}"));
    assert!(malformed(&good[..good.len() / 2]));
    assert!(malformed(&good.replacen(
        "\"version\": 1",
        "\"version\": 2",
        1
    )));
    assert!(malformed(&good.replacen("blake3", "md5", 1)));
    assert!(malformed(&good.replacen(
        "\"check\"",
        "\"check\": \"00\", \"extra\"",
        1
    )));
    let layer = w.layer.id(w.algo).to_hex();
    assert!(malformed(&good.replacen(&layer, &layer.to_uppercase(), 1)));
    assert!(malformed(&good.replacen(&layer, &layer[1..], 1)));
    let huge = vec![b' '; MAX_PROOF_BYTES as usize + 1];
    assert!(matches!(
        verify_json(&huge, None),
        Err(ProofError::Malformed(_))
    ));
}

#[test]
fn reformatted_json_is_rejected_but_compact_is_canonical() {
    let w = world(HashAlgo::Blake3, &[10, 20]);
    let p = file_proof(&w, Some((0, 5)));
    let compact = serde_json::to_string(&p).unwrap();
    assert!(verify_json(compact.as_bytes(), None).is_ok());
    let spaced = p.to_json().replacen("{\n", "{ \n", 1);
    assert!(matches!(
        verify_json(spaced.as_bytes(), None),
        Err(ProofError::Invalid(_))
    ));
}

/// Every byte of a small proof, changed to each of several values, is rejected.
#[test]
fn every_single_byte_change_is_rejected() {
    let w = world(HashAlgo::Blake3, &[40, 30, 50]);
    let json = file_proof(&w, Some((35, 75))).to_json().into_bytes();
    assert!(verify_json(&json, None).is_ok());
    for i in 0..json.len() {
        for x in [1u8, 2, 0x20, 0x29, 0x80] {
            let mut m = json.clone();
            m[i] ^= x;
            assert!(verify_json(&m, None).is_err(), "byte {i} ^ {x:#x} accepted");
        }
        for b in [b' ', b'\t', b'\n', b'0', b'a', b'"'] {
            let mut m = json.clone();
            if m[i] != b {
                m[i] = b;
                assert!(verify_json(&m, None).is_err(), "byte {i} = {b} accepted");
            }
        }
    }
}

fn sample() -> &'static [u8] {
    static JSON: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let w = world(HashAlgo::Sha256, &[64, 300, 7, 90, 120, 33]);
        file_proof(&w, Some((60, 400))).to_json().into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_single_byte_changes_are_rejected(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let json = sample();
        let i = pos.index(json.len());
        prop_assume!(json[i] != byte);
        let mut m = json.to_vec();
        m[i] = byte;
        prop_assert!(verify_json(&m, None).is_err());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = verify_json(&bytes, None);
    }
}

/// Lists longer than a proof can hold are refused while the document is decoded, before they
/// are held: a proof under the size limit can claim a million levels in 50 MiB of JSON.
#[test]
fn overlong_lists_are_refused_while_decoding() {
    let w = world(HashAlgo::Blake3, &[40, 30, 50]);
    let good = file_proof(&w, Some((35, 75)));
    assert!(Proof::from_json(good.to_json().as_bytes()).is_ok());
    let refused = |p: &Proof, what: &str| {
        let json = serde_json::to_vec(p).unwrap();
        match Proof::from_json(&json) {
            Err(ProofError::Malformed(m)) => assert!(m.contains("more than"), "{what}: {m}"),
            other => panic!("{what}: decoded: {:?}", other.map(|_| ())),
        }
    };
    let mut p = good.clone();
    p.levels = vec![p.levels[0].clone(); MAX_LEVELS + 1];
    refused(&p, "levels");
    let mut p = good.clone();
    p.levels[0].audit_path = vec![HexId::default(); MAX_AUDIT + 1];
    refused(&p, "audit path");
    let content = good.content.as_ref().unwrap();
    let mut p = good.clone();
    p.content.as_mut().unwrap().range_proof = vec![HexId::default(); MAX_RANGE_PROOF + 1];
    refused(&p, "range proof");
    let mut p = good.clone();
    p.content.as_mut().unwrap().chunks = vec![content.chunks[0].clone(); MAX_CHUNKS + 1];
    refused(&p, "chunks");
    // At the limits they decode (and then fail verification, not decoding).
    let mut p = good.clone();
    p.levels = vec![p.levels[0].clone(); MAX_LEVELS];
    assert!(Proof::from_json(&serde_json::to_vec(&p).unwrap()).is_ok());
}
