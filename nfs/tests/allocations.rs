//! Heap allocations per operation on the hot paths, counted by a global allocator that wraps
//! the system's, against ganesha, in both receive modes. In the steady state a GETATTR (and any
//! small call) allocates nothing: its request is encoded into a reused buffer, its reply slot
//! is reused, and its reply is a view of a shared receive arena. A large READ reply
//! allocates once (the small shared header of the `Bytes` that lends out its pooled buffer), a
//! default (UNSTABLE) WRITE once (the copy kept until COMMIT), and a read or write call a few
//! times more (its list of pieces); a path-level create or unlink allocates once (the name
//! cache's entry).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{mem_scratch, server, url};
use nfsx::proto::nfs3::{self, GetattrArgs};
use nfsx::Client;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn per_op(ops: u64, run: impl FnOnce()) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run();
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / ops as f64
}

#[test]
fn allocations_per_operation() {
    let s = mem_scratch("allocations");
    for mode in ["rtc=1", "rtc=0"] {
        let client = Client::mount(&url(&server().mem_url, &s.name, mode)).unwrap();
        let file = client.create("f", 0o644).unwrap();
        let fh = *file.handle();
        const OPS: u64 = 20_000;
        for _ in 0..1000 {
            client.getattr(&fh).unwrap();
        }
        let blocking = per_op(OPS, || {
            for _ in 0..OPS {
                client.getattr(&fh).unwrap();
            }
        });
        let mut batch = client.batch(16);
        let mut replies = Vec::with_capacity(16);
        let batched = per_op(OPS, || {
            let mut sent = 0;
            let mut done = 0;
            while done < OPS {
                while sent < OPS && !batch.is_full() {
                    batch.submit::<nfs3::Getattr>(&GetattrArgs { object: fh.as_fh() }, sent).unwrap();
                    sent += 1;
                }
                batch.reap(&mut replies, 1, Duration::from_secs(5));
                for r in replies.drain(..) {
                    r.decode::<nfs3::Getattr, _>(|_| ()).unwrap();
                    done += 1;
                }
            }
        });
        eprintln!("{mode}: allocations per GETATTR: blocking {blocking:.2}, batch {batched:.2}");
        // Not quite zero: a reply still held when the receive arena fills sends the next ones
        // to a fresh arena, one allocation per 64 KiB of replies.
        assert!(blocking < 0.25 && batched < 0.25, "{mode}: GETATTR allocates: {blocking:.2}, {batched:.2}");
        drop(batch);

        let v = common::vfs_scratch("allocations-io");
        let client = Client::mount(&url(&server().vfs_url, &v.name, mode)).unwrap();
        let data = common::pattern(16 << 20, 5);
        let file = client.create("big", 0o644).unwrap();
        file.write_at(&data, 0).unwrap();
        let mut back = vec![0; data.len()];
        file.read_at(&mut back, 0).unwrap();
        const CALLS: u64 = 4;
        let writes = per_op(CALLS, || {
            for _ in 0..CALLS {
                file.write_at(&data, 0).unwrap();
                file.fsync().unwrap();
            }
        });
        let reads = per_op(CALLS, || {
            for _ in 0..CALLS {
                file.read_at(&mut back, 0).unwrap();
            }
        });
        assert!(back == data);
        let views = per_op(CALLS, || {
            for _ in 0..CALLS {
                drop(file.read_views(0, data.len()).unwrap());
            }
        });
        let names: Vec<String> = (0..2000).map(|i| format!("n{i}")).collect();
        let creates = per_op(names.len() as u64, || {
            for n in &names {
                client.create(n, 0o644).unwrap().close().unwrap();
            }
        });
        let removes = per_op(names.len() as u64, || {
            for n in &names {
                client.unlink(n).unwrap();
            }
        });
        eprintln!(
            "{mode}: allocations per 16 MiB call: write_at+fsync {writes:.2}, read_at {reads:.2}, \
             read_views {views:.2}; per create+close {creates:.2}, per unlink {removes:.2}"
        );
        // 16 MiB is at least 16 RPCs (at the larger of rsize and wsize): about one allocation
        // each, and a few per call (more with event loops, whose arena turns over more often).
        let rpcs = (data.len() / client.fsinfo().rsize.max(client.fsinfo().wsize) as usize) as f64;
        for (what, n) in [("write_at+fsync", writes), ("read_at", reads), ("read_views", views)] {
            assert!(n <= rpcs + 16.0, "{mode}: {what} allocates {n:.2} times per 16 MiB ({rpcs} RPCs)");
        }
        assert!(creates < 2.0 && removes < 2.0, "{mode}: create {creates:.2}, unlink {removes:.2}");
    }
}
