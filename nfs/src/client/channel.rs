//! Sends RPC calls over a set of connections and waits for their replies, re-sending on timeouts
//! and broken connections. The simple blocking transport of the foundation: one reader thread per
//! connection, callers block on their own replies, many calls in flight per connection.

use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nfsx_core::buf::landing::LandingZone;
use nfsx_core::buf::{BufferPool, Reservation};
use nfsx_core::net::{Connection, Pending, ReceiveMode, SocketOptions, TransportError};
use parking_lot::{Mutex, RwLock};

use super::probe::{Paths, ProbeConfig, Route};
use super::stats::{self, OpCounters, OP_SLOTS};
use crate::proto::nfs3::{Commit, Nfsstat3, Procedure, Read, ReadOkHead, Readdir, Readdirplus, Write};
use crate::rpc::{decode_reply, record_mark, CallHeader, Credential, RecordFramer, XidAllocator};
use crate::xdr::{Decode, Encode, Reader, Writer};
use crate::{Error, Result};

/// Where one connection goes and what it is now.
struct Lane {
    server: SocketAddr,
    local: Option<IpAddr>,
    /// Reserved for metadata (`mdconnect`), so bulk READ/WRITE never queue ahead of a stat.
    metadata_only: bool,
    /// The lane's path: its (server address, local address) pair, in `Channel::paths`.
    path: usize,
    conn: RwLock<Option<Arc<Connection>>>,
    /// The counters of the connections this lane has replaced, added in under `conn`'s write
    /// lock, so a report (which reads them under its read lock) never counts one twice.
    retired: nfsx_core::net::ConnectionStats,
    /// Calls re-sent after a timeout or a broken connection on this lane.
    retransmits: AtomicU64,
    reconnects: AtomicU64,
    /// The source port of the lane's last connection (0: none yet), which a reconnect asks for
    /// again: servers keep a client's duplicate request cache by its address and port, so a
    /// call re-sent from the same one is recognised.
    local_port: AtomicU16,
    /// Held by the one caller (re)connecting the lane, outside `conn`'s lock, so picking a
    /// lane (which reads every candidate's load) never waits for a connect.
    connecting: Mutex<()>,
    /// Connects to the lane that failed, so callers that waited for one fail with it.
    failed_connects: AtomicU64,
    /// Why the lane's last connect failed, for those callers.
    last_connect_error: Mutex<String>,
    /// Callers that must not block (futures) waiting for the lane's connect, which a thread of
    /// its own makes; `None` while no such connect runs.
    connect_waiters: Mutex<Option<Vec<Waker>>>,
    /// Connects made for such callers that have ended, whether they connected or not.
    connect_rounds: AtomicU64,
}

/// How calls are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub timeout: Duration,
    pub retrans: u32,
    pub hard: bool,
}

/// Counters over all connections of a channel.
#[derive(Debug, Default)]
pub struct ChannelStats {
    pub calls: AtomicU64,
    pub retransmits: AtomicU64,
    pub reconnects: AtomicU64,
    /// Times a path (server address) stopped answering and was taken out of use.
    pub path_failures: AtomicU64,
    /// Calls sent again, as new transactions, after the server answered NFS3ERR_JUKEBOX.
    pub jukebox_retries: AtomicU64,
    /// Bytes nfsx copied in user space: small reply records out of the receive scratch buffer,
    /// the start of large ones that arrived before their own buffer was taken, READ data into
    /// the caller's buffer (`File::read_at`) and UNSTABLE data kept for re-sending
    /// (`safewrites`). What `docs/ARCHITECTURE.md` counts per path, and tests check.
    pub bytes_copied: Arc<AtomicU64>,
    /// Calls refused because every receive buffer was lent out or reserved (`maxbuffers`):
    /// the back-pressure of a full pool.
    pub receive_buffers_busy: AtomicU64,
    pub(crate) ops: [OpCounters; OP_SLOTS],
}

/// One connection's counters at a moment: those of every TCP connection it has had, since a
/// broken one is replaced (counted in `reconnects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStats {
    pub server: SocketAddr,
    pub metadata_only: bool,
    pub connected: bool,
    pub requests: u64,
    pub replies: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub in_flight: usize,
    /// Replies that matched no call in flight (late answers to calls already re-sent or abandoned).
    pub unmatched_replies: u64,
    /// Calls re-sent (on this connection or another) after timing out or breaking on this one.
    pub retransmits: u64,
    pub reconnects: u64,
}

/// The receive buffers large replies land in, since the client was mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveBufferStats {
    /// Buffers mapped: the most the pool held at once, unless idle ones were let go.
    pub mapped: u64,
    /// Replies received into a buffer an earlier one had used.
    pub reused: u64,
}

/// Which lane a call may go to.
#[derive(Debug, Clone, Copy)]
enum Steer {
    /// The least loaded.
    Any,
    /// Any but this one (it just failed the call).
    Avoid(usize),
    /// This one, unless its path is out of use.
    Stay(usize),
}

/// Adds a replaced connection's counters to its lane's.
fn retire(lane: &nfsx_core::net::ConnectionStats, old: &nfsx_core::net::ConnectionStats) {
    let pairs = [
        (&lane.requests, &old.requests),
        (&lane.replies, &old.replies),
        (&lane.bytes_sent, &old.bytes_sent),
        (&lane.bytes_received, &old.bytes_received),
        (&lane.unmatched_replies, &old.unmatched_replies),
    ];
    for (total, part) in pairs {
        total.fetch_add(part.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// How often a thread waiting in run-to-completion mode checks whether the driving thread left.
const DRIVER_HANDOFF_CHECK: Duration = Duration::from_millis(1);
/// Replies waited for at once while driving: fewer wake-ups, each reading more.
const MAX_COALESCED_REPLIES: usize = 32;
/// Calls in flight from which a driving caller waits for three quarters of them rather than a
/// quarter.
const DEEP_WINDOW: usize = 8;
/// Replies of late at least this long count as large for [`coalesced_replies`].
const LARGE_REPLY_BYTES: usize = 64 * 1024;
/// The longest a coalescing wait delays a reply that has already arrived; poll(2) counts in
/// milliseconds, so it waits 1 ms.
const COALESCE_WAIT: Duration = Duration::from_micros(500);
/// Pause after the first NFS3ERR_JUKEBOX of a call; doubles with each one, up to the maximum.
const JUKEBOX_FIRST_PAUSE: Duration = Duration::from_millis(100);
const JUKEBOX_MAX_PAUSE: Duration = Duration::from_secs(2);
/// Longest single wait for readability while driving.
const DRIVER_POLL_SLICE: Duration = Duration::from_millis(100);

/// Idle receive buffers kept for the next large replies, at most: enough for every reply in
/// flight on small mounts, and a bound on idle memory (64 × rsize) on large ones. Mapping a
/// fresh buffer costs a page fault per 4 KiB, so buffers in steady use must stay pooled.
const MAX_IDLE_BUFFERS: usize = 64;

/// Largest reply record accepted: the biggest READ payload plus room for the headers before it.
fn max_record_len(max_payload: usize) -> usize {
    max_payload + 64 * 1024
}

/// How a channel's connections are made and used.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub socket: SocketOptions,
    /// Connections per server address.
    pub nconnect: usize,
    /// Calls in flight per connection.
    pub max_in_flight: usize,
    /// Largest READ or WRITE payload, which bounds the reply records accepted.
    pub max_payload: usize,
    pub retry: RetryPolicy,
    /// Of each server address's connections, how many carry only metadata (`mdconnect`).
    pub mdconnect: usize,
    /// Receive buffers lent out and reserved at once (`maxbuffers`); `None`: two per call slot.
    pub max_buffers: Option<usize>,
    /// Reader threads, or callers that drive their own receives (`rtc`).
    pub receive_mode: ReceiveMode,
}

pub struct Channel {
    lanes: Vec<Lane>,
    paths: Arc<Paths>,
    /// Where the next search for the least-loaded lane starts.
    next_lane: AtomicUsize,
    /// The lane the next [`Channel::drive_until`] reads first: a driver that stops early
    /// must not favour one connection while the replies on the others wait.
    next_driven_lane: AtomicUsize,
    socket: SocketOptions,
    max_in_flight: usize,
    /// Largest READ or WRITE payload (and READDIR reply) asked for; bounds the records accepted.
    max_payload: usize,
    credential: Credential,
    xids: Arc<XidAllocator>,
    retry: RetryPolicy,
    receive_mode: ReceiveMode,
    /// In [`ReceiveMode::Caller`], the threads waiting for the one driving to read their
    /// replies: while there are any, a driver reads every reply that has come before it leaves.
    waiting_for_driver: AtomicUsize,
    /// Buffers that large replies are read into and handed out in.
    buffers: Arc<BufferPool>,
    stats: ChannelStats,
    /// Set by [`Channel::shut_down`]: every call fails, none is sent again.
    shut_down: AtomicBool,
    /// The encoded heads of answered calls, emptied, for the next calls to encode into.
    spare_heads: Mutex<Vec<Vec<u8>>>,
}

/// Encoded call heads kept for reuse, at most: enough for the calls of a deep queue.
const SPARE_HEADS: usize = 256;
/// Heads with more room than this (a long symlink target, a big SETATTR) are not kept.
const SPARE_HEAD_MAX_CAPACITY: usize = 1024;

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<_> = self.lanes.iter().map(|l| l.server).collect();
        f.debug_struct("Channel").field("servers", &servers).finish_non_exhaustive()
    }
}

/// One encoded call, kept so it can be sent again unchanged (same XID) after a timeout.
#[derive(Debug)]
pub struct Call<'a> {
    pub procedure: &'static str,
    xid: u32,
    stats_slot: usize,
    /// READ, WRITE and COMMIT: kept off metadata-only connections.
    bulk: bool,
    /// An NFS procedure with a status (all but NULL): NFS3ERR_JUKEBOX means "try again later".
    has_nfs_status: bool,
    /// Record mark, RPC header and arguments up to any separately sent payload.
    head: Vec<u8>,
    /// Bulk data sent from the caller's memory (WRITE), then its XDR padding.
    payload: &'a [u8],
    padding: usize,
    /// READ, READDIR and READDIRPLUS: the reply may be large enough to be received into a
    /// pooled buffer, so one is reserved before the call is sent.
    needs_receive_buffer: bool,
    /// The reserved buffer, held from the first send until the call is answered or dropped.
    receive_buffer: Option<Reservation>,
    /// The caller's memory that a READ reply's data may be read straight into.
    landing: Option<LandingZone>,
}

impl Call<'_> {
    /// Offers `zone` of the caller's memory for the data of this READ's reply
    /// ([`Reply::landed`]).
    pub fn land_data_in(&mut self, zone: LandingZone) {
        self.landing = Some(zone);
    }

    /// Gives the call a new transaction id (after a record mark, the XID is the first word).
    fn renew_xid(&mut self, xid: u32) {
        self.xid = xid;
        self.head[4..8].copy_from_slice(&xid.to_be_bytes());
    }

    /// Whether the call sends a caller's data (WRITE), which is never copied.
    fn carries_data(&self) -> bool {
        !self.payload.is_empty()
    }

    fn parts(&self) -> [IoSlice<'_>; 3] {
        const ZEROS: [u8; 4] = [0; 4];
        [IoSlice::new(&self.head), IoSlice::new(self.payload), IoSlice::new(&ZEROS[..self.padding])]
    }
}

/// A reply's record and where the procedure's results begin in it.
#[derive(Debug)]
pub struct Reply {
    record: Bytes,
    body_offset: usize,
    stats_slot: usize,
    resent: bool,
    landed: bool,
}

impl Reply {
    pub fn body(&self) -> &[u8] {
        &self.record[self.body_offset..]
    }

    /// `part` of the body as a view sharing the reply's buffer, no copy.
    pub fn view(&self, part: &[u8]) -> Bytes {
        self.record.slice_ref(part)
    }

    /// Whether the call went out more than once, so an earlier copy may have been carried out
    /// and only its reply lost.
    pub fn resent(&self) -> bool {
        self.resent
    }

    /// Whether the reply's payload (a READ's data) was read into the zone the call lent
    /// ([`Call::land_data_in`]): then the record ends where the payload would begin.
    pub fn landed(&self) -> bool {
        self.landed
    }
}

/// A call waiting to go out (again) without blocking its caller: a future's call before it
/// could be sent, one to re-send after a failed try, one the server answered NFS3ERR_JUKEBOX
/// ("try again later"). [`Channel::try_place`] sends it once `until` has passed.
#[derive(Debug)]
pub struct Deferred<'a> {
    call: Call<'a>,
    /// When the call was first sent; `None` before that.
    sent_at: Option<Instant>,
    attempts: u32,
    jukeboxes: u32,
    resent: bool,
    steer: Steer,
    /// A JUKEBOX answer ended the transaction: the call goes out under a new XID.
    renew_xid: bool,
    until: Instant,
    awaits_connect: Option<ConnectWait>,
    /// Since when the call has waited for a receive buffer, if it does.
    awaits_buffer_since: Option<Instant>,
}

/// The lane whose connect a deferred call waits for, and the lane's counts when it began, to
/// tell afterwards whether that connect has ended and how.
#[derive(Debug, Clone, Copy)]
struct ConnectWait {
    lane: usize,
    failed_before: u64,
    rounds_before: u64,
}

impl Deferred<'_> {
    /// When the call may go out again.
    pub fn until(&self) -> Instant {
        self.until
    }

    /// A call about to go out for the first time, now.
    fn fresh(call: Call<'_>) -> Deferred<'_> {
        Deferred {
            call,
            sent_at: None,
            attempts: 0,
            jukeboxes: 0,
            resent: false,
            steer: Steer::Any,
            renew_xid: false,
            until: Instant::now(),
            awaits_connect: None,
            awaits_buffer_since: None,
        }
    }

    /// A call waiting to be sent lets go of any receive buffer it reserved for an earlier try:
    /// it reserves one again once it has its slot, so calls that wait never keep the buffers
    /// from those being answered.
    fn unsent_holds_no_buffer(mut self) -> Self {
        self.call.receive_buffer = None;
        self
    }
}

/// What became of a call [`Channel::try_place`] tried to send.
#[derive(Debug)]
pub enum Placement<'a> {
    Sent(InFlight<'a>),
    /// Not sent: the waker is woken when a slot frees or the lane's connect ends.
    Waiting(Deferred<'a>),
    /// Not sent: every receive buffer is lent out or reserved. The waker is woken when one
    /// may be free; the caller should also look again at the instant given, when the wait
    /// ends with [`Error::ReceiveBuffersBusy`].
    WaitingForBuffer(Deferred<'a>, Instant),
    /// Not sent: the call waits out a pause until its `until`, which nothing but the caller's
    /// own timer ends.
    Paused(Deferred<'a>),
    /// Not sent: the lane has no connection, and the caller must start
    /// [`Channel::connect_and_wake`] for it on a thread that may block.
    NeedsConnect(Deferred<'a>, usize),
}

/// A call sent and not yet answered.
#[derive(Debug)]
pub struct InFlight<'a> {
    call: Call<'a>,
    /// When the call was first sent, for its latency.
    sent_at: Instant,
    /// When this attempt was sent, for its timeout.
    attempt_sent_at: Instant,
    lane: usize,
    conn: Arc<Connection>,
    pending: Pending,
    attempts: u32,
    resent: bool,
    /// NFS3ERR_JUKEBOX answers so far, for the pause before the next try.
    jukeboxes: u32,
    /// The connection's reply count when this attempt went out: unchanged at a timeout means
    /// the connection delivered nothing at all meanwhile.
    replies_before: u64,
}

impl InFlight<'_> {
    pub(crate) fn server(&self) -> SocketAddr {
        self.pending.server()
    }

    pub(crate) fn attempt_started(&self) -> Instant {
        self.attempt_sent_at
    }

    /// The reply if it has come, else `cx` is woken when it does.
    pub(crate) fn poll_reply(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<Bytes, TransportError>> {
        self.pending.poll_reply(cx)
    }
}

impl Channel {
    /// Builds the lanes: `nconnect` per server address, local addresses assigned in turn.
    /// Connections open lazily on first use and again after a failure.
    pub fn new(
        servers: &[SocketAddr],
        local_addrs: &[IpAddr],
        config: ChannelConfig,
        credential: Credential,
        xids: Arc<XidAllocator>,
    ) -> Channel {
        let routes: Vec<Route> = servers
            .iter()
            .enumerate()
            .map(|(path, &server)| Route {
                server,
                local: (!local_addrs.is_empty()).then(|| local_addrs[path % local_addrs.len()]),
            })
            .collect();
        let mut lanes = Vec::with_capacity(servers.len() * config.nconnect);
        for (path, route) in routes.iter().enumerate() {
            for n in 0..config.nconnect {
                // At least one connection per address stays open to bulk IO.
                let metadata_only = n < config.mdconnect.min(config.nconnect - 1);
                lanes.push(Lane {
                    server: route.server,
                    local: route.local,
                    metadata_only,
                    path,
                    conn: RwLock::new(None),
                    retired: Default::default(),
                    retransmits: AtomicU64::new(0),
                    reconnects: AtomicU64::new(0),
                    local_port: AtomicU16::new(0),
                    connecting: Mutex::new(()),
                    failed_connects: AtomicU64::new(0),
                    last_connect_error: Mutex::new(String::new()),
                    connect_waiters: Mutex::new(None),
                    connect_rounds: AtomicU64::new(0),
                });
            }
        }
        let probe = ProbeConfig {
            socket: config.socket.clone(),
            credential: credential.clone(),
            xids: Arc::clone(&xids),
            timeout: config.retry.timeout,
        };
        let paths = Paths::new(routes, probe);
        let slots = lanes.len() * config.max_in_flight;
        let buffers = BufferPool::bounded(
            max_record_len(config.max_payload),
            slots.min(MAX_IDLE_BUFFERS),
            // A reply being received counts twice (its buffer, and its call's reservation until
            // the caller takes it), so one per slot would refuse calls a full table still has
            // room for.
            config.max_buffers.unwrap_or(2 * slots),
        );
        Channel {
            lanes,
            paths,
            next_lane: AtomicUsize::new(0),
            next_driven_lane: AtomicUsize::new(0),
            waiting_for_driver: AtomicUsize::new(0),
            socket: config.socket,
            max_in_flight: config.max_in_flight,
            max_payload: config.max_payload,
            credential,
            xids,
            retry: config.retry,
            receive_mode: config.receive_mode,
            buffers,
            stats: ChannelStats::default(),
            shut_down: AtomicBool::new(false),
            spare_heads: Mutex::new(Vec::with_capacity(SPARE_HEADS)),
        }
    }

    pub fn stats(&self) -> &ChannelStats {
        &self.stats
    }

    pub fn receive_buffer_stats(&self) -> ReceiveBufferStats {
        let (mapped, reused) = self.buffers.counts();
        ReceiveBufferStats { mapped, reused }
    }

    pub fn connections(&self) -> usize {
        self.lanes.len()
    }

    /// Opens every lane now, so a bad address fails at mount time rather than mid-job.
    pub fn connect_all(&self) -> Result<()> {
        for i in 0..self.lanes.len() {
            self.connection(i)?;
        }
        Ok(())
    }

    fn connection(&self, lane: usize) -> Result<Arc<Connection>, TransportError> {
        let slot = &self.lanes[lane];
        let refuse_if_shut_down = || {
            if self.shut_down.load(Ordering::Acquire) {
                return Err(TransportError::Closed { addr: slot.server, reason: "client shut down".into() });
            }
            Ok(())
        };
        refuse_if_shut_down()?;
        let live = || slot.conn.read().as_ref().filter(|c| !c.is_closed()).map(Arc::clone);
        if let Some(conn) = live() {
            return Ok(conn);
        }
        let failed_before = slot.failed_connects.load(Ordering::Acquire);
        let _connecting = slot.connecting.lock();
        // Another caller may have connected the lane while this one waited, or the client
        // been shut down.
        if let Some(conn) = live() {
            return Ok(conn);
        }
        refuse_if_shut_down()?;
        // The calls of a broken connection all come back to its lane at once: when the connect
        // one of them made failed, the others take that answer rather than each waiting out a
        // connect of its own.
        if slot.failed_connects.load(Ordering::Acquire) != failed_before {
            return Err(self.failed_connect(lane));
        }
        if slot.conn.read().is_some() {
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            slot.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let mut socket = self.socket.clone();
        socket.local_addr = slot.local;
        socket.local_port = Some(slot.local_port.load(Ordering::Relaxed)).filter(|&p| p != 0);
        let conn = Connection::connect_with(
            slot.server,
            &socket,
            self.max_in_flight,
            RecordFramer::with_pool(max_record_len(self.max_payload), Arc::clone(&self.buffers))
                .landing_payloads(read_payload_in)
                .counting_copies_in(Arc::clone(&self.stats.bytes_copied)),
            self.receive_mode.clone(),
        )
        .inspect_err(|e| {
            *slot.last_connect_error.lock() = e.to_string();
            slot.failed_connects.fetch_add(1, Ordering::Release);
        })?;
        let conn = Arc::new(conn);
        slot.local_port.store(conn.local_port().unwrap_or(0), Ordering::Relaxed);
        let mut installed = slot.conn.write();
        if let Some(old) = installed.replace(Arc::clone(&conn)) {
            retire(&slot.retired, old.stats());
        }
        drop(installed);
        if self.shut_down.load(Ordering::Acquire) {
            // Shut down while this connected: `shut_down` closed the lanes it found open.
            conn.close();
        }
        Ok(conn)
    }

    /// The error of a caller that waited for another's connect to `lane`, which failed.
    fn failed_connect(&self, lane: usize) -> TransportError {
        let slot = &self.lanes[lane];
        let why = slot.last_connect_error.lock().clone();
        let source = std::io::Error::other(format!("a connect made while this call waited failed: {why}"));
        TransportError::Connect { addr: slot.server, source }
    }

    /// The least-loaded lane of the class the call belongs to; an unopened lane counts as idle.
    /// Metadata goes to the metadata-only lanes when there are any, bulk IO to the others.
    fn pick_lane(&self, bulk: bool, steer: Steer) -> usize {
        let usable = |i: usize| self.paths.is_up(self.lanes[i].path);
        let avoid = match steer {
            Steer::Stay(lane) if usable(lane) => return lane,
            Steer::Stay(lane) | Steer::Avoid(lane) => Some(lane),
            Steer::Any => None,
        };
        let has_metadata_lanes = self.lanes.iter().any(|l| l.metadata_only);
        let any_usable = (0..self.lanes.len()).any(usable);
        let fits = |i: usize| {
            (!has_metadata_lanes || self.lanes[i].metadata_only != bulk) && (!any_usable || usable(i))
        };
        let load = |i: usize| self.lanes[i].conn.read().as_ref().map_or(0, |c| c.in_flight());
        // Equally loaded lanes take turns, so one call at a time still spreads over every path.
        let n = self.lanes.len();
        let first = self.next_lane.fetch_add(1, Ordering::Relaxed) % n;
        let candidates = || (0..n).map(|k| (first + k) % n).filter(|&i| fits(i));
        candidates()
            .filter(|&i| Some(i) != avoid)
            .min_by_key(|&i| load(i))
            .or_else(|| candidates().next())
            .unwrap_or(0)
    }

    /// Per-connection counters, for `nfsiostat`-like reports.
    pub fn connection_stats(&self) -> Vec<ConnectionStats> {
        self.lanes
            .iter()
            .map(|lane| {
                let conn = lane.conn.read();
                let live = conn.as_ref().filter(|c| !c.is_closed());
                let counter = |f: fn(&nfsx_core::net::ConnectionStats) -> &AtomicU64| {
                    let current = conn.as_ref().map_or(0, |c| f(c.stats()).load(Ordering::Relaxed));
                    f(&lane.retired).load(Ordering::Relaxed) + current
                };
                ConnectionStats {
                    server: lane.server,
                    metadata_only: lane.metadata_only,
                    connected: live.is_some(),
                    requests: counter(|s| &s.requests),
                    replies: counter(|s| &s.replies),
                    bytes_sent: counter(|s| &s.bytes_sent),
                    bytes_received: counter(|s| &s.bytes_received),
                    in_flight: live.map_or(0, |c| c.in_flight()),
                    unmatched_replies: counter(|s| &s.unmatched_replies),
                    retransmits: lane.retransmits.load(Ordering::Relaxed),
                    reconnects: lane.reconnects.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Encodes a call. `payload` (WRITE data) travels from the caller's memory; `args` must
    /// encode everything before it, including its length word.
    pub fn encode<'a>(
        &self,
        program: u32,
        version: u32,
        procedure: u32,
        name: &'static str,
        args: &impl Encode,
        payload: &'a [u8],
    ) -> Call<'a> {
        let xid = self.xids.next_xid();
        let spare = self.spare_heads.lock().pop().unwrap_or_default();
        let header = CallHeader { xid, program, version, procedure, credential: &self.credential };
        let mut head = encode_record_head(spare, &header, args, payload.len());
        let padding = crate::xdr::pad_len(payload.len());
        let nfs = program == crate::proto::NFS_PROGRAM;
        let stats_slot = stats::slot_of(nfs.then_some(procedure));
        let bulk = nfs && [Read::NUMBER, Write::NUMBER, Commit::NUMBER].contains(&procedure);
        let has_nfs_status = nfs && procedure != 0;
        let needs_receive_buffer =
            nfs && [Read::NUMBER, Readdir::NUMBER, Readdirplus::NUMBER].contains(&procedure);
        if needs_receive_buffer {
            self.ask_for_what_a_reply_may_carry(&mut head);
        }
        Call {
            procedure: name,
            xid,
            stats_slot,
            bulk,
            has_nfs_status,
            head,
            payload,
            padding,
            needs_receive_buffer,
            receive_buffer: None,
            landing: None,
        }
    }

    /// The arguments of READ, READDIR and READDIRPLUS end with the most reply data they ask
    /// for (`count`, `count`, `maxcount`: RFC 1813 §3.3.6, 3.3.16, 3.3.17), which the head ends
    /// with too. More than the payload bound would bring a reply this channel refuses as
    /// oversized, resetting the connection at every try; a server may answer less than asked
    /// anyway, so the call asks for no more than the bound.
    fn ask_for_what_a_reply_may_carry(&self, head: &mut [u8]) {
        let Some(at) = head.len().checked_sub(4) else { return };
        let asked = u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let bound = u32::try_from(self.max_payload).unwrap_or(u32::MAX);
        head[at..].copy_from_slice(&asked.min(bound).to_be_bytes());
    }

    /// A call for a caller that must not block (a future), to send through
    /// [`Channel::try_place`].
    pub fn unsent<'a>(&self, call: Call<'a>) -> Deferred<'a> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        Deferred::fresh(call)
    }

    /// Sends a deferred call without blocking on anything but the send itself: where every
    /// slot of the chosen connection is taken, where the lane must connect first, or while a
    /// pause after a failed try lasts, the call comes back to wait, `waker` registered to be
    /// woken (the pause is the caller's to wait out). Failed tries count as in
    /// [`Channel::send`], so the retry policy ends them the same way.
    pub fn try_place<'a>(&self, mut deferred: Deferred<'a>, waker: &Waker) -> Result<Placement<'a>> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        // A connect still running when the call looks is judged once it has ended, even if
        // that happens while this look goes on.
        let mut still_connecting = None;
        if let Some(wait) = deferred.awaits_connect.take() {
            if !self.judge_connect_waited_for(&mut deferred, wait)? {
                still_connecting = Some(wait);
            }
        }
        if Instant::now() < deferred.until {
            return Ok(Placement::Paused(deferred.unsent_holds_no_buffer()));
        }
        if std::mem::take(&mut deferred.renew_xid) {
            deferred.call.renew_xid(self.xids.next_xid());
        }
        loop {
            let lane = self.pick_lane(deferred.call.bulk, deferred.steer);
            let slot = &self.lanes[lane];
            let Some(conn) = slot.conn.read().as_ref().filter(|c| !c.is_closed()).map(Arc::clone) else {
                // Under the waiters' lock, which the connect's end takes to count its round and
                // wake them: either this call's waker is among those woken, or it sees the round.
                let mut waiters = slot.connect_waiters.lock();
                let rounds = slot.connect_rounds.load(Ordering::Acquire);
                if let Some(wait) =
                    still_connecting.take().filter(|w| w.lane == lane && w.rounds_before != rounds)
                {
                    drop(waiters);
                    self.judge_connect_waited_for(&mut deferred, wait)?;
                    if Instant::now() < deferred.until {
                        return Ok(Placement::Paused(deferred.unsent_holds_no_buffer()));
                    }
                    continue;
                }
                deferred.awaits_connect = Some(ConnectWait {
                    lane,
                    failed_before: slot.failed_connects.load(Ordering::Acquire),
                    rounds_before: rounds,
                });
                let deferred = deferred.unsent_holds_no_buffer();
                return Ok(match waiters.as_mut() {
                    Some(waiters) => {
                        if !waiters.iter().any(|w| w.will_wake(waker)) {
                            waiters.push(waker.clone());
                        }
                        Placement::Waiting(deferred)
                    }
                    None => {
                        *waiters = Some(vec![waker.clone()]);
                        Placement::NeedsConnect(deferred, lane)
                    }
                });
            };
            let replies_before = conn.stats().replies.load(Ordering::Relaxed);
            let failure = 'send: {
                let pending = match conn.try_register_or_wake(deferred.call.xid, waker) {
                    Ok(Some(pending)) => pending,
                    Ok(None) => return Ok(Placement::Waiting(deferred.unsent_holds_no_buffer())),
                    Err(e) => break 'send e,
                };
                // Only a call that has its slot holds a receive buffer: those waiting for one
                // must not keep the buffers from the calls being answered.
                let call = &mut deferred.call;
                if call.needs_receive_buffer && call.receive_buffer.is_none() {
                    call.receive_buffer = self.buffers.try_reserve_or_wake(waker);
                    if call.receive_buffer.is_none() {
                        // Letting the slot go wakes those waiting for one.
                        drop(pending);
                        return self.wait_for_buffer(deferred);
                    }
                }
                let call = &deferred.call;
                if let Some(zone) = &call.landing {
                    pending.lend_landing(zone.clone());
                }
                if let Err(e) = self.send_parts(&conn, &call.parts(), 1, call.carries_data()) {
                    break 'send e;
                }
                let Deferred { call, sent_at, attempts, jukeboxes, resent, .. } = deferred;
                let now = Instant::now();
                return Ok(Placement::Sent(InFlight {
                    call,
                    sent_at: sent_at.unwrap_or(now),
                    attempt_sent_at: now,
                    lane,
                    conn,
                    pending,
                    attempts,
                    resent,
                    jukeboxes,
                    replies_before,
                }));
            };
            self.count_failed_try(&mut deferred, lane, failure)?;
            if Instant::now() < deferred.until {
                return Ok(Placement::Paused(deferred.unsent_holds_no_buffer()));
            }
        }
    }

    /// A call refused a receive buffer waits for one to come back, at most a timeout from the
    /// first refusal, as a blocking READ does; then ENOBUFS.
    fn wait_for_buffer<'a>(&self, mut deferred: Deferred<'a>) -> Result<Placement<'a>> {
        let now = Instant::now();
        let since = *deferred.awaits_buffer_since.get_or_insert_with(|| {
            self.stats.receive_buffers_busy.fetch_add(1, Ordering::Relaxed);
            now
        });
        let give_up_at = since + self.retry.timeout;
        if now >= give_up_at {
            return Err(Error::ReceiveBuffersBusy { limit: self.buffers.limit() });
        }
        Ok(Placement::WaitingForBuffer(deferred, give_up_at))
    }

    /// A deferred call looks again at the connect it waited for: once that has ended without
    /// leaving the lane a connection (it failed, or the connection closed at once), that was
    /// a failed try. False while it has not ended (a spurious wake), counting nothing.
    fn judge_connect_waited_for(&self, deferred: &mut Deferred<'_>, wait: ConnectWait) -> Result<bool> {
        let slot = &self.lanes[wait.lane];
        if slot.connect_rounds.load(Ordering::Acquire) == wait.rounds_before {
            return Ok(false);
        }
        if slot.conn.read().as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(true);
        }
        // A connection that closed as soon as it opened counts as a failed connect: the retry
        // policy paces the next one the same way.
        let e = if slot.failed_connects.load(Ordering::Acquire) != wait.failed_before {
            self.failed_connect(wait.lane)
        } else {
            let source = std::io::Error::other("the connection closed as soon as it opened");
            TransportError::Connect { addr: slot.server, source }
        };
        self.count_failed_try(deferred, wait.lane, e)?;
        Ok(true)
    }

    /// One failed try of a deferred call: the error once the retry policy gives up, else the
    /// call steers clear of the lane and waits out the pause the policy asks for.
    fn count_failed_try(&self, deferred: &mut Deferred<'_>, lane: usize, e: TransportError) -> Result<()> {
        let pause = self.judge_failed_try(&mut deferred.attempts, lane, e)?;
        deferred.steer = Steer::Avoid(lane);
        deferred.until = Instant::now() + pause;
        Ok(())
    }

    /// Counts a failed try on `lane` in `attempts`: the error once the retry policy gives up,
    /// else the pause before the next. A failed connect takes its path out where there are
    /// others.
    fn judge_failed_try(&self, attempts: &mut u32, lane: usize, e: TransportError) -> Result<Duration> {
        *attempts += 1;
        if matches!(e, TransportError::Connect { .. }) && self.paths.len() > 1 {
            self.path_failed(lane);
        }
        self.pause_before_next_try(e, *attempts)
    }

    /// Connects `lane` (blocking, on a thread that may) and wakes the callers that waited for
    /// it ([`Placement::NeedsConnect`]), whether it connected or not; they judge the outcome
    /// when they look again.
    pub fn connect_and_wake(&self, lane: usize) {
        /// Wakes the waiters however the connect ends, a panic included.
        struct WakeWaiters<'l>(&'l Lane);
        impl Drop for WakeWaiters<'_> {
            fn drop(&mut self) {
                let waiters = {
                    let mut waiters = self.0.connect_waiters.lock();
                    self.0.connect_rounds.fetch_add(1, Ordering::AcqRel);
                    waiters.take()
                };
                for waker in waiters.into_iter().flatten() {
                    waker.wake();
                }
            }
        }
        let _wake = WakeWaiters(&self.lanes[lane]);
        let _ = self.connection(lane);
    }

    /// Sends a call on the least-loaded connection.
    pub fn send<'a>(&self, call: Call<'a>) -> Result<InFlight<'a>> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.send_attempt(call, 0, Steer::Any)
    }

    fn send_attempt<'a>(&self, call: Call<'a>, attempts: u32, steer: Steer) -> Result<InFlight<'a>> {
        self.place(call, attempts, steer, true, &mut || {})
    }

    /// Reserves a reply slot for `call` on the least-loaded connection without sending it; send
    /// it with others through [`Channel::send_registered`], one system call per connection.
    /// Should the connection's slots all be taken, `send_unsent` is called before waiting for
    /// one, to send the caller's registered calls ([`Connection::register_with`]).
    pub fn register<'a>(&self, call: Call<'a>, send_unsent: &mut dyn FnMut()) -> Result<InFlight<'a>> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.place(call, 0, Steer::Any, false, send_unsent)
    }

    /// A call whose reply may come in a pooled buffer reserves one before it is first sent:
    /// refused (back-pressure) while every buffer is lent out or reserved.
    fn reserve_receive_buffer(&self, call: &mut Call<'_>) -> Result<()> {
        if call.needs_receive_buffer && call.receive_buffer.is_none() {
            call.receive_buffer = Some(self.buffers.try_reserve().ok_or_else(|| {
                self.stats.receive_buffers_busy.fetch_add(1, Ordering::Relaxed);
                Error::ReceiveBuffersBusy { limit: self.buffers.limit() }
            })?);
        }
        Ok(())
    }

    fn place<'a>(
        &self,
        mut call: Call<'a>,
        mut attempts: u32,
        mut steer: Steer,
        send: bool,
        before_waiting: &mut dyn FnMut(),
    ) -> Result<InFlight<'a>> {
        self.reserve_receive_buffer(&mut call)?;
        loop {
            let lane = self.pick_lane(call.bulk, steer);
            let deadline = Instant::now() + self.retry.timeout;
            let placed = self.connection(lane).and_then(|conn| {
                let replies_before = conn.stats().replies.load(Ordering::Relaxed);
                let pending = conn.register_with(call.xid, deadline, before_waiting)?;
                if let Some(zone) = &call.landing {
                    pending.lend_landing(zone.clone());
                }
                if send {
                    self.send_parts(&conn, &call.parts(), 1, call.carries_data())?;
                }
                Ok((conn, pending, replies_before))
            });
            match placed {
                Ok((conn, pending, replies_before)) => {
                    let now = Instant::now();
                    return Ok(InFlight {
                        call,
                        sent_at: now,
                        attempt_sent_at: now,
                        lane,
                        conn,
                        pending,
                        attempts,
                        resent: false,
                        jukeboxes: 0,
                        replies_before,
                    });
                }
                Err(e) => {
                    std::thread::sleep(self.judge_failed_try(&mut attempts, lane, e)?);
                    steer = Steer::Avoid(lane);
                }
            }
        }
    }

    /// Sends registered calls, all of one connection's in one gathered write. A failed write
    /// fails that connection's calls, which then come back through the usual re-send path.
    pub fn send_registered<'c, 'a: 'c>(
        &self,
        count: usize,
        call: impl Fn(usize) -> Option<&'c InFlight<'a>>,
    ) {
        let mut sent_on_stack = [false; SEND_SET_ON_STACK];
        let mut sent_on_heap = Vec::new();
        let sent = if count <= SEND_SET_ON_STACK {
            &mut sent_on_stack[..count]
        } else {
            sent_on_heap.resize(count, false);
            &mut sent_on_heap[..]
        };
        let mut parts = [IoSlice::new(&[]); 3 * CALLS_PER_WRITE];
        for first in 0..count {
            let Some(conn) = call(first).filter(|_| !sent[first]).map(|c| &c.conn) else { continue };
            let (mut gathered, mut carries_data) = (0, false);
            for (i, done) in sent.iter_mut().enumerate().skip(first) {
                let Some(this) = call(i).filter(|c| !*done && Arc::ptr_eq(&c.conn, conn)) else { continue };
                if gathered == CALLS_PER_WRITE {
                    // Errors surface through each call's reply, as Closed.
                    let _ = self.send_parts(conn, &parts, gathered, carries_data);
                    (gathered, carries_data) = (0, false);
                }
                parts[3 * gathered..3 * gathered + 3].copy_from_slice(&this.call.parts());
                carries_data |= this.call.carries_data();
                *done = true;
                gathered += 1;
            }
            let _ = self.send_parts(conn, &parts[..3 * gathered], gathered, carries_data);
        }
    }

    /// One write of `calls` whole calls. Calls carrying a caller's data are sent in place, so
    /// the data is never copied; others may be copied into the connection's outbox
    /// (`submit=ring`), which is counted.
    fn send_parts(
        &self,
        conn: &Connection,
        parts: &[IoSlice<'_>],
        calls: usize,
        carries_data: bool,
    ) -> Result<(), TransportError> {
        if carries_data {
            return conn.send_in_place(parts, calls as u64);
        }
        if conn.queues_sends() {
            self.note_copied(parts.iter().map(|p| p.len()).sum());
        }
        conn.send(parts, calls as u64)
    }

    /// Waits for a reply, re-sending the same call (same XID, so the server's duplicate request
    /// cache recognises it) after a timeout or a broken connection, on another connection when
    /// there is one.
    pub fn wait<'a>(&self, mut inflight: InFlight<'a>) -> Result<Reply> {
        if self.receive_mode == ReceiveMode::Caller {
            return self.wait_driving(inflight);
        }
        loop {
            let deadline = inflight.attempt_sent_at + self.retry.timeout;
            match inflight.pending.wait(deadline) {
                Ok(record) if self.try_later(&inflight, &record) => inflight = self.send_later(inflight)?,
                Ok(record) => return self.accept(inflight, record),
                Err(e) => inflight = self.resend(inflight, e)?,
            }
        }
    }

    /// Run-to-completion: this thread reads the replies itself (its own and any others that
    /// arrive) until its own is there, unless another thread is already doing so.
    fn wait_driving<'a>(&self, mut inflight: InFlight<'a>) -> Result<Reply> {
        loop {
            let deadline = inflight.attempt_sent_at + self.retry.timeout;
            let outcome = loop {
                if let Some(outcome) = inflight.pending.try_reply() {
                    break outcome;
                }
                if Instant::now() >= deadline {
                    break Err(TransportError::TimedOut {
                        addr: inflight.server(),
                        timeout: self.retry.timeout,
                    });
                }
                if self.drive() {
                    if let Some(outcome) = inflight.pending.try_reply() {
                        break outcome;
                    }
                    self.await_readable(deadline);
                } else {
                    // Another thread drives; its dispatch wakes us, or we take over when it leaves.
                    let slice = (Instant::now() + DRIVER_HANDOFF_CHECK).min(deadline);
                    match self.wait_for_driver(|| inflight.pending.wait(slice)) {
                        Err(TransportError::TimedOut { .. }) => {}
                        outcome => break outcome,
                    }
                }
            };
            match outcome {
                Ok(record) if self.try_later(&inflight, &record) => inflight = self.send_later(inflight)?,
                Ok(record) => return self.accept(inflight, record),
                Err(e) => inflight = self.resend(inflight, e)?,
            }
        }
    }

    /// Whether this channel's callers drive their own receives (`rtc`).
    pub fn caller_driven(&self) -> bool {
        self.receive_mode == ReceiveMode::Caller
    }

    /// Reads and dispatches whatever replies have arrived on every connection, without
    /// blocking. False when there is nothing to drive here (reader threads, or another thread
    /// is driving), so the caller should wait on its reply instead.
    pub fn drive(&self) -> bool {
        self.drive_until(&|| false)
    }

    /// [`Channel::drive`], stopping once `enough` says the caller has what it waits for
    /// ([`Connection::drive_until`]), unless other threads wait for replies this one reads.
    pub fn drive_until(&self, enough: &dyn Fn() -> bool) -> bool {
        let leave_early = || enough() && self.waiting_for_driver.load(Ordering::Relaxed) == 0;
        let mut drove = false;
        let n = self.lanes.len();
        let first = self.next_driven_lane.fetch_add(1, Ordering::Relaxed) % n.max(1);
        for lane in (0..n).map(|k| &self.lanes[(first + k) % n]) {
            let conn = lane.conn.read().clone();
            if let Some(conn) = conn {
                drove |= conn.drive_until(&leave_early);
                if leave_early() {
                    break;
                }
            }
        }
        drove
    }

    /// Runs `wait`, a wait of this thread for its replies; in [`ReceiveMode::Caller`] it waits
    /// for another thread that drives the connections, and is counted as such
    /// ([`Channel::drive_until`]).
    pub fn wait_for_driver<T>(&self, wait: impl FnOnce() -> T) -> T {
        if !self.caller_driven() {
            return wait();
        }
        self.waiting_for_driver.fetch_add(1, Ordering::Relaxed);
        let waited = wait();
        self.waiting_for_driver.fetch_sub(1, Ordering::Relaxed);
        waited
    }

    /// Blocks until a connection has something to read or `until` passes (at most a short
    /// slice, so deadlines elsewhere are noticed). With many calls in flight it waits for a
    /// share of them to be answered ([`coalesced_replies`]), or [`COALESCE_WAIT`], whichever
    /// comes first: each wake-up is the costliest part of a small call. So does a wait for the
    /// rest of a large reply, which another thread may finish reading meanwhile.
    pub fn await_readable(&self, until: Instant) {
        let mut coalescing = false;
        for lane in &self.lanes {
            if let Some(conn) = lane.conn.read().as_ref() {
                let batch = coalesced_replies(conn.in_flight(), conn.small_reply_bytes());
                coalescing |= conn.wake_after_replies(batch);
            }
        }
        let until = if coalescing { until.min(Instant::now() + COALESCE_WAIT) } else { until };
        let fds = self
            .lanes
            .iter()
            .filter_map(|lane| lane.conn.read().as_ref().filter(|c| !c.is_closed()).map(|c| c.raw_fd()));
        let timeout = until.saturating_duration_since(Instant::now()).min(DRIVER_POLL_SLICE);
        // With no connection open this sleeps for the timeout.
        let _ = nfsx_core::poll::wait_any_readable(fds, self.lanes.len(), timeout);
    }

    /// When the current attempt of `inflight` times out.
    pub fn deadline(&self, inflight: &InFlight<'_>) -> Instant {
        inflight.attempt_sent_at + self.retry.timeout
    }

    /// After a timeout or a broken connection: the same call again on another connection when
    /// there is one, or the error once the retry policy says so.
    pub fn resend<'a>(&self, inflight: InFlight<'a>, e: TransportError) -> Result<InFlight<'a>> {
        let deferred = self.set_aside(inflight, e)?;
        self.send_deferred(deferred)
    }

    /// The bookkeeping of [`Channel::resend`] without the send: the call to send again once
    /// its pause (if the retry policy asks for one) is over, or the error if the policy gives up.
    pub fn set_aside<'a>(&self, inflight: InFlight<'a>, e: TransportError) -> Result<Deferred<'a>> {
        let InFlight { call, sent_at, lane, conn, pending, attempts, jukeboxes, replies_before, .. } =
            inflight;
        // Leave the old connection's table before the same XID is sent again.
        drop(pending);
        // A connection that completed no reply for a whole timeout may be stuck mid-record
        // (every later reply would be read as the rest of it) or dead without a reset; a fresh
        // one is the cure, and the calls still on it are re-sent there. Its path may be down
        // too: taken out and probed, where there are others. A connection that answered other
        // calls meanwhile only lost (or is slow with) this one, and its path stays.
        let silent = conn.stats().replies.load(Ordering::Relaxed) == replies_before;
        if matches!(e, TransportError::TimedOut { .. }) && silent {
            if self.paths.len() > 1 {
                self.path_failed(lane);
            }
            conn.close();
        }
        let pause = match self.pause_before_next_try(e, attempts + 1) {
            Ok(pause) => pause,
            Err(e) => {
                self.stats.ops[call.stats_slot].record(sent_at.elapsed(), 0, true);
                return Err(e);
            }
        };
        self.stats.retransmits.fetch_add(1, Ordering::Relaxed);
        self.lanes[lane].retransmits.fetch_add(1, Ordering::Relaxed);
        // Where its path is still up, the call goes out again on its own lane (reconnected
        // from the same source port if it broke), where the server's duplicate request cache
        // can recognise it: a non-idempotent call is not carried out twice.
        Ok(Deferred {
            sent_at: Some(sent_at),
            attempts: attempts + 1,
            jukeboxes,
            resent: true,
            steer: Steer::Stay(lane),
            until: Instant::now() + pause,
            ..Deferred::fresh(call)
        })
    }

    /// Whether `record` answers with NFS3ERR_JUKEBOX (the server is busy: "try again later",
    /// RFC 1813 §2.6) and the retry policy allows another try: always in hard mode, within
    /// `timeo × (retrans + 1)` of the first send in soft mode. Otherwise the status reaches the
    /// caller (EAGAIN).
    pub fn try_later(&self, inflight: &InFlight<'_>, record: &[u8]) -> bool {
        if !inflight.call.has_nfs_status {
            return false;
        }
        let jukebox = decode_reply(record).is_ok_and(|reply| {
            reply.body.is_ok_and(|body| body.get(..4) == Some(&(Nfsstat3::Jukebox as u32).to_be_bytes()[..]))
        });
        jukebox
            && (self.retry.hard
                || inflight.sent_at.elapsed() < self.retry.timeout.saturating_mul(self.retry.retrans + 1))
    }

    /// After NFS3ERR_JUKEBOX, for a caller that blocks: sleeps out the call's pause and sends
    /// it again.
    fn send_later<'a>(&self, inflight: InFlight<'a>) -> Result<InFlight<'a>> {
        let deferred = self.defer(inflight);
        self.send_deferred(deferred)
    }

    /// Sets aside a call answered NFS3ERR_JUKEBOX ([`Channel::try_later`]) for a pause of 100
    /// ms, doubling with each such answer up to 2 s; it goes out again as a new transaction,
    /// since the server finished with the old one.
    pub fn defer<'a>(&self, inflight: InFlight<'a>) -> Deferred<'a> {
        let InFlight { call, sent_at, pending, attempts, jukeboxes, resent, .. } = inflight;
        drop(pending);
        self.stats.jukebox_retries.fetch_add(1, Ordering::Relaxed);
        let pause = JUKEBOX_FIRST_PAUSE.saturating_mul(1 << jukeboxes.min(5)).min(JUKEBOX_MAX_PAUSE);
        Deferred {
            sent_at: Some(sent_at),
            attempts,
            jukeboxes: jukeboxes + 1,
            resent,
            renew_xid: true,
            until: Instant::now() + pause,
            ..Deferred::fresh(call)
        }
    }

    /// Sends a deferred call, for a caller that may block: sleeps out what is left of its
    /// pause, then sends as [`Channel::send`] does.
    pub fn send_deferred<'a>(&self, deferred: Deferred<'a>) -> Result<InFlight<'a>> {
        let Deferred { mut call, sent_at, attempts, jukeboxes, resent, steer, renew_xid, until, .. } =
            deferred;
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        if self.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        if renew_xid {
            call.renew_xid(self.xids.next_xid());
        }
        let mut again = self.send_attempt(call, attempts, steer)?;
        again.sent_at = sent_at.unwrap_or(again.sent_at);
        again.resent = resent;
        again.jukeboxes = jukeboxes;
        Ok(again)
    }

    /// A path stopped answering: no new calls go to it until a probe is answered, and its
    /// connections are closed so the calls stuck on them are sent again on the other paths now
    /// rather than each waiting out its own timeout.
    fn path_failed(&self, lane: usize) {
        let path = self.lanes[lane].path;
        // Calls that were stuck on the path when it was taken out fail too: one failure.
        if !self.paths.take_out(path) {
            return;
        }
        self.stats.path_failures.fetch_add(1, Ordering::Relaxed);
        for other in self.lanes.iter().filter(|l| l.path == path) {
            if let Some(conn) = other.conn.read().as_ref() {
                conn.close();
            }
        }
    }

    /// Checks a reply record's RPC header and records the call's statistics.
    pub fn accept(&self, inflight: InFlight<'_>, record: Bytes) -> Result<Reply> {
        let call = &inflight.call;
        let procedure = call.procedure;
        let outcome = decode_reply(&record)
            .map_err(|source| Error::Decode { procedure, source })
            .and_then(|reply| reply.body.map_err(|source| Error::Rpc { procedure, source }))
            .map(|body| record.len() - body.len());
        let landed = inflight.pending.landed();
        let bytes = if landed {
            // The record ends where the data that landed in the caller's memory began.
            read_payload_in(&record).map_or(0, |(_, data_len)| data_len) + record.len()
        } else if call.payload.is_empty() {
            record.len()
        } else {
            call.payload.len()
        };
        self.stats.ops[call.stats_slot].record(inflight.sent_at.elapsed(), bytes, outcome.is_err());
        let (stats_slot, resent) = (call.stats_slot, inflight.resent);
        self.keep_head(inflight.call.head);
        Ok(Reply { record, body_offset: outcome?, stats_slot, resent, landed })
    }

    fn keep_head(&self, mut head: Vec<u8>) {
        if head.capacity() <= SPARE_HEAD_MAX_CAPACITY {
            head.clear();
            let mut spare = self.spare_heads.lock();
            if spare.len() < SPARE_HEADS {
                spare.push(head);
            }
        }
    }

    /// Waits until `deadline` for a receive buffer to come back or a reservation to be let go,
    /// for a caller with nothing of its own in flight; true when one could be reserved now.
    pub fn wait_for_receive_buffer(&self, deadline: Instant) -> bool {
        self.buffers.wait_for_room(deadline)
    }

    /// How long a caller waits for a receive buffer before giving up: one call timeout.
    pub fn receive_buffer_deadline(&self) -> Instant {
        Instant::now() + self.retry.timeout
    }

    /// Counts bytes copied in user space outside the receive path.
    pub fn note_copied(&self, bytes: usize) {
        self.stats.bytes_copied.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a reply that carried a failure status as an error of its procedure.
    pub fn note_failure_status(&self, reply: &Reply) {
        self.stats.ops[reply.stats_slot].note_error();
    }

    /// Counts a reply as an error of its procedure if its status (the first word of every
    /// NFSv3 result; NULL has none) is not NFS3_OK, before anything decodes it.
    pub fn note_status(&self, reply: &Reply) {
        if reply.body().get(..4).is_some_and(|status| status != [0; 4]) {
            self.note_failure_status(reply);
        }
    }

    /// Fails every call in flight now and every later one, without waiting for the server:
    /// for tearing down a mount whose server is gone (`umount -f`), even in hard mode.
    pub fn shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
        // Futures waiting for a receive buffer look again, and see it.
        self.buffers.wake_waiters();
        for lane in &self.lanes {
            if let Some(conn) = lane.conn.read().as_ref() {
                conn.close();
            }
        }
    }

    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// After a failed try: the error once the retry policy gives up, else how long to wait
    /// before the next.
    fn pause_before_next_try(&self, e: TransportError, attempts: u32) -> Result<Duration> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        let exhausted = !self.retry.hard && attempts > self.retry.retrans;
        if exhausted || matches!(e, TransportError::DuplicateKey { .. }) {
            return Err(Error::Transport(e));
        }
        // A single path is never taken out of use, so it counts as down whenever its connect fails.
        if matches!(e, TransportError::Connect { .. }) && (self.paths.len() == 1 || !self.paths.any_up()) {
            // A refused connect answers at once; pace the retries so a restarting server gets time.
            return Ok(Duration::from_millis(100).min(self.retry.timeout));
        }
        Ok(Duration::ZERO)
    }

    /// Sends and waits: one blocking call.
    pub fn call(&self, call: Call<'_>) -> Result<Reply> {
        let inflight = self.send(call)?;
        self.wait(inflight)
    }
}

/// Where a successful READ reply's data begins in its record, and how long it is, when the
/// part before the data is all in `record_start` (the framer then reads the data into memory
/// the call lent). Any other record, or one cut short, gives `None`.
fn read_payload_in(record_start: &[u8]) -> Option<(usize, usize)> {
    let body = decode_reply(record_start).ok()?.body.ok()?;
    let mut r = Reader::new(body);
    if r.u32("nfsstat3").ok()? != Nfsstat3::Ok as u32 {
        return None;
    }
    let head = ReadOkHead::decode(&mut r).ok()?;
    Some((record_start.len() - r.remaining(), head.data_len))
}

/// How many replies a caller driving a connection with `in_flight` calls waits for at once,
/// when its replies of late were `reply_bytes` long: three quarters of a deep window or of a
/// window of large replies, so the server keeps a quarter to work on; a quarter of a shallow
/// one, where waiting for more leaves the server idle (at queue depth 4 half cost 15% of the
/// rate). Each wake-up costs this VM about 20 µs of CPU, so fewer of them count most: small
/// calls from queue depth 8 on, against half the window, 15-25% less CPU per GETATTR, create,
/// stat and remove at the same rate (GETATTR at 16 in flight: 4.3-5.1 µs against 5.7-6.9;
/// creates at 8: 9.8-11.5 against 12.6-14.5). 1 MiB READs: at queue depth 4, 113-119 µs of CPU
/// per MiB against 166 (a quarter of 4 is one reply, no coalescing); at 8, 105-109 against
/// 111-117 for half; the rate as high or higher.
fn coalesced_replies(in_flight: usize, reply_bytes: usize) -> usize {
    let share = if reply_bytes >= LARGE_REPLY_BYTES || in_flight >= DEEP_WINDOW {
        in_flight * 3 / 4
    } else {
        in_flight / 4
    };
    share.min(MAX_COALESCED_REPLIES)
}

/// Calls gathered into one writev by [`Channel::send_registered`].
const CALLS_PER_WRITE: usize = 32;
/// Calls [`Channel::send_registered`] keeps track of on the stack; more are allocated for.
const SEND_SET_ON_STACK: usize = 256;

/// A call's record mark, RPC header and `args`, for a record whose last `payload_len` bytes
/// (plus XDR padding) are sent separately, encoded into `head` (emptied first; its room is
/// reused).
pub(crate) fn encode_record_head(
    mut head: Vec<u8>,
    header: &CallHeader<'_>,
    args: &impl Encode,
    payload_len: usize,
) -> Vec<u8> {
    head.clear();
    head.reserve(4 + header.encoded_len() + args.encoded_len());
    head.extend_from_slice(&[0; 4]);
    let mut w = Writer::new(&mut head);
    header.encode(&mut w);
    args.encode(&mut w);
    let record_len = head.len() - 4 + payload_len + crate::xdr::pad_len(payload_len);
    head[..4].copy_from_slice(&record_mark(record_len));
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driving_caller_waits_for_more_of_a_deep_window_or_one_of_large_replies() {
        let small = LARGE_REPLY_BYTES - 1;
        let large = LARGE_REPLY_BYTES;
        assert_eq!(coalesced_replies(4, small), 1);
        assert_eq!(coalesced_replies(7, small), 1);
        assert_eq!(coalesced_replies(8, small), 6);
        assert_eq!(coalesced_replies(16, small), 12);
        assert_eq!(coalesced_replies(1024, small), MAX_COALESCED_REPLIES);
        assert_eq!(coalesced_replies(1, large), 0);
        assert_eq!(coalesced_replies(2, large), 1);
        assert_eq!(coalesced_replies(3, large), 2);
        assert_eq!(coalesced_replies(4, large), 3);
        assert_eq!(coalesced_replies(8, large), 6);
        assert_eq!(coalesced_replies(1024, large), MAX_COALESCED_REPLIES);
    }
}
