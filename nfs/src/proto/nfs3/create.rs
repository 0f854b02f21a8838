//! Procedures that make a new name: CREATE, MKDIR, SYMLINK, MKNOD (RFC 1813 §3.3.8–3.3.11).

use super::attr::{post_op_attr, post_op_fh, PostOpAttr, PostOpFh, Sattr3, WccData};
use super::types::{nfspath, verf8, CreateVerf, DirOpArgs, Ftype3, SpecData3};
use crate::xdr::{opaque_len, Decode, DecodeError, Encode, Reader, Writer};

/// `createhow3` (RFC 1813 §3.3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateHow {
    /// Create, or open an existing file and apply the attributes.
    Unchecked(Sattr3),
    /// Fail with NFS3ERR_EXIST if the name exists.
    Guarded(Sattr3),
    /// Exclusive create keyed by a verifier the server stores, so a retransmitted CREATE finds
    /// its own file instead of failing; the client sets attributes with SETATTR afterwards.
    Exclusive(CreateVerf),
}

impl Encode for CreateHow {
    fn encoded_len(&self) -> usize {
        4 + match self {
            CreateHow::Unchecked(a) | CreateHow::Guarded(a) => a.encoded_len(),
            CreateHow::Exclusive(v) => v.len(),
        }
    }
    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            CreateHow::Unchecked(a) => {
                w.u32(0);
                a.encode(w);
            }
            CreateHow::Guarded(a) => {
                w.u32(1);
                a.encode(w);
            }
            CreateHow::Exclusive(v) => {
                w.u32(2);
                w.opaque_fixed(v);
            }
        }
    }
}

impl<'a> Decode<'a> for CreateHow {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match r.u32("createmode3")? {
            0 => CreateHow::Unchecked(Sattr3::decode(r)?),
            1 => CreateHow::Guarded(Sattr3::decode(r)?),
            2 => CreateHow::Exclusive(verf8(r, "createverf3")?),
            value => return Err(DecodeError::UnknownDiscriminant { field: "createmode3", value }),
        })
    }
}

/// `CREATE3args` (RFC 1813 §3.3.8). `where_` because `where` is a Rust keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateArgs<'a> {
    pub where_: DirOpArgs<'a>,
    pub how: CreateHow,
}
xdr_struct!(CreateArgs<'a> { where_, how });

/// The success body shared by CREATE, MKDIR, SYMLINK and MKNOD (`CREATE3resok`, `MKDIR3resok`,
/// `SYMLINK3resok`, `MKNOD3resok`, RFC 1813 §3.3.8–3.3.11). Their failure arm is the
/// directory's [`WccData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewObjOk<'a> {
    pub obj: PostOpFh<'a>,
    pub obj_attributes: PostOpAttr,
    pub dir_wcc: WccData,
}
xdr_struct!(NewObjOk<'a> {
    obj = post_op_fh,
    obj_attributes = post_op_attr,
    dir_wcc,
});

/// `CREATE3resok` (RFC 1813 §3.3.8).
pub type CreateOk<'a> = NewObjOk<'a>;

/// `MKDIR3args` (RFC 1813 §3.3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MkdirArgs<'a> {
    pub where_: DirOpArgs<'a>,
    pub attributes: Sattr3,
}
xdr_struct!(MkdirArgs<'a> { where_, attributes });

/// `SYMLINK3args` (RFC 1813 §3.3.10): `symlink_data` is the link target, an `nfspath3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymlinkArgs<'a> {
    pub where_: DirOpArgs<'a>,
    pub symlink_attributes: Sattr3,
    pub symlink_data: &'a [u8],
}

impl Encode for SymlinkArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.where_.encoded_len()
            + self.symlink_attributes.encoded_len()
            + opaque_len(self.symlink_data.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.where_.encode(w);
        self.symlink_attributes.encode(w);
        w.opaque(self.symlink_data);
    }
}

impl<'a> Decode<'a> for SymlinkArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SymlinkArgs {
            where_: DirOpArgs::decode(r)?,
            symlink_attributes: Sattr3::decode(r)?,
            symlink_data: nfspath(r)?,
        })
    }
}

/// `mknoddata3` (RFC 1813 §3.3.11): the special file to make. The RFC's union also admits
/// regular files, directories and symlinks with an empty body (for the server to refuse with
/// NFS3ERR_BADTYPE); those have their own procedures, so here they are unrepresentable and
/// rejected on decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MknodData {
    Chr(Sattr3, SpecData3),
    Blk(Sattr3, SpecData3),
    Sock(Sattr3),
    Fifo(Sattr3),
}

impl MknodData {
    fn ftype(&self) -> Ftype3 {
        match self {
            MknodData::Chr(..) => Ftype3::Chr,
            MknodData::Blk(..) => Ftype3::Blk,
            MknodData::Sock(_) => Ftype3::Sock,
            MknodData::Fifo(_) => Ftype3::Fifo,
        }
    }
}

impl Encode for MknodData {
    fn encoded_len(&self) -> usize {
        4 + match self {
            MknodData::Chr(a, d) | MknodData::Blk(a, d) => a.encoded_len() + d.encoded_len(),
            MknodData::Sock(a) | MknodData::Fifo(a) => a.encoded_len(),
        }
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.ftype().encode(w);
        match self {
            MknodData::Chr(a, d) | MknodData::Blk(a, d) => {
                a.encode(w);
                d.encode(w);
            }
            MknodData::Sock(a) | MknodData::Fifo(a) => a.encode(w),
        }
    }
}

impl<'a> Decode<'a> for MknodData {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match Ftype3::decode_field(r, "mknoddata3.type")? {
            Ftype3::Chr => MknodData::Chr(Sattr3::decode(r)?, SpecData3::decode(r)?),
            Ftype3::Blk => MknodData::Blk(Sattr3::decode(r)?, SpecData3::decode(r)?),
            Ftype3::Sock => MknodData::Sock(Sattr3::decode(r)?),
            Ftype3::Fifo => MknodData::Fifo(Sattr3::decode(r)?),
            Ftype3::Reg | Ftype3::Dir | Ftype3::Lnk => {
                return Err(DecodeError::Invalid {
                    field: "mknoddata3.type",
                    reason: "MKNOD makes only character, block, socket and FIFO files",
                })
            }
        })
    }
}

/// `MKNOD3args` (RFC 1813 §3.3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MknodArgs<'a> {
    pub where_: DirOpArgs<'a>,
    pub what: MknodData,
}
xdr_struct!(MknodArgs<'a> { where_, what });
