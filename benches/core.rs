//! Criterion benches of cairn's building blocks (filled in by the benchmark work).
use criterion::{criterion_group, criterion_main, Criterion};

fn placeholder(c: &mut Criterion) {
    c.bench_function("hash_64k", |b| {
        let data = vec![7u8; 65536];
        b.iter(|| cairn::HashAlgo::Blake3.hash(cairn::hash::Domain::Chunk, &data))
    });
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
