//! Opaque handles. A handle given to C is not a pointer to Rust memory but an id, never reused,
//! that a per-type registry maps to an `Arc` of the object. So a closed or double-freed handle,
//! or a handle of the wrong type, is detected (-EBADF) instead of touching freed memory, and a
//! handle closed by one thread while another uses it stays alive until that call returns.
//! Cost per call: one uncontended read lock and an `Arc` clone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::guard::{Errno, FfiResult};

/// Ids for every handle type come from one counter, so an id names at most one object ever.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Live objects of one handle type `T`, exposed to C as `*mut H` (an opaque struct).
pub(crate) struct Registry<T> {
    live: RwLock<BTreeMap<usize, Arc<T>>>,
}

impl<T> Registry<T> {
    pub(crate) const fn new() -> Registry<T> {
        Registry { live: parking_lot::const_rwlock(BTreeMap::new()) }
    }

    /// Registers `value` and returns its handle for C.
    pub(crate) fn insert<H>(&self, value: T) -> *mut H {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.live.write().insert(id, Arc::new(value));
        std::ptr::without_provenance_mut(id)
    }

    /// The object behind a handle: NULL is -EINVAL, anything not live is -EBADF.
    pub(crate) fn get<H>(&self, handle: *const H) -> FfiResult<Arc<T>> {
        let id = handle.addr();
        if id == 0 {
            return Err(Errno(libc::EINVAL));
        }
        self.live.read().get(&id).cloned().ok_or(Errno(libc::EBADF))
    }

    /// Unregisters a handle (close/free); later uses of it are -EBADF.
    pub(crate) fn remove<H>(&self, handle: *mut H) -> FfiResult<Arc<T>> {
        let id = handle.addr();
        if id == 0 {
            return Err(Errno(libc::EINVAL));
        }
        self.live.write().remove(&id).ok_or(Errno(libc::EBADF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;

    #[test]
    fn closed_null_and_foreign_handles_are_refused() {
        static AS: Registry<u32> = Registry::new();
        static BS: Registry<u32> = Registry::new();
        let a: *mut A = AS.insert(5);
        assert_eq!(*AS.get(a).unwrap(), 5);
        assert_eq!(BS.get(a.cast::<B>()).unwrap_err(), Errno(libc::EBADF));
        assert_eq!(AS.get::<A>(std::ptr::null()).unwrap_err(), Errno(libc::EINVAL));
        let held = AS.get(a).unwrap();
        AS.remove(a).unwrap();
        assert_eq!(*held, 5, "a call in progress keeps the object");
        assert_eq!(AS.remove(a).unwrap_err(), Errno(libc::EBADF));
        assert_eq!(AS.get(a).unwrap_err(), Errno(libc::EBADF));
        let again: *mut A = AS.insert(6);
        assert_ne!(again, a, "ids are never reused");
    }
}
