//! `nfsstat3` and the uniform result shape of every NFSv3 reply (RFC 1813 §2.6, §3.3).

use std::fmt;

use crate::xdr::{Decode, DecodeError, Encode, Reader, Writer};

/// `nfsstat3` (RFC 1813 §2.6): the status that opens every NFSv3 result.
///
/// Exhaustive on purpose: RFC 1813 is closed, a value outside it fails the decode, so a caller
/// can match every status (for example to choose an errno) without a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Nfsstat3 {
    Ok = 0,
    Perm = 1,
    Noent = 2,
    Io = 5,
    Nxio = 6,
    Acces = 13,
    Exist = 17,
    Xdev = 18,
    Nodev = 19,
    Notdir = 20,
    Isdir = 21,
    Inval = 22,
    Fbig = 27,
    Nospc = 28,
    Rofs = 30,
    Mlink = 31,
    Nametoolong = 63,
    Notempty = 66,
    Dquot = 69,
    Stale = 70,
    Remote = 71,
    Badhandle = 10001,
    NotSync = 10002,
    BadCookie = 10003,
    Notsupp = 10004,
    Toosmall = 10005,
    Serverfault = 10006,
    Badtype = 10007,
    Jukebox = 10008,
}

impl Nfsstat3 {
    /// The status with wire value `value`, if RFC 1813 defines one.
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Nfsstat3::Ok,
            1 => Nfsstat3::Perm,
            2 => Nfsstat3::Noent,
            5 => Nfsstat3::Io,
            6 => Nfsstat3::Nxio,
            13 => Nfsstat3::Acces,
            17 => Nfsstat3::Exist,
            18 => Nfsstat3::Xdev,
            19 => Nfsstat3::Nodev,
            20 => Nfsstat3::Notdir,
            21 => Nfsstat3::Isdir,
            22 => Nfsstat3::Inval,
            27 => Nfsstat3::Fbig,
            28 => Nfsstat3::Nospc,
            30 => Nfsstat3::Rofs,
            31 => Nfsstat3::Mlink,
            63 => Nfsstat3::Nametoolong,
            66 => Nfsstat3::Notempty,
            69 => Nfsstat3::Dquot,
            70 => Nfsstat3::Stale,
            71 => Nfsstat3::Remote,
            10001 => Nfsstat3::Badhandle,
            10002 => Nfsstat3::NotSync,
            10003 => Nfsstat3::BadCookie,
            10004 => Nfsstat3::Notsupp,
            10005 => Nfsstat3::Toosmall,
            10006 => Nfsstat3::Serverfault,
            10007 => Nfsstat3::Badtype,
            10008 => Nfsstat3::Jukebox,
            _ => return None,
        })
    }

    /// The RFC 1813 name, e.g. `NFS3ERR_NOENT`.
    pub fn name(self) -> &'static str {
        self.name_and_errno().0
    }

    /// The positive errno a POSIX caller should see (0 for [`Nfsstat3::Ok`]).
    ///
    /// The UNIX-derived statuses map one to one. For the NFSv3-only ones (10001 and up) the
    /// Linux client uses kernel-internal errnos (EBADHANDLE, ENOTSUPP, EJUKEBOX, ...) that never
    /// reach user space, so these are what it finally surfaces, or what fits the meaning:
    /// - BADHANDLE → ESTALE: the handle is unusable, and the remedy (look the path up again) is
    ///   STALE's.
    /// - NOT_SYNC → EIO: a SETATTR guard mismatch the caller did not ask to handle.
    /// - BAD_COOKIE → ESTALE: the directory changed under a READDIR and must be read again
    ///   from cookie 0, the remedy for a stale handle.
    /// - NOTSUPP → EOPNOTSUPP.
    /// - TOOSMALL → EINVAL: the caller's count was too small for one entry.
    /// - SERVERFAULT → EREMOTEIO: the server failed, not the request.
    /// - BADTYPE → EINVAL: an object type the server does not support (MKNOD, CREATE).
    /// - JUKEBOX → EAGAIN: the data is being recalled from offline storage; retry later.
    pub fn errno(self) -> i32 {
        self.name_and_errno().1
    }

    fn name_and_errno(self) -> (&'static str, i32) {
        match self {
            Nfsstat3::Ok => ("NFS3_OK", 0),
            Nfsstat3::Perm => ("NFS3ERR_PERM", libc::EPERM),
            Nfsstat3::Noent => ("NFS3ERR_NOENT", libc::ENOENT),
            Nfsstat3::Io => ("NFS3ERR_IO", libc::EIO),
            Nfsstat3::Nxio => ("NFS3ERR_NXIO", libc::ENXIO),
            Nfsstat3::Acces => ("NFS3ERR_ACCES", libc::EACCES),
            Nfsstat3::Exist => ("NFS3ERR_EXIST", libc::EEXIST),
            Nfsstat3::Xdev => ("NFS3ERR_XDEV", libc::EXDEV),
            Nfsstat3::Nodev => ("NFS3ERR_NODEV", libc::ENODEV),
            Nfsstat3::Notdir => ("NFS3ERR_NOTDIR", libc::ENOTDIR),
            Nfsstat3::Isdir => ("NFS3ERR_ISDIR", libc::EISDIR),
            Nfsstat3::Inval => ("NFS3ERR_INVAL", libc::EINVAL),
            Nfsstat3::Fbig => ("NFS3ERR_FBIG", libc::EFBIG),
            Nfsstat3::Nospc => ("NFS3ERR_NOSPC", libc::ENOSPC),
            Nfsstat3::Rofs => ("NFS3ERR_ROFS", libc::EROFS),
            Nfsstat3::Mlink => ("NFS3ERR_MLINK", libc::EMLINK),
            Nfsstat3::Nametoolong => ("NFS3ERR_NAMETOOLONG", libc::ENAMETOOLONG),
            Nfsstat3::Notempty => ("NFS3ERR_NOTEMPTY", libc::ENOTEMPTY),
            Nfsstat3::Dquot => ("NFS3ERR_DQUOT", libc::EDQUOT),
            Nfsstat3::Stale => ("NFS3ERR_STALE", libc::ESTALE),
            Nfsstat3::Remote => ("NFS3ERR_REMOTE", libc::EREMOTE),
            Nfsstat3::Badhandle => ("NFS3ERR_BADHANDLE", libc::ESTALE),
            Nfsstat3::NotSync => ("NFS3ERR_NOT_SYNC", libc::EIO),
            Nfsstat3::BadCookie => ("NFS3ERR_BAD_COOKIE", libc::ESTALE),
            Nfsstat3::Notsupp => ("NFS3ERR_NOTSUPP", libc::EOPNOTSUPP),
            Nfsstat3::Toosmall => ("NFS3ERR_TOOSMALL", libc::EINVAL),
            Nfsstat3::Serverfault => ("NFS3ERR_SERVERFAULT", libc::EREMOTEIO),
            Nfsstat3::Badtype => ("NFS3ERR_BADTYPE", libc::EINVAL),
            Nfsstat3::Jukebox => ("NFS3ERR_JUKEBOX", libc::EAGAIN),
        }
    }
}

impl fmt::Display for Nfsstat3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Nfsstat3 {}

impl Encode for Nfsstat3 {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(*self as u32);
    }
}

impl<'a> Decode<'a> for Nfsstat3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let value = r.u32("nfsstat3")?;
        Nfsstat3::from_u32(value).ok_or(DecodeError::UnknownDiscriminant { field: "nfsstat3", value })
    }
}

/// The failure arm of an NFSv3 result: a status other than [`Nfsstat3::Ok`] and the procedure's
/// `resfail` body (often post-operation attributes the client should still cache).
///
/// Every NFSv3 result is `switch (nfsstat3 status) { case NFS3_OK: resok; default: resfail; }`
/// (RFC 1813 §3.3), so a reply decodes as `Result<Ok, Failed<Fail>>`. Decoding never yields a
/// `Failed` with status `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed<F> {
    pub status: Nfsstat3,
    pub detail: F,
}

impl<F> fmt::Display for Failed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server replied {}", self.status)
    }
}

impl<F: fmt::Debug> std::error::Error for Failed<F> {}

impl<T: Encode, F: Encode> Encode for Result<T, Failed<F>> {
    fn encoded_len(&self) -> usize {
        4 + match self {
            Ok(ok) => ok.encoded_len(),
            Err(failed) => failed.detail.encoded_len(),
        }
    }
    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            Ok(ok) => {
                w.u32(Nfsstat3::Ok as u32);
                ok.encode(w);
            }
            Err(failed) => {
                // A `Failed` built with status Ok is a local bug; sending it as NFS3_OK would make
                // the peer read the resfail body as resok, so it goes out as a server fault.
                debug_assert_ne!(failed.status, Nfsstat3::Ok, "Failed with status NFS3_OK");
                let status = match failed.status {
                    Nfsstat3::Ok => Nfsstat3::Serverfault,
                    status => status,
                };
                status.encode(w);
                failed.detail.encode(w);
            }
        }
    }
}

impl<'a, T: Decode<'a>, F: Decode<'a>> Decode<'a> for Result<T, Failed<F>> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        match Nfsstat3::decode(r)? {
            Nfsstat3::Ok => T::decode(r).map(Ok),
            status => Ok(Err(Failed { status, detail: F::decode(r)? })),
        }
    }
}
