//! A scriptable, in-process NFS server on 127.0.0.1 for tests of how the client survives a
//! hostile or broken peer. It speaks just enough MOUNT v3 (NULL, EXPORT, MNT, UMNT) and NFSv3
//! (NULL, FSINFO, GETATTR) to get `Client::mount` going with `mountport=P&nfsport=P` (one port
//! serves both programs), then misbehaves in a chosen way on one procedure.
//!
//! Replies are built with nfsx's own codecs (`nfsx::xdr::Writer`, the `proto` types' `Encode`),
//! calls are parsed with `nfsx::xdr::Reader` and framed with `nfsx::rpc::RecordReader`.
//!
//! Every loop is bounded: connection threads poll a stop flag every 50 ms, slow misbehaviours
//! end after [`MAX_MISBEHAVIOUR`], and dropping the server stops and joins everything.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nfsx::proto::mount::{self, ExportEntry, ExportList, MntOk, Mountstat3};
use nfsx::proto::nfs3::{self, Fattr3, Fh, FsinfoOk, Ftype3, GetattrOk, NfsTime3, ReadOk, Reply, SpecData3};
use nfsx::proto::{MOUNT_PROGRAM, NFS_PROGRAM};
use nfsx::rpc::{record_mark, RecordReader, LAST_FRAGMENT, REPLY};
use nfsx::xdr::{Decode, Encode, Reader, Writer};

/// The export the fake server offers.
pub const EXPORT: &str = "/hostile";
/// The root handle MNT hands out.
pub const ROOT_FH: &[u8] = b"fake-root-handle";
/// The longest any misbehaviour goes on (trickling, endless fragments, stalls).
pub const MAX_MISBEHAVIOUR: Duration = Duration::from_secs(30);
/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Largest call the fake server reads.
const MAX_CALL: usize = 1 << 20;

/// How to answer the scripted procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// A correct reply.
    Normal,
    /// A record mark announcing `len` bytes (the last-fragment bit set), then a little data,
    /// then silence: the client must refuse the length instead of allocating it.
    OversizeLength { len: u32 },
    /// Fragments without the last-fragment bit, `fragment_len` bytes each, for ever (until the
    /// client hangs up or [`MAX_MISBEHAVIOUR`]).
    EndlessFragments { fragment_len: usize },
    /// A correct reply under another XID (the call's XID plus one).
    WrongXid,
    /// A complete record whose reply body is cut short: the RPC header and half the result.
    TruncatedBody,
    /// A record mark for the whole reply, then only half of it, then the connection closes.
    TruncatedRecordThenClose,
    /// A record mark for the whole reply, then only half of it, then nothing more.
    TruncatedRecordThenStall,
    /// A record of `len` seeded pseudo-random bytes, with the call's XID in front.
    GarbageRecord { len: usize, seed: u64 },
    /// `len` seeded pseudo-random bytes with no framing at all.
    GarbageStream { len: usize, seed: u64 },
    /// The correct reply, one byte every `every`.
    Trickle { every: Duration },
    /// Closes the connection before answering.
    Close,
    /// Closes the connection before answering the first `times` scripted calls, then answers.
    CloseFirst { times: u64 },
    /// Never answers (the connection stays open).
    Silent,
    /// Leaves the first `times` scripted calls unanswered (the connection stays open), then
    /// answers.
    SilentFirst { times: u64 },
    /// Never answers and reads nothing more from the connection, so the client's sends fill
    /// the socket buffers and then make no progress.
    Deaf,
    /// An RPC-level refusal: accepted, GARBAGE_ARGS.
    GarbageArgs,
    /// The first `times` scripted calls answered with NFS failure `status` (and no detail,
    /// as GETATTR's failure has none), later ones correctly.
    StatusFirst { status: u32, times: u64 },
}

/// What the server has seen, for assertions.
#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub calls: AtomicU64,
    /// Calls of the scripted procedure.
    pub scripted_calls: AtomicU64,
    /// Their XIDs, in arrival order.
    pub scripted_xids: Mutex<Vec<u32>>,
    /// The client's source port for each, in the same order.
    pub scripted_ports: Mutex<Vec<u16>>,
}

struct Script {
    program: u32,
    procedure: u32,
    behaviour: Behaviour,
}

struct Shared {
    script: Mutex<Script>,
    stop: AtomicBool,
    counters: Counters,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a server that answers everything correctly until [`FakeServer::script`] says otherwise.
    pub fn start() -> FakeServer {
        FakeServer::start_on(0)
    }

    /// As [`FakeServer::start`], on `port` (0: any free one): a server back where it was.
    pub fn start_on(port: u16) -> FakeServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind a port on 127.0.0.1");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            script: Mutex::new(Script { program: NFS_PROGRAM, procedure: 0, behaviour: Behaviour::Normal }),
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("fake-nfs-accept".into())
            .spawn(move || accept_loop(&listener, &acceptor_shared))
            .expect("spawn acceptor");
        FakeServer { addr, shared, acceptor: Some(acceptor) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A URL that mounts this server without the portmapper, with the given extra options.
    pub fn url(&self, options: &str) -> String {
        let port = self.port();
        let sep = if options.is_empty() { "" } else { "&" };
        format!("nfs://127.0.0.1{EXPORT}?mountport={port}&nfsport={port}&resvport=0{sep}{options}")
    }

    /// From now on, answers `procedure` of `program` the way `behaviour` says.
    pub fn script(&self, program: u32, procedure: u32, behaviour: Behaviour) {
        *self.shared.script.lock().unwrap() = Script { program, procedure, behaviour };
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }
}

impl Drop for FakeServer {
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
            Ok((stream, _)) => {
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                let conn_shared = Arc::clone(shared);
                let handle = std::thread::Builder::new()
                    .name("fake-nfs-conn".into())
                    .spawn(move || serve(stream, &conn_shared))
                    .expect("spawn connection thread");
                shared.threads.lock().unwrap().push(handle);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Why a connection's thread stops serving.
enum Stop {
    Closed,
    Stopped,
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = RecordReader::new(MAX_CALL);
    let mut buf = vec![0u8; 64 * 1024];
    'conn: while !shared.stop.load(Ordering::Acquire) {
        let n = match stream.read(&mut buf) {
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
            let Ok((used, record)) = reader.feed(input) else { break 'conn };
            input = &input[used..];
            if let Some(record) = record {
                shared.counters.calls.fetch_add(1, Ordering::Relaxed);
                match answer(&mut stream, &record, shared) {
                    Ok(()) => {}
                    Err(Stop::Closed) | Err(Stop::Stopped) => break 'conn,
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// The parts of a call the server needs.
struct Call<'a> {
    xid: u32,
    program: u32,
    procedure: u32,
    args: &'a [u8],
}

fn parse_call(record: &[u8]) -> Option<Call<'_>> {
    let mut r = Reader::new(record);
    let xid = r.u32("xid").ok()?;
    if r.u32("msg_type").ok()? != 0 || r.u32("rpcvers").ok()? != 2 {
        return None;
    }
    let program = r.u32("prog").ok()?;
    let _version = r.u32("vers").ok()?;
    let procedure = r.u32("proc").ok()?;
    let _flavor = r.u32("cred.flavor").ok()?;
    r.opaque(400, "cred.body").ok()?;
    let _flavor = r.u32("verf.flavor").ok()?;
    r.opaque(400, "verf.body").ok()?;
    Some(Call { xid, program, procedure, args: r.rest() })
}

/// The record (without its mark) of an accepted reply: `accept_stat` then `body`.
fn reply_record(xid: u32, accept_stat: u32, body: &impl Encode) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + body.encoded_len());
    let mut w = Writer::new(&mut out);
    w.u32(xid);
    w.u32(REPLY);
    w.u32(0); // MSG_ACCEPTED
    w.u32(0); // verifier: AUTH_NONE
    w.u32(0); // of length 0
    w.u32(accept_stat);
    body.encode(&mut w);
    out
}

const SUCCESS: u32 = 0;
const PROC_UNAVAIL: u32 = 3;
const GARBAGE_ARGS: u32 = 4;

fn dir_attributes() -> Fattr3 {
    let t = NfsTime3 { seconds: 1_700_000_000, nseconds: 0 };
    Fattr3 {
        ftype: Ftype3::Dir,
        mode: 0o755,
        nlink: 2,
        uid: 0,
        gid: 0,
        size: 4096,
        used: 4096,
        rdev: SpecData3::default(),
        fsid: 1,
        fileid: 1,
        atime: t,
        mtime: t,
        ctime: t,
    }
}

/// The byte at `offset` of every file the server reads from (an endless one).
pub fn file_byte(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// The correct reply record to `call`.
fn correct_reply(call: &Call<'_>) -> Vec<u8> {
    let root = Fh::new(ROOT_FH).expect("a valid handle");
    match (call.program, call.procedure) {
        (MOUNT_PROGRAM, mount::MOUNTPROC3_NULL | mount::MOUNTPROC3_UMNT | mount::MOUNTPROC3_UMNTALL) => {
            reply_record(call.xid, SUCCESS, &())
        }
        (MOUNT_PROGRAM, mount::MOUNTPROC3_EXPORT) => {
            let list = ExportList { entries: vec![ExportEntry { dir: EXPORT.as_bytes(), groups: vec![] }] };
            reply_record(call.xid, SUCCESS, &list)
        }
        (MOUNT_PROGRAM, mount::MOUNTPROC3_MNT) => {
            let ok: Result<MntOk<'_>, Mountstat3> =
                Ok(MntOk { fhandle: root, auth_flavors: vec![nfsx::rpc::AUTH_SYS] });
            reply_record(call.xid, SUCCESS, &ok)
        }
        (NFS_PROGRAM, 0) => reply_record(call.xid, SUCCESS, &()),
        (NFS_PROGRAM, 19) => {
            let ok: Reply<'_, nfs3::Fsinfo> = Ok(FsinfoOk {
                obj_attributes: Some(dir_attributes()),
                rtmax: 65536,
                rtpref: 65536,
                rtmult: 4096,
                wtmax: 65536,
                wtpref: 65536,
                wtmult: 4096,
                dtpref: 65536,
                maxfilesize: u64::MAX,
                time_delta: NfsTime3 { seconds: 0, nseconds: 1 },
                properties: nfs3::FSF3_HOMOGENEOUS | nfs3::FSF3_CANSETTIME,
            });
            reply_record(call.xid, SUCCESS, &ok)
        }
        (NFS_PROGRAM, 1) => {
            let ok: Reply<'_, nfs3::Getattr> = Ok(GetattrOk { attributes: dir_attributes() });
            reply_record(call.xid, SUCCESS, &ok)
        }
        (NFS_PROGRAM, 6) => match nfs3::ReadArgs::decode(&mut Reader::new(call.args)) {
            Ok(args) => {
                let data: Vec<u8> =
                    (args.offset..args.offset + u64::from(args.count)).map(file_byte).collect();
                let ok: Reply<'_, nfs3::Read> =
                    Ok(ReadOk { file_attributes: None, count: args.count, eof: false, data: &data });
                reply_record(call.xid, SUCCESS, &ok)
            }
            Err(_) => reply_record(call.xid, GARBAGE_ARGS, &()),
        },
        _ => reply_record(call.xid, PROC_UNAVAIL, &()),
    }
}

fn send(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), Stop> {
    stream.write_all(bytes).map_err(|_| Stop::Closed)
}

fn framed(record: &[u8]) -> Vec<u8> {
    [&record_mark(record.len())[..], record].concat()
}

/// Waits up to `d`, waking early when the server stops.
fn pause(shared: &Shared, d: Duration) -> Result<(), Stop> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if shared.stop.load(Ordering::Acquire) {
            return Err(Stop::Stopped);
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

/// A seeded xorshift, so garbage is the same on every run of a test.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn answer(stream: &mut TcpStream, record: &[u8], shared: &Shared) -> Result<(), Stop> {
    let Some(call) = parse_call(record) else { return Err(Stop::Closed) };
    let (behaviour, nth) = {
        let script = shared.script.lock().unwrap();
        if script.program == call.program && script.procedure == call.procedure {
            shared.counters.scripted_xids.lock().unwrap().push(call.xid);
            let port = stream.peer_addr().map_or(0, |a| a.port());
            shared.counters.scripted_ports.lock().unwrap().push(port);
            (script.behaviour.clone(), shared.counters.scripted_calls.fetch_add(1, Ordering::Relaxed) + 1)
        } else {
            (Behaviour::Normal, 0)
        }
    };
    let _ = call.args;
    let reply = correct_reply(&call);
    let started = Instant::now();
    match behaviour {
        Behaviour::Normal => send(stream, &framed(&reply)),
        Behaviour::OversizeLength { len } => {
            send(stream, &(LAST_FRAGMENT | len).to_be_bytes())?;
            send(stream, &reply)
        }
        Behaviour::EndlessFragments { fragment_len } => {
            let fragment =
                [&(fragment_len as u32 & !LAST_FRAGMENT).to_be_bytes()[..], &garbage(fragment_len, 7)]
                    .concat();
            while started.elapsed() < MAX_MISBEHAVIOUR {
                if shared.stop.load(Ordering::Acquire) {
                    return Err(Stop::Stopped);
                }
                send(stream, &fragment)?;
            }
            Err(Stop::Closed)
        }
        Behaviour::WrongXid => {
            let mut wrong = reply;
            wrong[..4].copy_from_slice(&call.xid.wrapping_add(1).to_be_bytes());
            send(stream, &framed(&wrong))
        }
        Behaviour::TruncatedBody => send(stream, &framed(&reply[..24 + (reply.len() - 24) / 2])),
        Behaviour::TruncatedRecordThenClose => {
            let whole = framed(&reply);
            send(stream, &whole[..whole.len() / 2])?;
            Err(Stop::Closed)
        }
        Behaviour::TruncatedRecordThenStall => {
            let whole = framed(&reply);
            send(stream, &whole[..whole.len() / 2])?;
            // Keep reading (and dropping) whatever else comes, without answering.
            stall(stream, shared)
        }
        Behaviour::GarbageRecord { len, seed } => {
            let mut record = garbage(len.max(4), seed);
            record[..4].copy_from_slice(&call.xid.to_be_bytes());
            send(stream, &framed(&record))
        }
        Behaviour::GarbageStream { len, seed } => send(stream, &garbage(len, seed)),
        Behaviour::Trickle { every } => {
            for byte in framed(&reply) {
                if started.elapsed() > MAX_MISBEHAVIOUR {
                    return Err(Stop::Closed);
                }
                send(stream, &[byte])?;
                pause(shared, every)?;
            }
            Ok(())
        }
        Behaviour::Close => Err(Stop::Closed),
        Behaviour::CloseFirst { times } if nth <= times => Err(Stop::Closed),
        Behaviour::CloseFirst { .. } => send(stream, &framed(&reply)),
        Behaviour::Silent => Ok(()),
        Behaviour::SilentFirst { times } if nth <= times => Ok(()),
        Behaviour::SilentFirst { .. } => send(stream, &framed(&reply)),
        Behaviour::Deaf => {
            pause(shared, MAX_MISBEHAVIOUR)?;
            Err(Stop::Closed)
        }
        Behaviour::GarbageArgs => send(stream, &framed(&reply_record(call.xid, GARBAGE_ARGS, &()))),
        Behaviour::StatusFirst { status, times } if nth <= times => {
            send(stream, &framed(&reply_record(call.xid, SUCCESS, &status)))
        }
        Behaviour::StatusFirst { .. } => send(stream, &framed(&reply)),
    }
}

/// Reads and discards until the peer closes, the server stops or [`MAX_MISBEHAVIOUR`] passes.
fn stall(stream: &mut TcpStream, shared: &Shared) -> Result<(), Stop> {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    while started.elapsed() < MAX_MISBEHAVIOUR {
        if shared.stop.load(Ordering::Acquire) {
            return Err(Stop::Stopped);
        }
        match stream.read(&mut sink) {
            Ok(0) => return Err(Stop::Closed),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(Stop::Closed),
        }
    }
    Err(Stop::Closed)
}
