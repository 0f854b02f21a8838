//! An empty receive-buffer pool is back-pressure (`maxbuffers`), against ganesha's VFS export:
//! a READ is not sent while every buffer is lent out as a view or reserved by a call in
//! flight. Calls that return at once say so (ENOBUFS); blocking reads wait for a buffer to
//! come back, or fail with ENOBUFS after `timeo`; reads that need fewer buffers at once still
//! work, one window at a time.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{pattern, server, url, vfs_scratch, Scratch};
use nfsx::proto::nfs3::{self, FileHandle, ReadArgs};
use nfsx::{Client, Error, OpenOptions};

const MIB: usize = 1 << 20;

fn busy(e: &Error) -> bool {
    matches!(e, Error::ReceiveBuffersBusy { limit: 2 }) && e.errno() == libc::ENOBUFS
}

#[test]
fn an_exhausted_pool_holds_reads_back_until_views_are_dropped() {
    let s = vfs_scratch("backpressure");
    let data = pattern(8 * MIB, 17);
    let file = s.client.create("f", 0o644).unwrap();
    file.write_at(&data, 0).unwrap();
    file.close().unwrap();

    // Two buffers; rsize 1 MiB so every READ reply lands in one; timeo 1 s bounds the waits.
    let client =
        Client::mount(&url(&server().vfs_url, &s.name, "maxbuffers=2&rsize=1048576&timeo=10")).unwrap();
    let file = client.open("f", &OpenOptions::new()).unwrap();

    // Reads that never need more than two buffers at once work, a window at a time.
    let mut back = vec![0; data.len()];
    assert_eq!(file.read_at(&mut back, 0).unwrap(), data.len());
    assert!(back == data);

    // Two views hold both buffers: nothing more goes out.
    let views = file.read_views(0, 2 * MIB).unwrap();
    assert_eq!(views.concat(), data[..2 * MIB]);
    let args = ReadArgs { file: file.handle().as_fh(), offset: 0, count: MIB as u32 };
    let refused = client.start::<nfs3::Read>(&args).unwrap_err();
    assert!(busy(&refused), "{refused}");
    let mut batch = client.batch(4);
    let refused = batch.submit::<nfs3::Read>(&args, 1).unwrap_err();
    assert!(busy(&refused), "{refused}");
    assert!(client.stats().receive_buffers_busy.load(Ordering::Relaxed) >= 2);
    // Small calls need no buffer.
    client.getattr(file.handle()).unwrap();

    // A blocking read waits up to timeo for a buffer, then says why it gave up.
    let t0 = Instant::now();
    let err = file.read_at(&mut back[..MIB], 0).unwrap_err();
    assert!(busy(&err), "{err}");
    assert!(t0.elapsed() >= Duration::from_millis(900), "gave up after {:?}", t0.elapsed());

    // ...and goes on as soon as the views are dropped.
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut mine = vec![0; data.len()];
            let t0 = Instant::now();
            let n = file.read_at(&mut mine, 0).unwrap();
            (n, mine, t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        drop(views);
        let (n, mine, waited) = reader.join().unwrap();
        assert_eq!(n, data.len());
        assert!(mine == data);
        assert!(waited >= Duration::from_millis(250), "did not wait for the views: {waited:?}");
    });

    // A read whose own views would need more buffers than there are fails at once.
    let t0 = Instant::now();
    let err = file.read_views(0, 3 * MIB).unwrap_err();
    assert!(busy(&err), "{err}");
    assert!(t0.elapsed() < Duration::from_millis(900), "waited for its own views: {:?}", t0.elapsed());
    assert!(file.read_views(0, 2 * MIB).is_ok(), "the failed read's views were let go");
}

#[test]
fn the_default_pool_never_holds_back_a_batch_that_fills_every_call_slot() {
    let s = vfs_scratch("backpressure-default");
    let data = pattern(16 * MIB, 18);
    let file = s.client.create("f", 0o644).unwrap();
    file.write_at(&data, 0).unwrap();
    const SLOTS: usize = 8;
    let client = Client::mount(&url(&server().vfs_url, &s.name, "maxinflight=8&rsize=1048576")).unwrap();
    let file = client.open("f", &OpenOptions::new()).unwrap();
    let views = file.read_views(0, data.len()).unwrap();
    assert_eq!(views.concat(), data);
    drop(views);

    let mut batch = client.batch(SLOTS);
    let mut replies = Vec::new();
    let (mut sent, mut done) = (0u64, 0u64);
    while done < 128 {
        while sent < 128 && !batch.is_full() {
            let offset = (sent % 16) * MIB as u64;
            let args = ReadArgs { file: file.handle().as_fh(), offset, count: MIB as u32 };
            batch.submit::<nfs3::Read>(&args, sent).unwrap();
            sent += 1;
        }
        batch.reap(&mut replies, 1, Duration::from_secs(10));
        for reply in replies.drain(..) {
            let tag = reply.tag;
            let at = (tag % 16) as usize * MIB;
            let same = reply.decode::<nfs3::Read, _>(|ok| ok.data == &data[at..at + MIB]).unwrap();
            assert!(same, "READ {tag} returned other data");
            done += 1;
        }
    }
}

/// A batch that reads its own replies (`rtc=1`) hands each large reply out before it reads
/// the next, so that reply's buffer is back in the pool when the next one needs a buffer:
/// the replies land in one or two buffers, still in the CPU's cache, instead of one buffer per
/// call in flight (the kernel's copy into memory out of the cache costs nearly twice as much).
#[test]
fn a_batch_reading_its_own_replies_lands_them_in_few_buffers() {
    // rtc=1 whatever else NFSX_TEST_OPTIONS adds: it takes precedence over `backend`.
    let (_s, client, fh, data) =
        file_mounted_with("backpressure-few-buffers", 16 * MIB, 19, "rtc=1&rsize=1048576&nconnect=1");
    const SLOTS: usize = 8;
    let mut batch = client.batch(SLOTS);
    let mut replies = Vec::new();
    let (mut sent, mut done) = (0u64, 0u64);
    while done < 64 {
        while sent < 64 && !batch.is_full() {
            let args = ReadArgs { file: fh.as_fh(), offset: (sent % 16) * MIB as u64, count: MIB as u32 };
            batch.submit::<nfs3::Read>(&args, sent).unwrap();
            sent += 1;
        }
        if done == 0 {
            // Every reply of the first window is in the socket, or on its way, before one is read.
            std::thread::sleep(Duration::from_millis(200));
        }
        batch.reap(&mut replies, 1, Duration::from_secs(10));
        for reply in replies.drain(..) {
            let at = (reply.tag % 16) as usize * MIB;
            assert!(reply.decode::<nfs3::Read, _>(|ok| ok.data == &data[at..at + MIB]).unwrap());
            done += 1;
        }
    }
    let buffers = client.receive_buffer_stats();
    assert!(buffers.mapped <= 2, "{SLOTS} calls in flight took {buffers:?}");
}

/// A scratch directory whose file "f" holds `len` bytes of pattern `seed`, and the directory
/// mounted again with `options`.
fn file_mounted_with(
    test: &str,
    len: usize,
    seed: u64,
    options: &str,
) -> (Scratch, Client, FileHandle, Vec<u8>) {
    let s = vfs_scratch(test);
    let data = pattern(len, seed);
    s.client.write_file("f", &data).unwrap();
    let client = Client::mount(&url(&server().vfs_url, &s.name, options)).unwrap();
    let fh = client.lookup("f").unwrap();
    (s, client, fh, data)
}

/// `read_async` hands out views of the buffers its replies were received in, not copies: two
/// held data views take both buffers of the pool, and the next READ is refused until they go.
#[test]
fn read_async_data_holds_its_receive_buffer_until_dropped() {
    let (_s, client, fh, data) =
        file_mounted_with("backpressure-async", 2 * MIB, 18, "maxbuffers=2&rsize=1048576&timeo=10");
    let read = |offset: usize| common::block_on(client.read_async(&fh, offset as u64, MIB as u32));
    let held = [read(0).unwrap().0, read(MIB).unwrap().0];
    assert!(held.concat() == data);
    let refused = read(0).unwrap_err();
    assert!(busy(&refused), "{refused}");
    drop(held);
    assert_eq!(read(0).unwrap().0, data[..MIB]);
}

/// READ futures waiting for a slot hold no receive buffer: only a call that has its slot
/// reserves one, so more READ futures than slots and buffers all complete, one after another,
/// rather than the later ones failing with ENOBUFS while the earlier ones wait.
#[test]
fn read_futures_waiting_for_a_slot_hold_no_receive_buffer() {
    let options = "maxinflight=1&nconnect=1&maxbuffers=2&rsize=1048576&timeo=10";
    let (_s, client, fh, data) = file_mounted_with("backpressure-slots", 4 * MIB, 19, options);
    let read_and_check = |block: usize| {
        let read = client.read_async(&fh, (block * MIB) as u64, MIB as u32);
        let expected = &data[block * MIB..(block + 1) * MIB];
        async move { read.await.map(|(view, _)| view == expected) }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let outcomes = runtime.block_on(async {
        tokio::join!(read_and_check(0), read_and_check(1), read_and_check(2), read_and_check(3))
    });
    for (block, outcome) in [outcomes.0, outcomes.1, outcomes.2, outcomes.3].into_iter().enumerate() {
        assert!(outcome.unwrap_or_else(|e| panic!("READ {block}: {e}")), "READ {block} returned other data");
    }
}

/// A READ future waiting for a receive buffer (its caller holds every view) waits without
/// holding its thread, and is woken to end when the client is shut down rather than at the
/// end of its wait.
#[test]
fn a_read_future_waiting_for_a_buffer_ends_when_the_client_shuts_down() {
    use std::future::Future;
    use std::task::{Context, Poll};
    // timeo 60 s: a wait ended by its timeout would show.
    let (_s, client, fh, _data) =
        file_mounted_with("backpressure-shutdown", 2 * MIB, 20, "maxbuffers=2&rsize=1048576&timeo=600");
    let read = |offset: usize| client.read_async(&fh, offset as u64, MIB as u32);
    let held = [common::block_on(read(0)).unwrap().0, common::block_on(read(MIB)).unwrap().0];
    let (woken, waker) = common::WakeCount::new();
    let mut cx = Context::from_waker(&waker);
    let mut third = Box::pin(read(0));
    let started = Instant::now();
    assert!(third.as_mut().poll(&mut cx).is_pending(), "both buffers are held");
    assert!(started.elapsed() < Duration::from_millis(500), "the poll waited {:?}", started.elapsed());
    assert_eq!(woken.get(), 0);
    client.shut_down();
    assert!(woken.get() > 0, "shutting down woke the waiting future");
    let outcome = third.as_mut().poll(&mut cx);
    assert!(matches!(outcome, Poll::Ready(Err(Error::ShutDown))), "{outcome:?}");
    drop(held);
}
