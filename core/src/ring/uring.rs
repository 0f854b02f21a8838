//! The io_uring event loop: one ring per loop thread, one RECV outstanding per connection.
//!
//! Each RECV reads into the memory its connection's framer chose ([`Receiver::target`]), so a
//! large READ reply still lands in its pooled buffer with no copy; this is why the loop uses
//! neither multishot RECV nor provided buffers, where the kernel picks the buffer and the
//! payload would have to be copied out of it. A completion is framed and delivered, and the
//! connection's next RECV queued; every re-arm of one batch of completions goes to the kernel
//! in the same io_uring_enter that waits for the next batch.

use std::io;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring, Probe};

use super::{LoopInbox, Message, OneShot, Slab};
use crate::net::{Received, Receiver};

/// User data of the poll on the loop's eventfd.
const WAKE: u64 = u64::MAX;
/// User data of cancels (their completions only confirm; the RECV's own completion counts).
const CANCEL: u64 = u64::MAX - 1;
/// Marks a SEND's user data (slot keys stay below it: their generations wrap at 2^30).
const SEND: u64 = 1 << 62;
/// How long a stopping loop waits for the kernel to complete the RECVs it cancelled. Beyond
/// it, their memory is leaked rather than freed while the kernel may still write to it.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The largest submission queue; beyond it queued entries are flushed to the kernel early.
const MAX_SUBMISSION_ENTRIES: usize = 4096;
/// IOU_PBUF_RING_MMAP: the kernel allocates the provided-buffer ring (Linux 6.4), so probing
/// for buffer rings needs no memory of ours.
const PBUF_RING_MMAP: u16 = 1;

/// What io_uring offers on this kernel, from IORING_REGISTER_PROBE and the setup parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UringProbe {
    pub recv: bool,
    pub send: bool,
    pub send_zc: bool,
    /// Multishot RECV (Linux 6.0). The probe lists opcodes, not flags, so this is inferred from
    /// SEND_ZC, which came in the same release.
    pub recv_multishot: bool,
    pub provide_buffers: bool,
    /// Provided-buffer rings (IORING_REGISTER_PBUF_RING), found by registering one.
    pub buf_ring: bool,
    pub poll_add: bool,
    pub async_cancel: bool,
    /// Timed waits (IORING_FEAT_EXT_ARG, 5.11), which a stopping loop uses.
    pub ext_arg: bool,
    /// Completions never dropped when the queue overflows (IORING_FEAT_NODROP).
    pub nodrop: bool,
}

impl UringProbe {
    /// What the loop needs and this kernel lacks, if anything.
    pub fn missing(&self) -> Option<&'static str> {
        [
            (self.recv, "IORING_OP_RECV"),
            (self.poll_add, "IORING_OP_POLL_ADD"),
            (self.async_cancel, "IORING_OP_ASYNC_CANCEL"),
            (self.ext_arg, "IORING_FEAT_EXT_ARG"),
        ]
        .into_iter()
        .find_map(|(present, name)| (!present).then_some(name))
    }
}

/// The features present, comma-separated, for the start-up log line.
impl std::fmt::Display for UringProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.recv, "recv"),
            (self.send, "send"),
            (self.send_zc, "send_zc"),
            (self.recv_multishot, "recv_multishot"),
            (self.provide_buffers, "provide_buffers"),
            (self.buf_ring, "buf_ring"),
            (self.poll_add, "poll_add"),
            (self.async_cancel, "async_cancel"),
            (self.ext_arg, "ext_arg"),
            (self.nodrop, "nodrop"),
        ];
        let present: Vec<&str> = names.iter().filter(|(p, _)| *p).map(|(_, n)| *n).collect();
        f.write_str(&present.join(", "))
    }
}

/// Sets up a small ring and asks the kernel what it supports. Fails as io_uring_setup(2) does
/// where io_uring is off: ENOSYS (not built, or filtered by seccomp), EPERM
/// (kernel.io_uring_disabled).
pub fn probe_uring() -> io::Result<UringProbe> {
    let mut ring = IoUring::new(4)?;
    // A ring that can be set up but not entered (a seccomp filter that lets io_uring_setup
    // through only) is no ring.
    run_nops(&mut ring, 1)?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    // SAFETY: with IOU_PBUF_RING_MMAP the kernel allocates the ring's memory itself and
    // `ring_addr` is ignored, so no memory of ours is handed over; the ring is unregistered
    // at once (and would go with the io_uring anyway).
    let buf_ring = unsafe { ring.submitter().register_buf_ring_with_flags(0, 1, 0, PBUF_RING_MMAP) }.is_ok();
    if buf_ring {
        let _ = ring.submitter().unregister_buf_ring(0);
    }
    let params = ring.params();
    let send_zc = probe.is_supported(opcode::SendZc::CODE);
    Ok(UringProbe {
        recv: probe.is_supported(opcode::Recv::CODE),
        send: probe.is_supported(opcode::Send::CODE),
        send_zc,
        recv_multishot: send_zc,
        provide_buffers: probe.is_supported(opcode::ProvideBuffers::CODE),
        buf_ring,
        poll_add: probe.is_supported(opcode::PollAdd::CODE),
        async_cancel: probe.is_supported(opcode::AsyncCancel::CODE),
        ext_arg: params.is_feature_ext_arg(),
        nodrop: params.is_feature_nodrop(),
    })
}

/// Runs `count` NOPs, one at a time, each submitted and reaped on this thread, on a ring of its
/// own, and returns how long they took (the ring's set-up not counted): the floor under any
/// io_uring round trip, for benchmarks.
pub fn nop_round_trips(count: u64) -> io::Result<Duration> {
    let mut ring = IoUring::new(4)?;
    let start = Instant::now();
    run_nops(&mut ring, count)?;
    Ok(start.elapsed())
}

fn run_nops(ring: &mut IoUring, count: u64) -> io::Result<()> {
    for n in 0..count {
        let nop = opcode::Nop::new().build().user_data(n);
        // SAFETY: a NOP names no memory.
        unsafe { ring.submission().push(&nop) }
            .map_err(|_| io::Error::other("a fresh ring's queue is full"))?;
        ring.submit_and_wait(1)?;
        let done = ring.completion().next().ok_or_else(|| io::Error::other("a NOP without a completion"))?;
        if done.result() < 0 {
            return Err(io::Error::from_raw_os_error(-done.result()));
        }
    }
    Ok(())
}

/// A connection as the loop holds it.
struct Conn {
    receiver: Receiver,
    /// Length of the RECV outstanding on the receiver's target, while one is: the kernel may
    /// write into the target until its completion arrives.
    recv_len: Option<usize>,
    /// The connection is over: the slot is freed once no RECV or SEND is outstanding.
    done: bool,
    cancel_sent: bool,
    /// Requests taken from the connection's outbox, being sent (`queued_sends`).
    sending: Vec<u8>,
    /// How much of `sending` the kernel has taken.
    sent: usize,
    /// A SEND is outstanding on `sending[sent..]`: the kernel may read it until its completion.
    send_outstanding: bool,
}

struct Loop {
    ring: IoUring,
    inbox: LoopInbox,
    conns: Slab<Conn>,
    /// Completions taken off the queue in one batch (sized to the completion queue).
    batch: Vec<(u64, i32)>,
    /// Set once the reactor asked the loop to stop: no new RECVs, exit when all are back.
    stopping: Option<Instant>,
}

/// The thread's body: sets the ring up, reports the outcome on `ready`, then runs until the
/// reactor stops it.
pub(super) fn run(inbox: LoopInbox, max_connections: usize, ready: &OneShot) {
    let ring = match build_ring(max_connections) {
        Ok(ring) => ring,
        Err(e) => {
            ready.report(Err(e));
            return;
        }
    };
    ready.report(Ok(()));
    let batch = Vec::with_capacity(ring.params().cq_entries() as usize);
    let mut lp = Loop { ring, inbox, conns: Slab::with_capacity(max_connections), batch, stopping: None };
    lp.arm_wake();
    lp.run();
}

/// A ring whose completion queue holds every completion that can be outstanding: a RECV and a
/// cancel per connection and the eventfd poll. Single-issuer with deferred task work where the
/// kernel has it (6.1): completions are then processed only when this thread waits for them,
/// with no interrupts to the thread while it is busy.
fn build_ring(max_connections: usize) -> io::Result<IoUring> {
    let submissions = (max_connections + 2).next_power_of_two().clamp(64, MAX_SUBMISSION_ENTRIES);
    // The kernel wants at least as many completion entries as submission entries.
    let completions = (2 * max_connections + 2).next_power_of_two().max(submissions) as u32;
    let submissions = submissions as u32;
    let fast = IoUring::builder()
        .setup_cqsize(completions)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .build(submissions);
    match fast {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            IoUring::builder().setup_cqsize(completions).build(submissions)
        }
        other => other,
    }
}

impl Loop {
    fn run(&mut self) {
        loop {
            if let Some(since) = self.stopping {
                if self.conns.is_empty() {
                    return;
                }
                if since.elapsed() > STOP_GRACE {
                    self.abandon("a cancelled receive was never completed by the kernel");
                    return;
                }
            }
            if let Err(e) = self.submit_and_wait() {
                self.abandon(&format!("io_uring_enter failed: {e}"));
                return;
            }
            self.reap();
        }
    }

    /// Hands every queued entry to the kernel and waits for at least one completion (at most a
    /// short while once stopping, so the grace period is noticed).
    fn submit_and_wait(&mut self) -> io::Result<()> {
        let outcome = if self.stopping.is_some() {
            let ts = types::Timespec::new().nsec(100_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            self.ring.submitter().submit_with_args(1, &args)
        } else {
            self.ring.submit_and_wait(1)
        };
        match outcome {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::ETIME | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn reap(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
        for &(user_data, result) in &batch {
            match user_data {
                WAKE => self.on_wake(),
                CANCEL => {}
                key if key & SEND != 0 => self.on_send(key & !SEND, result),
                key => self.on_recv(key, result),
            }
        }
        self.batch = batch;
    }

    /// Queues an entry, flushing the submission queue to the kernel first when it is full.
    ///
    /// # Safety
    ///
    /// Whatever memory `entry` points at must stay valid, and untouched by anything but the
    /// kernel where it is written, until the entry's completion has been reaped.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: the caller guarantees the memory `entry` names outlives its completion.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            // Full: the kernel takes what is queued now. Completions it cannot post stay in its
            // overflow list (IORING_FEAT_NODROP), so this cannot wedge.
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EINTR) {
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Polls the eventfd once; its completion means a message or a stop request.
    fn arm_wake(&mut self) {
        let poll = opcode::PollAdd::new(types::Fd(self.inbox.shared.wake.raw()), libc::POLLIN as u32)
            .build()
            .user_data(WAKE);
        // SAFETY: POLL_ADD names only the eventfd, which `self.inbox` keeps open for as long as
        // the ring exists; no memory is handed to the kernel.
        unsafe { self.push(&poll) };
    }

    /// Queues a RECV into the connection's current read target.
    fn arm_recv(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let fd = conn.receiver.fd();
        // The RECV takes what is there when it is issued; if that is not all of a large reply,
        // the next one then waits for the rest in one piece.
        conn.receiver.wait_for_frame_rest();
        let target = conn.receiver.target();
        let len = target.len().min(u32::MAX as usize);
        let recv = opcode::Recv::new(types::Fd(fd), target.as_mut_ptr(), len as u32).build().user_data(key);
        conn.recv_len = Some(len);
        // SAFETY: the target is memory the framer owns (behind the receiver's Box, so moving
        // the slot moves nothing it points at), and the loop neither calls the framer nor drops
        // it, nor closes `fd`, while `recv_len` is set: `recv_len` is cleared only in
        // `on_recv`, when this RECV's completion has been reaped, and `release` frees a slot
        // only once it is clear (a stopping loop that gives up waiting leaks the slots
        // instead). The framer is used by this thread alone.
        unsafe { self.push(&recv) };
    }

    fn on_wake(&mut self) {
        // Reset the counter before reading the queue: a message sent after this point wakes
        // the next poll, one sent before it is in the queue now.
        self.inbox.shared.wake.drain();
        while let Ok(message) = self.inbox.messages.try_recv() {
            match message {
                Message::Register { token, receiver } => self.register(token, receiver),
                Message::Close { token } => {
                    if let Some(key) = self.conns.key_of(token) {
                        self.finish(key);
                    }
                }
                Message::Flush { token } => {
                    if let Some(key) = self.conns.key_of(token) {
                        self.send_outbox(key);
                    }
                }
                Message::RoundTrip(_acknowledged_when_dropped) => {}
            }
        }
        if self.inbox.shared.stopping.load(std::sync::atomic::Ordering::Acquire) {
            self.stop();
        } else if self.stopping.is_none() {
            self.arm_wake();
        }
    }

    fn register(&mut self, token: u64, receiver: Receiver) {
        if self.stopping.is_some() {
            // Dropping the receiver fails the connection's calls.
            self.inbox.shared.connections.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return;
        }
        let conn = Conn {
            receiver,
            recv_len: None,
            done: false,
            cancel_sent: false,
            sending: Vec::new(),
            sent: 0,
            send_outstanding: false,
        };
        match self.conns.insert(token, conn) {
            Ok(key) => self.arm_recv(key),
            // The reactor counts connections before sending, so this is a bug; the connection
            // fails rather than the loop.
            Err(_) => {
                self.inbox.shared.connections.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
        }
    }

    /// Takes what waits in the connection's outbox and sends it, unless a SEND is outstanding
    /// (its completion comes back here) or the connection is over.
    fn send_outbox(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.send_outstanding || conn.done || conn.receiver.is_closed() {
            return;
        }
        if conn.receiver.take_outbox(&mut conn.sending) {
            conn.sent = 0;
            self.arm_send(key);
        }
    }

    /// Queues a SEND of what the connection has yet to send.
    fn arm_send(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let rest = &conn.sending[conn.sent..];
        let len = rest.len().min(u32::MAX as usize) as u32;
        let send = opcode::Send::new(types::Fd(conn.receiver.fd()), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(key | SEND);
        conn.send_outstanding = true;
        // SAFETY: `sending` belongs to the slot and is neither touched nor freed while
        // `send_outstanding` is set: only `on_send`, with this SEND's completion, clears it, and
        // `release` frees a slot only once it is clear (a stopping loop that gives up waiting
        // leaks the slots instead). The socket stays open as long as the slot's receiver.
        unsafe { self.push(&send) };
    }

    fn on_send(&mut self, key: u64, result: i32) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !std::mem::replace(&mut conn.send_outstanding, false) {
            return;
        }
        if conn.done || conn.receiver.is_closed() {
            self.release(key);
            return;
        }
        if result <= 0 {
            let why = if result == 0 {
                "send failed: the socket took nothing".to_string()
            } else {
                format!("send failed: {}", io::Error::from_raw_os_error(-result))
            };
            conn.receiver.stop(&why);
            self.finish(key);
            return;
        }
        conn.sent += result as usize;
        conn.receiver.note_sent();
        if conn.sent < conn.sending.len() {
            self.arm_send(key);
        } else {
            self.send_outbox(key);
        }
    }

    fn on_recv(&mut self, key: u64, result: i32) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let Some(wanted) = conn.recv_len.take() else { return };
        if conn.done || conn.receiver.is_closed() {
            self.release(key);
            return;
        }
        let read = if result >= 0 { Ok(result as usize) } else { Err(io::Error::from_raw_os_error(-result)) };
        match conn.receiver.complete(read, wanted) {
            Received::Bytes { .. } | Received::Again => self.arm_recv(key),
            Received::Finished => self.release(key),
        }
    }

    /// Ends a connection: at once when no RECV is outstanding, else by cancelling it (the
    /// socket is shut down too) and freeing the slot when its completion comes.
    fn finish(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.done = true;
        if conn.recv_len.is_none() && !conn.send_outstanding {
            self.release(key);
            return;
        }
        if !conn.cancel_sent {
            conn.cancel_sent = true;
            let (recv, send) = (conn.recv_len.is_some(), conn.send_outstanding);
            for (outstanding, user_data) in [(recv, key), (send, key | SEND)] {
                if outstanding {
                    let cancel = opcode::AsyncCancel::new(user_data).build().user_data(CANCEL);
                    // SAFETY: ASYNC_CANCEL carries only the user data to match; no memory.
                    unsafe { self.push(&cancel) };
                }
            }
        }
    }

    /// Frees a slot whose RECV and SEND (if any) have completed: its receiver fails what is
    /// still in flight and closes its socket. With one still outstanding the slot is only
    /// marked done; that operation's completion frees it.
    fn release(&mut self, key: u64) {
        if self.conns.get_mut(key).is_some_and(|c| c.recv_len.is_some() || c.send_outstanding) {
            // The other operation's completion frees it.
            if let Some(conn) = self.conns.get_mut(key) {
                conn.done = true;
            }
            return;
        }
        if let Some(conn) = self.conns.remove(key) {
            conn.receiver.stop("the connection closed");
            self.inbox.shared.connections.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// The reactor is going away: every connection fails, their RECVs are cancelled, and the
    /// loop returns once all have completed.
    fn stop(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(Instant::now());
        for key in self.conns.keys() {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.receiver.stop("the receive event loop stopped");
            }
            self.finish(key);
        }
    }

    /// Gives up on the ring: the connections fail, and their receivers (whose memory the kernel
    /// may still hold) are leaked, never freed.
    fn abandon(&mut self, why: &str) {
        eprintln!("nfsx: io_uring receive loop stopped: {why}");
        for key in self.conns.keys() {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.receiver.stop(why);
            }
        }
        std::mem::forget(std::mem::replace(&mut self.conns, Slab::with_capacity(0)));
    }
}
