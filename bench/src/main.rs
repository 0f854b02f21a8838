//! nfsx-bench: a load generator that measures nfsx, and libnfs side by side.
//!
//! ```text
//!  nfsx-bench getattr|md|io ...     one workload through nfsx, in this process
//!  nfsx-bench compare <workload>    libnfs driver (child, C)  ─┐ alternating, --runs times,
//!                                   nfsx driver (child, self) ─┘ each measuring itself
//!         │ one JSON line per phase: ops, bytes, seconds, own getrusage CPU, server CPU
//!         ▼ (/proc/PID/stat of the server), latency percentiles
//!  table / --json / --plot (with --sweep)
//! ```
//!
//! Modules: `cli` (options), `workloads` (the nfsx driver: getattr, md, io), `child` (runs a
//! driver as a child with a deadline), `stats` (rusage, server CPU, HDR histograms, results),
//! `report` (table), `compare` (A/B runs and ratios), `plot` (SVG), `pattern` (the seeded data
//! both drivers write and verify), `progress` (live rates).

mod child;
mod cli;
mod compare;
mod pattern;
mod plot;
mod progress;
mod report;
mod stats;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Cli, Command, Opts, Workload};

fn run_one(workload: Workload, o: &Opts) -> Result<(), String> {
    // Every run is bounded: a watchdog ends the process if the server stops answering.
    let timeout = o.timeout_s();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(timeout));
        eprintln!(
            "nfsx-bench: error: the run did not finish within {timeout:.0} s (see --timeout); giving up"
        );
        std::process::exit(3);
    });
    let json = o.json;
    let results = workloads::run(workload, o, |r| {
        if json {
            println!("{}", r.to_json());
        }
    })?;
    if !json {
        if let Some(first) = results.first() {
            println!("{}", report::header(first));
        }
        print!("{}", report::table(&results));
    }
    for r in &results {
        if let Some(v) = &r.verify {
            if v != "ok" {
                return Err(format!("{} verify: {v}", r.phase));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Getattr(o) => run_one(Workload::Getattr, o),
        Command::Md(o) => run_one(Workload::Md, o),
        Command::Io(o) => run_one(Workload::Io, o),
        Command::Compare(c) => compare::compare(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nfsx-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
