//! Transport microbenchmarks (criterion): the receive-buffer pool on the hot path of every large
//! reply (take a page-aligned buffer, freeze it into `Bytes`, drop the last view so it goes back),
//! against mapping a fresh buffer each time, which is what the pool saves.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nfsx_core::buf::BufferPool;

const MIB: usize = 1 << 20;
/// A 1 MiB READ reply with its headers: the size the client's pools hand out.
const BUFFER_LEN: usize = MIB + 64 * 1024;

fn buffer_pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("buffer pool");
    g.throughput(Throughput::Elements(1));
    let pool = BufferPool::new(BUFFER_LEN, 64);
    // Warm: the first take maps, every later one reuses.
    drop(pool.take().expect("map a buffer").freeze(0));
    g.bench_function("take, freeze, drop (1 MiB reply buffer, reused)", |b| {
        b.iter(|| {
            let mut buf = pool.take().expect("a pooled buffer");
            buf.as_mut_slice()[0] = 1;
            drop(black_box(buf.freeze(4096)));
        });
    });
    let unpooled = BufferPool::new(BUFFER_LEN, 0);
    g.bench_function("take, freeze, drop (1 MiB, mapped afresh: no pool)", |b| {
        b.iter(|| {
            let mut buf = unpooled.take().expect("a fresh mapping");
            buf.as_mut_slice()[0] = 1;
            drop(black_box(buf.freeze(4096)));
        });
    });
    g.finish();
}

criterion_group!(benches, buffer_pool);
criterion_main!(benches);
