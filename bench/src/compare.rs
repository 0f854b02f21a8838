//! `compare`: the same workload through libnfs and nfsx, alternating libnfs/nfsx `--runs` times,
//! each run a separate child process measured by itself; then each metric's medians and the
//! ratio nfsx/libnfs (median and spread over the run pairs). `--sweep` repeats it over queue
//! depths or nconnect values and `--plot` draws the result.

use std::time::Duration;

use serde_json::json;

use crate::child;
use crate::cli::{CompareOpts, Opts, Workload};
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

/// Results of all runs: per run, (libnfs phases, nfsx phases).
type Runs = Vec<(Vec<PhaseResult>, Vec<PhaseResult>)>;

fn run_pairs(workload: Workload, o: &Opts, runs: u32) -> Result<Runs, String> {
    let timeout = Duration::from_secs_f64(o.timeout_s());
    let params = workloads::parameters(workload, o);
    let env = stats::environment(&o.url, o.server_pid);
    let mut out = Vec::new();
    for run in 1..=runs {
        eprintln!("nfsx-bench: {} run {run}/{runs}: libnfs, then nfsx", workload.name());
        let prefix = workloads::run_prefix("libnfs");
        let mut libnfs = child::run(child::libnfs_command(workload, o, &prefix)?, "libnfs", timeout)?;
        for r in &mut libnfs {
            r.workload = workload.name().into();
            r.parameters = params.clone();
            r.environment = env.clone();
        }
        let nfsx = child::run(child::nfsx_command(workload, o)?, "nfsx", timeout)?;
        out.push((libnfs, nfsx));
    }
    Ok(out)
}

/// Per phase and metric: (nfsx median, libnfs median, ratio median, ratio min, ratio max).
fn summarize(runs: &Runs) -> Vec<(String, &'static str, [f64; 5])> {
    let mut out = Vec::new();
    let Some((_, first)) = runs.first() else {
        return out;
    };
    for phase in first.iter().map(|r| r.phase.clone()) {
        for m in METRICS {
            let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
            for (libnfs, nfsx) in runs {
                let find = |v: &[PhaseResult]| v.iter().find(|r| r.phase == phase).cloned();
                let (Some(l), Some(n)) = (find(libnfs), find(nfsx)) else {
                    continue;
                };
                if let (Some(x), Some(y)) = ((m.get)(&n), (m.get)(&l)) {
                    a.push(x);
                    b.push(y);
                    if y > 0.0 {
                        ratio.push(x / y);
                    }
                }
            }
            if a.is_empty() {
                continue;
            }
            let lo = ratio.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratio.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            out.push((phase.clone(), m.name, [median(&mut a), median(&mut b), median(&mut ratio), lo, hi]));
        }
    }
    out
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

fn summary_table(summary: &[(String, &'static str, [f64; 5])]) -> String {
    let mut rows = vec![vec![
        "phase".to_string(),
        "metric".into(),
        "nfsx".into(),
        "libnfs".into(),
        "nfsx/libnfs".into(),
        "spread".into(),
    ]];
    for (phase, metric, [n, l, r, lo, hi]) in summary {
        rows.push(vec![
            phase.clone(),
            metric.to_string(),
            fmt(*n),
            fmt(*l),
            format!("{r:.2}"),
            format!("{lo:.2}..{hi:.2}"),
        ]);
    }
    report::render(&rows)
}

/// Checks every verifying phase said "ok".
fn verified(runs: &Runs) -> Result<(), String> {
    for (libnfs, nfsx) in runs {
        for r in libnfs.iter().chain(nfsx) {
            if let Some(v) = &r.verify {
                if v != "ok" {
                    return Err(format!("{} {} verify: {v}", r.client, r.phase));
                }
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
    let runs = run_pairs(c.workload, &c.opts, c.runs)?;
    let summary = summarize(&runs);
    if c.opts.json {
        for (i, (libnfs, nfsx)) in runs.iter().enumerate() {
            for r in libnfs.iter().chain(nfsx) {
                let mut v = r.to_json();
                v["run"] = json!(i + 1);
                println!("{v}");
            }
        }
        for (phase, metric, [n, l, r, lo, hi]) in &summary {
            println!(
                "{}",
                json!({"compare": c.workload.name(), "phase": phase, "metric": metric,
                       "nfsx_median": n, "libnfs_median": l, "ratio_median": r,
                       "ratio_min": lo, "ratio_max": hi, "runs": runs.len()})
            );
        }
    } else {
        let all: Vec<PhaseResult> = runs.iter().flat_map(|(l, n)| l.iter().chain(n).cloned()).collect();
        if let Some(first) = all.first() {
            println!("{}", report::header(first));
        }
        println!("{} runs, libnfs then nfsx each time:\n{}", runs.len(), report::table(&all));
        println!(
            "{} medians over {} runs; nfsx/libnfs is the median of the per-run ratios (spread: min..max):\n{}",
            c.workload.name(),
            runs.len(),
            summary_table(&summary)
        );
    }
    verified(&runs)
}

/// The phase a sweep plots: the one the workload is about.
fn main_phase(c: &CompareOpts) -> &'static str {
    match c.workload {
        Workload::Getattr => "getattr",
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
    let mut points = Vec::new();
    for &v in &values {
        let mut o = c.opts.clone();
        match key {
            "qd" => o.qd = v as u32,
            "nconnect" => o.url = with_nconnect(&o.url, v),
            other => return Err(format!("--sweep: can sweep qd or nconnect, not {other}")),
        }
        let runs = run_pairs(c.workload, &o, c.runs)?;
        verified(&runs)?;
        let summary = summarize(&runs);
        let pick = |metric: &str, which: usize| {
            summary.iter().find(|(p, m, _)| p == phase && *m == metric).map_or(f64::NAN, |(_, _, s)| s[which])
        };
        let point = plot::Point {
            x: v,
            nfsx_ops: pick("ops/s", 0),
            libnfs_ops: pick("ops/s", 1),
            nfsx_cpu: pick("client cpu us/op", 0),
            libnfs_cpu: pick("client cpu us/op", 1),
        };
        if c.opts.json {
            println!(
                "{}",
                json!({"sweep": key, "value": v, "workload": c.workload.name(), "phase": phase,
                       "nfsx_ops_per_s": point.nfsx_ops, "libnfs_ops_per_s": point.libnfs_ops,
                       "nfsx_cpu_us_per_op": point.nfsx_cpu, "libnfs_cpu_us_per_op": point.libnfs_cpu,
                       "runs": runs.len()})
            );
        } else {
            println!("{key}={v}:\n{}", summary_table(&summary));
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
