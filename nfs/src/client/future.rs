//! The asynchronous API: each call is a future that works on any executor. It sends when first
//! polled, is woken by the connection's reader when its reply lands or by the client's timer
//! at its deadline, and re-sends on timeouts exactly as the blocking calls do.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use nfsx_core::net::TransportError;

use crate::proto::nfs3::{self, Procedure, WriteArgs};
use crate::proto::{NFS_PROGRAM, NFS_VERSION};
use crate::{Error, Result};

use super::channel::{Call, Deferred, Placement, Reply};
use super::{Client, InFlight, WriteHead};

/// How soon a future in run-to-completion mode, which has no reader thread to wake it, polls
/// its connection again.
const RTC_REPOLL: std::time::Duration = std::time::Duration::from_micros(200);

enum State<'a> {
    Unsent(Call<'a>),
    Waiting {
        inflight: InFlight<'a>,
        alarm: Alarm,
    },
    /// Not sent yet, or to be sent again: waiting for a free slot, a receive buffer or a
    /// connect (which wake it), or out a pause (after NFS3ERR_JUKEBOX or a failed try) or to
    /// the end of a wait for a buffer, which only the timer ends.
    Deferred {
        deferred: Deferred<'a>,
        alarm: Alarm,
    },
    Done,
}

/// The timer alarm a future set last, and for which waker: a poll sets another only for a
/// new instant or waker, so repeated polls do not fill the timer.
#[derive(Default)]
struct Alarm(Option<(Instant, Waker)>);

impl Alarm {
    fn set(&mut self, client: &Client, at: Instant, cx: &Context<'_>) {
        match &self.0 {
            Some((set_for, waker)) if *set_for == at && waker.will_wake(cx.waker()) => {}
            _ => {
                client.inner.timer.wake_at(at, cx.waker());
                self.0 = Some((at, cx.waker().clone()));
            }
        }
    }
}

/// A call on its way: sent when first polled, re-sent on timeouts and broken connections,
/// until its reply is accepted. What the reply becomes is its future's business. A poll never
/// waits for a slot, a receive buffer, a connect or a pause; it may only wait for the socket
/// to take a send.
struct Exchange<'a> {
    client: Client,
    state: State<'a>,
}

impl Exchange<'_> {
    fn poll_reply(&mut self, cx: &mut Context<'_>) -> Poll<Result<Reply>> {
        let channel = &self.client.inner.nfs;
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Unsent(call) => {
                    self.state = State::Deferred { deferred: channel.unsent(call), alarm: Alarm::default() };
                }
                State::Waiting { inflight, mut alarm } => {
                    let deadline = channel.deadline(&inflight);
                    if channel.caller_driven() {
                        // No reader thread: read whatever has arrived before looking.
                        channel.drive();
                    }
                    let outcome = match inflight.poll_reply(cx) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending if Instant::now() < deadline => {
                            // Without a reader thread nobody else reads the socket: look again
                            // shortly.
                            let at =
                                if channel.caller_driven() { Instant::now() + RTC_REPOLL } else { deadline };
                            alarm.set(&self.client, at, cx);
                            self.state = State::Waiting { inflight, alarm };
                            return Poll::Pending;
                        }
                        Poll::Pending => Err(TransportError::TimedOut {
                            addr: inflight.server(),
                            timeout: deadline.saturating_duration_since(inflight.attempt_started()),
                        }),
                    };
                    let deferred = match outcome {
                        Ok(record) if channel.try_later(&inflight, &record) => channel.defer(inflight),
                        Ok(record) => return Poll::Ready(channel.accept(inflight, record)),
                        Err(e) => match channel.set_aside(inflight, e) {
                            Ok(deferred) => deferred,
                            Err(e) => return Poll::Ready(Err(e)),
                        },
                    };
                    self.state = State::Deferred { deferred, alarm: Alarm::default() };
                }
                State::Deferred { deferred, mut alarm } => {
                    if Instant::now() < deferred.until() {
                        alarm.set(&self.client, deferred.until(), cx);
                        self.state = State::Deferred { deferred, alarm };
                        return Poll::Pending;
                    }
                    // A caller-driven connection frees its slots (and a reply its buffer's
                    // reservation) only as its callers read: read what has arrived first, and
                    // look again shortly while waiting, as a sent call does.
                    let caller_driven = channel.caller_driven();
                    if caller_driven {
                        channel.drive();
                    }
                    let soon = Instant::now() + RTC_REPOLL;
                    match channel.try_place(deferred, cx.waker()) {
                        Ok(Placement::Sent(inflight)) => {
                            self.state = State::Waiting { inflight, alarm: Alarm::default() }
                        }
                        Ok(Placement::Waiting(deferred)) => {
                            // A freed slot or the lane's connect wakes it.
                            if caller_driven {
                                alarm.set(&self.client, soon, cx);
                            }
                            self.state = State::Deferred { deferred, alarm };
                            return Poll::Pending;
                        }
                        Ok(Placement::WaitingForBuffer(deferred, give_up_at)) => {
                            // A buffer coming back wakes it, or the timer when the wait is over.
                            let at = if caller_driven { give_up_at.min(soon) } else { give_up_at };
                            alarm.set(&self.client, at, cx);
                            self.state = State::Deferred { deferred, alarm };
                            return Poll::Pending;
                        }
                        // Round again: the timer is set for the end of the pause.
                        Ok(Placement::Paused(deferred)) => self.state = State::Deferred { deferred, alarm },
                        Ok(Placement::NeedsConnect(deferred, lane)) => {
                            self.state = State::Deferred { deferred, alarm };
                            self.client.connect_in_background(lane);
                            return Poll::Pending;
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                State::Done => {
                    return Poll::Ready(Err(Error::InvalidArgument("future polled after completion".into())))
                }
            }
        }
    }
}

impl Client {
    /// Connects `lane` on a thread of its own, which wakes the futures waiting for it: a
    /// connect may take up to the connect timeout, which no executor's thread should wait out.
    fn connect_in_background(&self, lane: usize) {
        let client = self.clone();
        let spawned = std::thread::Builder::new()
            .name("nfsx-connect".into())
            .spawn(move || client.inner.nfs.connect_and_wake(lane));
        if spawned.is_err() {
            // No thread to be had: connecting here is slower for this poll, never wrong.
            self.inner.nfs.connect_and_wake(lane);
        }
    }
}

/// A procedure in progress; resolves to `on_ok`'s result or an error.
pub struct CallFuture<'a, P: Procedure, F> {
    exchange: Exchange<'a>,
    on_ok: Option<F>,
    procedure: std::marker::PhantomData<P>,
}

impl<P: Procedure, F> std::fmt::Debug for CallFuture<'_, P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture").field("procedure", &P::NAME).finish_non_exhaustive()
    }
}

// The future holds no self-references; moving it between polls is fine.
impl<P: Procedure, F> Unpin for CallFuture<'_, P, F> {}

impl<P: Procedure, T, F> Future for CallFuture<'_, P, F>
where
    F: for<'r> FnOnce(P::Ok<'r>) -> T,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        let reply = ready!(this.exchange.poll_reply(cx))?;
        let on_ok =
            this.on_ok.take().ok_or_else(|| Error::InvalidArgument("future completed twice".into()))?;
        Poll::Ready(this.exchange.client.settle::<P, T>(&reply, |ok, _| on_ok(ok)))
    }
}

/// A READ in progress ([`Client::read_async`]): resolves to a view of the buffer its reply
/// was received in, and the eof flag.
struct ReadFuture {
    exchange: Exchange<'static>,
}

impl Future for ReadFuture {
    type Output = Result<(Bytes, bool)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reply = ready!(this.exchange.poll_reply(cx))?;
        Poll::Ready(
            this.exchange.client.settle::<nfs3::Read, _>(&reply, |ok, reply| (reply.view(ok.data), ok.eof)),
        )
    }
}

impl Client {
    /// Any NFSv3 procedure as a future. The arguments are encoded now (the future borrows
    /// nothing from them); `on_ok` turns the borrowed result into what the future yields.
    pub fn call_async<P: Procedure, T, F>(&self, args: &P::Args<'_>, on_ok: F) -> CallFuture<'static, P, F>
    where
        F: for<'r> FnOnce(P::Ok<'r>) -> T,
    {
        let call = self.inner.nfs.encode(NFS_PROGRAM, NFS_VERSION, P::NUMBER, P::NAME, args, &[]);
        CallFuture {
            exchange: Exchange { client: self.clone(), state: State::Unsent(call) },
            on_ok: Some(on_ok),
            procedure: Default::default(),
        }
    }

    /// A WRITE as a future; the data goes out from `args.data` in place, so the future borrows it.
    pub fn write_async<'a, T, F>(&self, args: &WriteArgs<'a>, on_ok: F) -> CallFuture<'a, nfs3::Write, F>
    where
        F: for<'r> FnOnce(<nfs3::Write as Procedure>::Ok<'r>) -> T,
    {
        let call = self.inner.nfs.encode(
            NFS_PROGRAM,
            NFS_VERSION,
            nfs3::Write::NUMBER,
            nfs3::Write::NAME,
            &WriteHead(args),
            args.data,
        );
        CallFuture {
            exchange: Exchange { client: self.clone(), state: State::Unsent(call) },
            on_ok: Some(on_ok),
            procedure: Default::default(),
        }
    }

    /// GETATTR of a handle, as a future.
    pub fn getattr_async(
        &self,
        fh: &nfs3::FileHandle,
    ) -> impl Future<Output = Result<nfs3::Fattr3>> + Send + 'static {
        self.call_async::<nfs3::Getattr, _, _>(&nfs3::GetattrArgs { object: fh.as_fh() }, |ok| ok.attributes)
    }

    /// READ of up to `count` bytes at `offset`, as a future yielding the data and the eof flag.
    /// The data is not copied: it is a view of the buffer the reply was received in (a pooled
    /// page-aligned one for a reply over 32 KiB), which returns to the pool when the view is
    /// dropped; while the mount's `maxbuffers` are all held, new READs fail with
    /// [`Error::ReceiveBuffersBusy`].
    pub fn read_async(
        &self,
        fh: &nfs3::FileHandle,
        offset: u64,
        count: u32,
    ) -> impl Future<Output = Result<(Bytes, bool)>> + Send + 'static {
        let args = nfs3::ReadArgs { file: fh.as_fh(), offset, count };
        let call =
            self.inner.nfs.encode(NFS_PROGRAM, NFS_VERSION, nfs3::Read::NUMBER, nfs3::Read::NAME, &args, &[]);
        ReadFuture { exchange: Exchange { client: self.clone(), state: State::Unsent(call) } }
    }
}
