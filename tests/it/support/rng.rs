//! The one seeded random generator of the tests, so that every run of a test makes the same
//! data and does the same things.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, RngExt as _, SeedableRng as _};

/// A seeded generator. xoshiro256++ rather than rand's `StdRng`, whose algorithm may change
/// between versions of rand: a failing seed should fail again after an upgrade.
pub(crate) struct Rng(Xoshiro256PlusPlus);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `len` random bytes: incompressible, so zstd stores them raw.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.0.fill_bytes(&mut out);
        out
    }
}

/// `len` random bytes from the generator seeded with `seed`, different for each seed.
pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    Rng::new(seed).bytes(len)
}

/// Compressible text of about `len` bytes.
pub(crate) fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "cairn", "layer", "chunk", "tree", "stone", "river", "north", "data", "scan", "pack",
    ];
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(rng.pick(WORDS).as_bytes());
        out.push(if rng.below(8) == 0 { b'\n' } else { b' ' });
        if rng.below(16) == 0 {
            out.extend_from_slice(format!("{:x} ", rng.next()).as_bytes());
        }
    }
    out.truncate(len);
    out
}
