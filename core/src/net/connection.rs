use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{socket, SocketOptions, TransportError};
use crate::buf::landing::{LandingZone, ZoneClaim};
use crate::ring::{Backend, Reactor, Registration};

/// Splits a byte stream into frames and names the request each frame answers. The protocol layer
/// implements it (ONC RPC record marking plus the XID); the transport only moves bytes.
///
/// The framer also chooses where each read lands, so a large frame can be read straight into
/// the buffer it will be handed out in, or into memory its request lent for it
/// ([`Replies::claim_landing`]), with no copy in between.
pub trait Framer: Send + 'static {
    /// Where the next read from the socket goes (never empty). An io_uring event loop has the
    /// kernel write there after this returns, until its receive completes; meanwhile the framer
    /// is neither called nor dropped, so memory the framer owns or holds a claim on (which is
    /// all a safe implementation can hand out here) stays valid and unaliased for that long.
    fn read_target(&mut self) -> &mut [u8];
    /// Accounts for `n` bytes just read into [`Framer::read_target`], handing each frame that
    /// completes to `replies` with its key.
    fn filled(&mut self, n: usize, replies: &mut dyn Replies) -> Result<(), String>;
    /// The connection is over: let go of whatever is held for a frame in progress (a claim on
    /// lent memory above all, which its lender waits for).
    fn abandon(&mut self) {}
    /// Bytes still to come before the frame in progress is whole, when the framer knows (it
    /// has read the frame's header and reads the rest straight into place). Never more than
    /// that: the event loops wait, with no timeout, for that many bytes to be queued.
    fn awaited_bytes(&self) -> Option<usize> {
        None
    }
}

/// Where a framer hands what it has framed: the requests in flight.
pub trait Replies {
    /// Hands a whole frame to the request keyed `key`.
    fn deliver(&mut self, key: u32, frame: Bytes);
    /// The memory the request keyed `key` lent for part of its reply, if it lent any and
    /// nothing else holds it. The claim is let go when dropped.
    fn claim_landing(&mut self, key: u32) -> Option<ZoneClaim>;
    /// Hands a frame whose payload was read into `claim` (claimed for `key`) as the rest of it:
    /// the request's [`Pending::landed`] says so. The claim is let go before the request sees it.
    fn deliver_landed(&mut self, key: u32, rest: Bytes, claim: ZoneClaim);
}

/// Counters for one connection, readable while it runs.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub requests: AtomicU64,
    pub replies: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Replies whose key matched nothing in flight (late answers to abandoned requests).
    pub unmatched_replies: AtomicU64,
    /// Bytes copied into the outbox for the event loop to send (`submit=ring`).
    pub bytes_queued: AtomicU64,
    /// Batches of requests the event loop took from the outbox to send (`submit=ring`), each
    /// with one send operation unless the socket took it in pieces: with `requests`, how many
    /// requests went out together.
    pub loop_sends: AtomicU64,
}

type Reply = Result<Bytes, TransportError>;

/// The requests in flight by key, and completions kept for reuse: one per slot at most, so a
/// request in the steady state allocates none.
struct PendingTable {
    calls: HashMap<u32, Arc<Completion>>,
    spare: Vec<Arc<Completion>>,
    /// Callers that must not block (futures) waiting for a free slot
    /// ([`Connection::try_register_or_wake`]); all are woken when one frees, to look again.
    slot_wakers: Vec<Waker>,
}

impl PendingTable {
    fn with_capacity(slots: usize) -> Mutex<PendingTable> {
        Mutex::new(PendingTable {
            calls: HashMap::with_capacity(slots),
            spare: Vec::with_capacity(slots),
            slot_wakers: Vec::new(),
        })
    }

    /// Takes the request under `key` out of the table. Its slot is then free: the wakers of
    /// the futures waiting for one come with it, to be woken ([`Shared::announce_free_slot`])
    /// once the table's lock is let go.
    fn remove(&mut self, key: u32) -> Option<(Arc<Completion>, Vec<Waker>)> {
        let completion = self.calls.remove(&key)?;
        Some((completion, std::mem::take(&mut self.slot_wakers)))
    }

    fn completion(&mut self) -> Arc<Completion> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `completion` for a later request if nobody else holds it and there is room, and
    /// returns what it still held (an unread reply, a waker), for the caller to drop once the
    /// table's lock is released: dropping a waker may run code that needs the table.
    fn recycle(&mut self, completion: &Arc<Completion>) -> Option<CompletionState> {
        if Arc::strong_count(completion) > 1 || self.spare.len() == self.spare.capacity() {
            return None;
        }
        let leftover = std::mem::take(&mut *completion.state.lock());
        self.spare.push(Arc::clone(completion));
        Some(leftover)
    }
}

struct Shared {
    addr: SocketAddr,
    pending: Mutex<PendingTable>,
    /// Signalled when a request leaves the pending table, for callers waiting on a free slot.
    slot_freed: Condvar,
    max_in_flight: usize,
    closed: AtomicBool,
    close_reason: Mutex<Option<String>>,
    stats: ConnectionStats,
    /// Requests waiting for the event loop to send them, where the loop sends (`submit=ring`).
    outbox: Option<Outbox>,
    /// The size of the smaller replies of late: what a caller waiting for several
    /// replies expects each to take ([`Connection::wake_after_replies`]). An average would
    /// wait for bytes that never come when small replies follow large ones (GETATTRs after
    /// CREATEs), so a smaller reply sets it at once and larger ones raise it slowly.
    small_reply_bytes: AtomicUsize,
}

impl Shared {
    fn new(addr: SocketAddr, max_in_flight: usize, queued_sends: bool) -> Shared {
        Shared {
            addr,
            pending: PendingTable::with_capacity(max_in_flight),
            slot_freed: Condvar::new(),
            max_in_flight,
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            stats: ConnectionStats::default(),
            outbox: queued_sends.then(Outbox::default),
            small_reply_bytes: AtomicUsize::new(0),
        }
    }

    /// Ends the connection for `reason` through `socket` (either handle of it): marks it closed,
    /// so new requests are refused and every request fails with the first reason given even
    /// if a receive side woken by the reset fails them first; resets it
    /// ([`super::socket::abort`]), which ends a read outstanding on the socket (a blocked
    /// reader thread, an io_uring RECV) and, since it needs no lock, a send blocked under the
    /// writer's; then fails every request in flight. In that order: a caller woken by the
    /// failure reconnects at once, from the same source port, which the old connection must
    /// have let go by then.
    fn abort_and_fail(&self, socket: &TcpStream, reason: String) {
        self.closed.store(true, Ordering::Release);
        self.close_reason.lock().get_or_insert_with(|| reason.clone());
        super::socket::abort(socket);
        self.fail_all(reason);
    }

    fn fail_all(&self, reason: String) {
        self.closed.store(true, Ordering::Release);
        let mut pending = self.pending.lock();
        let reason = self.close_reason.lock().get_or_insert(reason).clone();
        for (_, completion) in pending.calls.drain() {
            completion.complete(Err(TransportError::Closed { addr: self.addr, reason: reason.clone() }));
        }
        self.slot_freed.notify_all();
        let slot_wakers = std::mem::take(&mut pending.slot_wakers);
        drop(pending);
        slot_wakers.into_iter().for_each(Waker::wake);
        if let Some(outbox) = &self.outbox {
            // Senders waiting for room see the connection closed.
            let _state = outbox.state.lock();
            outbox.room.notify_all();
        }
    }

    /// A request left the table: one blocked caller waiting for a slot may go on, and every
    /// future waiting for one looks again.
    fn announce_free_slot(&self, slot_wakers: Vec<Waker>) {
        self.slot_freed.notify_one();
        slot_wakers.into_iter().for_each(Waker::wake);
    }

    fn closed_error(&self) -> TransportError {
        let reason = self.close_reason.lock().clone().unwrap_or_else(|| "closed".to_string());
        TransportError::Closed { addr: self.addr, reason }
    }
}

/// Requests a connection's callers have handed to its event loop to send: the bytes of whole
/// records, appended in order. The loop takes them all at once ([`Receiver::take_outbox`]) and
/// sends them with one operation, so requests from many threads go out together; callers wait
/// while [`OUTBOX_LIMIT`] bytes are already waiting (back-pressure).
#[derive(Default)]
struct Outbox {
    state: Mutex<OutboxState>,
    /// Signalled when the loop takes the waiting bytes or gives the stream's tail back, when a
    /// caller sending in place gives it back, or when the connection closes.
    room: Condvar,
    /// Moves on whenever the stream does (the loop takes bytes, a send in place writes some),
    /// so a waiter tells a slow stream from a stalled one.
    progress: AtomicU64,
}

#[derive(Default)]
struct OutboxState {
    bytes: Vec<u8>,
    /// The loop has the stream's tail: a message telling it to send is on its queue, or a send
    /// is in progress. While it does, callers append without telling it again.
    loop_owns: bool,
    /// A caller has the stream's tail, sending from its own memory on its own thread
    /// ([`Connection::send_in_place`]); it hands what gathers meanwhile to the loop when done.
    caller_owns: bool,
    /// Callers waiting to send in place. While there are any the loop gives the tail back
    /// after each send instead of taking what gathered meanwhile, which could go on for ever.
    waiting_in_place: usize,
    /// A sender in place handed the tail back with requests waiting: the loop sends those
    /// before it yields to the next, so senders in place take turns with the loop, and a
    /// stream of WRITEs never holds back the requests queued among them.
    loop_turn: bool,
}

/// Bytes waiting in an outbox beyond which a caller waits (one record larger than this still
/// goes, alone).
const OUTBOX_LIMIT: usize = 4 << 20;
/// Room an emptied outbox buffer keeps: many small requests' worth.
const OUTBOX_RETAINED: usize = 256 << 10;

/// One TCP connection carrying many requests at once, matched to replies by key.
///
/// Sends happen on the caller's thread under a lock, so a request's parts go out contiguously,
/// or, with a reactor that sends ([`ReactorConfig::queued_sends`](crate::ring::ReactorConfig)),
/// whole requests are copied into an outbox that the connection's event loop sends from (all
/// but those sent [in place](Connection::send_in_place), which carry a caller's data).
/// Replies are read by a reader thread of the connection's own, by the waiting callers, or by
/// an event loop of a [`Reactor`] (see [`ReceiveMode`]); each frames them and hands each reply
/// to its waiter through the same receive code.
pub struct Connection {
    shared: Arc<Shared>,
    writer: Mutex<TcpStream>,
    /// The writer's socket without its lock, to poll and to reset while a send blocked
    /// under the lock waits (open as long as the connection is).
    unlocked: TcpStream,
    /// How long a send may make no progress before the connection fails
    /// ([`SocketOptions::send_timeout`]).
    send_timeout: Option<Duration>,
    receive: ReceiveSide,
}

/// Who reads replies off the socket.
#[derive(Debug, Clone, Default)]
pub enum ReceiveMode {
    /// A reader thread per connection hands each reply to its waiter (any number of threads,
    /// futures on any executor).
    #[default]
    Thread,
    /// No reader thread: a waiting caller reads and dispatches replies itself through
    /// [`Connection::drive`], with no hand-off between threads (run-to-completion).
    Caller,
    /// One of the reactor's event loops (io_uring or epoll) reads the connection together with
    /// many others and hands each reply to its waiter: a few threads for any number of
    /// connections. Sends go out on the caller's thread unless the reactor sends too.
    Reactor(Arc<Reactor>),
}

/// Two modes are equal when they are the same kind, and for reactors the same reactor.
impl PartialEq for ReceiveMode {
    fn eq(&self, other: &ReceiveMode) -> bool {
        match (self, other) {
            (ReceiveMode::Thread, ReceiveMode::Thread) | (ReceiveMode::Caller, ReceiveMode::Caller) => true,
            (ReceiveMode::Reactor(a), ReceiveMode::Reactor(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for ReceiveMode {}

/// What reads a connection's replies, as [`Connection::mode`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveKind {
    Thread,
    Caller,
    /// An event loop of a reactor running this backend.
    Reactor(Backend),
}

/// The receive side as the connection holds it.
enum ReceiveSide {
    /// The reader thread, joined on drop.
    Thread(Option<JoinHandle<()>>),
    /// Driven by whichever thread waits.
    Caller(Mutex<Receiver>),
    /// Owned by an event loop; the registration tells it when the connection closes. It holds
    /// the loop's queue, not the reactor, so a connection kept somewhere never keeps the
    /// reactor's threads running.
    Reactor(Registration, Backend),
}

/// The most bytes a caller waits to have queued before it is woken: enough for several 1 MiB
/// READ replies. Each wake-up costs the client about what copying 200 KiB does on the test VM,
/// and reading most of a window of large replies per wake-up, instead of each reply in pieces
/// as it arrives, cut the CPU per MiB read by a third (bench/RESULTS.md). The kernel caps the
/// mark at half of `tcp_rmem`'s maximum (of a locked SO_RCVBUF where `rcvbuf=` is set), grows
/// the receive buffer to hold it, and reports the socket readable early when the receive
/// window fills or memory runs short (current kernels; docs/ARCHITECTURE.md), so a mark the
/// socket cannot hold does not stall it.
const MAX_LOW_WATER_BYTES: usize = 8 << 20;

/// The rest of a frame in progress from which a receiver waits for all of it to be queued
/// before reading on ([`Receiver::wait_for_frame_rest`]): loopback delivers up to 64 KiB per
/// segment, so a shorter rest comes in one wake-up anyway, and setting the mark costs a call.
const LARGE_FRAME_REST_BYTES: usize = 64 * 1024;

/// A connection's receive side: the socket's read half, the framer, and the table replies are
/// handed to. Every receive backend (reader thread, waiting caller, event loop) reads into
/// [`Receiver::target`] however it reads, and reports what the read returned to
/// [`Receiver::complete`]: one copy of the framing, delivery and failure rules for all of them.
pub(crate) struct Receiver {
    stream: TcpStream,
    framer: Box<dyn Framer>,
    shared: Arc<Shared>,
    /// The SO_RCVLOWAT last asked of the socket (the kernel may hold it lower).
    low_water: usize,
}

/// What one read came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Bytes were framed (and any replies they completed handed out). `short` when fewer came
    /// than the target held: the socket had no more for now.
    Bytes { short: bool },
    /// Nothing yet (EAGAIN, or EINTR from a backend that does not retry): read again later.
    Again,
    /// The connection is over (end of stream, a receive error, a framing error): every request
    /// in flight has failed with `Closed`, the connection is reset, and it must not be read again.
    Finished,
}

impl Receiver {
    fn new(stream: TcpStream, framer: Box<dyn Framer>, shared: Arc<Shared>) -> Receiver {
        Receiver { stream, framer, shared, low_water: 1 }
    }

    /// Where the next read goes (never empty). The memory belongs to the framer and stays
    /// where it is until the framer is next used or dropped.
    /// A receive side with a reply table of its own, for testing a backend without a
    /// [`Connection`] around it (whose close would also shut the socket down).
    #[cfg(test)]
    pub(crate) fn detached(stream: TcpStream, framer: Box<dyn Framer>) -> Receiver {
        let addr = stream.peer_addr().expect("a connected socket");
        Receiver::new(stream, framer, Arc::new(Shared::new(addr, 1, false)))
    }

    pub(crate) fn target(&mut self) -> &mut [u8] {
        self.framer.read_target()
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// For a backend that waits for readability (an event loop, a driving caller): the socket
    /// is to be reported readable once the rest of a large frame in progress has arrived, so
    /// that one read takes it whole, instead of a wake-up and a read for each piece of it; and
    /// as soon as anything arrives otherwise. The kernel also reports it readable when the
    /// receive window fills, so a rest larger than the socket can hold never stalls it.
    pub(crate) fn wait_for_frame_rest(&mut self) {
        self.set_low_water(self.frame_rest());
    }

    /// The rest of the frame in progress if it is worth waiting for whole, else 1.
    fn frame_rest(&self) -> usize {
        self.framer.awaited_bytes().filter(|n| *n >= LARGE_FRAME_REST_BYTES).unwrap_or(1)
    }

    /// Sets SO_RCVLOWAT unless it is set so already. The kernel refuses it only on a socket
    /// that is gone; the old value is then kept, and the next call tries again.
    fn set_low_water(&mut self, bytes: usize) {
        if self.low_water != bytes && crate::poll::set_receive_low_water(self.fd(), bytes).is_ok() {
            self.low_water = bytes;
        }
    }

    /// For the event loop: moves the bytes waiting in the outbox into `into` (emptied first,
    /// its room reused) and returns true, or, with none waiting, gives the stream's tail back to
    /// the callers and returns false.
    pub(crate) fn take_outbox(&self, into: &mut Vec<u8>) -> bool {
        into.clear();
        // `into` becomes the outbox's next buffer: a burst of large writes leaves no more than
        // this kept for good.
        into.shrink_to(OUTBOX_RETAINED);
        let Some(outbox) = &self.shared.outbox else { return false };
        let mut state = outbox.state.lock();
        if state.bytes.is_empty() || (state.waiting_in_place > 0 && !state.loop_turn) {
            // A caller waiting to send in place may now; it hands back what waits here.
            state.loop_owns = false;
            outbox.room.notify_all();
            return false;
        }
        state.loop_turn = false;
        std::mem::swap(into, &mut state.bytes);
        self.shared.stats.loop_sends.fetch_add(1, Ordering::Relaxed);
        outbox.progress.fetch_add(1, Ordering::Relaxed);
        outbox.room.notify_all();
        true
    }

    /// For the event loop: its send from the outbox moved some data, so callers waiting on it
    /// see the stream moving (a long send over a slow link is not a stall).
    pub(crate) fn note_sent(&self) {
        if let Some(outbox) = &self.shared.outbox {
            outbox.progress.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the connection was closed (by either side); its socket needs no more reading.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Resets the connection and fails every request in flight with `reason` (unless the
    /// connection already failed): [`Shared::abort_and_fail`].
    pub(crate) fn stop(&self, reason: &str) {
        self.shared.abort_and_fail(&self.stream, reason.to_string());
    }

    /// Accounts for one read of at most `wanted` bytes into [`Receiver::target`] that returned
    /// `read`: frames the bytes and delivers the replies they complete, or ends the connection.
    pub(crate) fn complete(&mut self, read: io::Result<usize>, wanted: usize) -> Received {
        let n = match read {
            Ok(0) => {
                self.stop("server closed the connection");
                self.framer.abandon();
                return Received::Finished;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {
                return Received::Again
            }
            Err(e) => {
                self.stop(&format!("receive failed: {e}"));
                self.framer.abandon();
                return Received::Finished;
            }
        };
        let shared = &*self.shared;
        shared.stats.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
        let mut dispatch = Dispatch { shared, fd: self.stream.as_raw_fd() };
        if let Err(reason) = self.framer.filled(n, &mut dispatch) {
            self.stop(&reason);
            self.framer.abandon();
            return Received::Finished;
        }
        Received::Bytes { short: n < wanted }
    }

    /// One read(2) on the socket as it is (blocking or not), accounted as above. A read
    /// interrupted by a signal is tried again (at most a few times in a row, so a signal storm
    /// cannot hold a caller that drives its own receives).
    pub(crate) fn read(&mut self) -> Received {
        let target = self.framer.read_target();
        let wanted = target.len();
        let mut read = (&self.stream).read(&mut target[..]);
        for _ in 0..MAX_INTERRUPTED_READS {
            if !matches!(&read, Err(e) if e.kind() == io::ErrorKind::Interrupted) {
                break;
            }
            read = (&self.stream).read(&mut target[..]);
        }
        self.complete(read, wanted)
    }
}

/// A receive side that goes away, whatever the reason (its connection closed, its event loop
/// stopped before taking it), leaves no request waiting for a reply that cannot come.
impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.fail_all("the connection's receive side stopped".to_string());
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.shared.addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects and starts the reader. At most `max_in_flight` requests wait for replies at once;
    /// further calls block until a slot frees (back-pressure, never an unbounded queue).
    pub fn connect<F: Framer>(
        addr: SocketAddr,
        opts: &SocketOptions,
        max_in_flight: usize,
        framer: F,
    ) -> Result<Connection, TransportError> {
        Connection::connect_with(addr, opts, max_in_flight, framer, ReceiveMode::Thread)
    }

    /// Connects; in [`ReceiveMode::Thread`] also starts the reader thread.
    pub fn connect_with<F: Framer>(
        addr: SocketAddr,
        opts: &SocketOptions,
        max_in_flight: usize,
        framer: F,
        mode: ReceiveMode,
    ) -> Result<Connection, TransportError> {
        let connect_error = |source| TransportError::Connect { addr, source };
        let stream = socket::connect(addr, opts).map_err(connect_error)?;
        let read_half = stream.try_clone().map_err(connect_error)?;
        let queued_sends = matches!(&mode, ReceiveMode::Reactor(reactor) if reactor.queued_sends());
        let shared = Arc::new(Shared::new(addr, max_in_flight.max(1), queued_sends));
        let receive = match mode {
            ReceiveMode::Caller => {
                read_half.set_nonblocking(true).map_err(connect_error)?;
                let receiver = Receiver::new(read_half, Box::new(framer), Arc::clone(&shared));
                ReceiveSide::Caller(Mutex::new(receiver))
            }
            ReceiveMode::Thread => {
                let mut receiver = Receiver::new(read_half, Box::new(framer), Arc::clone(&shared));
                let reader = std::thread::Builder::new()
                    .name(format!("nfsx-rx-{addr}"))
                    .spawn(move || while receiver.read() != Received::Finished {})
                    .map_err(connect_error)?;
                ReceiveSide::Thread(Some(reader))
            }
            ReceiveMode::Reactor(reactor) => {
                // The socket stays blocking for the sender: the epoll loop reads with
                // MSG_DONTWAIT, and io_uring needs no O_NONBLOCK.
                let receiver = Receiver::new(read_half, Box::new(framer), Arc::clone(&shared));
                let registration = reactor
                    .register(receiver, opts.connect_timeout)
                    .map_err(|source| TransportError::Receive { addr, source })?;
                ReceiveSide::Reactor(registration, reactor.backend())
            }
        };
        let unlocked = stream.try_clone().map_err(connect_error)?;
        let send_timeout = opts.send_timeout.filter(|t| !t.is_zero());
        Ok(Connection { shared, unlocked, send_timeout, writer: Mutex::new(stream), receive })
    }

    pub fn mode(&self) -> ReceiveKind {
        match &self.receive {
            ReceiveSide::Thread(_) => ReceiveKind::Thread,
            ReceiveSide::Caller(_) => ReceiveKind::Caller,
            ReceiveSide::Reactor(_, backend) => ReceiveKind::Reactor(*backend),
        }
    }

    fn driven(&self) -> Option<&Mutex<Receiver>> {
        match &self.receive {
            ReceiveSide::Caller(driven) => Some(driven),
            _ => None,
        }
    }

    /// In [`ReceiveMode::Caller`]: asks to be woken only once about `replies` replies are
    /// queued (sized as the small replies of late), or the rest of a large reply in progress
    /// ([`Receiver::wait_for_frame_rest`]), or after the caller's poll timeout. One reply's
    /// worth, with no large reply in progress, restores the default.
    ///
    /// Returns whether the mark may hold back a reply that has arrived: it is above one byte,
    /// or another thread holds the receive side (which may have finished the large reply the
    /// mark waits for). The caller should then wait no longer than a coalescing wait.
    pub fn wake_after_replies(&self, replies: usize) -> bool {
        let Some(driven) = self.driven() else { return false };
        let small = self.shared.small_reply_bytes.load(Ordering::Relaxed).max(1);
        let coalesced = if replies <= 1 { 1 } else { small.saturating_mul(replies).min(MAX_LOW_WATER_BYTES) };
        let Some(mut receiver) = driven.try_lock() else { return true };
        let bytes = coalesced.max(receiver.frame_rest());
        receiver.set_low_water(bytes);
        receiver.low_water > 1
    }

    /// The SO_RCVLOWAT last set, if callers drive this connection and none is reading it now.
    #[cfg(test)]
    pub(crate) fn receive_low_water(&self) -> Option<usize> {
        self.driven()?.try_lock().map(|receiver| receiver.low_water)
    }

    /// The socket, for waiting on readiness of several connections at once.
    pub fn raw_fd(&self) -> RawFd {
        self.unlocked.as_raw_fd()
    }

    /// In [`ReceiveMode::Caller`]: reads whatever replies have arrived, without blocking, and
    /// hands each to its waiter. Returns false when another thread is driving this connection
    /// (or the connection has its own reader thread), so the caller waits on its reply instead.
    pub fn drive(&self) -> bool {
        self.drive_until(&|| false)
    }

    /// [`Connection::drive`], stopping early once `enough` says the caller has what it waits
    /// for: it then uses the replies read so far before more are read. A large reply's
    /// receive buffer goes back to the pool before the next reply takes one, so replies keep
    /// landing in the few buffers still in the cache; reading every reply that has arrived
    /// first would spread them over as many buffers as there are calls in flight, and the
    /// kernel's copy into memory out of the cache costs nearly twice as much.
    pub fn drive_until(&self, enough: &dyn Fn() -> bool) -> bool {
        let Some(driven) = self.driven() else { return false };
        let Some(mut receiver) = driven.try_lock() else { return false };
        // Until the socket is drained: a short read says so without another read's EAGAIN.
        while !self.is_closed() && receiver.read() == (Received::Bytes { short: false }) && !enough() {}
        true
    }

    /// In [`ReceiveMode::Caller`], before a wait for readability of another kind than the one
    /// [`Connection::wake_after_replies`] prepares (for a slot, for room to send): a mark
    /// raised to coalesce replies must not hold it back.
    fn wake_for_next_reply(&self) {
        if let Some(mut receiver) = self.driven().and_then(Mutex::try_lock) {
            receiver.wait_for_frame_rest();
        }
    }

    /// Whether [`Connection::send`] hands requests to the event loop (copying them into the
    /// outbox) instead of writing them on the caller's thread. [`Connection::send_in_place`]
    /// never does.
    pub fn queues_sends(&self) -> bool {
        self.shared.outbox.is_some()
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The source port, for reconnecting from the same one.
    pub fn local_port(&self) -> Option<u16> {
        self.unlocked.local_addr().ok().map(|a| a.port())
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> &ConnectionStats {
        &self.shared.stats
    }

    /// The size of the smaller replies of late (see [`Connection::wake_after_replies`]).
    pub fn small_reply_bytes(&self) -> usize {
        self.shared.small_reply_bytes.load(Ordering::Relaxed)
    }

    /// Requests sent and not yet answered or abandoned.
    pub fn in_flight(&self) -> usize {
        self.shared.pending.lock().calls.len()
    }

    /// Sends one request made of `parts` (gathered, never copied into one buffer) and returns a
    /// handle to wait for the reply whose key is `key`. Blocks while every slot is taken, up to `deadline`.
    pub fn call(
        &self,
        key: u32,
        parts: &[IoSlice<'_>],
        deadline: Instant,
    ) -> Result<Pending, TransportError> {
        let pending = self.register(key, deadline)?;
        self.send(parts, 1)?;
        Ok(pending)
    }

    /// For a caller that must not block (a future): reserves a slot for the reply keyed `key`
    /// if one is free now, as [`Connection::register`] does. If none is, `waker` is woken when
    /// one frees, and `None` says to look again then. Checking and taking happen under one
    /// lock, so of several callers woken for one slot the losers wait again without blocking.
    pub fn try_register_or_wake(&self, key: u32, waker: &Waker) -> Result<Option<Pending>, TransportError> {
        let mut pending = self.shared.pending.lock();
        if self.is_closed() {
            return Err(self.shared.closed_error());
        }
        if pending.calls.len() < self.shared.max_in_flight {
            return self.take_slot(&mut pending, key).map(Some);
        }
        if !pending.slot_wakers.iter().any(|w| w.will_wake(waker)) {
            pending.slot_wakers.push(waker.clone());
        }
        Ok(None)
    }

    /// Reserves a slot for the reply keyed `key` without sending anything yet, so several
    /// requests can then go out in one [`Connection::send`]. Blocks while every slot is taken.
    pub fn register(&self, key: u32, deadline: Instant) -> Result<Pending, TransportError> {
        self.register_with(key, deadline, &mut || {})
    }

    /// As [`Connection::register`], calling `before_waiting` (once) before it waits for a free
    /// slot: a caller holding slots of requests it has not sent yet sends them there, since
    /// only their replies free those slots. Were it to wait with them unsent, callers doing
    /// the same could wait on each other for ever.
    pub fn register_with(
        &self,
        key: u32,
        deadline: Instant,
        before_waiting: &mut dyn FnMut(),
    ) -> Result<Pending, TransportError> {
        let mut pending = self.shared.pending.lock();
        let mut before_waiting = Some(before_waiting);
        loop {
            if self.is_closed() {
                return Err(self.shared.closed_error());
            }
            if pending.calls.len() < self.shared.max_in_flight {
                break;
            }
            if let Some(before_waiting) = before_waiting.take() {
                MutexGuard::unlocked(&mut pending, before_waiting);
                continue;
            }
            if self.driven().is_none() {
                if self.shared.slot_freed.wait_until(&mut pending, deadline).timed_out() {
                    return Err(TransportError::TimedOut {
                        addr: self.shared.addr,
                        timeout: deadline.saturating_duration_since(Instant::now()),
                    });
                }
                continue;
            }
            // Caller-driven: no reader frees slots, the waiting callers do. Were every thread
            // that could read parked here (an executor's workers, say), none ever would.
            let now = Instant::now();
            if now >= deadline {
                return Err(TransportError::TimedOut { addr: self.shared.addr, timeout: Duration::ZERO });
            }
            let slice = (deadline - now).min(SLOT_WAIT_SLICE);
            if MutexGuard::unlocked(&mut pending, || self.drive()) {
                if pending.calls.len() >= self.shared.max_in_flight && !self.is_closed() {
                    MutexGuard::unlocked(&mut pending, || {
                        self.wake_for_next_reply();
                        let _ = crate::poll::wait_readable(&[self.unlocked.as_raw_fd()], &mut [false], slice);
                    });
                }
            } else {
                // Another thread is reading; its deliveries signal freed slots.
                self.shared.slot_freed.wait_for(&mut pending, slice);
            }
        }
        self.take_slot(&mut pending, key)
    }

    /// Enters the reply keyed `key` in the table, whose free slot the caller checked.
    fn take_slot(&self, pending: &mut PendingTable, key: u32) -> Result<Pending, TransportError> {
        if pending.calls.contains_key(&key) {
            return Err(TransportError::DuplicateKey { addr: self.shared.addr, key });
        }
        let completion = pending.completion();
        pending.calls.insert(key, Arc::clone(&completion));
        Ok(Pending { key, completion, shared: Arc::clone(&self.shared) })
    }

    /// Writes `requests` whole requests, made of `parts`, with as few system calls as the kernel
    /// allows. A failure fails every request in flight, since the stream is now cut mid-record.
    pub fn send(&self, parts: &[IoSlice<'_>], requests: u64) -> Result<(), TransportError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if let Some((outbox, registration)) = self.queued_sends() {
            self.hand_to_loop(outbox, registration, parts, total)?;
            self.count_sent(requests, total);
            return Ok(());
        }
        self.write_here(parts, requests, total)
    }

    /// Sends like [`Connection::send`], but always on the calling thread and straight from the
    /// memory of `parts`, even where the event loop sends the other requests (`submit=ring`):
    /// for requests carrying a caller's data (WRITE), which is never copied into the outbox. It
    /// waits for the loop to finish sending what was queued before it (the stream stays in
    /// order), and what callers queue meanwhile goes to the loop after it.
    pub fn send_in_place(&self, parts: &[IoSlice<'_>], requests: u64) -> Result<(), TransportError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let Some((outbox, registration)) = self.queued_sends() else {
            return self.write_here(parts, requests, total);
        };
        {
            let mut state = outbox.state.lock();
            state.waiting_in_place += 1;
            let mut stalled = None;
            let mut tail = Ok(());
            while state.loop_owns || state.caller_owns {
                if self.is_closed() {
                    tail = Err(self.shared.closed_error());
                    break;
                }
                if let Err(e) = self.wait_for_senders(outbox, &mut state, &mut stalled) {
                    tail = Err(e);
                    break;
                }
            }
            state.waiting_in_place -= 1;
            tail?;
            state.caller_owns = true;
        }
        let sent = self.write_here(parts, requests, total);
        let mut state = outbox.state.lock();
        state.caller_owns = false;
        if state.bytes.is_empty() {
            outbox.room.notify_all();
            return sent;
        }
        state.loop_owns = true;
        state.loop_turn = true;
        drop(state);
        self.tell_loop(registration)?;
        sent
    }

    /// The outbox and the loop that sends from it, where the loop sends.
    fn queued_sends(&self) -> Option<(&Outbox, &Registration)> {
        match (&self.shared.outbox, &self.receive) {
            (Some(outbox), ReceiveSide::Reactor(registration, _)) => Some((outbox, registration)),
            _ => None,
        }
    }

    fn count_sent(&self, requests: u64, bytes: usize) {
        self.shared.stats.requests.fetch_add(requests, Ordering::Relaxed);
        self.shared.stats.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Writes whole requests on the calling thread, under the write lock.
    fn write_here(&self, parts: &[IoSlice<'_>], requests: u64, total: usize) -> Result<(), TransportError> {
        let sent = {
            let mut stream = self.writer.lock();
            let fd = stream.as_raw_fd();
            // A caller-driven socket is non-blocking (its read side shares the flag): while the
            // send buffer is full, read replies, or the server could stall writing to us.
            let wait = || {
                self.drive();
                self.wake_for_next_reply();
                crate::poll::wait_writable_or_readable(fd, SEND_WAIT_SLICE)
            };
            // Where the loop sends too, its waiting callers see this send's progress.
            let progress = self.shared.outbox.as_ref().map(|outbox| &outbox.progress);
            let stall = Stall { limit: self.send_timeout, progress };
            write_all_vectored(&mut stream, parts, self.driven().is_some(), stall, wait)
        };
        if let Err(source) = sent {
            self.fail(format!("send failed: {source}"));
            return Err(TransportError::Send { addr: self.shared.addr, source });
        }
        self.count_sent(requests, total);
        Ok(())
    }

    /// Appends whole records to the outbox (copying them: the loop sends after this returns)
    /// and tells the loop, unless it already has the stream's tail and will find them itself.
    fn hand_to_loop(
        &self,
        outbox: &Outbox,
        registration: &Registration,
        parts: &[IoSlice<'_>],
        total: usize,
    ) -> Result<(), TransportError> {
        let mut state = outbox.state.lock();
        let mut stalled = None;
        loop {
            if self.is_closed() {
                return Err(self.shared.closed_error());
            }
            if state.bytes.is_empty() || state.bytes.len() + total <= OUTBOX_LIMIT {
                break;
            }
            self.wait_for_senders(outbox, &mut state, &mut stalled)?;
        }
        // At most one reallocation for a record larger than the room left.
        state.bytes.reserve(total);
        for part in parts {
            state.bytes.extend_from_slice(part);
        }
        self.shared.stats.bytes_queued.fetch_add(total as u64, Ordering::Relaxed);
        if state.loop_owns || state.caller_owns {
            return Ok(());
        }
        state.loop_owns = true;
        drop(state);
        self.tell_loop(registration)
    }

    /// Waits for the event loop (or a caller sending in place) to move the stream on. One that
    /// moves nothing for the send timeout (`stalled`: since when, and the progress then) is
    /// sending to a server that stopped reading: the connection fails, as a send of this
    /// thread's would.
    fn wait_for_senders(
        &self,
        outbox: &Outbox,
        state: &mut MutexGuard<'_, OutboxState>,
        stalled: &mut Option<(Instant, u64)>,
    ) -> Result<(), TransportError> {
        let Some(limit) = self.send_timeout else {
            outbox.room.wait(state);
            return Ok(());
        };
        let moved = outbox.progress.load(Ordering::Relaxed);
        let since = match *stalled {
            Some((since, seen)) if seen == moved => since,
            _ => {
                let now = Instant::now();
                *stalled = Some((now, moved));
                now
            }
        };
        if !outbox.room.wait_until(state, since + limit).timed_out()
            || outbox.progress.load(Ordering::Relaxed) != moved
        {
            return Ok(());
        }
        // Failing takes the outbox's lock to wake the other waiters.
        MutexGuard::unlocked(state, || {
            self.fail(format!("no data sent for {limit:?}: the server stopped reading"));
        });
        Err(self.shared.closed_error())
    }

    /// Resets the connection and fails every request in flight with `reason`
    /// ([`Shared::abort_and_fail`]), without the writer's lock.
    fn fail(&self, reason: String) {
        self.shared.abort_and_fail(&self.unlocked, reason);
    }

    /// Tells the loop that requests wait in the outbox; a loop that cannot be told fails the
    /// connection.
    fn tell_loop(&self, registration: &Registration) -> Result<(), TransportError> {
        registration.flush().map_err(|reason| {
            self.shared.fail_all(reason.to_string());
            self.shared.closed_error()
        })
    }

    /// Closes the connection; requests in flight fail with `Closed`. The reset also ends a
    /// read outstanding on the socket (a blocked reader thread, an io_uring RECV).
    pub fn close(&self) {
        self.fail("closed by the client".to_string());
        match &self.receive {
            ReceiveSide::Reactor(registration, _) => registration.cancel(),
            // No reader will come back to this socket, so the framer lets go of any lent memory
            // now (a reader thread's or event loop's receive ends with the reset and does it).
            ReceiveSide::Caller(driven) => driven.lock().framer.abandon(),
            ReceiveSide::Thread(_) => {}
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
        if let ReceiveSide::Thread(reader) = &mut self.receive {
            if let Some(reader) = reader.take() {
                let _ = reader.join();
            }
        }
    }
}

/// A request in flight. Dropping it abandons the request: a late reply is counted and discarded.
pub struct Pending {
    key: u32,
    completion: Arc<Completion>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("key", &self.key).field("addr", &self.shared.addr).finish()
    }
}

impl Pending {
    pub fn key(&self) -> u32 {
        self.key
    }

    /// The server this request went to.
    pub fn server(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Waits for the reply until `deadline`.
    pub fn wait(&self, deadline: Instant) -> Reply {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let mut state = self.completion.state.lock();
        loop {
            if let Some(reply) = state.reply.take() {
                return reply;
            }
            if self.completion.ready.wait_until(&mut state, deadline).timed_out() {
                return state
                    .reply
                    .take()
                    .unwrap_or_else(|| Err(TransportError::TimedOut { addr: self.shared.addr, timeout }));
            }
        }
    }

    /// Offers `zone` for this request's reply payload, before the request is sent: a framer
    /// that meets the reply may read the payload straight into it ([`Pending::landed`]).
    pub fn lend_landing(&self, zone: LandingZone) {
        self.completion.state.lock().landing = Some(zone);
    }

    /// Whether the reply taken was delivered without its payload, which was read into the zone
    /// this request lent.
    pub fn landed(&self) -> bool {
        self.completion.state.lock().landed
    }

    /// Takes the reply if it has come, without waiting.
    pub fn try_reply(&self) -> Option<Reply> {
        self.completion.state.lock().reply.take()
    }

    /// Takes the reply if it has come; otherwise `cx`'s waker is woken when it does (for
    /// futures, on any executor). A reply is handed out once. Timeouts are the caller's to enforce.
    pub fn poll_reply(&self, cx: &mut Context<'_>) -> Poll<Reply> {
        let mut state = self.completion.state.lock();
        match state.reply.take() {
            Some(reply) => Poll::Ready(reply),
            None => {
                if !state.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = self.shared.pending.lock();
        // The table's handle on the completion goes first, so this one can recycle it.
        let freed = pending.remove(self.key).map(|(_, slot_wakers)| slot_wakers);
        let leftover = pending.recycle(&self.completion);
        drop(pending);
        drop(leftover);
        if let Some(slot_wakers) = freed {
            self.shared.announce_free_slot(slot_wakers);
        }
    }
}

/// Where one request's reply lands: a blocking waiter parks on the condition variable, a future
/// leaves its waker.
#[derive(Default)]
struct Completion {
    state: Mutex<CompletionState>,
    ready: Condvar,
}

#[derive(Default)]
struct CompletionState {
    reply: Option<Reply>,
    waker: Option<Waker>,
    /// Memory the request lent for its reply's payload ([`Pending::lend_landing`]).
    landing: Option<LandingZone>,
    /// The reply's payload was read into `landing`; the reply is the rest of the frame.
    landed: bool,
}

impl Completion {
    fn complete(&self, reply: Reply) {
        self.complete_as(reply, false);
    }

    fn complete_as(&self, reply: Reply, landed: bool) {
        let waker = {
            let mut state = self.state.lock();
            state.reply = Some(reply);
            state.landed = landed;
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A reply larger than the small ones of late moves their size this fraction of the way to its own.
const SMALL_REPLY_RISE: usize = 16;

/// Iovecs a send keeps on the stack; more are allocated for.
const IOVECS_ON_STACK: usize = 128;

/// The most iovecs one writev takes (Linux's IOV_MAX).
const MAX_IOVECS_PER_WRITE: usize = 1024;

/// Interrupted reads retried in a row.
const MAX_INTERRUPTED_READS: u32 = 8;

/// Longest wait for a free slot before a caller-driven connection's waiter reads replies again.
const SLOT_WAIT_SLICE: Duration = Duration::from_millis(1);

/// Longest wait for buffer space before a caller-driven sender reads replies again.
const SEND_WAIT_SLICE: Duration = Duration::from_millis(50);

/// How a send judges that the server stopped reading, and where it shows that it has not.
struct Stall<'a> {
    /// The longest a send may move no data.
    limit: Option<Duration>,
    /// Moved on at each write that takes some data.
    progress: Option<&'a AtomicU64>,
}

/// Writes all of `parts`. A blocking socket reports a send that made no progress for its
/// SO_SNDTIMEO as WouldBlock; a non-blocking one is given `wait()` between tries, up to
/// `stall.limit` without progress. Either way the server stopped reading: TimedOut.
fn write_all_vectored(
    stream: &mut TcpStream,
    parts: &[IoSlice<'_>],
    nonblocking: bool,
    stall: Stall<'_>,
    mut wait: impl FnMut() -> io::Result<()>,
) -> io::Result<()> {
    let mut on_stack = [IoSlice::new(&[]); IOVECS_ON_STACK];
    let mut on_heap = Vec::new();
    let nonempty = parts.iter().filter(|p| !p.is_empty()).copied();
    let mut slices = crate::stack_or_heap::fill(nonempty, parts.len(), &mut on_stack, &mut on_heap);
    let mut stalled_since = None;
    while !slices.is_empty() {
        let window = slices.len().min(MAX_IOVECS_PER_WRITE);
        match stream.write_vectored(&slices[..window]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                IoSlice::advance_slices(&mut slices, n);
                stalled_since = None;
                if let Some(progress) = stall.progress {
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if !nonblocking || stall.limit.is_some_and(|limit| since.elapsed() >= limit) {
                    let limit =
                        stall.limit.map_or_else(|| "the send timeout".to_string(), |l| format!("{l:?}"));
                    let reason = format!("no data sent for {limit}: the server stopped reading");
                    return Err(io::Error::new(io::ErrorKind::TimedOut, reason));
                }
                wait()?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A receive side's [`Replies`]: the connection's requests in flight.
struct Dispatch<'a> {
    shared: &'a Shared,
    /// The socket being read, which a claim on lent memory names.
    fd: RawFd,
}

impl Replies for Dispatch<'_> {
    fn deliver(&mut self, key: u32, frame: Bytes) {
        deliver(self.shared, key, frame, None);
    }

    fn claim_landing(&mut self, key: u32) -> Option<ZoneClaim> {
        let pending = self.shared.pending.lock();
        let state = pending.calls.get(&key)?.state.lock();
        state.landing.as_ref()?.claim(self.fd)
    }

    fn deliver_landed(&mut self, key: u32, rest: Bytes, claim: ZoneClaim) {
        deliver(self.shared, key, rest, Some(claim));
    }
}

/// Hands a reply to the request waiting for it; a reply nobody waits for is counted and dropped.
/// `landed`: the claim on lent memory the reply's payload was read into, let go before the
/// request learns of it, and counted as landed only if it is the request's own.
fn deliver(shared: &Shared, key: u32, frame: Bytes, landed: Option<ZoneClaim>) {
    shared.stats.replies.fetch_add(1, Ordering::Relaxed);
    // The framing around a frame is not counted: an estimate a little low only wakes early.
    let size = frame.len() + landed.as_ref().map_or(0, ZoneClaim::len);
    let small = shared.small_reply_bytes.load(Ordering::Relaxed);
    let small = if size <= small { size } else { small + (size - small) / SMALL_REPLY_RISE };
    shared.small_reply_bytes.store(small, Ordering::Relaxed);
    let waiter = {
        let mut pending = shared.pending.lock();
        let lent_that_zone = |completion: &Arc<Completion>, claim: &ZoneClaim| {
            completion.state.lock().landing.as_ref().is_some_and(|zone| zone.is_claimed_by(claim))
        };
        match &landed {
            // A frame without its payload means nothing to a request that did not lend the zone.
            Some(claim) if !pending.calls.get(&key).is_some_and(|c| lent_that_zone(c, claim)) => None,
            _ => pending.remove(key),
        }
    };
    let landed_here = landed.is_some();
    drop(landed);
    match waiter {
        Some((completion, slot_wakers)) => {
            completion.complete_as(Ok(frame), landed_here);
            shared.announce_free_slot(slot_wakers);
            // The woken caller may have dropped its handle already, finding this one still held
            // and so not recycling the completion: then this last holder does.
            let leftover = shared.pending.lock().recycle(&completion);
            drop(leftover);
        }
        None => {
            shared.stats.unmatched_replies.fetch_add(1, Ordering::Relaxed);
        }
    }
}
