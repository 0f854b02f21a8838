//! The completion queue's state: a fixed table of operation slots, a ring of RPC pieces in
//! flight in submission order, and a ring of finished completions. Everything is allocated in
//! [`Queue::new`] from the depth; submitting and reaping never allocate. Full is -EAGAIN.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use libc::c_void;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::super::guard::{Errno, FfiResult};
use super::super::types::nfsx_stat;
use nfsx_core::buf::landing::OwnedZone;

use super::nfsx_completion;
use crate::client::InFlight;
use crate::Client;

/// Most RPCs one submission may be split into (a read or write of up to 16 times rsize/wsize).
pub(crate) const MAX_PIECES_PER_OP: usize = 16;

/// A completion callback and its argument, called on the reaper thread.
pub(crate) type Callback = (unsafe extern "C" fn(*const nfsx_completion, *mut c_void), usize);

/// What one RPC of an operation does with its reply.
#[derive(Debug)]
pub(crate) enum Work {
    /// READ into the caller's buffer at `dst` (an address), `len` bytes wanted; `zone` lends
    /// that memory for the reply's data to land in.
    Read {
        dst: usize,
        len: usize,
        zone: OwnedZone,
    },
    /// WRITE of `len` bytes; the reply's verifier is noted on the file for COMMIT.
    Write {
        file: std::sync::Arc<super::super::file::OpenFile>,
        len: usize,
    },
    /// GETATTR (fstat) or LOOKUP (lstat); the attributes go to the slot's `stat_out`.
    Getattr,
    Lookup,
    /// CREATE; the result is 0. `exclusive`: GUARDED (O_EXCL), which must not fail for the
    /// file its own earlier try made.
    Create {
        exclusive: bool,
    },
}

/// One RPC in flight, waited for by the reaper in submission order.
#[derive(Debug)]
pub(crate) struct Piece {
    pub(crate) slot: u32,
    pub(crate) client: Client,
    /// Declared before `work`, so it drops first: a WRITE's call may borrow the file handle
    /// kept alive by `Work::Write`'s Arc.
    pub(crate) inflight: InFlight<'static>,
    pub(crate) work: Work,
}

/// One submitted operation, from submission until its completion is reaped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) opcode: u32,
    pub(crate) user_data: usize,
    pub(crate) pieces_left: u32,
    /// Bytes moved so far, contiguous from the start of the request.
    pub(crate) bytes: u64,
    /// A short piece was seen: later pieces no longer count.
    pub(crate) short: bool,
    /// First error (a positive errno), if any.
    pub(crate) error: i32,
    /// Attributes for a stat, copied out only when the operation succeeded.
    pub(crate) attrs: Option<nfsx_stat>,
    /// The completion's result, once made.
    pub(crate) result: i64,
    /// Where a stat's attributes go (the caller's `struct nfsx_stat *`, as an address).
    pub(crate) stat_out: Option<usize>,
}

fn completion_of(s: &Slot, result: i64) -> nfsx_completion {
    nfsx_completion { user_data: s.user_data as *mut c_void, result, opcode: s.opcode, _reserved: 0 }
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    pub(crate) pieces: VecDeque<Piece>,
    /// Slots whose completion waits to be polled, oldest first.
    done: VecDeque<u32>,
    /// Operations submitted whose completion is not yet made.
    pub(crate) running: usize,
    pub(crate) closing: bool,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) state: Mutex<State>,
    /// The reaper waits here for pieces; `nfsx_cq_free` wakes it to finish.
    pub(crate) work: Condvar,
    /// Pollers wait here for completions.
    ready: Condvar,
    /// Readable while completions wait (queue mode); counts completions posted.
    efd: OwnedFd,
    pub(crate) callback: Option<Callback>,
    pub(crate) depth: usize,
    /// Completions made since creation (for tests and stats).
    pub(crate) completed: AtomicUsize,
}

impl Queue {
    pub(crate) fn new(depth: usize, callback: Option<Callback>) -> FfiResult<Queue> {
        // SAFETY: eventfd takes no pointers; a negative result is an error, checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE)));
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nothing else.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Queue {
            state: Mutex::new(State {
                slots: vec![Slot::default(); depth],
                free: (0..depth as u32).rev().collect(),
                pieces: VecDeque::with_capacity(depth * MAX_PIECES_PER_OP),
                done: VecDeque::with_capacity(depth),
                running: 0,
                closing: false,
            }),
            work: Condvar::new(),
            ready: Condvar::new(),
            efd,
            callback,
            depth,
            completed: AtomicUsize::new(0),
        })
    }

    pub(crate) fn fd(&self) -> i32 {
        self.efd.as_raw_fd()
    }

    /// Takes a free slot for a new operation, or -EAGAIN when `depth` are outstanding.
    pub(crate) fn acquire(
        &self,
        opcode: u32,
        user_data: usize,
        pieces: u32,
        stat_out: Option<usize>,
    ) -> FfiResult<u32> {
        let mut st = self.state.lock();
        if st.closing {
            return Err(Errno(libc::EBADF));
        }
        let slot = st.free.pop().ok_or(Errno(libc::EAGAIN))?;
        st.slots[slot as usize] =
            Slot { opcode, user_data, pieces_left: pieces, stat_out, ..Slot::default() };
        st.running += 1;
        Ok(slot)
    }

    /// Gives back a slot whose submission failed before anything was queued.
    pub(crate) fn abandon(&self, slot: u32) {
        let mut st = self.state.lock();
        st.running -= 1;
        st.free.push(slot);
        drop(st);
        self.work.notify_all();
    }

    /// Queues the pieces of one operation, in order, for the reaper.
    pub(crate) fn push(&self, pieces: impl IntoIterator<Item = Piece>) {
        let mut st = self.state.lock();
        st.pieces.extend(pieces);
        drop(st);
        self.work.notify_all();
    }

    /// Makes the completion of a finished slot: to the callback, or to the ring and eventfd.
    pub(crate) fn complete(&self, mut st: MutexGuard<'_, State>, slot: u32) {
        let s = st.slots[slot as usize];
        let result = if s.error != 0 {
            -i64::from(s.error)
        } else if matches!(s.opcode, super::NFSX_OP_PREAD | super::NFSX_OP_PWRITE) {
            s.bytes as i64
        } else {
            0
        };
        st.slots[slot as usize].result = result;
        st.running -= 1;
        self.completed.fetch_add(1, Ordering::Relaxed);
        match self.callback {
            Some((callback, arg)) => {
                drop(st);
                let completion = completion_of(&s, result);
                // SAFETY: the callback and its argument were given by C to nfsx_cq_new_callback,
                // which documents that it is called on the reaper thread with a completion that
                // lives only for the call; C code cannot unwind into Rust.
                unsafe { callback(&completion, arg as *mut c_void) };
                let mut st = self.state.lock();
                st.free.push(slot);
                drop(st);
                self.work.notify_all();
            }
            None => {
                st.done.push_back(slot);
                self.signal(1);
                drop(st);
                self.ready.notify_all();
            }
        }
    }

    fn signal(&self, n: u64) {
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. It cannot fail short of
        // the counter overflowing (2^64 - 2), which the depth bound rules out.
        unsafe { libc::write(self.fd(), (&raw const n).cast(), 8) };
    }

    fn drain_fd(&self) {
        let mut n = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd; EAGAIN when
        // it is already zero is fine.
        unsafe { libc::read(self.fd(), (&raw mut n).cast(), 8) };
    }

    /// Moves up to `out.len()` completions into `out`, waiting up to `timeout` (None: for
    /// ever) for the first. Their slots become free.
    pub(crate) fn poll(&self, out: &mut [nfsx_completion], timeout: Option<Duration>) -> usize {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.state.lock();
        while st.done.is_empty() {
            match deadline {
                None => self.ready.wait(&mut st),
                Some(d) => {
                    if self.ready.wait_until(&mut st, d).timed_out() {
                        break;
                    }
                }
            }
        }
        let mut n = 0;
        while n < out.len() {
            let Some(slot) = st.done.pop_front() else {
                break;
            };
            let s = &st.slots[slot as usize];
            out[n] = completion_of(s, s.result);
            st.free.push(slot);
            n += 1;
        }
        if st.done.is_empty() {
            self.drain_fd();
        }
        drop(st);
        if n > 0 {
            self.work.notify_all();
        }
        n
    }

    /// Stops new submissions and waits until every submitted operation has completed.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closing = true;
        self.work.notify_all();
        while st.running > 0 {
            // Woken by `ready` in queue mode; in callback mode the short wait re-checks.
            self.ready.wait_for(&mut st, Duration::from_millis(20));
        }
    }
}
