//! What each kernel interface costs to move bulk data through one TCP connection on loopback:
//! plain system calls against io_uring's SEND, SEND_ZC (zero-copy, also from a registered
//! buffer), RECV and READ_FIXED (into a registered buffer). The data path chooses its
//! operations from these figures (`nfsx-bench kernel-io` prints them); the peer is a plain
//! thread in the same process, so what loopback charges to the sender for the receiver's side
//! (and the reverse) is counted as it would be against a server on the same host.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, types, IoUring};
use memmap2::MmapMut;

/// How the measured thread sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOp {
    /// write(2), the way the data path sends today.
    Write,
    Send,
    /// SEND_ZC: the kernel sends from the pages themselves and says (a second completion)
    /// when it no longer needs them.
    SendZc,
    /// SEND_ZC from a buffer registered with the ring (no page pinning per send).
    SendZcFixed,
}

/// How the measured thread receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvOp {
    /// read(2), the way the data path receives today.
    Read,
    Recv,
    /// READ_FIXED on the socket into a buffer registered with the ring.
    ReadFixed,
    /// RECV on the socket registered with the ring as a fixed file.
    RecvFixedFile,
    /// One multishot RECV into buffers the kernel picks from a provided-buffer ring, each
    /// copied into the message (a reply must end up whole in its own buffer).
    RecvMultishot,
}

impl SendOp {
    pub const ALL: [SendOp; 4] = [SendOp::Write, SendOp::Send, SendOp::SendZc, SendOp::SendZcFixed];

    pub fn name(self) -> &'static str {
        match self {
            SendOp::Write => "write(2)",
            SendOp::Send => "io_uring SEND",
            SendOp::SendZc => "io_uring SEND_ZC",
            SendOp::SendZcFixed => "io_uring SEND_ZC, registered buffer",
        }
    }

    /// All but write(2) go through a ring; write(2) is measured where io_uring is blocked too.
    fn needs_ring(self) -> bool {
        self != SendOp::Write
    }
}

impl RecvOp {
    pub const ALL: [RecvOp; 5] =
        [RecvOp::Read, RecvOp::Recv, RecvOp::ReadFixed, RecvOp::RecvFixedFile, RecvOp::RecvMultishot];

    pub fn name(self) -> &'static str {
        match self {
            RecvOp::Read => "read(2)",
            RecvOp::Recv => "io_uring RECV",
            RecvOp::ReadFixed => "io_uring READ_FIXED, registered buffer",
            RecvOp::RecvFixedFile => "io_uring RECV, registered file",
            RecvOp::RecvMultishot => "io_uring RECV multishot, buffer ring",
        }
    }

    /// All but read(2) go through a ring; read(2) is measured where io_uring is blocked too.
    fn needs_ring(self) -> bool {
        self != RecvOp::Read
    }
}

/// One measurement: `bytes` moved in `elapsed`, costing the measured side `cpu` (its thread,
/// plus any io_uring worker threads; the peer's own time is not counted).
#[derive(Debug, Clone, Copy)]
pub struct TransferCost {
    pub bytes: u64,
    pub elapsed: Duration,
    pub cpu: Duration,
}

impl TransferCost {
    /// CPU microseconds per MiB moved.
    pub fn cpu_us_per_mib(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / (self.bytes as f64 / (1 << 20) as f64)
    }

    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends `total` bytes in messages of `message_len` (each sent whole before the next) to a
/// peer thread that reads and discards them.
pub fn measure_send(op: SendOp, message_len: usize, total: u64) -> io::Result<TransferCost> {
    check_message_len(message_len)?;
    let (mut ours, mut peer) = loopback_pair()?;
    let sink = std::thread::spawn(move || {
        let started = thread_cpu();
        let mut scratch = vec![0u8; 1 << 20];
        while peer.read(&mut scratch)? > 0 {}
        Ok::<Duration, io::Error>(thread_cpu().saturating_sub(started))
    });
    let mut buffer = MmapMut::map_anon(message_len)?;
    buffer.fill(0x5a);
    let mut ring = op.needs_ring().then(|| IoUring::new(8)).transpose()?;
    let fixed = op == SendOp::SendZcFixed;
    if let (Some(ring), true) = (&ring, fixed) {
        register(ring, &mut buffer)?;
    }
    let messages = total.div_ceil(message_len as u64);
    let cpu_before = process_cpu();
    let started = Instant::now();
    for _ in 0..messages {
        match &mut ring {
            None => ours.write_all(&buffer)?,
            Some(ring) => {
                let mut sent = 0;
                while sent < buffer.len() {
                    let rest = &buffer[sent..];
                    let fd = types::Fd(ours.as_raw_fd());
                    let len = rest.len().min(u32::MAX as usize) as u32;
                    let entry = match op {
                        SendOp::Send => opcode::Send::new(fd, rest.as_ptr(), len).build(),
                        _ => {
                            opcode::SendZc::new(fd, rest.as_ptr(), len).buf_index(fixed.then_some(0)).build()
                        }
                    };
                    // SAFETY: `buffer` (registered with this ring when `fixed`) outlives the
                    // operation: `complete` returns only once the kernel has reported the send
                    // and, for SEND_ZC, that it is done with the pages.
                    sent += unsafe { complete(ring, &entry, op != SendOp::Send) }?;
                }
            }
        }
    }
    ours.shutdown(std::net::Shutdown::Write)?;
    let peer_cpu = sink.join().map_err(|_| io::Error::other("the sink thread panicked"))??;
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before).saturating_sub(peer_cpu);
    Ok(TransferCost { bytes: messages * message_len as u64, elapsed, cpu })
}

/// Receives `total` bytes, sent by a peer thread in messages of `message_len`, into one buffer
/// of that size (filled whole, message by message).
pub fn measure_recv(op: RecvOp, message_len: usize, total: u64) -> io::Result<TransferCost> {
    check_message_len(message_len)?;
    let (mut ours, mut peer) = loopback_pair()?;
    let messages = total.div_ceil(message_len as u64);
    let source = std::thread::spawn(move || {
        let started = thread_cpu();
        let data = vec![0x5au8; message_len];
        for _ in 0..messages {
            peer.write_all(&data)?;
        }
        Ok::<Duration, io::Error>(thread_cpu().saturating_sub(started))
    });
    let mut buffer = MmapMut::map_anon(message_len)?;
    let mut ring = op.needs_ring().then(|| IoUring::new(8)).transpose()?;
    match (op, &ring) {
        (RecvOp::ReadFixed, Some(ring)) => register(ring, &mut buffer)?,
        (RecvOp::RecvFixedFile, Some(ring)) => ring.submitter().register_files(&[ours.as_raw_fd()])?,
        _ => {}
    }
    let cpu_before = process_cpu();
    let started = Instant::now();
    let received = match (op, ring.as_mut()) {
        (RecvOp::RecvMultishot, Some(ring)) => receive_multishot(ring, &ours, &mut buffer, messages)?,
        (_, ring) => receive_one_by_one(op, ring, &mut ours, &mut buffer, messages)?,
    };
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let peer_cpu = source.join().map_err(|_| io::Error::other("the source thread panicked"))??;
    Ok(TransferCost { bytes: received, elapsed, cpu: cpu.saturating_sub(peer_cpu) })
}

/// Fills `buffer` `messages` times, each `op` into the rest of it: read(2), or with `ring`
/// (there when `op` needs one) the operation's io_uring form.
fn receive_one_by_one(
    op: RecvOp,
    mut ring: Option<&mut IoUring>,
    ours: &mut TcpStream,
    buffer: &mut MmapMut,
    messages: u64,
) -> io::Result<u64> {
    let mut received = 0u64;
    'messages: for _ in 0..messages {
        let mut filled = 0;
        while filled < buffer.len() {
            let rest = &mut buffer[filled..];
            let got = match ring.as_deref_mut() {
                None => ours.read(rest)?,
                Some(ring) => {
                    let fd = types::Fd(ours.as_raw_fd());
                    let len = rest.len().min(u32::MAX as usize) as u32;
                    let entry = match op {
                        RecvOp::ReadFixed => opcode::ReadFixed::new(fd, rest.as_mut_ptr(), len, 0).build(),
                        RecvOp::RecvFixedFile => {
                            opcode::Recv::new(types::Fixed(0), rest.as_mut_ptr(), len).build()
                        }
                        _ => opcode::Recv::new(fd, rest.as_mut_ptr(), len).build(),
                    };
                    // SAFETY: `buffer` (registered with this ring for READ_FIXED) outlives the
                    // operation, whose completion `complete` waits for.
                    unsafe { complete(ring, &entry, false) }?
                }
            };
            if got == 0 {
                break 'messages;
            }
            filled += got;
            received += got as u64;
        }
    }
    Ok(received)
}

/// Provided buffers of the multishot variant: enough in flight for a 1 MiB message.
const PROVIDED_LEN: usize = 64 << 10;
const PROVIDED_COUNT: u16 = 32;
const BUFFER_GROUP: u16 = 0;

/// Receives `messages` messages of `buffer.len()` through one multishot RECV (re-armed when the
/// kernel ends it, e.g. out of buffers), copying each provided buffer into `buffer` and giving it
/// back to the ring.
fn receive_multishot(
    ring: &mut IoUring,
    ours: &TcpStream,
    buffer: &mut MmapMut,
    messages: u64,
) -> io::Result<u64> {
    let count = usize::from(PROVIDED_COUNT);
    let mut provided = MmapMut::map_anon(PROVIDED_LEN * count)?;
    // The ring of buffer descriptors: one page-aligned entry per buffer, its tail in the first.
    let mut entries = MmapMut::map_anon(count * std::mem::size_of::<types::BufRingEntry>())?;
    let base = entries.as_mut_ptr().cast::<types::BufRingEntry>();
    let mask = PROVIDED_COUNT - 1;
    // The kernel writes there; this side reads a buffer only after its completion.
    let provided_at = provided.as_mut_ptr() as u64;
    let give_back = |bid: u16, tail: u16| {
        // SAFETY: `base` points at `count` entries of `entries`, and `tail & mask` < `count`.
        let entry = unsafe { &mut *base.add(usize::from(tail & mask)) };
        entry.set_addr(provided_at + (usize::from(bid) * PROVIDED_LEN) as u64);
        entry.set_len(PROVIDED_LEN as u32);
        entry.set_bid(bid);
    };
    let publish = |tail: u16| {
        // SAFETY: `base` is the ring's first entry, whose reserved field is the tail.
        let tail_ptr = unsafe { types::BufRingEntry::tail(base) }.cast::<std::sync::atomic::AtomicU16>();
        // SAFETY: the tail is an aligned u16 inside `entries`; the kernel reads it concurrently,
        // so it is stored atomically, with release ordering after the entries it covers.
        unsafe { &*tail_ptr }.store(tail, std::sync::atomic::Ordering::Release);
    };
    let mut tail = 0u16;
    for bid in 0..PROVIDED_COUNT {
        give_back(bid, tail);
        tail = tail.wrapping_add(1);
    }
    publish(tail);
    // SAFETY: `entries` is unregistered below before it is dropped, and leaked if that fails
    // or the RECV using the group (and `provided`) could not be seen to end.
    unsafe {
        ring.submitter().register_buf_ring_with_flags(
            entries.as_ptr() as u64,
            PROVIDED_COUNT,
            BUFFER_GROUP,
            0,
        )
    }?;
    let (result, ended) = multishot_loop(ring, ours, buffer, &provided, messages, |bid| {
        give_back(bid, tail);
        tail = tail.wrapping_add(1);
        publish(tail);
    });
    if !ended || ring.submitter().unregister_buf_ring(BUFFER_GROUP).is_err() {
        // The kernel may still use them: leaked, never freed under it.
        std::mem::forget(provided);
        std::mem::forget(entries);
        return Err(result.err().unwrap_or_else(|| io::Error::other("the multishot RECV did not end")));
    }
    result
}

/// The receiving half of [`receive_multishot`]; also says whether the RECV has ended (its
/// buffers may go).
fn multishot_loop(
    ring: &mut IoUring,
    ours: &TcpStream,
    buffer: &mut MmapMut,
    provided: &MmapMut,
    messages: u64,
    mut recycle: impl FnMut(u16),
) -> (io::Result<u64>, bool) {
    const RECV: u64 = 1;
    const CANCEL: u64 = 2;
    let wanted = messages * buffer.len() as u64;
    let mut received = 0u64;
    let mut armed = false;
    let mut failure = None;
    while received < wanted && failure.is_none() {
        if !armed {
            let entry =
                opcode::RecvMulti::new(types::Fd(ours.as_raw_fd()), BUFFER_GROUP).build().user_data(RECV);
            // SAFETY: the RECV names only the socket and the buffer group, both alive until
            // the RECV has ended, which this function reports.
            if unsafe { ring.submission().push(&entry) }.is_err() {
                failure = Some(io::Error::other("submission queue full"));
                break;
            }
            armed = true;
        }
        if let Err(e) = wait_for_one(ring) {
            failure = Some(e);
            break;
        }
        let completions: Vec<(i32, u32)> = ring.completion().map(|c| (c.result(), c.flags())).collect();
        for (result, flags) in completions {
            armed &= cqueue::more(flags);
            if result == -libc::ENOBUFS {
                continue;
            }
            if result < 0 {
                failure = Some(io::Error::from_raw_os_error(-result));
                continue;
            }
            let Some(bid) = cqueue::buffer_select(flags) else {
                if result == 0 && received < wanted {
                    failure = Some(io::Error::from(io::ErrorKind::UnexpectedEof));
                }
                continue;
            };
            let start = usize::from(bid) * PROVIDED_LEN;
            let mut data = &provided[start..start + (result as usize).min(PROVIDED_LEN)];
            while !data.is_empty() {
                let at = (received % buffer.len() as u64) as usize;
                let n = data.len().min(buffer.len() - at);
                buffer[at..at + n].copy_from_slice(&data[..n]);
                data = &data[n..];
                received += n as u64;
            }
            recycle(bid);
        }
    }
    if armed {
        let cancel = opcode::AsyncCancel::new(RECV).build().user_data(CANCEL);
        // SAFETY: a cancel names no memory.
        if unsafe { ring.submission().push(&cancel) }.is_err() {
            return (Err(io::Error::other("submission queue full")), false);
        }
        while armed {
            if let Err(e) = wait_for_one(ring) {
                return (Err(e), false);
            }
            for done in ring.completion() {
                if done.user_data() == RECV && !cqueue::more(done.flags()) {
                    armed = false;
                }
            }
        }
    }
    (failure.map_or(Ok(received), Err), true)
}

/// Largest message measured: one io_uring operation's length is a u32.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

fn check_message_len(message_len: usize) -> io::Result<()> {
    if (1..=MAX_MESSAGE_LEN).contains(&message_len) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("a message must be 1 to {MAX_MESSAGE_LEN} bytes, not {message_len}"),
    ))
}

fn loopback_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let (peer, _) = listener.accept()?;
    ours.set_nodelay(true)?;
    Ok((ours, peer))
}

fn register(ring: &IoUring, buffer: &mut MmapMut) -> io::Result<()> {
    let iovec = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: buffer.len() };
    // SAFETY: the mapping outlives the ring: both are locals of the measuring function, the
    // ring declared after the buffer and so dropped (unregistering it) first.
    unsafe { ring.submitter().register_buffers(&[iovec]) }
}

/// Submits `entry`, waits for its completion (and, with `zero_copy`, for the notification that
/// the kernel let go of the memory), and returns its byte count. Aborts the process if the ring
/// fails meanwhile, rather than return while the kernel may still use the memory.
///
/// # Safety
///
/// The memory `entry` names must stay valid until this returns.
unsafe fn complete(
    ring: &mut IoUring,
    entry: &io_uring::squeue::Entry,
    zero_copy: bool,
) -> io::Result<usize> {
    // SAFETY: the caller keeps the memory valid until this returns, and this returns only
    // after the completions that end the kernel's use of it.
    unsafe { ring.submission().push(entry) }.map_err(|_| io::Error::other("submission queue full"))?;
    let mut result = None;
    let mut notified = !zero_copy;
    while result.is_none() || !notified {
        if let Err(e) = wait_for_one(ring) {
            // Returning would let the caller free memory the kernel may still use.
            eprintln!("nfsx: io_uring_enter failed with an operation in flight: {e}");
            std::process::abort();
        }
        for done in ring.completion() {
            if cqueue::notif(done.flags()) {
                notified = true;
                continue;
            }
            if !cqueue::more(done.flags()) {
                notified = true;
            }
            result = Some(done.result());
        }
    }
    match result {
        Some(n) if n >= 0 => Ok(n as usize),
        Some(e) => Err(io::Error::from_raw_os_error(-e)),
        None => Err(io::Error::other("no completion")),
    }
}

/// Submits what is queued and waits for a completion, through interruptions.
fn wait_for_one(ring: &mut IoUring) -> io::Result<()> {
    loop {
        match ring.submit_and_wait(1) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
            other => return other.map(drop),
        }
    }
}

fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "sockets and io_uring are outside Miri")]
    fn every_operation_moves_every_byte() {
        let uring = crate::ring::probe_uring().is_ok();
        for op in SendOp::ALL.into_iter().filter(|op| uring || *op == SendOp::Write) {
            let cost = measure_send(op, 64 << 10, 1 << 20).unwrap();
            assert_eq!(cost.bytes, 1 << 20, "{}", op.name());
        }
        for op in RecvOp::ALL.into_iter().filter(|op| uring || *op == RecvOp::Read) {
            let cost = measure_recv(op, 64 << 10, 1 << 20).unwrap();
            assert_eq!(cost.bytes, 1 << 20, "{}", op.name());
        }
        for bad in [0, MAX_MESSAGE_LEN + 1] {
            assert_eq!(measure_send(SendOp::Write, bad, 1).unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert_eq!(measure_recv(RecvOp::Read, bad, 1).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
    }
}
