//! The nfsx driver: runs a workload's phases on `--threads` threads, each with its own mount and
//! `--qd` requests in flight through nfsx's raw pipelined procedures (`Client::start` /
//! `Client::finish`), with a barrier between phases so each phase is timed as a whole.
//!
//! RPCs per operation are the same as in the libnfs driver (`libnfs-driver/driver.c`).

pub mod getattr;
pub mod io;
pub mod md;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nfsx::client::{Batch, BatchReply};
use nfsx::Client;
use serde_json::{json, Map, Value};

use crate::child;
use crate::cli::{Opts, Workload};
use crate::progress::Progress;
use crate::stats::{self, PhaseResult};

/// What one thread did in one phase.
#[derive(Debug)]
pub struct ThreadPhase {
    pub ops: u64,
    pub bytes: u64,
    pub hist: Histogram<u64>,
    /// First offset (in the thread's file) whose data differed from the pattern.
    pub bad_offset: Option<u64>,
}

impl ThreadPhase {
    pub fn new() -> ThreadPhase {
        ThreadPhase { ops: 0, bytes: 0, hist: stats::histogram(), bad_offset: None }
    }

    /// Data differed from the pattern at `offset`; the first such offset is kept.
    pub fn note_bad(&mut self, offset: u64) {
        self.bad_offset = Some(self.bad_offset.map_or(offset, |x| x.min(offset)));
    }

    /// Adds another thread's counts, latencies and first bad offset to these.
    pub fn absorb(&mut self, other: &ThreadPhase) -> Result<(), String> {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.hist.add(&other.hist).map_err(|e| format!("histogram: {e}"))?;
        if let Some(b) = other.bad_offset {
            self.note_bad(b);
        }
        Ok(())
    }
}

/// The process's and the server's CPU clocks and the wall clock at a phase's start.
#[derive(Debug)]
pub struct PhaseClock {
    cpu: (f64, f64),
    server: Option<f64>,
    server_pid: Option<u32>,
    started: Instant,
}

impl PhaseClock {
    pub fn start(server_pid: Option<u32>) -> PhaseClock {
        PhaseClock {
            cpu: stats::process_cpu(),
            server: stats::server_cpu(server_pid),
            server_pid,
            started: Instant::now(),
        }
    }

    /// Reads the clocks at the phase's end.
    pub fn stop(self) -> PhaseTimes {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = stats::process_cpu();
        let server = stats::server_cpu(self.server_pid);
        PhaseTimes {
            seconds,
            cpu_user_s: cpu.0 - self.cpu.0,
            cpu_sys_s: cpu.1 - self.cpu.1,
            server_cpu_s: self.server.zip(server).map(|(a, b)| b - a),
        }
    }
}

/// How long a phase took and the CPU the client and the server spent on it.
#[derive(Debug, Clone, Copy)]
pub struct PhaseTimes {
    seconds: f64,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    server_cpu_s: Option<f64>,
}

impl PhaseTimes {
    /// The phase's result: `ids` are (client, workload, phase); when `verifies`, `verify` says
    /// ok, the first bad offset, or "not finished" when a thread failed first.
    pub fn result(
        self,
        ids: (&str, &str, &str),
        total: &ThreadPhase,
        verifies: bool,
        finished: bool,
    ) -> PhaseResult {
        let (client, workload, phase) = ids;
        PhaseResult {
            client: client.into(),
            workload: workload.into(),
            phase: phase.into(),
            ops: total.ops,
            bytes: total.bytes,
            seconds: self.seconds,
            cpu_user_s: self.cpu_user_s,
            cpu_sys_s: self.cpu_sys_s,
            server_cpu_s: self.server_cpu_s,
            p50_us: total.hist.value_at_quantile(0.5),
            p99_us: total.hist.value_at_quantile(0.99),
            p999_us: total.hist.value_at_quantile(0.999),
            verify: verifies.then(|| match total.bad_offset {
                Some(b) => format!("bad at offset {b}"),
                None if finished => "ok".into(),
                None => "not finished".into(),
            }),
            ..PhaseResult::default()
        }
    }
}

/// When a phase stops issuing new requests, and where it counts progress.
#[derive(Debug, Clone)]
pub struct PhaseCtl {
    pub deadline: Instant,
    /// Whether the phase stops at `--duration` (else it covers what earlier phases made).
    pub timed: bool,
    pub ops: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

impl PhaseCtl {
    pub fn open(&self) -> bool {
        Instant::now() < self.deadline
    }
    pub fn done(&self, out: &mut ThreadPhase, started: Instant, bytes: u64) {
        stats::record(&mut out.hist, started.elapsed());
        out.ops += 1;
        out.bytes += bytes;
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// One thread's share of a workload: set up before the clock starts, then run phase by phase.
pub trait ThreadWork: Send {
    fn run_phase(&mut self, phase: &str, ctl: &PhaseCtl) -> Result<ThreadPhase, String>;
    /// Best-effort removal of what the thread made (not timed).
    fn cleanup(&mut self) {}
}

/// A workload set up: its phases, and one share of the work per thread.
pub type Setup = (Vec<PhaseSpec>, Vec<Box<dyn ThreadWork>>);

/// How a phase's clock is bounded.
#[derive(Debug, Clone, Copy)]
pub struct PhaseSpec {
    pub name: &'static str,
    /// Stops at `--duration` (else it runs over everything the earlier phases made).
    pub timed: bool,
    /// Checks data against the pattern (reports "verify").
    pub verifies: bool,
}

/// Runs up to `qd` requests at once through one [`Batch`] (its calls go out together and come
/// back in completion order): `start` submits request `i` under `tag` and `finish` handles its
/// reply, until `limit` requests were sent or the phase closed.
#[allow(clippy::too_many_arguments)]
pub fn pipeline<'a, T>(
    client: &Client,
    qd: usize,
    limit: u64,
    timed: bool,
    ctl: &PhaseCtl,
    out: &mut ThreadPhase,
    mut start: impl FnMut(&mut Batch<'a>, u64, u64) -> Result<T, String>,
    mut finish: impl FnMut(BatchReply, T, &mut ThreadPhase) -> Result<u64, String>,
) -> Result<(), String> {
    let mut batch = client.batch(qd);
    let mut waiting: Vec<Option<(T, Instant)>> = (0..qd).map(|_| None).collect();
    let mut free: Vec<usize> = (0..qd).rev().collect();
    let mut replies = Vec::with_capacity(qd);
    let mut next = 0u64;
    loop {
        while next < limit && (!timed || ctl.open()) {
            let Some(slot) = free.pop() else { break };
            let t0 = Instant::now();
            waiting[slot] = Some((start(&mut batch, slot as u64, next)?, t0));
            next += 1;
        }
        if batch.in_flight() == 0 {
            return Ok(());
        }
        batch.reap(&mut replies, 1, REPLY_WAIT);
        for reply in replies.drain(..) {
            let slot = reply.tag as usize;
            let (tag, t0) = waiting[slot].take().ok_or("internal: a reply for an idle slot")?;
            let bytes = finish(reply, tag, out)?;
            ctl.done(out, t0, bytes);
            free.push(slot);
        }
    }
}

/// How long one wait for replies may last before the batch checks its deadlines again.
pub const REPLY_WAIT: Duration = Duration::from_secs(1);

pub fn describe_err(what: &str, e: nfsx::Error) -> String {
    format!("{what}: {e}")
}

/// A unique name for the run's directory at the export's root.
pub fn run_prefix(client: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("nfsx-bench-{client}-{}-{nanos:08x}", std::process::id())
}

/// Mounts, with a clear message for the usual mistakes. Each benchmark thread drives its own
/// client, which is what run-to-completion mode is for, so `rtc=1` is added unless the URL
/// chooses (`rtc=0` measures the reader-thread mode).
pub fn mount(url: &str) -> Result<Client, String> {
    let url = with_default_option(url, "rtc", "1");
    Client::mount(&url).map_err(|e| format!("cannot mount {url}: {e}"))
}

fn with_default_option(url: &str, key: &str, value: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|pair| pair.split('=').next() == Some(key)) {
        url.to_string()
    } else {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{key}={value}")
    }
}

/// The workload's parameters, as reported with every phase.
pub fn parameters(workload: Workload, o: &Opts) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("url".into(), json!(o.url));
    p.insert("threads".into(), json!(o.threads));
    p.insert("qd".into(), json!(o.qd));
    p.insert("duration_s".into(), json!(o.duration));
    match workload {
        Workload::Getattr | Workload::Null => {
            p.insert("ops".into(), json!(o.ops));
        }
        Workload::Md => {
            p.insert("files".into(), json!(o.files));
            p.insert("file_size".into(), json!(o.file_size));
            p.insert("shared_dir".into(), json!(o.shared_dir));
            p.insert("verify".into(), json!(o.verify));
        }
        Workload::Io => {
            p.insert("rw".into(), json!(o.rw.name()));
            p.insert("api".into(), json!(o.api.name()));
            p.insert("bs".into(), json!(o.bs));
            p.insert("size".into(), json!(o.size));
            p.insert("verify".into(), json!(o.verify));
            p.insert("seed".into(), json!(o.seed));
        }
    }
    p
}

/// Runs a workload through nfsx in this process; each phase's result goes to `emit` as soon
/// as it is measured.
pub fn run(
    workload: Workload,
    o: &Opts,
    mut emit: impl FnMut(&PhaseResult),
) -> Result<Vec<PhaseResult>, String> {
    let prefix = run_prefix("nfsx");
    let setup = mount(&o.url)?;
    let (specs, mut works): Setup = match workload {
        Workload::Getattr => getattr::setup(&setup, o, &prefix, getattr::Call::Getattr)?,
        Workload::Null => getattr::setup(&setup, o, &prefix, getattr::Call::Null)?,
        Workload::Md => md::setup(&setup, o, &prefix)?,
        Workload::Io => io::setup(&setup, o, &prefix)?,
    };
    let params = parameters(workload, o);
    let env = stats::environment(&o.url, o.server_pid);

    let threads = works.len();
    let barrier = Arc::new(Barrier::new(threads + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let ctl = Arc::new(Mutex::new(None::<PhaseCtl>));
    type Slot = Mutex<Vec<Result<ThreadPhase, String>>>;
    let results: Arc<Slot> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for (i, mut work) in works.drain(..).enumerate() {
        let (barrier, stop, ctl, results) =
            (Arc::clone(&barrier), Arc::clone(&stop), Arc::clone(&ctl), Arc::clone(&results));
        let specs = specs.clone();
        let handle = std::thread::Builder::new()
            .name(format!("bench-{i}"))
            .spawn(move || {
                for spec in &specs {
                    barrier.wait();
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let c = ctl.lock().expect("no panics hold it").clone();
                    let r = c.map_or_else(
                        || Err("internal: no phase control".to_string()),
                        |c| work.run_phase(spec.name, &c),
                    );
                    results.lock().expect("no panics hold it").push(r);
                    barrier.wait();
                }
                // Cleanup waits for the main thread's word: under `compare` it must not run
                // during another client's phase.
                barrier.wait();
                work.cleanup();
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        handles.push(handle);
    }

    if o.stepped {
        println!("{}", child::READY);
    }
    let mut out = Vec::new();
    let mut failure = None;
    for (k, spec) in specs.iter().enumerate() {
        if !child::await_step(o.stepped) {
            failure = Some(format!("stdin closed before the {} phase", spec.name));
            stop.store(true, Ordering::Relaxed);
            barrier.wait();
            break;
        }
        let started = Instant::now();
        let deadline = if spec.timed {
            started + Duration::from_secs_f64(o.duration)
        } else {
            started + Duration::from_secs(86_400)
        };
        let c = PhaseCtl {
            deadline,
            timed: spec.timed,
            ops: Arc::new(AtomicU64::new(0)),
            bytes: Arc::new(AtomicU64::new(0)),
        };
        let progress = Progress::start(
            !o.quiet,
            format!("nfsx {} {}", workload.name(), spec.name),
            Arc::clone(&c.ops),
            Arc::clone(&c.bytes),
        );
        *ctl.lock().expect("no panics hold it") = Some(c);
        let clock = PhaseClock::start(o.server_pid);
        barrier.wait();
        barrier.wait();
        let times = clock.stop();
        progress.finish();

        let mut total = ThreadPhase::new();
        for r in results.lock().expect("no panics hold it").drain(..) {
            match r {
                Ok(t) => total.absorb(&t)?,
                Err(e) => failure = failure.or(Some(format!("{} phase: {e}", spec.name))),
            }
        }
        let r = PhaseResult {
            parameters: params.clone(),
            environment: env.clone(),
            ..times.result(
                ("nfsx", workload.name(), spec.name),
                &total,
                spec.verifies && o.verify,
                failure.is_none(),
            )
        };
        emit(&r);
        out.push(r);
        if failure.is_some() {
            stop.store(true, Ordering::Relaxed);
            if k + 1 < specs.len() {
                barrier.wait();
            }
            break;
        }
    }
    child::await_step(o.stepped);
    barrier.wait();
    for h in handles {
        let _ = h.join();
    }
    let _ = setup.rmdir(&format!("{prefix}/shared"));
    let _ = setup.rmdir(&prefix);
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
