//! The asynchronous C API: many reads, writes, stats and creates in flight from one thread.
//!
//! ```text
//!  nfsx_submit_pread ──▶ slot from the free list (none: -EAGAIN)
//!                        Client::start::<Read>() per rsize piece  (sent now, pipelined;
//!                        waits while every receive buffer is in use: maxbuffers)
//!                        pieces ──▶ ring, in submission order
//!  reaper thread     ──▶ Client::finish() on the oldest piece: data lands in the caller's buffer
//!                        last piece of an op ──▶ completion: callback, or ring + eventfd
//!  nfsx_cq_poll      ◀── completions (oldest first); their slots go back on the free list
//! ```
//!
//! Slots, the piece ring and the completion ring are sized from the depth at `nfsx_cq_new`; a
//! submission allocates nothing in this module, nor, in the steady state, in the channel (it
//! encodes each call into the buffer of an answered one).

mod queue;
mod reaper;

use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use libc::{c_char, c_int, c_void, mode_t};
use nfsx_core::buf::landing::OwnedZone;
use parking_lot::Mutex;

use super::args::{array_out, non_null, path_arg, write_out};
use super::client::CLIENTS;
use super::file::FILES;
use super::guard::{self, einval, Errno, FfiResult};
use super::handle::Registry;
use super::types::{nfsx_client, nfsx_cq, nfsx_file, nfsx_stat};
use crate::proto::nfs3::{self, CreateArgs, CreateHow, DirOpArgs, LookupArgs, Sattr3};
use crate::proto::nfs3::{GetattrArgs, ReadArgs, StableHow, WriteArgs};
use crate::Client;
use queue::{Piece, Queue, Work, MAX_PIECES_PER_OP};

/// Largest completion queue depth (operations outstanding, submitted and not yet reaped).
pub const NFSX_CQ_DEPTH_MAX: u32 = 1024;

/// `nfsx_completion.opcode`: which submission this completes.
pub const NFSX_OP_PREAD: u32 = 1;
pub const NFSX_OP_PWRITE: u32 = 2;
pub const NFSX_OP_FSTAT: u32 = 3;
pub const NFSX_OP_LSTAT: u32 = 4;
pub const NFSX_OP_CREATE: u32 = 5;

/// A finished operation: the `user_data` given at submission, its opcode, and its result
/// (bytes for reads and writes, 0 for the others, or a negative errno).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nfsx_completion {
    pub user_data: *mut c_void,
    pub result: i64,
    pub opcode: u32,
    pub _reserved: u32,
}

/// Called on the queue's reaper thread for each completion instead of queueing it; the
/// completion is valid only during the call. It must not block for long, must not unwind
/// (C++ exceptions, longjmp), and must not call nfsx_cq_free on its own queue.
#[allow(non_camel_case_types)]
pub type nfsx_cq_callback =
    Option<unsafe extern "C" fn(completion: *const nfsx_completion, arg: *mut c_void)>;

struct CompletionQueue {
    client: Client,
    queue: Arc<Queue>,
    reaper: Mutex<Option<JoinHandle<()>>>,
    /// The reaper's pthread, to refuse nfsx_cq_free from its own callback. (Not a Rust
    /// ThreadId: asking for the current thread's would allocate a handle on C threads that
    /// lives until they exit, which valgrind reports as possibly lost.)
    reaper_id: libc::pthread_t,
}

impl Drop for CompletionQueue {
    fn drop(&mut self) {
        self.queue.close();
        if let Some(reaper) = self.reaper.get_mut().take() {
            let _ = reaper.join();
        }
    }
}

static CQS: Registry<CompletionQueue> = Registry::new();

fn new_queue(
    client: *const nfsx_client,
    depth: u32,
    callback: Option<queue::Callback>,
    out: *mut *mut nfsx_cq,
) -> FfiResult<c_int> {
    non_null(out)?;
    let client = CLIENTS.get(client)?;
    if depth == 0 || depth > NFSX_CQ_DEPTH_MAX {
        return einval();
    }
    let queue = Arc::new(Queue::new(depth as usize, callback)?);
    let for_reaper = Arc::clone(&queue);
    let reaper = std::thread::Builder::new()
        .name("nfsx-cq-reaper".into())
        .spawn(move || reaper::run(for_reaper))
        .map_err(|_| Errno(libc::EAGAIN))?;
    let reaper_id = reaper.as_pthread_t();
    write_out(
        out,
        CQS.insert(CompletionQueue {
            client: (*client).clone(),
            queue,
            reaper: Mutex::new(Some(reaper)),
            reaper_id,
        }),
    );
    Ok(0)
}

/// Makes a completion queue for up to `depth` (1 to NFSX_CQ_DEPTH_MAX) outstanding operations
/// on `client`, reaped with `nfsx_cq_poll` or watched through `nfsx_cq_fd`. Starts one reaper
/// thread. Returns 0, -EINVAL (NULL, depth out of range), -EBADF, -EMFILE, -EAGAIN.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_cq_new(client: *const nfsx_client, depth: u32, out: *mut *mut nfsx_cq) -> c_int {
    guard::int("nfsx_cq_new", || new_queue(client, depth, None, out))
}

/// Like `nfsx_cq_new`, but each completion is handed to `callback(completion, arg)` on the
/// reaper thread instead of being queued (`nfsx_cq_poll` then finds nothing and the fd never
/// becomes readable). `arg` may be NULL. Returns as `nfsx_cq_new`; -EINVAL for a NULL callback.
#[no_mangle]
pub extern "C" fn nfsx_cq_new_callback(
    client: *const nfsx_client,
    depth: u32,
    callback: nfsx_cq_callback,
    arg: *mut c_void,
    out: *mut *mut nfsx_cq,
) -> c_int {
    guard::int("nfsx_cq_new_callback", || {
        let callback = callback.ok_or(Errno(libc::EINVAL))?;
        new_queue(client, depth, Some((callback, arg as usize)), out)
    })
}

/// Waits until every submitted operation has completed (their buffers are then no longer
/// used), discards completions not yet polled, stops the reaper and frees the queue; the
/// handle is then -EBADF. Returns 0, -EINVAL, -EBADF, or -EDEADLK when called from the
/// queue's own callback. Not to be called while other threads submit to or poll this queue.
#[no_mangle]
pub extern "C" fn nfsx_cq_free(cq: *mut nfsx_cq) -> c_int {
    guard::int("nfsx_cq_free", || {
        // SAFETY: pthread_self and pthread_equal only compare thread ids.
        if unsafe { libc::pthread_equal(CQS.get(cq)?.reaper_id, libc::pthread_self()) } != 0 {
            return Err(Errno(libc::EDEADLK));
        }
        let cq = CQS.remove(cq)?;
        // Dropping the last reference closes and joins (see Drop); a call still in progress on
        // another thread holds one and finishes the job when it returns.
        drop(cq);
        Ok(0)
    })
}

/// An eventfd that is readable while completions wait to be polled, for poll(2)/epoll(7).
/// Owned by the queue: do not close or read it. Returns the fd (>= 0), -EINVAL or -EBADF.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_cq_fd(cq: *const nfsx_cq) -> c_int {
    guard::int("nfsx_cq_fd", || Ok(CQS.get(cq)?.queue.fd()))
}

/// Moves up to `max` completions, oldest first, into `out`, waiting up to `timeout_ms` for the
/// first (0: don't wait, negative: wait for ever). Returns how many (0 on timeout), or
/// -EINVAL (NULL, `max` 0), -EBADF. Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_cq_poll(
    cq: *const nfsx_cq,
    out: *mut nfsx_completion,
    max: u32,
    timeout_ms: c_int,
) -> c_int {
    guard::int("nfsx_cq_poll", || {
        non_null(out)?;
        if max == 0 {
            return einval();
        }
        let cq = CQS.get(cq)?;
        let max = (max as usize).min(cq.queue.depth);
        let out = array_out(out, max);
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        Ok(cq.queue.poll(out, timeout) as c_int)
    })
}

/// Splits `count` bytes into pieces of `size`; -EINVAL for 0 or more than 16 pieces.
fn pieces(count: usize, size: u32) -> FfiResult<usize> {
    let n = count.div_ceil(size as usize);
    if n == 0 || n > MAX_PIECES_PER_OP {
        return einval();
    }
    Ok(n)
}

/// Starts the pieces of one operation, then queues them; on a failure nothing is queued, the
/// pieces already sent are abandoned (a late reply is dropped) and the slot is given back.
fn submit(
    queue: &Queue,
    slot: u32,
    n: usize,
    mut start: impl FnMut(usize) -> FfiResult<Piece>,
) -> FfiResult<c_int> {
    let mut started: [Option<Piece>; MAX_PIECES_PER_OP] = std::array::from_fn(|_| None);
    for (i, place) in started.iter_mut().take(n).enumerate() {
        match start(i) {
            Ok(piece) => *place = Some(piece),
            Err(e) => {
                drop(started);
                queue.abandon(slot);
                return Err(e);
            }
        }
    }
    queue.push(started.into_iter().flatten());
    Ok(0)
}

/// Submits a read of up to `count` bytes at `offset` into `buf`, split into rsize pieces sent
/// at once. `buf` must stay valid, and untouched by the caller, until the completion is reaped
/// (or `nfsx_cq_free` returns). The result is the bytes read, contiguous from `offset` (fewer
/// at end of file). Returns 0 when submitted, -EAGAIN (depth operations outstanding: reap
/// some), -EINVAL (NULL, `count` 0 or over 16 times rsize), -EBADF (queue or file closed, or
/// file opened O_WRONLY). `user_data` may be NULL. Thread-safe; never allocates in nfsx's
/// completion queue.
#[no_mangle]
pub extern "C" fn nfsx_submit_pread(
    cq: *const nfsx_cq,
    file: *const nfsx_file,
    buf: *mut c_void,
    count: usize,
    offset: u64,
    user_data: *mut c_void,
) -> c_int {
    guard::int("nfsx_submit_pread", || {
        non_null(buf)?;
        let cq = CQS.get(cq)?;
        let open = FILES.get(file)?;
        if !open.readable {
            return Err(Errno(libc::EBADF));
        }
        let rsize = open.client.fsinfo().rsize;
        let n = pieces(count, rsize)?;
        let slot = cq.queue.acquire(NFSX_OP_PREAD, user_data as usize, n as u32, None)?;
        submit(&cq.queue, slot, n, |i| {
            let start = i * rsize as usize;
            let len = (count - start).min(rsize as usize);
            let args = ReadArgs {
                file: open.file.handle().as_fh(),
                offset: offset + start as u64,
                count: len as u32,
            };
            let dst = buf as usize + start;
            // SAFETY: nfsx_submit_pread's contract keeps `buf` (of `count` bytes, so this
            // piece's range too) valid and untouched by the caller until the completion is
            // reaped, and the reaper drops the zone before it makes the completion.
            let zone = unsafe { OwnedZone::over(dst as *mut u8, len) };
            Ok(Piece {
                slot,
                client: open.client.clone(),
                // Waits while every receive buffer is in use, as a full slot table waits: the
                // reaper thread hands buffers back as it completes earlier pieces.
                inflight: open.client.start_waiting::<nfs3::Read>(&args, Some(zone.zone()))?,
                work: Work::Read { dst, len, zone },
            })
        })
    })
}

/// Submits an UNSTABLE write of `count` bytes from `buf` at `offset` (O_APPEND is not applied
/// here: the offset is used as given), split into wsize pieces sent at once; durable after
/// `nfsx_fsync` or `nfsx_close` on the file. `buf` must stay valid and unchanged until the
/// completion is reaped. The result is the bytes the server accepted, contiguous from
/// `offset`. Errors as `nfsx_submit_pread` (-EBADF for a file opened O_RDONLY).
#[no_mangle]
pub extern "C" fn nfsx_submit_pwrite(
    cq: *const nfsx_cq,
    file: *const nfsx_file,
    buf: *const c_void,
    count: usize,
    offset: u64,
    user_data: *mut c_void,
) -> c_int {
    guard::int("nfsx_submit_pwrite", || {
        non_null(buf)?;
        let cq = CQS.get(cq)?;
        let open = FILES.get(file)?;
        if !open.writable {
            return Err(Errno(libc::EBADF));
        }
        let wsize = open.client.fsinfo().wsize;
        let n = pieces(count, wsize)?;
        // SAFETY: C passes `count` readable bytes at `buf` (non-NULL, checked) and keeps them
        // valid and unchanged until this operation's completion is reaped or the queue is
        // freed, which waits for every RPC: the borrow never outlives the memory.
        let data: &'static [u8] = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), count) };
        // SAFETY: the handle lives in `open`, an Arc that each piece keeps (Work::Write) and
        // drops only after its InFlight (fields drop in declaration order), so the handle
        // outlives every borrow of it that the call holds.
        let fh: &'static crate::proto::nfs3::FileHandle = unsafe { &*std::ptr::from_ref(open.file.handle()) };
        let slot = cq.queue.acquire(NFSX_OP_PWRITE, user_data as usize, n as u32, None)?;
        submit(&cq.queue, slot, n, |i| {
            let piece = data.chunks(wsize as usize).nth(i).unwrap_or_default();
            let args = WriteArgs {
                file: fh.as_fh(),
                offset: offset + (i * wsize as usize) as u64,
                count: piece.len() as u32,
                stable: StableHow::Unstable,
                data: piece,
            };
            Ok(Piece {
                slot,
                client: open.client.clone(),
                inflight: open.client.start_write(&args)?,
                work: Work::Write { file: Arc::clone(&open), len: piece.len() },
            })
        })
    })
}

/// Submits a GETATTR of an open file; `*out` is written (only on success) before the
/// completion is made, and must stay valid until then. Errors as `nfsx_submit_pread`.
#[no_mangle]
pub extern "C" fn nfsx_submit_fstat(
    cq: *const nfsx_cq,
    file: *const nfsx_file,
    out: *mut nfsx_stat,
    user_data: *mut c_void,
) -> c_int {
    guard::int("nfsx_submit_fstat", || {
        non_null(out)?;
        let cq = CQS.get(cq)?;
        let open = FILES.get(file)?;
        let slot = cq.queue.acquire(NFSX_OP_FSTAT, user_data as usize, 1, Some(out as usize))?;
        submit(&cq.queue, slot, 1, |_| {
            let args = GetattrArgs { object: open.file.handle().as_fh() };
            Ok(Piece {
                slot,
                client: open.client.clone(),
                inflight: open.client.start::<nfs3::Getattr>(&args)?,
                work: Work::Getattr,
            })
        })
    })
}

/// Submits an lstat of `path` on the queue's client: the directory part is resolved now
/// (blocking, usually from the name cache), the LOOKUP of the last name is pipelined. A final
/// symbolic link is described, not followed. `*out` as `nfsx_submit_fstat`. Returns 0,
/// -EAGAIN, -EINVAL (NULL, a path ending in "", "." or ".."), -ENOENT/-ENOTDIR (directory
/// part), -ENAMETOOLONG, -EBADF.
#[no_mangle]
pub extern "C" fn nfsx_submit_lstat(
    cq: *const nfsx_cq,
    path: *const c_char,
    out: *mut nfsx_stat,
    user_data: *mut c_void,
) -> c_int {
    guard::int("nfsx_submit_lstat", || {
        non_null(out)?;
        let cq = CQS.get(cq)?;
        let path = path_arg(path)?;
        let (dir, name) = cq.client.resolve_parent(path)?;
        let slot = cq.queue.acquire(NFSX_OP_LSTAT, user_data as usize, 1, Some(out as usize))?;
        submit(&cq.queue, slot, 1, |_| {
            let args = LookupArgs { what: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() } };
            Ok(Piece {
                slot,
                client: cq.client.clone(),
                inflight: cq.client.start::<nfs3::Lookup>(&args)?,
                work: Work::Lookup,
            })
        })
    })
}

/// Submits the creation of a regular file `path` with permission bits `mode` (mdtest's
/// create): `flags` O_EXCL fails with -EEXIST if it exists (GUARDED), 0 leaves an existing
/// file as it is (UNCHECKED). The directory part is resolved now, the CREATE pipelined; open
/// the file with `nfsx_open` to use it. Returns 0, -EAGAIN, -EINVAL (NULL, other flags, mode
/// beyond 07777), -ENOENT, -ENOTDIR, -ENAMETOOLONG, -EBADF; the completion's result is 0 or a
/// negative errno (-EEXIST, -EACCES, -ENOSPC, ...).
#[no_mangle]
pub extern "C" fn nfsx_submit_create(
    cq: *const nfsx_cq,
    path: *const c_char,
    mode: mode_t,
    flags: c_int,
    user_data: *mut c_void,
) -> c_int {
    guard::int("nfsx_submit_create", || {
        let cq = CQS.get(cq)?;
        let path = path_arg(path)?;
        if flags & !libc::O_EXCL != 0 || mode & !0o7777 != 0 {
            return einval();
        }
        let (dir, name) = cq.client.resolve_parent(path)?;
        let slot = cq.queue.acquire(NFSX_OP_CREATE, user_data as usize, 1, None)?;
        let exclusive = flags & libc::O_EXCL != 0;
        submit(&cq.queue, slot, 1, |_| {
            let attrs = Sattr3 { mode: Some(mode), ..Sattr3::default() };
            let how = if exclusive { CreateHow::Guarded(attrs) } else { CreateHow::Unchecked(attrs) };
            let args = CreateArgs { where_: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() }, how };
            Ok(Piece {
                slot,
                client: cq.client.clone(),
                inflight: cq.client.start::<nfs3::Create>(&args)?,
                work: Work::Create { exclusive },
            })
        })
    })
}
