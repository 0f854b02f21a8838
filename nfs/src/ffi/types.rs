//! The C structs and constants of the header, and conversions from the Rust API's types.
#![allow(non_camel_case_types)]

use libc::c_char;

use crate::proto::nfs3::{Fattr3, Ftype3, NfsTime3, MAX_NAME_LEN};
use crate::FsStat;

/// A mounted export (`nfsx_mount` / `nfsx_umount`). Opaque.
#[derive(Debug)]
pub struct nfsx_client {
    _opaque: [u8; 0],
}

/// An open file (`nfsx_open` / `nfsx_close`). Opaque.
#[derive(Debug)]
pub struct nfsx_file {
    _opaque: [u8; 0],
}

/// An open directory listing (`nfsx_opendir` / `nfsx_closedir`). Opaque.
#[derive(Debug)]
pub struct nfsx_dir {
    _opaque: [u8; 0],
}

/// A completion queue (`nfsx_cq_new` / `nfsx_cq_free`). Opaque.
#[derive(Debug)]
pub struct nfsx_cq {
    _opaque: [u8; 0],
}

/// `nfsx_stat.type`: the NFSv3 file type (ftype3, RFC 1813 §2.6).
pub const NFSX_TYPE_REG: u32 = 1;
pub const NFSX_TYPE_DIR: u32 = 2;
pub const NFSX_TYPE_BLK: u32 = 3;
pub const NFSX_TYPE_CHR: u32 = 4;
pub const NFSX_TYPE_LNK: u32 = 5;
pub const NFSX_TYPE_SOCK: u32 = 6;
pub const NFSX_TYPE_FIFO: u32 = 7;

/// Longest name in a directory entry, without the NUL.
pub const NFSX_NAME_MAX: usize = 255;
/// Longest path argument, without the NUL.
pub const NFSX_PATH_MAX: usize = 4096;

/// `nfsx_timespec.nsec` value: set this time to the server's current time.
pub const NFSX_UTIME_NOW: u32 = 0x3fff_fffe;
/// `nfsx_timespec.nsec` value: leave this time unchanged.
pub const NFSX_UTIME_OMIT: u32 = 0x3fff_ffff;

/// A time as NFSv3 carries it (nfstime3): seconds and nanoseconds since the epoch.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nfsx_timespec {
    pub sec: u32,
    pub nsec: u32,
}

/// File attributes (fattr3, RFC 1813 §2.6). `mode` holds the S_IF* type bits as well as the
/// permission bits, like `struct stat`'s `st_mode`; `type` is the NFSX_TYPE_* value.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nfsx_stat {
    pub r#type: u32,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub _reserved: u32,
    pub size: u64,
    /// Bytes of disk space the file uses.
    pub used: u64,
    pub fsid: u64,
    pub fileid: u64,
    pub atime: nfsx_timespec,
    pub mtime: nfsx_timespec,
    pub ctime: nfsx_timespec,
}

/// File system space and inodes (FSSTAT, RFC 1813 §3.3.18).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nfsx_statvfs {
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// Free bytes available to this user.
    pub avail_bytes: u64,
    pub total_files: u64,
    pub free_files: u64,
    pub avail_files: u64,
    /// Seconds for which the server says these values will not change.
    pub invarsec: u32,
    /// READ and WRITE sizes in use on this mount.
    pub rsize: u32,
    pub wsize: u32,
    /// Longest name (NFSX_NAME_MAX).
    pub name_max: u32,
}

/// A client's counters since mount, over all its connections.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nfsx_stats {
    /// NFS calls sent (retransmissions not counted).
    pub calls: u64,
    /// Calls sent again after a timeout or a broken connection.
    pub retransmits: u64,
    /// Connections re-established.
    pub reconnects: u64,
    /// TCP connections to the server (nconnect times the server addresses).
    pub connections: u64,
    /// Times a server address stopped answering and was taken out of use until it answered again.
    pub path_failures: u64,
    /// Calls sent again, as new transactions, after the server said NFS3ERR_JUKEBOX (busy).
    pub jukebox_retries: u64,
    /// Bytes nfsx copied in user space (see docs/ARCHITECTURE.md, "Copies per byte").
    pub bytes_copied: u64,
    /// READs held back because every receive buffer was in use (`maxbuffers`).
    pub receive_buffers_busy: u64,
}

/// One directory entry ("." and ".." are left out). `name` is NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nfsx_dirent {
    /// NFSX_NAME_MAX bytes and the NUL (dir.rs builds it as `[_; NFSX_NAME_MAX + 1]`, so the
    /// two cannot drift apart).
    pub name: [c_char; 256],
    pub fileid: u64,
    pub cookie: u64,
    /// 1 when `attributes` holds the entry's attributes (READDIRPLUS sent them), else 0.
    pub has_attributes: u32,
    pub _reserved: u32,
    pub attributes: nfsx_stat,
}

fn time(t: NfsTime3) -> nfsx_timespec {
    nfsx_timespec { sec: t.seconds, nsec: t.nseconds }
}

fn type_bits(t: Ftype3) -> u32 {
    match t {
        Ftype3::Reg => libc::S_IFREG,
        Ftype3::Dir => libc::S_IFDIR,
        Ftype3::Blk => libc::S_IFBLK,
        Ftype3::Chr => libc::S_IFCHR,
        Ftype3::Lnk => libc::S_IFLNK,
        Ftype3::Sock => libc::S_IFSOCK,
        Ftype3::Fifo => libc::S_IFIFO,
    }
}

impl From<&Fattr3> for nfsx_stat {
    fn from(a: &Fattr3) -> nfsx_stat {
        nfsx_stat {
            r#type: a.ftype as u32,
            mode: type_bits(a.ftype) | (a.mode & 0o7777),
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            rdev_major: a.rdev.major,
            rdev_minor: a.rdev.minor,
            _reserved: 0,
            size: a.size,
            used: a.used,
            fsid: a.fsid,
            fileid: a.fileid,
            atime: time(a.atime),
            mtime: time(a.mtime),
            ctime: time(a.ctime),
        }
    }
}

impl nfsx_statvfs {
    pub(crate) fn new(s: &FsStat, rsize: u32, wsize: u32) -> nfsx_statvfs {
        nfsx_statvfs {
            total_bytes: s.total_bytes,
            free_bytes: s.free_bytes,
            avail_bytes: s.avail_bytes,
            total_files: s.total_files,
            free_files: s.free_files,
            avail_files: s.avail_files,
            invarsec: s.invarsec,
            rsize,
            wsize,
            name_max: MAX_NAME_LEN as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_the_protocol() {
        assert_eq!(NFSX_NAME_MAX, MAX_NAME_LEN);
        assert_eq!(NFSX_PATH_MAX, crate::proto::nfs3::MAX_PATH_LEN);
    }
}
