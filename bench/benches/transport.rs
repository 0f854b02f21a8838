//! Transport microbenchmarks (criterion):
//! - the receive-buffer pool on the hot path of every large reply (take a page-aligned buffer,
//!   freeze it into `Bytes`, drop the last view so it goes back), against mapping a fresh
//!   buffer each time, which is what the pool saves;
//! - one round trip to a receive event loop and back (`Reactor::round_trip`: a no-op through
//!   the loop's queue, an eventfd wake-up, the loop's acknowledgement), on io_uring and on
//!   epoll, what handing work to a loop thread costs; and, as the floor, an io_uring NOP
//!   submitted and reaped on the calling thread.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nfsx_core::buf::BufferPool;
use nfsx_core::ring::{nop_round_trips, BackendChoice, Reactor, ReactorConfig};

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

fn ring_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring round trip");
    g.throughput(Throughput::Elements(1));
    if let Err(e) = nop_round_trips(1) {
        eprintln!("io_uring NOP skipped: {e}");
    } else {
        g.bench_function("io_uring NOP, submit and reap on this thread", |b| {
            b.iter_custom(|iters| nop_round_trips(iters).expect("io_uring NOPs"));
        });
    }
    for (name, backend) in [("io_uring", BackendChoice::Uring), ("epoll", BackendChoice::Epoll)] {
        let reactor = match Reactor::start(ReactorConfig { threads: 1, backend, ..ReactorConfig::default() })
        {
            Ok(reactor) => reactor,
            Err(e) => {
                eprintln!("{name} loop skipped: {e}");
                continue;
            }
        };
        g.bench_function(format!("to an {name} loop thread and back"), |b| {
            b.iter(|| reactor.round_trip(0).expect("the loop answers"));
        });
    }
    g.finish();
}

criterion_group!(benches, buffer_pool, ring_round_trip);
criterion_main!(benches);
