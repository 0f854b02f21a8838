//! The asynchronous and batch APIs against ganesha: futures on tokio and on a bare `block_on`,
//! and a batch with many calls in flight reaped in completion order.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{block_on, mem_scratch, pattern, vfs_scratch};
use nfsx::proto::nfs3::{self, CreateArgs, CreateHow, DirOpArgs, Sattr3, StableHow, WriteArgs};

#[test]
fn futures_run_on_a_bare_block_on() {
    let s = vfs_scratch("async-block-on");
    let data = pattern(200_000, 4);
    s.client.write_file("f", &data).unwrap();
    let fh = s.client.lookup("f").unwrap();
    let attrs = block_on(s.client.getattr_async(&fh)).unwrap();
    assert_eq!(attrs.size, data.len() as u64);
    let (read, eof) = block_on(s.client.read_async(&fh, 1000, 5000)).unwrap();
    assert_eq!((&read[..], eof), (&data[1000..6000], false));

    let payload = b"written by a future";
    let args = WriteArgs {
        file: fh.as_fh(),
        offset: 0,
        count: payload.len() as u32,
        stable: StableHow::FileSync,
        data: payload,
    };
    let count = block_on(s.client.write_async(&args, |ok| ok.count)).unwrap();
    assert_eq!(count as usize, payload.len());
    assert_eq!(&std::fs::read(s.local.join("f")).unwrap()[..payload.len()], payload);

    let root = s.client.root_handle();
    let missing = nfs3::LookupArgs { what: DirOpArgs { dir: root.as_fh(), name: b"nope" } };
    let err = block_on(s.client.call_async::<nfs3::Lookup, _, _>(&missing, |_| ())).unwrap_err();
    assert_eq!(err.errno(), libc::ENOENT);
}

#[test]
fn many_futures_in_flight_on_tokio() {
    let s = mem_scratch("async-tokio");
    s.client.write_file("f", b"x").unwrap();
    let fh = s.client.lookup("f").unwrap();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..256).map(|_| tokio::spawn(s.client.getattr_async(&fh))).collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().size, 1);
        }
        let timed = tokio::time::timeout(Duration::from_secs(10), s.client.getattr_async(&fh)).await;
        assert!(timed.unwrap().is_ok());
    });
}

#[test]
fn a_batch_reaps_every_call_once_in_completion_order() {
    let s = mem_scratch("batch");
    let dir = s.client.root_handle();
    let names: Vec<String> = (0..500).map(|i| format!("f{i}")).collect();
    let mut batch = s.client.batch(64);
    let mut replies = Vec::new();
    let mut created = HashSet::new();
    for (i, name) in names.iter().enumerate() {
        while batch.is_full() {
            batch.reap(&mut replies, 1, Duration::from_secs(10));
        }
        let args = CreateArgs {
            where_: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() },
            how: CreateHow::Guarded(Sattr3 { mode: Some(0o644), ..Sattr3::default() }),
        };
        batch.submit::<nfs3::Create>(&args, i as u64).unwrap();
    }
    while batch.in_flight() > 0 {
        batch.reap(&mut replies, batch.in_flight(), Duration::from_secs(10));
    }
    assert_eq!(replies.len(), 500);
    assert_eq!(s.client.stats().retransmits.load(std::sync::atomic::Ordering::Relaxed), 0);
    for reply in replies.drain(..) {
        let tag = reply.tag;
        let fh = reply.decode::<nfs3::Create, _>(|ok| ok.obj.map(|f| f.to_owned())).unwrap();
        assert!(fh.is_some());
        assert!(created.insert(tag), "tag {tag} reaped twice");
    }
    assert_eq!(s.client.read_dir("").unwrap().count(), 500);

    // Failures come back per call, decoded like successes.
    let args = CreateArgs {
        where_: DirOpArgs { dir: dir.as_fh(), name: b"f0" },
        how: CreateHow::Guarded(Sattr3::default()),
    };
    batch.submit::<nfs3::Create>(&args, 7).unwrap();
    assert_eq!(batch.reap(&mut replies, 1, Duration::from_secs(10)), 1);
    let err = replies.pop().unwrap().decode::<nfs3::Create, _>(|_| ()).unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
}

#[test]
fn batched_writes_go_out_from_the_callers_buffer() {
    let s = vfs_scratch("batch-write");
    let file = s.client.create("f", 0o644).unwrap();
    let data = pattern(64 * 65536, 5);
    let mut batch = s.client.batch(16);
    let mut replies = Vec::new();
    for (i, chunk) in data.chunks(65536).enumerate() {
        if batch.is_full() {
            batch.reap(&mut replies, 1, Duration::from_secs(10));
        }
        let args = WriteArgs {
            file: file.handle().as_fh(),
            offset: (i * 65536) as u64,
            count: chunk.len() as u32,
            stable: StableHow::FileSync,
            data: chunk,
        };
        batch.submit_write(&args, i as u64).unwrap();
    }
    while batch.in_flight() > 0 {
        batch.reap(&mut replies, 1, Duration::from_secs(10));
    }
    assert_eq!(replies.len(), 64);
    for r in replies {
        assert_eq!(r.decode::<nfs3::Write, _>(|ok| ok.count).unwrap(), 65536);
    }
    assert_eq!(std::fs::read(s.local.join("f")).unwrap(), data);
}

/// Batches on several threads sharing one connection, each holding registered calls it has
/// not sent yet (a batch sends when reaped, or when enough gather), while the connection's
/// slots run out: a batch that must wait for a slot sends its own calls first, since only
/// their replies free the slots they hold, so no batch waits on another for ever.
#[test]
fn batches_sharing_a_full_connection_never_wait_on_each_other() {
    const THREADS: usize = 3;
    let s = mem_scratch("batches-full");
    s.client.write_file("f", b"x").unwrap();
    let client =
        nfsx::Client::mount(&common::url(&common::server().mem_url, &s.name, "nconnect=1&maxinflight=6"))
            .unwrap();
    let fh = client.lookup("f").unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for _ in 0..THREADS {
        let (client, fh, barrier, done_tx) = (client.clone(), fh, Arc::clone(&barrier), done_tx.clone());
        std::thread::spawn(move || {
            let mut batch = client.batch(8);
            let args = nfs3::GetattrArgs { object: fh.as_fh() };
            // Two each, under the 3 a batch gathers before sending on its own (half the slots),
            // take all 6 slots unsent; then every thread's third submit finds none free.
            for tag in 0..3 {
                if tag == 2 {
                    barrier.wait();
                }
                batch.submit::<nfs3::Getattr>(&args, tag).unwrap();
            }
            let mut replies = Vec::new();
            while batch.in_flight() > 0 {
                batch.reap(&mut replies, batch.in_flight(), Duration::from_secs(10));
            }
            let sizes: Vec<u64> = replies
                .into_iter()
                .map(|r| r.decode::<nfs3::Getattr, _>(|ok| ok.attributes.size).unwrap())
                .collect();
            done_tx.send(sizes).unwrap();
        });
    }
    for _ in 0..THREADS {
        let sizes =
            done_rx.recv_timeout(Duration::from_secs(30)).expect("a batch waited for a slot for ever");
        assert_eq!(sizes, [1, 1, 1]);
    }
}
