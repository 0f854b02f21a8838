//! Connections reset at random moments (issue 7, item 2), against the real ganesha through a
//! cutting TCP proxy (`common/proxy.rs`) on 127.0.0.1: one proxy in front of NFS (2049), one
//! in front of MOUNT (20048), the client pointed at them with `nfsport=` and `mountport=`.
//!
//! - a streaming write then read, with every record at risk of a cut, completes with the right
//!   bytes on the server's disk and back through the client (it re-sends after each reset);
//! - a retried EXCLUSIVE create whose first reply was lost succeeds (same verifier);
//! - a REMOVE or RENAME whose reply was lost after the server applied it is reported as
//!   success, not as the ENOENT its re-send earns; a MKDIR likewise, not as EEXIST, and it
//!   returns the new directory's handle; an ENOENT on a first attempt stays an error.
//!
//! Random cuts print their seed; `NFSX_PROXY_SEED=<seed>` replays a failing run.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::proxy::{seed_from_env_or_clock, CuttingProxy};
use nfsx::proto::nfs3::{self, Procedure};
use nfsx::{Client, OpenOptions};

const NFS_PORT: u16 = 2049;
const MOUNT_PORT: u16 = 20048;
/// Per-try timeout of 2 s and up to 10 re-sends: a reset costs one re-send, not a timeout.
const OPTIONS: &str = "timeo=20&retrans=10&resvport=0";

/// A scratch directory on the VFS export, and a client mounted on it through two proxies.
struct Setup {
    client: Client,
    nfs_proxy: CuttingProxy,
    _mount_proxy: CuttingProxy,
    local: std::path::PathBuf,
}

fn setup(test: &str, cut_per_mille: u64) -> Setup {
    let scratch = common::vfs_scratch(test);
    let host: SocketAddr = ([127, 0, 0, 1], 0).into();
    let nfs_proxy =
        CuttingProxy::start(SocketAddr::new(host.ip(), NFS_PORT), seed_from_env_or_clock(), cut_per_mille);
    let mount_proxy = CuttingProxy::start(SocketAddr::new(host.ip(), MOUNT_PORT), 1, 0);
    let options = format!("{OPTIONS}&nfsport={}&mountport={}", nfs_proxy.port(), mount_proxy.port());
    let url = common::url(&common::server().vfs_url, &scratch.name, &options);
    let client = Client::mount(&url).unwrap_or_else(|e| panic!("mount {url} through the proxies: {e}"));
    Setup { client, nfs_proxy, _mount_proxy: mount_proxy, local: scratch.local }
}

/// With a 4% chance per record and about a hundred records a round, one round in fifty or so
/// passes without a cut; a round that proved nothing is run again (at most a few times).
const MAX_STREAM_ROUNDS: usize = 4;

#[test]
fn a_streaming_write_and_read_survive_random_resets() {
    let s = setup("resets-stream", 40);
    let data = common::pattern(24 << 20, 7);
    let started = Instant::now();
    let cuts = || s.nfs_proxy.stats().random_cuts.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..MAX_STREAM_ROUNDS {
        stream_round(&s, &data);
        if cuts() > 0 {
            break;
        }
    }
    let stats = s.nfs_proxy.stats();
    eprintln!(
        "{} MiB written and read in {:?} through {} resets ({} connections); client re-sent {} calls, reconnected {} times",
        data.len() >> 20,
        started.elapsed(),
        cuts(),
        stats.connections.load(std::sync::atomic::Ordering::Relaxed),
        s.client.stats().retransmits.load(std::sync::atomic::Ordering::Relaxed),
        s.client.stats().reconnects.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(cuts() > 0, "no connection was cut (seed {}): the test proved nothing", s.nfs_proxy.seed);
}

/// Writes `data` through the proxy, then reads it back, checking it there and on the server's disk.
fn stream_round(s: &Setup, data: &[u8]) {
    let file = s.client.create("stream.dat", 0o644).expect("create");
    for (i, piece) in data.chunks(1 << 20).enumerate() {
        let offset = (i << 20) as u64;
        let written = file.write_at(piece, offset).unwrap_or_else(|e| panic!("write at {offset}: {e}"));
        assert_eq!(written, piece.len());
    }
    file.close().expect("close (COMMIT)");
    let mut back = vec![0u8; data.len()];
    let file = s.client.open("stream.dat", &OpenOptions::new()).expect("open");
    let mut done = 0;
    while done < back.len() {
        let n =
            file.read_at(&mut back[done..], done as u64).unwrap_or_else(|e| panic!("read at {done}: {e}"));
        assert!(n > 0, "short file: {done} of {} bytes", data.len());
        done += n;
    }
    assert!(back == data, "data read back through the proxy differs (seed {})", s.nfs_proxy.seed);
    let on_disk = std::fs::read(s.local.join("stream.dat")).expect("the file on the server's disk");
    assert!(on_disk == data, "data on the server's disk differs (seed {})", s.nfs_proxy.seed);
}

/// Loses the reply to the next call of `procedure` while `op` runs, and checks the cut happened.
fn with_lost_reply<T>(s: &Setup, procedure: u32, op: impl FnOnce() -> T) -> T {
    s.nfs_proxy.lose_next_reply_to(procedure);
    let started = Instant::now();
    let outcome = op();
    assert!(!s.nfs_proxy.armed(), "the call never went through the proxy");
    assert_eq!(s.nfs_proxy.stats().lost_replies.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    outcome
}

#[test]
fn an_exclusive_create_whose_reply_was_lost_succeeds_when_retried() {
    let s = setup("resets-excl", 0);
    let verifier = *b"nfsx-v01";
    let outcome = with_lost_reply(&s, nfs3::Create::NUMBER, || {
        s.client
            .open("excl.dat", OpenOptions::new().write(true).create_new(true).exclusive_verifier(verifier))
    });
    let file = outcome.expect("the retried EXCLUSIVE create with the same verifier");
    file.write_at(b"made once", 0).expect("write");
    file.close().expect("close");
    assert_eq!(std::fs::read(s.local.join("excl.dat")).unwrap(), b"made once");
    // A different verifier is a different create: the name exists, so it must fail.
    let other = s
        .client
        .open("excl.dat", OpenOptions::new().write(true).create_new(true).exclusive_verifier(*b"other-v2"));
    assert_eq!(other.expect_err("a second exclusive create").errno(), libc::EEXIST);
}

#[test]
fn a_remove_whose_reply_was_lost_is_reported_as_success() {
    let s = setup("resets-remove", 0);
    s.client.write_file("gone.dat", b"x").expect("create the file");
    let outcome = with_lost_reply(&s, nfs3::Remove::NUMBER, || s.client.unlink("gone.dat"));
    assert!(!s.local.join("gone.dat").exists(), "the server removed the file");
    outcome.expect("REMOVE whose first reply was lost");
}

#[test]
fn a_rename_whose_reply_was_lost_is_reported_as_success() {
    let s = setup("resets-rename", 0);
    s.client.write_file("from.dat", b"moved").expect("create the file");
    let outcome = with_lost_reply(&s, nfs3::Rename::NUMBER, || s.client.rename("from.dat", "to.dat"));
    assert_eq!(std::fs::read(s.local.join("to.dat")).unwrap(), b"moved", "the server renamed the file");
    assert!(!s.local.join("from.dat").exists());
    outcome.expect("RENAME whose first reply was lost");
}

#[test]
fn a_mkdir_whose_reply_was_lost_is_reported_as_success_with_its_handle() {
    let s = setup("resets-mkdir", 0);
    let outcome = with_lost_reply(&s, nfs3::Mkdir::NUMBER, || s.client.mkdir("made", 0o755));
    let handle = outcome.expect("MKDIR whose first reply was lost");
    assert!(s.local.join("made").is_dir(), "the server made the directory");
    assert_eq!(s.client.getattr(&handle).expect("GETATTR of the handle").ftype, nfs3::Ftype3::Dir);
}

#[test]
fn a_remove_that_was_never_applied_still_reports_enoent() {
    let s = setup("resets-remove-absent", 0);
    let err = s.client.unlink("never-there.dat").expect_err("REMOVE of a missing file");
    assert_eq!(err.errno(), libc::ENOENT, "a first-attempt ENOENT is a real error: {err}");
}
