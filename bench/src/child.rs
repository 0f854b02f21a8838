//! Runs a driver as a child process (the libnfs driver, or this binary for nfsx and for
//! nfs3_client) one phase at a time, each with a deadline, and reads the JSON line it prints per
//! phase.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
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

/// A driver started with `--stepped`: once set up it says [`READY`], then runs its next phase
/// each time it is stepped, and its cleanup at the step after the last, so that `compare` can run
/// the clients' setups, phases and cleanups in turn and each phase meets the server in the same
/// state.
pub struct Stepped {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    phases: Vec<PhaseResult>,
}

/// What a stepped driver prints, alone on a line, once it is set up.
pub const READY: &str = "ready";

/// A driver's failure: its exit code (`None`: killed, stopped, or not started) and what went wrong,
/// with its stderr.
pub type Failure = (Option<i32>, String);

impl Stepped {
    /// Starts the driver and waits, at most `timeout`, until it is set up.
    pub fn start(mut cmd: Command, what: &'static str, timeout: Duration) -> Result<Stepped, Failure> {
        let mut child = cmd
            .arg("--stepped")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| (None, format!("cannot run the {what} driver ({:?}): {e}", cmd.get_program())))?;
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut driver = Stepped {
            what,
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            phases: Vec::new(),
        };
        match driver.next_line(timeout, |line| line == READY)? {
            Some(_) => Ok(driver),
            None => Err((None, format!("the {what} driver ended before it was set up"))),
        }
    }

    /// Runs the driver's next phase, or once they are all done its cleanup, stopping it if that
    /// takes longer than `timeout`. Ok(false): it has cleaned up and exited cleanly.
    pub fn step(&mut self, timeout: Duration) -> Result<bool, Failure> {
        if let Some(stdin) = &mut self.stdin {
            // A driver that failed reads no more and may be gone: its exit status tells, below.
            if stdin.write_all(b"go\n").and_then(|()| stdin.flush()).is_err() {
                self.stdin = None;
            }
        }
        let Some(line) = self.next_line(timeout, |line| line.starts_with('{'))? else { return Ok(false) };
        let what = self.what;
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| (None, format!("the {what} driver printed bad JSON ({e}): {line}")))?;
        let phase = PhaseResult::from_json(&v)
            .ok_or_else(|| (None, format!("the {what} driver's line lacks fields: {line}")))?;
        self.phases.push(phase);
        Ok(true)
    }

    /// The driver's next line that is `wanted`, within `timeout` (else it is stopped); None when
    /// it exited cleanly first.
    fn next_line(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, Failure> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if wanted(&line) => return Ok(Some(line)),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Err(self.stop_late(timeout)),
                Err(RecvTimeoutError::Disconnected) => return self.exited(deadline, timeout).map(|()| None),
            }
        }
    }

    /// The phases of a driver that has run them all.
    pub fn phases(mut self) -> Result<Vec<PhaseResult>, Failure> {
        if self.phases.is_empty() {
            return Err((None, format!("the {} driver printed no results", self.what)));
        }
        Ok(std::mem::take(&mut self.phases))
    }

    /// Closes the driver's stdin: it skips its remaining phases and cleans up what it made.
    pub fn hang_up(&mut self) {
        self.stdin = None;
    }

    fn exited(&mut self, deadline: Instant, timeout: Duration) -> Result<(), Failure> {
        let status = match self.exit_status_by(deadline) {
            Ok(Some(status)) => status,
            Ok(None) => return Err(self.stop_late(timeout)),
            Err(e) => return Err((None, format!("waiting for the {} driver: {e}", self.what))),
        };
        if status.success() {
            return Ok(());
        }
        Err((status.code(), self.with_stderr(format!("the {} driver failed ({status})", self.what))))
    }

    /// The driver's exit status once it has exited, or None if it still runs at `deadline`.
    fn exit_status_by(&mut self, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop_late(&mut self, timeout: Duration) -> Failure {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let why = format!(
            "the {} driver did not finish its setup, a phase or its cleanup within {:.0} s and was stopped",
            self.what,
            timeout.as_secs_f64()
        );
        (None, self.with_stderr(why))
    }

    /// `why`, and what the exited driver wrote to stderr. A process it left behind may hold the
    /// pipe open: stderr waits a second at most.
    fn with_stderr(&mut self, why: String) -> String {
        let Some(reader) = self.stderr.take() else { return why };
        let patience = Instant::now() + Duration::from_secs(1);
        while !reader.is_finished() && Instant::now() < patience {
            std::thread::sleep(Duration::from_millis(10));
        }
        let err = if reader.is_finished() { reader.join().unwrap_or_default() } else { String::new() };
        match err.trim() {
            "" => why,
            err => format!("{why}: {err}"),
        }
    }
}

impl Drop for Stepped {
    /// A driver left behind (another client failed) sees its stdin close, skips its remaining
    /// phases and cleans up what it made; one that does not within a minute is killed.
    fn drop(&mut self) {
        self.hang_up();
        if matches!(self.exit_status_by(Instant::now() + Duration::from_secs(60)), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// In a driver started with `--stepped`: waits for the line that starts the next phase (or the
/// cleanup). False when stdin ended instead: the comparison gave up, so the driver skips its
/// remaining phases.
pub fn await_step(stepped: bool) -> bool {
    let mut line = String::new();
    !stepped || std::io::stdin().lock().read_line(&mut line).is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;

    use super::{libnfs_target, Stepped};

    const PHASE_LINE: &str = r#"{"client":"fake","phase":"%s","ops":1,"bytes":0,"seconds":1,"client_cpu_user_s":0,"client_cpu_sys_s":0,"latency_us":{"p50":1,"p99":1,"p999":1}}"#;

    /// A shell driver named `name` that runs `phases`, logging each start to `log`, as the real
    /// drivers do with --stepped: "ready" once set up, a line on stdin starts each phase and then
    /// the cleanup; stdin's end skips the phases left.
    fn fake_driver(name: &str, phases: &str, log: &PathBuf) -> Command {
        let script = format!(
            r#"echo ready
               for p in {phases}; do
                 if ! read go; then echo "{name} stopped" >> "$0"; echo "{name} cleanup" >> "$0"; exit 1; fi
                 echo "{name} $p" >> "$0"
                 printf '%s\n' "$(printf '{PHASE_LINE}' "$p")"
               done
               read go
               echo "{name} cleanup" >> "$0""#
        );
        let mut c = Command::new("sh");
        c.args(["-c", &script]).arg(log);
        c
    }

    fn log_file(test: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("nfsx-bench-{test}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn log_lines(p: &PathBuf) -> Vec<String> {
        std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
    }

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn drivers_take_turns_phase_by_phase() {
        let log = log_file("turns");
        let mut x = Stepped::start(fake_driver("x", "create stat", &log), "x", LONG).unwrap();
        let mut y = Stepped::start(fake_driver("y", "create stat", &log), "y", LONG).unwrap();
        for _ in 0..2 {
            assert!(x.step(LONG).unwrap());
            assert!(y.step(LONG).unwrap());
        }
        assert!(!y.step(LONG).unwrap());
        assert!(!x.step(LONG).unwrap());
        assert_eq!(log_lines(&log), ["x create", "y create", "x stat", "y stat", "y cleanup", "x cleanup"]);
        let phases: Vec<String> = x.phases().unwrap().into_iter().map(|p| p.phase).collect();
        assert_eq!(phases, ["create", "stat"]);
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn a_driver_left_behind_is_told_to_stop() {
        let log = log_file("left");
        let mut x = Stepped::start(fake_driver("x", "create stat", &log), "x", LONG).unwrap();
        assert!(x.step(LONG).unwrap());
        drop(x);
        assert_eq!(log_lines(&log), ["x create", "x stopped", "x cleanup"]);
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn a_driver_that_fails_to_set_up_says_why() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo 'cannot mount' >&2; exit 3"]);
        let Err((code, why)) = Stepped::start(c, "x", LONG) else { panic!("a driver that exits 3 started") };
        assert_eq!(code, Some(3));
        assert!(why.contains("the x driver failed (exit status: 3): cannot mount"), "{why}");
    }

    #[test]
    fn a_phase_past_its_deadline_is_stopped() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo ready; read go; echo 'stuck' >&2; sleep 60"]);
        let mut x = Stepped::start(c, "x", LONG).unwrap();
        let started = std::time::Instant::now();
        let (code, why) = x.step(Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(code, None);
        assert!(why.contains("did not finish its setup, a phase or its cleanup"), "{why}");
    }

    #[test]
    fn targets() {
        assert_eq!(libnfs_target("nfs://127.0.0.1/mem?nconnect=4"), Ok(("127.0.0.1".into(), "/mem".into())));
        assert!(libnfs_target("nfs://h:2049/x").is_err());
        assert!(libnfs_target("http://h/x").is_err());
        assert!(libnfs_target("nfs://h").is_err());
    }
}
