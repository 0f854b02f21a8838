//! Finds the test ganesha (or starts it with `ci/ganesha start`), so `cargo test` alone works.

#![allow(dead_code)]

pub mod fake_server;
pub mod proxy;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use nfsx::Client;

pub struct Server {
    pub vfs_url: String,
    pub mem_url: String,
    /// The VFS export's directory on this machine, to check data written through NFS.
    pub vfs_dir: PathBuf,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn from_env() -> Option<Server> {
    Some(Server {
        vfs_url: std::env::var("NFSX_TEST_VFS_URL").ok()?,
        mem_url: std::env::var("NFSX_TEST_MEM_URL").ok()?,
        vfs_dir: std::env::var("NFSX_TEST_VFS_DIR").ok()?.into(),
    })
}

fn start() -> Server {
    let out = Command::new(repo_root().join("ci/ganesha"))
        .arg("start")
        .output()
        .expect("running ci/ganesha start (needs root and the packages from ci/install-deps)");
    assert!(out.status.success(), "ci/ganesha start failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_else(|| panic!("ci/ganesha start printed no {name}:\n{text}"))
    };
    Server {
        vfs_url: var("NFSX_TEST_VFS_URL"),
        mem_url: var("NFSX_TEST_MEM_URL"),
        vfs_dir: var("NFSX_TEST_VFS_DIR").into(),
    }
}

pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| from_env().unwrap_or_else(start))
}

/// A fresh directory on the VFS export for one test, and a client mounted on it.
pub struct Scratch {
    pub client: Client,
    pub name: String,
    pub local: PathBuf,
}

fn unique(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{test}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn vfs_scratch(test: &str) -> Scratch {
    scratch(&server().vfs_url, test, Some(&server().vfs_dir))
}

pub fn mem_scratch(test: &str) -> Scratch {
    scratch(&server().mem_url, test, None)
}

/// `base` + `path` + `query`, plus the options in `NFSX_TEST_OPTIONS` (how `ci/test` runs the
/// whole suite again in run-to-completion mode, `rtc=1`).
pub fn url(base: &str, path: &str, query: &str) -> String {
    let extra = std::env::var("NFSX_TEST_OPTIONS").unwrap_or_default();
    let options: Vec<&str> = [query, extra.as_str()].into_iter().filter(|q| !q.is_empty()).collect();
    let path = if path.is_empty() { String::new() } else { format!("/{}", path.trim_start_matches('/')) };
    if options.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{}", options.join("&"))
    }
}

fn scratch(base: &str, test: &str, local_root: Option<&PathBuf>) -> Scratch {
    let name = unique(test);
    let root_url = url(base, "", "");
    let root = Client::mount(&root_url).unwrap_or_else(|e| panic!("mount {root_url}: {e}"));
    root.mkdir(&name, 0o777).unwrap();
    let client = Client::mount(&url(base, &name, "")).unwrap();
    let local = local_root.map(|r| r.join(&name)).unwrap_or_default();
    Scratch { client, name, local }
}

/// Deterministic bytes that differ at every offset, so misplaced data is caught.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A waker that counts its wakes, for futures a test polls by hand.
pub struct WakeCount(std::sync::atomic::AtomicUsize);

impl WakeCount {
    /// The count, and a waker that adds to it.
    pub fn new() -> (std::sync::Arc<WakeCount>, std::task::Waker) {
        let count = std::sync::Arc::new(WakeCount(std::sync::atomic::AtomicUsize::new(0)));
        let waker = std::task::Waker::from(std::sync::Arc::clone(&count));
        (count, waker)
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The smallest executor there is: poll, park until woken, repeat.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// This process's resident set size in KiB, from /proc/self/status.
pub fn vm_rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}
