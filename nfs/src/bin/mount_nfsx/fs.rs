//! The FUSE file system: every kernel request becomes one or a few NFSv3 procedures on the
//! handles the inode table holds. This file has the shared state, the conversions, and the
//! `fuser::Filesystem` impl, which only unpacks requests and sends replies; the work is in
//! `attrs.rs` (attributes), `names.rs` (the namespace), `io.rs` (open files) and `dirs.rs`
//! (listings).
//!
//! Caching is the kernel's: entries and attributes carry a lifetime chosen from the `ac*`
//! options, pages stay cached across opens unless the file changed (close-to-open), and its
//! readahead sends large asynchronous READs that the worker threads serve in parallel.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, Errno, FileAttr, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, Notifier, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};
use nfsx::proto::nfs3::{Fattr3, FileHandle, Ftype3, NfsTime3};
use nfsx::Client;
use parking_lot::Mutex;

use crate::dirs::DirStream;
use crate::inodes::Inodes;
use crate::io::OpenFile;
use crate::options::Options;

/// Largest READ or WRITE the kernel is asked to send (it may lower it: max_pages).
pub const MAX_IO_BYTES: u32 = 1 << 20;

pub type Res<T> = Result<T, Errno>;

/// An nfsx error as the errno the kernel client would return.
pub fn errno(e: nfsx::Error) -> Errno {
    Errno::from_i32(e.errno())
}

pub struct NfsFs {
    pub client: Client,
    pub inodes: Inodes,
    pub opts: Options,
    /// READ and WRITE sizes the server agreed to.
    pub rsize: u32,
    pub wsize: u32,
    pub files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    pub dirs: Mutex<HashMap<u64, Arc<DirStream>>>,
    next_handle: AtomicU64,
    /// Set once the session exists, for close-to-open invalidations.
    pub notifier: Arc<OnceLock<Notifier>>,
}

impl std::fmt::Debug for NfsFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfsFs").field("root", &self.client.root_handle()).finish_non_exhaustive()
    }
}

impl NfsFs {
    pub fn new(client: Client, opts: Options, notifier: Arc<OnceLock<Notifier>>) -> NfsFs {
        let info = client.fsinfo();
        NfsFs {
            inodes: Inodes::new(client.root_handle()),
            rsize: info.rsize,
            wsize: info.wsize,
            client,
            opts,
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            notifier,
        }
    }

    pub fn new_handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }

    pub fn fh(&self, ino: INodeNo) -> Res<FileHandle> {
        self.inodes.handle(ino.0).ok_or(Errno::ESTALE)
    }

    /// How long the kernel may trust these attributes: a tenth of the time since the object
    /// last changed, between the `ac*min` and `ac*max` options (as the kernel NFS client).
    pub fn ttl(&self, a: &Fattr3) -> Duration {
        let t = &self.opts.attr;
        let (min, max) = if a.ftype == Ftype3::Dir { (t.dir_min, t.dir_max) } else { (t.reg_min, t.reg_max) };
        let age = SystemTime::now().duration_since(time(a.mtime)).unwrap_or_default();
        (age / 10).clamp(min, max)
    }

    pub fn attr(&self, ino: u64, a: &Fattr3) -> FileAttr {
        let kind = match a.ftype {
            Ftype3::Reg => FileType::RegularFile,
            Ftype3::Dir => FileType::Directory,
            Ftype3::Blk => FileType::BlockDevice,
            Ftype3::Chr => FileType::CharDevice,
            Ftype3::Lnk => FileType::Symlink,
            Ftype3::Sock => FileType::Socket,
            Ftype3::Fifo => FileType::NamedPipe,
        };
        FileAttr {
            ino: INodeNo(ino),
            size: a.size,
            blocks: a.used.div_ceil(512),
            atime: time(a.atime),
            mtime: time(a.mtime),
            ctime: time(a.ctime),
            crtime: time(a.ctime),
            kind,
            perm: (a.mode & 0o7777) as u16,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            rdev: libc::makedev(a.rdev.major, a.rdev.minor) as u32,
            // Tools size their buffers from st_blksize (cp: the larger of it and 128 KiB), so
            // one read or write syscall becomes one full-sized READ or WRITE.
            blksize: self.wsize.min(MAX_IO_BYTES),
            flags: 0,
        }
    }

    /// Replies with a new entry, counting the kernel's lookup.
    pub fn reply_entry(&self, reply: ReplyEntry, result: Res<(FileHandle, Fattr3)>) {
        match result {
            Ok((fh, a)) => {
                let ino = self.inodes.remember(fh, a.fileid);
                reply.entry(&self.ttl(&a), &self.attr(ino, &a), Generation(0));
            }
            Err(e) => reply.error(e),
        }
    }

    fn reply_attr(&self, ino: INodeNo, reply: ReplyAttr, result: Res<Fattr3>) {
        match result {
            Ok(a) => reply.attr(&self.ttl(&a), &self.attr(ino.0, &a)),
            Err(e) => reply.error(e),
        }
    }
}

pub fn time(t: NfsTime3) -> SystemTime {
    UNIX_EPOCH + Duration::new(u64::from(t.seconds), t.nseconds)
}

fn empty(reply: ReplyEmpty, result: Res<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for NfsFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(max) = config.set_max_write(MAX_IO_BYTES) {
            let _ = config.set_max_write(max);
        }
        if let Err(max) = config.set_max_readahead(MAX_IO_BYTES * 4) {
            let _ = config.set_max_readahead(max);
        }
        let _ = config.set_max_background(64);
        let mut wanted = InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_ASYNC_DIO
            | InitFlags::FUSE_AUTO_INVAL_DATA;
        if self.opts.writeback {
            wanted |= InitFlags::FUSE_WRITEBACK_CACHE;
        }
        // Each capability the kernel lacks is simply left off.
        for flag in wanted.iter() {
            let _ = config.add_capabilities(flag);
        }
        Ok(())
    }

    fn destroy(&mut self) {
        // Unmounted: whatever writes are not yet committed are committed now.
        let files: Vec<Arc<OpenFile>> = self.files.lock().drain().map(|(_, f)| f).collect();
        for file in files {
            if let Err(e) = self.commit(&file) {
                log!("mount.nfsx: committing writes at unmount failed: {e:?}");
            }
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.reply_entry(reply, self.do_lookup(parent, name));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<fuser::FileHandle>, reply: ReplyAttr) {
        self.reply_attr(ino, reply, self.do_getattr(ino));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<fuser::FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.do_setattr(ino, mode, uid, gid, size, atime, mtime);
        self.reply_attr(ino, reply, result);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.do_readlink(ino) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        self.reply_entry(reply, self.do_mknod(parent, name, mode, umask, rdev));
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        self.reply_entry(reply, self.do_mkdir(parent, name, mode & !umask & 0o7777));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.do_remove(parent, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.do_remove(parent, name, true));
    }

    fn symlink(&self, _req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        self.reply_entry(reply, self.do_symlink(parent, link_name, target));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        // NFSv3 RENAME always replaces; it can neither refuse to nor exchange two names.
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        empty(reply, self.do_rename(parent, name, newparent, newname));
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        self.reply_entry(reply, self.do_link(ino, newparent, newname));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.do_open(ino, flags) {
            Ok((handle, fopen)) => reply.opened(fuser::FileHandle(handle), fopen),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.do_read(fh.0, offset, size, reply);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.do_write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.do_flush(fh.0));
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.do_release(fh.0));
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.do_flush(fh.0));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.do_opendir(ino) {
            Ok(handle) => reply.opened(fuser::FileHandle(handle), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.do_readdir(fh.0, offset, reply);
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.do_readdirplus(fh.0, offset, reply);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.dirs.lock().remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: fuser::FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory operations are synchronous on an NFSv3 server.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.do_statfs() {
            Ok(s) => {
                let bsize = 4096u64;
                reply.statfs(
                    s.total_bytes / bsize,
                    s.free_bytes / bsize,
                    s.avail_bytes / bsize,
                    s.total_files,
                    s.free_files,
                    bsize as u32,
                    nfsx::proto::nfs3::MAX_NAME_LEN as u32,
                    bsize as u32,
                )
            }
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        empty(reply, self.do_access(ino, mask));
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self.do_create(parent, name, mode & !umask & 0o7777, flags) {
            Ok((fh, a, handle)) => {
                let ino = self.inodes.remember(fh, a.fileid);
                reply.created(
                    &self.ttl(&a),
                    &self.attr(ino, &a),
                    Generation(0),
                    fuser::FileHandle(handle),
                    FopenFlags::empty(),
                );
            }
            Err(e) => reply.error(e),
        }
    }
}
