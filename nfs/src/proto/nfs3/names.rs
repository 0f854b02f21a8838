//! Procedures on names in a directory: LOOKUP, READLINK, REMOVE, RMDIR, RENAME, LINK
//! (RFC 1813 §3.3.3, §3.3.5, §3.3.12–3.3.15).

use super::attr::{post_op_attr, PostOpAttr, WccData};
use super::types::{nfspath, DirOpArgs, Fh};
use crate::xdr::{opaque_len, Decode, DecodeError, Encode, Reader, Writer};

/// `LOOKUP3args` (RFC 1813 §3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupArgs<'a> {
    pub what: DirOpArgs<'a>,
}
xdr_struct!(LookupArgs<'a> { what });

/// `LOOKUP3resok` (RFC 1813 §3.3.3). The failure arm is the directory's [`PostOpAttr`], worth
/// caching: a negative lookup still tells the client the directory's current mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupOk<'a> {
    pub object: Fh<'a>,
    pub obj_attributes: PostOpAttr,
    pub dir_attributes: PostOpAttr,
}
xdr_struct!(LookupOk<'a> {
    object,
    obj_attributes = post_op_attr,
    dir_attributes = post_op_attr,
});

/// `READLINK3args` (RFC 1813 §3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadlinkArgs<'a> {
    pub symlink: Fh<'a>,
}
xdr_struct!(ReadlinkArgs<'a> { symlink });

/// `READLINK3resok` (RFC 1813 §3.3.5): `data` is the link target, an `nfspath3` borrowed from
/// the reply. The failure arm is the link's [`PostOpAttr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadlinkOk<'a> {
    pub symlink_attributes: PostOpAttr,
    pub data: &'a [u8],
}

impl Encode for ReadlinkOk<'_> {
    fn encoded_len(&self) -> usize {
        self.symlink_attributes.encoded_len() + opaque_len(self.data.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.symlink_attributes.encode(w);
        w.opaque(self.data);
    }
}

impl<'a> Decode<'a> for ReadlinkOk<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReadlinkOk { symlink_attributes: post_op_attr(r)?, data: nfspath(r)? })
    }
}

/// `REMOVE3args` (RFC 1813 §3.3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveArgs<'a> {
    pub object: DirOpArgs<'a>,
}
xdr_struct!(RemoveArgs<'a> { object });

/// `REMOVE3resok` (RFC 1813 §3.3.12); the failure arm is the same directory [`WccData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveOk {
    pub dir_wcc: WccData,
}
xdr_struct!(RemoveOk { dir_wcc });

/// `RMDIR3args` (RFC 1813 §3.3.13) has the same shape as `REMOVE3args`.
pub type RmdirArgs<'a> = RemoveArgs<'a>;
/// `RMDIR3resok` (RFC 1813 §3.3.13) has the same shape as `REMOVE3resok`.
pub type RmdirOk = RemoveOk;

/// `RENAME3args` (RFC 1813 §3.3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenameArgs<'a> {
    pub from: DirOpArgs<'a>,
    pub to: DirOpArgs<'a>,
}
xdr_struct!(RenameArgs<'a> { from, to });

/// `RENAME3resok` (RFC 1813 §3.3.14); `RENAME3resfail` has the same shape, so it is the failure
/// arm too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenameOk {
    pub fromdir_wcc: WccData,
    pub todir_wcc: WccData,
}
xdr_struct!(RenameOk { fromdir_wcc, todir_wcc });

/// `LINK3args` (RFC 1813 §3.3.15): make `link` a new name for `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkArgs<'a> {
    pub file: Fh<'a>,
    pub link: DirOpArgs<'a>,
}
xdr_struct!(LinkArgs<'a> { file, link });

/// `LINK3resok` (RFC 1813 §3.3.15); `LINK3resfail` has the same shape, so it is the failure arm
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOk {
    pub file_attributes: PostOpAttr,
    pub linkdir_wcc: WccData,
}
xdr_struct!(LinkOk {
    file_attributes = post_op_attr,
    linkdir_wcc,
});
