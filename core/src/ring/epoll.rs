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
    conns: Slab<Receiver>,
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
    if let Err(e) = lp.add(lp.inbox.shared.wake.raw(), WAKE) {
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
                match event.u64 {
                    WAKE => {
                        if self.on_wake() {
                            self.stop("the receive event loop stopped");
                            return;
                        }
                    }
                    key => self.on_ready(key),
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
                Message::RoundTrip(_acknowledged_when_dropped) => {}
            }
        }
        self.inbox.shared.stopping.load(Ordering::Acquire)
    }

    fn register(&mut self, token: u64, receiver: Receiver) {
        let fd = receiver.fd();
        let key = match self.conns.insert(token, receiver) {
            Ok(key) => key,
            // The reactor counts connections before sending, so this does not happen; the
            // receiver is dropped, failing its connection, rather than the loop.
            Err(_) => {
                self.inbox.shared.connections.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        };
        if let Err(e) = self.add(fd, key) {
            if let Some(receiver) = self.conns.remove(key) {
                receiver.stop(&format!("epoll_ctl failed: {e}"));
            }
            self.inbox.shared.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Reads what the connection has, up to [`READS_PER_EVENT`] reads.
    fn on_ready(&mut self, key: u64) {
        for _ in 0..READS_PER_EVENT {
            let Some(receiver) = self.conns.get_mut(key) else { return };
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
                Received::Bytes { short: true } | Received::Again => return,
                Received::Finished => {
                    self.release(key);
                    return;
                }
            }
        }
    }

    fn add(&self, fd: RawFd, key: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, u64: key };
        // SAFETY: `event` is a live value the kernel only reads during the call; `fd` is open
        // (owned by the receiver in the slab, or by the loop's eventfd).
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Takes a connection out of the set and frees it (failing whatever it still had in
    /// flight). The fd leaves the set explicitly: the sending half holds a duplicate of it, so
    /// closing ours alone would leave the registration behind.
    fn release(&mut self, key: u64) {
        let Some(receiver) = self.conns.remove(key) else { return };
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
            if let Some(receiver) = self.conns.get_mut(key) {
                receiver.stop(why);
            }
            self.release(key);
        }
    }
}
