//! Multipath over real links, run by `ci/test-multipath` inside a network namespace that reaches
//! ganesha through two veth pairs: IO spreads over both server addresses, continues on one when
//! the other's link goes down, and comes back to it when the link does, with nothing lost.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Whether a live connection to `server` has carried a reply: once a failed path's connections
/// are closed, only one made again after it came back can.
fn in_use(client: &Client, server: &str) -> bool {
    client
        .connection_stats()
        .iter()
        .any(|c| c.server.ip().to_string() == server && c.connected && c.replies > 0)
}

fn path_failures(client: &Client) -> u64 {
    client.stats().path_failures.load(Ordering::Relaxed)
}

#[test]
#[ignore = "needs the namespace and links that ci/test-multipath makes"]
fn a_path_that_goes_down_and_comes_back_loses_nothing() {
    let client = Client::mount(&env("NFSX_MP_URL")).unwrap();
    let flap = env("NFSX_MP_FLAP_LINK");
    let flapped = env("NFSX_MP_FLAP_SERVER");
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
    assert!(path_failures(&client) >= 1);
    assert!(!in_use(&client, &flapped), "the failed path's connections were closed");
    link(&flap, "up");
    assert!(down_at.elapsed() < Duration::from_secs(30), "IO went on over the other path");

    // Keep writing until the path that came back carries data again (bounded): the probe
    // thread puts it back once a NULL call over it is answered.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut next = 32;
    while next < 48 || !in_use(&client, &flapped) {
        let i = 32 + (next - 32) % 16;
        write(i..i + 1);
        next += 1;
        assert!(
            Instant::now() < deadline,
            "the path never came back into use: {:?}",
            client.connection_stats()
        );
    }
    file.close().unwrap();
    assert_eq!(client.read_file(&path).unwrap(), data);
    assert_eq!(std::fs::read(vfs_dir.join(&path)).unwrap(), data, "the server's disk has every byte");
    client.unlink(&path).unwrap();
    client.rmdir(&dir).unwrap();
}

/// A link taken down by another thread in the middle of a stream, for longer than several
/// timeouts, then brought back while the stream goes on: the write and the read-back lose
/// nothing and report no error (hard mount), in both receive modes.
#[test]
#[ignore = "needs the namespace and links that ci/test-multipath makes"]
fn a_link_flapped_mid_stream_loses_nothing_in_either_receive_mode() {
    for extra in ["", "&rtc=1"] {
        flap_mid_stream(&format!("{}{extra}", env("NFSX_MP_URL")));
    }
}

fn flap_mid_stream(url: &str) {
    let client = Client::mount(url).unwrap_or_else(|e| panic!("mount {url}: {e}"));
    let flap = env("NFSX_MP_FLAP_LINK");
    let flapped = env("NFSX_MP_FLAP_SERVER");
    let vfs_dir = std::path::PathBuf::from(env("NFSX_TEST_VFS_DIR"));
    let dir = format!("multipath-flap-{}-{}", std::process::id(), url.len());
    client.mkdir(&dir, 0o755).unwrap();
    let path = format!("{dir}/stream");
    let chunk = 1 << 20;
    let data = pattern(32 * chunk, 57);
    let flapping = AtomicBool::new(true);
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            link(&flap, "down");
            std::thread::sleep(Duration::from_secs(3));
            link(&flap, "up");
            flapping.store(false, Ordering::Release);
        });
        // Write the file over and over until the flap is over and the path is back in use.
        let file = client.create(&path, 0o644).unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut rounds = 0;
        while rounds == 0 || flapping.load(Ordering::Acquire) || !in_use(&client, &flapped) {
            for (i, piece) in data.chunks(chunk).enumerate() {
                let offset = (i * chunk) as u64;
                file.write_at(piece, offset).unwrap_or_else(|e| panic!("{url}: write at {offset}: {e}"));
            }
            rounds += 1;
            assert!(
                Instant::now() < deadline,
                "{url}: the path never came back: {:?}",
                client.connection_stats()
            );
        }
        file.close().unwrap();
        eprintln!(
            "{url}: {rounds} rounds of {} MiB in {:?}, {} path failures, {} re-sends",
            data.len() >> 20,
            started.elapsed(),
            path_failures(&client),
            client.stats().retransmits.load(Ordering::Relaxed)
        );
    });
    assert!(path_failures(&client) >= 1, "{url}: the flap was never noticed");
    assert_eq!(client.read_file(&path).unwrap(), data, "{url}: read back");
    assert_eq!(std::fs::read(vfs_dir.join(&path)).unwrap(), data, "{url}: the server's disk");
    client.unlink(&path).unwrap();
    client.rmdir(&dir).unwrap();
}
