//! The unit tests' seeded random generator: the one the integration tests use
//! (`tests/it/support/rng.rs`), so every run of a test makes the same data.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, SeedableRng as _};

/// `len` random bytes from the generator seeded with `seed`, different for each seed.
/// Incompressible, so zstd stores them raw.
pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Xoshiro256PlusPlus::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

/// A scratch directory holding empty `packs/` and `tmp/`, as a pack writer needs them.
pub(crate) fn pack_dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (packs, tmp) = (d.path().join("packs"), d.path().join("tmp"));
    std::fs::create_dir(&packs).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    (d, packs, tmp)
}
