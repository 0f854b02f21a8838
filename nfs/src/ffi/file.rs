//! Open files: open flags, positional reads and writes, fsync, truncate, fstat, close.

use libc::{c_char, c_int, c_void, mode_t, ssize_t};

use super::args::{buf_mut, buf_ref, non_null, path_arg, write_out};
use super::client::CLIENTS;
use super::guard::{self, einval, Errno, FfiResult};
use super::handle::Registry;
use super::types::{nfsx_client, nfsx_file, nfsx_stat};
use crate::{File, OpenOptions};

/// An open file and the access its open flags granted.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub(crate) file: File,
    /// The client it was opened from, whose connections carry its RPCs.
    pub(crate) client: crate::Client,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    append: bool,
}

pub(crate) static FILES: Registry<OpenFile> = Registry::new();

/// Flags nfsx_open accepts; O_CLOEXEC and O_NOCTTY mean nothing here and are ignored.
const KNOWN_FLAGS: c_int = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_CLOEXEC
    | libc::O_NOCTTY;

fn open_options(flags: c_int, mode: mode_t) -> FfiResult<(OpenOptions, bool, bool)> {
    if flags & !KNOWN_FLAGS != 0 {
        return einval();
    }
    let (read, write) = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => (true, false),
        libc::O_WRONLY => (false, true),
        libc::O_RDWR => (true, true),
        _ => return einval(),
    };
    let create = flags & libc::O_CREAT != 0;
    let exclusive = flags & libc::O_EXCL != 0;
    let truncate = flags & libc::O_TRUNC != 0;
    // Linux ignores O_EXCL without O_CREAT and truncates read-only opens; nfsx refuses both.
    if (exclusive && !create) || ((create || truncate) && !write) || mode & !0o7777 != 0 {
        return einval();
    }
    let mut opts = OpenOptions::new();
    opts.read(read)
        .write(write)
        .create(create && !exclusive)
        .create_new(create && exclusive)
        .truncate(truncate)
        .mode(mode);
    Ok((opts, read, write))
}

/// Opens `path` (relative to the mounted directory) with `open(2)` flags: exactly one of
/// O_RDONLY, O_WRONLY, O_RDWR, plus any of O_CREAT, O_EXCL (with O_CREAT: one GUARDED CREATE),
/// O_TRUNC, O_APPEND (each write goes to the size the server reports; not atomic between
/// clients); O_CLOEXEC and O_NOCTTY are ignored. `mode` (permission bits) is used with O_CREAT.
///
/// Returns 0 and the file in `*out`, or -EINVAL (NULL, unknown flags, O_EXCL without O_CREAT,
/// O_CREAT or O_TRUNC without write access, mode beyond 07777), -ENAMETOOLONG, -ENOENT,
/// -EEXIST, -EISDIR (directory opened for writing), -EACCES, -EBADF (client not live).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_open(
    client: *const nfsx_client,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    out: *mut *mut nfsx_file,
) -> c_int {
    guard::int("nfsx_open", || {
        non_null(out)?;
        let client = CLIENTS.get(client)?;
        let path = path_arg(path)?;
        let (opts, readable, writable) = open_options(flags, mode)?;
        let file = client.open(path, &opts)?;
        let append = flags & libc::O_APPEND != 0;
        write_out(
            out,
            FILES.insert(OpenFile { file, client: (*client).clone(), readable, writable, append }),
        );
        Ok(0)
    })
}

/// Commits unstable writes (COMMIT) and frees the handle, which is then -EBADF. The handle is
/// freed even when the commit fails; that error is returned (-EIO when the server restarted
/// and unstable data may be lost). Thread-safe; must be the last call on this file.
#[no_mangle]
pub extern "C" fn nfsx_close(file: *mut nfsx_file) -> c_int {
    guard::int("nfsx_close", || {
        let open = FILES.remove(file)?;
        open.file.fsync()?;
        Ok(0)
    })
}

/// Reads up to `count` bytes at `offset` into `buf`; fewer only at end of file. Pieces of
/// rsize travel in parallel. Returns the byte count (0 at or past end of file, and for
/// `count` 0), or -EINVAL (NULL `buf`, `count` over SSIZE_MAX), -EBADF (closed, or opened
/// O_WRONLY), -EIO, -ESTALE, ... Thread-safe: many threads may read one file at once.
#[no_mangle]
pub extern "C" fn nfsx_pread(file: *const nfsx_file, buf: *mut c_void, count: usize, offset: u64) -> ssize_t {
    guard::ssize("nfsx_pread", || {
        let open = FILES.get(file)?;
        let buf = buf_mut(buf, count)?;
        if !open.readable {
            return Err(Errno(libc::EBADF));
        }
        Ok(open.file.read_at(buf, offset)?)
    })
}

/// Writes all `count` bytes of `buf` at `offset` as UNSTABLE writes, durable after
/// `nfsx_fsync` or `nfsx_close`. On a file opened O_APPEND, `offset` is ignored and the data
/// goes to the current end of file (as Linux does). Returns `count`, or -EINVAL (NULL `buf`),
/// -EBADF (closed, or opened O_RDONLY), -ENOSPC, -EDQUOT, -EFBIG, -EIO, ... Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_pwrite(
    file: *const nfsx_file,
    buf: *const c_void,
    count: usize,
    offset: u64,
) -> ssize_t {
    guard::ssize("nfsx_pwrite", || {
        let open = FILES.get(file)?;
        let buf = buf_ref(buf, count)?;
        if !open.writable {
            return Err(Errno(libc::EBADF));
        }
        if count == 0 {
            return Ok(0);
        }
        if open.append {
            open.file.append(buf)?;
            return Ok(count);
        }
        Ok(open.file.write_at(buf, offset)?)
    })
}

/// Makes every write so far durable (COMMIT, with the write verifier checked). Returns 0,
/// -EBADF, or -EIO (the server restarted and unstable data may be lost: rewrite it).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_fsync(file: *const nfsx_file) -> c_int {
    guard::int("nfsx_fsync", || {
        FILES.get(file)?.file.fsync()?;
        Ok(0)
    })
}

/// Sets the file's size (SETATTR). Returns 0, -EBADF (closed or not open for writing),
/// -EFBIG, -EACCES, ... Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_ftruncate(file: *const nfsx_file, size: u64) -> c_int {
    guard::int("nfsx_ftruncate", || {
        let open = FILES.get(file)?;
        if !open.writable {
            return Err(Errno(libc::EBADF));
        }
        open.file.set_len(size)?;
        Ok(0)
    })
}

/// The file's attributes (GETATTR) into `*out`. Returns 0, -EINVAL, -EBADF, -ESTALE, ...
/// Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_fstat(file: *const nfsx_file, out: *mut nfsx_stat) -> c_int {
    guard::int("nfsx_fstat", || {
        non_null(out)?;
        let attrs = FILES.get(file)?.file.stat()?;
        write_out(out, nfsx_stat::from(&attrs));
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_are_checked() {
        let ok = |f| open_options(f, 0o644).map(|(_, r, w)| (r, w));
        assert_eq!(ok(libc::O_RDONLY), Ok((true, false)));
        assert_eq!(ok(libc::O_WRONLY | libc::O_CREAT), Ok((false, true)));
        assert_eq!(ok(libc::O_RDWR | libc::O_APPEND | libc::O_CLOEXEC), Ok((true, true)));
        for bad in [
            libc::O_ACCMODE,
            libc::O_RDONLY | libc::O_CREAT,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_RDWR | libc::O_EXCL,
            libc::O_RDWR | libc::O_DIRECTORY,
            libc::O_RDWR | 0x4000_0000,
        ] {
            assert_eq!(ok(bad), Err(Errno(libc::EINVAL)), "{bad:#x}");
        }
        assert!(open_options(libc::O_RDWR | libc::O_CREAT, 0o10_000).is_err());
    }
}
