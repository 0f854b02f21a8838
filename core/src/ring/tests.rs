//! The reactor against loopback toy servers (the framing of `net::tests`: 4-byte length, 4-byte
//! key), every test on both backends. Real sockets and io_uring: none of these run under Miri,
//! except the slab's and the backend choice's, which are plain data structures.

use std::io::{IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::net::tests::{frame, options, read_frame, send, server, soon, LengthKeyFramer};
use crate::net::{
    Connection, Framer, Pending, ReceiveKind, ReceiveMode, Receiver, SocketOptions, TransportError,
};

const BACKENDS: [BackendChoice; 2] = [BackendChoice::Uring, BackendChoice::Epoll];

fn reactor(backend: BackendChoice, threads: usize) -> Arc<Reactor> {
    Reactor::start(ReactorConfig { threads, backend, ..ReactorConfig::default() }).unwrap()
}

/// One loop that also sends its connections' requests (`queued_sends`).
fn sending_reactor(backend: BackendChoice) -> Arc<Reactor> {
    Reactor::start(ReactorConfig { threads: 1, backend, queued_sends: true, ..ReactorConfig::default() })
        .unwrap()
}

fn connect(addr: SocketAddr, reactor: &Arc<Reactor>, framer: impl Framer) -> Connection {
    Connection::connect_with(addr, &options(), 64, framer, ReceiveMode::Reactor(Arc::clone(reactor))).unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = soon();
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Accepts `conns` connections; on each reads `calls` requests, then writes what `answer` makes
/// of them in one write, then waits for the client to hang up.
/// Requests as a test server reads them: key and body.
type Requests = [(u32, Vec<u8>)];

fn batch_server(conns: usize, calls: usize, answer: fn(&Requests) -> Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..conns {
            let (mut s, _) = listener.accept().unwrap();
            std::thread::spawn(move || {
                let requests: Vec<_> = (0..calls).map(|_| read_frame(&mut s)).collect();
                s.write_all(&answer(&requests)).unwrap();
                let _ = s.read(&mut [0; 1]);
            });
        }
    });
    addr
}

/// Answers each connection's `calls` requests last first, echoing them.
fn reversing_server(conns: usize, calls: usize) -> SocketAddr {
    batch_server(conns, calls, |requests| {
        requests.iter().rev().flat_map(|(key, body)| frame(*key, body)).collect()
    })
}

#[test]
#[cfg_attr(miri, ignore)]
fn replies_out_of_order_on_many_connections_over_two_loops() {
    const CONNS: usize = 8;
    const CALLS: usize = 16;
    for backend in BACKENDS {
        let reactor = reactor(backend, 2);
        assert_eq!(reactor.threads(), 2);
        let addr = reversing_server(CONNS, CALLS);
        let conns: Vec<_> = (0..CONNS).map(|_| connect(addr, &reactor, LengthKeyFramer::default())).collect();
        assert_eq!(reactor.connections_per_loop(), vec![CONNS / 2; 2], "{backend:?}: spread evenly");
        let expected = |c: usize, k: usize| vec![(c * CALLS + k) as u8; 100 + k * 50];
        // Bodies of up to 850 bytes, 16 per connection: several reads per connection's batch.
        let pending: Vec<Vec<_>> = conns
            .iter()
            .enumerate()
            .map(|(c, conn)| (0..CALLS).map(|k| send(conn, k as u32, &expected(c, k))).collect())
            .collect();
        for (c, calls) in pending.iter().enumerate() {
            for (k, p) in calls.iter().enumerate() {
                assert_eq!(p.wait(soon()).unwrap(), expected(c, k), "{backend:?}: connection {c} call {k}");
            }
        }
        for conn in &conns {
            assert!(matches!(conn.mode(), ReceiveKind::Reactor(_)));
            assert_eq!(conn.in_flight(), 0);
            assert_eq!(conn.stats().unmatched_replies.load(Ordering::Relaxed), 0);
        }
        drop(conns);
        wait_until("the loops letting go of closed connections", || reactor.connections() == 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_large_reply_in_pieces_and_a_small_one_after_it_both_arrive() {
    // The loop waits for the rest of the large reply in one piece: nothing follows it until
    // it has arrived, so a mark above its rest would never be met. Then a few bytes must wake
    // the loop again.
    const HALF: usize = 128 * 1024;
    for backend in BACKENDS {
        let (go_on, go) = std::sync::mpsc::channel::<()>();
        let addr = server(move |mut s| {
            let (large, _) = read_frame(&mut s);
            let (small, _) = read_frame(&mut s);
            let reply = frame(large, &vec![5u8; 2 * HALF]);
            s.write_all(&reply[..8 + HALF]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(&reply[8 + HALF..]).unwrap();
            go.recv().unwrap();
            s.write_all(&frame(small, b"small")).unwrap();
            let _ = s.read(&mut [0; 1]);
        });
        let reactor = reactor(backend, 1);
        // A set receive buffer, far larger than the reply: the kernel then waits for the mark
        // itself, rather than waking the loop because the reply filled the receive window.
        let options = SocketOptions { recv_buffer_bytes: Some(4 << 20), ..options() };
        let framer = LengthKeyFramer::with_max_len(2 * HALF);
        let mode = ReceiveMode::Reactor(Arc::clone(&reactor));
        let conn = Connection::connect_with(addr, &options, 64, framer, mode).unwrap();
        let large = send(&conn, 1, b"large");
        let small = send(&conn, 2, b"small");
        assert_eq!(large.wait(soon()).unwrap().len(), 2 * HALF, "{backend:?}");
        go_on.send(()).unwrap();
        assert_eq!(small.wait(soon()).unwrap(), &b"small"[..], "{backend:?}");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_server_closing_mid_record_fails_the_calls_with_closed() {
    for backend in BACKENDS {
        let reactor = reactor(backend, 1);
        let addr = server(|mut s| {
            read_frame(&mut s);
            read_frame(&mut s);
            // A header promising 500 bytes, then only 10 of them, then the end.
            let whole = frame(1, &[7; 500]);
            s.write_all(&whole[..18]).unwrap();
        });
        let conn = connect(addr, &reactor, LengthKeyFramer::default());
        let a = send(&conn, 1, b"a");
        let b = send(&conn, 2, b"b");
        for pending in [a, b] {
            let err = pending.wait(soon()).unwrap_err();
            assert!(matches!(err, TransportError::Closed { .. }), "{backend:?}: {err}");
            assert!(err.to_string().contains("server closed"), "{backend:?}: {err}");
        }
        assert!(conn.is_closed());
        let bytes = frame(3, b"c");
        assert!(matches!(conn.call(3, &[IoSlice::new(&bytes)], soon()), Err(TransportError::Closed { .. })));
        wait_until("the loop letting go", || reactor.connections() == 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_framing_error_closes_the_connection_with_its_reason() {
    for backend in BACKENDS {
        let reactor = reactor(backend, 1);
        let addr = server(|mut s| {
            read_frame(&mut s);
            s.write_all(&frame(1, &[0; 2000])).unwrap();
            let _ = s.read(&mut [0; 1]);
        });
        let conn = connect(addr, &reactor, LengthKeyFramer::default());
        let err = send(&conn, 1, b"a").wait(soon()).unwrap_err();
        assert!(err.to_string().contains("frame of 2000 bytes"), "{backend:?}: {err}");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_future_is_woken_from_the_loop() {
    use std::task::{Context, Poll};
    for backend in BACKENDS {
        let reactor = reactor(backend, 1);
        let addr = server(|mut s| {
            let a = read_frame(&mut s);
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(&frame(a.0, &a.1)).unwrap();
            let _ = s.read(&mut [0; 1]);
        });
        let conn = connect(addr, &reactor, LengthKeyFramer::default());
        let pending = send(&conn, 1, b"async");
        let (wakes, waker) = crate::wake_count::WakeCount::new();
        let mut cx = Context::from_waker(&waker);
        assert!(pending.poll_reply(&mut cx).is_pending());
        wait_until("the wake", || wakes.get() > 0);
        match pending.poll_reply(&mut cx) {
            Poll::Ready(reply) => assert_eq!(reply.unwrap(), &b"async"[..]),
            Poll::Pending => panic!("{backend:?}: woken without a reply"),
        }
    }
}

/// Framers dropped by the loops, their read buffers kept (never freed) and filled with
/// [`DEAD`], so a kernel write into a framer's memory after the loop let it go shows up as a
/// changed byte instead of silent heap corruption.
static GRAVEYARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const DEAD: u8 = 0xAA;
/// What the streaming server sends: no byte of it is [`DEAD`].
const LIVE: u8 = 0x55;

/// Reads into its own 64 KiB buffer and discards everything (the stream never frames).
struct GraveyardFramer {
    buf: Vec<u8>,
    filled: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl GraveyardFramer {
    fn new(filled: &Arc<AtomicUsize>, dropped: &Arc<AtomicUsize>) -> GraveyardFramer {
        GraveyardFramer { buf: vec![0; 64 * 1024], filled: Arc::clone(filled), dropped: Arc::clone(dropped) }
    }
}

impl Framer for GraveyardFramer {
    fn read_target(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn filled(&mut self, n: usize, _replies: &mut dyn crate::net::Replies) -> Result<(), String> {
        self.filled.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for GraveyardFramer {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.fill(DEAD);
        // Moving the Vec keeps its heap buffer where the kernel was told to write.
        GRAVEYARD.lock().unwrap().push(buf);
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Accepts connections for ever and sends [`LIVE`] bytes to each until it hangs up, 4 KiB every
/// 200 µs: slowly enough that the client's receive usually waits in the kernel for the next
/// piece, which then lands while (or after) the client closes.
fn streaming_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                while s.write_all(&[LIVE; 4096]).is_ok() {
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
        }
    });
    addr
}

fn graveyard_is_untouched(backend: BackendChoice) {
    // Give a late kernel write every chance to land before looking.
    std::thread::sleep(Duration::from_millis(50));
    let graveyard = GRAVEYARD.lock().unwrap();
    for buf in graveyard.iter() {
        assert!(buf.iter().all(|&b| b == DEAD), "{backend:?}: a freed read target was written to");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn connections_dropped_while_their_receive_is_outstanding_are_freed_only_after_it() {
    const ROUNDS: usize = 40;
    for backend in BACKENDS {
        let reactor = reactor(backend, 2);
        let addr = streaming_server();
        let (filled, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        for round in 0..ROUNDS {
            let conn = connect(addr, &reactor, GraveyardFramer::new(&filled, &dropped));
            // Let data flow, so a receive is in the kernel's hands at the moment of the drop.
            wait_until("bytes arriving", || conn.stats().bytes_received.load(Ordering::Relaxed) > 0);
            std::thread::sleep(Duration::from_micros(100 * (round % 5) as u64));
            drop(conn);
        }
        wait_until("every framer dropped", || dropped.load(Ordering::SeqCst) == ROUNDS);
        wait_until("the loops letting go", || reactor.connections() == 0);
        graveyard_is_untouched(backend);
    }
}

/// The loop alone, without the shutdown(2) a closing connection also does: the cancel message
/// must end the receive (ASYNC_CANCEL for io_uring) and the framer be freed only after its
/// completion, while the peer keeps sending.
#[test]
#[cfg_attr(miri, ignore)]
fn a_cancelled_receive_frees_its_framer_only_after_its_completion() {
    const ROUNDS: usize = 40;
    for backend in BACKENDS {
        let reactor = reactor(backend, 1);
        let addr = streaming_server();
        let (filled, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut sockets = Vec::new();
        for round in 0..ROUNDS {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            sockets.push(stream.try_clone().unwrap());
            let before = filled.load(Ordering::SeqCst);
            let receiver = Receiver::detached(stream, Box::new(GraveyardFramer::new(&filled, &dropped)));
            let registration = reactor.register(receiver, Duration::from_secs(5)).unwrap();
            wait_until("bytes arriving", || filled.load(Ordering::SeqCst) > before);
            std::thread::sleep(Duration::from_micros(100 * (round % 5) as u64));
            registration.cancel();
        }
        wait_until("every framer dropped", || dropped.load(Ordering::SeqCst) == ROUNDS);
        wait_until("the loops letting go", || reactor.connections() == 0);
        graveyard_is_untouched(backend);
        // The sockets stayed open (the duplicates above) all along, the peer still sending.
        drop(sockets);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn dropping_the_reactor_fails_its_connections_and_joins_its_threads() {
    for backend in BACKENDS {
        let reactor = reactor(backend, 2);
        let tids = reactor.thread_ids();
        assert!(tids.iter().all(|&t| t > 0));
        for tid in &tids {
            assert!(std::path::Path::new(&format!("/proc/self/task/{tid}")).exists());
        }
        let addr = server(|mut s| {
            read_frame(&mut s);
            let _ = s.read(&mut [0; 1]);
        });
        // The connection outlives the reactor: it must not keep the loops alive.
        let conn = connect(addr, &reactor, LengthKeyFramer::default());
        let pending = send(&conn, 1, b"never answered");
        drop(reactor);
        // Joined: each thread has exited, though the kernel may take a moment more to drop its
        // /proc entry (pthread_join returns at the exit's futex wake, before the task is reaped).
        for tid in &tids {
            wait_until(&format!("{backend:?}: loop thread {tid} gone after the reactor was dropped"), || {
                !std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
            });
        }
        let err = pending.wait(soon()).unwrap_err();
        assert!(matches!(err, TransportError::Closed { .. }), "{backend:?}: {err}");
        assert!(conn.is_closed());
        conn.close();
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_round_trip_reaches_each_loop_and_comes_back() {
    for backend in BACKENDS {
        let reactor = reactor(backend, 2);
        for _ in 0..1000 {
            for index in 0..2 {
                reactor.round_trip(index).unwrap();
            }
        }
        let err = reactor.round_trip(2).unwrap_err();
        assert!(err.to_string().contains("2 loops"), "{backend:?}: {err}");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_full_reactor_refuses_connections() {
    for backend in BACKENDS {
        let reactor = Reactor::start(ReactorConfig {
            threads: 1,
            backend,
            max_connections_per_loop: 1,
            ..ReactorConfig::default()
        })
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let first = connect(addr, &reactor, LengthKeyFramer::default());
        let err = Connection::connect_with(
            addr,
            &options(),
            8,
            LengthKeyFramer::default(),
            ReceiveMode::Reactor(Arc::clone(&reactor)),
        )
        .unwrap_err();
        assert!(matches!(err, TransportError::Receive { .. }), "{backend:?}: {err}");
        drop(first);
        wait_until("room again", || reactor.connections() == 0);
        let _again = connect(addr, &reactor, LengthKeyFramer::default());
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn auto_picks_io_uring_where_the_kernel_offers_it_and_epoll_is_used_when_forced() {
    let offered = probe_uring().map(|p| p.missing().is_none()).unwrap_or(false);
    let auto = reactor(BackendChoice::Auto, 1);
    let expected = if offered { Backend::Uring } else { Backend::Epoll };
    assert_eq!(auto.backend(), expected);
    assert_eq!(auto.probe().is_some(), offered);
    // io_uring is enabled on the machines these tests are meant for (kernel.io_uring_disabled
    // = 0 and no seccomp filter); say so where it is not, rather than pass silently.
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
    if disabled.trim() == "0" {
        assert!(offered, "io_uring is enabled in sysctl but could not be set up: {:?}", probe_uring());
    }
    assert_eq!(reactor(BackendChoice::Epoll, 1).backend(), Backend::Epoll);
    if offered {
        let probe = auto.probe().unwrap();
        assert!(probe.recv && probe.poll_add && probe.async_cancel);
        assert!(probe.to_string().starts_with("recv, send"), "{probe}");
    } else {
        let err = Reactor::start(ReactorConfig { backend: BackendChoice::Uring, ..ReactorConfig::default() });
        assert!(matches!(err, Err(ReactorError::UringUnavailable { .. })));
    }
}

/// Starts loops as the reactor does, except that the second io_uring loop cannot set up its
/// ring (as a memory limit the probe's small ring stayed under would refuse it).
fn second_ring_refused(
    index: usize,
    backend: Backend,
    max_connections: usize,
) -> Result<LoopRef, ReactorError> {
    if backend == Backend::Uring && index == 1 {
        return Err(ReactorError::Setup { backend, source: io::Error::from_raw_os_error(libc::ENOMEM) });
    }
    start_loop(index, backend, max_connections)
}

#[test]
#[cfg_attr(miri, ignore)]
fn auto_falls_back_to_epoll_when_a_ring_cannot_be_set_up_after_the_probe() {
    let config = |backend| ReactorConfig { threads: 2, backend, ..ReactorConfig::default() };
    let auto = Reactor::start_with(config(BackendChoice::Auto), second_ring_refused).unwrap();
    assert_eq!(auto.backend(), Backend::Epoll);
    assert!(auto.probe().is_none());
    assert_eq!(auto.threads(), 2);
    for index in 0..2 {
        auto.round_trip(index).unwrap();
    }
    let addr = server(|mut s| {
        let (key, _) = read_frame(&mut s);
        s.write_all(&frame(key, b"pong")).unwrap();
    });
    let conn = connect(addr, &auto, LengthKeyFramer::default());
    assert_eq!(&send(&conn, 1, b"ping").wait(soon()).unwrap()[..], b"pong");
    if probe_uring().is_ok_and(|p| p.missing().is_none()) {
        let asked = Reactor::start_with(config(BackendChoice::Uring), second_ring_refused);
        assert!(matches!(asked, Err(ReactorError::Setup { backend: Backend::Uring, .. })), "{asked:?}");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn zero_threads_means_one_per_cpu() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(reactor(BackendChoice::Epoll, 0).threads(), cpus);
}

fn full_probe() -> UringProbe {
    UringProbe {
        recv: true,
        send: true,
        send_zc: true,
        recv_multishot: true,
        provide_buffers: true,
        buf_ring: true,
        poll_add: true,
        async_cancel: true,
        ext_arg: true,
        nodrop: true,
    }
}

#[test]
fn the_choice_follows_the_probe() {
    let enosys = || Some(Err(std::io::Error::from_raw_os_error(libc::ENOSYS)));
    let chosen = choose(BackendChoice::Auto, Some(Ok(full_probe()))).unwrap();
    assert_eq!((chosen.backend, chosen.fallback), (Backend::Uring, None));
    let chosen = choose(BackendChoice::Auto, enosys()).unwrap();
    assert_eq!(chosen.backend, Backend::Epoll);
    assert!(chosen.fallback.unwrap().contains("os error 38"));
    let old = UringProbe { async_cancel: false, ..full_probe() };
    let chosen = choose(BackendChoice::Auto, Some(Ok(old.clone()))).unwrap();
    assert_eq!(chosen.backend, Backend::Epoll);
    assert!(chosen.fallback.unwrap().contains("IORING_OP_ASYNC_CANCEL"));
    let err = choose(BackendChoice::Uring, enosys()).unwrap_err();
    assert!(err.to_string().starts_with("io_uring is unavailable"), "{err}");
    assert!(matches!(
        choose(BackendChoice::Uring, Some(Ok(old))),
        Err(ReactorError::UringUnavailable { .. })
    ));
    assert_eq!(choose(BackendChoice::Epoll, None).unwrap().backend, Backend::Epoll);
}

#[test]
fn slab_keys_name_one_occupant_of_a_slot() {
    let mut slab = Slab::with_capacity(2);
    let a = slab.insert(10, "a").unwrap();
    let b = slab.insert(11, "b").unwrap();
    assert_eq!(slab.insert(12, "c"), Err("c"), "bounded");
    assert_eq!(slab.key_of(11), Some(b));
    assert_eq!(slab.remove(a), Some("a"));
    assert_eq!(slab.remove(a), None);
    let c = slab.insert(12, "c").unwrap();
    assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff, "the slot is reused");
    assert_ne!(c, a, "under a new generation");
    assert_eq!(slab.get_mut(a), None, "a stale key finds nothing");
    assert_eq!(slab.get_mut(c), Some(&mut "c"));
    assert_eq!(slab.key_of(10), None);
    let mut keys = slab.keys();
    keys.sort_unstable();
    assert_eq!(keys.len(), 2);
    assert!(!slab.is_empty());
    slab.remove(b);
    slab.remove(c);
    assert!(slab.is_empty());
}

/// A request's length and the sum of its bytes: a reply small enough for the test framer that
/// still says whether the whole request arrived intact.
fn summarise(body: &[u8]) -> Vec<u8> {
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    [(body.len() as u64).to_be_bytes(), sum.to_be_bytes()].concat()
}

/// Answers one connection's `calls` requests with their summaries, in order.
fn summing_server(calls: usize) -> SocketAddr {
    batch_server(1, calls, |requests| {
        requests.iter().flat_map(|(key, body)| frame(*key, &summarise(body))).collect()
    })
}

const SENDING_THREADS: usize = 8;
const CALLS_PER_THREAD: usize = 8;
const CALLS_FROM_THREADS: usize = SENDING_THREADS * CALLS_PER_THREAD;

/// Request `key`'s body: 64 of them come to 13 MiB, more than the socket holds.
fn sizeable_body(key: usize) -> Vec<u8> {
    vec![key as u8; 1000 + key * 6400]
}

/// Eight threads send eight requests each through `send` (request key, body) while the server
/// answers none until it has them all, so the sends fill the socket and go on in pieces as it
/// reads; each reply must summarise its own request, whole.
fn send_from_threads(
    conn: &Arc<Connection>,
    backend: BackendChoice,
    send: fn(&Connection, usize) -> Pending,
) {
    let threads: Vec<_> = (0..SENDING_THREADS)
        .map(|t| {
            let conn = Arc::clone(conn);
            std::thread::spawn(move || {
                let keys: Vec<usize> = (0..CALLS_PER_THREAD).map(|c| t * CALLS_PER_THREAD + c).collect();
                let pending: Vec<_> = keys.iter().map(|&k| send(&conn, k)).collect();
                for (k, p) in keys.iter().zip(pending) {
                    assert_eq!(
                        p.wait(soon()).unwrap(),
                        summarise(&sizeable_body(*k)),
                        "{backend:?}: call {k}"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(conn.stats().requests.load(Ordering::Relaxed), CALLS_FROM_THREADS as u64);
}

#[test]
#[cfg_attr(miri, ignore)]
fn queued_sends_carry_many_threads_requests_through_the_loop_whole_and_in_order() {
    for backend in BACKENDS {
        let reactor = sending_reactor(backend);
        assert!(reactor.queued_sends());
        let conn =
            Arc::new(connect(summing_server(CALLS_FROM_THREADS), &reactor, LengthKeyFramer::default()));
        send_from_threads(&conn, backend, |conn, k| send(conn, k as u32, &sizeable_body(k)));
        let stats = conn.stats();
        let sent = stats.bytes_sent.load(Ordering::Relaxed);
        assert_eq!(
            stats.bytes_queued.load(Ordering::Relaxed),
            sent,
            "{backend:?}: every byte went through the loop"
        );
        let batches = stats.loop_sends.load(Ordering::Relaxed);
        assert!((1..=CALLS_FROM_THREADS as u64).contains(&batches), "{backend:?}: {batches} batches");
        drop(conn);
        wait_until("the loop letting go of the closed connection", || reactor.connections() == 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn sends_in_place_keep_their_place_in_the_stream_among_queued_ones() {
    fn in_place(key: usize) -> bool {
        key % 3 == 0
    }
    for backend in BACKENDS {
        let reactor = sending_reactor(backend);
        let conn =
            Arc::new(connect(summing_server(CALLS_FROM_THREADS), &reactor, LengthKeyFramer::default()));
        send_from_threads(&conn, backend, |conn, k| {
            if !in_place(k) {
                return send(conn, k as u32, &sizeable_body(k));
            }
            let pending = conn.register(k as u32, soon()).unwrap();
            conn.send_in_place(&[IoSlice::new(&frame(k as u32, &sizeable_body(k)))], 1).unwrap();
            pending
        });
        let queued: usize = (0..CALLS_FROM_THREADS)
            .filter(|&k| !in_place(k))
            .map(|k| frame(k as u32, &sizeable_body(k)).len())
            .sum();
        assert_eq!(
            conn.stats().bytes_queued.load(Ordering::Relaxed),
            queued as u64,
            "{backend:?}: only the requests not sent in place went through the loop"
        );
        drop(conn);
        wait_until("the loop letting go of the closed connection", || reactor.connections() == 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_queued_send_to_a_server_that_left_fails_the_calls() {
    for backend in BACKENDS {
        let reactor = sending_reactor(backend);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conn = connect(addr, &reactor, LengthKeyFramer::default());
        drop(listener.accept().unwrap());
        drop(listener);
        // The first sends may land before the reset; within a few one fails, failing the rest.
        let deadline = soon();
        loop {
            assert!(Instant::now() < deadline, "{backend:?}: sends to a closed peer kept succeeding");
            match conn.call(1, &[IoSlice::new(&frame(1, &[0; 100_000]))], soon()) {
                Ok(pending) => {
                    if let Err(e) = pending.wait(soon()) {
                        assert!(matches!(e, TransportError::Closed { .. }), "{backend:?}: {e}");
                        break;
                    }
                }
                Err(e) => {
                    assert!(matches!(e, TransportError::Closed { .. }), "{backend:?}: {e}");
                    break;
                }
            }
        }
        assert!(conn.is_closed());
        drop(conn);
        wait_until("the loop letting go of the failed connection", || reactor.connections() == 0);
    }
}
