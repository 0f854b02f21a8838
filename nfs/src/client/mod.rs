//! The client: mounts an export (portmap → MOUNT → FSINFO) and offers path-level calls on top of
//! the raw procedures. Blocking and thread-safe: a [`Client`] is cheap to clone and shared by
//! many threads, whose calls travel pipelined over the same connections.

mod batch;
mod channel;
mod dir;
mod file;
mod future;
mod names;
mod ops;
mod probe;
mod stats;
mod timer;
mod url;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nfsx_core::buf::landing::LandingZone;
use nfsx_core::net::{ReceiveMode, SocketOptions, TransportError};
use nfsx_core::ring::{BackendChoice, Reactor, ReactorConfig, ReactorError};

use crate::proto::nfs3::{
    self, Failed, Fattr3, FileHandle, FsinfoArgs, FsinfoOk, Nfsstat3, Procedure, ReadOkHead, WriteArgs,
};
use crate::proto::{
    mount, portmap, MOUNT_PROGRAM, MOUNT_VERSION, NFS_PROGRAM, NFS_VERSION, PORTMAP_PROGRAM, PORTMAP_VERSION,
};
use crate::rpc::{AuthSys, Credential, XidAllocator};
use crate::xdr::{Decode, Encode, Reader, Writer};
use crate::{Error, Result};

pub use batch::{Batch, BatchReply};
pub use channel::{ChannelStats, ConnectionStats, InFlight, ReceiveBufferStats, RetryPolicy};
pub use dir::{DirEntry, ReadDir};
pub use file::{File, OpenOptions};
pub use future::CallFuture;
pub use ops::{FsStat, PathConf};
pub use stats::OpStats;
pub use url::{MountOptions, ReceiveBackend, DEFAULT_IO_SIZE, MAX_IN_FLIGHT, MAX_NCONNECT, MAX_RINGS};

use channel::{Channel, ChannelConfig, Reply};
use names::NameCache;

/// The well-known portmapper port (RFC 1833).
const PORTMAP_PORT: u16 = 111;
/// NFS's registered port, used when the portmapper does not know it.
const NFS_DEFAULT_PORT: u16 = 2049;
/// Payload bound for the small bootstrap connections (portmap, MOUNT).
const BOOTSTRAP_MAX_PAYLOAD: usize = 1 << 20;

/// A mounted export. Clones share connections, caches and statistics.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: MountOptions,
    nfs: Channel,
    /// The export's root handle, and the handle of the URL's directory inside it (paths start here).
    export_root: FileHandle,
    root: FileHandle,
    export: String,
    mount_addr: SocketAddr,
    fsinfo: FsInfo,
    names: NameCache,
    readdirplus_unsupported: AtomicBool,
    timer: timer::Timer,
    credential: Credential,
    xids: Arc<XidAllocator>,
    /// Who receives on the NFS connections (the channel holds the same).
    receive_mode: ReceiveMode,
}

/// What FSINFO said, and the transfer sizes chosen from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    pub rtmax: u32,
    pub rtpref: u32,
    pub wtmax: u32,
    pub wtpref: u32,
    pub dtpref: u32,
    pub maxfilesize: u64,
    pub properties: u32,
    /// READ size in use: the URL's rsize, never above the server's rtmax.
    pub rsize: u32,
    /// WRITE size in use: the URL's wsize, never above the server's wtmax.
    pub wsize: u32,
}

/// Encodes WRITE arguments up to the data, so the payload can go from the caller's memory.
struct WriteHead<'a, 'b>(&'b WriteArgs<'a>);

impl Encode for WriteHead<'_, '_> {
    fn encoded_len(&self) -> usize {
        self.0.encoded_len() - self.0.data.len() - self.0.payload_padding()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.0.encode_without_payload(w);
    }
}

impl Client {
    /// Mounts the export named by an `nfs://` URL (see [`MountOptions`]).
    pub fn mount(url: &str) -> Result<Client> {
        Client::mount_with(MountOptions::parse(url)?)
    }

    pub fn mount_with(opts: MountOptions) -> Result<Client> {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().rotate_left(16);
        let xids = Arc::new(XidAllocator::new(seed));
        let machine_name = hostname();
        let credential = Credential::sys(&AuthSys {
            stamp: seed,
            machine_name,
            uid: opts.uid,
            gid: opts.gid,
            gids: opts.aux_gids.clone(),
        })
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let defaults = SocketOptions::default();
        let socket = SocketOptions {
            reserved_port: opts.reserved_port,
            // A connect or a send that gets nowhere within `timeo` counts as a timeout, as a
            // reply that does not come does.
            connect_timeout: opts.timeout.min(defaults.connect_timeout),
            send_timeout: Some(opts.timeout),
            send_buffer_bytes: opts.send_buffer_bytes,
            recv_buffer_bytes: opts.recv_buffer_bytes,
            ..defaults
        };
        let retry = RetryPolicy { timeout: opts.timeout, retrans: opts.retrans, hard: opts.hard };
        let server = opts.server_addrs[0];

        let bootstrap = |port: u16| {
            Channel::new(
                &[SocketAddr::new(server, port)],
                &opts.local_addrs,
                bootstrap_config(socket.clone(), retry),
                credential.clone(),
                Arc::clone(&xids),
            )
        };
        let mount_port = match opts.mount_port {
            Some(port) => port,
            None => getport(&bootstrap(PORTMAP_PORT), MOUNT_PROGRAM, MOUNT_VERSION)?.ok_or_else(|| {
                Error::Protocol { procedure: "GETPORT", reason: "MOUNT v3 over TCP is not registered".into() }
            })?,
        };
        let nfs_port = match opts.nfs_port {
            Some(port) => port,
            None => getport(&bootstrap(PORTMAP_PORT), NFS_PROGRAM, NFS_VERSION)?.unwrap_or(NFS_DEFAULT_PORT),
        };
        let mount_channel = bootstrap(mount_port);
        let (export, subpath) = choose_export(&mount_channel, &opts.path)?;
        let export_root = mnt(&mount_channel, &export)?;

        let servers: Vec<SocketAddr> =
            opts.server_addrs.iter().map(|&ip| SocketAddr::new(ip, nfs_port)).collect();
        let config = ChannelConfig {
            socket,
            nconnect: opts.nconnect,
            max_in_flight: opts.max_in_flight,
            max_payload: opts.rsize.max(opts.wsize) as usize,
            retry,
            mdconnect: opts.mdconnect,
            max_buffers: opts.max_buffers,
            receive_mode: receive_mode(&opts, servers.len() * opts.nconnect, servers[0])?,
        };
        let receive_mode = config.receive_mode.clone();
        let nfs = Channel::new(&servers, &opts.local_addrs, config, credential.clone(), Arc::clone(&xids));
        nfs.connect_all()?;
        let fsinfo = fetch_fsinfo(&nfs, &export_root, &opts)?;
        let names = NameCache::new(opts.name_cache_ttl);
        let mut inner = Inner {
            opts,
            nfs,
            export_root,
            root: export_root,
            export,
            mount_addr: SocketAddr::new(server, mount_port),
            fsinfo,
            names,
            readdirplus_unsupported: AtomicBool::new(false),
            timer: timer::Timer::default(),
            credential,
            xids,
            receive_mode,
        };
        if !subpath.is_empty() {
            let client = Client { inner: Arc::new(inner) };
            let (fh, attrs) = client.resolve(&subpath, true)?;
            if attrs.is_some_and(|a| a.ftype != nfs3::Ftype3::Dir) {
                return Err(Error::Nfs { procedure: "LOOKUP", status: nfs3::Nfsstat3::Notdir });
            }
            inner = Arc::try_unwrap(client.inner)
                .map_err(|_| Error::InvalidArgument("client shared during mount".into()))?;
            inner.root = fh;
        }
        Ok(Client { inner: Arc::new(inner) })
    }

    /// Tells the server's MOUNT service we are done (UMNT). Connections close when the last
    /// clone is dropped.
    pub fn umount(&self) -> Result<()> {
        if self.inner.nfs.is_shut_down() {
            return Ok(());
        }
        let channel = self.mount_channel();
        let args = mount::UmntArgs { dirpath: self.inner.export.as_bytes() };
        let call = channel.encode(MOUNT_PROGRAM, MOUNT_VERSION, mount::MOUNTPROC3_UMNT, "UMNT", &args, &[]);
        channel.call(call)?;
        Ok(())
    }

    /// Abandons every call in flight (they fail with [`Error::ShutDown`], EIO) and refuses new
    /// ones, without waiting for the server, even in hard mode: for tearing a job or a mount down
    /// when the server is gone. Shared by every clone of this client; [`Client::umount`] then
    /// sends nothing.
    pub fn shut_down(&self) {
        self.inner.nfs.shut_down();
    }

    fn mount_channel(&self) -> Channel {
        let socket =
            SocketOptions { reserved_port: self.inner.opts.reserved_port, ..SocketOptions::default() };
        let retry =
            RetryPolicy { timeout: self.inner.opts.timeout, retrans: self.inner.opts.retrans, hard: false };
        Channel::new(
            &[self.inner.mount_addr],
            &self.inner.opts.local_addrs,
            bootstrap_config(socket, retry),
            self.inner.credential.clone(),
            Arc::clone(&self.inner.xids),
        )
    }

    /// Lists the server's exports (MOUNT EXPORT) as (directory, groups allowed).
    pub fn exports(&self) -> Result<Vec<(String, Vec<String>)>> {
        exports(&self.mount_channel())
    }

    /// Lists the clients the server believes have mounts (MOUNT DUMP) as (host, directory).
    pub fn mounts(&self) -> Result<Vec<(String, String)>> {
        let reply = self.mount_call(mount::MOUNTPROC3_DUMP, "DUMP")?;
        let list = mount::MountList::from_xdr(reply.body())
            .map_err(|source| Error::Decode { procedure: "DUMP", source })?;
        Ok(list.entries.iter().map(|e| (lossy(e.hostname), lossy(e.directory))).collect())
    }

    /// MOUNT's NULL procedure: is the MOUNT service answering?
    pub fn ping_mount(&self) -> Result<()> {
        self.mount_call(mount::MOUNTPROC3_NULL, "MOUNT NULL").map(drop)
    }

    /// UMNTALL: tells the server this host has unmounted everything.
    pub fn umount_all(&self) -> Result<()> {
        self.mount_call(mount::MOUNTPROC3_UMNTALL, "UMNTALL").map(drop)
    }

    fn mount_call(&self, procedure: u32, name: &'static str) -> Result<Reply> {
        let channel = self.mount_channel();
        let call = channel.encode(MOUNT_PROGRAM, MOUNT_VERSION, procedure, name, &(), &[]);
        channel.call(call)
    }

    pub fn options(&self) -> &MountOptions {
        &self.inner.opts
    }

    pub fn fsinfo(&self) -> FsInfo {
        self.inner.fsinfo
    }

    /// The handle paths are resolved from: the URL's directory.
    pub fn root_handle(&self) -> FileHandle {
        self.inner.root
    }

    /// The export's own root handle, as MOUNT returned it.
    pub fn export_root_handle(&self) -> FileHandle {
        self.inner.export_root
    }

    pub fn stats(&self) -> &ChannelStats {
        self.inner.nfs.stats()
    }

    pub fn connections(&self) -> usize {
        self.inner.nfs.connections()
    }

    /// Whether the event loops send the requests (`submit=ring`) rather than each caller.
    /// Without event loops (`rtc=1`, `backend=threads`) callers send whatever `submit` says.
    pub fn sends_through_rings(&self) -> bool {
        matches!(&self.inner.receive_mode, ReceiveMode::Reactor(reactor) if reactor.queued_sends())
    }

    /// Who receives replies on the NFS connections: `"io_uring"` or `"epoll"` (the client's
    /// event loops), `"threads"` (a reader thread per connection) or `"caller"` (`rtc=1`).
    pub fn receive_backend(&self) -> &'static str {
        match &self.inner.receive_mode {
            ReceiveMode::Reactor(reactor) => match reactor.backend() {
                nfsx_core::ring::Backend::Uring => "io_uring",
                nfsx_core::ring::Backend::Epoll => "epoll",
            },
            ReceiveMode::Caller => "caller",
            _ => "threads",
        }
    }

    /// Event loop threads receiving for this client (0 without a reactor).
    pub fn receive_threads(&self) -> usize {
        match &self.inner.receive_mode {
            ReceiveMode::Reactor(reactor) => reactor.threads(),
            _ => 0,
        }
    }

    /// Per-procedure counts, errors and latency, like `nfsiostat`.
    pub fn op_stats(&self) -> Vec<OpStats> {
        stats::snapshot(&self.inner.nfs.stats().ops)
    }

    /// How many receive buffers large replies needed (each `rsize` bytes, mapped once and
    /// reused), and how often one was reused.
    pub fn receive_buffer_stats(&self) -> ReceiveBufferStats {
        self.inner.nfs.receive_buffer_stats()
    }

    /// Per-connection counters.
    pub fn connection_stats(&self) -> Vec<ConnectionStats> {
        self.inner.nfs.connection_stats()
    }

    /// The NULL procedure: a round trip that does nothing, for liveness and latency checks.
    pub fn null(&self) -> Result<()> {
        let call =
            self.inner.nfs.encode(NFS_PROGRAM, NFS_VERSION, nfs3::Null::NUMBER, nfs3::Null::NAME, &(), &[]);
        self.inner.nfs.call(call).map(drop)
    }

    /// Runs one NFSv3 procedure and hands its successful result to `on_ok`, which borrows from the
    /// reply buffer (no copies). A failure status becomes [`Error::Nfs`].
    pub fn call<P: Procedure, T>(
        &self,
        args: &P::Args<'_>,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>) -> T,
    ) -> Result<T> {
        let inflight = self.start_waiting::<P>(args, None)?;
        self.finish::<P, T>(inflight, on_ok)
    }

    /// Like [`Client::call`], but a failure status comes back with the detail the server sent
    /// with it (weak cache consistency data, attributes) instead of as an error.
    pub fn call_full<P: Procedure, T, U>(
        &self,
        args: &P::Args<'_>,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>) -> T,
        on_fail: impl for<'r> FnOnce(Failed<P::Fail<'r>>) -> U,
    ) -> Result<std::result::Result<T, U>> {
        let inflight = self.start_waiting::<P>(args, None)?;
        let reply = self.inner.nfs.wait(inflight)?;
        let result = decode_result::<P>(&reply)?;
        Ok(result.map(on_ok).map_err(on_fail))
    }

    /// Sends one procedure without waiting, so many can be in flight from one thread. A READ,
    /// READDIR or READDIRPLUS reserves a receive buffer first; when all are in use (`maxbuffers`:
    /// views of earlier replies still held, or calls in flight) it is not sent and this returns
    /// [`Error::ReceiveBuffersBusy`] (ENOBUFS): finish or drop something, then try again.
    pub fn start<'a, P: Procedure>(&self, args: &P::Args<'a>) -> Result<InFlight<'static>> {
        self.start_into::<P>(args, None)
    }

    /// As [`Client::start`], offering `zone` of the caller's memory for the reply's payload (a
    /// READ's data), which then may be read straight into it ([`Reply::landed`]).
    pub(crate) fn start_into<'a, P: Procedure>(
        &self,
        args: &P::Args<'a>,
        zone: Option<&LandingZone>,
    ) -> Result<InFlight<'static>> {
        let mut call = self.inner.nfs.encode(NFS_PROGRAM, NFS_VERSION, P::NUMBER, P::NAME, args, &[]);
        if let Some(zone) = zone {
            call.land_data_in(zone.clone());
        }
        self.inner.nfs.send(call)
    }

    /// As [`Client::start_into`], for a caller whose earlier calls complete without it (it is
    /// about to wait for this one, or a reaper thread takes its completions): while the receive
    /// buffers are all in use it waits, up to `timeo`, for one to come back.
    pub(crate) fn start_waiting<'a, P: Procedure>(
        &self,
        args: &P::Args<'a>,
        zone: Option<&LandingZone>,
    ) -> Result<InFlight<'static>> {
        let deadline = self.inner.nfs.receive_buffer_deadline();
        loop {
            match self.start_into::<P>(args, zone) {
                Err(Error::ReceiveBuffersBusy { .. }) if self.inner.nfs.wait_for_receive_buffer(deadline) => {
                }
                started => return started,
            }
        }
    }

    /// Waits for a procedure sent with [`Client::start`].
    pub fn finish<P: Procedure, T>(
        &self,
        inflight: InFlight<'_>,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>) -> T,
    ) -> Result<T> {
        self.finish_with_reply::<P, T>(inflight, |ok, _| on_ok(ok))
    }

    /// Waits for a READ whose call may have lent memory for its data ([`Client::start_into`]):
    /// `on_ok` gets the reply's head, and its data unless that was read into the lent memory.
    pub(crate) fn finish_read<T>(
        &self,
        inflight: InFlight<'_>,
        on_ok: impl for<'r> FnOnce(ReadOkHead, Option<&'r [u8]>, &'r Reply) -> T,
    ) -> Result<T> {
        let reply = self.inner.nfs.wait(inflight)?;
        if reply.landed() {
            // The framer lent the data only for a successful READ, whose head this is.
            let mut r = Reader::new(reply.body());
            let head = r
                .u32("nfsstat3")
                .and_then(|_| ReadOkHead::decode(&mut r))
                .and_then(|head| r.finish().map(|()| head))
                .map_err(|source| Error::Decode { procedure: nfs3::Read::NAME, source })?;
            return Ok(on_ok(head, None, &reply));
        }
        self.settle::<nfs3::Read, T>(&reply, |ok, reply| {
            let head = ReadOkHead {
                file_attributes: ok.file_attributes,
                count: ok.count,
                eof: ok.eof,
                data_len: ok.data.len(),
            };
            on_ok(head, Some(ok.data), reply)
        })
    }

    /// As [`Client::finish`], with the reply itself, so parts of it can be kept as views.
    pub(crate) fn finish_with_reply<P: Procedure, T>(
        &self,
        inflight: InFlight<'_>,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>, &'r Reply) -> T,
    ) -> Result<T> {
        let reply = self.inner.nfs.wait(inflight)?;
        self.settle::<P, T>(&reply, on_ok)
    }

    /// A reply's outcome: `on_ok` of its result, or its failure status as [`Error::Nfs`]
    /// (counted as an error of its procedure).
    pub(crate) fn settle<P: Procedure, T>(
        &self,
        reply: &Reply,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>, &'r Reply) -> T,
    ) -> Result<T> {
        match decode_result::<P>(reply)? {
            Ok(ok) => Ok(on_ok(ok, reply)),
            Err(failed) => {
                self.inner.nfs.note_failure_status(reply);
                Err(Error::Nfs { procedure: P::NAME, status: failed.status })
            }
        }
    }

    /// Runs a procedure that cannot safely be carried out twice (REMOVE, RENAME, MKDIR...).
    /// When the call had to be re-sent and the server answers `done_status` (ENOENT for a
    /// REMOVE, EEXIST for a MKDIR), an earlier copy did the work and only its reply was lost:
    /// the outcome is `Ok(None)`, not an error.
    pub(crate) fn call_once<P: Procedure, T>(
        &self,
        args: &P::Args<'_>,
        done_status: Nfsstat3,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>) -> T,
    ) -> Result<Option<T>> {
        let inflight = self.start_waiting::<P>(args, None)?;
        self.finish_once::<P, T>(inflight, done_status, on_ok)
    }

    /// Waits for a procedure that cannot safely be carried out twice, sent with
    /// [`Client::start`]: as [`Client::call_once`].
    pub(crate) fn finish_once<P: Procedure, T>(
        &self,
        inflight: InFlight<'_>,
        done_status: Nfsstat3,
        on_ok: impl for<'r> FnOnce(P::Ok<'r>) -> T,
    ) -> Result<Option<T>> {
        let reply = self.inner.nfs.wait(inflight)?;
        let result = match decode_result::<P>(&reply)? {
            Ok(ok) => Ok(Some(on_ok(ok))),
            Err(failed) if reply.resent() && failed.status == done_status => Ok(None),
            Err(failed) => {
                self.inner.nfs.note_failure_status(&reply);
                Err(Error::Nfs { procedure: P::NAME, status: failed.status })
            }
        };
        result
    }

    /// Sends a WRITE whose data goes out from `args.data` in place, gathered behind the header.
    pub fn start_write<'a>(&self, args: &WriteArgs<'a>) -> Result<InFlight<'a>> {
        let call = self.inner.nfs.encode(
            NFS_PROGRAM,
            NFS_VERSION,
            nfs3::Write::NUMBER,
            nfs3::Write::NAME,
            &WriteHead(args),
            args.data,
        );
        self.inner.nfs.send(call)
    }
}

fn decode_result<P: Procedure>(reply: &Reply) -> Result<std::result::Result<P::Ok<'_>, Failed<P::Fail<'_>>>> {
    let mut r = Reader::new(reply.body());
    let result = <std::result::Result<P::Ok<'_>, Failed<P::Fail<'_>>>>::decode(&mut r)
        .and_then(|v| r.finish().map(|()| v))
        .map_err(|source| Error::Decode { procedure: P::NAME, source })?;
    Ok(result)
}

/// Who receives on the NFS channel's `connections`: the caller (`rtc=1`), a reader thread per
/// connection (`backend=threads`), or the client's own reactor, whose loops are never more than
/// the connections (an idle loop is a thread for nothing).
fn receive_mode(opts: &MountOptions, connections: usize, server: SocketAddr) -> Result<ReceiveMode> {
    if opts.run_to_completion {
        return Ok(ReceiveMode::Caller);
    }
    let backend = match opts.receive_backend {
        ReceiveBackend::Threads => return Ok(ReceiveMode::Thread),
        ReceiveBackend::Auto => BackendChoice::Auto,
        ReceiveBackend::Uring => BackendChoice::Uring,
        ReceiveBackend::Epoll => BackendChoice::Epoll,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = ReactorConfig {
        threads: opts.rings.unwrap_or(cpus).min(connections).max(1),
        backend,
        // Every connection, plus one replacing each (a closed connection leaves its loop when
        // its last receive completes, moments after the new one registers), plus slack.
        max_connections_per_loop: 2 * connections + 16,
        queued_sends: opts.ring_sends,
    };
    match Reactor::start(config) {
        Ok(reactor) => Ok(ReceiveMode::Reactor(reactor)),
        Err(e @ ReactorError::UringUnavailable { .. }) => {
            Err(Error::InvalidArgument(format!("backend=uring: {e}")))
        }
        Err(e) => {
            Err(Error::Transport(TransportError::Receive { addr: server, source: std::io::Error::other(e) }))
        }
    }
}

/// Portmap and MOUNT: one connection, a few calls, never retried for ever.
fn bootstrap_config(socket: SocketOptions, retry: RetryPolicy) -> ChannelConfig {
    ChannelConfig {
        socket,
        nconnect: 1,
        max_in_flight: 4,
        max_payload: BOOTSTRAP_MAX_PAYLOAD,
        retry: RetryPolicy { hard: false, ..retry },
        mdconnect: 0,
        max_buffers: None,
        receive_mode: ReceiveMode::Thread,
    }
}

fn getport(channel: &Channel, program: u32, version: u32) -> Result<Option<u16>> {
    let args = portmap::Mapping { prog: program, vers: version, prot: portmap::IPPROTO_TCP, port: 0 };
    let call =
        channel.encode(PORTMAP_PROGRAM, PORTMAP_VERSION, portmap::PMAPPROC_GETPORT, "GETPORT", &args, &[]);
    let reply = channel.call(call)?;
    let port =
        u32::from_xdr(reply.body()).map_err(|source| Error::Decode { procedure: "GETPORT", source })?;
    match u16::try_from(port) {
        Ok(0) => Ok(None),
        Ok(port) => Ok(Some(port)),
        Err(_) => Err(Error::Protocol { procedure: "GETPORT", reason: format!("port {port} out of range") }),
    }
}

fn exports(channel: &Channel) -> Result<Vec<(String, Vec<String>)>> {
    let call = channel.encode(MOUNT_PROGRAM, MOUNT_VERSION, mount::MOUNTPROC3_EXPORT, "EXPORT", &(), &[]);
    let reply = channel.call(call)?;
    let list = mount::ExportList::from_xdr(reply.body())
        .map_err(|source| Error::Decode { procedure: "EXPORT", source })?;
    Ok(list.entries.iter().map(|e| (lossy(e.dir), e.groups.iter().map(|g| lossy(g)).collect())).collect())
}

/// Splits the URL's path into the export to mount and the path inside it: the longest export
/// that is a whole-component prefix wins. Servers that won't list exports get the whole path.
fn choose_export(channel: &Channel, path: &str) -> Result<(String, String)> {
    let path = if path.is_empty() { "/" } else { path };
    let Ok(list) = exports(channel) else {
        return Ok((path.to_string(), String::new()));
    };
    let best = list
        .iter()
        .map(|(dir, _)| dir.trim_end_matches('/'))
        .filter(|dir| {
            path == *dir || dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|dir| dir.len());
    match best {
        Some(dir) if !dir.is_empty() => {
            Ok((dir.to_string(), path[dir.len()..].trim_start_matches('/').to_string()))
        }
        _ => Ok((path.to_string(), String::new())),
    }
}

fn mnt(channel: &Channel, export: &str) -> Result<FileHandle> {
    let args = mount::MntArgs { dirpath: export.as_bytes() };
    let call = channel.encode(MOUNT_PROGRAM, MOUNT_VERSION, mount::MOUNTPROC3_MNT, "MNT", &args, &[]);
    let reply = channel.call(call)?;
    let result = <std::result::Result<mount::MntOk<'_>, mount::Mountstat3>>::from_xdr(reply.body())
        .map_err(|source| Error::Decode { procedure: "MNT", source })?;
    let ok = result.map_err(|status| Error::Mount { path: export.to_string(), status })?;
    let usable = ok.auth_flavors.is_empty()
        || ok.auth_flavors.iter().any(|&f| f == crate::rpc::AUTH_SYS || f == crate::rpc::AUTH_NONE);
    if !usable {
        return Err(Error::Protocol {
            procedure: "MNT",
            reason: format!(
                "export {export} accepts none of AUTH_SYS or AUTH_NONE (offers {:?})",
                ok.auth_flavors
            ),
        });
    }
    Ok(ok.fhandle.to_owned())
}

fn fetch_fsinfo(nfs: &Channel, root: &FileHandle, opts: &MountOptions) -> Result<FsInfo> {
    let args = FsinfoArgs { fsroot: root.as_fh() };
    let call = nfs.encode(NFS_PROGRAM, NFS_VERSION, nfs3::Fsinfo::NUMBER, nfs3::Fsinfo::NAME, &args, &[]);
    let reply = nfs.call(call)?;
    let ok: FsinfoOk = decode_result::<nfs3::Fsinfo>(&reply)?
        .map_err(|f| Error::Nfs { procedure: "FSINFO", status: f.status })?;
    // A server that advertises 0 sets no limit of its own; keep ours.
    let clamp = |wanted: u32, max: u32| if max == 0 { wanted } else { wanted.min(max) };
    Ok(FsInfo {
        rtmax: ok.rtmax,
        rtpref: ok.rtpref,
        wtmax: ok.wtmax,
        wtpref: ok.wtpref,
        dtpref: ok.dtpref,
        maxfilesize: ok.maxfilesize,
        properties: ok.properties,
        rsize: clamp(opts.rsize, ok.rtmax).max(512),
        wsize: clamp(opts.wsize, ok.wtmax).max(512),
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().chars().take(crate::rpc::MAX_MACHINE_NAME_LEN).collect())
        .unwrap_or_else(|_| "nfsx".to_string())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Attributes, when the server sent them.
pub type Attributes = Option<Fattr3>;
