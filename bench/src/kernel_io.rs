//! `nfsx-bench kernel-io`: CPU per MiB of each send and receive operation the kernel offers,
//! through one loopback TCP connection, next to a memcpy of the same data (the yardstick
//! for the data path). Runs alternate operations so drift hits them all alike; medians shown.

use std::hint::black_box;
use std::time::Instant;

use nfsx_core::ring::transfer::{measure_recv, measure_send, RecvOp, SendOp, TransferCost};

use crate::cli::KernelIoOpts;

pub fn run(o: &KernelIoOpts) -> Result<(), String> {
    if o.size < o.message {
        return Err(format!("--size ({}) must be at least one --message ({})", o.size, o.message));
    }
    let message = o.message as usize;
    let uring = nfsx_core::ring::probe_uring().is_ok();
    if !uring {
        println!("io_uring is unavailable here: only write(2) and read(2) are measured");
    }
    let sends: Vec<SendOp> = SendOp::ALL.into_iter().filter(|op| uring || *op == SendOp::Write).collect();
    let recvs: Vec<RecvOp> = RecvOp::ALL.into_iter().filter(|op| uring || *op == RecvOp::Read).collect();
    let mut send_costs = vec![Vec::new(); sends.len()];
    let mut recv_costs = vec![Vec::new(); recvs.len()];
    let mut memcpy = Vec::new();
    let mut memcpy_cached = Vec::new();
    for _ in 0..o.runs {
        memcpy.push(memcpy_from_memory_us_per_mib(message, o.size));
        memcpy_cached.push(memcpy_us_per_mib(message, message, o.size));
        for (op, costs) in sends.iter().zip(&mut send_costs) {
            costs.push(whole_machine(o.size, || measure_send(*op, message, o.size), op.name())?);
        }
        for (op, costs) in recvs.iter().zip(&mut recv_costs) {
            costs.push(whole_machine(o.size, || measure_recv(*op, message, o.size), op.name())?);
        }
    }
    let memcpy = median(&mut memcpy);
    println!("{} MiB per run in {} B messages, median of {} runs", o.size >> 20, message, o.runs);
    println!(
        "a memcpy of the same data costs {memcpy:.1} us/MiB from memory (the ratio's base), {:.1} within the caches",
        median(&mut memcpy_cached)
    );
    println!(
        "ours: the measured thread and its io_uring workers; machine: every CPU's busy time (peer, softirqs)"
    );
    println!(
        "{:<5}  {:<38}  {:>8}  {:>10}  {:>8}  {:>13}",
        "dir", "operation", "MiB/s", "ours us/MiB", "x memcpy", "machine us/MiB"
    );
    let rows = sends
        .iter()
        .map(|op| ("send", op.name()))
        .zip(send_costs)
        .chain(recvs.iter().map(|op| ("recv", op.name())).zip(recv_costs));
    for ((dir, name), costs) in rows {
        let mut rates: Vec<f64> = costs.iter().map(|(c, _)| c.mib_per_s()).collect();
        let mut ours: Vec<f64> = costs.iter().map(|(c, _)| c.cpu_us_per_mib()).collect();
        let mut machine: Vec<f64> = costs.iter().map(|(_, m)| *m).collect();
        let ours = median(&mut ours);
        println!(
            "{dir:<5}  {name:<38}  {:>8.0}  {ours:>11.1}  {:>8.2}  {:>14.1}",
            median(&mut rates),
            ours / memcpy,
            median(&mut machine)
        );
    }
    Ok(())
}

/// Runs one measurement and adds what the whole machine spent per MiB meanwhile (from
/// /proc/stat, in clock ticks: coarse, so runs should last a second or more), which shows
/// work a zero-copy operation merely moves to the peer or to softirq context.
fn whole_machine(
    size: u64,
    measure: impl FnOnce() -> std::io::Result<TransferCost>,
    name: &str,
) -> Result<(TransferCost, f64), String> {
    let before = busy_seconds();
    let cost = measure().map_err(|e| format!("{name}: {e}"))?;
    let machine = match (before, busy_seconds()) {
        (Some(b), Some(a)) => (a - b) * 1e6 / (size as f64 / (1 << 20) as f64),
        _ => f64::NAN,
    };
    Ok((cost, machine))
}

/// Seconds every CPU has been busy since boot (all of /proc/stat's first line but idle and
/// iowait), or None where /proc/stat is unreadable.
fn busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle) as f64 / USER_HZ)
}

/// /proc/stat's unit: USER_HZ, fixed at 100 by the kernel's user ABI on x86 and arm64.
const USER_HZ: f64 = 100.0;

/// Microseconds per MiB of copying `total` bytes in `message`-sized pieces between regions
/// larger than a core's caches: the yardstick for the data path.
pub fn memcpy_from_memory_us_per_mib(message: usize, total: u64) -> f64 {
    memcpy_us_per_mib(message, message.max(MEMCPY_REGION), total)
}

/// Microseconds per MiB of copying `total` bytes in `message`-sized pieces between two regions
/// of `region` bytes: larger than a core's caches (as an application's data usually is), or one
/// message (the same cached bytes every time).
fn memcpy_us_per_mib(message: usize, region: usize, total: u64) -> f64 {
    let pieces = region / message;
    let from = vec![0x5au8; region];
    // Written once first, so the timed copies take no page faults.
    let mut to = vec![1u8; region];
    let copies = total.div_ceil(message as u64);
    let started = Instant::now();
    for n in 0..copies as usize {
        let at = (n % pieces) * message;
        to[at..at + message].copy_from_slice(black_box(&from[at..at + message]));
        black_box(&mut to);
    }
    started.elapsed().as_secs_f64() * 1e6 / ((copies * message as u64) as f64 / (1 << 20) as f64)
}

/// Each of the two regions: larger than the L2 of the benchmark machines. The test VM reports
/// a 480 MiB L3, shared, which holds them; a memcpy out of DRAM would cost more.
const MEMCPY_REGION: usize = 64 << 20;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
