//! `verify --data` on a repository built through the library: a flipped byte in a raw and
//! in a compressed chunk.

use std::os::unix::fs::FileExt;

use cairn::ops::add::{add, AddOptions};
use cairn::ops::commit::{commit, CommitOptions};
use cairn::ops::init::{init, InitOptions};
use cairn::ops::verify::{verify, VerifyOptions};
use cairn::pack::{Codec, ObjectKind, RECORD_HEADER_LEN};
use cairn::progress::NoProgress;
use cairn::session::Common;
use cairn::{HashAlgo, ObjectId, Repository};

use crate::support::random_bytes;

/// A repository with one chunk stored raw (noise) and one stored with zstd (text).
fn repo(dir: &std::path::Path) -> Repository {
    let opts = InitOptions {
        dir: dir.to_path_buf(),
        hash: HashAlgo::Blake3,
        chunk_avg: None,
        separate: None,
    };
    init(&opts).unwrap();
    let noise = random_bytes(1, 10_000);
    std::fs::write(dir.join("noise"), noise).unwrap();
    std::fs::write(dir.join("text"), "all work and no play ".repeat(500)).unwrap();
    let repo = Repository::open(dir).unwrap();
    let common = Common::new(dir);
    let all = AddOptions {
        paths: vec![],
        all: true,
        dry_run: false,
        force: false,
        ignore_errors: false,
        exclude: Vec::new(),
        counts_only: false,
    };
    let locked = repo.lock(common.lock_timeout).unwrap();
    add(&locked, &common, &all, &NoProgress).unwrap();
    let msg = CommitOptions {
        message: "m".into(),
        author: None,
        new_line: None,
        ..Default::default()
    };
    commit(&locked, &msg, &NoProgress).unwrap();
    drop(locked);
    Repository::open(dir).unwrap()
}

/// Flips one payload byte of the chunk stored with `codec`; returns the chunk's id.
fn damage(repo: &Repository, codec: Codec) -> ObjectId {
    for p in repo.store.packs() {
        for e in p.index.entries().flatten() {
            if e.kind == ObjectKind::Chunk && e.codec == codec {
                let mut rw = std::fs::OpenOptions::new();
                let f = rw.read(true).write(true).open(p.path()).unwrap();
                let at = e.offset + RECORD_HEADER_LEN as u64 + 7;
                let mut b = [0u8];
                f.read_exact_at(&mut b, at).unwrap();
                f.write_all_at(&[b[0] ^ 1], at).unwrap();
                return e.id;
            }
        }
    }
    panic!("no chunk stored with {codec:?}");
}

#[test]
fn data_check_finds_a_flipped_byte_in_raw_and_compressed_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let with = |data| {
        let opts = VerifyOptions {
            data,
            layers: vec![],
        };
        verify(&repo, &opts, &NoProgress).unwrap()
    };
    assert!(with(true).is_clean());
    let raw = damage(&repo, Codec::Raw);
    let zstd = damage(&repo, Codec::Zstd);
    // The record headers are intact: only re-hashing the bytes finds the damage.
    assert!(with(false).is_clean());
    let out = with(true);
    let objects: Vec<&str> = out.damage.iter().map(|d| d.object.as_str()).collect();
    for id in [raw, zstd] {
        assert!(
            objects.contains(&format!("chunk {id}").as_str()),
            "{objects:?}"
        );
    }
}
