//! Open files: READs answered straight from the reply buffer, WRITEs sent straight from the
//! kernel's buffer as UNSTABLE writes, COMMIT at flush (every close), fsync and release. The
//! server's write verifier is watched: if it changed before COMMIT (the server restarted and
//! may have dropped unstable data), close and fsync fail with EIO instead of losing data quietly.

use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fuser::{Errno, FopenFlags, INodeNo, OpenAccMode, OpenFlags, ReplyData};
use nfsx::proto::nfs3::{
    self, CreateArgs, CreateHow, DirOpArgs, Fattr3, FileHandle, Ftype3, ReadArgs, Sattr3, StableHow,
    WriteArgs,
};
use parking_lot::Mutex;

use crate::fs::{errno, NfsFs, Res};
use crate::names::{made, name_bytes};

#[derive(Debug, Default)]
struct WriteState {
    /// The verifier of the first unstable WRITE since the last COMMIT.
    verifier: Option<[u8; 8]>,
    uncommitted: bool,
    /// Unstable data was lost (the verifier changed); reported once at flush or fsync.
    lost: bool,
}

#[derive(Debug)]
pub struct OpenFile {
    pub fh: FileHandle,
    /// Created by this open: a first write at offset 0 that fits one WRITE goes FILE_SYNC and
    /// leaves nothing to commit (a small file costs CREATE plus one WRITE).
    fresh: AtomicBool,
    state: Mutex<WriteState>,
}

impl OpenFile {
    fn new(fh: FileHandle, fresh: bool) -> OpenFile {
        OpenFile { fh, fresh: AtomicBool::new(fresh), state: Mutex::new(WriteState::default()) }
    }
}

impl NfsFs {
    fn file(&self, handle: u64) -> Res<Arc<OpenFile>> {
        self.files.lock().get(&handle).cloned().ok_or(Errno::EBADF)
    }

    fn register(&self, file: OpenFile) -> u64 {
        let handle = self.new_handle();
        self.files.lock().insert(handle, Arc::new(file));
        handle
    }

    /// Close-to-open: fresh attributes at every open; cached pages are kept only when the file
    /// is as it was at the previous open (and its cached attributes are dropped when it is not).
    pub fn do_open(&self, ino: INodeNo, flags: OpenFlags) -> Res<(u64, FopenFlags)> {
        let fh = self.fh(ino)?;
        let mut fopen = FopenFlags::empty();
        if self.opts.cto {
            let a = self.getattr_fh(&fh)?;
            if a.ftype == Ftype3::Dir && flags.acc_mode() != OpenAccMode::O_RDONLY {
                return Err(Errno::EISDIR);
            }
            if self.inodes.note_open(ino.0, (a.mtime, a.size)) {
                fopen |= FopenFlags::FOPEN_KEEP_CACHE;
            } else if let Some(notifier) = self.notifier.get() {
                let _ = notifier.inval_inode(ino, 0, 0);
            }
        } else {
            fopen |= FopenFlags::FOPEN_KEEP_CACHE;
        }
        Ok((self.register(OpenFile::new(fh, false)), fopen))
    }

    pub fn do_create(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> Res<(FileHandle, Fattr3, u64)> {
        let dir = self.fh(parent)?;
        let name = name_bytes(name)?;
        let attrs = Sattr3 { mode: Some(mode), ..Sattr3::default() };
        // O_EXCL: GUARDED, so an existing name is EEXIST. Without it the kernel only calls
        // create when the name was not found; UNCHECKED then keeps a racing creator's file.
        let how =
            if flags & libc::O_EXCL != 0 { CreateHow::Guarded(attrs) } else { CreateHow::Unchecked(attrs) };
        let args = CreateArgs { where_: DirOpArgs { dir: dir.as_fh(), name }, how };
        let result = self.client.call::<nfs3::Create, _>(&args, made).map_err(errno)?;
        let (fh, a) = self.new_object(&dir, name, result)?;
        let fresh = a.size == 0;
        if flags & libc::O_TRUNC != 0 && a.size != 0 {
            self.client.setattr_handle(&fh, &Sattr3 { size: Some(0), ..Sattr3::default() }).map_err(errno)?;
        }
        let handle = self.register(OpenFile::new(fh, fresh));
        if self.opts.cto {
            self.inodes.note_open(self.inodes.number(&fh, a.fileid), (a.mtime, a.size));
        }
        Ok((fh, a, handle))
    }

    /// One READ when the request fits rsize, replied to from the RPC reply buffer itself;
    /// larger requests, or a server that returns less than asked before the end of the file,
    /// gather into a buffer.
    pub fn do_read(&self, handle: u64, offset: u64, size: u32, reply: ReplyData) {
        let file = match self.file(handle) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        let mut reply = Some(reply);
        let mut gathered: Vec<u8> = Vec::new();
        if size <= self.rsize {
            let args = ReadArgs { file: file.fh.as_fh(), offset, count: size };
            let result = self.client.call::<nfs3::Read, _>(&args, |ok| {
                if ok.data.len() >= size as usize || ok.eof {
                    let n = ok.data.len().min(size as usize);
                    if let Some(r) = reply.take() {
                        r.data(&ok.data[..n]);
                    }
                } else {
                    gathered.extend_from_slice(ok.data);
                }
            });
            match (result, reply.take()) {
                (_, None) => return,
                (Err(e), Some(r)) => return r.error(errno(e)),
                (Ok(()), Some(r)) => reply = Some(r),
            }
        }
        let Some(reply) = reply else { return };
        match self.read_rest(&file.fh, offset, size as usize, gathered) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn read_rest(&self, fh: &FileHandle, offset: u64, size: usize, mut data: Vec<u8>) -> Res<Vec<u8>> {
        data.reserve(size.saturating_sub(data.len()));
        while data.len() < size {
            let count = (size - data.len()).min(self.rsize as usize) as u32;
            let args = ReadArgs { file: fh.as_fh(), offset: offset + data.len() as u64, count };
            let eof = self
                .client
                .call::<nfs3::Read, _>(&args, |ok| {
                    data.extend_from_slice(ok.data);
                    ok.eof || ok.data.is_empty()
                })
                .map_err(errno)?;
            if eof {
                break;
            }
        }
        data.truncate(size);
        Ok(data)
    }

    /// Sends the kernel's buffer as WRITEs of wsize, all in flight at once, and returns how
    /// many bytes the server took from the start (a short count makes the kernel re-send).
    pub fn do_write(&self, handle: u64, offset: u64, data: &[u8]) -> Res<u32> {
        let file = self.file(handle)?;
        let wsize = self.wsize as usize;
        let stable = if file.fresh.swap(false, Ordering::Relaxed) && offset == 0 && data.len() <= wsize {
            StableHow::FileSync
        } else {
            StableHow::Unstable
        };
        let mut pending = Vec::new();
        let mut at = offset;
        for piece in data.chunks(wsize) {
            let args = WriteArgs {
                file: file.fh.as_fh(),
                offset: at,
                count: piece.len() as u32,
                stable,
                data: piece,
            };
            pending.push((self.client.start_write(&args).map_err(errno)?, piece.len()));
            at += piece.len() as u64;
        }
        let mut done = 0usize;
        let mut short = false;
        let mut first_error = None;
        for (inflight, wanted) in pending {
            // Every reply is waited for, so no WRITE outlives the kernel's buffer.
            let result = self
                .client
                .finish::<nfs3::Write, _>(inflight, |ok| (ok.count as usize, ok.committed, ok.verf));
            match result {
                Ok((count, committed, verf)) if !short && first_error.is_none() => {
                    self.note_write(&file, committed, verf);
                    done += count.min(wanted);
                    short = count < wanted;
                }
                Ok((_, committed, verf)) => self.note_write(&file, committed, verf),
                Err(e) => {
                    first_error.get_or_insert(errno(e));
                }
            }
        }
        match first_error {
            Some(e) if done == 0 => Err(e),
            _ => Ok(done as u32),
        }
    }

    fn note_write(&self, file: &OpenFile, committed: StableHow, verf: [u8; 8]) {
        if committed == StableHow::FileSync {
            return;
        }
        let mut st = file.state.lock();
        match st.verifier {
            Some(v) if v != verf && st.uncommitted => st.lost = true,
            _ => {}
        }
        st.verifier = Some(verf);
        st.uncommitted = true;
    }

    /// COMMIT, checking the verifier; errors surface at close (flush) and fsync.
    pub fn commit(&self, file: &OpenFile) -> Res<()> {
        let expected = {
            let mut st = file.state.lock();
            if st.lost {
                st.lost = false;
                st.uncommitted = false;
                return Err(Errno::EIO);
            }
            if !st.uncommitted {
                return Ok(());
            }
            st.uncommitted = false;
            st.verifier
        };
        match self.client.commit(&file.fh, 0, 0) {
            Ok(verf) if expected.is_none_or(|v| v == verf) => Ok(()),
            Ok(_) => Err(Errno::EIO),
            Err(e) => {
                file.state.lock().uncommitted = true;
                Err(errno(e))
            }
        }
    }

    pub fn do_flush(&self, handle: u64) -> Res<()> {
        let file = self.file(handle)?;
        self.commit(&file)
    }

    pub fn do_release(&self, handle: u64) -> Res<()> {
        let file = self.files.lock().remove(&handle).ok_or(Errno::EBADF)?;
        self.commit(&file)
    }
}
