//! The nfs3_client driver: the `getattr` and `io` workloads through the Rust crate
//! `nfs3_client` (0.9, tokio), for `compare --with nfs3_client`. It is a hidden mode of this
//! binary (`nfsx-bench nfs3-client-driver <workload> ...`, started by
//! `child::nfs3_client_command`) and prints the same JSON phase lines as the other two drivers,
//! measured the same way: ops, bytes, seconds, this process's getrusage CPU, the server's CPU,
//! HDR latency percentiles.
//!
//! nfs3_client's calls take `&mut self` and wait for their reply, so one connection carries one
//! call at a time. Queue depth Q is emulated with Q connections per thread, each its own mount
//! (portmap, MNT, then its own NFS connection), each driven by one tokio task. The `--threads`
//! T thread groups (one file each, as in the other drivers) share one tokio runtime: a
//! current-thread runtime for T = 1, else a multi-thread runtime with T workers.
//!
//! ```text
//!  group t (file getattr.t<t> or io.t<t>)        one tokio runtime, T worker threads
//!    task 0 ── Nfs3Client ── TCP ──┐
//!    task 1 ── Nfs3Client ── TCP ──┼──▶ server    the next request index: one counter per group
//!    ... Q tasks                   ┘
//! ```
//!
//! Its costs are measured as it is used: nfs3_client encodes each call into a fresh `Vec` (so
//! a WRITE's payload, lent to it as a borrowed slice of the pattern, is copied once there),
//! reads each reply into a fresh zeroed `Vec` and copies a READ's data out into another one.
//! It has no timeouts of its own: every call here is bounded by [`CALL_TIMEOUT`], every mount by
//! [`MOUNT_TIMEOUT`], and the whole process by the `--timeout` watchdog.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nfs3_client::nfs3_types::nfs3::{
    createhow3, diropargs3, filename3, nfs_fh3, sattr3, stable_how, COMMIT3args, CREATE3args, FSINFO3args,
    GETATTR3args, MKDIR3args, Nfs3Option, Nfs3Result, READ3args, REMOVE3args, RMDIR3args, WRITE3args,
};
use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use nfs3_client::tokio::{TokioConnector, TokioIo};
use nfs3_client::{Nfs3Client, Nfs3ConnectionBuilder, RpcError};
use serde_json::json;
use tokio::net::TcpStream;

use crate::child;
use crate::cli::{Opts, Workload};
use crate::pattern;
use crate::stats::{self, PhaseResult};
use crate::workloads::{self, PhaseClock, ThreadPhase};

/// Exit status of a driver that cannot run the workload as asked (not a failure: `compare`
/// leaves nfs3_client out and says why).
pub const CANNOT_EXIT: u8 = 4;
/// Exit status of a driver whose `--verify` found data that differs from what was written:
/// `compare` fails, as it does for the other clients.
pub const BAD_DATA_EXIT: u8 = 5;

/// Longest wait for one reply (as the libnfs driver's `nfs_set_timeout`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a mount (portmap, MNT, NFS connect) may take.
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most connections one run opens (threads x qd). With reserved source ports each takes two of
/// the 724 ports nfs3_client tries (300..=1023), which stay in TIME_WAIT for a minute after the
/// run; 256 leaves room for the next run.
pub const CONNECTIONS_MAX: u32 = 256;

/// URL options nfs3_client applies. Every other option tunes nfsx's own transport (nconnect,
/// rtc, rsize, timeouts...) or names more server paths (addrs), which nfs3_client does not have.
const APPLIED_OPTIONS: &[&str] =
    &["uid", "gid", "gids", "auxgids", "nfsport", "mountport", "resvport", "noresvport", "version"];

/// Why a run did not happen or did not finish.
#[derive(Debug)]
pub enum Failure {
    /// nfs3_client cannot do this (a limit or a feature it lacks): leave it out, say why.
    Cannot(String),
    Failed(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Failed(s)
    }
}

type Conn = Nfs3Client<TokioIo<TcpStream>>;

/// Where and as whom nfs3_client mounts, from the nfsx URL.
#[derive(Debug, Clone)]
pub struct Target {
    addr: IpAddr,
    export: String,
    nfs_port: Option<u16>,
    mount_port: Option<u16>,
    reserved_port: bool,
    uid: u32,
    gid: u32,
    gids: Vec<u32>,
}

/// Reads the URL the way nfsx does (same syntax, same defaults: uid 0, gid 0, reserved port).
pub fn target(url: &str) -> Result<Target, Failure> {
    let m = nfsx::MountOptions::parse(url).map_err(|e| Failure::Failed(format!("{e}")))?;
    let addr = *m.server_addrs.first().ok_or_else(|| Failure::Failed(format!("{url}: no address")))?;
    if addr.is_ipv6() && m.reserved_port {
        return Err(Failure::Cannot(
            "nfs3_client binds reserved source ports over IPv4 only; add noresvport to the URL".into(),
        ));
    }
    Ok(Target {
        addr,
        export: m.path,
        nfs_port: m.nfs_port,
        mount_port: m.mount_port,
        reserved_port: m.reserved_port,
        uid: m.uid,
        gid: m.gid,
        gids: m.aux_gids,
    })
}

/// The URL's options that nfs3_client ignores (said once by `compare`).
pub fn ignored_options(url: &str) -> Vec<String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| !APPLIED_OPTIONS.contains(&kv.split('=').next().unwrap_or("")))
        .map(str::to_string)
        .collect()
}

/// What `compare` can tell before running it: the workload, the URL, the connection count.
pub fn precheck(workload: Workload, o: &Opts) -> Result<(), Failure> {
    if workload == Workload::Md {
        return Err(Failure::Cannot("it is measured on the getattr and io workloads only".into()));
    }
    let connections = o.threads.saturating_mul(o.qd);
    if connections > CONNECTIONS_MAX {
        return Err(Failure::Cannot(format!(
            "it keeps one call in flight per connection, so --threads {} x --qd {} would need {connections} \
             connections (at most {CONNECTIONS_MAX})",
            o.threads, o.qd
        )));
    }
    target(&o.url).map(|_| ())
}

/// How the runtime is described in the results.
pub fn runtime_name(threads: u32) -> String {
    if threads == 1 {
        "tokio current-thread".into()
    } else {
        format!("tokio multi-thread, {threads} workers")
    }
}

/// One line for the table: how nfs3_client is driven.
pub fn describe(o: &Opts) -> String {
    format!(
        "nfs3_client keeps one call in flight per connection: --qd {} runs as {} connections per thread \
         (each its own mount), one task each, on a {} runtime",
        o.qd,
        o.qd,
        runtime_name(o.threads)
    )
}

/// Runs `workload` through nfs3_client; each phase's result goes to `emit` once measured.
pub fn run(
    workload: Workload,
    o: &Opts,
    emit: impl FnMut(&PhaseResult),
) -> Result<Vec<PhaseResult>, Failure> {
    precheck(workload, o)?;
    let target = target(&o.url)?;
    let mut builder = if o.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(o.threads as usize);
        b
    };
    let rt = builder.enable_all().build().map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    rt.block_on(run_async(workload, o, target, emit))
}

/// The fixed state of one thread group: its file and how its blocks are laid out.
#[derive(Debug)]
struct Group {
    id: u64,
    fh: nfs_fh3,
    bs: u64,
    seed: u64,
    verify: bool,
    pattern: Arc<Vec<u8>>,
    order: Vec<u64>,
}

impl Group {
    fn block(&self, block: u64) -> &[u8] {
        let k = pattern::block_key(self.seed, self.id, block);
        &self.pattern[k..k + self.bs as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Getattr,
    Null,
    Write,
    Read,
}

async fn run_async(
    workload: Workload,
    o: &Opts,
    target: Target,
    mut emit: impl FnMut(&PhaseResult),
) -> Result<Vec<PhaseResult>, Failure> {
    let prefix = workloads::run_prefix("nfs3_client");
    let (mut setup, root) = mount(&target).await?;
    let dir = mkdir(&mut setup, &root, &prefix).await?;
    let mut names = Vec::new();
    let result = measure(workload, o, &target, &mut setup, &root, &dir, &mut names, &mut emit).await;
    child::await_step(o.stepped);
    // Best-effort removal of what the run made (not timed).
    for name in &names {
        let args = REMOVE3args {
            object: diropargs3 { dir: dir.clone(), name: filename3(Opaque::borrowed(name.as_bytes())) },
        };
        let _ = tokio::time::timeout(CALL_TIMEOUT, setup.remove(&args)).await;
    }
    let args = RMDIR3args {
        object: diropargs3 { dir: root.clone(), name: filename3(Opaque::borrowed(prefix.as_bytes())) },
    };
    let _ = tokio::time::timeout(CALL_TIMEOUT, setup.rmdir(&args)).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    workload: Workload,
    o: &Opts,
    target: &Target,
    setup: &mut Conn,
    root: &nfs_fh3,
    dir: &nfs_fh3,
    names: &mut Vec<String>,
    emit: &mut impl FnMut(&PhaseResult),
) -> Result<Vec<PhaseResult>, Failure> {
    let io = workload == Workload::Io;
    if io {
        check_io_sizes(setup, root, o).await?;
    }
    let pattern = Arc::new(if io { pattern::make(o.seed, o.bs as usize) } else { Vec::new() });
    let blocks = if io { o.size / o.bs } else { 0 };
    let mut groups = Vec::new();
    for t in 0..o.threads as u64 {
        let name = format!("{}.t{t}", workload.name());
        let fh = create(setup, dir, &name).await?;
        names.push(name);
        groups.push(Arc::new(Group {
            id: t,
            fh,
            bs: o.bs,
            seed: o.seed,
            verify: o.verify,
            pattern: Arc::clone(&pattern),
            order: if io { pattern::block_order(o.seed, t, blocks, o.rw.is_random()) } else { Vec::new() },
        }));
    }
    let mut conns: Vec<Vec<Conn>> = Vec::new();
    for _ in &groups {
        let mut group = Vec::new();
        for _ in 0..o.qd {
            group.push(mount(target).await?.0);
        }
        conns.push(group);
    }

    // (name, operation, timed, verifies), as in the nfsx driver (workloads/io.rs).
    let specs: Vec<(&str, Op, bool, bool)> = match workload {
        Workload::Getattr => vec![("getattr", Op::Getattr, true, false)],
        Workload::Null => vec![("null", Op::Null, true, false)],
        _ if o.rw.is_read() => vec![("layout", Op::Write, false, false), ("read", Op::Read, true, true)],
        _ if o.verify => vec![("write", Op::Write, true, false), ("read", Op::Read, false, true)],
        _ => vec![("write", Op::Write, true, false)],
    };
    let mut params = workloads::parameters(workload, o);
    params.insert("connections_per_thread".into(), json!(o.qd));
    params.insert("runtime".into(), json!(runtime_name(o.threads)));
    let env = stats::environment(&o.url, o.server_pid);
    let mut written = vec![0u64; groups.len()];
    let mut out = Vec::new();
    if o.stepped {
        println!("{}", child::READY);
    }
    for (name, op, timed, verifies) in specs {
        if !child::await_step(o.stepped) {
            return Err(Failure::Failed(format!("stdin closed before the {name} phase")));
        }
        let started = Instant::now();
        let deadline =
            started + if timed { Duration::from_secs_f64(o.duration) } else { Duration::from_secs(86_400) };
        let clock = PhaseClock::start(o.server_pid);
        let mut handles = Vec::new();
        for (k, (group, group_conns)) in groups.iter().zip(conns.drain(..)).enumerate() {
            let limit = match op {
                Op::Getattr | Op::Null => o.ops.unwrap_or(u64::MAX),
                Op::Write => group.order.len() as u64,
                Op::Read => written[k],
            };
            handles.push(tokio::spawn(group_phase(op, Arc::clone(group), group_conns, limit, deadline)));
        }
        let mut results = Vec::new();
        for h in handles {
            let (group_conns, r) =
                h.await.map_err(|e| format!("internal: a task of the {name} phase: {e}"))?;
            conns.push(group_conns);
            results.push(r);
        }
        let times = clock.stop();

        let mut total = ThreadPhase::new();
        let mut failure = None::<Failure>;
        for (k, r) in results.into_iter().enumerate() {
            match r {
                Ok(t) => {
                    if op == Op::Write {
                        written[k] = t.ops;
                    }
                    total.absorb(&t)?;
                }
                Err(e) if failure.is_none() => failure = Some(e),
                Err(_) => {}
            }
        }
        let r = PhaseResult {
            parameters: params.clone(),
            environment: env.clone(),
            ..times.result(
                ("nfs3_client", workload.name(), name),
                &total,
                verifies && o.verify,
                failure.is_none(),
            )
        };
        emit(&r);
        out.push(r);
        if let Some(f) = failure {
            return Err(match f {
                Failure::Cannot(m) => Failure::Cannot(format!("{name} phase: {m}")),
                Failure::Failed(m) => Failure::Failed(format!("{name} phase: {m}")),
            });
        }
    }
    Ok(out)
}

/// Refuses what nfs3_client cannot send: it makes one READ or WRITE of `--bs` and does not split
/// a block the server would refuse.
async fn check_io_sizes(setup: &mut Conn, root: &nfs_fh3, o: &Opts) -> Result<(), Failure> {
    if o.bs == 0 || o.size < o.bs {
        return Err(Failure::Failed(format!(
            "--size {} must be at least --bs {} (and --bs not 0)",
            o.size, o.bs
        )));
    }
    let info = ok("FSINFO", call("FSINFO", setup.fsinfo(&FSINFO3args { fsroot: root.clone() })).await?)?;
    let max = u64::from(info.rtmax.min(info.wtmax));
    if o.bs > max {
        return Err(Failure::Cannot(format!(
            "--bs {} is larger than one READ/WRITE the server takes (rtmax {}, wtmax {}); nfs3_client sends \
             one call per block and does not split it",
            o.bs, info.rtmax, info.wtmax
        )));
    }
    if o.size > info.maxfilesize {
        return Err(Failure::Failed(format!(
            "--size {} is larger than the export's largest file ({} bytes)",
            o.size, info.maxfilesize
        )));
    }
    Ok(())
}

/// One thread group's share of a phase: its connections, one task each, take request indexes
/// from a shared counter until `limit` or `deadline`; a write phase ends with a COMMIT (timed).
async fn group_phase(
    op: Op,
    group: Arc<Group>,
    conns: Vec<Conn>,
    limit: u64,
    deadline: Instant,
) -> (Vec<Conn>, Result<ThreadPhase, Failure>) {
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let (group, next, stop) = (Arc::clone(&group), Arc::clone(&next), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut conn = conn;
                let mut out = ThreadPhase::new();
                let r = drive(op, &group, &mut conn, &next, &stop, limit, deadline, &mut out).await;
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                (conn, r.map(|()| out))
            })
        })
        .collect();
    let mut conns = Vec::new();
    let mut total = ThreadPhase::new();
    let mut failure = None;
    for t in tasks {
        match t.await {
            Ok((conn, r)) => {
                conns.push(conn);
                match r {
                    Ok(p) => {
                        if let Err(e) = total.absorb(&p) {
                            failure = failure.or(Some(Failure::Failed(e)));
                        }
                    }
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            Err(e) => {
                failure = failure.or(Some(Failure::Failed(format!("internal: a connection's task: {e}"))))
            }
        }
    }
    if failure.is_none() && op == Op::Write {
        if let Some(conn) = conns.first_mut() {
            let args = COMMIT3args { file: group.fh.clone(), offset: 0, count: 0 };
            if let Err(e) = async { ok("COMMIT", call("COMMIT", conn.commit(&args)).await?) }.await {
                failure = Some(e);
            }
        }
    }
    (conns, failure.map_or(Ok(total), Err))
}

/// One connection's loop: one call at a time, each timed from send to reply.
#[allow(clippy::too_many_arguments)]
async fn drive(
    op: Op,
    group: &Group,
    conn: &mut Conn,
    next: &AtomicU64,
    stop: &AtomicBool,
    limit: u64,
    deadline: Instant,
    out: &mut ThreadPhase,
) -> Result<(), Failure> {
    let bs = group.bs;
    let getattr = GETATTR3args { object: group.fh.clone() };
    loop {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return Ok(());
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= limit {
            return Ok(());
        }
        let t0 = Instant::now();
        let bytes = match op {
            Op::Getattr => {
                ok("GETATTR", call("GETATTR", conn.getattr(&getattr)).await?)?;
                0
            }
            Op::Null => {
                call("NULL", conn.null()).await?;
                0
            }
            Op::Write => {
                let block = group.order[i as usize];
                let args = WRITE3args {
                    file: group.fh.clone(),
                    offset: block * bs,
                    count: bs as u32,
                    stable: stable_how::UNSTABLE,
                    data: Opaque::borrowed(group.block(block)),
                };
                let n = ok("WRITE", call("WRITE", conn.write(&args)).await?)?.count;
                if u64::from(n) != bs {
                    return Err(Failure::Failed(format!("short WRITE: {n} of {bs} bytes")));
                }
                bs
            }
            Op::Read => {
                let block = group.order[i as usize];
                let args = READ3args { file: group.fh.clone(), offset: block * bs, count: bs as u32 };
                let res = ok("READ", call("READ", conn.read(&args)).await?)?;
                let data = res.data.as_ref();
                let bad =
                    if group.verify { pattern::first_difference(data, group.block(block)) } else { None };
                if let Some(b) = bad {
                    out.note_bad(block * bs + b as u64);
                } else if data.len() as u64 != bs {
                    return Err(Failure::Failed(format!(
                        "short READ at offset {}: {} of {bs} bytes",
                        block * bs,
                        data.len()
                    )));
                }
                data.len() as u64
            }
        };
        stats::record(&mut out.hist, t0.elapsed());
        out.ops += 1;
        out.bytes += bytes;
    }
}

/// Awaits one call within [`CALL_TIMEOUT`]; an error says which call and why.
async fn call<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, RpcError>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(RpcError::FragmentedReply)) => Err(Failure::Cannot(format!(
            "{what}: the server split its reply into several RPC record fragments, which nfs3_client does \
             not reassemble"
        ))),
        Ok(Err(e)) => Err(Failure::Failed(format!("{what}: nfs3_client: {e}"))),
        Err(_) => Err(Failure::Failed(format!("{what}: no reply within {} s", CALL_TIMEOUT.as_secs()))),
    }
}

/// The reply's result, or the server's nfsstat3 as an error.
fn ok<T, E>(what: &str, r: Nfs3Result<T, E>) -> Result<T, Failure> {
    match r {
        Nfs3Result::Ok(v) => Ok(v),
        Nfs3Result::Err((stat, _)) => Err(Failure::Failed(format!("{what}: the server answered {stat}"))),
    }
}

/// One mount: portmap (unless both ports are given), MNT, and a connection to NFS, as nfs3_client
/// does it; the MOUNT connection is closed at once. Returns the client and the export's root.
async fn mount(t: &Target) -> Result<(Conn, nfs_fh3), Failure> {
    let credential = opaque_auth::auth_unix(&auth_unix {
        stamp: 0,
        machinename: Opaque::owned(b"nfsx-bench".to_vec()),
        uid: t.uid,
        gid: t.gid,
        gids: t.gids.clone(),
    });
    let mut b = Nfs3ConnectionBuilder::new(TokioConnector, t.addr.to_string(), &t.export)
        .connect_from_privileged_port(t.reserved_port)
        .credential(credential);
    if let Some(p) = t.nfs_port {
        b = b.nfs3_port(p);
    }
    if let Some(p) = t.mount_port {
        b = b.mount_port(p);
    }
    let what = format!("cannot mount {}:{} through nfs3_client", t.addr, t.export);
    let conn = match tokio::time::timeout(MOUNT_TIMEOUT, b.mount()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(Failure::Failed(format!("{what}: {e}"))),
        Err(_) => {
            return Err(Failure::Failed(format!("{what}: no answer within {} s", MOUNT_TIMEOUT.as_secs())))
        }
    };
    let root = static_fh(&conn.root_nfs_fh3());
    Ok((conn.into_nfs3_client(), root))
}

/// A file handle whose bytes live for the rest of the process, so that cloning it into each
/// call's arguments copies a pointer, not the handle (nfs3_client's `nfs_fh3` holds an
/// `Opaque<'static>`). A run makes a handful (a root, a directory, one file per thread).
fn static_fh(fh: &nfs_fh3) -> nfs_fh3 {
    let bytes: &'static [u8] = Box::leak(fh.data.as_ref().to_vec().into_boxed_slice());
    nfs_fh3 { data: Opaque::borrowed(bytes) }
}

fn new_handle(what: &str, fh: Nfs3Option<nfs_fh3>) -> Result<nfs_fh3, Failure> {
    match fh {
        Nfs3Option::Some(fh) => Ok(static_fh(&fh)),
        Nfs3Option::None => Err(Failure::Failed(format!("{what}: the server sent no file handle"))),
    }
}

fn mode(bits: u32) -> sattr3 {
    sattr3 { mode: Nfs3Option::Some(bits), ..sattr3::default() }
}

async fn mkdir(conn: &mut Conn, root: &nfs_fh3, name: &str) -> Result<nfs_fh3, Failure> {
    let args = MKDIR3args {
        where_: diropargs3 { dir: root.clone(), name: filename3(Opaque::borrowed(name.as_bytes())) },
        attributes: mode(0o755),
    };
    let what = format!("MKDIR {name}");
    new_handle(&what, ok(&what, call(&what, conn.mkdir(&args)).await?)?.obj)
}

async fn create(conn: &mut Conn, dir: &nfs_fh3, name: &str) -> Result<nfs_fh3, Failure> {
    let args = CREATE3args {
        where_: diropargs3 { dir: dir.clone(), name: filename3(Opaque::borrowed(name.as_bytes())) },
        how: createhow3::UNCHECKED(mode(0o644)),
    };
    let what = format!("CREATE {name}");
    new_handle(&what, ok(&what, call(&what, conn.create(&args)).await?)?.obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_nfs3_client_ignores_are_listed() {
        assert_eq!(
            ignored_options("nfs://127.0.0.1/mem?uid=5&nconnect=4&rtc=0&noresvport"),
            vec!["nconnect=4".to_string(), "rtc=0".into()]
        );
        assert!(ignored_options("nfs://127.0.0.1/mem").is_empty());
    }

    #[test]
    fn targets_follow_the_nfsx_url() {
        let t = target("nfs://127.0.0.1:2050/vfs/a%20b?uid=7&gid=8&mountport=20048&noresvport").unwrap();
        assert_eq!(t.addr, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(t.export, "/vfs/a b");
        assert_eq!((t.nfs_port, t.mount_port, t.uid, t.gid), (Some(2050), Some(20048), 7, 8));
        assert!(!t.reserved_port);
        assert!(matches!(target("nfs://[::1]/x"), Err(Failure::Cannot(_))));
        assert!(target("nfs://[::1]/x?noresvport").is_ok());
        assert!(matches!(target("http://x/y"), Err(Failure::Failed(_))));
    }
}
