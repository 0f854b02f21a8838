//! Open files: positional reads and writes split into rsize/wsize pieces that travel in
//! parallel, UNSTABLE writes made durable by COMMIT on fsync and close, and the server's write
//! verifier watched so a server restart can never silently drop data.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use nfsx_core::buf::landing::{lend, Lender};
use parking_lot::Mutex;

use crate::proto::nfs3::{
    self, CreateArgs, CreateHow, DirOpArgs, Fattr3, FileHandle, Ftype3, Nfsstat3, ReadArgs, Sattr3,
    StableHow, WriteArgs, WriteVerf,
};
use crate::{Error, Result};

use super::channel::Reply;
use super::ops::new_object;
use super::Client;

/// Pieces of one read or write in flight at once; the connection's slot table bounds the rest.
const MAX_PIECES_IN_FLIGHT: usize = 64;

/// How to open a file, in the manner of `std::fs::OpenOptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    create: bool,
    create_new: bool,
    truncate: bool,
    mode: u32,
    exclusive_verifier: Option<[u8; 8]>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: true,
            write: false,
            create: false,
            create_new: false,
            truncate: false,
            mode: 0o644,
            exclusive_verifier: None,
        }
    }
    pub fn read(&mut self, yes: bool) -> &mut Self {
        self.read = yes;
        self
    }
    pub fn write(&mut self, yes: bool) -> &mut Self {
        self.write = yes;
        self
    }
    /// Create the file when it does not exist (O_CREAT).
    pub fn create(&mut self, yes: bool) -> &mut Self {
        self.create = yes;
        self
    }
    /// Create the file and fail with EEXIST when it exists (O_CREAT|O_EXCL): one GUARDED CREATE.
    pub fn create_new(&mut self, yes: bool) -> &mut Self {
        self.create_new = yes;
        self
    }
    pub fn truncate(&mut self, yes: bool) -> &mut Self {
        self.truncate = yes;
        self
    }
    /// Permission bits for a created file.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }
    /// With `create_new`, use an EXCLUSIVE create carrying this verifier (RFC 1813 §3.3.8), so a
    /// retried CREATE that already succeeded is recognised instead of failing with EEXIST; the
    /// mode is then set by a SETATTR.
    pub fn exclusive_verifier(&mut self, verifier: [u8; 8]) -> &mut Self {
        self.exclusive_verifier = Some(verifier);
        self
    }
}

/// Called with each accepted piece of a write: its offset and bytes, the server's verifier and
/// how stable the server made it.
type OnWriteReply<'a> = dyn FnMut(u64, &[u8], WriteVerf, StableHow) -> Result<()> + 'a;

/// Server restarts in a row that one `fsync` rides out before it gives up.
const MAX_RECOVERIES: usize = 3;

/// What the server has been sent but not yet promised to keep.
#[derive(Debug, Default)]
struct WriteState {
    /// Verifier of the server instance that holds our uncommitted data.
    verifier: Option<WriteVerf>,
    uncommitted: bool,
    /// Copies of UNSTABLE writes not yet covered by a COMMIT, in the order they were written,
    /// so that they can be sent again if the server restarts and forgets them.
    retained: Vec<(u64, Bytes)>,
    retained_bytes: usize,
    /// UNSTABLE data was written that is not retained (retention off, or written through the C
    /// ABI's queue): a server restart before COMMIT can only be reported, not repaired.
    unretained: bool,
    /// The verifier changed while data was uncommitted: the server restarted and may have lost it.
    restarted: bool,
    /// UNSTABLE replies so far, so a COMMIT knows which writes it covered.
    unstable_writes: u64,
}

/// Which writes a COMMIT was sent after: those it makes durable.
#[derive(Debug, Clone, Copy)]
struct CommitMark {
    pieces: usize,
    writes: u64,
}

impl WriteState {
    fn mark(&self) -> CommitMark {
        CommitMark { pieces: self.retained.len(), writes: self.unstable_writes }
    }

    /// A COMMIT sent at `mark` succeeded under `verifier`: what was written before it is durable;
    /// writes whose replies came in meanwhile stay uncommitted.
    fn committed(&mut self, verifier: WriteVerf, mark: CommitMark) {
        self.verifier = Some(verifier);
        let freed: usize =
            self.retained.drain(..mark.pieces.min(self.retained.len())).map(|(_, d)| d.len()).sum();
        self.retained_bytes -= freed;
        if self.unstable_writes == mark.writes {
            self.uncommitted = false;
            self.unretained = false;
        }
        self.restarted = false;
    }
}

/// An open file. Reads and writes are positional and may be issued from many threads at once.
#[derive(Debug)]
pub struct File {
    client: Client,
    fh: FileHandle,
    writable: bool,
    /// Created empty by this open and not yet written: a first write that fits one WRITE goes
    /// FILE_SYNC, so create-write-close costs two RPCs and no COMMIT.
    fresh: AtomicBool,
    state: Mutex<WriteState>,
}

impl Client {
    pub fn open(&self, path: &str, opts: &OpenOptions) -> Result<File> {
        self.with_fresh_names(|| {
            if opts.truncate && !opts.write {
                return Err(Error::InvalidArgument("truncate needs write access".into()));
            }
            if (opts.create || opts.create_new) && !opts.write {
                return Err(Error::InvalidArgument("create needs write access".into()));
            }
            let (fh, created) = if opts.create_new {
                (self.create_file(path, opts)?, true)
            } else if opts.create {
                match self.create_file(path, opts) {
                    Err(e) if e.nfs_status() == Some(Nfsstat3::Exist) => {
                        (self.open_existing(path, opts)?, false)
                    }
                    other => (other?, true),
                }
            } else {
                (self.open_existing(path, opts)?, false)
            };
            Ok(File {
                client: self.clone(),
                fh,
                writable: opts.write,
                fresh: AtomicBool::new(created),
                state: Mutex::new(WriteState::default()),
            })
        })
    }

    /// Opens for writing, creating or truncating: like `std::fs::File::create`.
    pub fn create(&self, path: &str, mode: u32) -> Result<File> {
        self.open(path, OpenOptions::new().write(true).create(true).truncate(true).mode(mode))
    }

    fn open_existing(&self, path: &str, opts: &OpenOptions) -> Result<FileHandle> {
        let (fh, attrs) = self.resolve(path, true)?;
        let ftype = match attrs {
            Some(a) => a.ftype,
            None => self.getattr(&fh)?.ftype,
        };
        if ftype == Ftype3::Dir && opts.write {
            return Err(Error::Nfs { procedure: "OPEN", status: Nfsstat3::Isdir });
        }
        if opts.truncate {
            self.setattr_handle(&fh, &Sattr3 { size: Some(0), ..Sattr3::default() })?;
        }
        Ok(fh)
    }

    fn create_file(&self, path: &str, opts: &OpenOptions) -> Result<FileHandle> {
        let (dir, name) = self.resolve_parent(path)?;
        let attrs = Sattr3 { mode: Some(opts.mode), size: opts.truncate.then_some(0), ..Sattr3::default() };
        let how = match opts.exclusive_verifier {
            Some(verf) if opts.create_new => CreateHow::Exclusive(verf),
            _ => CreateHow::Guarded(attrs),
        };
        let exclusive = matches!(how, CreateHow::Exclusive(_));
        let args = CreateArgs { where_: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() }, how };
        let made = if opts.create_new {
            // A GUARDED create re-sent after a lost reply finds its own file; EXCLUSIVE ones
            // are recognised by the server through the verifier.
            self.call_once::<nfs3::Create, _>(&args, Nfsstat3::Exist, new_object)?
        } else {
            // Without O_EXCL an existing file is opened (and truncated) instead, whoever made it.
            Some(self.call::<nfs3::Create, _>(&args, new_object)?)
        };
        let (fh, obj_attrs) = made.unwrap_or_default();
        let fh = self.finish_new_object(&dir, name, fh, obj_attrs, Ftype3::Reg)?;
        if exclusive {
            // EXCLUSIVE stores the verifier in the file's attributes; the real ones follow.
            self.setattr_handle(&fh, &Sattr3 { mode: Some(opts.mode), ..Sattr3::default() })?;
        }
        Ok(fh)
    }

    /// Reads a whole file into memory.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let file = self.open(path, &OpenOptions::new())?;
        let size = file.stat()?.size;
        let len =
            usize::try_from(size).map_err(|_| Error::InvalidArgument(format!("{path} is too large")))?;
        let mut data = vec![0; len];
        let n = file.read_at(&mut data, 0)?;
        data.truncate(n);
        Ok(data)
    }

    /// Creates or replaces a file with `data`, committed before returning.
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let file = self.create(path, 0o644)?;
        file.write_at(data, 0)?;
        file.close()
    }
}

impl File {
    pub fn handle(&self) -> &FileHandle {
        &self.fh
    }

    pub fn stat(&self) -> Result<Fattr3> {
        self.client.getattr(&self.fh)
    }

    pub fn set_len(&self, size: u64) -> Result<Fattr3> {
        self.client.setattr_handle(&self.fh, &Sattr3 { size: Some(size), ..Sattr3::default() })
    }

    /// Reads up to `buf.len()` bytes at `offset` straight into `buf`; fewer only at end of file.
    /// Pieces of rsize travel in parallel, and the kernel reads each piece's data from the socket
    /// into its place in `buf`: no copy in user space, but for the few bytes of a piece that
    /// arrive together with the reply's head, and for a piece whose reply is not laid out as
    /// expected (a short read), which is copied from its receive buffer.
    pub fn read_into(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let nfs = &self.client.inner.nfs;
        // A connection its callers drive is read here while a piece's data is still arriving
        // in `buf` after its call was given up on.
        let drive = || {
            nfs.drive();
        };
        let len = buf.len();
        lend(buf, &drive, |lender| {
            self.read_pieces(offset, len, Some(lender), false, |start, _, data, _| {
                lender.copy_in(start, data);
                nfs.note_copied(data.len());
            })
        })
    }

    /// The same as [`File::read_into`], by the name `std::os::unix::fs::FileExt` uses.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.read_into(buf, offset)
    }

    /// Reads up to `len` bytes at `offset` without copying them: the pieces (of rsize, read in
    /// parallel) come back in order as views into the buffers their replies were received in,
    /// which return to the pool when the views are dropped. Fewer bytes only at end of file.
    /// The views hold receive buffers: a read that would need more than the mount's
    /// `maxbuffers` at once fails with [`Error::ReceiveBuffersBusy`] (ENOBUFS), and while other
    /// views hold buffers this waits (up to `timeo`) for them to come back.
    pub fn read_views(&self, offset: u64, len: usize) -> Result<Vec<Bytes>> {
        let mut views = Vec::with_capacity(len.div_ceil(self.client.inner.fsinfo.rsize.max(1) as usize));
        self.read_pieces(offset, len, None, true, |_, _, data, reply| views.push(reply.view(data)))?;
        Ok(views)
    }

    /// Sends READs of rsize for `len` bytes at `offset`, up to [`MAX_PIECES_IN_FLIGHT`] at
    /// once (fewer while the receive buffers are all in use), and hands each piece's data to
    /// `take(start, wanted, data, reply)` in order, until end of file or a short piece. Returns
    /// the bytes read. With a `lender` (of memory for `len` bytes), each piece lends its part of
    /// that memory for its data, and `take` sees only the pieces whose data did not land there.
    /// `keeps_buffers`: `take` keeps each reply's buffer (as a view).
    fn read_pieces(
        &self,
        offset: u64,
        len: usize,
        lender: Option<&Lender<'_>>,
        keeps_buffers: bool,
        mut take: impl FnMut(usize, usize, &[u8], &Reply),
    ) -> Result<usize> {
        let rsize = self.client.inner.fsinfo.rsize as usize;
        let mut done = 0;
        let mut kept = 0;
        while done < len {
            let mut window = Vec::new();
            let mut start = done;
            while start < len && window.len() < MAX_PIECES_IN_FLIGHT {
                let wanted = (len - start).min(rsize);
                let args =
                    ReadArgs { file: self.fh.as_fh(), offset: offset + start as u64, count: wanted as u32 };
                let zone = lender.and_then(|lender| lender.zone(start..start + wanted));
                let started = match self.client.start_into::<nfs3::Read>(&args, zone.as_ref()) {
                    // Nothing of ours on its way: wait for a buffer to come back, unless the
                    // buffers in use are this read's own views.
                    Err(Error::ReceiveBuffersBusy { limit })
                        if window.is_empty() && !(keeps_buffers && kept >= limit) =>
                    {
                        self.client.start_waiting::<nfs3::Read>(&args, zone.as_ref())
                    }
                    started => started,
                };
                match started {
                    Ok(inflight) => window.push((inflight, start, wanted)),
                    // Back-pressure: first take in the pieces already on their way.
                    Err(Error::ReceiveBuffersBusy { .. }) if !window.is_empty() => break,
                    Err(e) => return Err(e),
                }
                start += wanted;
            }
            let mut stop = false;
            for (inflight, start, wanted) in window {
                // After a short piece the later ones are taken in all the same (their data may
                // be landing in the lent memory) and read again from the new position.
                let outcome = self.client.finish_read(inflight, |head, data, reply| {
                    if let Some(data) = data.filter(|data| data.len() <= wanted && !stop) {
                        take(start, wanted, data, reply);
                    }
                    (head.data_len, head.eof)
                });
                if stop {
                    continue;
                }
                let (n, eof) = outcome?;
                kept += 1;
                if n > wanted {
                    return Err(Error::Protocol {
                        procedure: "READ",
                        reason: format!("server returned {n} bytes for a {wanted}-byte read"),
                    });
                }
                done += n;
                if eof || n == 0 {
                    return Ok(done);
                }
                stop = n < wanted;
            }
        }
        Ok(done)
    }

    /// Writes all of `buf` at `offset` as UNSTABLE writes of wsize, sent in parallel straight
    /// from `buf`. Durable after [`File::fsync`] or [`File::close`]. The first write into a file
    /// this open created, when it fits one WRITE at offset 0, is sent FILE_SYNC instead, which
    /// leaves nothing to commit: a small file costs CREATE plus one WRITE.
    ///
    /// Unless the mount says `safewrites=0`, a copy of each UNSTABLE piece is kept until a
    /// COMMIT covers it (at most `maxunstable` bytes per file; past that this call commits
    /// first), so a server that restarts and forgets uncommitted data gets it again.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        if !self.writable {
            return Err(Error::InvalidArgument("file is not open for writing".into()));
        }
        let wsize = self.client.inner.fsinfo.wsize as usize;
        let first_write_of_new_file = self.fresh.swap(false, Ordering::Relaxed);
        let stable = if first_write_of_new_file && offset == 0 && buf.len() <= wsize {
            StableHow::FileSync
        } else {
            StableHow::Unstable
        };
        let retain = self.client.inner.opts.safe_writes;
        let done = self.write_pieces(buf, offset, stable, &mut |piece_offset, piece, verf, committed| {
            self.note_write_of(verf, committed, retain.then_some((piece_offset, piece)))
        })?;
        let (restarted, over_limit) = {
            let state = self.state.lock();
            (state.restarted, state.retained_bytes > self.client.inner.opts.max_unstable_bytes)
        };
        if restarted {
            self.recover()?;
        } else if over_limit {
            self.fsync()?;
        }
        Ok(done)
    }

    /// Sends `buf` at `offset` in wsize pieces, up to [`MAX_PIECES_IN_FLIGHT`] at once, and
    /// calls `on_reply` with the part of each piece the server accepted. Short writes are sent
    /// again from where the server stopped.
    fn write_pieces(
        &self,
        buf: &[u8],
        offset: u64,
        stable: StableHow,
        on_reply: &mut OnWriteReply<'_>,
    ) -> Result<usize> {
        let wsize = self.client.inner.fsinfo.wsize as usize;
        let mut done = 0;
        while done < buf.len() {
            let mut window = Vec::new();
            let mut start = done;
            for piece in buf[done..].chunks(wsize).take(MAX_PIECES_IN_FLIGHT) {
                let piece_offset = offset + start as u64;
                let args = WriteArgs {
                    file: self.fh.as_fh(),
                    offset: piece_offset,
                    count: piece.len() as u32,
                    stable,
                    data: piece,
                };
                window.push((self.client.start_write(&args)?, piece_offset, piece));
                start += piece.len();
            }
            let mut stop = false;
            for (inflight, piece_offset, piece) in window {
                if stop {
                    drop(inflight);
                    continue;
                }
                let (count, committed, verf) = self
                    .client
                    .finish::<nfs3::Write, _>(inflight, |ok| (ok.count as usize, ok.committed, ok.verf))?;
                if count == 0 || count > piece.len() {
                    return Err(Error::Protocol {
                        procedure: "WRITE",
                        reason: format!("server accepted {count} of {} bytes", piece.len()),
                    });
                }
                on_reply(piece_offset, &piece[..count], verf, committed)?;
                done += count;
                // A short write: the rest of this piece and those after it are sent again.
                stop = count < piece.len();
            }
        }
        Ok(done)
    }

    /// The server restarted with data uncommitted: sends every retained piece again, in the
    /// order first written, and commits, until one server instance has taken and committed it all.
    fn recover(&self) -> Result<()> {
        for _ in 0..MAX_RECOVERIES {
            let (pieces, mark) = {
                let mut state = self.state.lock();
                if state.unretained {
                    return Err(Error::WriteVerifierChanged);
                }
                state.restarted = false;
                (state.retained.clone(), state.mark())
            };
            let mut verifiers = Vec::new();
            for (piece_offset, data) in &pieces {
                self.write_pieces(data, *piece_offset, StableHow::Unstable, &mut |_, _, verf, _| {
                    verifiers.push(verf);
                    Ok(())
                })?;
            }
            let verf = self.client.commit(&self.fh, 0, 0)?;
            let mut state = self.state.lock();
            if !state.restarted && verifiers.iter().all(|v| *v == verf) {
                state.committed(verf, mark);
                return Ok(());
            }
            state.restarted = true;
        }
        Err(Error::WriteVerifierChanged)
    }

    /// Writes all of `buf` at the file's current end, as O_APPEND does: a GETATTR asks the
    /// server for the size, then [`File::write_at`] writes there. Returns the offset written
    /// at. NFSv3 has no atomic append: two clients appending at once may overwrite each other.
    pub fn append(&self, buf: &[u8]) -> Result<u64> {
        if !self.writable {
            return Err(Error::InvalidArgument("file is not open for writing".into()));
        }
        let offset = self.stat()?.size;
        self.write_at(buf, offset)?;
        Ok(offset)
    }

    /// Records the verifier and stability of a WRITE reply, so that [`File::fsync`] and
    /// [`File::close`] COMMIT it. Used for writes sent outside `write_at` (the C ABI's
    /// completion queue pipelines WRITEs with [`Client::start_write`]).
    pub(crate) fn note_write(&self, verf: WriteVerf, committed: StableHow) -> Result<()> {
        self.note_write_of(verf, committed, None)?;
        if self.state.lock().restarted {
            return Err(Error::WriteVerifierChanged);
        }
        Ok(())
    }

    /// Records a WRITE reply; `retained` is the piece to keep a copy of until it is committed.
    fn note_write_of(
        &self,
        verf: WriteVerf,
        committed: StableHow,
        retained: Option<(u64, &[u8])>,
    ) -> Result<()> {
        let mut state = self.state.lock();
        if state.uncommitted && state.verifier.is_some_and(|v| v != verf) {
            state.restarted = true;
        }
        state.verifier = Some(verf);
        if committed == StableHow::Unstable {
            state.uncommitted = true;
            state.unstable_writes += 1;
            match retained {
                Some((offset, data)) => {
                    state.retained_bytes += data.len();
                    state.retained.push((offset, Bytes::copy_from_slice(data)));
                    self.client.inner.nfs.note_copied(data.len());
                }
                None => state.unretained = true,
            }
        }
        Ok(())
    }

    /// Makes every write so far durable (COMMIT), checking the server did not restart meanwhile.
    pub fn fsync(&self) -> Result<()> {
        let (expected, mark) = {
            let state = self.state.lock();
            if !state.uncommitted {
                return Ok(());
            }
            if state.restarted {
                drop(state);
                return self.recover();
            }
            (state.verifier, state.mark())
        };
        let verf = self.client.commit(&self.fh, 0, 0)?;
        let mut state = self.state.lock();
        if expected.is_some_and(|v| v != verf) || state.restarted {
            state.restarted = true;
            drop(state);
            return self.recover();
        }
        state.committed(verf, mark);
        Ok(())
    }

    /// Commits pending writes and closes; this is where a late write error is reported.
    pub fn close(self) -> Result<()> {
        self.fsync()
    }
}

impl Drop for File {
    /// A file dropped without `close` still has its writes committed; errors can't be reported
    /// here, which is why `close` exists.
    fn drop(&mut self) {
        if self.state.get_mut().uncommitted {
            let _ = self.fsync();
        }
    }
}
