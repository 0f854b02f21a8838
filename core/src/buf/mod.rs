//! Receive buffers: page-aligned anonymous mappings (zeroed by the kernel, so always
//! initialised) that large replies are read into directly and then handed to callers as
//! `bytes::Bytes` without a copy. When the last view is dropped the mapping goes back to its
//! pool for the next reply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::MmapMut;
use parking_lot::Mutex;

/// Fixed-size buffers, reused. The pool keeps at most `max_pooled` idle buffers; beyond that a
/// returned buffer is unmapped, so memory held is bounded by `max_pooled` plus what callers hold.
#[derive(Debug)]
pub struct BufferPool {
    buffer_len: usize,
    max_pooled: usize,
    idle: Mutex<Vec<MmapMut>>,
    mapped: AtomicU64,
    reused: AtomicU64,
}

impl BufferPool {
    pub fn new(buffer_len: usize, max_pooled: usize) -> Arc<BufferPool> {
        Arc::new(BufferPool {
            buffer_len,
            max_pooled,
            idle: Mutex::new(Vec::with_capacity(max_pooled)),
            mapped: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        })
    }

    pub fn buffer_len(&self) -> usize {
        self.buffer_len
    }

    /// An idle buffer, or a fresh mapping when none is idle.
    pub fn take(self: &Arc<Self>) -> std::io::Result<PoolBuf> {
        let recycled = self.idle.lock().pop();
        let map = match recycled {
            Some(map) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                map
            }
            None => {
                self.mapped.fetch_add(1, Ordering::Relaxed);
                MmapMut::map_anon(self.buffer_len)?
            }
        };
        Ok(PoolBuf { map: Some(map), pool: Arc::clone(self) })
    }

    /// Mappings made and buffers reused since the pool was created.
    pub fn counts(&self) -> (u64, u64) {
        (self.mapped.load(Ordering::Relaxed), self.reused.load(Ordering::Relaxed))
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().len()
    }

    fn give_back(&self, map: MmapMut) {
        let mut idle = self.idle.lock();
        if idle.len() < self.max_pooled {
            idle.push(map);
        }
    }
}

/// A buffer taken from a pool, being filled.
#[derive(Debug)]
pub struct PoolBuf {
    map: Option<MmapMut>,
    pool: Arc<BufferPool>,
}

impl PoolBuf {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.map.as_deref_mut().unwrap_or_default()
    }

    /// The first `len` bytes as an immutable, shareable view; the buffer returns to its pool
    /// when the last clone of the view is dropped.
    pub fn freeze(mut self, len: usize) -> Bytes {
        let map = self.map.take();
        let len = len.min(map.as_ref().map_or(0, |m| m.len()));
        Bytes::from_owner(Frozen { map, len, pool: Arc::clone(&self.pool) })
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            self.pool.give_back(map);
        }
    }
}

struct Frozen {
    map: Option<MmapMut>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        self.map.as_deref().map_or(&[], |m| &m[..self.len])
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            self.pool.give_back(map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_page_aligned_zeroed_and_come_back_when_views_drop() {
        let pool = BufferPool::new(1 << 20, 2);
        let mut buf = pool.take().unwrap();
        let slice = buf.as_mut_slice();
        assert_eq!(slice.len(), 1 << 20);
        assert_eq!(slice.as_ptr() as usize % 4096, 0, "page-aligned");
        // Every byte natively; under Miri (a thousand times slower) one in 61, still every page.
        let step = if cfg!(miri) { 61 } else { 1 };
        assert!(slice.iter().step_by(step).all(|&b| b == 0));
        slice[..5].copy_from_slice(b"hello");
        let view = buf.freeze(5);
        let clone = view.slice(1..3);
        assert_eq!(&view[..], b"hello");
        drop(view);
        assert_eq!(pool.idle(), 0, "a view is still alive");
        assert_eq!(&clone[..], b"el");
        drop(clone);
        assert_eq!(pool.idle(), 1);
        let _again = pool.take().unwrap();
        assert_eq!(pool.counts(), (1, 1));
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound() {
        let pool = BufferPool::new(4096, 1);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        drop(a);
        drop(b);
        assert_eq!(pool.idle(), 1);
    }
}
