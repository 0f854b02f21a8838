//! The asynchronous API: each call is a future that works on any executor. It sends when first
//! polled, is woken by the connection's reader when its reply lands or by the client's timer
//! at its deadline, and re-sends on timeouts exactly as the blocking calls do.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use nfsx_core::net::TransportError;

use crate::proto::nfs3::{self, Procedure, WriteArgs};
use crate::proto::{NFS_PROGRAM, NFS_VERSION};
use crate::{Error, Result};

use super::channel::Call;
use super::{Client, InFlight, WriteHead};

/// How soon a future in run-to-completion mode, which has no reader thread to wake it, polls
/// its connection again.
const RTC_REPOLL: std::time::Duration = std::time::Duration::from_micros(200);

enum State<'a> {
    Unsent(Call<'a>),
    Waiting { inflight: InFlight<'a>, alarm_set_for: Option<Instant> },
    Done,
}

/// A procedure in progress; resolves to `on_ok`'s result or an error.
pub struct CallFuture<'a, P: Procedure, F> {
    client: Client,
    state: State<'a>,
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
        let channel = &this.client.inner.nfs;
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Unsent(call) => match channel.send(call) {
                    Ok(inflight) => this.state = State::Waiting { inflight, alarm_set_for: None },
                    Err(e) => return Poll::Ready(Err(e)),
                },
                State::Waiting { inflight, alarm_set_for } => {
                    let deadline = channel.deadline(&inflight);
                    if channel.caller_driven() {
                        // No reader thread: read whatever has arrived before looking.
                        channel.drive();
                    }
                    let outcome = match inflight.poll_reply(cx) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending if Instant::now() < deadline => {
                            if channel.caller_driven() {
                                // Nobody else reads the socket: look again shortly.
                                this.client.inner.timer.wake_at(Instant::now() + RTC_REPOLL, cx.waker());
                            } else if alarm_set_for != Some(deadline) {
                                this.client.inner.timer.wake_at(deadline, cx.waker());
                            }
                            this.state = State::Waiting { inflight, alarm_set_for: Some(deadline) };
                            return Poll::Pending;
                        }
                        Poll::Pending => Err(TransportError::TimedOut {
                            addr: inflight.server(),
                            timeout: deadline.saturating_duration_since(inflight.attempt_started()),
                        }),
                    };
                    match outcome {
                        Ok(record) => return Poll::Ready(this.finish(inflight, record)),
                        Err(e) => match channel.resend(inflight, e) {
                            Ok(inflight) => this.state = State::Waiting { inflight, alarm_set_for: None },
                            Err(e) => return Poll::Ready(Err(e)),
                        },
                    }
                }
                State::Done => {
                    return Poll::Ready(Err(Error::InvalidArgument("future polled after completion".into())))
                }
            }
        }
    }
}

impl<P: Procedure, F> CallFuture<'_, P, F> {
    fn finish<T>(&mut self, inflight: InFlight<'_>, record: bytes::Bytes) -> Result<T>
    where
        F: for<'r> FnOnce(P::Ok<'r>) -> T,
    {
        let reply = self.client.inner.nfs.accept(inflight, record)?;
        let on_ok =
            self.on_ok.take().ok_or_else(|| Error::InvalidArgument("future completed twice".into()))?;
        self.client.settle::<P, T>(&reply, |ok, _| on_ok(ok))
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
            client: self.clone(),
            state: State::Unsent(call),
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
            client: self.clone(),
            state: State::Unsent(call),
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
    pub fn read_async(
        &self,
        fh: &nfs3::FileHandle,
        offset: u64,
        count: u32,
    ) -> impl Future<Output = Result<(Vec<u8>, bool)>> + Send + 'static {
        self.call_async::<nfs3::Read, _, _>(&nfs3::ReadArgs { file: fh.as_fh(), offset, count }, |ok| {
            (ok.data.to_vec(), ok.eof)
        })
    }
}
