use std::sync::atomic::{AtomicU32, Ordering};

/// Hands out transaction ids. Each client starts from a seed the caller picks (time and pid, say)
/// so a restarted client does not reuse the XIDs its predecessor left in the server's duplicate
/// request cache.
#[derive(Debug)]
pub struct XidAllocator {
    next: AtomicU32,
}

impl XidAllocator {
    pub fn new(seed: u32) -> XidAllocator {
        XidAllocator { next: AtomicU32::new(seed) }
    }

    pub fn next_xid(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}
