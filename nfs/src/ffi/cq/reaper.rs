//! The reaper: one thread per completion queue that waits for each RPC in submission order
//! (`Client::finish`), lands its result (READ data into the caller's buffer, where the receive
//! did not already put it; attributes into the slot) and makes the completion when an operation's last piece is in.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::super::guard::{log_panic, Errno, FfiResult};
use super::super::types::nfsx_stat;
use super::queue::{Piece, Queue, Work};
use crate::proto::nfs3::{self, Nfsstat3};

/// What one piece contributed.
enum Outcome {
    /// Bytes moved, and whether that was all that was asked (false: short or end of file).
    Bytes(u64, bool),
    Attrs(nfsx_stat),
    Done,
}

pub(crate) fn run(queue: Arc<Queue>) {
    loop {
        let piece = {
            let mut st = queue.state.lock();
            loop {
                if let Some(p) = st.pieces.pop_front() {
                    break p;
                }
                if st.closing && st.running == 0 {
                    return;
                }
                queue.work.wait(&mut st);
            }
        };
        let slot = piece.slot;
        let short_already = queue.state.lock().slots[slot as usize].short;
        let outcome = match catch_unwind(AssertUnwindSafe(|| finish(piece, short_already))) {
            Ok(outcome) => outcome,
            Err(panic) => {
                log_panic("completion queue reaper", &*panic);
                Err(Errno(libc::EIO))
            }
        };
        let mut st = queue.state.lock();
        let s = &mut st.slots[slot as usize];
        match outcome {
            Ok(Outcome::Bytes(n, complete)) if !s.short => {
                s.bytes += n;
                s.short = !complete;
            }
            Ok(Outcome::Bytes(..)) | Ok(Outcome::Done) => {}
            Ok(Outcome::Attrs(a)) => s.attrs = Some(a),
            Err(Errno(e)) => {
                if s.error == 0 {
                    s.error = e;
                }
            }
        }
        s.pieces_left -= 1;
        if s.pieces_left == 0 {
            if s.error == 0 {
                if let (Some(attrs), Some(out)) = (s.attrs, stat_out(&st, slot)) {
                    super::super::args::write_out(out as *mut nfsx_stat, attrs);
                }
            }
            queue.complete(st, slot);
        }
    }
}

/// The caller's `*out` of a stat operation, kept in its first (only) piece's work.
fn stat_out(st: &super::queue::State, slot: u32) -> Option<usize> {
    st.slots[slot as usize].stat_out
}

fn finish(piece: Piece, short_already: bool) -> FfiResult<Outcome> {
    let Piece { client, inflight, work, .. } = piece;
    match work {
        Work::Read { dst, len, zone } => {
            let (n, eof) = client.finish_read(inflight, |head, data, _| {
                // The data landed in the caller's buffer (`data` is None), or is copied there
                // once no receive can write through the zone any more.
                drop(zone);
                if let Some(data) = data.filter(|_| !short_already) {
                    let n = data.len().min(len);
                    // SAFETY: `dst` is the caller's buffer of at least `len` bytes at this
                    // piece's place, which nfsx_submit_pread's contract keeps valid and
                    // untouched until the completion is reaped; each piece writes its own range.
                    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst as *mut u8, n) };
                }
                (head.data_len, head.eof)
            })?;
            if n > len {
                return Err(Errno(libc::EIO));
            }
            Ok(Outcome::Bytes(n as u64, n == len && !eof))
        }
        Work::Write { file, len } => {
            let (count, committed, verf) =
                client.finish::<nfs3::Write, _>(inflight, |ok| (ok.count as usize, ok.committed, ok.verf))?;
            if count > len {
                return Err(Errno(libc::EIO));
            }
            file.file.note_write(verf, committed)?;
            Ok(Outcome::Bytes(count as u64, count == len))
        }
        Work::Getattr => {
            let attrs = client.finish::<nfs3::Getattr, _>(inflight, |ok| ok.attributes)?;
            Ok(Outcome::Attrs(nfsx_stat::from(&attrs)))
        }
        Work::Lookup => {
            let (fh, attrs) =
                client.finish::<nfs3::Lookup, _>(inflight, |ok| (ok.object.to_owned(), ok.obj_attributes))?;
            let attrs = match attrs {
                Some(a) => a,
                // The server sent no attributes with the LOOKUP: one blocking GETATTR.
                None => client.getattr(&fh)?,
            };
            Ok(Outcome::Attrs(nfsx_stat::from(&attrs)))
        }
        // A GUARDED create re-sent after a lost reply may find the file its first try made.
        Work::Create { exclusive: true } => {
            client.finish_once::<nfs3::Create, _>(inflight, Nfsstat3::Exist, |_| ())?;
            Ok(Outcome::Done)
        }
        Work::Create { exclusive: false } => {
            client.finish::<nfs3::Create, _>(inflight, |_| ())?;
            Ok(Outcome::Done)
        }
    }
}
