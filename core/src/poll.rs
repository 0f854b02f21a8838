//! Waiting for readability of several sockets at once, for connections driven by their
//! callers (run-to-completion). poll(2): the sets are small (a client's connections), so its
//! linear scan costs less than keeping an epoll set in step with reconnects.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Blocks until one of `fds` is readable (or has an error or hang-up to report) or `timeout`
/// passes; marks the ready ones in `ready`, which must be as long as `fds`.
pub fn wait_readable(fds: &[RawFd], ready: &mut [bool], timeout: Duration) -> io::Result<usize> {
    let mut on_stack = [UNUSED; STACK_FDS];
    let mut on_heap = Vec::new();
    let polled = poll_set(fds.iter().copied(), fds.len(), &mut on_stack, &mut on_heap);
    let n = poll(polled, timeout)?;
    for (flag, p) in ready.iter_mut().zip(&*polled) {
        *flag = p.revents != 0;
    }
    Ok(n)
}

/// As [`wait_readable`] for a caller that only needs to wake up: the sockets come from an
/// iterator of at most `len` items, and nothing says which is ready. No sockets at all is a
/// plain sleep.
pub fn wait_any_readable(
    fds: impl Iterator<Item = RawFd>,
    len: usize,
    timeout: Duration,
) -> io::Result<usize> {
    let mut on_stack = [UNUSED; STACK_FDS];
    let mut on_heap = Vec::new();
    poll(poll_set(fds, len, &mut on_stack, &mut on_heap), timeout)
}

/// Sockets a poll set holds on the stack; a larger set is allocated.
const STACK_FDS: usize = 64;
const UNUSED: libc::pollfd = libc::pollfd { fd: -1, events: 0, revents: 0 };

fn poll_set<'s>(
    fds: impl Iterator<Item = RawFd>,
    len: usize,
    on_stack: &'s mut [libc::pollfd; STACK_FDS],
    on_heap: &'s mut Vec<libc::pollfd>,
) -> &'s mut [libc::pollfd] {
    let entries = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    crate::stack_or_heap::fill(entries, len, on_stack, on_heap)
}

/// poll(2) for readability, an interruption counting as nothing ready.
fn poll(polled: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let timeout_ms =
        i32::try_from(timeout.as_millis().max(u128::from(!timeout.is_zero()))).unwrap_or(i32::MAX);
    // SAFETY: `polled` is a live, exclusively borrowed array of `polled.len()` pollfd structs for
    // the duration of the call; poll(2) only writes their `revents` fields.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(0) } else { Err(e) };
    }
    Ok(n as usize)
}

/// Blocks until `fd` can take more bytes or has bytes to read, or `timeout` passes. A sender
/// that also receives on the same thread waits with this, so it never blocks on a full send
/// buffer while the peer waits for it to read.
pub fn wait_writable_or_readable(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let mut polled = [libc::pollfd { fd, events: libc::POLLOUT | libc::POLLIN, revents: 0 }];
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `polled` is a live, exclusively borrowed one-element array for the duration of the
    // call; poll(2) only writes its `revents` field.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), 1, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Sets SO_RCVLOWAT: poll(2) reports the socket readable only once `bytes` are queued. Waiting
/// for several replies at a time instead of each one trades a little latency for far fewer
/// wake-ups when many calls are in flight.
pub fn set_receive_low_water(fd: RawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes.max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `value` lives across the call and the length passed is exactly its size; the
    // kernel only reads it. A bad `fd` is reported as an error, not undefined behaviour.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_which_sockets_have_data() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (_c, d) = UnixStream::pair().unwrap();
        let fds = [b.as_raw_fd(), d.as_raw_fd()];
        let mut ready = [false; 2];
        assert_eq!(wait_readable(&fds, &mut ready, Duration::from_millis(10)).unwrap(), 0);
        a.write_all(b"x").unwrap();
        assert_eq!(wait_readable(&fds, &mut ready, Duration::from_secs(5)).unwrap(), 1);
        assert_eq!(ready, [true, false]);
    }
}
