//! Receive buffers: page-aligned anonymous mappings (zeroed by the kernel, so always
//! initialised) that large replies are read into directly and then handed to callers as
//! `bytes::Bytes` without a copy. When the last view is dropped the mapping goes back to its
//! pool for the next reply.
//!
//! A pool can be bounded: a request whose reply will need a buffer reserves one first
//! ([`BufferPool::try_reserve`]), and is refused while the buffers lent out (views still held)
//! and those reserved by requests in flight reach the bound. That refusal is the back-pressure:
//! the sender waits ([`BufferPool::wait_for_room`]) or tells its caller, and the receive side
//! never runs out.

pub mod landing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use memmap2::MmapMut;
use parking_lot::{Condvar, Mutex};

/// Fixed-size buffers, reused. The pool keeps at most `max_pooled` idle buffers; beyond that a
/// returned buffer is unmapped, so memory held is bounded by `max_pooled` plus what callers hold.
#[derive(Debug)]
pub struct BufferPool {
    buffer_len: usize,
    max_pooled: usize,
    /// Most buffers lent and reserved at once.
    limit: usize,
    state: Mutex<PoolState>,
    /// Signalled when a buffer comes back or a reservation is let go.
    room: Condvar,
    mapped: AtomicU64,
    reused: AtomicU64,
}

#[derive(Debug)]
struct PoolState {
    idle: Vec<MmapMut>,
    /// Buffers taken and not yet back (being filled, or behind views still held).
    lent: usize,
    reserved: usize,
    /// Callers that must not block (futures) waiting for room
    /// ([`BufferPool::try_reserve_or_wake`]); all are woken when a buffer comes back or a
    /// reservation is let go, to try again.
    wakers: Vec<Waker>,
}

impl PoolState {
    /// The waiters to wake once a buffer came back or a reservation went: all of them when
    /// there is room now, none while a reply taken past the bound still fills it (every way
    /// back below the bound comes through here, so none is missed).
    fn wakers_if_room(&mut self, limit: usize) -> Vec<Waker> {
        if self.lent.saturating_add(self.reserved) < limit {
            std::mem::take(&mut self.wakers)
        } else {
            Vec::new()
        }
    }
}

impl BufferPool {
    /// A pool without a bound on the buffers lent at once.
    pub fn new(buffer_len: usize, max_pooled: usize) -> Arc<BufferPool> {
        BufferPool::bounded(buffer_len, max_pooled, usize::MAX)
    }

    /// A pool whose reservations stop at `limit` buffers lent and reserved.
    pub fn bounded(buffer_len: usize, max_pooled: usize, limit: usize) -> Arc<BufferPool> {
        Arc::new(BufferPool {
            buffer_len,
            max_pooled,
            limit,
            state: Mutex::new(PoolState {
                idle: Vec::with_capacity(max_pooled),
                lent: 0,
                reserved: 0,
                wakers: Vec::new(),
            }),
            room: Condvar::new(),
            mapped: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Reserves a buffer for a reply to come, unless the buffers lent and reserved have reached
    /// the limit. The reservation ends when dropped.
    pub fn try_reserve(self: &Arc<Self>) -> Option<Reservation> {
        let mut state = self.state.lock();
        if state.lent.saturating_add(state.reserved) >= self.limit {
            return None;
        }
        state.reserved += 1;
        Some(Reservation { pool: Arc::clone(self) })
    }

    /// As [`BufferPool::try_reserve`], for a caller that must not block: when refused, `waker`
    /// is woken once there may be room.
    pub fn try_reserve_or_wake(self: &Arc<Self>, waker: &Waker) -> Option<Reservation> {
        let mut state = self.state.lock();
        if state.lent.saturating_add(state.reserved) >= self.limit {
            if !state.wakers.iter().any(|w| w.will_wake(waker)) {
                state.wakers.push(waker.clone());
            }
            return None;
        }
        state.reserved += 1;
        Some(Reservation { pool: Arc::clone(self) })
    }

    /// Tells those waiting that there may be room now.
    fn announce_room(&self, wakers: Vec<Waker>) {
        self.room.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Wakes every caller waiting through [`BufferPool::try_reserve_or_wake`], room or not:
    /// for an owner shutting down, whose callers must look again to learn it.
    pub fn wake_waiters(&self) {
        let wakers = std::mem::take(&mut self.state.lock().wakers);
        self.announce_room(wakers);
    }

    /// Waits until a reservation could succeed, or `deadline`; true if it could.
    pub fn wait_for_room(&self, deadline: Instant) -> bool {
        let mut state = self.state.lock();
        while state.lent.saturating_add(state.reserved) >= self.limit {
            if self.room.wait_until(&mut state, deadline).timed_out() {
                return state.lent.saturating_add(state.reserved) < self.limit;
            }
        }
        true
    }

    /// Buffers lent out now (being filled, or behind views still held).
    pub fn lent(&self) -> usize {
        self.state.lock().lent
    }

    pub fn buffer_len(&self) -> usize {
        self.buffer_len
    }

    /// An idle buffer, or a fresh mapping when none is idle. Never refused for the limit: the
    /// reply it is for was reserved for (or, a late reply to an abandoned request, is rare).
    pub fn take(self: &Arc<Self>) -> std::io::Result<PoolBuf> {
        let recycled = {
            let mut state = self.state.lock();
            state.lent += 1;
            state.idle.pop()
        };
        let map = match recycled {
            Some(map) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                map
            }
            None => {
                self.mapped.fetch_add(1, Ordering::Relaxed);
                match MmapMut::map_anon(self.buffer_len) {
                    Ok(map) => map,
                    Err(e) => {
                        let wakers = {
                            let mut state = self.state.lock();
                            state.lent -= 1;
                            state.wakers_if_room(self.limit)
                        };
                        self.announce_room(wakers);
                        return Err(e);
                    }
                }
            }
        };
        Ok(PoolBuf { map: Some(map), pool: Arc::clone(self) })
    }

    /// Mappings made and buffers reused since the pool was created.
    pub fn counts(&self) -> (u64, u64) {
        (self.mapped.load(Ordering::Relaxed), self.reused.load(Ordering::Relaxed))
    }

    pub fn idle(&self) -> usize {
        self.state.lock().idle.len()
    }

    fn give_back(&self, map: MmapMut) {
        let (unneeded, wakers) = {
            let mut state = self.state.lock();
            state.lent -= 1;
            let wakers = state.wakers_if_room(self.limit);
            if state.idle.len() < self.max_pooled {
                state.idle.push(map);
                (None, wakers)
            } else {
                (Some(map), wakers)
            }
        };
        self.announce_room(wakers);
        // Unmapped outside the lock.
        drop(unneeded);
    }
}

/// A buffer promised to a reply to come; let go when dropped.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<BufferPool>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let wakers = {
            let mut state = self.pool.state.lock();
            state.reserved -= 1;
            state.wakers_if_room(self.pool.limit)
        };
        self.pool.announce_room(wakers);
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
    fn reservations_stop_at_the_limit_of_buffers_lent_and_reserved() {
        let pool = BufferPool::bounded(4096, 4, 2);
        let first = pool.try_reserve().expect("room for two");
        let view = pool.take().unwrap().freeze(10);
        drop(first);
        assert_eq!(pool.lent(), 1);
        let second = pool.try_reserve().expect("one lent, none reserved");
        assert!(pool.try_reserve().is_none(), "one lent and one reserved fill a limit of two");
        assert!(!pool.wait_for_room(Instant::now() + std::time::Duration::from_millis(20)));
        let waiter = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                pool.wait_for_room(Instant::now() + std::time::Duration::from_secs(10))
            })
        };
        drop(view);
        assert!(waiter.join().unwrap(), "a buffer coming back makes room");
        assert_eq!(pool.lent(), 0);
        let third = pool.try_reserve().expect("the view's buffer is back");
        drop((second, third));
        let unbounded = BufferPool::new(4096, 0);
        let many: Vec<_> = (0..100).map(|_| unbounded.try_reserve().unwrap()).collect();
        assert_eq!(many.len(), 100);
    }

    #[test]
    fn a_refused_reservation_wakes_its_waiter_when_room_may_have_come() {
        let (woken, waker) = crate::wake_count::WakeCount::new();
        let pool = BufferPool::bounded(4096, 1, 1);
        let held = pool.try_reserve_or_wake(&waker).expect("room for one");
        assert!(pool.try_reserve_or_wake(&waker).is_none());
        drop(held);
        assert_eq!(woken.get(), 1);
        let view = pool.take().unwrap().freeze(1);
        assert!(pool.try_reserve_or_wake(&waker).is_none(), "the view holds the one buffer");
        drop(view);
        assert_eq!(woken.get(), 2, "the buffer's return woke it");
        let reserved = pool.try_reserve_or_wake(&waker).expect("room again");
        // A reply taken past the bound: the reservation's end leaves no room, so wakes nobody.
        let late = pool.take().unwrap().freeze(1);
        assert!(pool.try_reserve_or_wake(&waker).is_none());
        drop(reserved);
        assert_eq!(woken.get(), 2, "still full");
        drop(late);
        assert_eq!(woken.get(), 3);
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
