//! Measurements: this process's CPU time (getrusage), the server's CPU time (/proc/PID/stat),
//! latency histograms (HDR), and one phase's result with the figures derived from it.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// User and system CPU seconds of this whole process (all threads), from getrusage(RUSAGE_SELF).
pub fn process_cpu() -> (f64, f64) {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct we pass, which lives for the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// A process's user + system CPU seconds, read from /proc/PID/stat (fields 14 and 15).
pub fn server_cpu(pid: Option<u32>) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let ut: f64 = fields.get(11)?.parse().ok()?;
    let st: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((ut + st) / if hz > 0 { hz as f64 } else { 100.0 })
}

/// A latency histogram in microseconds, 1 µs to 100 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("static bounds are valid")
}

pub fn record(h: &mut Histogram<u64>, latency: Duration) {
    h.saturating_record((latency.as_micros() as u64).max(1));
}

/// One phase of one run, as measured by the driver that ran it.
#[derive(Debug, Clone, Default)]
pub struct PhaseResult {
    pub client: String,
    pub workload: String,
    pub phase: String,
    pub ops: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub server_cpu_s: Option<f64>,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub verify: Option<String>,
    /// Workload parameters, environment: copied into the JSON as they are.
    pub parameters: Map<String, Value>,
    pub environment: Map<String, Value>,
}

impl PhaseResult {
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.seconds.max(1e-9)
    }
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / self.seconds.max(1e-9)
    }
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_sys_s
    }
    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu_s() * 1e6 / (self.ops.max(1) as f64)
    }
    pub fn cpu_us_per_mib(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.cpu_s() * 1e6 / (self.bytes as f64 / (1 << 20) as f64))
    }
    pub fn server_cpu_us_per_op(&self) -> Option<f64> {
        self.server_cpu_s.map(|s| s * 1e6 / self.ops.max(1) as f64)
    }
    /// Which side limited the phase: the server when it used at least 90% of a core or more CPU
    /// than the client, else the client; "latency" when neither used half a core.
    pub fn bottleneck(&self) -> &'static str {
        let Some(server) = self.server_cpu_s else {
            return "unknown (no server pid)";
        };
        let server_util = server / self.seconds.max(1e-9);
        let client_util = self.cpu_s() / self.seconds.max(1e-9);
        if server_util >= 0.9 || (server_util > client_util && server_util >= 0.5) {
            "server"
        } else if client_util >= 0.5 {
            "client"
        } else {
            "latency (neither side busy)"
        }
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("client".into(), json!(self.client));
        o.insert("workload".into(), json!(self.workload));
        o.insert("phase".into(), json!(self.phase));
        o.insert("parameters".into(), Value::Object(self.parameters.clone()));
        o.insert("ops".into(), json!(self.ops));
        o.insert("bytes".into(), json!(self.bytes));
        o.insert("seconds".into(), json!(self.seconds));
        o.insert("ops_per_s".into(), json!(self.ops_per_s()));
        o.insert("mib_per_s".into(), json!(self.mib_per_s()));
        o.insert("client_cpu_user_s".into(), json!(self.cpu_user_s));
        o.insert("client_cpu_sys_s".into(), json!(self.cpu_sys_s));
        o.insert("cpu_us_per_op".into(), json!(self.cpu_us_per_op()));
        o.insert("cpu_us_per_mib".into(), json!(self.cpu_us_per_mib()));
        o.insert("server_cpu_s".into(), json!(self.server_cpu_s));
        o.insert("server_cpu_us_per_op".into(), json!(self.server_cpu_us_per_op()));
        o.insert("bottleneck".into(), json!(self.bottleneck()));
        o.insert("latency_us".into(), json!({"p50": self.p50_us, "p99": self.p99_us, "p999": self.p999_us}));
        if let Some(v) = &self.verify {
            o.insert("verify".into(), json!(v));
        }
        o.insert("environment".into(), Value::Object(self.environment.clone()));
        Value::Object(o)
    }

    /// Reads a phase line printed by a driver (the libnfs driver's or our own `--json`).
    pub fn from_json(v: &Value) -> Option<PhaseResult> {
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        let u = |k: &str| v.get(k).and_then(Value::as_u64);
        let lat = v.get("latency_us")?;
        let obj = |k: &str| v.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
        Some(PhaseResult {
            client: v.get("client")?.as_str()?.to_string(),
            workload: v.get("workload").and_then(Value::as_str).unwrap_or("").to_string(),
            phase: v.get("phase")?.as_str()?.to_string(),
            ops: u("ops")?,
            bytes: u("bytes")?,
            seconds: f("seconds")?,
            cpu_user_s: f("client_cpu_user_s")?,
            cpu_sys_s: f("client_cpu_sys_s")?,
            server_cpu_s: f("server_cpu_s"),
            p50_us: lat.get("p50")?.as_u64()?,
            p99_us: lat.get("p99")?.as_u64()?,
            p999_us: lat.get("p999")?.as_u64()?,
            verify: v.get("verify").and_then(Value::as_str).map(str::to_string),
            parameters: obj("parameters"),
            environment: obj("environment"),
        })
    }
}

/// The machine this runs on and the server it measures, stated with every result.
pub fn environment(url: &str, server_pid: Option<u32>) -> Map<String, Value> {
    let mut env = Map::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    env.insert("machine".into(), json!(format!("{cores} cores, {cpu}, Linux {kernel}")));
    let (server, export_type) = describe_server(url, server_pid);
    env.insert("server".into(), json!(server));
    env.insert("export_type".into(), json!(export_type));
    env
}

/// The server process and the FSAL of the URL's export, read from the process's own config
/// file when it is a ganesha started with `-f CONF`; "unknown" otherwise.
fn describe_server(url: &str, pid: Option<u32>) -> (String, String) {
    let host = url.strip_prefix("nfs://").and_then(|r| r.split(['/', '?']).next()).unwrap_or("?");
    let Some(pid) = pid else {
        return (format!("{host} (no server pid: server CPU not sampled)"), "unknown".into());
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown process".into());
    let mut name = format!("{comm} pid {pid} on {host}");
    if comm.starts_with("ganesha") {
        if let Some(v) = package_version("nfs-ganesha") {
            name = format!("nfs-ganesha {v} (pid {pid}) on {host}");
        }
    }
    let args: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| b.split(|&c| c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_default();
    let conf = args.iter().position(|a| a == "-f").and_then(|i| args.get(i + 1));
    let path = url
        .strip_prefix("nfs://")
        .and_then(|r| r.find('/').map(|i| &r[i..]))
        .map(|p| p.split('?').next().unwrap_or(p))
        .unwrap_or("/");
    let export_type = conf
        .and_then(|c| std::fs::read_to_string(c).ok())
        .and_then(|text| fsal_for(&text, path))
        .unwrap_or_else(|| "unknown".into());
    (name, export_type)
}

/// In a ganesha config, the FSAL `Name` of the EXPORT whose Pseudo path prefixes `path`.
fn fsal_for(conf: &str, path: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for block in conf.split("EXPORT").skip(1) {
        let value = |key: &str| {
            block.lines().find_map(|l| {
                let l = l.trim();
                let rest = l.strip_prefix(key)?.trim_start().strip_prefix('=')?;
                Some(rest.trim().trim_end_matches(';').trim().to_string())
            })
        };
        let (Some(pseudo), Some(fsal)) = (value("Pseudo"), value("Name")) else {
            continue;
        };
        let pseudo = pseudo.trim_end_matches('/');
        let matches = path == pseudo || path.starts_with(&format!("{pseudo}/"));
        if matches && best.as_ref().is_none_or(|(len, _)| pseudo.len() > *len) {
            best = Some((pseudo.len(), fsal));
        }
    }
    best.map(|(_, f)| f)
}

fn package_version(package: &str) -> Option<String> {
    let out =
        std::process::Command::new("dpkg-query").args(["-W", "-f", "${Version}", package]).output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsal_of_an_export() {
        let conf = "EXPORT {\n Pseudo = /vfs;\n FSAL {\n Name = VFS;\n }\n}\nEXPORT {\n Pseudo = /mem;\n FSAL { \n Name = MEM;\n }\n}\nMEM { Inode_Size = 1; }";
        assert_eq!(fsal_for(conf, "/mem").as_deref(), Some("MEM"));
        assert_eq!(fsal_for(conf, "/vfs/dir").as_deref(), Some("VFS"));
        assert_eq!(fsal_for(conf, "/other"), None);
    }

    #[test]
    fn phase_json_round_trips() {
        let r = PhaseResult {
            client: "nfsx".into(),
            workload: "getattr".into(),
            phase: "getattr".into(),
            ops: 1000,
            bytes: 0,
            seconds: 0.5,
            cpu_user_s: 0.01,
            cpu_sys_s: 0.02,
            server_cpu_s: Some(0.4),
            p50_us: 10,
            p99_us: 20,
            p999_us: 30,
            verify: Some("ok".into()),
            ..PhaseResult::default()
        };
        let back = PhaseResult::from_json(&r.to_json()).unwrap();
        assert_eq!(back.ops, 1000);
        assert_eq!(back.verify.as_deref(), Some("ok"));
        assert!((back.cpu_us_per_op() - 30.0).abs() < 1e-9);
        assert_eq!(back.bottleneck(), "server");
    }

    #[test]
    fn own_cpu_time_grows() {
        let (u0, s0) = process_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (u1, s1) = process_cpu();
        assert!(u1 + s1 > u0 + s0);
    }
}
