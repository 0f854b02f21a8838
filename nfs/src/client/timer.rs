//! Wakes futures and batches at their deadlines, so a call on any executor times out and is
//! re-sent even when no reply ever comes. One thread per client, started on first use.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

struct Alarm {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Alarm {}
impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Alarm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Shared {
    alarms: Mutex<BinaryHeap<Reverse<Alarm>>>,
    changed: Condvar,
    stopped: AtomicBool,
    seq: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Timer {
    shared: Arc<Shared>,
    thread: OnceLock<()>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("alarms", &self.shared.alarms.lock().len()).finish()
    }
}

impl Timer {
    /// Wakes `waker` at `at` (an alarm for a call already answered is a harmless spurious wake).
    pub fn wake_at(&self, at: Instant, waker: &Waker) {
        self.thread.get_or_init(|| {
            let shared = Arc::clone(&self.shared);
            // A timer that cannot start leaves futures to time out on their next poll instead.
            let _ = std::thread::Builder::new().name("nfsx-timer".into()).spawn(move || run(&shared));
        });
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let mut alarms = self.shared.alarms.lock();
        let earliest = alarms.peek().is_none_or(|Reverse(first)| at < first.at);
        alarms.push(Reverse(Alarm { at, seq, waker: waker.clone() }));
        if earliest {
            self.shared.changed.notify_one();
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.changed.notify_one();
    }
}

fn run(shared: &Shared) {
    while let Some(alarm) = next_due(shared) {
        // Woken outside the lock: the waker may poll a future that sets another alarm.
        alarm.waker.wake();
    }
}

/// Blocks until the earliest alarm is due and takes it; `None` once the timer is dropped.
fn next_due(shared: &Shared) -> Option<Alarm> {
    let mut alarms = shared.alarms.lock();
    loop {
        if shared.stopped.load(Ordering::Acquire) {
            return None;
        }
        match alarms.peek() {
            Some(Reverse(first)) if first.at <= Instant::now() => return alarms.pop().map(|Reverse(a)| a),
            Some(Reverse(first)) => {
                let at = first.at;
                shared.changed.wait_until(&mut alarms, at);
            }
            None => shared.changed.wait(&mut alarms),
        }
    }
}
