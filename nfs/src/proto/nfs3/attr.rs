//! File attributes: `fattr3`, the weak cache consistency data that brackets a change, and the
//! settable attributes `sattr3` (RFC 1813 §2.5–2.6).

use super::types::{optional, Fh, Ftype3, NfsTime3, SpecData3};
use crate::xdr::{Decode, DecodeError, Encode, Reader, Writer};

/// `fattr3` (RFC 1813 §2.6): the attributes of a file system object. 84 bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fattr3 {
    pub ftype: Ftype3,
    /// Permission and set-id bits (the low 12 bits of a POSIX mode; no file type bits).
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Bytes of disk space the file actually uses.
    pub used: u64,
    pub rdev: SpecData3,
    pub fsid: u64,
    pub fileid: u64,
    pub atime: NfsTime3,
    pub mtime: NfsTime3,
    pub ctime: NfsTime3,
}

impl Fattr3 {
    const LEN: usize = 84;
}

impl Encode for Fattr3 {
    fn encoded_len(&self) -> usize {
        Self::LEN
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.ftype.encode(w);
        w.u32(self.mode);
        w.u32(self.nlink);
        w.u32(self.uid);
        w.u32(self.gid);
        w.u64(self.size);
        w.u64(self.used);
        self.rdev.encode(w);
        w.u64(self.fsid);
        w.u64(self.fileid);
        self.atime.encode(w);
        self.mtime.encode(w);
        self.ctime.encode(w);
    }
}

impl<'a> Decode<'a> for Fattr3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Fattr3 {
            ftype: Ftype3::decode_field(r, "fattr3.type")?,
            mode: r.u32("fattr3.mode")?,
            nlink: r.u32("fattr3.nlink")?,
            uid: r.u32("fattr3.uid")?,
            gid: r.u32("fattr3.gid")?,
            size: r.u64("fattr3.size")?,
            used: r.u64("fattr3.used")?,
            rdev: SpecData3::decode(r)?,
            fsid: r.u64("fattr3.fsid")?,
            fileid: r.u64("fattr3.fileid")?,
            atime: NfsTime3::decode(r)?,
            mtime: NfsTime3::decode(r)?,
            ctime: NfsTime3::decode(r)?,
        })
    }
}

/// `post_op_attr` (RFC 1813 §2.6): attributes the server may return after an operation.
pub type PostOpAttr = Option<Fattr3>;

/// `wcc_attr` (RFC 1813 §2.6): the subset of attributes taken before an operation, so the
/// client can tell whether anyone else changed the object in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WccAttr {
    pub size: u64,
    pub mtime: NfsTime3,
    pub ctime: NfsTime3,
}

impl Encode for WccAttr {
    fn encoded_len(&self) -> usize {
        24
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u64(self.size);
        self.mtime.encode(w);
        self.ctime.encode(w);
    }
}

impl<'a> Decode<'a> for WccAttr {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(WccAttr {
            size: r.u64("wcc_attr.size")?,
            mtime: NfsTime3::decode(r)?,
            ctime: NfsTime3::decode(r)?,
        })
    }
}

/// `pre_op_attr` (RFC 1813 §2.6).
pub type PreOpAttr = Option<WccAttr>;

/// `wcc_data` (RFC 1813 §2.6): attributes before and after a modifying operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WccData {
    pub before: PreOpAttr,
    pub after: PostOpAttr,
}

impl Encode for WccData {
    fn encoded_len(&self) -> usize {
        self.before.encoded_len() + self.after.encoded_len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.before.encode(w);
        self.after.encode(w);
    }
}

impl<'a> Decode<'a> for WccData {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(WccData { before: optional(r, "pre_op_attr.attributes_follow")?, after: post_op_attr(r)? })
    }
}

/// `post_op_fh3` (RFC 1813 §2.6): the handle of a newly created object, which the server may
/// omit (the client then looks the name up).
pub type PostOpFh<'a> = Option<Fh<'a>>;

pub(super) fn post_op_attr(r: &mut Reader<'_>) -> Result<PostOpAttr, DecodeError> {
    optional(r, "post_op_attr.attributes_follow")
}

pub(super) fn post_op_fh<'a>(r: &mut Reader<'a>) -> Result<PostOpFh<'a>, DecodeError> {
    optional(r, "post_op_fh3.handle_follows")
}

/// `time_how` with its value: `set_atime` / `set_mtime` in `sattr3` (RFC 1813 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SetTime {
    #[default]
    DontChange,
    /// Set to the server's current time (what `touch` wants, immune to client clock skew).
    ServerTime,
    ClientTime(NfsTime3),
}

impl Encode for SetTime {
    fn encoded_len(&self) -> usize {
        match self {
            SetTime::ClientTime(t) => 4 + t.encoded_len(),
            SetTime::DontChange | SetTime::ServerTime => 4,
        }
    }
    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            SetTime::DontChange => w.u32(0),
            SetTime::ServerTime => w.u32(1),
            SetTime::ClientTime(t) => {
                w.u32(2);
                t.encode(w);
            }
        }
    }
}

impl<'a> Decode<'a> for SetTime {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match r.u32("time_how")? {
            0 => SetTime::DontChange,
            1 => SetTime::ServerTime,
            2 => SetTime::ClientTime(NfsTime3::decode(r)?),
            value => return Err(DecodeError::UnknownDiscriminant { field: "time_how", value }),
        })
    }
}

/// `sattr3` (RFC 1813 §2.6): the attributes SETATTR, CREATE, MKDIR, SYMLINK and MKNOD set;
/// `None` / [`SetTime::DontChange`] leaves one alone. `Default` sets nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sattr3 {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: SetTime,
    pub mtime: SetTime,
}

impl Encode for Sattr3 {
    fn encoded_len(&self) -> usize {
        self.mode.encoded_len()
            + self.uid.encoded_len()
            + self.gid.encoded_len()
            + self.size.encoded_len()
            + self.atime.encoded_len()
            + self.mtime.encoded_len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.mode.encode(w);
        self.uid.encode(w);
        self.gid.encode(w);
        self.size.encode(w);
        self.atime.encode(w);
        self.mtime.encode(w);
    }
}

impl<'a> Decode<'a> for Sattr3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Sattr3 {
            mode: optional(r, "set_mode3.set_it")?,
            uid: optional(r, "set_uid3.set_it")?,
            gid: optional(r, "set_gid3.set_it")?,
            size: optional(r, "set_size3.set_it")?,
            atime: SetTime::decode(r)?,
            mtime: SetTime::decode(r)?,
        })
    }
}
