//! Path health. A path (one server address, from one local address) whose calls time out is
//! taken out of use; a background thread then sends it an NFS NULL call now and then, on a fresh
//! connection and backing off, and puts it back as soon as one is answered. Real calls never
//! have to find out the hard way whether a dead path has come back.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nfsx_core::net::{Connection, ReceiveMode, SocketOptions};

use crate::proto::nfs3;
use crate::proto::{NFS_PROGRAM, NFS_VERSION};
use crate::rpc::{decode_reply, CallHeader, Credential, RecordFramer, XidAllocator};

use super::channel::encode_record_head;

/// First pause between probes of a failed path; doubles with each unanswered probe.
const PROBE_FIRST: Duration = Duration::from_millis(250);
const PROBE_MAX: Duration = Duration::from_secs(5);
/// How often the probing thread looks at the paths (and notices the channel is gone).
const PROBE_TICK: Duration = Duration::from_millis(50);
/// A NULL reply is a few dozen bytes.
const PROBE_MAX_RECORD: usize = 4096;

/// A route to the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub server: SocketAddr,
    pub local: Option<IpAddr>,
}

#[derive(Debug, Default)]
struct PathHealth {
    down: AtomicBool,
    /// Probes unanswered in a row, for the back-off.
    failures: AtomicU32,
}

/// What a probe needs to make its own connection and call.
#[derive(Debug, Clone)]
pub(crate) struct ProbeConfig {
    pub socket: SocketOptions,
    pub credential: Credential,
    pub xids: Arc<XidAllocator>,
    /// How long one probe (connect and reply) may take.
    pub timeout: Duration,
}

/// Every path of a channel and whether it is in use.
#[derive(Debug)]
pub(crate) struct Paths {
    routes: Vec<Route>,
    health: Vec<PathHealth>,
    probing: AtomicBool,
    config: ProbeConfig,
}

impl Paths {
    pub fn new(routes: Vec<Route>, config: ProbeConfig) -> Arc<Paths> {
        let health = routes.iter().map(|_| PathHealth::default()).collect();
        Arc::new(Paths { routes, health, probing: AtomicBool::new(false), config })
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_up(&self, path: usize) -> bool {
        !self.health[path].down.load(Ordering::Acquire)
    }

    pub fn any_up(&self) -> bool {
        (0..self.len()).any(|p| self.is_up(p))
    }

    /// Takes a path out of use until a probe is answered. False when it already was out.
    pub fn take_out(self: &Arc<Self>, path: usize) -> bool {
        if self.health[path].down.swap(true, Ordering::AcqRel) {
            return false;
        }
        if !self.probing.swap(true, Ordering::AcqRel) {
            let paths = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("nfsx-probe".into())
                .spawn(move || probe_until_all_up(&paths));
            if spawned.is_err() {
                // No thread to probe with: put the path back rather than lose it for good.
                self.probing.store(false, Ordering::Release);
                self.health[path].down.store(false, Ordering::Release);
            }
        }
        true
    }

    fn bring_back(&self, path: usize) {
        self.health[path].failures.store(0, Ordering::Relaxed);
        self.health[path].down.store(false, Ordering::Release);
    }

    /// One NULL call over a fresh connection on `path`, bounded by the probe timeout.
    fn answers(&self, path: usize) -> bool {
        let Route { server, local } = self.routes[path];
        let config = &self.config;
        let deadline = Instant::now() + config.timeout;
        let socket =
            SocketOptions { local_addr: local, connect_timeout: config.timeout, ..config.socket.clone() };
        let Ok(conn) = Connection::connect_with(
            server,
            &socket,
            1,
            RecordFramer::new(PROBE_MAX_RECORD),
            ReceiveMode::Thread,
        ) else {
            return false;
        };
        let xid = config.xids.next_xid();
        let header = CallHeader {
            xid,
            program: NFS_PROGRAM,
            version: NFS_VERSION,
            procedure: nfs3::Null::NUMBER,
            credential: &config.credential,
        };
        let head = encode_record_head(Vec::new(), &header, &(), 0);
        let answered = conn
            .call(xid, &[std::io::IoSlice::new(&head)], deadline)
            .and_then(|pending| pending.wait(deadline))
            .is_ok_and(|record| decode_reply(&record).is_ok_and(|reply| reply.body.is_ok()));
        conn.close();
        answered
    }
}

/// Probes every path that is out of use, each on its own back-off, until all are back or the
/// channel is dropped.
fn probe_until_all_up(paths: &Weak<Paths>) {
    let mut next_probe: Vec<Option<Instant>> = Vec::new();
    loop {
        let Some(paths) = paths.upgrade() else { return };
        next_probe.resize(paths.len(), None);
        let now = Instant::now();
        for (path, next) in next_probe.iter_mut().enumerate() {
            if paths.is_up(path) {
                *next = None;
                continue;
            }
            if *next.get_or_insert(now + PROBE_FIRST) > now {
                continue;
            }
            if paths.answers(path) {
                paths.bring_back(path);
                *next = None;
            } else {
                let failures = paths.health[path].failures.fetch_add(1, Ordering::Relaxed).min(16);
                *next = Some(Instant::now() + PROBE_FIRST.saturating_mul(1 << failures).min(PROBE_MAX));
            }
        }
        if (0..paths.len()).all(|p| paths.is_up(p)) {
            paths.probing.store(false, Ordering::Release);
            // A path taken out after the check above found no thread probing: carry on for it.
            let again =
                (0..paths.len()).any(|p| !paths.is_up(p)) && !paths.probing.swap(true, Ordering::AcqRel);
            if !again {
                return;
            }
        }
        drop(paths);
        std::thread::sleep(PROBE_TICK);
    }
}
