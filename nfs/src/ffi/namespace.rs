//! Path calls: attributes, creating, renaming and removing names, links, SETATTR, ACCESS and
//! FSSTAT. Paths are relative to the mounted directory ("/" at the start means the same).

use libc::{c_char, c_int, gid_t, mode_t, ssize_t, uid_t};

use super::args::{copy_cstr, non_null, path_arg, write_out};
use super::client::CLIENTS;
use super::guard::{self, einval, Errno, FfiResult};
use super::types::{nfsx_client, nfsx_stat, nfsx_statvfs, nfsx_timespec, NFSX_UTIME_NOW, NFSX_UTIME_OMIT};
use crate::proto::nfs3::{self, NfsTime3, SetTime};
use crate::Client;

/// Runs `body` with the client and one checked path.
fn with_path(
    name: &str,
    client: *const nfsx_client,
    path: *const c_char,
    body: impl FnOnce(&Client, &str) -> FfiResult<c_int>,
) -> c_int {
    guard::int(name, || {
        let client = CLIENTS.get(client)?;
        let path = path_arg(path)?;
        body(&client, path)
    })
}

fn with_two_paths(
    name: &str,
    client: *const nfsx_client,
    a: *const c_char,
    b: *const c_char,
    body: impl FnOnce(&Client, &str, &str) -> crate::Result<()>,
) -> c_int {
    guard::int(name, || {
        let client = CLIENTS.get(client)?;
        let (a, b) = (path_arg(a)?, path_arg(b)?);
        body(&client, a, b)?;
        Ok(0)
    })
}

fn check_mode(mode: mode_t) -> FfiResult<u32> {
    if mode & !0o7777 != 0 {
        return einval();
    }
    Ok(mode)
}

/// Attributes of what `path` names, following a final symbolic link, into `*out`.
/// Returns 0, -EINVAL, -EBADF (client), -ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, -EACCES.
/// Thread-safe (so are all path calls).
#[no_mangle]
pub extern "C" fn nfsx_stat(client: *const nfsx_client, path: *const c_char, out: *mut nfsx_stat) -> c_int {
    with_path("nfsx_stat", client, path, |c, p| {
        non_null(out)?;
        write_out(out, nfsx_stat::from(&c.stat(p)?));
        Ok(0)
    })
}

/// Like `nfsx_stat`, but a final symbolic link is described itself, not followed.
#[no_mangle]
pub extern "C" fn nfsx_lstat(client: *const nfsx_client, path: *const c_char, out: *mut nfsx_stat) -> c_int {
    with_path("nfsx_lstat", client, path, |c, p| {
        non_null(out)?;
        write_out(out, nfsx_stat::from(&c.lstat(p)?));
        Ok(0)
    })
}

/// Makes a directory with permission bits `mode`. Returns 0, -EEXIST, -ENOENT, -EINVAL
/// ("", ".", ".." or mode beyond 07777), -ENAMETOOLONG, -EACCES, -ENOSPC, ...
#[no_mangle]
pub extern "C" fn nfsx_mkdir(client: *const nfsx_client, path: *const c_char, mode: mode_t) -> c_int {
    with_path("nfsx_mkdir", client, path, |c, p| {
        c.mkdir(p, check_mode(mode)?)?;
        Ok(0)
    })
}

/// Removes an empty directory. Returns 0, -ENOENT, -ENOTEMPTY, -ENOTDIR, -EINVAL, ...
#[no_mangle]
pub extern "C" fn nfsx_rmdir(client: *const nfsx_client, path: *const c_char) -> c_int {
    with_path("nfsx_rmdir", client, path, |c, p| {
        c.rmdir(p)?;
        Ok(0)
    })
}

/// Removes a name that is not a directory (REMOVE). Returns 0, -ENOENT, -EISDIR, -EINVAL, ...
#[no_mangle]
pub extern "C" fn nfsx_unlink(client: *const nfsx_client, path: *const c_char) -> c_int {
    with_path("nfsx_unlink", client, path, |c, p| {
        c.unlink(p)?;
        Ok(0)
    })
}

/// Renames `from` to `to`, replacing `to` if it exists. Returns 0, -ENOENT, -EXDEV,
/// -ENOTEMPTY, -EINVAL, ...
#[no_mangle]
pub extern "C" fn nfsx_rename(client: *const nfsx_client, from: *const c_char, to: *const c_char) -> c_int {
    with_two_paths("nfsx_rename", client, from, to, |c, a, b| c.rename(a, b))
}

/// Makes `new_path` another name (hard link) for the file `existing`. Returns 0, -EEXIST,
/// -ENOENT, -EXDEV, -EMLINK, ...
#[no_mangle]
pub extern "C" fn nfsx_link(
    client: *const nfsx_client,
    existing: *const c_char,
    new_path: *const c_char,
) -> c_int {
    with_two_paths("nfsx_link", client, existing, new_path, |c, a, b| c.link(a, b))
}

/// Makes a symbolic link at `link_path` whose target is the text `target`. Returns 0,
/// -EEXIST, -ENOENT, -EINVAL, -ENAMETOOLONG, ...
#[no_mangle]
pub extern "C" fn nfsx_symlink(
    client: *const nfsx_client,
    target: *const c_char,
    link_path: *const c_char,
) -> c_int {
    with_two_paths("nfsx_symlink", client, target, link_path, |c, a, b| c.symlink(a, b))
}

/// Copies a symbolic link's target into `buf` of `size` bytes, NUL-terminated (unlike
/// readlink(2)). Returns its length without the NUL, or -ERANGE when it does not fit with its
/// NUL (nothing written), -EINVAL (NULL, or not a symbolic link), -ENOENT, ...
#[no_mangle]
pub extern "C" fn nfsx_readlink(
    client: *const nfsx_client,
    path: *const c_char,
    buf: *mut c_char,
    size: usize,
) -> ssize_t {
    guard::ssize("nfsx_readlink", || {
        non_null(buf)?;
        let client = CLIENTS.get(client)?;
        let target = client.readlink(path_arg(path)?)?;
        copy_cstr(target.as_bytes(), buf, size)
    })
}

/// Sets the size of what `path` names. Returns 0, -EISDIR, -EFBIG, -EACCES, -ENOENT, ...
#[no_mangle]
pub extern "C" fn nfsx_truncate(client: *const nfsx_client, path: *const c_char, size: u64) -> c_int {
    with_path("nfsx_truncate", client, path, |c, p| {
        c.truncate(p, size)?;
        Ok(0)
    })
}

/// Sets permission bits (at most 07777, else -EINVAL). Returns 0, -EPERM, -ENOENT, ...
#[no_mangle]
pub extern "C" fn nfsx_chmod(client: *const nfsx_client, path: *const c_char, mode: mode_t) -> c_int {
    with_path("nfsx_chmod", client, path, |c, p| {
        c.chmod(p, check_mode(mode)?)?;
        Ok(0)
    })
}

/// Sets owner and group; `(uid_t)-1` or `(gid_t)-1` leaves that one unchanged. Returns 0,
/// -EPERM, -ENOENT, ...
#[no_mangle]
pub extern "C" fn nfsx_chown(
    client: *const nfsx_client,
    path: *const c_char,
    uid: uid_t,
    gid: gid_t,
) -> c_int {
    with_path("nfsx_chown", client, path, |c, p| {
        let uid = (uid != uid_t::MAX).then_some(uid);
        let gid = (gid != gid_t::MAX).then_some(gid);
        c.chown(p, uid, gid)?;
        Ok(0)
    })
}

fn set_time(t: &nfsx_timespec) -> FfiResult<SetTime> {
    Ok(match t.nsec {
        NFSX_UTIME_NOW => SetTime::ServerTime,
        NFSX_UTIME_OMIT => SetTime::DontChange,
        nsec if nsec < 1_000_000_000 => SetTime::ClientTime(NfsTime3 { seconds: t.sec, nseconds: nsec }),
        _ => return einval(),
    })
}

/// Sets access and modification times from `times[0]` and `times[1]`; a `nsec` of
/// NFSX_UTIME_NOW means the server's current time, NFSX_UTIME_OMIT leaves that time alone.
/// Returns 0, -EINVAL (NULL `times`, nsec over 999999999 and not one of those), -EPERM, ...
#[no_mangle]
pub extern "C" fn nfsx_utimes(
    client: *const nfsx_client,
    path: *const c_char,
    times: *const nfsx_timespec,
) -> c_int {
    with_path("nfsx_utimes", client, path, |c, p| {
        non_null(times)?;
        // SAFETY: C passes an array of two nfsx_timespec (the documented contract), checked
        // non-NULL above; they are plain integers, valid for any bit pattern.
        let [atime, mtime] = unsafe { times.cast::<[nfsx_timespec; 2]>().read() };
        c.set_times(p, set_time(&atime)?, set_time(&mtime)?)?;
        Ok(0)
    })
}

/// Checks access as access(2): `mode` is F_OK or any of R_OK, W_OK, X_OK, answered by the
/// server (ACCESS) for the mount's uid and gids. Returns 0 when all are granted, -EACCES when
/// not, -EINVAL (other bits), -ENOENT, ...
#[no_mangle]
pub extern "C" fn nfsx_access(client: *const nfsx_client, path: *const c_char, mode: c_int) -> c_int {
    with_path("nfsx_access", client, path, |c, p| {
        if mode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0 {
            return einval();
        }
        let mut want = 0;
        if mode & libc::R_OK != 0 {
            want |= nfs3::ACCESS3_READ;
        }
        if mode & libc::W_OK != 0 {
            want |= nfs3::ACCESS3_MODIFY;
        }
        if mode & libc::X_OK != 0 {
            // EXECUTE for files, LOOKUP (search) for directories; a server grants the one that fits.
            want |= nfs3::ACCESS3_EXECUTE | nfs3::ACCESS3_LOOKUP;
        }
        let granted = c.access(p, want)?;
        let x = nfs3::ACCESS3_EXECUTE | nfs3::ACCESS3_LOOKUP;
        let rw_ok = granted & want & !x == want & !x;
        let x_ok = want & x == 0 || granted & x != 0;
        if rw_ok && x_ok {
            Ok(0)
        } else {
            Err(Errno(libc::EACCES))
        }
    })
}

/// Space and inodes of the file system holding `path` (FSSTAT) into `*out`.
/// Returns 0, -EINVAL, -ENOENT, ...
#[no_mangle]
pub extern "C" fn nfsx_statvfs(
    client: *const nfsx_client,
    path: *const c_char,
    out: *mut nfsx_statvfs,
) -> c_int {
    with_path("nfsx_statvfs", client, path, |c, p| {
        non_null(out)?;
        let fs = c.statfs(p)?;
        let info = c.fsinfo();
        write_out(out, nfsx_statvfs::new(&fs, info.rsize, info.wsize));
        Ok(0)
    })
}
