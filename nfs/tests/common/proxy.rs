//! A TCP proxy for RPC traffic that cuts connections: at random moments (seeded, the seed
//! printed so a failure can be replayed with `NFSX_PROXY_SEED`), or exactly where a test
//! wants, after the server has run a chosen procedure and before its reply reaches the client
//! (the reply is lost, the call was applied).
//!
//! It forwards whole RPC records (reassembled with `nfsx::rpc::RecordReader`, sent on as one
//! fragment), which is what lets it know which call each reply answers. A random cut forwards a
//! random prefix of the record it falls on, so the peer also sees records cut mid-way.
//!
//! Bounded: threads poll a stop flag every 50 ms, and dropping the proxy stops and joins them.

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nfsx::rpc::{record_mark, RecordReader};

const POLL: Duration = Duration::from_millis(50);
/// Largest record forwarded: a 1 MiB WRITE or READ plus headers, with room to spare.
const MAX_RECORD: usize = 4 << 20;
const NFS_PROGRAM: u32 = 100_003;

/// Counters for assertions and messages.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    /// Connections cut at random.
    pub random_cuts: AtomicU64,
    /// Replies dropped (and connections cut) because their call was armed.
    pub lost_replies: AtomicU64,
    pub records_forwarded: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    stop: AtomicBool,
    /// xorshift state for random cuts.
    rng: Mutex<u64>,
    /// Chance of a cut at each record, in parts per thousand.
    cut_per_mille: u64,
    /// NFS procedure whose next call's reply is to be lost.
    armed: Mutex<Option<u32>>,
    /// XIDs of calls whose replies are to be lost.
    doomed: Mutex<HashSet<u32>>,
    stats: ProxyStats,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A running proxy; stops when dropped.
pub struct CuttingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    pub seed: u64,
}

/// The seed for random cuts: `NFSX_PROXY_SEED` when set (to replay a failure), else the clock.
pub fn seed_from_env_or_clock() -> u64 {
    std::env::var("NFSX_PROXY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

impl CuttingProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards each connection to `upstream`, cutting
    /// it at each record with probability `cut_per_mille`/1000 (0: only armed cuts).
    pub fn start(upstream: SocketAddr, seed: u64, cut_per_mille: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        eprintln!("proxy 127.0.0.1:{} -> {upstream}: seed {seed} (replay with NFSX_PROXY_SEED={seed}), cut chance {cut_per_mille}/1000 per record", addr.port());
        let shared = Arc::new(Shared {
            upstream,
            stop: AtomicBool::new(false),
            rng: Mutex::new(seed | 1),
            cut_per_mille,
            armed: Mutex::new(None),
            doomed: Mutex::new(HashSet::new()),
            stats: ProxyStats::default(),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(&listener, &acceptor_shared))
            .expect("spawn proxy acceptor");
        CuttingProxy { addr, shared, acceptor: Some(acceptor), seed }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The reply to the next NFS call of `procedure` will be lost: the call reaches the server,
    /// and when its reply comes back the proxy drops it and cuts the connection.
    pub fn lose_next_reply_to(&self, procedure: u32) {
        *self.shared.armed.lock().unwrap() = Some(procedure);
    }

    /// Whether an armed cut is still waiting for its call.
    pub fn armed(&self) -> bool {
        self.shared.armed.lock().unwrap().is_some()
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads = std::mem::take(&mut *self.shared.threads.lock().unwrap());
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((client, _)) => {
                let Ok(server) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                let pair = Arc::new(Pair { client, server });
                for to_server in [true, false] {
                    let (pair, shared2) = (Arc::clone(&pair), Arc::clone(shared));
                    let handle = std::thread::Builder::new()
                        .name(if to_server { "proxy-c2s" } else { "proxy-s2c" }.into())
                        .spawn(move || pump(&pair, to_server, &shared2))
                        .expect("spawn proxy pump");
                    shared.threads.lock().unwrap().push(handle);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Both ends of one proxied connection.
struct Pair {
    client: TcpStream,
    server: TcpStream,
}

impl Pair {
    fn cut(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

impl Shared {
    fn random(&self) -> u64 {
        let mut x = self.rng.lock().unwrap();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }
}

fn word(record: &[u8], at: usize) -> Option<u32> {
    record.get(at..at + 4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// Forwards records one way until either side closes, the proxy stops, or a cut.
fn pump(pair: &Pair, to_server: bool, shared: &Shared) {
    let (mut from, mut to) =
        if to_server { (&pair.client, &pair.server) } else { (&pair.server, &pair.client) };
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_write_timeout(Some(Duration::from_secs(10)));
    let mut reader = RecordReader::new(MAX_RECORD);
    let mut buf = vec![0u8; 256 * 1024];
    'pump: while !shared.stop.load(Ordering::Acquire) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        let mut input = &buf[..n];
        while !input.is_empty() {
            let Ok((used, record)) = reader.feed(input) else { break 'pump };
            input = &input[used..];
            let Some(record) = record else { continue };
            let xid = word(&record, 0).unwrap_or(0);
            if to_server {
                // A call: xid, CALL, rpcvers, prog, vers, proc.
                let mut armed = shared.armed.lock().unwrap();
                if word(&record, 12) == Some(NFS_PROGRAM) && *armed == word(&record, 20) && armed.is_some() {
                    *armed = None;
                    shared.doomed.lock().unwrap().insert(xid);
                }
            } else if shared.doomed.lock().unwrap().remove(&xid) {
                shared.stats.lost_replies.fetch_add(1, Ordering::Relaxed);
                break 'pump;
            }
            let framed = [&record_mark(record.len())[..], &record].concat();
            if shared.cut_per_mille > 0 && shared.random() % 1000 < shared.cut_per_mille {
                let prefix = (shared.random() as usize) % (framed.len() + 1);
                let _ = to.write_all(&framed[..prefix]);
                shared.stats.random_cuts.fetch_add(1, Ordering::Relaxed);
                break 'pump;
            }
            if to.write_all(&framed).is_err() {
                break 'pump;
            }
            shared.stats.records_forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }
    pair.cut();
}
