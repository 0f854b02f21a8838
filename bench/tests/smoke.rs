//! Smoke tests of the nfsx-bench binary against the test ganesha (found through
//! NFSX_TEST_MEM_URL / NFSX_TEST_VFS_URL, or started with `ci/ganesha start`), with tiny counts,
//! and its answers to bad input.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

struct Server {
    mem_url: String,
    vfs_url: String,
    pid: Option<String>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let (Ok(mem_url), Ok(vfs_url)) =
            (std::env::var("NFSX_TEST_MEM_URL"), std::env::var("NFSX_TEST_VFS_URL"))
        {
            let pid = std::env::var("NFSX_GANESHA_PID").ok();
            return Server { mem_url, vfs_url, pid };
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = Command::new(root.join("ci/ganesha"))
            .arg("start")
            .output()
            .expect("running ci/ganesha start (needs root and ci/install-deps)");
        assert!(out.status.success(), "ci/ganesha start failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches('\'').to_string())
        };
        Server {
            mem_url: var("NFSX_TEST_MEM_URL").expect("ci/ganesha printed the MEM URL"),
            vfs_url: var("NFSX_TEST_VFS_URL").expect("ci/ganesha printed the VFS URL"),
            pid: var("NFSX_GANESHA_PID"),
        }
    })
}

/// Runs nfsx-bench against the test server with a deadline, so a hang fails the test instead of
/// blocking it.
fn bench(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nfsx-bench"));
    cmd.args(args).env_remove("NFSX_GANESHA_PID");
    if let Some(pid) = &server().pid {
        cmd.env("NFSX_GANESHA_PID", pid);
    }
    within_deadline(cmd, args)
}

fn within_deadline(mut cmd: Command, args: &[&str]) -> Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run nfsx-bench");
    let t0 = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("nfsx-bench {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// `nfsx-bench compare WORKLOAD --url URL --runs 1 ARGS --with nfs3_client --json`; `None`
/// (after checking that it failed) where the bench was built without libnfs.
fn compare_with_nfs3_client(workload: &str, url: &str, args: &[&str]) -> Option<Output> {
    let mut all = vec!["compare", workload, "--url", url, "--runs", "1"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--with", "nfs3_client", "--json"]);
    let out = bench(&all);
    if cfg!(not(has_libnfs)) {
        assert!(!out.status.success());
        return None;
    }
    Some(out)
}

fn phases(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nfsx-bench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn check_fields(v: &Value) {
    for key in [
        "workload",
        "parameters",
        "ops",
        "bytes",
        "seconds",
        "ops_per_s",
        "mib_per_s",
        "client_cpu_user_s",
        "client_cpu_sys_s",
        "cpu_us_per_op",
        "bottleneck",
        "environment",
    ] {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    for p in ["p50", "p99", "p999"] {
        assert!(v["latency_us"][p].as_u64().is_some(), "no latency {p} in {v}");
    }
    assert!(v["ops"].as_u64().unwrap() > 0, "no operations in {v}");
}

#[test]
fn getattr_prints_one_json_object_per_phase() {
    let out = bench(&["getattr", "--url", &server().mem_url, "--qd", "8", "--ops", "300", "--json"]);
    let v = phases(&out);
    assert_eq!(v.len(), 1);
    check_fields(&v[0]);
    assert_eq!(v[0]["phase"], "getattr");
    assert_eq!(v[0]["ops"], 300);
    assert_eq!(v[0]["environment"]["export_type"], if server().pid.is_some() { "MEM" } else { "unknown" });
}

#[test]
fn null_measures_the_round_trip_floor_in_every_client() {
    let out = bench(&["null", "--url", &server().mem_url, "--qd", "1", "--ops", "200", "--json"]);
    let v = phases(&out);
    assert_eq!(v.len(), 1);
    check_fields(&v[0]);
    assert_eq!(v[0]["phase"], "null");
    assert_eq!(v[0]["ops"], 200);
    let Some(out) = compare_with_nfs3_client("null", &server().mem_url, &["--ops", "200"]) else { return };
    let v = phases(&out);
    let clients: Vec<&str> = v.iter().filter_map(|p| p["client"].as_str()).collect();
    assert_eq!(clients, ["libnfs", "nfs3_client", "nfsx"]);
    for run in v.iter().filter(|p| p.get("client").is_some()) {
        assert_eq!(run["phase"], "null", "{run}");
        assert_eq!(run["ops"], 200, "{run}");
    }
}

#[test]
fn md_runs_every_phase_and_verifies_reads() {
    let out = bench(&[
        "md",
        "--url",
        &server().mem_url,
        "--threads",
        "2",
        "--files",
        "25",
        "--file-size",
        "3000",
        "--verify",
        "--json",
    ]);
    let v = phases(&out);
    let names: Vec<&str> = v.iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(names, ["create", "stat", "read", "remove"]);
    for p in &v {
        check_fields(p);
        assert_eq!(p["ops"], 50, "{p}");
    }
    assert_eq!(v[2]["verify"], "ok");
    assert_eq!(v[2]["bytes"], 50 * 3000);
}

#[test]
fn io_write_verify_reads_back_every_byte() {
    let out = bench(&[
        "io",
        "--url",
        &server().vfs_url,
        "--rw",
        "randwrite",
        "--bs",
        "64K",
        "--size",
        "2M",
        "--qd",
        "4",
        "--verify",
        "--json",
    ]);
    let v = phases(&out);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["phase"], "write");
    assert_eq!(v[0]["bytes"], 2 << 20);
    assert_eq!(v[1]["phase"], "read");
    assert_eq!(v[1]["verify"], "ok");
    check_fields(&v[1]);
}

/// Sequential reads checked byte for byte, through the batch API and through `--api file`
/// (File::read_into calls of --qd blocks, each block an operation); the file API refuses
/// anything but sequential reads.
#[test]
fn io_read_verify_through_either_api() {
    for api in ["batch", "file"] {
        let out = bench(&[
            "io",
            "--url",
            &server().vfs_url,
            "--rw",
            "read",
            "--api",
            api,
            "--bs",
            "128K",
            "--size",
            "3M",
            "--qd",
            "4",
            "--verify",
            "--json",
        ]);
        let v = phases(&out);
        assert_eq!(v[0]["phase"], "layout");
        assert_eq!(v[1]["phase"], "read");
        assert_eq!(v[1]["verify"], "ok", "{api}");
        assert_eq!(v[1]["ops"], 24, "{api}");
        assert_eq!(v[1]["parameters"]["api"], api);
        check_fields(&v[1]);
    }
    fails_clearly(&["io", "--url", &server().vfs_url, "--rw", "randread", "--api", "file"], "--api file");
    fails_clearly(&["io", "--url", &server().vfs_url, "--rw", "write", "--api", "file"], "--api file");
}

#[test]
fn compare_runs_both_clients() {
    let out =
        bench(&["compare", "getattr", "--url", &server().mem_url, "--runs", "1", "--ops", "200", "--json"]);
    if cfg!(not(has_libnfs)) {
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install libnfs-dev"));
        return;
    }
    let v = phases(&out);
    let clients: Vec<&str> = v.iter().filter_map(|p| p["client"].as_str()).collect();
    assert_eq!(clients, ["libnfs", "nfsx"]);
    let summary = v.iter().find(|p| p["metric"] == "client cpu us/op").expect("a ratio");
    assert!(summary["ratio_median"].as_f64().unwrap() > 0.0);
}

#[test]
fn compare_md_runs_the_clients_phase_by_phase_in_turn() {
    let url = &server().vfs_url;
    let out = bench(&["compare", "md", "--url", url, "--runs", "2", "--files", "20", "--qd", "4", "--json"]);
    if cfg!(not(has_libnfs)) {
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("md run 1/2: each phase through libnfs, then nfsx"), "{err}");
    assert!(err.contains("md run 2/2: each phase through nfsx, then libnfs"), "{err}");
    let v = phases(&out);
    let ran: Vec<(&str, &str)> =
        v.iter().filter_map(|p| Some((p["client"].as_str()?, p["phase"].as_str()?))).collect();
    let of = |client: &str| ran.iter().filter(|(c, _)| *c == client).map(|(_, p)| *p).collect::<Vec<_>>();
    assert_eq!(of("libnfs"), ["create", "stat", "remove", "create", "stat", "remove"]);
    assert_eq!(of("nfsx"), of("libnfs"));
}

#[test]
fn a_sweep_reports_each_point_and_plots_all_three_clients() {
    let dir = std::env::temp_dir().join(format!("nfsx-bench-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("sweep.svg");
    let url = &server().mem_url;
    let Some(out) = compare_with_nfs3_client(
        "getattr",
        url,
        &["--ops", "100", "--sweep", "qd=1, 4", "--plot", svg.to_str().unwrap()],
    ) else {
        return;
    };
    let points: Vec<Value> = phases(&out).into_iter().filter(|p| p.get("sweep").is_some()).collect();
    let values: Vec<u64> = points.iter().filter_map(|p| p["value"].as_u64()).collect();
    assert_eq!(values, [1, 4], "{points:?}");
    for p in &points {
        for client in ["nfsx", "libnfs", "nfs3_client"] {
            let rate = p[format!("{client}_ops_per_s")].as_f64().unwrap_or(0.0);
            assert!(rate > 0.0, "{client} at qd={}: {p}", p["value"]);
        }
    }
    let drawn = std::fs::read_to_string(&svg).unwrap();
    for label in ["nfsx", "libnfs", "nfs3_client"] {
        assert!(drawn.contains(label), "the plot names no {label}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compare_getattr_with_nfs3_client() {
    let url = &server().mem_url;
    let Some(out) = compare_with_nfs3_client("getattr", url, &["--qd", "4", "--ops", "200"]) else { return };
    let v = phases(&out);
    let runs: Vec<&Value> = v.iter().filter(|p| p.get("client").is_some()).collect();
    let clients: Vec<&str> = runs.iter().filter_map(|p| p["client"].as_str()).collect();
    assert_eq!(clients, ["libnfs", "nfs3_client", "nfsx"]);
    let peer = runs[1];
    check_fields(peer);
    assert_eq!(peer["ops"], 200, "{peer}");
    assert_eq!(peer["parameters"]["connections_per_thread"], 4, "{peer}");
    assert_eq!(peer["parameters"]["runtime"], "tokio current-thread", "{peer}");
    let summary = v.iter().find(|p| p["metric"] == "client cpu us/op").expect("a ratio");
    assert!(summary["ratio_median"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(summary["ratio_nfs3_client_median"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(summary["nfs3_client_median"].as_f64().unwrap() > 0.0, "{summary}");
    assert_eq!(summary["nfs3_client_runs"], 1, "{summary}");
    assert!(summary["nfs3_client_skipped"].is_null(), "{summary}");
}

#[test]
fn compare_io_read_verify_with_nfs3_client() {
    let url = &server().vfs_url;
    let Some(out) = compare_with_nfs3_client(
        "io",
        url,
        &["--rw", "read", "--bs", "128K", "--size", "2M", "--qd", "4", "--duration", "1", "--verify"],
    ) else {
        return;
    };
    let v = phases(&out);
    let peer: Vec<&Value> = v.iter().filter(|p| p["client"] == "nfs3_client").collect();
    let names: Vec<&str> = peer.iter().filter_map(|p| p["phase"].as_str()).collect();
    assert_eq!(names, ["layout", "read"]);
    assert_eq!(peer[0]["bytes"], 2 << 20);
    assert_eq!(peer[1]["verify"], "ok", "{}", peer[1]);
    check_fields(peer[1]);
    let read =
        v.iter().find(|p| p["phase"] == "read" && p["metric"] == "MiB/s").expect("a read MiB/s summary");
    assert!(read["ratio_nfs3_client_median"].as_f64().unwrap() > 0.0, "{read}");
}

#[test]
fn compare_leaves_nfs3_client_out_where_it_cannot() {
    let url = &server().mem_url;
    let Some(out) = compare_with_nfs3_client("md", url, &["--files", "3", "--qd", "2"]) else { return };
    let v = phases(&out);
    assert!(v.iter().all(|p| p["client"] != "nfs3_client"));
    let summary = v.iter().find(|p| p.get("metric").is_some()).expect("a summary");
    assert!(summary["nfs3_client_skipped"].as_str().unwrap().contains("getattr and io"), "{summary}");
    assert!(summary["nfs3_client_median"].is_null(), "{summary}");
}

#[test]
fn nfs3_client_driver_fails_clearly() {
    let driver = |args: &[&str]| {
        let mut all = vec!["nfs3-client-driver"];
        all.extend_from_slice(args);
        bench(&all)
    };
    // Nothing listens on port 9 of loopback: refused at once.
    let out = driver(&["getattr", "--url", "nfs://127.0.0.1/x?nfsport=9&mountport=9", "--ops", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot mount") && !stderr.contains("panicked"), "{stderr}");
    let wrong_export = format!("{}-no-such-export", server().mem_url);
    let out = driver(&["getattr", "--url", &wrong_export, "--ops", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot mount"));
    // One WRITE larger than the server's wtmax: nfs3_client cannot, and says so (exit 4).
    let out = driver(&["io", "--url", &server().vfs_url, "--bs", "2M", "--size", "4M"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("nfs3_client cannot run this") && stderr.contains("wtmax"), "{stderr}");
}

#[test]
fn kernel_io_measures_every_operation_without_a_server() {
    let args = ["kernel-io", "--size", "16M", "--message", "256K", "--runs", "1"];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nfsx-bench"));
    cmd.args(args);
    let out = within_deadline(cmd, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("memcpy of the same data costs"), "{stdout}");
    let uring = nfsx_core::ring::probe_uring().is_ok();
    let wanted: &[&str] = if uring {
        &[
            "write(2)",
            "io_uring SEND ",
            "io_uring SEND_ZC ",
            "SEND_ZC, registered",
            "read(2)",
            "io_uring RECV ",
            "READ_FIXED",
            "RECV, registered file",
            "RECV multishot",
        ]
    } else {
        &["write(2)", "read(2)"]
    };
    let mut ours_total = 0.0;
    for name in wanted {
        let row =
            stdout.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no {name} row:\n{stdout}"));
        // MiB/s, ours us/MiB, x memcpy, machine us/MiB. Either CPU figure of a run this short
        // can round to zero (the machine's comes in 10 ms ticks; the kernel may do the thread's
        // work in another context); the data moved, and some operations cost the thread.
        let figures: Vec<f64> = row.split_whitespace().rev().take(4).filter_map(|v| v.parse().ok()).collect();
        assert!(figures.len() == 4 && figures[3] > 0.0 && figures.iter().all(|f| *f >= 0.0), "{row}");
        ours_total += figures[2];
    }
    assert!(ours_total > 0.0, "no operation cost the measured thread anything:\n{stdout}");
    fails_clearly(&["kernel-io", "--message", "1K"], "--message");
    fails_clearly(&["kernel-io", "--message", "1M", "--size", "0"], "--size");
}

fn fails_clearly(args: &[&str], needle: &str) {
    let out = bench(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: no {needle:?} in {stderr}");
}

#[test]
fn bad_input_fails_with_a_message() {
    // Nothing listens on port 9 of loopback: refused at once.
    fails_clearly(
        &["getattr", "--url", "nfs://127.0.0.1/x?nfsport=9&mountport=9", "--ops", "1"],
        "cannot mount",
    );
    let wrong_export = format!("{}-no-such-export", server().mem_url);
    fails_clearly(&["getattr", "--url", &wrong_export, "--ops", "1"], "cannot mount");
    fails_clearly(&["getattr", "--url", "http://x/y", "--ops", "1"], "cannot mount");
    fails_clearly(&["getattr", "--url", &server().mem_url, "--qd", "0"], "--qd");
    fails_clearly(&["getattr", "--url", &server().mem_url, "--bogus"], "--bogus");
    fails_clearly(&["io", "--url", &server().vfs_url, "--bs", "1X"], "size suffix");
    fails_clearly(&["io", "--url", &server().vfs_url, "--bs", "64M", "--size", "64M"], "--bs");
    fails_clearly(&["io", "--url", &server().vfs_url, "--size", "100000G", "--bs", "1M"], "available");
}
