//! The batch API: one thread submits many calls and reaps their replies in the order they
//! complete, with no thread or future per call. Each slot has a waker made once, which the
//! connection's reader fires when that slot's reply lands.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::proto::nfs3::{Failed, Null, Procedure, WriteArgs};
use crate::proto::{NFS_PROGRAM, NFS_VERSION};
use crate::{Error, Result};

use super::channel::{Call, Channel, Deferred, Reply};
use super::{decode_result, Client, InFlight, WriteHead};

/// Calls gathered into one write at most; beyond this a batch sends what it has.
const MAX_CALLS_PER_FLUSH: usize = 64;

/// In run-to-completion mode, how often a batch waiting on another driving thread checks
/// whether it should take over.
const HANDOFF_CHECK: Duration = Duration::from_millis(1);

/// Slots whose replies have landed, in landing order.
#[derive(Default)]
struct ReadyQueue {
    slots: Mutex<VecDeque<usize>>,
    landed: Condvar,
}

struct SlotWaker {
    queue: Arc<ReadyQueue>,
    slot: usize,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.slots.lock().push_back(self.slot);
        self.queue.landed.notify_one();
    }
}

struct Submitted<'a> {
    inflight: InFlight<'a>,
    tag: u64,
    /// A reply already taken from the connection by a poll, waiting to be reaped.
    landed: Option<Result<bytes::Bytes, nfsx_core::net::TransportError>>,
}

/// A reply taken from a [`Batch`]: decode it as the procedure that was submitted under `tag`.
#[derive(Debug)]
pub struct BatchReply {
    pub tag: u64,
    reply: Result<Reply>,
}

impl BatchReply {
    /// The procedure's result, handed to `on_ok` borrowed from the reply; a failure status, an
    /// RPC error or a transport error that outlasted the retries becomes an `Err`.
    pub fn decode<P: Procedure, T>(self, on_ok: impl for<'r> FnOnce(P::Ok<'r>) -> T) -> Result<T> {
        let reply = self.reply?;
        let result = match decode_result::<P>(&reply)? {
            Ok(ok) => Ok(on_ok(ok)),
            Err(Failed { status, .. }) => Err(Error::Nfs { procedure: P::NAME, status }),
        };
        result
    }

    /// The outcome of a [`Batch::submit_null`]: NULL has no result, only an RPC-level answer.
    pub fn accept_null(self) -> Result<()> {
        self.reply.map(drop)
    }

    /// Whether the call came back at the RPC level (its status is still to be decoded).
    pub fn is_answered(&self) -> bool {
        self.reply.is_ok()
    }

    /// Whether the call went out more than once (after a timeout or a broken connection). A
    /// procedure that cannot be carried out twice may then fail because its own earlier try
    /// succeeded and only that reply was lost: EEXIST for a GUARDED CREATE or a MKDIR, ENOENT
    /// for a REMOVE or a RENAME. The path API treats those as success; a batch leaves the
    /// judgement to its caller.
    pub fn resent(&self) -> bool {
        self.reply.as_ref().is_ok_and(Reply::resent)
    }
}

/// Many calls in flight from one thread, reaped as they complete. At most `capacity` are in
/// flight; a full batch refuses more until some are reaped (back-pressure).
pub struct Batch<'a> {
    client: Client,
    slots: Vec<Option<Submitted<'a>>>,
    wakers: Vec<Waker>,
    free: Vec<usize>,
    ready: Arc<ReadyQueue>,
    /// Slots registered but not yet sent, and how many may wait before a flush: under half a
    /// connection's reply slots, so unsent calls never hold every slot.
    unsent: Vec<usize>,
    unsent_max: usize,
    /// Calls answered NFS3ERR_JUKEBOX, each holding its slot until it is sent again.
    deferred: Vec<(usize, u64, Deferred<'a>)>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("capacity", &self.slots.len())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Client {
    /// A batch for up to `capacity` calls in flight at once.
    pub fn batch<'a>(&self, capacity: usize) -> Batch<'a> {
        let ready = Arc::new(ReadyQueue::default());
        let wakers = (0..capacity)
            .map(|slot| Waker::from(Arc::new(SlotWaker { queue: Arc::clone(&ready), slot })))
            .collect();
        Batch {
            client: self.clone(),
            slots: (0..capacity).map(|_| None).collect(),
            wakers,
            free: (0..capacity).rev().collect(),
            ready,
            unsent: Vec::with_capacity(capacity),
            unsent_max: (self.inner.opts.max_in_flight / 2).clamp(1, MAX_CALLS_PER_FLUSH),
            deferred: Vec::new(),
        }
    }
}

impl<'a> Batch<'a> {
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// Sends one procedure; its reply comes back from [`Batch::reap`] under `tag`.
    pub fn submit<P: Procedure>(&mut self, args: &P::Args<'_>, tag: u64) -> Result<()> {
        let slot = self.take_slot()?;
        let call = self.client.inner.nfs.encode(NFS_PROGRAM, NFS_VERSION, P::NUMBER, P::NAME, args, &[]);
        self.launch(slot, call, tag)
    }

    /// Queues the NULL procedure (a round trip that does nothing: liveness, latency floor).
    pub fn submit_null(&mut self, tag: u64) -> Result<()> {
        let slot = self.take_slot()?;
        let call = self.client.inner.nfs.encode(NFS_PROGRAM, NFS_VERSION, Null::NUMBER, Null::NAME, &(), &[]);
        self.launch(slot, call, tag)
    }

    /// Sends a WRITE whose data goes out from `args.data` in place (the batch borrows it).
    pub fn submit_write(&mut self, args: &WriteArgs<'a>, tag: u64) -> Result<()> {
        let slot = self.take_slot()?;
        let call = self.client.inner.nfs.encode(
            NFS_PROGRAM,
            NFS_VERSION,
            crate::proto::nfs3::Write::NUMBER,
            crate::proto::nfs3::Write::NAME,
            &WriteHead(args),
            args.data,
        );
        self.launch(slot, call, tag)
    }

    fn take_slot(&mut self) -> Result<usize> {
        self.free
            .pop()
            .ok_or_else(|| Error::InvalidArgument(format!("batch is full ({} in flight)", self.slots.len())))
    }

    /// Registers the call on a connection; it goes out with the others at the next flush.
    fn launch(&mut self, slot: usize, call: Call<'a>, tag: u64) -> Result<()> {
        if self.unsent.len() >= self.unsent_max {
            self.flush();
        }
        let mut sent_early = false;
        let registered = {
            let (channel, slots, unsent) = (&self.client.inner.nfs, &self.slots, &self.unsent);
            // Several batches on one connection, each holding unsent calls, would otherwise
            // wait on each other for a free slot for ever.
            // Once: `register` may wait (and ask again) more than once.
            channel.register(call, &mut || {
                if !sent_early {
                    send_unsent(channel, slots, unsent);
                    sent_early = true;
                }
            })
        };
        if sent_early {
            self.check_unsent();
        }
        match registered {
            Ok(inflight) => {
                self.slots[slot] = Some(Submitted { inflight, tag, landed: None });
                self.unsent.push(slot);
                Ok(())
            }
            Err(e) => {
                self.free.push(slot);
                Err(e)
            }
        }
    }

    /// Sends every submitted call not yet sent: one gathered write per connection, so many
    /// small calls cost one system call. [`Batch::reap`] flushes first; call this to send early.
    pub fn flush(&mut self) {
        if self.unsent.is_empty() {
            return;
        }
        send_unsent(&self.client.inner.nfs, &self.slots, &self.unsent);
        self.check_unsent();
    }

    /// After the unsent calls went out: polls each (its reply may be there already) and
    /// empties the list.
    fn check_unsent(&mut self) {
        let slots = std::mem::take(&mut self.unsent);
        for &slot in &slots {
            self.check(slot);
        }
        self.unsent = slots;
        self.unsent.clear();
    }

    /// Polls one slot; when its reply is there, queues it as ready.
    fn check(&mut self, slot: usize) {
        let Some(submitted) = &mut self.slots[slot] else { return };
        let mut cx = Context::from_waker(&self.wakers[slot]);
        if let Poll::Ready(outcome) = submitted.inflight.poll_reply(&mut cx) {
            submitted.landed = Some(outcome);
            self.ready.slots.lock().push_back(slot);
        }
    }

    /// Moves completed calls into `out` until at least `min` have been reaped this call or
    /// `timeout` passes; returns how many were reaped. Calls whose deadline passed are re-sent.
    pub fn reap(&mut self, out: &mut Vec<BatchReply>, min: usize, timeout: Duration) -> usize {
        self.flush();
        let until = Instant::now() + timeout;
        let mut reaped = 0;
        loop {
            while let Some(slot) = self.pop_ready() {
                reaped += usize::from(self.complete(slot, out));
            }
            if reaped >= min.min(self.in_flight() + reaped) || Instant::now() >= until {
                return reaped;
            }
            reaped += self.resend_overdue(out) + self.send_deferred_due(out);
            if reaped >= min.min(self.in_flight() + reaped) {
                return reaped;
            }
            let wake_by = self.next_deadline().map_or(until, |d| d.min(until));
            let channel = &self.client.inner.nfs;
            let reaped_some = || !self.ready.slots.lock().is_empty();
            if channel.caller_driven() && channel.drive_until(&reaped_some) {
                // Run-to-completion: this thread read the replies itself; wait on the sockets.
                if !reaped_some() {
                    channel.await_readable(wake_by);
                    channel.drive_until(&reaped_some);
                }
                continue;
            }
            let wake_by =
                if channel.caller_driven() { wake_by.min(Instant::now() + HANDOFF_CHECK) } else { wake_by };
            let mut queue = self.ready.slots.lock();
            if queue.is_empty() {
                channel.wait_for_driver(|| self.ready.landed.wait_until(&mut queue, wake_by));
            }
        }
    }

    fn pop_ready(&self) -> Option<usize> {
        self.ready.slots.lock().pop_front()
    }

    /// Takes a slot's reply if it is really there (a waker can fire twice).
    fn complete(&mut self, slot: usize, out: &mut Vec<BatchReply>) -> bool {
        let Some(mut submitted) = self.slots[slot].take() else { return false };
        let mut cx = Context::from_waker(&self.wakers[slot]);
        let outcome = match submitted.landed.take() {
            Some(outcome) => outcome,
            None => match submitted.inflight.poll_reply(&mut cx) {
                Poll::Pending => {
                    self.slots[slot] = Some(submitted);
                    return false;
                }
                Poll::Ready(outcome) => outcome,
            },
        };
        let channel = &self.client.inner.nfs;
        let reply = match outcome {
            Ok(record) if channel.try_later(&submitted.inflight, &record) => {
                self.deferred.push((slot, submitted.tag, channel.defer(submitted.inflight)));
                return false;
            }
            Ok(record) => channel.accept(submitted.inflight, record),
            Err(e) => {
                let sent = channel.resend(submitted.inflight, e);
                return self.sent_again(slot, submitted.tag, sent, out);
            }
        };
        if let Ok(reply) = &reply {
            // Counted now: the caller decodes it later, or never.
            channel.note_status(reply);
        }
        self.free.push(slot);
        out.push(BatchReply { tag: submitted.tag, reply });
        true
    }

    fn next_deadline(&self) -> Option<Instant> {
        let channel = &self.client.inner.nfs;
        let answers = self.slots.iter().flatten().map(|s| channel.deadline(&s.inflight));
        answers.chain(self.deferred.iter().map(|(_, _, d)| d.until())).min()
    }

    /// Sends again the deferred calls whose pause is over; those that cannot be sent are
    /// reaped as errors.
    fn send_deferred_due(&mut self, out: &mut Vec<BatchReply>) -> usize {
        let now = Instant::now();
        let mut failed = 0;
        let mut i = 0;
        while i < self.deferred.len() {
            if self.deferred[i].2.until() > now {
                i += 1;
                continue;
            }
            let (slot, tag, deferred) = self.deferred.swap_remove(i);
            let sent = self.client.inner.nfs.send_deferred(deferred);
            failed += usize::from(self.sent_again(slot, tag, sent, out));
        }
        failed
    }

    /// Re-sends calls past their deadline; those out of retries are reaped as errors.
    fn resend_overdue(&mut self, out: &mut Vec<BatchReply>) -> usize {
        let now = Instant::now();
        let mut failed = 0;
        for slot in 0..self.slots.len() {
            let overdue =
                self.slots[slot].as_ref().is_some_and(|s| self.client.inner.nfs.deadline(&s.inflight) <= now);
            if !overdue {
                continue;
            }
            let Some(submitted) = self.slots[slot].take() else { continue };
            let server = submitted.inflight.server();
            let timeout = now.saturating_duration_since(submitted.inflight.attempt_started());
            let e = nfsx_core::net::TransportError::TimedOut { addr: server, timeout };
            let sent = self.client.inner.nfs.resend(submitted.inflight, e);
            failed += usize::from(self.sent_again(slot, submitted.tag, sent, out));
        }
        failed
    }

    /// A call of `slot` sent again (re-sent, or after its JUKEBOX pause) goes back in its slot
    /// and is polled; one that could not be sent is reaped as an error. True if reaped.
    fn sent_again(
        &mut self,
        slot: usize,
        tag: u64,
        sent: Result<InFlight<'a>>,
        out: &mut Vec<BatchReply>,
    ) -> bool {
        match sent {
            Ok(inflight) => {
                // Sent already: it must not go out again with the next flush.
                self.unsent.retain(|&s| s != slot);
                self.slots[slot] = Some(Submitted { inflight, tag, landed: None });
                self.check(slot);
                false
            }
            Err(e) => {
                self.free.push(slot);
                out.push(BatchReply { tag, reply: Err(e) });
                true
            }
        }
    }
}

/// Sends the registered calls in `slots` listed in `unsent`: one gathered write per connection.
fn send_unsent(channel: &Channel, slots: &[Option<Submitted<'_>>], unsent: &[usize]) {
    channel.send_registered(unsent.len(), |i| slots[unsent[i]].as_ref().map(|s| &s.inflight));
}
