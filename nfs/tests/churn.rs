//! A long run creating and removing a million files (issue 7) keeps the client's memory flat:
//! name-cache entries, statistics, buffers and connection state must not grow with the number
//! of files a job has ever touched. Ignored by default (a few minutes); `ci/test` runs it.
//! `NFSX_CHURN_FILES` sets the count (default 1,000,000).

mod common;

use std::time::Instant;

use common::{server, url, vfs_scratch, vm_rss_kib};
use nfsx::Client;

const THREADS: usize = 8;
/// Files each thread creates before removing them again: a round.
const ROUND: usize = 1_000;
/// RSS growth allowed between the end of the first tenth of the run and the end.
const RSS_GROWTH_BOUND_KIB: i64 = 8 * 1024;

fn files_from_env() -> usize {
    std::env::var("NFSX_CHURN_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

#[test]
#[ignore = "a few minutes of creates and removes; ci/test runs it"]
fn creating_and_removing_a_million_files_keeps_memory_flat() {
    let files = files_from_env();
    let rounds = files.div_ceil(THREADS * ROUND);
    let s = vfs_scratch("churn");
    let client = Client::mount(&url(&server().vfs_url, &s.name, "nconnect=2")).unwrap();
    for t in 0..THREADS {
        client.mkdir(&format!("t{t}"), 0o755).unwrap();
    }
    let started = Instant::now();
    let mut rss_after_warmup = 0;
    let mut rss_peak = 0;
    let mut rss_each_tenth = Vec::new();
    for round in 0..rounds {
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let client = &client;
                scope.spawn(move || {
                    for i in 0..ROUND {
                        let path = format!("t{t}/r{round}-f{i}");
                        client.create(&path, 0o644).and_then(|f| f.close()).unwrap_or_else(|e| {
                            panic!("create {path}: {e}");
                        });
                    }
                    for i in 0..ROUND {
                        let path = format!("t{t}/r{round}-f{i}");
                        client.unlink(&path).unwrap_or_else(|e| panic!("remove {path}: {e}"));
                    }
                });
            }
        });
        let rss = vm_rss_kib();
        rss_peak = rss_peak.max(rss);
        if round == rounds / 10 {
            rss_after_warmup = rss;
        }
        if (round + 1) % rounds.div_ceil(10) == 0 {
            rss_each_tenth.push(rss);
        }
    }
    let rss_end = vm_rss_kib();
    let done = rounds * THREADS * ROUND;
    let elapsed = started.elapsed();
    eprintln!(
        "{done} files created and removed in {elapsed:?} ({:.0} ops/s); RSS after the first tenth {rss_after_warmup} KiB, peak {rss_peak} KiB, end {rss_end} KiB; at each tenth {rss_each_tenth:?} KiB",
        (2 * done) as f64 / elapsed.as_secs_f64()
    );
    let creates = client.op_stats().into_iter().find(|s| s.procedure == "CREATE").unwrap();
    assert_eq!(creates.ops, done as u64, "one CREATE per file");
    assert_eq!(creates.errors, 0);
    let grown = rss_peak - rss_after_warmup;
    assert!(
        grown <= RSS_GROWTH_BOUND_KIB,
        "RSS grew by {grown} KiB over the run (bound {RSS_GROWTH_BOUND_KIB})"
    );
    for t in 0..THREADS {
        let left: Vec<_> = client
            .read_dir(&format!("t{t}"))
            .unwrap()
            .map(|e| e.unwrap().name)
            .filter(|n| n != "." && n != "..")
            .collect();
        assert!(left.is_empty(), "every file was removed: {} left", left.len());
    }
}
