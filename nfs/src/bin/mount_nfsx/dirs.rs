//! Directory listings: one READDIRPLUS page of up to 256 KiB feeds many of the kernel's small
//! readdir buffers; what does not fit stays buffered in the open directory, keyed by the NFS
//! cookie the kernel hands back as the offset of its next call.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;

use fuser::{Errno, FileType, Generation, INodeNo, ReplyDirectory, ReplyDirectoryPlus};
use nfsx::proto::nfs3::{self, CookieVerf, Fattr3, FileHandle, Ftype3, ReaddirplusArgs};
use parking_lot::Mutex;

use crate::fs::{errno, NfsFs, Res};

/// Directory bytes (names and cookies) asked for per page.
const DIRCOUNT_BYTES: u32 = 64 * 1024;
/// Whole-reply bytes per page, attributes and handles included.
const MAXCOUNT_BYTES: u32 = 256 * 1024;

#[derive(Debug)]
struct Entry {
    name: Vec<u8>,
    fileid: u64,
    cookie: u64,
    attrs: Option<Fattr3>,
    fh: Option<FileHandle>,
}

#[derive(Debug)]
struct DirState {
    verifier: CookieVerf,
    /// Entries fetched but not yet given to the kernel; they follow `resume`.
    buffered: VecDeque<Entry>,
    /// The cookie after which `buffered` starts (the kernel's offset to continue from).
    resume: u64,
    eof: bool,
}

#[derive(Debug)]
pub struct DirStream {
    dir: FileHandle,
    state: Mutex<DirState>,
}

impl NfsFs {
    pub fn do_opendir(&self, ino: INodeNo) -> Res<u64> {
        let dir = self.fh(ino)?;
        let stream = DirStream {
            dir,
            state: Mutex::new(DirState {
                verifier: [0; 8],
                buffered: VecDeque::new(),
                resume: 0,
                eof: false,
            }),
        };
        let handle = self.new_handle();
        self.dirs.lock().insert(handle, std::sync::Arc::new(stream));
        Ok(handle)
    }

    fn stream(&self, handle: u64) -> Res<std::sync::Arc<DirStream>> {
        self.dirs.lock().get(&handle).cloned().ok_or(Errno::EBADF)
    }

    /// Makes sure `st.buffered` holds the entries after `offset`, fetching a page when empty.
    /// Returns false at the end of the directory.
    fn fill(&self, stream: &DirStream, st: &mut DirState, offset: u64) -> Res<bool> {
        if offset != st.resume {
            // A seek (or a rewind): start again from the kernel's cookie.
            st.buffered.clear();
            st.resume = offset;
            st.eof = false;
        }
        while st.buffered.is_empty() {
            if st.eof {
                return Ok(false);
            }
            let args = ReaddirplusArgs {
                dir: stream.dir.as_fh(),
                cookie: st.resume,
                cookieverf: if st.resume == 0 { [0; 8] } else { st.verifier },
                dircount: DIRCOUNT_BYTES,
                maxcount: MAXCOUNT_BYTES,
            };
            let before = st.resume;
            let (verifier, eof, last) = self
                .client
                .call::<nfs3::Readdirplus, _>(&args, |ok| {
                    for e in &ok.entries {
                        if e.name == b"." || e.name == b".." {
                            continue;
                        }
                        st.buffered.push_back(Entry {
                            name: e.name.to_vec(),
                            fileid: e.fileid,
                            cookie: e.cookie,
                            attrs: e.name_attributes,
                            fh: e.name_handle.map(|h| h.to_owned()),
                        });
                    }
                    (ok.cookieverf, ok.eof, ok.entries.last().map(|e| e.cookie))
                })
                .map_err(errno)?;
            st.verifier = verifier;
            st.eof = eof;
            if st.buffered.is_empty() {
                // Only "." and ".." on this page: continue after them.
                match last {
                    Some(cookie) if cookie != before => st.resume = cookie,
                    _ if eof => {}
                    _ => return Err(Errno::EIO), // an empty page that is not the last
                }
            }
        }
        Ok(true)
    }

    /// The handle and attributes of an entry, with a LOOKUP when the server left them out.
    fn complete(&self, dir: &FileHandle, e: &mut Entry) -> Res<(FileHandle, Fattr3)> {
        if let (Some(fh), Some(a)) = (e.fh, e.attrs) {
            return Ok((fh, a));
        }
        let (fh, a) = self.lookup_fh(dir, &e.name)?;
        e.fh = Some(fh);
        e.attrs = Some(a);
        Ok((fh, a))
    }

    pub fn do_readdirplus(&self, handle: u64, offset: u64, mut reply: ReplyDirectoryPlus) {
        let stream = match self.stream(handle) {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        let mut st = stream.state.lock();
        let mut offset = offset;
        let mut added = 0;
        loop {
            match self.fill(&stream, &mut st, offset) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if added == 0 => return reply.error(e),
                Err(_) => break,
            }
            let Some(mut e) = st.buffered.pop_front() else { break };
            let (fh, a) = match self.complete(&stream.dir, &mut e) {
                Ok(found) => found,
                // Removed between the listing and the lookup: left out.
                Err(Errno::ENOENT) => {
                    st.resume = e.cookie;
                    offset = e.cookie;
                    continue;
                }
                Err(err) if added == 0 => return reply.error(err),
                Err(_) => {
                    st.buffered.push_front(e);
                    break;
                }
            };
            // Each entry given to the kernel counts as a lookup, so it is counted first and
            // uncounted if the buffer turns out to be full.
            let ino = self.inodes.remember(fh, a.fileid);
            let full = reply.add(
                INodeNo(ino),
                e.cookie,
                std::ffi::OsStr::from_bytes(&e.name),
                &self.ttl(&a),
                &self.attr(ino, &a),
                Generation(0),
            );
            if full {
                self.inodes.forget(ino, 1);
                st.buffered.push_front(e);
                break;
            }
            st.resume = e.cookie;
            offset = e.cookie;
            added += 1;
        }
        reply.ok();
    }

    pub fn do_readdir(&self, handle: u64, offset: u64, mut reply: ReplyDirectory) {
        let stream = match self.stream(handle) {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        let mut st = stream.state.lock();
        let mut offset = offset;
        let mut added = 0;
        loop {
            match self.fill(&stream, &mut st, offset) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if added == 0 => return reply.error(e),
                Err(_) => break,
            }
            let Some(e) = st.buffered.pop_front() else { break };
            let kind = e.attrs.map_or(FileType::RegularFile, |a| kind(a.ftype));
            let ino = e.fh.map_or(e.fileid, |fh| self.inodes.number(&fh, e.fileid));
            if reply.add(INodeNo(ino), e.cookie, kind, std::ffi::OsStr::from_bytes(&e.name)) {
                st.buffered.push_front(e);
                break;
            }
            st.resume = e.cookie;
            offset = e.cookie;
            added += 1;
        }
        reply.ok();
    }
}

fn kind(t: Ftype3) -> FileType {
    match t {
        Ftype3::Reg => FileType::RegularFile,
        Ftype3::Dir => FileType::Directory,
        Ftype3::Blk => FileType::BlockDevice,
        Ftype3::Chr => FileType::CharDevice,
        Ftype3::Lnk => FileType::Symlink,
        Ftype3::Sock => FileType::Socket,
        Ftype3::Fifo => FileType::NamedPipe,
    }
}
