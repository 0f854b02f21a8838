//! The wake-up of one event loop: an eventfd(2) the loop always watches (an io_uring POLL_ADD
//! or an entry in its epoll set). Whoever puts a message on the loop's queue writes to it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub(super) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A non-blocking eventfd, so draining it never blocks the loop.
    pub(super) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd(2) takes no pointers; a negative return is an error, checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd(2), is open, and nothing else owns it.
        Ok(EventFd { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Makes the fd readable until the loop next drains it. Never blocks: the counter would
    /// have to reach 2^64 - 1 first.
    pub(super) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: the source is a live 8-byte value and the length passed is exactly its size;
        // the kernel only reads it. The fd is owned by `self` and open.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), std::ptr::from_ref(&one).cast(), 8) };
    }

    /// Resets the counter, so the fd reads as idle until the next wake.
    pub(super) fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: the destination is a live, exclusively borrowed 8-byte value and the length
        // passed is exactly its size. The fd is non-blocking, so this returns at once.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), std::ptr::from_mut(&mut count).cast(), 8) };
    }

    pub(super) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut ready = [false];
        crate::poll::wait_readable(&[fd], &mut ready, std::time::Duration::ZERO).unwrap();
        ready[0]
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls Miri does not model
    fn a_wake_is_readable_until_drained() {
        let efd = EventFd::new().unwrap();
        assert!(!readable(efd.raw()));
        efd.wake();
        efd.wake();
        assert!(readable(efd.raw()));
        efd.drain();
        assert!(!readable(efd.raw()));
    }
}
