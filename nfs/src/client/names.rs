//! A name-to-handle cache so path calls don't send one LOOKUP per component every time.
//! Entries live for a configurable time and the client's own creates, renames and removes update
//! them; other clients' changes show after the lifetime, as with the kernel's `actimeo`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::proto::nfs3::{FileHandle, Ftype3};

/// Entries kept before the cache starts over: bounds memory whatever the workload.
const MAX_ENTRIES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct CachedName {
    pub handle: FileHandle,
    pub ftype: Ftype3,
    expires: Instant,
}

/// A directory and a name in it.
type NameKey = (FileHandle, Box<[u8]>);

#[derive(Debug)]
pub(crate) struct NameCache {
    ttl: Duration,
    entries: Mutex<HashMap<NameKey, CachedName>>,
}

impl NameCache {
    pub fn new(ttl: Duration) -> NameCache {
        NameCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub fn get(&self, dir: &FileHandle, name: &[u8]) -> Option<CachedName> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = (*dir, Box::from(name));
        let mut entries = self.entries.lock();
        match entries.get(&key) {
            Some(hit) if hit.expires > Instant::now() => Some(*hit),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, dir: &FileHandle, name: &[u8], handle: FileHandle, ftype: Ftype3) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (*dir, Box::from(name)),
            CachedName { handle, ftype, expires: Instant::now() + self.ttl },
        );
    }

    /// Whether names are cached at all (`actimeo` above 0).
    pub fn is_enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub fn forget_all(&self) {
        self.entries.lock().clear();
    }

    pub fn remove(&self, dir: &FileHandle, name: &[u8]) {
        if !self.ttl.is_zero() {
            self.entries.lock().remove(&(*dir, Box::from(name)));
        }
    }
}
