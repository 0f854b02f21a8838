//! nfsx-bench: a load generator that measures nfsx, and libnfs side by side.
//!
//! ```text
//!  nfsx-bench getattr|md|io ...     one workload through nfsx, in this process
//!  nfsx-bench compare <workload>    libnfs driver (child, C)          ─┐ taking turns phase by
//!    [--with nfs3_client]           nfs3_client driver (child, self)  ─┤ phase, --runs times,
//!                                   nfsx driver (child, self)         ─┘ each measuring itself
//!         │ one JSON line per phase: ops, bytes, seconds, own getrusage CPU, server CPU
//!         ▼ (/proc/PID/stat of the server), latency percentiles
//!  table / --json / --plot (with --sweep)
//! ```
//!
//! `nfsx-bench kernel-io` needs no server: it measures the kernel's send and receive calls on
//! loopback (`kernel_io`).
//!
//! Modules: `cli` (options), `workloads` (the nfsx driver: getattr, md, io), `nfs3_driver`
//! (the nfs3_client driver: getattr, io), `child` (runs a driver as a child, a phase at a time, each with a deadline),
//! `stats` (rusage, server CPU, HDR histograms, results), `report` (table), `compare` (runs in turn
//! and ratios), `plot` (SVG), `pattern` (the seeded data every driver writes and verifies),
//! `progress` (live rates).

mod child;
mod cli;
mod compare;
mod kernel_io;
mod nfs3_driver;
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
use crate::stats::PhaseResult;

/// Runs one driver in this process under a watchdog; `driver` measures the workload, handing
/// each phase to the callback as soon as it has it.
fn run_one(
    o: &Opts,
    driver: impl FnOnce(&mut dyn FnMut(&PhaseResult)) -> Result<Vec<PhaseResult>, String>,
) -> Result<(), String> {
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
    let results = driver(&mut |r| {
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
    let nfsx = |w: Workload, o: &Opts| run_one(o, |emit| workloads::run(w, o, emit));
    let result = match &cli.command {
        Command::Getattr(o) => nfsx(Workload::Getattr, o),
        Command::Null(o) => nfsx(Workload::Null, o),
        Command::Md(o) => nfsx(Workload::Md, o),
        Command::Io(o) => nfsx(Workload::Io, o),
        Command::Compare(c) => compare::compare(c),
        Command::KernelIo(k) => kernel_io::run(k),
        Command::Nfs3ClientDriver(d) => {
            // Exit codes tell `compare` what to do: CANNOT_EXIT leaves nfs3_client out, BAD_DATA_EXIT
            // (it read back something else than it wrote) fails the comparison.
            let mut code = None;
            let r = run_one(&d.opts, |emit| {
                let phases = nfs3_driver::run(d.workload, &d.opts, emit).map_err(|f| match f {
                    nfs3_driver::Failure::Cannot(m) => {
                        code = Some(nfs3_driver::CANNOT_EXIT);
                        format!("nfs3_client cannot run this: {m}")
                    }
                    nfs3_driver::Failure::Failed(m) => m,
                })?;
                if let Some(r) = phases.iter().find(|r| r.verify.as_ref().is_some_and(|v| v != "ok")) {
                    code = Some(nfs3_driver::BAD_DATA_EXIT);
                    return Err(format!("{} verify: {}", r.phase, r.verify.as_deref().unwrap_or("")));
                }
                Ok(phases)
            });
            if let (Err(e), Some(code)) = (&r, code) {
                eprintln!("nfsx-bench: error: {e}");
                return ExitCode::from(code);
            }
            r
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nfsx-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
