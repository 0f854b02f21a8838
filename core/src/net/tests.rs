//! The connection against a tiny loopback server speaking a toy framing: 4-byte length, 4-byte key.

use std::io::{IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Connection, Framer, Replies, SocketOptions, TransportError};

pub(crate) struct LengthKeyFramer {
    scratch: Vec<u8>,
    buf: Vec<u8>,
    /// Longer frames break the framing.
    max_len: usize,
}

impl Default for LengthKeyFramer {
    fn default() -> Self {
        LengthKeyFramer::with_max_len(1024)
    }
}

impl LengthKeyFramer {
    pub(crate) fn with_max_len(max_len: usize) -> Self {
        LengthKeyFramer { scratch: vec![0; 4096], buf: Vec::new(), max_len }
    }
}

impl Framer for LengthKeyFramer {
    fn read_target(&mut self) -> &mut [u8] {
        &mut self.scratch
    }

    fn filled(&mut self, n: usize, replies: &mut dyn Replies) -> Result<(), String> {
        self.buf.extend_from_slice(&self.scratch[..n]);
        while self.buf.len() >= 8 {
            let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
            if len > self.max_len {
                return Err(format!("frame of {len} bytes"));
            }
            if self.buf.len() < 8 + len {
                break;
            }
            let key = u32::from_be_bytes(self.buf[4..8].try_into().unwrap());
            replies.deliver(key, Bytes::copy_from_slice(&self.buf[8..8 + len]));
            self.buf.drain(..8 + len);
        }
        Ok(())
    }

    fn awaited_bytes(&self) -> Option<usize> {
        let head = self.buf.get(..4)?;
        let whole = 8 + u32::from_be_bytes(head.try_into().unwrap()) as usize;
        (self.buf.len() < whole).then(|| whole - self.buf.len())
    }
}

pub(crate) fn frame(key: u32, body: &[u8]) -> Vec<u8> {
    [&(body.len() as u32).to_be_bytes()[..], &key.to_be_bytes(), body].concat()
}

pub(crate) fn read_frame(stream: &mut TcpStream) -> (u32, Vec<u8>) {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    (u32::from_be_bytes(head[4..].try_into().unwrap()), body)
}

/// Runs `serve` on the first accepted connection in a thread.
pub(crate) fn server(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || serve(listener.accept().unwrap().0));
    addr
}

pub(crate) fn options() -> SocketOptions {
    SocketOptions { reserved_port: false, ..SocketOptions::default() }
}

pub(crate) fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

pub(crate) fn send(conn: &Connection, key: u32, body: &[u8]) -> super::Pending {
    let bytes = frame(key, body);
    let (head, tail) = bytes.split_at(3);
    conn.call(key, &[IoSlice::new(head), IoSlice::new(tail)], soon()).unwrap()
}

#[test]
fn replies_out_of_order_reach_their_callers() {
    let addr = server(|mut s| {
        let a = read_frame(&mut s);
        let b = read_frame(&mut s);
        s.write_all(&frame(b.0, &b.1)).unwrap();
        s.write_all(&[frame(a.0, &a.1), frame(99, b"stray")].concat()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let conn = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap();
    let first = send(&conn, 1, b"one");
    let second = send(&conn, 2, b"two");
    assert_eq!(second.wait(soon()).unwrap(), &b"two"[..]);
    assert_eq!(first.wait(soon()).unwrap(), &b"one"[..]);
    let deadline = soon();
    while conn.stats().unmatched_replies.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the stray reply was never counted");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(conn.in_flight(), 0);
}

#[test]
fn a_full_slot_table_makes_callers_wait_until_their_deadline() {
    let addr = server(|mut s| {
        let a = read_frame(&mut s);
        std::thread::sleep(Duration::from_millis(300));
        s.write_all(&frame(a.0, &a.1)).unwrap();
        let b = read_frame(&mut s);
        s.write_all(&frame(b.0, &b.1)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let conn = Connection::connect(addr, &options(), 1, LengthKeyFramer::default()).unwrap();
    let first = send(&conn, 1, b"a");
    let bytes = frame(2, b"b");
    let err = conn.call(2, &[IoSlice::new(&bytes)], Instant::now() + Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
    assert_eq!(first.wait(soon()).unwrap(), &b"a"[..]);
    let second = conn.call(2, &[IoSlice::new(&bytes)], soon()).unwrap();
    assert_eq!(second.wait(soon()).unwrap(), &b"b"[..]);
}

#[test]
fn a_key_already_in_flight_is_refused() {
    let addr = server(|mut s| {
        read_frame(&mut s);
        std::thread::sleep(Duration::from_millis(300));
    });
    let conn = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap();
    let _first = send(&conn, 7, b"x");
    let bytes = frame(7, b"x");
    let err = conn.call(7, &[IoSlice::new(&bytes)], soon()).unwrap_err();
    assert!(matches!(err, TransportError::DuplicateKey { key: 7, .. }), "{err}");
}

#[test]
fn a_server_that_closes_fails_every_waiter_and_later_calls() {
    let addr = server(|mut s| {
        read_frame(&mut s);
        read_frame(&mut s);
    });
    let conn = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap();
    let a = send(&conn, 1, b"a");
    let b = send(&conn, 2, b"b");
    for pending in [a, b] {
        let err = pending.wait(soon()).unwrap_err();
        assert!(matches!(err, TransportError::Closed { .. }), "{err}");
        assert!(err.is_connection_lost());
    }
    assert!(conn.is_closed());
    let bytes = frame(3, b"c");
    assert!(matches!(conn.call(3, &[IoSlice::new(&bytes)], soon()), Err(TransportError::Closed { .. })));
}

#[test]
fn a_framing_error_closes_the_connection_with_its_reason() {
    let addr = server(|mut s| {
        read_frame(&mut s);
        s.write_all(&frame(1, &[0; 2000])).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    let conn = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap();
    let err = send(&conn, 1, b"a").wait(soon()).unwrap_err();
    assert!(err.to_string().contains("frame of 2000 bytes"), "{err}");
}

#[test]
fn a_silent_server_times_out_the_waiter() {
    let addr = server(|mut s| {
        read_frame(&mut s);
        std::thread::sleep(Duration::from_millis(500));
    });
    let conn = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap();
    let pending = send(&conn, 1, b"a");
    let err = pending.wait(Instant::now() + Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
    drop(pending);
    assert_eq!(conn.in_flight(), 0, "an abandoned request leaves the table");
}

#[test]
fn connecting_to_a_closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err}");
    assert_eq!(err.errno(), 111);
}

#[test]
fn a_reconnect_waits_a_moment_for_its_old_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = options();
    let old = super::socket::connect(addr, &opts).unwrap();
    let port = old.local_addr().unwrap().port();
    let (served, _) = listener.accept().unwrap();
    // The server hangs up; the old socket holds the port towards it until it is closed, a
    // moment after the reconnect starts.
    drop(served);
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        drop(old);
    });
    let again = super::socket::connect(addr, &SocketOptions { local_port: Some(port), ..opts }).unwrap();
    closer.join().unwrap();
    assert_eq!(again.local_addr().unwrap().port(), port);
}

#[test]
fn a_future_is_woken_when_its_reply_lands() {
    use std::task::{Context, Poll};

    let addr = server(|mut s| {
        let a = read_frame(&mut s);
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(&frame(a.0, &a.1)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let conn = Connection::connect(addr, &options(), 8, LengthKeyFramer::default()).unwrap();
    let pending = send(&conn, 1, b"async");
    let (wakes, waker) = crate::wake_count::WakeCount::new();
    let mut cx = Context::from_waker(&waker);
    assert!(pending.poll_reply(&mut cx).is_pending());
    let deadline = soon();
    while wakes.get() == 0 {
        assert!(Instant::now() < deadline, "never woken");
        std::thread::sleep(Duration::from_millis(5));
    }
    match pending.poll_reply(&mut cx) {
        Poll::Ready(reply) => assert_eq!(reply.unwrap(), &b"async"[..]),
        Poll::Pending => panic!("woken without a reply"),
    }
}

#[test]
fn a_caller_driven_connection_reads_only_when_driven() {
    use super::{ReceiveKind, ReceiveMode};
    let addr = server(|mut s| {
        let a = read_frame(&mut s);
        let b = read_frame(&mut s);
        s.write_all(&[frame(b.0, &b.1), frame(a.0, &a.1)].concat()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    let conn = Connection::connect_with(addr, &options(), 8, LengthKeyFramer::default(), ReceiveMode::Caller)
        .unwrap();
    assert_eq!(conn.mode(), ReceiveKind::Caller);
    let first = send(&conn, 1, b"one");
    let second = send(&conn, 2, b"two");
    let fds = [conn.raw_fd()];
    let mut ready = [false];
    crate::poll::wait_readable(&fds, &mut ready, Duration::from_secs(5)).unwrap();
    assert!(ready[0]);
    assert!(first.try_reply().is_none(), "nothing is read until someone drives");
    conn.wake_after_replies(2);
    assert!(conn.drive());
    assert_eq!(first.try_reply().unwrap().unwrap(), &b"one"[..]);
    assert_eq!(second.try_reply().unwrap().unwrap(), &b"two"[..]);
}

#[test]
fn a_driver_that_has_enough_leaves_the_later_replies_in_the_socket() {
    use super::ReceiveMode;
    const REPLY_LEN: usize = 16 * 1024;
    let (sent, sent_all) = std::sync::mpsc::channel::<()>();
    let addr = server(move |mut s| {
        let a = read_frame(&mut s);
        let b = read_frame(&mut s);
        let body = vec![5u8; REPLY_LEN];
        s.write_all(&[frame(a.0, &body), frame(b.0, &body)].concat()).unwrap();
        sent.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    let framer = LengthKeyFramer::with_max_len(REPLY_LEN);
    let conn = Connection::connect_with(addr, &options(), 8, framer, ReceiveMode::Caller).unwrap();
    let first = send(&conn, 1, b"one");
    let second = send(&conn, 2, b"two");
    sent_all.recv().unwrap();
    let answered = std::cell::RefCell::new(None);
    assert!(conn.drive_until(&|| {
        let mut answered = answered.borrow_mut();
        if answered.is_none() {
            *answered = first.try_reply();
        }
        answered.is_some()
    }));
    assert_eq!(answered.take().unwrap().unwrap().len(), REPLY_LEN);
    assert!(second.try_reply().is_none(), "the second reply was read before the first was used");
    assert!(conn.drive());
    assert_eq!(second.try_reply().unwrap().unwrap().len(), REPLY_LEN);
}

#[test]
fn a_driving_caller_waits_for_several_large_replies_at_once() {
    use super::ReceiveMode;
    const REPLIES: u32 = 64;
    const REPLY_LEN: usize = 256 * 1024;
    let addr = server(|mut s| {
        let body = vec![7u8; REPLY_LEN];
        for _ in 0..REPLIES {
            let (key, _) = read_frame(&mut s);
            s.write_all(&frame(key, &body)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
    });
    let framer = LengthKeyFramer::with_max_len(REPLY_LEN);
    let conn = Connection::connect_with(addr, &options(), 8, framer, ReceiveMode::Caller).unwrap();
    for key in 0..REPLIES {
        let pending = send(&conn, key, b"read");
        let deadline = soon();
        while pending.try_reply().is_none() {
            assert!(Instant::now() < deadline, "reply {key} never came");
            conn.drive();
            crate::poll::wait_readable(&[conn.raw_fd()], &mut [false], Duration::from_millis(10)).unwrap();
        }
    }
    conn.wake_after_replies(4);
    // The size of the replies of late rises slowly toward theirs: past one reply's size is
    // enough to show the mark is no longer held to a fraction of one large reply.
    let low_water = conn.receive_low_water().unwrap();
    assert!(low_water > REPLY_LEN, "woken after {low_water} bytes: no more than one reply of {REPLY_LEN}");
    conn.wake_after_replies(1);
    assert_eq!(conn.receive_low_water(), Some(1));
}

#[test]
fn a_driving_caller_waits_for_the_rest_of_a_large_reply_in_one_piece() {
    use super::ReceiveMode;
    const HALF: usize = 128 * 1024;
    let (go_on, go) = std::sync::mpsc::channel::<()>();
    let addr = server(move |mut s| {
        let (key, _) = read_frame(&mut s);
        let reply = frame(key, &vec![3u8; 2 * HALF]);
        s.write_all(&reply[..8 + HALF]).unwrap();
        go.recv().unwrap();
        s.write_all(&reply[8 + HALF..]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    let framer = LengthKeyFramer::with_max_len(2 * HALF);
    let conn = Connection::connect_with(addr, &options(), 8, framer, ReceiveMode::Caller).unwrap();
    let pending = send(&conn, 1, b"read");
    let deadline = soon();
    // What a driving caller does before it waits: read what is there, then set the mark.
    while conn.receive_low_water() != Some(HALF) {
        assert!(
            Instant::now() < deadline,
            "the mark never asked for the rest: {:?}",
            conn.receive_low_water()
        );
        conn.drive();
        conn.wake_after_replies(1);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        conn.wake_after_replies(1),
        "a mark above one byte may hold a reply back: the wait must be short"
    );
    go_on.send(()).unwrap();
    let reply = loop {
        if let Some(reply) = pending.try_reply() {
            break reply.unwrap();
        }
        assert!(Instant::now() < deadline, "the rest never came");
        crate::poll::wait_readable(&[conn.raw_fd()], &mut [false], Duration::from_millis(10)).unwrap();
        conn.drive();
    };
    assert_eq!(reply.len(), 2 * HALF);
    assert!(!conn.wake_after_replies(1), "with one byte as the mark a wait may be long");
    assert_eq!(
        conn.receive_low_water(),
        Some(1),
        "with no reply in progress the mark is back at its default"
    );
}

#[test]
fn a_caller_driven_connection_waiting_for_a_slot_reads_the_reply_that_frees_it() {
    use super::ReceiveMode;
    let addr = server(|mut s| {
        for _ in 0..2 {
            let (key, body) = read_frame(&mut s);
            s.write_all(&frame(key, &body)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
    });
    let conn = Connection::connect_with(addr, &options(), 1, LengthKeyFramer::default(), ReceiveMode::Caller)
        .unwrap();
    let first = send(&conn, 1, b"one");
    // Nothing else reads this connection: the wait for the only slot must read reply 1 itself.
    let started = Instant::now();
    let second = send(&conn, 2, b"two");
    assert!(started.elapsed() < Duration::from_secs(1), "waited {:?} for a slot", started.elapsed());
    assert_eq!(first.try_reply().unwrap().unwrap(), &b"one"[..]);
    let deadline = soon();
    while second.try_reply().is_none() {
        assert!(Instant::now() < deadline);
        conn.drive();
        std::thread::sleep(Duration::from_millis(1));
    }
}
