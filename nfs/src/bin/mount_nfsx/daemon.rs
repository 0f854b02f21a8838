//! Running in the background without `fork` (which would need `unsafe` around a process that
//! already has threads): the command starts itself again with `-f`, detached from the terminal
//! (its own process group, no stdin or stdout), relays the child's messages, and returns 0 as
//! soon as the mount shows in /proc/self/mountinfo, or the child's failure if it exits first.
//! Nothing is left mounted on failure: the child mounts only after the server answered.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::{EXIT_FAILURE, FSTYPE};

/// Longest wait for the child to mount: covers a soft mount's retries on a slow server.
const MOUNT_WAIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(20);

/// The mount point must be an existing directory that nothing is mounted on yet.
pub fn check_mountpoint(path: &Path) -> Result<PathBuf, String> {
    let canonical =
        std::fs::canonicalize(path).map_err(|e| format!("mount point {}: {e}", path.display()))?;
    if !canonical.is_dir() {
        return Err(format!("mount point {} is not a directory", path.display()));
    }
    if is_mounted(&canonical, None) {
        return Err(format!("mount point {} is busy: something is already mounted there", path.display()));
    }
    Ok(canonical)
}

/// Whether /proc/self/mountinfo lists `path` (with file system type `fstype`, if given).
pub fn is_mounted(path: &Path, fstype: Option<&str>) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted = escape(&path.to_string_lossy());
    info.lines().any(|line| {
        let mut fields = line.split(' ');
        let at = fields.nth(4);
        let kind = line.split(" - ").nth(1).and_then(|rest| rest.split(' ').next());
        at == Some(wanted.as_str()) && fstype.is_none_or(|t| kind == Some(t))
    })
}

/// mountinfo's octal escapes for space, tab, newline and backslash.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

pub fn start_detached(mountpoint: &Path) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            log!("mount.nfsx: cannot find my own executable: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut child = match Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("-f")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .current_dir("/")
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            log!("mount.nfsx: cannot start the mount process: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log!("{line}");
            }
        });
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                // Let the relay print the child's last words.
                std::thread::sleep(Duration::from_millis(50));
                return ExitCode::from(
                    status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(EXIT_FAILURE).max(1),
                );
            }
            Ok(None) => {}
            Err(e) => {
                log!("mount.nfsx: waiting for the mount process: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
        if is_mounted(mountpoint, Some(FSTYPE)) {
            return ExitCode::SUCCESS;
        }
        if start.elapsed() > MOUNT_WAIT {
            log!("mount.nfsx: no mount after {}s; giving up", MOUNT_WAIT.as_secs());
            let _ = child.kill();
            let _ = child.wait();
            if is_mounted(mountpoint, Some(FSTYPE)) {
                lazy_unmount(mountpoint);
            }
            return ExitCode::from(EXIT_FAILURE);
        }
        std::thread::sleep(POLL);
    }
}

/// Detaches a busy mount (`umount -l` semantics) through fusermount3, or umount as root.
pub fn lazy_unmount(mountpoint: &Path) {
    for (cmd, args) in [("fusermount3", ["-uz"]), ("umount", ["-l"])] {
        if Command::new(cmd).args(args).arg(mountpoint).status().is_ok_and(|s| s.success()) {
            return;
        }
    }
    log!("mount.nfsx: could not unmount {}", mountpoint.display());
}

/// `umount -f` aborts the FUSE connection but, while a call waits on a gone server (hard
/// mode), leaves the mount busy and that worker thread, so the daemon, waiting for ever.
/// Seeing the abort (POLLERR on the FUSE descriptor) with the mount still there, this
/// abandons the client's calls so the workers finish and the session can unmount. After a
/// plain unmount the mount is already gone and nothing is abandoned: pending writes are
/// committed as usual. Returns at the abort; true when calls were abandoned.
pub fn abandon_calls_on_forced_unmount(fuse: OwnedFd, mountpoint: &Path, client: &nfsx::Client) -> bool {
    loop {
        let mut fds = [PollFd::new(fuse.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log!("mount.nfsx: poll on the FUSE descriptor: {e}");
                return false;
            }
            Ok(_) => {}
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::POLLNVAL);
        if revents.contains(PollFlags::POLLNVAL) {
            return false;
        }
        if !revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
            continue;
        }
        if !is_mounted(mountpoint, None) {
            return false;
        }
        log!("mount.nfsx: connection aborted (umount -f): abandoning calls in flight");
        client.shut_down();
        return true;
    }
}
