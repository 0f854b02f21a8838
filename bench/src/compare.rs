//! `compare`: the same workload through libnfs and nfsx, `--runs` times, each client a separate
//! child process measured by itself, the clients taking turns at setup, at each phase and at
//! cleanup (libnfs first in odd runs, nfsx in even ones); then each metric's medians and the
//! ratio nfsx/libnfs (median and spread over the runs). `--with nfs3_client` runs the Rust crate
//! nfs3_client, its turn between the two, and adds nfsx/nfs3_client ratios; where it cannot do
//! the workload, or fails, it is left out with the reason, never the whole comparison.
//! `--sweep` repeats it over queue depths or nconnect values and `--plot` draws the result
//! (nfsx, libnfs, and nfs3_client where it ran).

use std::time::Duration;

use nfsx_core::ring::transfer::{measure_recv, measure_send, RecvOp, SendOp};
use serde_json::json;

use crate::child;
use crate::cli::{CompareOpts, Opts, Peer, Workload};
use crate::kernel_io::memcpy_from_memory_us_per_mib;
use crate::nfs3_driver;
use crate::plot;
use crate::report;
use crate::stats::{self, PhaseResult};
use crate::workloads;

/// One metric of a phase: how to read it from a result, and whether it applies.
struct Metric {
    name: &'static str,
    get: fn(&PhaseResult) -> Option<f64>,
}

const METRICS: &[Metric] = &[
    Metric { name: "ops/s", get: |r| Some(r.ops_per_s()) },
    Metric { name: "MiB/s", get: |r| (r.bytes > 0).then(|| r.mib_per_s()) },
    Metric { name: "client cpu us/op", get: |r| Some(r.cpu_us_per_op()) },
    Metric { name: "client cpu us/MiB", get: PhaseResult::cpu_us_per_mib },
    Metric { name: "server cpu us/op", get: PhaseResult::server_cpu_us_per_op },
    Metric { name: "p50 us", get: |r| Some(r.p50_us as f64) },
    Metric { name: "p99 us", get: |r| Some(r.p99_us as f64) },
];

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One run: each client's phases, in the order they ran. `nfs3_client` is `None` without
/// `--with nfs3_client`, or when it was left out of this run.
struct Run {
    libnfs: Vec<PhaseResult>,
    nfs3_client: Option<Vec<PhaseResult>>,
    nfsx: Vec<PhaseResult>,
    /// This run's yardsticks, where they were measured.
    yardsticks: Option<Yardsticks>,
}

impl Run {
    fn all(&self) -> impl Iterator<Item = &PhaseResult> {
        self.libnfs.iter().chain(self.nfs3_client.iter().flatten()).chain(&self.nfsx)
    }
}

/// All runs of one comparison.
struct Runs {
    runs: Vec<Run>,
    /// Why nfs3_client was left out, of every run or of some (the first reason).
    nfs3_client_skipped: Option<String>,
}

/// The kernel call that moves an io workload's bytes on its own: read(2) for reads, write(2)
/// for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BareCall {
    Read,
    Write,
}

impl BareCall {
    fn of(workload: Workload, o: &Opts) -> Option<BareCall> {
        match workload {
            Workload::Io if o.rw.is_read() => Some(BareCall::Read),
            Workload::Io => Some(BareCall::Write),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            BareCall::Read => "read(2)",
            BareCall::Write => "write(2)",
        }
    }
}

/// What moving an io workload's bytes costs without NFS or a server, measured in every run
/// beside the clients so that drift hits all alike: the bare kernel call, one --bs block at a
/// time through a loopback TCP connection whose peer thread keeps up, and a memcpy of the same
/// bytes between regions larger than the L2 (its wall time: one thread, CPU-bound).
/// Yardsticks, not floors: a client that takes whole replies at a time
/// can spend less than a read(2) that takes the data as it trickles in.
#[derive(Debug, Clone, Copy)]
struct Yardsticks {
    call_us_per_mib: f64,
    memcpy_us_per_mib: f64,
}

impl Yardsticks {
    fn measure(call: BareCall, o: &Opts) -> Result<Yardsticks, String> {
        let message = usize::try_from(o.bs).map_err(|_| format!("--bs {} is too large", o.bs))?;
        let cost = match call {
            BareCall::Read => measure_recv(RecvOp::Read, message, YARDSTICK_BYTES),
            BareCall::Write => measure_send(SendOp::Write, message, YARDSTICK_BYTES),
        }
        .map_err(|e| format!("{}: {e}", call.name()))?;
        Ok(Yardsticks {
            call_us_per_mib: cost.cpu_us_per_mib(),
            memcpy_us_per_mib: memcpy_from_memory_us_per_mib(message, YARDSTICK_BYTES),
        })
    }
}

/// Bytes each yardstick moves per run: enough for the CPU clocks, little beside the clients' runs.
const YARDSTICK_BYTES: u64 = 1 << 30;

fn run_all(
    workload: Workload,
    o: &Opts,
    runs: u32,
    with_nfs3_client: bool,
    yardsticks: Option<BareCall>,
) -> Result<Runs, String> {
    let timeout = Duration::from_secs_f64(o.timeout_s());
    let params = workloads::parameters(workload, o);
    let env = stats::environment(&o.url, o.server_pid);
    let mut skipped = None;
    // nfs3_client runs while it can: not at all if the workload or URL is beyond it, no more
    // once its driver says it cannot (exit CANNOT_EXIT), and a failed run leaves only that run
    // out; data that does not verify fails the comparison, as for the other two clients.
    let mut nfs3_client_on = with_nfs3_client;
    if with_nfs3_client {
        if let Err(f) = nfs3_driver::precheck(workload, o) {
            let (nfs3_driver::Failure::Cannot(why) | nfs3_driver::Failure::Failed(why)) = f;
            eprintln!("nfsx-bench: nfs3_client left out: {why}");
            skipped = Some(why);
            nfs3_client_on = false;
        } else {
            let ignored = nfs3_driver::ignored_options(&o.url);
            if !ignored.is_empty() {
                eprintln!(
                    "nfsx-bench: nfs3_client ignores the URL options {} (they tune nfsx's transport)",
                    ignored.join("&")
                );
            }
        }
    }
    let mut out = Vec::new();
    for run in 1..=runs {
        // Each phase runs through every client in turn before the next phase starts, so that
        // all meet the server in the same state; odd runs start each phase with libnfs, even
        // runs with nfsx, so that a server that drifts within a run favours neither.
        let mut order = vec![Contender::Libnfs];
        if nfs3_client_on {
            order.push(Contender::Nfs3Client);
        }
        order.push(Contender::Nfsx);
        if run % 2 == 0 {
            order.reverse();
        }
        let names: Vec<&str> = order.iter().map(|c| c.name()).collect();
        eprintln!(
            "nfsx-bench: {} run {run}/{runs}: each phase through {}",
            workload.name(),
            names.join(", then ")
        );
        let mut drivers = Turns(Vec::new());
        for client in order {
            let started = match client {
                Contender::Libnfs => child::libnfs_command(workload, o, &workloads::run_prefix("libnfs")),
                Contender::Nfs3Client => child::nfs3_client_command(workload, o),
                Contender::Nfsx => child::nfsx_command(workload, o),
            }
            .map_err(|why| (None, why))
            .and_then(|cmd| child::Stepped::start(cmd, client.name(), timeout));
            match started {
                Ok(driver) => drivers.0.push((client, Some(driver))),
                Err(failure) if client == Contender::Nfs3Client => {
                    leave_out_nfs3_client(failure, run, &mut skipped, &mut nfs3_client_on)?
                }
                Err((_, why)) => return Err(why),
            }
        }
        let (mut libnfs, mut nfs3_client, mut nfsx) = (None, None, None);
        while drivers.0.iter().any(|(_, d)| d.is_some()) {
            for (client, slot) in &mut drivers.0 {
                let Some(driver) = slot else { continue };
                let stepped = driver.step(timeout);
                let finished = match stepped {
                    Ok(true) => continue,
                    Ok(false) => slot.take().map(child::Stepped::phases),
                    Err(failure) => {
                        *slot = None;
                        Some(Err(failure))
                    }
                };
                match (client, finished) {
                    (_, None) => {}
                    (Contender::Nfs3Client, Some(Ok(phases))) => nfs3_client = Some(phases),
                    (Contender::Nfs3Client, Some(Err(failure))) => {
                        leave_out_nfs3_client(failure, run, &mut skipped, &mut nfs3_client_on)?
                    }
                    (_, Some(Err((_, why)))) => return Err(why),
                    (Contender::Libnfs, Some(Ok(phases))) => libnfs = Some(phases),
                    (Contender::Nfsx, Some(Ok(phases))) => nfsx = Some(phases),
                }
            }
        }
        let (Some(mut libnfs), Some(nfsx)) = (libnfs, nfsx) else {
            return Err("internal: a client's driver ended without results".into());
        };
        for r in &mut libnfs {
            r.workload = workload.name().into();
            r.parameters = params.clone();
            r.environment = env.clone();
        }
        let yardsticks = yardsticks.and_then(|call| {
            Yardsticks::measure(call, o)
                .map_err(|why| eprintln!("nfsx-bench: yardsticks left out of run {run}: {why}"))
                .ok()
        });
        out.push(Run { libnfs, nfs3_client, nfsx, yardsticks });
    }
    Ok(Runs { runs: out, nfs3_client_skipped: skipped })
}

/// The drivers of one run. Dropped while some still run (another failed), it hangs up on all of
/// them before waiting for each, so that they clean up at the same time.
struct Turns(Vec<(Contender, Option<child::Stepped>)>);

impl Drop for Turns {
    fn drop(&mut self) {
        for driver in self.0.iter_mut().filter_map(|(_, d)| d.as_mut()) {
            driver.hang_up();
        }
    }
}

/// The clients a comparison runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Libnfs,
    Nfs3Client,
    Nfsx,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Libnfs => "libnfs",
            Contender::Nfs3Client => "nfs3_client",
            Contender::Nfsx => "nfsx",
        }
    }
}

/// nfs3_client failed this run (see `run_all` for what each failure means).
fn leave_out_nfs3_client(
    (code, why): child::Failure,
    run: u32,
    skipped: &mut Option<String>,
    nfs3_client_on: &mut bool,
) -> Result<(), String> {
    if code == Some(i32::from(nfs3_driver::BAD_DATA_EXIT)) {
        return Err(why);
    }
    if code == Some(i32::from(nfs3_driver::CANNOT_EXIT)) {
        eprintln!("nfsx-bench: nfs3_client left out: {why}");
        *skipped = Some(why);
        *nfs3_client_on = false;
    } else {
        eprintln!("nfsx-bench: nfs3_client left out of run {run}: {why}");
        skipped.get_or_insert(format!("run {run}: {why}"));
    }
    Ok(())
}

/// One metric of one phase over all runs.
struct Row {
    phase: String,
    metric: &'static str,
    /// nfsx median, libnfs median, nfsx/libnfs ratio median, min, max.
    libnfs: [f64; 5],
    /// nfs3_client median, nfsx/nfs3_client ratio median, min, max (NaN where it did not run),
    /// and how many runs it had this phase in.
    nfs3_client: ([f64; 4], usize),
}

fn spread(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

fn summarize(runs: &Runs) -> Vec<Row> {
    let mut out = Vec::new();
    let Some(first) = runs.runs.first() else {
        return out;
    };
    let find = |v: &[PhaseResult], phase: &str| v.iter().find(|r| r.phase == phase).cloned();
    for phase in first.nfsx.iter().map(|r| r.phase.clone()) {
        for m in METRICS {
            let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
            let (mut c, mut ratio_c) = (Vec::new(), Vec::new());
            for run in &runs.runs {
                let Some(n) = find(&run.nfsx, &phase) else {
                    continue;
                };
                let Some(x) = (m.get)(&n) else {
                    continue;
                };
                if let Some(y) = find(&run.libnfs, &phase).and_then(|l| (m.get)(&l)) {
                    a.push(x);
                    b.push(y);
                    if y > 0.0 {
                        ratio.push(x / y);
                    }
                }
                let peer = run.nfs3_client.as_deref().and_then(|p| find(p, &phase));
                if let Some(z) = peer.and_then(|p| (m.get)(&p)) {
                    c.push(z);
                    if z > 0.0 {
                        ratio_c.push(x / z);
                    }
                }
            }
            if a.is_empty() {
                continue;
            }
            let lo = ratio.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratio.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (lo_c, hi_c) = spread(&ratio_c);
            let runs_c = c.len();
            out.push(Row {
                phase: phase.clone(),
                metric: m.name,
                libnfs: [median(&mut a), median(&mut b), median(&mut ratio), lo, hi],
                nfs3_client: ([median(&mut c), median(&mut ratio_c), lo_c, hi_c], runs_c),
            });
        }
    }
    out
}

/// The yardsticks over all runs, and each client's CPU per MiB in the main phase over them.
struct YardstickSummary {
    call: BareCall,
    phase: &'static str,
    runs: usize,
    /// Medians of the bare call's CPU per MiB and of the memcpy's time per MiB.
    call_us_per_mib: f64,
    memcpy_us_per_mib: f64,
    libnfs: OverYardsticks,
    nfsx: OverYardsticks,
}

/// One client's CPU per MiB over each yardstick, per run: median, min, max.
struct OverYardsticks {
    call: [f64; 3],
    memcpy: [f64; 3],
}

fn summarize_yardsticks(runs: &Runs, call: BareCall, phase: &'static str) -> Option<YardstickSummary> {
    let measured: Vec<(&Run, Yardsticks)> =
        runs.runs.iter().filter_map(|run| run.yardsticks.map(|y| (run, y))).collect();
    if measured.is_empty() {
        return None;
    }
    let cpu = |phases: &[PhaseResult]| {
        phases.iter().find(|r| r.phase == phase).and_then(PhaseResult::cpu_us_per_mib)
    };
    let over = |client: fn(&Run) -> &[PhaseResult], stick: fn(&Yardsticks) -> f64| {
        let mut v: Vec<f64> =
            measured.iter().filter_map(|(run, y)| cpu(client(run)).map(|c| c / stick(y))).collect();
        let (lo, hi) = spread(&v);
        [median(&mut v), lo, hi]
    };
    let libnfs: fn(&Run) -> &[PhaseResult] = |run| &run.libnfs;
    let nfsx: fn(&Run) -> &[PhaseResult] = |run| &run.nfsx;
    let bare: fn(&Yardsticks) -> f64 = |y| y.call_us_per_mib;
    let memcpy: fn(&Yardsticks) -> f64 = |y| y.memcpy_us_per_mib;
    let mut calls: Vec<f64> = measured.iter().map(|(_, y)| bare(y)).collect();
    let mut memcpys: Vec<f64> = measured.iter().map(|(_, y)| memcpy(y)).collect();
    Some(YardstickSummary {
        call,
        phase,
        runs: measured.len(),
        call_us_per_mib: median(&mut calls),
        memcpy_us_per_mib: median(&mut memcpys),
        libnfs: OverYardsticks { call: over(libnfs, bare), memcpy: over(libnfs, memcpy) },
        nfsx: OverYardsticks { call: over(nfsx, bare), memcpy: over(nfsx, memcpy) },
    })
}

fn yardstick_lines(y: &YardstickSummary, bs: u64) -> String {
    let cell = |[m, lo, hi]: [f64; 3]| format!("{} ({}..{})", fmt_ratio(m), fmt_ratio(lo), fmt_ratio(hi));
    let mut rows = vec![vec![
        "client".to_string(),
        format!("cpu us/MiB / {}", y.call.name()),
        "cpu us/MiB / memcpy".to_string(),
    ]];
    for (client, over) in [("libnfs", &y.libnfs), ("nfsx", &y.nfsx)] {
        rows.push(vec![client.to_string(), cell(over.call), cell(over.memcpy)]);
    }
    format!(
        "yardsticks, medians of {} runs (no NFS, no server): {} of {bs} B at a time through a loopback \
         socket whose peer thread keeps up, {:.0} us/MiB of CPU; a memcpy of the same bytes between regions \
         larger than the L2, {:.0} us/MiB\n\
         the {} phase's client cpu over them, median (spread):\n{}",
        y.runs,
        y.call.name(),
        y.call_us_per_mib,
        y.memcpy_us_per_mib,
        y.phase,
        report::render(&rows)
    )
}

fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r.is_nan() {
        "-".into()
    } else {
        format!("{r:.2}")
    }
}

fn summary_table(summary: &[Row], with_nfs3_client: bool) -> String {
    let mut head = vec![
        "phase".to_string(),
        "metric".into(),
        "nfsx".into(),
        "libnfs".into(),
        "nfsx/libnfs".into(),
        "spread".into(),
    ];
    if with_nfs3_client {
        head.extend(["nfs3_client".to_string(), "nfsx/nfs3_client".into(), "spread".into()]);
    }
    let mut rows = vec![head];
    for row in summary {
        let [n, l, r, lo, hi] = row.libnfs;
        let mut cells = vec![
            row.phase.clone(),
            row.metric.to_string(),
            fmt(n),
            fmt(l),
            format!("{r:.2}"),
            format!("{lo:.2}..{hi:.2}"),
        ];
        if with_nfs3_client {
            let ([c, rc, lo_c, hi_c], _) = row.nfs3_client;
            let spread_c = if rc.is_nan() {
                "-".to_string()
            } else {
                format!("{}..{}", fmt_ratio(lo_c), fmt_ratio(hi_c))
            };
            cells.extend([fmt(c), fmt_ratio(rc), spread_c]);
        }
        rows.push(cells);
    }
    report::render(&rows)
}

/// Checks every verifying phase said "ok".
fn verified(runs: &Runs) -> Result<(), String> {
    for r in runs.runs.iter().flat_map(Run::all) {
        if let Some(v) = &r.verify {
            if v != "ok" {
                return Err(format!("{} {} verify: {v}", r.client, r.phase));
            }
        }
    }
    Ok(())
}

pub fn compare(c: &CompareOpts) -> Result<(), String> {
    child::libnfs_driver()?;
    child::libnfs_target(&c.opts.url)?;
    if let Some(sweep) = &c.sweep {
        return compare_sweep(c, sweep);
    }
    if c.plot.is_some() {
        return Err("--plot needs --sweep (e.g. --sweep qd=1,4,16,64)".into());
    }
    let with = c.with.contains(&Peer::Nfs3Client);
    let bare_call = BareCall::of(c.workload, &c.opts);
    let runs = run_all(c.workload, &c.opts, c.runs, with, bare_call)?;
    let summary = summarize(&runs);
    let yardsticks = bare_call.and_then(|call| summarize_yardsticks(&runs, call, main_phase(c)));
    if c.opts.json {
        for (i, run) in runs.runs.iter().enumerate() {
            for r in run.all() {
                let mut v = r.to_json();
                v["run"] = json!(i + 1);
                println!("{v}");
            }
        }
        for row in &summary {
            let [n, l, r, lo, hi] = row.libnfs;
            let mut v = json!({"compare": c.workload.name(), "phase": row.phase, "metric": row.metric,
                               "nfsx_median": n, "libnfs_median": l, "ratio_median": r,
                               "ratio_min": lo, "ratio_max": hi, "runs": runs.runs.len()});
            if with {
                let ([m, rm, rlo, rhi], n3) = row.nfs3_client;
                v["nfs3_client_median"] = json!(m);
                v["ratio_nfs3_client_median"] = json!(rm);
                v["ratio_nfs3_client_min"] = json!(rlo);
                v["ratio_nfs3_client_max"] = json!(rhi);
                v["nfs3_client_runs"] = json!(n3);
                v["nfs3_client_skipped"] = json!(runs.nfs3_client_skipped);
            }
            println!("{v}");
        }
        if let Some(y) = &yardsticks {
            println!(
                "{}",
                json!({"compare": c.workload.name(), "phase": y.phase, "metric": "yardsticks",
                       "call": y.call.name(), "call_us_per_mib": y.call_us_per_mib,
                       "memcpy_us_per_mib": y.memcpy_us_per_mib,
                       "libnfs_over_call": y.libnfs.call, "libnfs_over_memcpy": y.libnfs.memcpy,
                       "nfsx_over_call": y.nfsx.call, "nfsx_over_memcpy": y.nfsx.memcpy, "runs": y.runs})
            );
        }
    } else {
        let all: Vec<PhaseResult> = runs.runs.iter().flat_map(Run::all).cloned().collect();
        if let Some(first) = all.first() {
            println!("{}", report::header(first));
        }
        // nfs3_client's columns appear when it ran at least once; why it did not, always.
        let shown = with && runs.runs.iter().any(|r| r.nfs3_client.is_some());
        if shown {
            println!("{}", nfs3_driver::describe(&c.opts));
        }
        if let (true, Some(why)) = (with, &runs.nfs3_client_skipped) {
            println!("nfs3_client left out: {why}");
        }
        let (order, ratios) = if shown {
            ("libnfs, nfs3_client, then nfsx", "nfsx/libnfs and nfsx/nfs3_client are medians")
        } else {
            ("libnfs then nfsx", "nfsx/libnfs is the median")
        };
        println!(
            "{} runs, each phase through {order} in odd runs, the reverse in even runs:\n{}",
            runs.runs.len(),
            report::table(&all)
        );
        println!(
            "{} medians over {} runs; {ratios} of the per-run ratios (spread: min..max):\n{}",
            c.workload.name(),
            runs.runs.len(),
            summary_table(&summary, shown)
        );
        if let Some(y) = &yardsticks {
            println!("{}", yardstick_lines(y, c.opts.bs));
        }
    }
    verified(&runs)
}

/// The phase a sweep plots: the one the workload is about.
fn main_phase(c: &CompareOpts) -> &'static str {
    match c.workload {
        Workload::Getattr => "getattr",
        Workload::Null => "null",
        Workload::Md => "create",
        Workload::Io if c.opts.rw.is_read() => "read",
        Workload::Io => "write",
    }
}

fn with_nconnect(url: &str, n: u64) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut opts: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("nconnect="))
        .map(str::to_string)
        .collect();
    opts.push(format!("nconnect={n}"));
    format!("{base}?{}", opts.join("&"))
}

fn compare_sweep(c: &CompareOpts, sweep: &str) -> Result<(), String> {
    let (key, values) =
        sweep.split_once('=').ok_or_else(|| format!("--sweep wants qd=1,4,16 or nconnect=1,2,4: {sweep}"))?;
    let values: Vec<u64> = values
        .split(',')
        .map(|v| v.trim().parse::<u64>().map_err(|_| format!("--sweep: not a number: {v}")))
        .collect::<Result<_, _>>()?;
    if values.is_empty() || values.iter().any(|&v| v == 0 || v > 1024) {
        return Err("--sweep values must be 1..1024".into());
    }
    let phase = main_phase(c);
    let with = c.with.contains(&Peer::Nfs3Client);
    let mut points = Vec::new();
    for &v in &values {
        let mut o = c.opts.clone();
        match key {
            "qd" => o.qd = v as u32,
            "nconnect" => o.url = with_nconnect(&o.url, v),
            other => return Err(format!("--sweep: can sweep qd or nconnect, not {other}")),
        }
        let runs = run_all(c.workload, &o, c.runs, with, None)?;
        verified(&runs)?;
        let summary = summarize(&runs);
        let row = |metric: &str| summary.iter().find(|r| r.phase == phase && r.metric == metric);
        let pick = |metric: &str, which: usize| row(metric).map_or(f64::NAN, |r| r.libnfs[which]);
        let pick_nfs3 = |metric: &str| row(metric).map_or(f64::NAN, |r| r.nfs3_client.0[0]);
        let point = plot::Point {
            x: v,
            nfsx_ops: pick("ops/s", 0),
            libnfs_ops: pick("ops/s", 1),
            nfsx_cpu: pick("client cpu us/op", 0),
            libnfs_cpu: pick("client cpu us/op", 1),
            nfs3_client_ops: pick_nfs3("ops/s"),
            nfs3_client_cpu: pick_nfs3("client cpu us/op"),
        };
        if c.opts.json {
            let mut line = json!({"sweep": key, "value": v, "workload": c.workload.name(), "phase": phase,
                                  "nfsx_ops_per_s": point.nfsx_ops, "libnfs_ops_per_s": point.libnfs_ops,
                                  "nfsx_cpu_us_per_op": point.nfsx_cpu, "libnfs_cpu_us_per_op": point.libnfs_cpu,
                                  "runs": runs.runs.len()});
            if with {
                line["nfs3_client_ops_per_s"] = json!(point.nfs3_client_ops);
                line["nfs3_client_cpu_us_per_op"] = json!(point.nfs3_client_cpu);
                line["nfs3_client_skipped"] = json!(runs.nfs3_client_skipped);
            }
            println!("{line}");
        } else {
            let shown = with && runs.runs.iter().any(|r| r.nfs3_client.is_some());
            println!("{key}={v}:\n{}", summary_table(&summary, shown));
        }
        points.push(point);
    }
    if let Some(path) = &c.plot {
        let note =
            if key == "nconnect" { " (libnfs 4.0 has no nconnect: one connection per context)" } else { "" };
        let title = format!("{} {} vs {key}, {} thread(s){note}", c.workload.name(), phase, c.opts.threads);
        plot::draw(path, &title, key, &points)?;
        eprintln!("nfsx-bench: wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn nconnect_is_replaced() {
        assert_eq!(with_nconnect("nfs://h/x", 4), "nfs://h/x?nconnect=4");
        assert_eq!(with_nconnect("nfs://h/x?nconnect=2&uid=1", 8), "nfs://h/x?uid=1&nconnect=8");
    }
}
