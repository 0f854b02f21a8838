//! MOUNT protocol version 3 (RFC 1813 Appendix I): turns an export path into the root file
//! handle the NFS client starts from, and lists mounts and exports.

use std::fmt;

use super::list;
use super::nfs3::Fh;
use crate::xdr::{opaque_len, Decode, DecodeError, Encode, Reader, Writer};

/// Procedure numbers (RFC 1813 §5.2). NULL, UMNTALL and EXPORT take no arguments; NULL, UMNT
/// and UMNTALL return nothing.
pub const MOUNTPROC3_NULL: u32 = 0;
pub const MOUNTPROC3_MNT: u32 = 1;
pub const MOUNTPROC3_DUMP: u32 = 2;
pub const MOUNTPROC3_UMNT: u32 = 3;
pub const MOUNTPROC3_UMNTALL: u32 = 4;
pub const MOUNTPROC3_EXPORT: u32 = 5;

/// Maximum bytes in a path name (`dirpath`, RFC 1813 §5.1).
pub const MNTPATHLEN: usize = 1024;
/// Maximum bytes in a host or group name (`name`, RFC 1813 §5.1).
pub const MNTNAMLEN: usize = 255;
/// Maximum bytes in a v3 file handle (`fhandle3`, RFC 1813 §5.1).
pub const FHSIZE3: usize = 64;

/// Decode cap on the security flavors a MNT reply lists; servers offer a handful.
pub const MAX_AUTH_FLAVORS: usize = 32;
/// Decode cap on the entries of a DUMP reply.
pub const MAX_MOUNT_ENTRIES: usize = 65536;
/// Decode cap on the exports of an EXPORT reply.
pub const MAX_EXPORTS: usize = 65536;
/// Decode cap on the groups of one export.
pub const MAX_EXPORT_GROUPS: usize = 65536;

/// `mountstat3` (RFC 1813 §5.1). Exhaustive, like [`super::nfs3::Nfsstat3`]: an unknown value
/// fails the decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Mountstat3 {
    Ok = 0,
    Perm = 1,
    Noent = 2,
    Io = 5,
    Acces = 13,
    Notdir = 20,
    Inval = 22,
    Nametoolong = 63,
    Notsupp = 10004,
    Serverfault = 10006,
}

impl Mountstat3 {
    /// The status with wire value `value`, if RFC 1813 defines one.
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Mountstat3::Ok,
            1 => Mountstat3::Perm,
            2 => Mountstat3::Noent,
            5 => Mountstat3::Io,
            13 => Mountstat3::Acces,
            20 => Mountstat3::Notdir,
            22 => Mountstat3::Inval,
            63 => Mountstat3::Nametoolong,
            10004 => Mountstat3::Notsupp,
            10006 => Mountstat3::Serverfault,
            _ => return None,
        })
    }

    /// The RFC 1813 name, e.g. `MNT3ERR_NOENT`.
    pub fn name(self) -> &'static str {
        self.name_and_errno().0
    }

    /// The positive errno a POSIX caller should see (0 for [`Mountstat3::Ok`]); the same
    /// choices as [`super::nfs3::Nfsstat3::errno`].
    pub fn errno(self) -> i32 {
        self.name_and_errno().1
    }

    fn name_and_errno(self) -> (&'static str, i32) {
        match self {
            Mountstat3::Ok => ("MNT3_OK", 0),
            Mountstat3::Perm => ("MNT3ERR_PERM", libc::EPERM),
            Mountstat3::Noent => ("MNT3ERR_NOENT", libc::ENOENT),
            Mountstat3::Io => ("MNT3ERR_IO", libc::EIO),
            Mountstat3::Acces => ("MNT3ERR_ACCES", libc::EACCES),
            Mountstat3::Notdir => ("MNT3ERR_NOTDIR", libc::ENOTDIR),
            Mountstat3::Inval => ("MNT3ERR_INVAL", libc::EINVAL),
            Mountstat3::Nametoolong => ("MNT3ERR_NAMETOOLONG", libc::ENAMETOOLONG),
            Mountstat3::Notsupp => ("MNT3ERR_NOTSUPP", libc::EOPNOTSUPP),
            Mountstat3::Serverfault => ("MNT3ERR_SERVERFAULT", libc::EREMOTEIO),
        }
    }
}

impl fmt::Display for Mountstat3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Mountstat3 {}

impl Encode for Mountstat3 {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(*self as u32);
    }
}

impl<'a> Decode<'a> for Mountstat3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let value = r.u32("mountstat3")?;
        Mountstat3::from_u32(value).ok_or(DecodeError::UnknownDiscriminant { field: "mountstat3", value })
    }
}

fn dirpath<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    r.opaque(MNTPATHLEN, "dirpath")
}

fn name<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    r.opaque(MNTNAMLEN, "name")
}

/// Arguments of MNT and UMNT: the export path (RFC 1813 §5.2.1, §5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MntArgs<'a> {
    pub dirpath: &'a [u8],
}

/// UMNT takes the same `dirpath` as MNT (RFC 1813 §5.2.3).
pub type UmntArgs<'a> = MntArgs<'a>;

impl Encode for MntArgs<'_> {
    fn encoded_len(&self) -> usize {
        opaque_len(self.dirpath.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.opaque(self.dirpath);
    }
}

impl<'a> Decode<'a> for MntArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(MntArgs { dirpath: dirpath(r)? })
    }
}

/// `mountres3_ok` (RFC 1813 §5.2.1): the export's root handle and the RPC security flavors the
/// server accepts for it, best first. A MNT reply decodes as `Result<MntOk, Mountstat3>`; the
/// failure arm carries nothing but the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MntOk<'a> {
    pub fhandle: Fh<'a>,
    /// `int auth_flavors<>` on the wire; flavor numbers are never negative, so `u32`.
    pub auth_flavors: Vec<u32>,
}

impl Encode for MntOk<'_> {
    fn encoded_len(&self) -> usize {
        self.fhandle.encoded_len() + 4 + 4 * self.auth_flavors.len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.fhandle.encode(w);
        w.u32(self.auth_flavors.len() as u32);
        self.auth_flavors.iter().for_each(|&f| w.u32(f));
    }
}

impl<'a> Decode<'a> for MntOk<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let fhandle = Fh::new(r.opaque(FHSIZE3, "fhandle3")?)?;
        let n = r.count(MAX_AUTH_FLAVORS, 4, "mountres3_ok.auth_flavors")?;
        let mut auth_flavors = Vec::with_capacity(n);
        for _ in 0..n {
            auth_flavors.push(r.u32("mountres3_ok.auth_flavors")?);
        }
        Ok(MntOk { fhandle, auth_flavors })
    }
}

/// `mountres3` (RFC 1813 §5.2.1). An `Err` holding [`Mountstat3::Ok`] is a local bug; it is
/// encoded as MNT3ERR_SERVERFAULT so the peer never reads a missing body.
impl Encode for Result<MntOk<'_>, Mountstat3> {
    fn encoded_len(&self) -> usize {
        4 + self.as_ref().map_or(0, Encode::encoded_len)
    }
    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            Ok(ok) => {
                Mountstat3::Ok.encode(w);
                ok.encode(w);
            }
            Err(status) => {
                debug_assert_ne!(*status, Mountstat3::Ok, "MNT failure with status MNT3_OK");
                match status {
                    Mountstat3::Ok => Mountstat3::Serverfault.encode(w),
                    status => status.encode(w),
                }
            }
        }
    }
}

impl<'a> Decode<'a> for Result<MntOk<'a>, Mountstat3> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        match Mountstat3::decode(r)? {
            Mountstat3::Ok => MntOk::decode(r).map(Ok),
            status => Ok(Err(status)),
        }
    }
}

/// `mountbody` (RFC 1813 §5.2.2), without its `ml_next` link: a client that mounted a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountEntry<'a> {
    pub hostname: &'a [u8],
    pub directory: &'a [u8],
}

impl Encode for MountEntry<'_> {
    fn encoded_len(&self) -> usize {
        opaque_len(self.hostname.len()) + opaque_len(self.directory.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.opaque(self.hostname);
        w.opaque(self.directory);
    }
}

impl<'a> Decode<'a> for MountEntry<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(MountEntry { hostname: name(r)?, directory: dirpath(r)? })
    }
}

/// The DUMP reply, `mountlist` (RFC 1813 §5.2.2), flattened into a vector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountList<'a> {
    pub entries: Vec<MountEntry<'a>>,
}

impl Encode for MountList<'_> {
    fn encoded_len(&self) -> usize {
        list::encoded_len(&self.entries, Encode::encoded_len)
    }
    fn encode(&self, w: &mut Writer<'_>) {
        list::encode(&self.entries, w, Encode::encode);
    }
}

impl<'a> Decode<'a> for MountList<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(MountList { entries: list::decode(r, MAX_MOUNT_ENTRIES, "mountlist", MountEntry::decode)? })
    }
}

/// `exportnode` (RFC 1813 §5.2.5), without its `ex_next` link: an exported path and the groups
/// (host names or netgroups) allowed to mount it; no groups means everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntry<'a> {
    pub dir: &'a [u8],
    pub groups: Vec<&'a [u8]>,
}

impl Encode for ExportEntry<'_> {
    fn encoded_len(&self) -> usize {
        opaque_len(self.dir.len()) + list::encoded_len(&self.groups, |g| opaque_len(g.len()))
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.opaque(self.dir);
        list::encode(&self.groups, w, |g, w| w.opaque(g));
    }
}

impl<'a> Decode<'a> for ExportEntry<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ExportEntry { dir: dirpath(r)?, groups: list::decode(r, MAX_EXPORT_GROUPS, "groups", name)? })
    }
}

/// The EXPORT reply, `exports` (RFC 1813 §5.2.5), flattened into a vector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportList<'a> {
    pub entries: Vec<ExportEntry<'a>>,
}

impl Encode for ExportList<'_> {
    fn encoded_len(&self) -> usize {
        list::encoded_len(&self.entries, Encode::encoded_len)
    }
    fn encode(&self, w: &mut Writer<'_>) {
        list::encode(&self.entries, w, Encode::encode);
    }
}

impl<'a> Decode<'a> for ExportList<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ExportList { entries: list::decode(r, MAX_EXPORTS, "exports", ExportEntry::decode)? })
    }
}

#[cfg(test)]
mod tests;
