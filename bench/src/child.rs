//! Runs a driver as a child process (the libnfs driver, or this binary for nfsx and for
//! nfs3_client) with a deadline, and reads the JSON line it prints per phase.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{Opts, Workload};
use crate::stats::PhaseResult;

/// Where the libnfs driver is: `$NFSX_BENCH_LIBNFS_DRIVER`, else the one build.rs made.
pub fn libnfs_driver() -> Result<String, String> {
    if let Ok(p) = std::env::var("NFSX_BENCH_LIBNFS_DRIVER") {
        return Ok(p);
    }
    #[cfg(has_libnfs)]
    {
        Ok(env!("NFSX_BENCH_LIBNFS_DRIVER").to_string())
    }
    #[cfg(not(has_libnfs))]
    {
        Err("nfsx-bench was built without libnfs, so it cannot compare: install libnfs-dev \
             (apt-get install libnfs-dev) and rebuild"
            .into())
    }
}

/// Server host and export path for libnfs, from the nfsx URL. libnfs 4.0 has no nconnect or
/// multipath, so those options only apply to nfsx.
pub fn libnfs_target(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("nfs://").ok_or_else(|| format!("not an nfs:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => return Err(format!("the URL names no export: {url}")),
    };
    let path = path.split('?').next().unwrap_or(path);
    if authority.contains(':') && !authority.starts_with('[') {
        return Err(format!(
            "the libnfs driver takes no port in the URL ({authority}); it asks the portmapper"
        ));
    }
    Ok((authority.to_string(), path.to_string()))
}

/// The libnfs driver's command line for a workload.
pub fn libnfs_command(workload: Workload, o: &Opts, prefix: &str) -> Result<Command, String> {
    let driver = libnfs_driver()?;
    let (server, export) = libnfs_target(&o.url)?;
    let mut c = Command::new(driver);
    c.args(["--workload", workload.name(), "--server", &server])
        .args(["--export", &export, "--prefix", prefix])
        .args(["--threads", &o.threads.to_string(), "--qd", &o.qd.to_string()])
        .args(["--duration", &o.duration.to_string()])
        .args(["--files", &o.files.to_string()])
        .args(["--file-size", &o.file_size.to_string()])
        .args(["--rw", o.rw.name(), "--bs", &o.bs.to_string()])
        .args(["--size", &o.size.to_string(), "--seed", &o.seed.to_string()]);
    if let Some(n) = o.ops {
        c.args(["--ops", &n.to_string()]);
    }
    if o.shared_dir {
        c.arg("--shared-dir");
    }
    if o.verify {
        c.arg("--verify");
    }
    if let Some(pid) = o.server_pid {
        c.args(["--server-pid", &pid.to_string()]);
    }
    Ok(c)
}

/// This binary running the workload through nfsx, printing JSON.
pub fn nfsx_command(workload: Workload, o: &Opts) -> Result<Command, String> {
    self_command(&[workload.name()], o)
}

/// This binary running the workload through the nfs3_client crate (its hidden driver mode).
pub fn nfs3_client_command(workload: Workload, o: &Opts) -> Result<Command, String> {
    self_command(&["nfs3-client-driver", workload.name()], o)
}

/// This binary with `mode` and the workload's options, printing JSON.
fn self_command(mode: &[&str], o: &Opts) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut c = Command::new(exe);
    c.args(mode)
        .args(["--url", &o.url])
        .args(["--threads", &o.threads.to_string(), "--qd", &o.qd.to_string()])
        .args(["--duration", &o.duration.to_string()])
        .args(["--files", &o.files.to_string()])
        .args(["--file-size", &o.file_size.to_string()])
        .args(["--rw", o.rw.name(), "--bs", &o.bs.to_string()])
        .args(["--size", &o.size.to_string(), "--seed", &o.seed.to_string()])
        .args(["--api", o.api.name()])
        .args(["--timeout", &o.timeout_s().to_string()])
        .args(["--json", "--quiet"]);
    if let Some(n) = o.ops {
        c.args(["--ops", &n.to_string()]);
    }
    if o.shared_dir {
        c.arg("--shared-dir");
    }
    if o.verify {
        c.arg("--verify");
    }
    if let Some(pid) = o.server_pid {
        c.args(["--server-pid", &pid.to_string()]);
    }
    Ok(c)
}

/// Runs `cmd`, killing it after `timeout`; returns the phases it printed, or what went wrong
/// (with its stderr).
pub fn run(cmd: Command, what: &str, timeout: Duration) -> Result<Vec<PhaseResult>, String> {
    run_status(cmd, what, timeout).map_err(|(_, e)| e)
}

/// As [`run`], and a failure comes with the driver's exit code (`None`: killed or stopped).
pub fn run_status(
    mut cmd: Command,
    what: &str,
    timeout: Duration,
) -> Result<Vec<PhaseResult>, (Option<i32>, String)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (None, format!("cannot run the {what} driver ({:?}): {e}", cmd.get_program())))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>()
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t0.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err((
                    None,
                    format!(
                        "the {what} driver did not finish within {:.0} s and was stopped",
                        timeout.as_secs_f64()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err((None, format!("waiting for the {what} driver: {e}"))),
        }
    };
    let lines = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    if !status.success() {
        let msg = err.trim();
        let msg = if msg.is_empty() {
            format!("the {what} driver failed ({status})")
        } else {
            format!("the {what} driver failed: {msg}")
        };
        return Err((status.code(), msg));
    }
    let mut phases = Vec::new();
    for line in lines.iter().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| (None, format!("the {what} driver printed bad JSON ({e}): {line}")))?;
        phases.push(
            PhaseResult::from_json(&v)
                .ok_or_else(|| (None, format!("the {what} driver's line lacks fields: {line}")))?,
        );
    }
    if phases.is_empty() {
        return Err((None, format!("the {what} driver printed no results")));
    }
    Ok(phases)
}

#[cfg(test)]
mod tests {
    use super::libnfs_target;

    #[test]
    fn targets() {
        assert_eq!(libnfs_target("nfs://127.0.0.1/mem?nconnect=4"), Ok(("127.0.0.1".into(), "/mem".into())));
        assert!(libnfs_target("nfs://h:2049/x").is_err());
        assert!(libnfs_target("http://h/x").is_err());
        assert!(libnfs_target("nfs://h").is_err());
    }
}
