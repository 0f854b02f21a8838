//! Mounting and unmounting, and a client's counters.

use std::sync::atomic::Ordering;

use libc::{c_char, c_int};

use super::args::{non_null, str_arg, write_out, MAX_URL_LEN};
use super::guard;
use super::handle::Registry;
use super::types::{nfsx_client, nfsx_stats};
use crate::Client;

pub(crate) static CLIENTS: Registry<Client> = Registry::new();

/// Mounts the export named by an `nfs://host/export[/dir][?options]` URL (the options of the
/// Rust API and libnfs: nconnect, uid, gid, rsize, wsize, timeo, retrans, hard, ...) and stores
/// the new client in `*out`.
///
/// Returns 0, or -EINVAL (NULL argument, bad URL or option), -ENAMETOOLONG (URL over 64 KiB),
/// -ENOENT/-EACCES (MOUNT refused), -ECONNREFUSED/-ETIMEDOUT (server unreachable).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_mount(url: *const c_char, out: *mut *mut nfsx_client) -> c_int {
    guard::int("nfsx_mount", || {
        non_null(out)?;
        let url = str_arg(url, MAX_URL_LEN)?;
        let client = Client::mount(url)?;
        write_out(out, CLIENTS.insert(client));
        Ok(0)
    })
}

/// Tells the server the export is unmounted (UMNT) and frees the client handle, which must not
/// be used again (it is then -EBADF). Files and directories still open from it keep working
/// until they are closed; connections close with the last of them.
///
/// Returns 0, -EINVAL (NULL), -EBADF (not a live client: already unmounted), or the UMNT
/// error (the handle is freed all the same). Thread-safe; other threads' calls on the same
/// client that are in progress complete normally.
#[no_mangle]
pub extern "C" fn nfsx_umount(client: *mut nfsx_client) -> c_int {
    guard::int("nfsx_umount", || {
        let client = CLIENTS.remove(client)?;
        client.umount()?;
        Ok(0)
    })
}

/// Abandons every call in flight on the client (they return -EIO) and makes every later call
/// fail with -EIO at once, without waiting for the server, even on a hard mount: for tearing a
/// job down when the server is gone. The handle stays valid until `nfsx_umount`, which then
/// only frees it (no UMNT is sent). Returns 0, -EINVAL or -EBADF. Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_shutdown(client: *const nfsx_client) -> c_int {
    guard::int("nfsx_shutdown", || {
        CLIENTS.get(client)?.shut_down();
        Ok(0)
    })
}

/// Copies the client's counters into `*out`. Returns 0, -EINVAL or -EBADF. Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_stats(client: *const nfsx_client, out: *mut nfsx_stats) -> c_int {
    guard::int("nfsx_stats", || {
        non_null(out)?;
        let client = CLIENTS.get(client)?;
        let stats = client.stats();
        write_out(
            out,
            nfsx_stats {
                calls: stats.calls.load(Ordering::Relaxed),
                retransmits: stats.retransmits.load(Ordering::Relaxed),
                reconnects: stats.reconnects.load(Ordering::Relaxed),
                connections: client.connections() as u64,
                path_failures: stats.path_failures.load(Ordering::Relaxed),
                jukebox_retries: stats.jukebox_retries.load(Ordering::Relaxed),
                bytes_copied: stats.bytes_copied.load(Ordering::Relaxed),
                receive_buffers_busy: stats.receive_buffers_busy.load(Ordering::Relaxed),
            },
        );
        Ok(0)
    })
}
