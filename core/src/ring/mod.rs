//! Receive event loops ("rings"): a few threads, each reading the replies of many connections,
//! on io_uring where the kernel allows it and on epoll where it does not.
//!
//! ```text
//!  Connection::connect_with(.., ReceiveMode::Reactor(r))
//!        │ Register{token, Receiver}                    Close{token}  ◀── Connection::close
//!        ▼                                                  │             (also shutdown(2))
//!  ┌─ loop 0 ─────────────────────────────────┐             ▼
//!  │ bounded queue ──▶ slab of Receivers       │   ◀── eventfd wake-up
//!  │ io_uring: one RECV per connection into    │
//!  │   Framer::read_target(), re-armed per CQE, │
//!  │   all re-arms of a batch in one enter     │
//!  │ epoll: readiness, then recv(MSG_DONTWAIT) │
//!  └───────────────────────────────────────────┘   loop 1 … loop N-1 likewise
//!        │ Receiver::complete → Framer::filled → deliver(key, reply) → waiter / waker
//! ```
//!
//! By default sends never come here: a caller writes its request with one writev on its own
//! thread under the connection's writer lock, which costs one system call and no hand-off, the
//! lowest latency there is. With [`ReactorConfig::queued_sends`] callers append their requests
//! to the connection's outbox instead and send a `Flush { token }` only when the loop does not
//! already own the stream's tail; the loop takes everything gathered and sends it with one
//! SEND (io_uring) or send(2) (epoll), so many threads' requests leave in one operation.
//! Requests carrying a caller's data are not copied: their caller takes the stream's tail
//! once the loop gives it back and writes them itself (`Connection::send_in_place`).
//!
//! # Who owns the receive memory
//!
//! A loop thread owns the `Receiver` (socket read half, framer, reply table) of each of its
//! connections, boxed in a slab slot. With io_uring the kernel writes into the framer's read
//! target between the RECV's submission and its completion, so:
//!
//! - a connection has at most one RECV outstanding, and the loop does not touch its framer
//!   while it is (the framer chooses the target and is called again only with the completion);
//! - the framer is boxed, so moving the slot (the slab never grows past its start-up size, but
//!   even so) does not move the memory it hands out;
//! - closing a connection (its [`Connection`](crate::net::Connection) closed or dropped, the
//!   server closing, a framing error, the reactor stopping) never frees the framer directly:
//!   the socket is shut down and the RECV cancelled (IORING_OP_ASYNC_CANCEL), and the slot is
//!   freed, framer and socket with it, only when that RECV's completion arrives. A loop that
//!   stops waits for every outstanding RECV's completion before it frees anything; should the
//!   kernel never complete one, its framer is leaked rather than freed under the kernel.
//! - a read target may be a caller's memory that the framer holds a claim on
//!   ([`buf::landing`](crate::buf::landing)); the claim lives in the framer, so the rules above
//!   keep it until the RECV completes, and the caller's `lend` waits for it (a leaked framer
//!   would keep that caller waiting rather than let the kernel write into returned memory).
//!
//! With epoll nothing is borrowed by the kernel between system calls; a slot is freed at once.
//!
//! # Limits
//!
//! Connections per loop are bounded (`max_connections_per_loop`, default 1024) and the slab,
//! the completion queue and the event array are sized from that bound at start-up: each
//! connection has at most two operations outstanding (its RECV and one cancel), the loop one
//! (the poll on its eventfd), so a completion queue of twice the bound plus slack never
//! overflows. A reactor whose loops are all full refuses new connections (back-pressure).

mod epoll;
mod eventfd;
pub mod transfer;
mod uring;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver as QueueReceiver, Sender, TrySendError};
use parking_lot::{Condvar, Mutex};

use crate::net::Receiver;
use eventfd::EventFd;

pub use uring::{nop_round_trips, probe_uring, UringProbe};

/// Which kernel interface the event loops use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// io_uring when the kernel allows it, else epoll.
    #[default]
    Auto,
    /// io_uring or an error.
    Uring,
    Epoll,
}

/// The kernel interface a reactor's loops run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Uring,
    Epoll,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
        })
    }
}

/// How a reactor is set up.
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Event loop threads; 0 is one per CPU this process may run on.
    pub threads: usize,
    pub backend: BackendChoice,
    /// Connections one loop receives for, at most; the loop's tables are sized from it.
    pub max_connections_per_loop: usize,
    /// The loops also send: a connection's callers append their requests to its outbox and the
    /// loop sends what has gathered with one operation (`submit=ring`), all but those sent in
    /// place. Otherwise each caller sends its own with one writev.
    pub queued_sends: bool,
}

impl Default for ReactorConfig {
    fn default() -> ReactorConfig {
        ReactorConfig {
            threads: 0,
            backend: BackendChoice::Auto,
            max_connections_per_loop: 1024,
            queued_sends: false,
        }
    }
}

/// Most event loops one reactor runs.
pub const MAX_THREADS: usize = 1024;
/// Most connections one loop takes.
pub const MAX_CONNECTIONS_PER_LOOP: usize = 1 << 14;
/// Messages (new connections, closes) waiting for a loop at once; a sender waits for room.
const QUEUE_LEN: usize = 256;
/// How long a connection waiting for room on a full queue pauses between tries.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReactorError {
    /// io_uring was asked for and the kernel refuses it (ENOSYS: not built in or filtered by
    /// seccomp; EPERM: kernel.io_uring_disabled).
    #[error("io_uring is unavailable: {source}")]
    UringUnavailable { source: io::Error },
    #[error("setting up a {backend} event loop failed: {source}")]
    Setup { backend: Backend, source: io::Error },
    #[error("starting an event loop thread failed: {source}")]
    Spawn { source: io::Error },
    #[error("{what} must be 1..={max}, not {value}")]
    Limit { what: &'static str, value: usize, max: usize },
}

/// A set of event loop threads that receive for the connections handed to them through
/// [`ReceiveMode::Reactor`](crate::net::ReceiveMode::Reactor). The threads stop and are joined
/// when the last `Arc` is dropped; connections still open then fail with `Closed`.
pub struct Reactor {
    backend: Backend,
    probe: Option<UringProbe>,
    loops: Vec<LoopRef>,
    max_connections_per_loop: usize,
    queued_sends: bool,
    next_token: AtomicU64,
}

struct LoopRef {
    shared: Arc<LoopShared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("backend", &self.backend)
            .field("threads", &self.loops.len())
            .field("connections", &self.connections())
            .finish()
    }
}

impl Reactor {
    /// Chooses the backend (probing io_uring for `Auto`), then starts the loops. The choice is
    /// logged once per process to stderr.
    pub fn start(config: ReactorConfig) -> Result<Arc<Reactor>, ReactorError> {
        Reactor::start_with(config, start_loop)
    }

    /// As [`Reactor::start`], each loop started by `start_one` (a test's stand-in can fail).
    fn start_with(config: ReactorConfig, start_one: LoopStarter) -> Result<Arc<Reactor>, ReactorError> {
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(MAX_THREADS);
        let max_connections_per_loop = config.max_connections_per_loop;
        if !(1..=MAX_CONNECTIONS_PER_LOOP).contains(&max_connections_per_loop) {
            return Err(ReactorError::Limit {
                what: "max_connections_per_loop",
                value: max_connections_per_loop,
                max: MAX_CONNECTIONS_PER_LOOP,
            });
        }
        let probed = match config.backend {
            BackendChoice::Epoll => None,
            BackendChoice::Auto if under_valgrind() => Some(Err(io::Error::other(
                "running under valgrind, whose io_uring_enter keeps every other thread waiting \
                 while it blocks (KDE bug 463859)",
            ))),
            BackendChoice::Uring | BackendChoice::Auto => Some(probe_uring()),
        };
        let mut chosen = choose(config.backend, probed)?;
        let loops = match start_loops(start_one, chosen.backend, threads, max_connections_per_loop) {
            // A probe's ring is small; the loops' may still be refused (memory limits, a
            // setup flag the kernel lacks). Where either backend will do, epoll takes over.
            Err(ReactorError::Setup { backend: Backend::Uring, source })
                if config.backend == BackendChoice::Auto =>
            {
                chosen = Chosen {
                    backend: Backend::Epoll,
                    probe: None,
                    fallback: Some(format!("setting up its rings failed: {source}")),
                };
                start_loops(start_one, Backend::Epoll, threads, max_connections_per_loop)?
            }
            started => started?,
        };
        log_choice_once(&chosen, threads);
        Ok(Arc::new(Reactor {
            backend: chosen.backend,
            probe: chosen.probe,
            loops,
            max_connections_per_loop,
            queued_sends: config.queued_sends,
            next_token: AtomicU64::new(0),
        }))
    }

    /// The backend the loops run on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What io_uring offers here, when the loops run on it.
    pub fn probe(&self) -> Option<&UringProbe> {
        self.probe.as_ref()
    }

    pub fn threads(&self) -> usize {
        self.loops.len()
    }

    /// Whether the loops send their connections' requests ([`ReactorConfig::queued_sends`]).
    pub fn queued_sends(&self) -> bool {
        self.queued_sends
    }

    /// Connections the loops receive for now.
    pub fn connections(&self) -> usize {
        self.connections_per_loop().iter().sum()
    }

    /// Connections each loop receives for now, in loop order.
    pub fn connections_per_loop(&self) -> Vec<usize> {
        self.loops.iter().map(|l| l.shared.connections.load(Ordering::Relaxed)).collect()
    }

    /// The loops' kernel thread ids, to see in tests that they are gone after a drop.
    #[cfg(test)]
    pub(crate) fn thread_ids(&self) -> Vec<i32> {
        self.loops.iter().map(|l| l.shared.tid.load(Ordering::Acquire)).collect()
    }

    /// Hands a connection's receive side to the loop with the fewest connections. Waits up to
    /// `timeout` for room on its queue.
    pub(crate) fn register(&self, receiver: Receiver, timeout: Duration) -> io::Result<Registration> {
        let chosen = self
            .loops
            .iter()
            .map(|l| &l.shared)
            .min_by_key(|l| l.connections.load(Ordering::Relaxed))
            .ok_or_else(|| io::Error::other("the reactor has no event loops"))?;
        if chosen.connections.fetch_add(1, Ordering::AcqRel) >= self.max_connections_per_loop {
            chosen.connections.fetch_sub(1, Ordering::AcqRel);
            return Err(io::Error::other(format!(
                "every event loop already receives for {} connections",
                self.max_connections_per_loop
            )));
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        // Never a blocking channel operation on the caller's thread: it would register the
        // thread with std (thread::current), which a C program's main thread never frees.
        let deadline = Instant::now() + timeout;
        let mut message = Message::Register { token, receiver };
        loop {
            // On failure the receiver comes back inside the error and is dropped here, failing
            // nothing in flight (nothing was sent yet).
            let failure = match chosen.messages.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(_)) if Instant::now() >= deadline => io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the event loop's queue stayed full for the connect timeout",
                ),
                Err(TrySendError::Full(back)) => {
                    chosen.wake.wake();
                    std::thread::sleep(QUEUE_FULL_PAUSE);
                    message = back;
                    continue;
                }
                Err(TrySendError::Disconnected(_)) => io::Error::other("the event loop has stopped"),
            };
            chosen.connections.fetch_sub(1, Ordering::AcqRel);
            return Err(failure);
        }
        chosen.wake.wake();
        Ok(Registration { lp: Arc::clone(chosen), token, cancelled: AtomicBool::new(false) })
    }
}

impl Reactor {
    /// Sends a no-op through loop `index`'s queue, wakes the loop and waits until the loop has
    /// taken it: one hand-off to a loop and back (on io_uring, the eventfd poll completing in
    /// the ring), and a barrier, since every message queued on that loop before it has been
    /// handled by then. Waits for room on a full queue.
    pub fn round_trip(&self, index: usize) -> io::Result<()> {
        let lp = &self
            .loops
            .get(index)
            .ok_or_else(|| {
                io::Error::other(format!("the reactor has {} loops, not {}", self.loops.len(), index + 1))
            })?
            .shared;
        let done = Arc::new(OneShot::default());
        let mut message = Message::RoundTrip(Acknowledgement(Arc::clone(&done)));
        loop {
            match lp.messages.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    lp.wake.wake();
                    std::thread::sleep(QUEUE_FULL_PAUSE);
                    message = back;
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(io::Error::other("the event loop has stopped"))
                }
            }
        }
        lp.wake.wake();
        done.wait()
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // All told first, so they stop together; each is joined as its `LoopRef` drops.
        for l in &self.loops {
            l.tell_to_stop();
        }
    }
}

impl LoopRef {
    fn tell_to_stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.wake();
    }
}

/// A loop let go of is stopped and joined, whether its reactor is dropped or a later loop of
/// a reactor being started failed.
impl Drop for LoopRef {
    fn drop(&mut self) {
        self.tell_to_stop();
        let Some(thread) = self.thread.take() else { return };
        // Kernel thread ids, not thread::current(), which would register a C caller's thread
        // with std for good.
        // SAFETY: gettid(2) takes no arguments and cannot fail.
        let me = unsafe { libc::gettid() };
        // A loop thread can drop the last reference itself (a waker it ran owned a client): it
        // must not wait for itself; it sees `stopping` when this returns.
        if self.shared.tid.load(Ordering::Acquire) != me {
            let _ = thread.join();
        }
    }
}

/// Whether this process runs under valgrind (its preload libraries are mapped). Valgrind runs
/// one thread at a time, and up to at least 3.19 a thread waiting in io_uring_enter does not
/// let the others run: a loop thread waiting for completions would stop the whole program.
fn under_valgrind() -> bool {
    std::fs::read_to_string("/proc/self/maps").is_ok_and(|maps| maps.contains("/vgpreload_"))
}

/// The backend picked, and why.
#[derive(Debug)]
struct Chosen {
    backend: Backend,
    probe: Option<UringProbe>,
    /// Why io_uring was passed over, when `Auto` fell back to epoll.
    fallback: Option<String>,
}

/// The backend to run, from what was asked and what probing io_uring found (`None`: not
/// probed).
fn choose(choice: BackendChoice, probed: Option<io::Result<UringProbe>>) -> Result<Chosen, ReactorError> {
    let unusable = match probed {
        None => None,
        Some(Ok(probe)) => match probe.missing() {
            None => return Ok(Chosen { backend: Backend::Uring, probe: Some(probe), fallback: None }),
            Some(missing) => Some(io::Error::other(format!("the kernel lacks {missing}"))),
        },
        Some(Err(e)) => Some(e),
    };
    match (choice, unusable) {
        (BackendChoice::Uring, Some(source)) => Err(ReactorError::UringUnavailable { source }),
        (BackendChoice::Uring, None) => {
            Err(ReactorError::UringUnavailable { source: io::Error::other("io_uring was not probed") })
        }
        (_, reason) => {
            Ok(Chosen { backend: Backend::Epoll, probe: None, fallback: reason.map(|e| e.to_string()) })
        }
    }
}

/// One line to stderr, the first time a reactor starts in this process: which backend, how
/// many loops, and what io_uring offers (or why it is not used).
fn log_choice_once(chosen: &Chosen, threads: usize) {
    static LOGGED: Once = Once::new();
    LOGGED.call_once(|| match (&chosen.probe, &chosen.fallback) {
        (Some(probe), _) => eprintln!("nfsx: receive backend io_uring ({threads} rings; probed: {probe})"),
        (None, Some(reason)) => {
            eprintln!("nfsx: io_uring unavailable ({reason}), using epoll ({threads} loops)")
        }
        (None, None) => eprintln!("nfsx: receive backend epoll ({threads} loops)"),
    });
}

/// What the connections and the reactor share with one event loop.
#[derive(Debug)]
struct LoopShared {
    messages: Sender<Message>,
    wake: EventFd,
    stopping: AtomicBool,
    /// Connections handed to the loop and not yet let go, for placing new ones.
    connections: AtomicUsize,
    /// The loop thread's kernel thread id, for diagnostics.
    tid: AtomicI32,
}

/// What reaches a loop through its queue.
enum Message {
    /// A new connection's receive side, and the token its later messages name it by.
    Register { token: u64, receiver: Receiver },
    /// The connection was closed by the client: stop reading it and let it go.
    Close { token: u64 },
    /// Requests wait in the connection's outbox: send them.
    Flush { token: u64 },
    /// Nothing to do: dropping the acknowledgement, handled or discarded by a stopping loop,
    /// wakes the sender.
    RoundTrip(Acknowledgement),
}

/// Reports to a [`Reactor::round_trip`] caller when dropped.
struct Acknowledgement(Arc<OneShot>);

impl Drop for Acknowledgement {
    fn drop(&mut self) {
        self.0.report(Ok(()));
    }
}

/// A connection's hold on the loop that receives for it: enough to tell the loop that the
/// connection closed, never enough to keep the loop running.
pub(crate) struct Registration {
    lp: Arc<LoopShared>,
    token: u64,
    cancelled: AtomicBool,
}

impl Registration {
    /// Tells the loop to stop reading the connection (at most once). The caller has shut the
    /// socket down, which ends an outstanding read anyway; this message makes it prompt (an
    /// io_uring RECV is cancelled) and does not wait: a full queue or a stopped loop is fine.
    pub(crate) fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        match self.lp.messages.try_send(Message::Close { token: self.token }) {
            Ok(()) => self.lp.wake.wake(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Registration {
    /// Tells the loop that requests wait in the connection's outbox, waiting for room on a
    /// full queue. Fails only when the loop has stopped.
    pub(crate) fn flush(&self) -> Result<(), &'static str> {
        let mut message = Message::Flush { token: self.token };
        loop {
            match self.lp.messages.try_send(message) {
                Ok(()) => {
                    self.lp.wake.wake();
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    self.lp.wake.wake();
                    std::thread::sleep(QUEUE_FULL_PAUSE);
                    message = back;
                }
                Err(TrySendError::Disconnected(_)) => return Err("the event loop has stopped"),
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The loop side of [`LoopShared`]: its queue's receiving end.
struct LoopInbox {
    shared: Arc<LoopShared>,
    messages: QueueReceiver<Message>,
}

/// Starts loop `index` of a reactor on `backend`, each loop taking up to `max_connections`.
type LoopStarter = fn(usize, Backend, usize) -> Result<LoopRef, ReactorError>;

/// Starts `threads` loops, or none: on a failure the loops already started are dropped, which
/// stops them.
fn start_loops(
    start_one: LoopStarter,
    backend: Backend,
    threads: usize,
    max_connections: usize,
) -> Result<Vec<LoopRef>, ReactorError> {
    (0..threads).map(|index| start_one(index, backend, max_connections)).collect()
}

fn start_loop(index: usize, backend: Backend, max_connections: usize) -> Result<LoopRef, ReactorError> {
    let setup = |source| ReactorError::Setup { backend, source };
    let (sender, receiver) = crossbeam_channel::bounded(QUEUE_LEN);
    let shared = Arc::new(LoopShared {
        messages: sender,
        wake: EventFd::new().map_err(setup)?,
        stopping: AtomicBool::new(false),
        connections: AtomicUsize::new(0),
        tid: AtomicI32::new(0),
    });
    let inbox = LoopInbox { shared: Arc::clone(&shared), messages: receiver };
    // The loop's kernel object is made on its own thread (io_uring's single-issuer setup binds
    // the ring to the thread that creates it); the outcome comes back before start returns.
    let started = Arc::new(OneShot::default());
    let reporter = Arc::clone(&started);
    let name = format!("nfsx-{}-{index}", if backend == Backend::Uring { "ring" } else { "epoll" });
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            // Whatever happens to the thread, start is not left waiting.
            let _silent = SilenceGuard(&reporter);
            // SAFETY: gettid(2) takes no arguments and cannot fail.
            inbox.shared.tid.store(unsafe { libc::gettid() }, Ordering::Release);
            match backend {
                Backend::Uring => uring::run(inbox, max_connections, &reporter),
                Backend::Epoll => epoll::run(inbox, max_connections, &reporter),
            }
        })
        .map_err(|source| ReactorError::Spawn { source })?;
    let started = started.wait();
    // Dropped on failure, which joins the thread (it has already returned).
    let loop_ref = LoopRef { shared, thread: Some(thread) };
    started.map(|()| loop_ref).map_err(setup)
}

/// An outcome reported once and waited for: how a loop thread's setup went, handed back to
/// `start_loop`, or that a round trip reached its loop. A mutex and condition variable rather
/// than a channel, whose blocking receive would register the waiting thread with std.
#[derive(Default)]
pub(super) struct OneShot {
    outcome: Mutex<Option<io::Result<()>>>,
    reported: AtomicBool,
    done: Condvar,
}

impl OneShot {
    /// The first report counts.
    pub(super) fn report(&self, outcome: io::Result<()>) {
        let mut slot = self.outcome.lock();
        if !self.reported.swap(true, Ordering::AcqRel) {
            *slot = Some(outcome);
            self.done.notify_all();
        }
    }

    fn wait(&self) -> io::Result<()> {
        let mut slot = self.outcome.lock();
        loop {
            if let Some(outcome) = slot.take() {
                return outcome;
            }
            self.done.wait(&mut slot);
        }
    }
}

/// Reports a loop thread that ended (or unwound) without reporting its setup.
struct SilenceGuard<'a>(&'a OneShot);

impl Drop for SilenceGuard<'_> {
    fn drop(&mut self) {
        self.0.report(Err(io::Error::other("the loop thread ended during setup")));
    }
}

/// Generations wrap here, so a key's top two bits stay free for a backend's own marks.
const MAX_GENERATION: u32 = (1 << 30) - 1;

/// Connections a loop owns, each in a slot named (in io_uring user data, in epoll data) by
/// `generation << 32 | index`, so a completion for a slot since reused is recognised. Sized
/// once, at the loop's bound.
struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    by_token: HashMap<u64, u32>,
}

struct Slot<T> {
    generation: u32,
    entry: Option<(u64, T)>,
}

impl<T> Slab<T> {
    fn with_capacity(capacity: usize) -> Slab<T> {
        Slab {
            slots: (0..capacity).map(|_| Slot { generation: 0, entry: None }).collect(),
            free: (0..capacity as u32).rev().collect(),
            by_token: HashMap::with_capacity(capacity),
        }
    }

    /// Stores `value` for `token`; `None` when every slot is taken (the value comes back).
    fn insert(&mut self, token: u64, value: T) -> Result<u64, T> {
        let Some(index) = self.free.pop() else { return Err(value) };
        let slot = &mut self.slots[index as usize];
        slot.entry = Some((token, value));
        self.by_token.insert(token, index);
        Ok(u64::from(slot.generation) << 32 | u64::from(index))
    }

    fn key_of(&self, token: u64) -> Option<u64> {
        let index = *self.by_token.get(&token)?;
        Some(u64::from(self.slots[index as usize].generation) << 32 | u64::from(index))
    }

    fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let slot = self.slots.get_mut((key & u64::from(u32::MAX)) as usize)?;
        match &mut slot.entry {
            Some((_, value)) if u64::from(slot.generation) == key >> 32 => Some(value),
            _ => None,
        }
    }

    fn remove(&mut self, key: u64) -> Option<T> {
        let index = (key & u64::from(u32::MAX)) as u32;
        let slot = self.slots.get_mut(index as usize)?;
        if u64::from(slot.generation) != key >> 32 {
            return None;
        }
        let (token, value) = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1) & MAX_GENERATION;
        self.by_token.remove(&token);
        self.free.push(index);
        Some(value)
    }

    fn keys(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.entry.is_some())
            .map(|(i, s)| u64::from(s.generation) << 32 | i as u64)
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

#[cfg(test)]
mod tests;
