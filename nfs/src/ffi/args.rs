//! Arguments from C: strings with a length bound, buffers, and out-pointers that are written
//! only once a call has succeeded.

use libc::c_char;

use super::guard::{Errno, FfiResult};
use crate::proto::nfs3::MAX_PATH_LEN;

/// Longest URL `nfsx_mount` accepts.
pub(crate) const MAX_URL_LEN: usize = 64 * 1024;

/// A NUL-terminated UTF-8 string of at most `max` bytes: NULL or invalid UTF-8 is -EINVAL, a
/// longer string -ENAMETOOLONG (only `max + 1` bytes are ever read).
pub(crate) fn str_arg<'a>(p: *const c_char, max: usize) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: the caller passes a NUL-terminated string; strnlen reads at most `max + 1` bytes
    // and stops at the first NUL, so it never reads past the string's terminator.
    let len = unsafe { libc::strnlen(p, max + 1) };
    if len > max {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    // SAFETY: `len` bytes before the NUL were just found readable at `p`; C keeps the string
    // alive and unchanged for the duration of the call.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|_| Errno(libc::EINVAL))
}

/// A path argument: at most 4,096 bytes (NFSv3's MAXPATHLEN).
pub(crate) fn path_arg<'a>(p: *const c_char) -> FfiResult<&'a str> {
    str_arg(p, MAX_PATH_LEN)
}

/// Writes `value` through a caller's out-pointer (checked non-NULL before the call's work).
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    debug_assert!(!out.is_null());
    // SAFETY: every caller checked `out` for NULL before doing any work; C promises it points
    // to writable, aligned memory for a `T`. `write` does not drop the uninitialised old value.
    unsafe { out.write(value) }
}

/// A caller's array of `len` elements to fill (checked non-NULL by the caller first).
pub(crate) fn array_out<'a, T: Copy>(p: *mut T, len: usize) -> &'a mut [T] {
    debug_assert!(!p.is_null());
    // SAFETY: C passes an array of at least `len` elements at `p`, checked non-NULL; `T` is
    // plain data (Copy), and the array is ours alone for the duration of the call.
    unsafe { std::slice::from_raw_parts_mut(p, len) }
}

/// -EINVAL unless `p` is non-NULL.
pub(crate) fn non_null<T>(p: *const T) -> FfiResult<()> {
    if p.is_null() {
        Err(Errno(libc::EINVAL))
    } else {
        Ok(())
    }
}

/// A caller's buffer for reading into; `count` is checked against `ssize_t`'s range.
pub(crate) fn buf_mut<'a>(buf: *mut libc::c_void, count: usize) -> FfiResult<&'a mut [u8]> {
    non_null(buf)?;
    if count > isize::MAX as usize {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: C passes `count` writable bytes at `buf`, not aliased by anything else for the
    // duration of the call (POSIX pread's contract); `count` fits isize, as slices require.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), count) })
}

/// A caller's buffer to write from.
pub(crate) fn buf_ref<'a>(buf: *const libc::c_void, count: usize) -> FfiResult<&'a [u8]> {
    non_null(buf)?;
    if count > isize::MAX as usize {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: C passes `count` readable bytes at `buf` that stay unchanged during the call.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), count) })
}

/// Copies `s` and a NUL into `buf` of `size` bytes; -ERANGE (and nothing written) if it does
/// not fit. Returns the length without the NUL.
pub(crate) fn copy_cstr(s: &[u8], buf: *mut c_char, size: usize) -> FfiResult<usize> {
    non_null(buf)?;
    if s.contains(&0) {
        return Err(Errno(libc::EIO));
    }
    if s.len() >= size {
        return Err(Errno(libc::ERANGE));
    }
    // SAFETY: C passes `size` writable bytes at `buf`; `s.len() + 1 <= size` was just checked,
    // and `s` (Rust memory) cannot overlap the caller's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        buf.add(s.len()).write(0);
    }
    Ok(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_bounded_and_checked() {
        assert_eq!(str_arg(std::ptr::null(), 10), Err(Errno(libc::EINVAL)));
        assert_eq!(str_arg(c"abc".as_ptr(), 3), Ok("abc"));
        assert_eq!(str_arg(c"abcd".as_ptr(), 3), Err(Errno(libc::ENAMETOOLONG)));
        assert_eq!(str_arg(c"\xff".as_ptr(), 3), Err(Errno(libc::EINVAL)));
        let long = std::ffi::CString::new(vec![b'a'; MAX_PATH_LEN + 1]).unwrap();
        assert_eq!(path_arg(long.as_ptr()), Err(Errno(libc::ENAMETOOLONG)));
    }

    #[test]
    fn copied_strings_fit_with_their_nul_or_nothing_is_written() {
        let mut buf = [b'x' as c_char; 4];
        assert_eq!(copy_cstr(b"abcd", buf.as_mut_ptr(), 4), Err(Errno(libc::ERANGE)));
        assert_eq!(buf[0], b'x' as c_char);
        assert_eq!(copy_cstr(b"abc", buf.as_mut_ptr(), 4), Ok(3));
        assert_eq!(buf[3], 0);
    }
}
