//! Procedures that read or set an object's attributes and the file system's properties:
//! GETATTR, SETATTR, ACCESS (RFC 1813 §3.3.1, §3.3.2, §3.3.4) and FSSTAT, FSINFO, PATHCONF
//! (§3.3.18–3.3.20).

use super::attr::{post_op_attr, Fattr3, PostOpAttr, Sattr3, WccData};
use super::types::{optional, Fh, NfsTime3};
use crate::xdr::{Decode, DecodeError, Encode, Reader, Writer};

/// `GETATTR3args` (RFC 1813 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetattrArgs<'a> {
    pub object: Fh<'a>,
}
xdr_struct!(GetattrArgs<'a> { object });

/// `GETATTR3resok` (RFC 1813 §3.3.1). The failure arm carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetattrOk {
    pub attributes: Fattr3,
}
xdr_struct!(GetattrOk { attributes });

/// `SETATTR3args` (RFC 1813 §3.3.2). `guard` is `sattrguard3`: when set, the server applies the
/// change only if the object's ctime still equals it, and fails with NFS3ERR_NOT_SYNC otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetattrArgs<'a> {
    pub object: Fh<'a>,
    pub new_attributes: Sattr3,
    pub guard: Option<NfsTime3>,
}
xdr_struct!(SetattrArgs<'a> { object, new_attributes, guard = sattrguard3 });

fn sattrguard3(r: &mut Reader<'_>) -> Result<Option<NfsTime3>, DecodeError> {
    optional(r, "sattrguard3.check")
}

/// `SETATTR3resok` (RFC 1813 §3.3.2); the failure arm is the same [`WccData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetattrOk {
    pub obj_wcc: WccData,
}
xdr_struct!(SetattrOk { obj_wcc });

/// ACCESS bits (RFC 1813 §3.3.4): what the caller asks about, and what the server grants.
pub const ACCESS3_READ: u32 = 0x0001;
pub const ACCESS3_LOOKUP: u32 = 0x0002;
pub const ACCESS3_MODIFY: u32 = 0x0004;
pub const ACCESS3_EXTEND: u32 = 0x0008;
pub const ACCESS3_DELETE: u32 = 0x0010;
pub const ACCESS3_EXECUTE: u32 = 0x0020;

/// `ACCESS3args` (RFC 1813 §3.3.4): `access` is a mask of `ACCESS3_*` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessArgs<'a> {
    pub object: Fh<'a>,
    pub access: u32,
}

impl Encode for AccessArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.object.encoded_len() + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.object.encode(w);
        w.u32(self.access);
    }
}

impl<'a> Decode<'a> for AccessArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(AccessArgs { object: Fh::decode(r)?, access: r.u32("ACCESS3args.access")? })
    }
}

/// `ACCESS3resok` (RFC 1813 §3.3.4): `access` is the subset of the requested bits granted. The
/// failure arm is the object's [`PostOpAttr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessOk {
    pub obj_attributes: PostOpAttr,
    pub access: u32,
}

impl Encode for AccessOk {
    fn encoded_len(&self) -> usize {
        self.obj_attributes.encoded_len() + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.obj_attributes.encode(w);
        w.u32(self.access);
    }
}

impl<'a> Decode<'a> for AccessOk {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(AccessOk { obj_attributes: post_op_attr(r)?, access: r.u32("ACCESS3resok.access")? })
    }
}

/// `FSSTAT3args` (RFC 1813 §3.3.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsstatArgs<'a> {
    pub fsroot: Fh<'a>,
}
xdr_struct!(FsstatArgs<'a> { fsroot });

/// `FSSTAT3resok` (RFC 1813 §3.3.18): total, free, and available-to-this-user bytes and file
/// slots; `invarsec` is how many seconds the values are expected to stay unchanged. The failure
/// arm is the root's [`PostOpAttr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsstatOk {
    pub obj_attributes: PostOpAttr,
    pub tbytes: u64,
    pub fbytes: u64,
    pub abytes: u64,
    pub tfiles: u64,
    pub ffiles: u64,
    pub afiles: u64,
    pub invarsec: u32,
}

impl Encode for FsstatOk {
    fn encoded_len(&self) -> usize {
        self.obj_attributes.encoded_len() + 6 * 8 + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.obj_attributes.encode(w);
        w.u64(self.tbytes);
        w.u64(self.fbytes);
        w.u64(self.abytes);
        w.u64(self.tfiles);
        w.u64(self.ffiles);
        w.u64(self.afiles);
        w.u32(self.invarsec);
    }
}

impl<'a> Decode<'a> for FsstatOk {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(FsstatOk {
            obj_attributes: post_op_attr(r)?,
            tbytes: r.u64("FSSTAT3resok.tbytes")?,
            fbytes: r.u64("FSSTAT3resok.fbytes")?,
            abytes: r.u64("FSSTAT3resok.abytes")?,
            tfiles: r.u64("FSSTAT3resok.tfiles")?,
            ffiles: r.u64("FSSTAT3resok.ffiles")?,
            afiles: r.u64("FSSTAT3resok.afiles")?,
            invarsec: r.u32("FSSTAT3resok.invarsec")?,
        })
    }
}

/// FSINFO `properties` bits (RFC 1813 §3.3.19).
pub const FSF3_LINK: u32 = 0x0001;
pub const FSF3_SYMLINK: u32 = 0x0002;
pub const FSF3_HOMOGENEOUS: u32 = 0x0008;
pub const FSF3_CANSETTIME: u32 = 0x0010;

/// `FSINFO3args` (RFC 1813 §3.3.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsinfoArgs<'a> {
    pub fsroot: Fh<'a>,
}
xdr_struct!(FsinfoArgs<'a> { fsroot });

/// `FSINFO3resok` (RFC 1813 §3.3.19): the transfer sizes the client sizes its READ, WRITE and
/// READDIR requests (and so its buffer pools) from. The failure arm is the root's
/// [`PostOpAttr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsinfoOk {
    pub obj_attributes: PostOpAttr,
    pub rtmax: u32,
    pub rtpref: u32,
    pub rtmult: u32,
    pub wtmax: u32,
    pub wtpref: u32,
    pub wtmult: u32,
    pub dtpref: u32,
    pub maxfilesize: u64,
    pub time_delta: NfsTime3,
    /// A mask of `FSF3_*` bits.
    pub properties: u32,
}

impl Encode for FsinfoOk {
    fn encoded_len(&self) -> usize {
        self.obj_attributes.encoded_len() + 7 * 4 + 8 + 8 + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.obj_attributes.encode(w);
        w.u32(self.rtmax);
        w.u32(self.rtpref);
        w.u32(self.rtmult);
        w.u32(self.wtmax);
        w.u32(self.wtpref);
        w.u32(self.wtmult);
        w.u32(self.dtpref);
        w.u64(self.maxfilesize);
        self.time_delta.encode(w);
        w.u32(self.properties);
    }
}

impl<'a> Decode<'a> for FsinfoOk {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(FsinfoOk {
            obj_attributes: post_op_attr(r)?,
            rtmax: r.u32("FSINFO3resok.rtmax")?,
            rtpref: r.u32("FSINFO3resok.rtpref")?,
            rtmult: r.u32("FSINFO3resok.rtmult")?,
            wtmax: r.u32("FSINFO3resok.wtmax")?,
            wtpref: r.u32("FSINFO3resok.wtpref")?,
            wtmult: r.u32("FSINFO3resok.wtmult")?,
            dtpref: r.u32("FSINFO3resok.dtpref")?,
            maxfilesize: r.u64("FSINFO3resok.maxfilesize")?,
            time_delta: NfsTime3::decode(r)?,
            properties: r.u32("FSINFO3resok.properties")?,
        })
    }
}

/// `PATHCONF3args` (RFC 1813 §3.3.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathconfArgs<'a> {
    pub object: Fh<'a>,
}
xdr_struct!(PathconfArgs<'a> { object });

/// `PATHCONF3resok` (RFC 1813 §3.3.20): the POSIX `pathconf` values. The failure arm is the
/// object's [`PostOpAttr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathconfOk {
    pub obj_attributes: PostOpAttr,
    pub linkmax: u32,
    pub name_max: u32,
    pub no_trunc: bool,
    pub chown_restricted: bool,
    pub case_insensitive: bool,
    pub case_preserving: bool,
}

impl Encode for PathconfOk {
    fn encoded_len(&self) -> usize {
        self.obj_attributes.encoded_len() + 6 * 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.obj_attributes.encode(w);
        w.u32(self.linkmax);
        w.u32(self.name_max);
        w.bool(self.no_trunc);
        w.bool(self.chown_restricted);
        w.bool(self.case_insensitive);
        w.bool(self.case_preserving);
    }
}

impl<'a> Decode<'a> for PathconfOk {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(PathconfOk {
            obj_attributes: post_op_attr(r)?,
            linkmax: r.u32("PATHCONF3resok.linkmax")?,
            name_max: r.u32("PATHCONF3resok.name_max")?,
            no_trunc: r.bool("PATHCONF3resok.no_trunc")?,
            chown_restricted: r.bool("PATHCONF3resok.chown_restricted")?,
            case_insensitive: r.bool("PATHCONF3resok.case_insensitive")?,
            case_preserving: r.bool("PATHCONF3resok.case_preserving")?,
        })
    }
}
