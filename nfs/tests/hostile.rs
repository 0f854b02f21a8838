//! A hostile server (issue 7, item 3): the client mounts an in-process fake server
//! (`common/fake_server.rs`), which then answers GETATTR with oversize record lengths, endless
//! fragments, wrong XIDs, truncated records, garbage, bytes trickled slowly, a closed
//! connection, or nothing at all. For each, the call must end with a clear error (the variant
//! and errno are checked) within `timeo × (retrans + 1)` plus slack, nothing may panic, the
//! heap must not grow past the configured record bound (a counting allocator measures it; an
//! oversize length must never become an allocation), RSS must stay flat, and the client must
//! work again once the server behaves.
//!
//! No ganesha needed. Scenarios run one at a time (a lock), so the memory measurements and the
//! panic count of one are not mixed with another's.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use common::fake_server::{file_byte, Behaviour, FakeServer, MAX_MISBEHAVIOUR};
use common::{block_on, WakeCount};
use nfsx::proto::{nfs3, NFS_PROGRAM};
use nfsx::rpc::RpcError;
use nfsx::xdr::DecodeError;
use nfsx::{Client, Error, OpenOptions};
use nfsx_core::net::TransportError;

/// Counts live heap bytes and their peak, so a test can bound what the client allocates.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; this only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let live = if new_size >= layout.size() {
            LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size()
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed) - (layout.size() - new_size)
        };
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller upholds `realloc`'s contract, which is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Panics anywhere in the process (reader threads included), counted by a hook.
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// One scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Per-try timeout and re-sends: `timeo=5` (0.5 s), `retrans=1`. READ/WRITE sizes of 64 KiB
/// make the largest reply record accepted 64 KiB + 64 KiB.
const OPTIONS: &str = "timeo=5&retrans=1&rsize=65536&wsize=65536";
const TIMEOUT: Duration = Duration::from_millis(500);
const RETRANS: u32 = 1;
/// Scheduling, connecting and reconnecting on a loaded 2-core CI machine.
const SLACK: Duration = Duration::from_secs(3);
/// The largest reply record the client accepts with [`OPTIONS`].
const MAX_RECORD: usize = 65536 + 64 * 1024;
/// Heap the client may add during one failing call: the record being reassembled (at most
/// twice the maximum, as a growing buffer may double), a 256 KiB scratch buffer per connection
/// it opens again (at most retrans + 1), and small change.
const HEAP_BOUND: usize = 2 * MAX_RECORD + (RETRANS as usize + 1) * 256 * 1024 + (1 << 20);
/// Resident memory the process may gain over one scenario.
const RSS_BOUND_KIB: i64 = 32 * 1024;

fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

/// Mounts the fake server, scripts GETATTR with `behaviour`, makes one GETATTR and returns its
/// error after checking time, panics and memory; then checks the client recovers.
fn getattr_against(behaviour: Behaviour) -> Error {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    install_panic_counter();
    let panics_before = PANICS.load(Ordering::SeqCst);
    let server = FakeServer::start();
    let client = Client::mount(&server.url(OPTIONS)).expect("mounting the fake server");
    let root = client.root_handle();
    client.getattr(&root).expect("GETATTR before the server turns hostile");

    server.script(NFS_PROGRAM, 1, behaviour.clone());
    let rss_before = common::vm_rss_kib();
    let heap_before = LIVE.load(Ordering::SeqCst);
    PEAK.store(heap_before, Ordering::SeqCst);
    let started = Instant::now();
    let outcome = client.getattr(&root);
    let elapsed = started.elapsed();
    let heap_grown = PEAK.load(Ordering::SeqCst).saturating_sub(heap_before);
    let rss_grown = common::vm_rss_kib() - rss_before;

    let err = match outcome {
        Ok(attrs) => panic!("{behaviour:?}: GETATTR succeeded against a hostile server: {attrs:?}"),
        Err(e) => e,
    };
    let bound = TIMEOUT * (RETRANS + 1) + SLACK;
    assert!(elapsed <= bound, "{behaviour:?}: the call took {elapsed:?}, over {bound:?} ({err})");
    assert!(
        heap_grown <= HEAP_BOUND,
        "{behaviour:?}: the heap grew by {heap_grown} bytes, over the bound of {HEAP_BOUND}"
    );
    assert!(rss_grown <= RSS_BOUND_KIB, "{behaviour:?}: RSS grew by {rss_grown} KiB");
    eprintln!(
        "{behaviour:?}: {err} (errno {}) after {elapsed:?}; heap +{heap_grown} B, RSS {rss_grown:+} KiB",
        err.errno()
    );

    // The client is not left broken: once the server behaves, calls succeed again.
    server.script(NFS_PROGRAM, 1, Behaviour::Normal);
    // A connection left mid-record, or still trickling, was replaced after the timeout.
    client.getattr(&root).unwrap_or_else(|e| panic!("{behaviour:?}: no recovery after it: {e}"));
    drop(client);
    drop(server);
    assert_eq!(PANICS.load(Ordering::SeqCst), panics_before, "{behaviour:?}: something panicked");
    err
}

fn closed_reason(err: &Error) -> &str {
    match err {
        Error::Transport(TransportError::Closed { reason, .. }) => reason,
        other => panic!("expected a closed connection, got {other:?}"),
    }
}

fn assert_timed_out(err: &Error) {
    assert!(matches!(err, Error::Transport(TransportError::TimedOut { .. })), "{err:?}");
    assert_eq!(err.errno(), libc::ETIMEDOUT);
}

#[test]
fn oversize_record_length_is_refused_without_allocating_it() {
    let err = getattr_against(Behaviour::OversizeLength { len: 0x7fff_fff0 });
    assert!(closed_reason(&err).contains("exceeds the maximum"), "{err}");
    assert_eq!(err.errno(), libc::ECONNRESET);
}

#[test]
fn endless_empty_fragments_are_cut_off() {
    let err = getattr_against(Behaviour::EndlessFragments { fragment_len: 0 });
    assert!(closed_reason(&err).contains("fragments"), "{err}");
}

#[test]
fn endless_data_fragments_stop_at_the_record_bound() {
    let err = getattr_against(Behaviour::EndlessFragments { fragment_len: 1000 });
    assert!(closed_reason(&err).contains("exceeds the maximum"), "{err}");
}

#[test]
fn replies_under_the_wrong_xid_are_dropped_and_the_call_times_out() {
    let err = getattr_against(Behaviour::WrongXid);
    assert_timed_out(&err);
}

#[test]
fn a_truncated_reply_body_is_a_decode_error_naming_the_field() {
    let err = getattr_against(Behaviour::TruncatedBody);
    assert!(
        matches!(err, Error::Decode { procedure: "GETATTR", source: DecodeError::Truncated { .. } }),
        "{err:?}"
    );
    assert_eq!(err.errno(), libc::EIO);
}

#[test]
fn a_record_cut_short_by_a_close_is_a_reset() {
    let err = getattr_against(Behaviour::TruncatedRecordThenClose);
    assert!(closed_reason(&err).contains("closed"), "{err}");
    assert_eq!(err.errno(), libc::ECONNRESET);
}

#[test]
fn a_record_cut_short_then_silence_times_out() {
    assert_timed_out(&getattr_against(Behaviour::TruncatedRecordThenStall));
}

#[test]
fn a_garbage_record_is_a_decode_error() {
    let err = getattr_against(Behaviour::GarbageRecord { len: 200, seed: 0x5eed });
    assert!(matches!(err, Error::Decode { procedure: "GETATTR", .. }), "{err:?}");
    assert_eq!(err.errno(), libc::EIO);
}

#[test]
fn an_unframed_garbage_stream_fails_the_connection_or_times_out() {
    for seed in [1, 2, 3, 0xdead_beef] {
        let err = getattr_against(Behaviour::GarbageStream { len: 4096, seed });
        assert!(
            matches!(err, Error::Transport(TransportError::Closed { .. } | TransportError::TimedOut { .. })),
            "seed {seed}: {err:?}"
        );
    }
}

#[test]
fn a_reply_trickled_slower_than_the_timeout_times_out() {
    let trickle = Behaviour::Trickle { every: Duration::from_millis(50) };
    assert_timed_out(&getattr_against(trickle));
}

#[test]
fn a_server_that_closes_instead_of_answering_is_a_reset() {
    let err = getattr_against(Behaviour::Close);
    assert!(closed_reason(&err).contains("closed"), "{err}");
}

#[test]
fn a_silent_server_times_out_within_the_bound() {
    assert_timed_out(&getattr_against(Behaviour::Silent));
}

#[test]
fn garbage_args_is_an_rpc_error() {
    let err = getattr_against(Behaviour::GarbageArgs);
    assert!(matches!(err, Error::Rpc { procedure: "GETATTR", source: RpcError::GarbageArgs }), "{err:?}");
    assert_eq!(err.errno(), libc::EIO);
}

#[test]
fn misbehaviour_is_bounded_by_the_fake_server_too() {
    // The fake server's own bound, so a broken client cannot make a test hang for ever.
    assert!(MAX_MISBEHAVIOUR <= Duration::from_secs(60));
}

/// A call that timed out while its connection sat in the middle of a record would leave that
/// connection unusable (every later reply read as the rest of the broken record) if it were
/// kept: a connection that completed no reply for a whole timeout is replaced, so the next call
/// (with `nconnect=1`, on the same server) succeeds at once.
#[test]
fn a_connection_wedged_mid_record_is_replaced() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = FakeServer::start();
    let client = Client::mount(&server.url(OPTIONS)).expect("mounting the fake server");
    let root = client.root_handle();
    server.script(NFS_PROGRAM, 1, Behaviour::TruncatedRecordThenStall);
    let before = client.connection_stats()[0].clone();
    assert_timed_out(&client.getattr(&root).unwrap_err());
    server.script(NFS_PROGRAM, 1, Behaviour::Normal);
    let started = Instant::now();
    let outcome = client.getattr(&root);
    assert!(outcome.is_ok(), "GETATTR after the server recovered: {outcome:?} after {:?}", started.elapsed());
    // The connection's report covers the replaced TCP connections too.
    let after = client.connection_stats()[0].clone();
    assert!(after.reconnects >= 1 && after.retransmits >= 1, "{after:?}");
    assert!(
        after.requests >= before.requests + 3 && after.replies > before.replies,
        "{before:?} then {after:?}"
    );
}

/// A READ whose reply stops half-way while its data is being read straight into the caller's
/// buffer (`read_into`): the soft call fails within the bound like any other, the buffer is
/// the caller's again when it returns (the receive let go of it), and the next read succeeds,
/// in every receive mode.
#[test]
fn a_read_into_whose_reply_stalls_mid_data_times_out_and_the_next_read_lands() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for mode in ["", "&rtc=1", "&backend=epoll", "&backend=threads"] {
        let server = FakeServer::start();
        let client =
            Client::mount(&server.url(&format!("{OPTIONS}{mode}"))).expect("mounting the fake server");
        let file = client.open("", &OpenOptions::new()).expect("opening the root");
        let mut buf = vec![0u8; 256 << 10];
        assert_eq!(file.read_into(&mut buf, 0).unwrap(), buf.len());

        server.script(NFS_PROGRAM, 6, Behaviour::TruncatedRecordThenStall);
        let started = Instant::now();
        let err = file.read_into(&mut buf, 0).unwrap_err();
        let elapsed = started.elapsed();
        assert_timed_out(&err);
        let bound = TIMEOUT * (RETRANS + 1) + SLACK;
        assert!(elapsed <= bound, "{mode}: the read took {elapsed:?}, over {bound:?}");

        server.script(NFS_PROGRAM, 6, Behaviour::Normal);
        buf.fill(0);
        assert_eq!(file.read_into(&mut buf, 1000).unwrap(), buf.len(), "{mode}");
        let expected = (1000..1000 + buf.len() as u64).map(file_byte);
        assert!(buf.iter().copied().eq(expected), "{mode}: read_into returned other data");
    }
}

/// A hard mount waits for ever for a silent server; `shut_down` ends the wait at once (for
/// `umount -f` and job teardown), and every later call fails without being sent.
#[test]
fn shut_down_abandons_hard_calls_waiting_on_a_silent_server() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = FakeServer::start();
    let client = Client::mount(&server.url("timeo=5&hard=1")).expect("mounting the fake server");
    let root = client.root_handle();
    server.script(NFS_PROGRAM, 1, Behaviour::Silent);
    let waiting = {
        let client = client.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            (client.getattr(&root), started.elapsed())
        })
    };
    std::thread::sleep(TIMEOUT * 3);
    assert!(!waiting.is_finished(), "a hard call gives up on its own");
    let shut_at = Instant::now();
    client.shut_down();
    let (outcome, _) = waiting.join().unwrap();
    assert!(
        shut_at.elapsed() < Duration::from_secs(1),
        "the call ended {:?} after shut_down",
        shut_at.elapsed()
    );
    let err = outcome.expect_err("an abandoned call");
    assert!(matches!(err, Error::ShutDown), "{err:?}");
    assert_eq!(err.errno(), libc::EIO);
    let started = Instant::now();
    assert!(matches!(client.getattr(&root), Err(Error::ShutDown)));
    assert!(started.elapsed() < Duration::from_millis(100), "later calls fail at once");
}

/// WRITEs of 512 KiB, as many as fill the loopback socket buffers several times over.
fn deafening_writes(client: &Client, data: &[u8]) -> Vec<nfsx::Result<()>> {
    let root = client.root_handle();
    let mut batch = client.batch(32);
    for tag in 0..32 {
        let args = nfs3::WriteArgs {
            file: root.as_fh(),
            offset: tag * data.len() as u64,
            count: data.len() as u32,
            stable: nfs3::StableHow::Unstable,
            data,
        };
        batch.submit_write(&args, tag).unwrap();
    }
    let mut replies = Vec::new();
    while batch.in_flight() > 0 {
        batch.reap(&mut replies, batch.in_flight(), Duration::from_secs(60));
    }
    replies.into_iter().map(|r| r.decode::<nfs3::Write, _>(drop)).collect()
}

/// A server that stops reading while WRITEs stream to it: once the socket buffers are full the
/// sends make no progress. A send that makes none for `timeo` fails its connection, so a soft
/// mount's writes fail within their retries instead of blocking in the kernel for ever; and
/// `shut_down` (umount -f) ends a hard mount's blocked send at once rather than waiting for
/// the send lock it holds.
#[test]
fn sends_to_a_server_that_stopped_reading_fail_in_time() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = vec![7u8; 512 << 10];
    // Each way of sending a WRITE: the caller's blocking writev, beside event loops or a
    // reader thread, or with the event loops sending the rest; the caller-driven non-blocking one.
    for mode in ["backend=auto", "backend=threads", "submit=ring", "rtc=1"] {
        let server = FakeServer::start();
        let client = Client::mount(&server.url(&format!("timeo=3&retrans=1&{mode}")))
            .expect("mounting the fake server");
        server.script(NFS_PROGRAM, 7, Behaviour::Deaf);
        let started = Instant::now();
        let outcomes = deafening_writes(&client, &data);
        let took = started.elapsed();
        assert!(outcomes.iter().all(|o| o.is_err()), "soft, {mode}: every WRITE fails: {outcomes:?}");
        assert!(took < Duration::from_secs(20), "soft, {mode}: the writes failed after {took:?}");
        eprintln!("soft, {mode}: {} WRITEs failed after {took:?}", outcomes.len());
    }
    let server = FakeServer::start();
    // A minute's timeo: only closing the socket without the send lock can end the send soon.
    let client = Client::mount(&server.url("timeo=600&hard=1")).expect("mounting the fake server");
    server.script(NFS_PROGRAM, 7, Behaviour::Deaf);
    let writer = {
        let (client, data) = (client.clone(), data.clone());
        std::thread::spawn(move || deafening_writes(&client, &data))
    };
    std::thread::sleep(Duration::from_millis(1000));
    let shut_at = Instant::now();
    client.shut_down();
    let outcomes = writer.join().unwrap();
    let took = shut_at.elapsed();
    assert!(took < Duration::from_secs(2), "hard: the writes ended {took:?} after shut_down");
    assert!(outcomes.iter().all(|o| matches!(o, Err(Error::ShutDown))), "hard: {outcomes:?}");
}

/// A call whose connection breaks before its reply (the server closed it), or answers nothing
/// for a whole timeout (the client closes it), goes out again with the same XID from the same
/// source port, on the connection's replacement: servers keep a client's duplicate request
/// cache by address and port (ganesha's per-connection caches are found again by them), so a
/// non-idempotent call that was carried out is answered from the cache, not run twice. The
/// client resets a connection it gives up on, so no FIN_WAIT or TIME_WAIT keeps the port.
/// Several connections, so the re-send could have gone elsewhere.
#[test]
fn a_call_resent_after_its_connection_broke_comes_from_the_same_port() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for behaviour in [Behaviour::CloseFirst { times: 2 }, Behaviour::SilentFirst { times: 2 }] {
        let server = FakeServer::start();
        let client =
            Client::mount(&server.url("timeo=3&retrans=3&nconnect=4")).expect("mounting the fake server");
        let root = client.root_handle();
        server.script(NFS_PROGRAM, 1, behaviour.clone());
        client
            .getattr(&root)
            .unwrap_or_else(|e| panic!("{behaviour:?}: GETATTR after two lost connections: {e}"));
        let xids = server.counters().scripted_xids.lock().unwrap().clone();
        let ports = server.counters().scripted_ports.lock().unwrap().clone();
        assert_eq!(xids.len(), 3, "{behaviour:?}");
        assert!(xids.iter().all(|&x| x == xids[0]), "{behaviour:?}: one XID: {xids:?}");
        assert!(ports.iter().all(|&p| p == ports[0]), "{behaviour:?}: one source port: {ports:?}");
        assert!(client.connection_stats().iter().map(|c| c.reconnects).sum::<u64>() >= 2, "{behaviour:?}");
    }
}

/// A future whose connection has no free slot returns Pending at once, rather than holding its
/// executor's thread until a slot frees, and is woken when one does.
#[test]
fn a_future_waits_for_a_free_slot_without_blocking_its_thread() {
    use std::future::Future;
    use std::task::Context;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = FakeServer::start();
    let client =
        Client::mount(&server.url("timeo=50&maxinflight=1&nconnect=1")).expect("mounting the fake server");
    let root = client.root_handle();
    server.script(NFS_PROGRAM, 1, Behaviour::Silent);
    let (wakes, waker) = WakeCount::new();
    let mut cx = Context::from_waker(&waker);
    let mut first = Box::pin(client.getattr_async(&root));
    assert!(first.as_mut().poll(&mut cx).is_pending(), "sent, never answered: it holds the one slot");
    let mut second = Box::pin(client.getattr_async(&root));
    let started = Instant::now();
    assert!(second.as_mut().poll(&mut cx).is_pending());
    assert!(started.elapsed() < Duration::from_millis(500), "the poll waited {:?}", started.elapsed());
    assert_eq!(wakes.get(), 0);
    drop(first);
    assert!(wakes.get() >= 1, "the freed slot woke the waiting future");
    assert!(second.as_mut().poll(&mut cx).is_pending(), "now sent, and not answered either");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.counters().scripted_calls.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the second GETATTR never reached the server");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A future whose server went away does not hold its executor's thread while the client
/// reconnects (hard mode: for as long as it takes): every poll returns at once, the connects
/// running on a thread of their own and the pauses between them on the timer, and the call
/// completes once the server is back.
#[test]
fn a_future_rides_out_a_server_outage_without_blocking_its_thread() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = FakeServer::start();
    let port = server.port();
    let client = Client::mount(&server.url("timeo=10&hard=1&nconnect=1")).expect("mounting the fake server");
    let root = client.root_handle();
    drop(server);
    let (wakes, waker) = WakeCount::new();
    let mut cx = Context::from_waker(&waker);
    let mut getattr = Box::pin(client.getattr_async(&root));
    let outage = Duration::from_millis(1500);
    let back_again = std::thread::spawn(move || {
        std::thread::sleep(outage);
        FakeServer::start_on(port)
    });
    let (started_at, give_up_at) = (Instant::now(), Instant::now() + Duration::from_secs(30));
    let mut longest_poll = Duration::ZERO;
    let attributes = loop {
        let started = Instant::now();
        let polled = getattr.as_mut().poll(&mut cx);
        longest_poll = longest_poll.max(started.elapsed());
        if let Poll::Ready(outcome) = polled {
            break outcome;
        }
        assert!(Instant::now() < give_up_at, "the GETATTR never completed after the server came back");
        std::thread::sleep(Duration::from_millis(5));
    };
    attributes.expect("GETATTR once the server is back");
    assert!(started_at.elapsed() >= outage, "answered while the server was away");
    let _server = back_again.join().expect("restarting the fake server");
    assert!(longest_poll < Duration::from_millis(300), "a poll held its thread for {longest_poll:?}");
    assert!(wakes.get() > 0, "connect threads and the timer wake the future");
}

/// A soft future against a server that closes every connection as soon as it opens fails
/// within its retries, as a blocking call does, rather than reconnecting for ever: a connect
/// whose connection is gone by the time its waiters look counts as a failed try.
#[test]
fn a_soft_future_gives_up_on_a_server_that_closes_every_connection_at_once() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = FakeServer::start();
    let port = server.port();
    let client =
        Client::mount(&server.url("timeo=3&retrans=2&nconnect=1")).expect("mounting the fake server");
    let root = client.root_handle();
    drop(server);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("binding the server's port again");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let stop = Arc::new(AtomicBool::new(false));
    let closer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((connection, _)) => drop(connection),
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        })
    };
    let getattr = client.getattr_async(&root);
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(block_on(getattr)));
    let outcome = outcome.recv_timeout(Duration::from_secs(20)).expect("the GETATTR future never ended");
    stop.store(true, Ordering::Release);
    closer.join().expect("the closing server");
    assert!(outcome.is_err(), "GETATTR answered by a server that answers nothing: {outcome:?}");
}

const JUKEBOX: u32 = 10008;

/// NFS3ERR_JUKEBOX is "busy, try again later" (RFC 1813 §2.6; ganesha answers it when its
/// open-file limit is reached): the call is sent again as a new transaction after a pause,
/// without the caller seeing anything, whichever API made it.
#[test]
fn jukebox_answers_are_retried_as_new_transactions() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for api in ["blocking", "future", "batch"] {
        let server = FakeServer::start();
        let client = Client::mount(&server.url("timeo=5&retrans=3")).expect("mounting the fake server");
        let root = client.root_handle();
        server.script(NFS_PROGRAM, 1, Behaviour::StatusFirst { status: JUKEBOX, times: 3 });
        let attributes = match api {
            "blocking" => client.getattr(&root),
            "future" => block_on(client.getattr_async(&root)),
            _ => {
                let mut batch = client.batch(4);
                batch.submit::<nfs3::Getattr>(&nfs3::GetattrArgs { object: root.as_fh() }, 7).unwrap();
                let mut replies = Vec::new();
                assert_eq!(batch.reap(&mut replies, 1, Duration::from_secs(10)), 1, "{api}");
                replies.pop().unwrap().decode::<nfs3::Getattr, _>(|ok| ok.attributes)
            }
        };
        attributes.unwrap_or_else(|e| panic!("{api}: GETATTR after three JUKEBOX answers: {e}"));
        assert_eq!(server.counters().scripted_calls.load(Ordering::Relaxed), 4, "{api}");
        let xids = server.counters().scripted_xids.lock().unwrap().clone();
        let distinct: std::collections::BTreeSet<_> = xids.iter().collect();
        assert_eq!(distinct.len(), xids.len(), "{api}: each try is a new transaction: {xids:?}");
        assert_eq!(client.stats().jukebox_retries.load(Ordering::Relaxed), 3, "{api}");
    }
}

/// A soft mount stops retrying JUKEBOX after `timeo × (retrans + 1)` and reports EAGAIN.
#[test]
fn a_soft_mount_gives_up_on_jukebox_with_eagain() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = FakeServer::start();
    let client = Client::mount(&server.url(OPTIONS)).expect("mounting the fake server");
    let root = client.root_handle();
    server.script(NFS_PROGRAM, 1, Behaviour::StatusFirst { status: JUKEBOX, times: u64::MAX });
    let started = Instant::now();
    let err = client.getattr(&root).expect_err("JUKEBOX for ever");
    assert_eq!(err.errno(), libc::EAGAIN, "{err}");
    let bound = TIMEOUT * (RETRANS + 1) + Duration::from_secs(2) + SLACK;
    assert!(started.elapsed() <= bound, "gave up after {:?}", started.elapsed());
}
