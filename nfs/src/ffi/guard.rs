//! The panic boundary: every exported function runs its body inside [`int`] or [`ssize`], which
//! catch a panic (reported as -EIO with a log line on stderr, never unwound into C) and turn an
//! error into a negative errno.

use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::{c_int, ssize_t};

use crate::Error;

/// A positive errno, carried through `?` until the boundary negates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Errno(pub c_int);

impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        Errno(e.errno())
    }
}

pub(crate) type FfiResult<T> = Result<T, Errno>;

pub(crate) fn einval<T>() -> FfiResult<T> {
    Err(Errno(libc::EINVAL))
}

/// Runs `body` for the C function `name`; `Ok(v)` is returned as is, `Err(e)` as `-e`.
pub(crate) fn int(name: &str, body: impl FnOnce() -> FfiResult<c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(Errno(e))) => -e,
        Err(panic) => {
            log_panic(name, &*panic);
            -libc::EIO
        }
    }
}

/// [`int`] for functions that return a byte count (`ssize_t`).
pub(crate) fn ssize(name: &str, body: impl FnOnce() -> FfiResult<usize>) -> ssize_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(n)) => ssize_t::try_from(n).unwrap_or(ssize_t::MAX),
        Ok(Err(Errno(e))) => -(e as ssize_t),
        Err(panic) => {
            log_panic(name, &*panic);
            -(libc::EIO as ssize_t)
        }
    }
}

pub(crate) fn log_panic(name: &str, panic: &(dyn std::any::Any + Send)) {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    eprintln!("nfsx: internal error: {name} panicked ({what}); returning -EIO");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_eio_and_errors_are_negated() {
        assert_eq!(int("t", || panic!("boom")), -libc::EIO);
        assert_eq!(ssize("t", || panic!("boom")), -(libc::EIO as ssize_t));
        assert_eq!(int("t", || Err(Errno(libc::ENOENT))), -libc::ENOENT);
        assert_eq!(int("t", || Ok(7)), 7);
        assert_eq!(ssize("t", || Ok(usize::MAX)), ssize_t::MAX);
        let e: Errno = Error::InvalidArgument("x".into()).into();
        assert_eq!(e, Errno(libc::EINVAL));
    }
}
