//! Command-line options (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "nfsx-bench",
    version,
    about = "Load generator for NFSv3 clients: nfsx, and libnfs side by side",
    long_about = "Load generator for NFSv3 clients. `getattr`, `null`, `md` and `io` run a workload \
                  through nfsx; `compare <workload>` runs the same workload through libnfs and \
                  nfsx, the clients taking turns phase by phase, and prints each metric with the ratio nfsx/libnfs \
                  (`--with nfs3_client` adds the Rust crate nfs3_client and nfsx/nfs3_client)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// GETATTRs on one file at queue depth --qd per thread (pure RPC rate).
    Getattr(Opts),
    /// NULL calls at queue depth --qd per thread: the RPC round trip with nothing to do, the
    /// floor GETATTR's latency is measured against.
    Null(Opts),
    /// mdtest-like phases: create --files files per thread, stat, read (with --file-size), remove.
    Md(Opts),
    /// fio-like sequential or random reads or writes of --bs blocks over a --size file per thread.
    Io(Opts),
    /// The same workload through libnfs and nfsx, --runs times, the clients taking turns phase by phase.
    Compare(CompareOpts),
    /// No server: the CPU each kernel interface (write/read, io_uring SEND, SEND_ZC, RECV,
    /// READ_FIXED into a registered buffer) costs per MiB through one loopback TCP connection,
    /// against a memcpy of the same data. The evidence behind the data path's choice of calls.
    #[command(name = "kernel-io")]
    KernelIo(KernelIoOpts),
    /// The driver `compare --with nfs3_client` runs: getattr or io through the nfs3_client crate.
    #[command(name = "nfs3-client-driver", hide = true)]
    Nfs3ClientDriver(DriverOpts),
}

/// A peer client `compare --with` also runs each time, its turn between libnfs's and nfsx's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    /// The Rust crate nfs3_client (0.9, tokio): getattr and io only.
    #[value(name = "nfs3_client", alias = "nfs3-client")]
    Nfs3Client,
}

#[derive(Debug, Clone, Args)]
pub struct DriverOpts {
    #[arg(value_enum)]
    pub workload: Workload,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Getattr,
    Null,
    Md,
    Io,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Getattr => "getattr",
            Workload::Null => "null",
            Workload::Md => "md",
            Workload::Io => "io",
        }
    }
}

/// How the io workload reads through nfsx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// One READ or WRITE per block through the batch API, --qd in flight.
    Batch,
    /// `File::read_into` of --qd blocks per call (what `nfsx_pread` does): the data lands in the
    /// caller's buffer. Sequential reads only.
    File,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Batch => "batch",
            Api::File => "file",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rw {
    Read,
    Write,
    Randread,
    Randwrite,
}

impl Rw {
    pub fn name(self) -> &'static str {
        match self {
            Rw::Read => "read",
            Rw::Write => "write",
            Rw::Randread => "randread",
            Rw::Randwrite => "randwrite",
        }
    }
    pub fn is_read(self) -> bool {
        matches!(self, Rw::Read | Rw::Randread)
    }
    pub fn is_random(self) -> bool {
        matches!(self, Rw::Randread | Rw::Randwrite)
    }
}

#[derive(Debug, Clone, Args)]
pub struct KernelIoOpts {
    /// Bytes per message (one send, or one message received whole). K, M, G suffixes.
    #[arg(long, default_value = "1M", value_parser = parse_message_len)]
    pub message: u64,
    /// Bytes moved by each operation per run. K, M, G suffixes.
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub size: u64,
    /// Runs of every operation, alternating; the median is shown.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
}

fn parse_message_len(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if !(4096..=64 << 20).contains(&n) {
        return Err(format!("--message must be between 4K and 64M: {s}"));
    }
    Ok(n)
}

/// Options every workload takes.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    /// The nfsx URL: nfs://host[:port]/export[/dir][?nconnect=N&rsize=...&wsize=...]
    #[arg(long)]
    pub url: String,
    /// Client threads, each with its own mount (libnfs: its own context).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Requests in flight per thread.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub qd: u32,
    /// Longest time a timed phase runs, in seconds (getattr; md create; io phases).
    #[arg(long, default_value_t = 5.0, value_parser = parse_duration)]
    pub duration: f64,
    /// getattr: stop after this many GETATTRs per thread (as well as --duration).
    #[arg(long)]
    pub ops: Option<u64>,
    /// md: files per thread.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub files: u64,
    /// md: bytes written into each file at create (one FILE_SYNC WRITE) and read back; 0 = empty.
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub file_size: u64,
    /// md: one directory for all threads (mdtest-hard) instead of one per thread (mdtest-easy).
    #[arg(long)]
    pub shared_dir: bool,
    /// io: access pattern.
    #[arg(long, value_enum, default_value_t = Rw::Write)]
    pub rw: Rw,
    /// io: how nfsx reads (libnfs always uses its async API).
    #[arg(long, value_enum, default_value_t = Api::Batch)]
    pub api: Api,
    /// io: block size (one READ or WRITE each; at most the mount's rsize/wsize). K, M, G suffixes.
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    pub bs: u64,
    /// io: file size per thread. K, M, G suffixes.
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub size: u64,
    /// io: a write run reads the file back afterwards, a read run checks what it reads; md: checks
    /// what the read phase reads.
    #[arg(long)]
    pub verify: bool,
    /// Seed of the data pattern.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The server's process id, to sample its CPU time (default: $NFSX_GANESHA_PID).
    #[arg(long, env = "NFSX_GANESHA_PID")]
    pub server_pid: Option<u32>,
    /// Give up (non-zero exit) after this many seconds; default: 4 x --duration + 120.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<f64>,
    /// One JSON object per phase on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print `ready` once set up, then wait for a line on stdin before each phase and before the
    /// cleanup (how `compare` runs the clients in turn).
    #[arg(long, hide = true)]
    pub stepped: bool,
}

impl Opts {
    pub fn timeout_s(&self) -> f64 {
        self.timeout.unwrap_or(4.0 * self.duration + 120.0)
    }
}

#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    #[arg(value_enum)]
    pub workload: Workload,
    #[command(flatten)]
    pub opts: Opts,
    /// Runs: in each, every phase goes through each client in turn (libnfs first in odd runs,
    /// nfsx first in even ones).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Also run nfs3_client (the Rust crate) each time, its turn between libnfs's and nfsx's, and show
    /// nfsx/nfs3_client ratios; getattr and io only. One call in flight per connection, so
    /// --qd Q opens Q connections per thread.
    #[arg(long = "with", value_enum)]
    pub with: Vec<Peer>,
    /// Repeat the comparison for each value: qd=1,4,16,64 or nconnect=1,2,4,8,16.
    #[arg(long)]
    pub sweep: Option<String>,
    /// With --sweep: draw throughput and client CPU per operation against the swept value (SVG).
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number of seconds: {s}"))?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!("must be between 0 and 86400 seconds: {s}"));
    }
    Ok(v)
}

/// Parses `4096`, `4k`, `1M`, `2G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                _ => return Err(format!("unknown size suffix in {s} (use K, M or G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s} (e.g. 4096, 4K, 1M)"))?;
    n.checked_mul(mult).ok_or_else(|| format!("size too large: {s}"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
    }
}
