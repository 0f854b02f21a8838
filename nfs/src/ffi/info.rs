//! Error messages and the library version: static, NUL-terminated, never freed.

use std::ffi::CStr;

use libc::{c_char, c_int};

/// Messages for the errno values nfsx returns; others get "Unknown error".
const MESSAGES: &[(c_int, &CStr)] = &[
    (0, c"Success"),
    (libc::EPERM, c"Operation not permitted"),
    (libc::ENOENT, c"No such file or directory"),
    (libc::EIO, c"Input/output error"),
    (libc::ENXIO, c"No such device or address"),
    (libc::EBADF, c"Bad file descriptor (closed or invalid nfsx handle)"),
    (libc::EAGAIN, c"Resource temporarily unavailable (completion queue full)"),
    (libc::EACCES, c"Permission denied"),
    (libc::EBUSY, c"Device or resource busy"),
    (libc::EEXIST, c"File exists"),
    (libc::EXDEV, c"Invalid cross-device link"),
    (libc::ENODEV, c"No such device"),
    (libc::ENOTDIR, c"Not a directory"),
    (libc::EISDIR, c"Is a directory"),
    (libc::EINVAL, c"Invalid argument"),
    (libc::EFBIG, c"File too large"),
    (libc::ENOSPC, c"No space left on device"),
    (libc::EROFS, c"Read-only file system"),
    (libc::EMLINK, c"Too many links"),
    (libc::ERANGE, c"Result too large for the buffer"),
    (libc::ENAMETOOLONG, c"File name too long"),
    (libc::ENOTEMPTY, c"Directory not empty"),
    (libc::ELOOP, c"Too many levels of symbolic links"),
    (libc::EDQUOT, c"Disk quota exceeded"),
    (libc::ESTALE, c"Stale file handle"),
    (libc::EREMOTE, c"Object is remote"),
    (libc::ENOTSUP, c"Operation not supported"),
    (libc::EPROTO, c"Protocol error"),
    (libc::EBADMSG, c"Bad message"),
    (libc::EPROTONOSUPPORT, c"Protocol not supported"),
    (libc::ECONNREFUSED, c"Connection refused"),
    (libc::ECONNRESET, c"Connection reset by peer"),
    (libc::ECONNABORTED, c"Connection aborted"),
    (libc::ENOTCONN, c"Transport endpoint is not connected"),
    (libc::ETIMEDOUT, c"Connection timed out"),
    (libc::EHOSTUNREACH, c"No route to host"),
    (libc::ENETUNREACH, c"Network is unreachable"),
    (libc::EADDRINUSE, c"Address already in use"),
    (libc::EADDRNOTAVAIL, c"Cannot assign requested address"),
    (libc::ENOMEM, c"Cannot allocate memory"),
    (libc::EFAULT, c"Bad address"),
];

/// The message for an errno value, negative (as nfsx functions return it) or positive. The
/// string is static and NUL-terminated; never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_strerror(err: c_int) -> *const c_char {
    let errno = err.checked_abs().unwrap_or(-1);
    MESSAGES.iter().find(|(e, _)| *e == errno).map_or(c"Unknown error", |(_, m)| m).as_ptr()
}

/// The library's version, "MAJOR.MINOR.PATCH" (static, NUL-terminated). Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: *const c_char) -> &'static str {
        // SAFETY: nfsx_strerror and nfsx_version return static NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn messages_for_negative_and_positive_errnos() {
        assert_eq!(text(nfsx_strerror(-libc::ENOENT)), "No such file or directory");
        assert_eq!(text(nfsx_strerror(libc::ENOENT)), "No such file or directory");
        assert_eq!(text(nfsx_strerror(-9999)), "Unknown error");
        assert_eq!(text(nfsx_strerror(c_int::MIN)), "Unknown error");
        assert_eq!(text(nfsx_strerror(0)), "Success");
        assert_eq!(text(nfsx_version()), env!("CARGO_PKG_VERSION"));
    }
}
