//! `mount.nfsx`: mounts an NFSv3 export through FUSE, so that unmodified programs use nfsx's
//! connections (nconnect, multipath) through a mount point.
//!
//! ```text
//!   cp, tar, python ──▶ kernel VFS ──▶ /dev/fuse ──▶ worker threads (fuser) ──▶ NfsFs
//!                                                       fs.rs: request → reply
//!                                                       attrs / names / io / dirs
//!                                                          │ nfsx::Client::call / start_write
//!                                                          ▼
//!                                                       nfsx connections ──▶ server
//! ```
//!
//! `mount.nfsx [-f] [-o opt,...] server:/export[/path] MOUNTPOINT`. Without `-f` it starts
//! itself again in the foreground, detached, and returns once the mount is up (or with the
//! child's error). SIGINT, SIGTERM or `fusermount3 -u` unmount it, after every pending write
//! is committed. Uses only nfsx's public API and no `unsafe`.

#![forbid(unsafe_code)]

/// Messages to stderr that never panic: a detached mount's stderr may be a closed pipe.
macro_rules! log {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod attrs;
mod daemon;
mod dirs;
mod fs;
mod inodes;
mod io;
mod names;
mod options;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use clap::Parser;
use fuser::{Config, MountOption, Session, SessionACL};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

/// mount(8)'s exit codes: bad usage, and a mount that failed.
const EXIT_USAGE: u8 = 1;
const EXIT_FAILURE: u8 = 32;
/// The file system type mountinfo shows for our mounts.
const FSTYPE: &str = "fuse.nfsx";

#[derive(Debug, Parser)]
#[command(
    name = "mount.nfsx",
    about = "Mount an NFSv3 export through FUSE with nfsx (nconnect, multipath, large I/O)",
    after_help = "Options (-o, comma-separated, as in nfs(5)): nconnect=N, addrs=IP[,IP...] (multipath), \
localaddrs=IP[,IP...], rsize=, wsize=, uid=, gid=, gids=a+b, timeo= (tenths of a second), retrans=, \
hard, soft, ro, rw, actimeo=, acregmin=, acregmax=, acdirmin=, acdirmax=, noac, cto, nocto, \
allow_other, default_permissions, threads=N, writeback (default)/nowriteback, mdconnect=, maxinflight=, backend=, rings=, \
submit=caller|ring, resvport, noresvport, \
port=, mountport=, fsname=; exec/noexec, suid/nosuid, dev/nodev, atime/noatime, sync/async go to the kernel.\n\
Unmount with `fusermount3 -u MOUNTPOINT` (or `umount MOUNTPOINT` as root)."
)]
struct Cli {
    /// server:/export[/path], [v6addr]:/export, or nfs://server/export[?options]
    source: String,
    /// An existing, empty directory that is not a mount point yet
    mountpoint: PathBuf,
    /// Mount options, comma-separated; may repeat
    #[arg(short = 'o', action = clap::ArgAction::Append)]
    options: Vec<String>,
    /// Stay in the foreground
    #[arg(short = 'f')]
    foreground: bool,
    /// Accepted from mount(8) and ignored: sloppy, no mtab, verbose
    #[arg(short = 's', hide = true)]
    sloppy: bool,
    #[arg(short = 'n', hide = true)]
    no_mtab: bool,
    #[arg(short = 'v', hide = true)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = match options::parse(&cli.source, &cli.options) {
        Ok(o) => o,
        Err(e) => {
            log!("mount.nfsx: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mountpoint = match daemon::check_mountpoint(&cli.mountpoint) {
        Ok(p) => p,
        Err(e) => {
            log!("mount.nfsx: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    if !cli.foreground {
        return daemon::start_detached(&mountpoint);
    }
    match run(opts, &mountpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log!("mount.nfsx: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Mounts and serves until unmounted.
fn run(opts: options::Options, mountpoint: &Path) -> Result<(), String> {
    // Signals are taken by one thread with sigwait; blocked here, before any thread starts,
    // every thread inherits the mask. SIGHUP is ignored the same way (a detached mount must
    // outlive its terminal).
    let mut signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block().map_err(|e| format!("cannot block signals: {e}"))?;

    // The server first: an unreachable server or a refused export leaves nothing mounted.
    let client = nfsx::Client::mount(&opts.url).map_err(|e| format!("{}: {e}", opts.fsname))?;
    let mut mount_options = vec![
        MountOption::FSName(opts.fsname.clone()),
        MountOption::Subtype("nfsx".into()),
        // The kernel shows the type as fuse.nfsx only when the subtype is in the mount data.
        MountOption::CUSTOM("subtype=nfsx".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    for flag in &opts.kernel_flags {
        mount_options.push(match flag.as_str() {
            "exec" => MountOption::Exec,
            "noexec" => MountOption::NoExec,
            "suid" => MountOption::Suid,
            "dev" => MountOption::Dev,
            "atime" => MountOption::Atime,
            "noatime" => MountOption::NoAtime,
            "sync" => MountOption::Sync,
            "async" => MountOption::Async,
            "dirsync" => MountOption::DirSync,
            _ => continue,
        });
    }
    // Explicit suid/dev replace the safe defaults above.
    if opts.kernel_flags.iter().any(|f| f == "suid") {
        mount_options.retain(|o| *o != MountOption::NoSuid);
    }
    if opts.kernel_flags.iter().any(|f| f == "dev") {
        mount_options.retain(|o| *o != MountOption::NoDev);
    }
    mount_options.push(if opts.read_only { MountOption::RO } else { MountOption::RW });
    if opts.default_permissions {
        mount_options.push(MountOption::DefaultPermissions);
    }
    let mut config = Config::default();
    config.mount_options = mount_options;
    config.acl = if opts.allow_other { SessionACL::All } else { SessionACL::Owner };
    config.n_threads = Some(opts.threads);
    // One /dev/fuse descriptor per worker thread: requests spread without a shared queue.
    config.clone_fd = true;

    let notifier = Arc::new(OnceLock::new());
    let fs = fs::NfsFs::new(client.clone(), opts.clone(), Arc::clone(&notifier));
    let mut session = Session::new(fs, mountpoint, &config)
        .map_err(|e| format!("cannot mount on {}: {e}", mountpoint.display()))?;
    let _ = notifier.set(session.notifier());
    let mut unmounter = session.unmount_callable();
    let target = mountpoint.to_path_buf();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            match signals.wait() {
                Ok(Signal::SIGHUP) => continue,
                Ok(sig) => {
                    log!("mount.nfsx: {sig}: unmounting {}", target.display());
                    if let Err(e) = unmounter.unmount() {
                        // Busy (files open): detach it now; the kernel finishes when they close.
                        log!("mount.nfsx: unmount: {e}; detaching lazily");
                        daemon::lazy_unmount(&target);
                    }
                    return;
                }
                Err(e) => {
                    log!("mount.nfsx: sigwait: {e}");
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    let fuse =
        session.as_fd().try_clone_to_owned().map_err(|e| format!("cannot watch the FUSE descriptor: {e}"))?;
    let watched = (client.clone(), mountpoint.to_path_buf());
    let watcher = std::thread::Builder::new()
        .name("abort-watch".into())
        .spawn(move || daemon::abandon_calls_on_forced_unmount(fuse, &watched.1, &watched.0))
        .map_err(|e| format!("cannot start the abort watcher: {e}"))?;
    let served = session.run();
    // After `umount -f` the session's own unmount can find the mount still busy: the process
    // whose call the abort failed may not have left it yet. The connection is dead; detach it.
    if daemon::is_mounted(mountpoint, Some(FSTYPE)) {
        daemon::lazy_unmount(mountpoint);
    }
    // Unmounted: the session committed open files (destroy); tell MOUNT we are gone, unless a
    // forced unmount gave up on the server.
    if !(watcher.is_finished() && watcher.join().unwrap_or(false)) {
        let _ = client.umount();
    }
    match served {
        // The kernel reports the end of a connection as ENODEV, or as ECONNABORTED to a worker
        // that was taking a request as it ended (a lazy unmount, say); fuser knows only ENODEV.
        Err(e) if e.raw_os_error() == Some(Errno::ECONNABORTED as i32) => Ok(()),
        served => served.map_err(|e| format!("FUSE session: {e}")),
    }
}
