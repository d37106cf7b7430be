//! Pack index opening, lookups, listing and verification: never a panic, whatever the
//! bytes. The first byte picks whether the checksum is fixed up first, so that the
//! fuzzer also reaches the checks behind it.
#![no_main]

use cairn::hash::{Domain, ObjectId};
use cairn::pack::PackIndex;
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;

/// A scratch directory of this process, on a RAM file system when there is one: each run
/// writes its input there. scripts/fuzz.sh points CAIRN_FUZZ_SCRATCH at a directory of its
/// own, which it removes afterwards (so that concurrent runs leave each other alone).
fn scratch(name: &str) -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if let Some(dir) = std::env::var_os("CAIRN_FUZZ_SCRATCH") {
        std::path::PathBuf::from(dir)
    } else if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("cairn-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    if mode & 1 == 1 && bytes.len() >= 32 {
        let n = bytes.len() - 32;
        let sum = HashAlgo::Blake3.hash(Domain::Checksum, &bytes[..n]);
        bytes[n..].copy_from_slice(sum.as_bytes());
    }
    let path = scratch("idx").join("x.idx");
    std::fs::write(&path, &bytes).expect("write scratch");
    let Ok(idx) = PackIndex::open(&path) else {
        return;
    };
    let entries: Vec<_> = idx.entries().collect();
    assert_eq!(entries.len(), idx.len());
    let sorted = idx.verify(HashAlgo::Blake3).is_ok();
    for e in entries.iter().flatten() {
        let found = idx.lookup(&e.id);
        if sorted {
            assert_eq!(
                found.map(|f| f.id),
                Some(e.id),
                "a verified index finds its ids"
            );
        }
    }
    let _ = idx.lookup(&ObjectId([0x5a; 32]));
    let _ = idx.lookup(&ObjectId([0; 32]));
    let _ = idx.lookup(&ObjectId([0xff; 32]));
});
