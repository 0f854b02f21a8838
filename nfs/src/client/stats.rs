//! Per-procedure counters and latency histograms, in the manner of `nfsiostat`, updated with
//! relaxed atomics so many threads can record at once without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::proto::nfs3::{self, Procedure};

/// Slots: the 22 NFSv3 procedures by number, then one for MOUNT and portmap calls.
pub const OP_SLOTS: usize = 23;
const OTHER_SLOT: usize = OP_SLOTS - 1;
const NAMES: [&str; OP_SLOTS] = [
    nfs3::Null::NAME,
    nfs3::Getattr::NAME,
    nfs3::Setattr::NAME,
    nfs3::Lookup::NAME,
    nfs3::Access::NAME,
    nfs3::Readlink::NAME,
    nfs3::Read::NAME,
    nfs3::Write::NAME,
    nfs3::Create::NAME,
    nfs3::Mkdir::NAME,
    nfs3::Symlink::NAME,
    nfs3::Mknod::NAME,
    nfs3::Remove::NAME,
    nfs3::Rmdir::NAME,
    nfs3::Rename::NAME,
    nfs3::Link::NAME,
    nfs3::Readdir::NAME,
    nfs3::Readdirplus::NAME,
    nfs3::Fsstat::NAME,
    nfs3::Fsinfo::NAME,
    nfs3::Pathconf::NAME,
    nfs3::Commit::NAME,
    "MOUNT/PORTMAP",
];
/// Bucket `i` counts replies that took [2^i, 2^(i+1)) µs (bucket 0 also holds anything faster).
const LATENCY_BUCKETS: usize = 32;

/// The statistics slot of an NFSv3 procedure number; anything else shares the last slot.
pub fn slot_of(nfs_procedure: Option<u32>) -> usize {
    match nfs_procedure {
        Some(p) if (p as usize) < OTHER_SLOT => p as usize,
        _ => OTHER_SLOT,
    }
}

#[derive(Debug, Default)]
pub(crate) struct OpCounters {
    ops: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    latency_sum_us: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

impl OpCounters {
    pub fn record(&self, latency: Duration, payload_bytes: usize, failed: bool) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(payload_bytes as u64, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = (u64::BITS - us.max(1).leading_zeros() - 1) as usize;
        self.latency[bucket.min(LATENCY_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// A call that completed at the RPC level but carried a failure status.
    pub fn note_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// One procedure's totals since the client was mounted.
#[derive(Debug, Clone, PartialEq)]
pub struct OpStats {
    pub procedure: &'static str,
    pub ops: u64,
    /// Calls that ended in an error of any kind (server status, RPC, transport).
    pub errors: u64,
    /// Bytes moved: WRITE payloads sent, and whole reply records received for other calls.
    pub bytes: u64,
    pub mean_latency_us: f64,
    /// Upper bounds of the histogram buckets holding the 50th and 99th percentiles.
    pub p50_latency_us: u64,
    pub p99_latency_us: u64,
    /// The latency histogram: entry `i` counts calls that took from 2^i to 2^(i+1) µs (entry
    /// 0 also those faster), up to the last bucket with any.
    pub latency_histogram: Vec<u64>,
}

pub(crate) fn snapshot(ops: &[OpCounters; OP_SLOTS]) -> Vec<OpStats> {
    ops.iter()
        .zip(NAMES)
        .filter_map(|(c, procedure)| {
            let n = c.ops.load(Ordering::Relaxed);
            (n > 0).then(|| {
                let mut buckets: Vec<u64> = c.latency.iter().map(|b| b.load(Ordering::Relaxed)).collect();
                let used = buckets.iter().rposition(|&n| n > 0).map_or(0, |last| last + 1);
                buckets.truncate(used);
                OpStats {
                    procedure,
                    ops: n,
                    errors: c.errors.load(Ordering::Relaxed),
                    bytes: c.bytes.load(Ordering::Relaxed),
                    mean_latency_us: c.latency_sum_us.load(Ordering::Relaxed) as f64 / n as f64,
                    p50_latency_us: percentile(&buckets, 0.50),
                    p99_latency_us: percentile(&buckets, 0.99),
                    latency_histogram: buckets,
                }
            })
        })
        .collect()
}

fn percentile(buckets: &[u64], q: f64) -> u64 {
    let total: u64 = buckets.iter().sum();
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, &n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return 1u64 << (i + 1);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_power_of_two_buckets() {
        let ops: [OpCounters; OP_SLOTS] = Default::default();
        for us in [0, 1, 3, 100, 100, 100, 100, 100, 100, 5000] {
            ops[slot_of(Some(1))].record(Duration::from_micros(us), 0, false);
        }
        ops[slot_of(Some(7))].record(Duration::from_micros(10), 4096, true);
        ops[slot_of(None)].record(Duration::from_micros(10), 0, false);
        let stats = snapshot(&ops);
        let names: Vec<_> = stats.iter().map(|s| s.procedure).collect();
        assert_eq!(names, ["GETATTR", "WRITE", "MOUNT/PORTMAP"]);
        let getattr = &stats[0];
        assert_eq!((getattr.ops, getattr.p50_latency_us, getattr.p99_latency_us), (10, 128, 8192));
        // 0 and 1 µs in [1, 2), 3 in [2, 4), six 100s in [64, 128), 5000 in [4096, 8192).
        let mut histogram = vec![0; 13];
        (histogram[0], histogram[1], histogram[6], histogram[12]) = (2, 1, 6, 1);
        assert_eq!(getattr.latency_histogram, histogram);
        assert_eq!((stats[1].errors, stats[1].bytes), (1, 4096));
        assert_eq!(slot_of(Some(99)), OTHER_SLOT);
    }
}
