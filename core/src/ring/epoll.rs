//! The epoll event loop, for kernels (or sandboxes) without io_uring: level-triggered readiness
//! for every connection and the loop's eventfd, then non-blocking reads into each readable
//! connection's read target.
//!
//! The reads use MSG_DONTWAIT rather than O_NONBLOCK because the socket's file description is
//! shared with the sending half: the flag would make the callers' writes non-blocking too.
//! Nothing is lent to the kernel between system calls, so a connection is freed at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;

use super::{LoopInbox, Message, OneShot, Slab};
use crate::net::{Received, Receiver};

/// Event data of the loop's eventfd.
const WAKE: u64 = u64::MAX;
/// Readiness events taken per epoll_wait.
const EVENTS_PER_WAIT: usize = 256;
/// Reads of one connection per readiness event; the rest waits for the next round (the set is
/// level-triggered), so one busy connection cannot starve the others.
const READS_PER_EVENT: usize = 4;

struct Loop {
    epoll: OwnedFd,
    inbox: LoopInbox,
    conns: Slab<Conn>,
}

/// A connection as the loop holds it.
struct Conn {
    receiver: Receiver,
    /// Requests taken from the connection's outbox and not yet all sent (`queued_sends`).
    sending: Vec<u8>,
    sent: usize,
    /// The socket is watched for room too (EPOLLOUT): the last send found it full.
    watching_out: bool,
}

/// The thread's body: sets the epoll set up, reports the outcome on `ready`, then runs until
/// the reactor stops it.
pub(super) fn run(inbox: LoopInbox, max_connections: usize, ready: &OneShot) {
    let mut lp = match create() {
        Ok(epoll) => Loop { epoll, inbox, conns: Slab::with_capacity(max_connections) },
        Err(e) => {
            ready.report(Err(e));
            return;
        }
    };
    if let Err(e) = lp.watch(libc::EPOLL_CTL_ADD, lp.inbox.shared.wake.raw(), WAKE, false) {
        ready.report(Err(e));
        return;
    }
    ready.report(Ok(()));
    lp.run();
}

fn create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1(2) takes no pointers; a negative return is an error.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by epoll_create1, is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Loop {
    fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
        loop {
            // SAFETY: `events` is a live, exclusively borrowed array of `events.len()` entries,
            // which is what the kernel is told it may fill.
            let n = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, -1)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.stop(&format!("epoll_wait failed: {e}"));
                return;
            }
            for event in &events[..n as usize] {
                let (key, ready) = (event.u64, event.events);
                match key {
                    WAKE => {
                        if self.on_wake() {
                            self.stop("the receive event loop stopped");
                            return;
                        }
                    }
                    key => {
                        if ready & libc::EPOLLOUT as u32 != 0 {
                            self.send_more(key);
                        }
                        if ready & !(libc::EPOLLOUT as u32) != 0 {
                            self.on_ready(key);
                        }
                    }
                }
            }
        }
    }

    /// Takes the queued messages; true when the reactor asks the loop to stop.
    fn on_wake(&mut self) -> bool {
        // Reset before reading the queue, so no message is left without a wake-up.
        self.inbox.shared.wake.drain();
        while let Ok(message) = self.inbox.messages.try_recv() {
            match message {
                Message::Register { token, receiver } => self.register(token, receiver),
                Message::Close { token } => {
                    if let Some(key) = self.conns.key_of(token) {
                        self.release(key);
                    }
                }
                Message::Flush { token } => {
                    if let Some(key) = self.conns.key_of(token) {
                        if self.conns.get_mut(key).is_some_and(|c| c.sending.len() == c.sent) {
                            self.send_more(key);
                        }
                    }
                }
                Message::RoundTrip(_acknowledged_when_dropped) => {}
            }
        }
        self.inbox.shared.stopping.load(Ordering::Acquire)
    }

    fn register(&mut self, token: u64, receiver: Receiver) {
        let fd = receiver.fd();
        let conn = Conn { receiver, sending: Vec::new(), sent: 0, watching_out: false };
        let key = match self.conns.insert(token, conn) {
            Ok(key) => key,
            // The reactor counts connections before sending, so this does not happen; the
            // receiver is dropped, failing its connection, rather than the loop.
            Err(_) => {
                self.inbox.shared.connections.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        };
        if let Err(e) = self.watch(libc::EPOLL_CTL_ADD, fd, key, false) {
            if let Some(conn) = self.conns.remove(key) {
                conn.receiver.stop(&format!("epoll_ctl failed: {e}"));
            }
            self.inbox.shared.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Reads what the connection has, up to [`READS_PER_EVENT`] reads.
    fn on_ready(&mut self, key: u64) {
        for _ in 0..READS_PER_EVENT {
            let Some(receiver) = self.conns.get_mut(key).map(|c| &mut c.receiver) else { return };
            if receiver.is_closed() {
                self.release(key);
                return;
            }
            let fd = receiver.fd();
            let target = receiver.target();
            let wanted = target.len();
            // SAFETY: `target` is a live, exclusively borrowed slice of `wanted` bytes for the
            // duration of the call; recv(2) writes at most that many and keeps no reference.
            let n = unsafe { libc::recv(fd, target.as_mut_ptr().cast(), wanted, libc::MSG_DONTWAIT) };
            let read = if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) };
            match receiver.complete(read, wanted) {
                Received::Bytes { short: false } => {}
                Received::Bytes { short: true } | Received::Again => break,
                Received::Finished => {
                    self.release(key);
                    return;
                }
            }
        }
        // Level-triggered: the mark decides when the socket is reported again.
        if let Some(conn) = self.conns.get_mut(key) {
            conn.receiver.wait_for_frame_rest();
        }
    }

    /// Sends what the connection has taken from its outbox, then whatever has gathered there
    /// since, until the outbox is empty (the stream's tail goes back to the callers) or the
    /// socket is full (then EPOLLOUT brings the loop back here).
    fn send_more(&mut self, key: u64) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else { return };
            if conn.receiver.is_closed() {
                // Out of the set at once: its writability would otherwise be reported for ever.
                self.release(key);
                return;
            }
            if conn.sent == conn.sending.len() {
                conn.sent = 0;
                if !conn.receiver.take_outbox(&mut conn.sending) {
                    if conn.watching_out {
                        conn.watching_out = false;
                        let fd = conn.receiver.fd();
                        let _ = self.watch(libc::EPOLL_CTL_MOD, fd, key, false);
                    }
                    return;
                }
            }
            let rest = &conn.sending[conn.sent..];
            // SAFETY: `rest` is a live slice for the duration of the call; send(2) only reads
            // it and keeps no reference.
            let n = unsafe {
                libc::send(
                    conn.receiver.fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                conn.sent += n as usize;
                conn.receiver.note_sent();
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if !conn.watching_out {
                        conn.watching_out = true;
                        let fd = conn.receiver.fd();
                        if let Err(e) = self.watch(libc::EPOLL_CTL_MOD, fd, key, true) {
                            self.fail(key, &format!("epoll_ctl failed: {e}"));
                        }
                    }
                    return;
                }
                _ => {
                    self.fail(key, &format!("send failed: {e}"));
                    return;
                }
            }
        }
    }

    fn fail(&mut self, key: u64, why: &str) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.receiver.stop(why);
        }
        self.release(key);
    }

    /// Adds or changes the set's entry for `fd`: readable, and with `out` writable too.
    fn watch(&self, op: i32, fd: RawFd, key: u64, out: bool) -> io::Result<()> {
        let mut events = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        if out {
            events |= libc::EPOLLOUT as u32;
        }
        let mut event = libc::epoll_event { events, u64: key };
        // SAFETY: `event` is a live value the kernel only reads during the call; `fd` is open
        // (owned by the receiver in the slab, or by the loop's eventfd).
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Takes a connection out of the set and frees it (failing whatever it still had in
    /// flight). The fd leaves the set explicitly: the sending half holds a duplicate of it, so
    /// closing ours alone would leave the registration behind.
    fn release(&mut self, key: u64) {
        let Some(Conn { receiver, .. }) = self.conns.remove(key) else { return };
        // SAFETY: EPOLL_CTL_DEL reads no event; the fd is still open (the receiver owns it
        // until it is dropped below).
        unsafe {
            libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, receiver.fd(), std::ptr::null_mut())
        };
        receiver.stop("the connection closed");
        self.inbox.shared.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// Fails every connection and frees it; the queue's remaining messages go with the inbox.
    fn stop(&mut self, why: &str) {
        for key in self.conns.keys() {
            self.fail(key, why);
        }
    }
}
