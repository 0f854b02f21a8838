//! Multipath over real links, run by `ci/test-multipath` inside a network namespace that reaches
//! ganesha through two veth pairs: IO spreads over both server addresses, continues on one when
//! the other's link goes down, and comes back to it when the link does, with nothing lost.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::pattern;
use nfsx::Client;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by ci/test-multipath"))
}

fn link(name: &str, state: &str) {
    let status = Command::new("ip").args(["link", "set", name, state]).status().expect("running ip");
    assert!(status.success(), "ip link set {name} {state}");
}

/// Bytes sent to each server address so far.
fn sent_by_server(client: &Client) -> std::collections::BTreeMap<SocketAddr, u64> {
    let mut out = std::collections::BTreeMap::new();
    for c in client.connection_stats() {
        *out.entry(c.server).or_default() += c.bytes_sent;
    }
    out
}

#[test]
#[ignore = "needs the namespace and links that ci/test-multipath makes"]
fn a_path_that_goes_down_and_comes_back_loses_nothing() {
    let client = Client::mount(&env("NFSX_MP_URL")).unwrap();
    let flap = env("NFSX_MP_FLAP_LINK");
    let vfs_dir = std::path::PathBuf::from(env("NFSX_TEST_VFS_DIR"));
    assert_eq!(client.connections(), 4, "two addresses, nconnect=2");
    let dir = format!("multipath-{}", std::process::id());
    client.mkdir(&dir, 0o755).unwrap();
    let path = format!("{dir}/stream");
    let chunk = 1 << 20;
    let data = pattern(48 * chunk, 31);
    let file = client.create(&path, 0o644).unwrap();
    let write = |range: std::ops::Range<usize>| {
        for i in range {
            file.write_at(&data[i * chunk..(i + 1) * chunk], (i * chunk) as u64).unwrap();
        }
    };

    write(0..16);
    let both_up = sent_by_server(&client);
    assert_eq!(both_up.len(), 2);
    assert!(both_up.values().all(|&b| b > 4 * chunk as u64), "both paths carry data: {both_up:?}");

    link(&flap, "down");
    let down_at = Instant::now();
    write(16..32);
    let down_stats = sent_by_server(&client);
    assert!(client.stats().path_failures.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    link(&flap, "up");
    assert!(down_at.elapsed() < Duration::from_secs(30), "IO went on over the other path");

    // Keep writing until the path that came back carries data again (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut next = 32;
    loop {
        let i = 32 + (next - 32) % 16;
        write(i..i + 1);
        next += 1;
        let now = sent_by_server(&client);
        let back = now.iter().all(|(addr, bytes)| *bytes > down_stats[addr]);
        if back && next >= 48 {
            break;
        }
        assert!(Instant::now() < deadline, "the path never came back into use: {now:?} vs {down_stats:?}");
    }
    file.close().unwrap();
    assert_eq!(client.read_file(&path).unwrap(), data);
    assert_eq!(std::fs::read(vfs_dir.join(&path)).unwrap(), data, "the server's disk has every byte");
    client.unlink(&path).unwrap();
    client.rmdir(&dir).unwrap();
}
