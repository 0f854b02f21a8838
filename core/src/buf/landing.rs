//! Caller memory lent to the receive path, so a reply's payload is read by the kernel straight
//! into the buffer the caller passed (`File::read_into`): no copy in user space.
//!
//! The caller lends its buffer for a scope ([`lend`]); inside it, [`Lender::zone`] cuts zones
//! out of it and offers them to requests in flight. A receive side that meets the reply to such a
//! request claims the zone ([`LandingZone::claim`]), reads into it, and lets go by dropping the
//! [`ZoneClaim`]. The rules that make this sound:
//! - a zone is claimed by at most one receive side at a time, and only while it is open;
//! - no two open zones overlap, and the lender writes ([`Lender::copy_in`]) only where no open
//!   zone lies, closing any that does first;
//! - closing a zone waits until its claim is let go, and the scope does not end before every zone
//!   is closed, so the memory outlives every write into it; meanwhile `lend` holds the caller's
//!   `&mut` borrow, so nothing else reads or writes it.
//!
//! A claim that is not let go soon (the reply stalled mid-way, or its caller has given up on it
//! while the server still sends) would hold the scope open; after [`CLAIM_GRACE`] the closing
//! side shuts the claiming connection's socket down, which ends its receive and so the claim.

use std::marker::PhantomData;
use std::ops::Range;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// How long closing a zone waits for its claim to be let go before shutting the claiming
/// connection down. A reply being received moves at memory speed; one that takes this long has
/// stalled.
pub const CLAIM_GRACE: Duration = Duration::from_secs(1);
/// How often a closing side that waits for a claim calls its `while_waiting` hook (which, for a
/// connection its callers drive themselves, is what moves the claimed reply along).
const CLAIM_WAIT_SLICE: Duration = Duration::from_millis(1);

/// Lends `memory` to the receive path for the duration of `use_memory`, which cuts zones out of it
/// through the [`Lender`]. Returns once no zone is claimed any more. `while_waiting` runs while
/// closing waits for a claim to be let go (a caller-driven connection is read there).
pub fn lend<R>(memory: &mut [u8], while_waiting: &dyn Fn(), use_memory: impl FnOnce(&Lender<'_>) -> R) -> R {
    let lender = Lender {
        start: memory.as_mut_ptr(),
        len: memory.len(),
        zones: Mutex::new(Vec::new()),
        while_waiting,
        _memory: PhantomData,
    };
    use_memory(&lender)
    // `lender` drops here, closing every zone before the borrow of `memory` ends.
}

/// Memory lent for the scope of [`lend`]: hands out zones of it and writes into it where no zone
/// is open. Neither `Send` nor `Sync`: it stays on the lending thread.
pub struct Lender<'a> {
    start: *mut u8,
    len: usize,
    /// Zones handed out and maybe still open.
    zones: Mutex<Vec<LandingZone>>,
    while_waiting: &'a dyn Fn(),
    _memory: PhantomData<&'a mut [u8]>,
}

impl std::fmt::Debug for Lender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lender").field("len", &self.len).finish_non_exhaustive()
    }
}

impl Lender<'_> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A zone over `range` of the lent memory (`None` if it reaches past the end). Open zones
    /// that overlap it are closed first.
    pub fn zone(&self, range: Range<usize>) -> Option<LandingZone> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        let mut zones = self.zones.lock();
        self.close_overlapping(&mut zones, &range);
        // A zone only this lender still holds is offered to no request and claimed by none,
        // and never will be: it is as good as closed.
        zones.retain(|zone| Arc::strong_count(&zone.0) > 1 && !zone.is_closed());
        // SAFETY: `range.start <= self.len`, so the pointer stays within (or one past) the lent
        // allocation.
        let start = unsafe { self.start.add(range.start) };
        let zone = LandingZone::new(start, range.len());
        zones.push(zone.clone());
        Some(zone)
    }

    /// Copies `data` into the lent memory at `at` (closing any open zone there first); false if
    /// it does not fit.
    pub fn copy_in(&self, at: usize, data: &[u8]) -> bool {
        let Some(end) = at.checked_add(data.len()).filter(|&end| end <= self.len) else { return false };
        let mut zones = self.zones.lock();
        self.close_overlapping(&mut zones, &(at..end));
        // SAFETY: `at..end` lies within the lent memory, which lives as long as `self`; no open
        // zone covers it (just closed, and new zones need `zones`' lock, held here), so no
        // receive side writes it, and the caller's own borrow is held by `lend`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.start.add(at), data.len()) };
        true
    }

    fn close_overlapping(&self, zones: &mut [LandingZone], range: &Range<usize>) {
        for zone in zones.iter() {
            let zone_start = zone.0.start as usize - self.start as usize;
            if zone_start < range.end && range.start < zone_start + zone.0.len {
                zone.close_waiting(self.while_waiting);
            }
        }
    }
}

impl Drop for Lender<'_> {
    fn drop(&mut self) {
        for zone in self.zones.get_mut().iter() {
            zone.close_waiting(self.while_waiting);
        }
    }
}

/// A zone over memory whose owner lends it by contract rather than by borrow (a C caller's
/// buffer, valid until its completion is reaped): the zone closes when this is dropped, waiting
/// for any claim, so once the drop returns nothing writes the memory through the zone again.
#[derive(Debug)]
pub struct OwnedZone(LandingZone);

impl OwnedZone {
    /// # Safety
    /// `start..start + len` must be valid for writes, and neither read nor written by anything
    /// else, until this value is dropped; it must be dropped (not leaked) before that memory is
    /// used again.
    pub unsafe fn over(start: *mut u8, len: usize) -> OwnedZone {
        OwnedZone(LandingZone::new(start, len))
    }

    pub fn zone(&self) -> &LandingZone {
        &self.0
    }
}

impl Drop for OwnedZone {
    fn drop(&mut self) {
        self.0.close_waiting(&|| {});
    }
}

/// A zone of lent memory offered to one request's reply. Clones share the zone.
#[derive(Clone)]
pub struct LandingZone(Arc<Zone>);

struct Zone {
    start: *mut u8,
    len: usize,
    state: Mutex<ZoneState>,
    /// Signalled when a claim is let go.
    let_go: Condvar,
}

// SAFETY: the memory behind `start` is only written through a `ZoneClaim` (at most one exists,
// while the state says `Claimed`) or by the lender once the zone is closed; the state and its
// condition variable are thread-safe.
unsafe impl Send for Zone {}
// SAFETY: as above; `&Zone` gives access to the memory only through `claim`.
unsafe impl Sync for Zone {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZoneState {
    Open,
    /// A receive side reads into the zone through the socket `fd` (open for as long as the claim
    /// is held: the claim is let go before its connection's socket is closed).
    Claimed {
        fd: RawFd,
    },
    Closed,
}

impl std::fmt::Debug for LandingZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LandingZone").field("len", &self.0.len).field("state", &*self.0.state.lock()).finish()
    }
}

impl LandingZone {
    fn new(start: *mut u8, len: usize) -> LandingZone {
        LandingZone(Arc::new(Zone { start, len, state: Mutex::new(ZoneState::Open), let_go: Condvar::new() }))
    }

    pub fn len(&self) -> usize {
        self.0.len
    }

    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// Takes the zone for a receive on the socket `fd`, unless it is claimed already or closed.
    /// The claim must be let go before that socket is closed.
    pub fn claim(&self, fd: RawFd) -> Option<ZoneClaim> {
        let mut state = self.0.state.lock();
        if *state != ZoneState::Open {
            return None;
        }
        *state = ZoneState::Claimed { fd };
        Some(ZoneClaim { zone: Arc::clone(&self.0) })
    }

    /// Whether `claim` is a claim of this zone.
    pub fn is_claimed_by(&self, claim: &ZoneClaim) -> bool {
        Arc::ptr_eq(&self.0, &claim.zone)
    }

    pub fn is_closed(&self) -> bool {
        *self.0.state.lock() == ZoneState::Closed
    }

    /// Closes the zone so it can no longer be claimed, waiting (calling `while_waiting`) for a
    /// claim to be let go; past [`CLAIM_GRACE`] the claiming socket is shut down.
    fn close_waiting(&self, while_waiting: &dyn Fn()) {
        let give_up_at = Instant::now() + CLAIM_GRACE;
        let mut shut_down = false;
        let mut state = self.0.state.lock();
        while let ZoneState::Claimed { fd } = *state {
            if !shut_down && Instant::now() >= give_up_at {
                // SAFETY: shutdown(2) touches no memory of ours; the claim holds its socket open,
                // so `fd` still names the claiming connection's socket.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                shut_down = true;
            }
            self.0.let_go.wait_for(&mut state, CLAIM_WAIT_SLICE);
            if matches!(*state, ZoneState::Claimed { .. }) {
                parking_lot::MutexGuard::unlocked(&mut state, while_waiting);
            }
        }
        *state = ZoneState::Closed;
    }
}

/// A receive side's hold on a zone: the only way to write its memory. Dropping it lets go.
pub struct ZoneClaim {
    zone: Arc<Zone>,
}

impl ZoneClaim {
    pub fn len(&self) -> usize {
        self.zone.len
    }

    pub fn is_empty(&self) -> bool {
        self.zone.len == 0
    }

    /// The zone's memory. An io_uring receive may keep writing it after this borrow ends, for
    /// as long as the claim is held.
    pub fn memory(&mut self) -> &mut [u8] {
        // SAFETY: the state is `Claimed` by this claim alone (claims are not cloned), so nothing
        // else writes the zone; it is not closed while claimed, and the lent memory outlives
        // every zone that is not closed; `&mut self` keeps this borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.zone.start, self.zone.len) }
    }
}

impl std::fmt::Debug for ZoneClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneClaim").field("len", &self.zone.len).finish()
    }
}

impl Drop for ZoneClaim {
    fn drop(&mut self) {
        *self.zone.state.lock() = ZoneState::Open;
        self.zone.let_go.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_SOCKET: RawFd = -1;

    #[test]
    fn a_claimed_zone_writes_the_lent_memory_and_the_lender_fills_the_rest() {
        let mut memory = vec![0u8; 16];
        lend(&mut memory, &|| {}, |lender| {
            let zone = lender.zone(4..12).expect("within the memory");
            assert!(lender.zone(8..20).is_none(), "past the end");
            let mut claim = zone.claim(NO_SOCKET).expect("open");
            assert!(zone.claim(NO_SOCKET).is_none(), "one claim at a time");
            assert!(zone.is_claimed_by(&claim));
            claim.memory().copy_from_slice(b"landed!!");
            drop(claim);
            assert!(lender.copy_in(0, b"head"));
            assert!(lender.copy_in(12, b"tail"));
            assert!(!lender.copy_in(13, b"tail"), "past the end");
        });
        assert_eq!(&memory, b"headlanded!!tail");
    }

    #[test]
    fn copying_over_a_zone_closes_it_and_a_closed_zone_is_never_claimed() {
        let mut memory = vec![0u8; 8];
        lend(&mut memory, &|| {}, |lender| {
            let zone = lender.zone(0..8).unwrap();
            assert!(lender.copy_in(2, b"xy"));
            assert!(zone.is_closed());
            assert!(zone.claim(NO_SOCKET).is_none());
            let again = lender.zone(0..4).unwrap();
            let overlapping = lender.zone(2..6).unwrap();
            assert!(again.is_closed(), "a new zone closes the one it overlaps");
            assert!(overlapping.claim(NO_SOCKET).is_some());
        });
        assert_eq!(&memory[2..4], b"xy");
    }

    #[test]
    fn the_scope_ends_only_once_a_claim_held_by_another_thread_is_let_go() {
        let mut memory = vec![0u8; 1024];
        let (claimed_tx, claimed_rx) = std::sync::mpsc::channel();
        let writer = lend(&mut memory, &|| {}, |lender| {
            let zone = lender.zone(0..1024).unwrap();
            let writer = std::thread::spawn(move || {
                let mut claim = zone.claim(NO_SOCKET).expect("open");
                claimed_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                claim.memory().fill(7);
            });
            claimed_rx.recv().unwrap();
            writer
        });
        assert!(memory.iter().all(|&b| b == 7), "the write finished before lend returned");
        writer.join().unwrap();
    }

    /// A receive that keeps its claim (its reply stalled mid-way) holds the scope open only for
    /// the grace: then its socket is shut down, its read ends, and it lets go.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn a_claim_held_past_the_grace_is_ended_by_shutting_its_socket_down() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;

        let (ours, _silent_peer) = UnixStream::pair().unwrap();
        let mut memory = vec![0u8; 64];
        let (claimed_tx, claimed_rx) = std::sync::mpsc::channel();
        let started = Instant::now();
        let reader = lend(&mut memory, &|| {}, |lender| {
            let zone = lender.zone(0..64).unwrap();
            let reader = std::thread::spawn(move || {
                let mut claim = zone.claim(ours.as_raw_fd()).expect("open");
                claimed_tx.send(()).unwrap();
                (&ours).read(claim.memory())
            });
            claimed_rx.recv().unwrap();
            reader
        });
        assert!(started.elapsed() >= CLAIM_GRACE, "lend returned while the zone was claimed");
        assert_eq!(reader.join().unwrap().unwrap(), 0, "the shutdown ended the read");
    }

    #[test]
    fn a_zone_kept_past_its_scope_cannot_be_claimed() {
        let mut memory = vec![0u8; 8];
        let kept = lend(&mut memory, &|| {}, |lender| lender.zone(0..8).unwrap());
        assert!(kept.is_closed());
        assert!(kept.claim(NO_SOCKET).is_none());
    }
}
