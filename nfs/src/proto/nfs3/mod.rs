//! NFS version 3 (RFC 1813): argument and result codecs for all 22 procedures.
//!
//! Each procedure is a zero-sized marker type implementing [`Procedure`], which names its
//! number and its argument, success and failure types. A call encodes `P::Args`; a reply body
//! decodes as [`Reply<P>`], i.e. `Result<P::Ok, Failed<P::Fail>>`, because every NFSv3 result is
//! `switch (nfsstat3 status) { case NFS3_OK: resok; default: resfail; }` (RFC 1813 §3.3).
//!
//! ```text
//!   P::Args<'a> ──encode──▶ call body
//!   reply body  ──decode──▶ Result<P::Ok<'a>, Failed<P::Fail<'a>>>
//!                           (names, handles and data borrow the reply buffer)
//! ```
//!
//! Both directions are implemented for every type (arguments decode, results encode) so a test
//! server and the fuzzers can use the same codec. Decoding enforces the budgets below; encoding
//! trusts the caller, who builds arguments from its own, already bounded values.

/// Implements `Encode` and `Decode` for a struct that is an XDR sequence of its fields in
/// declaration order (RFC 4506 §4.14), so the three never disagree about the order. A field
/// decodes with its type's `Decode`, or with `field = function` where an optional's
/// discriminant deserves a precise name in errors (`post_op_attr.attributes_follow` rather than
/// the generic "optional").
macro_rules! xdr_struct {
    ($name:ident<$lt:lifetime> { $($field:ident $(= $decode:path)?),+ $(,)? }) => {
        impl $crate::xdr::Encode for $name<'_> {
            fn encoded_len(&self) -> usize {
                0 $(+ $crate::xdr::Encode::encoded_len(&self.$field))+
            }
            fn encode(&self, w: &mut $crate::xdr::Writer<'_>) {
                $($crate::xdr::Encode::encode(&self.$field, w);)+
            }
        }
        impl<$lt> $crate::xdr::Decode<$lt> for $name<$lt> {
            fn decode(
                r: &mut $crate::xdr::Reader<$lt>,
            ) -> Result<Self, $crate::xdr::DecodeError> {
                Ok($name { $($field: xdr_field!(r $(, $decode)?),)+ })
            }
        }
    };
    ($name:ident { $($field:ident $(= $decode:path)?),+ $(,)? }) => {
        impl $crate::xdr::Encode for $name {
            fn encoded_len(&self) -> usize {
                0 $(+ $crate::xdr::Encode::encoded_len(&self.$field))+
            }
            fn encode(&self, w: &mut $crate::xdr::Writer<'_>) {
                $($crate::xdr::Encode::encode(&self.$field, w);)+
            }
        }
        impl<'a> $crate::xdr::Decode<'a> for $name {
            fn decode(r: &mut $crate::xdr::Reader<'a>) -> Result<Self, $crate::xdr::DecodeError> {
                Ok($name { $($field: xdr_field!(r $(, $decode)?),)+ })
            }
        }
    };
}

/// One field of [`xdr_struct!`]: the type's own decoder, or the named function.
macro_rules! xdr_field {
    ($r:ident) => {
        $crate::xdr::Decode::decode($r)?
    };
    ($r:ident, $decode:path) => {
        $decode($r)?
    };
}

mod attr;
mod create;
mod dir;
mod inspect;
mod io;
mod names;
mod status;
mod types;

pub use attr::{Fattr3, PostOpAttr, PostOpFh, PreOpAttr, Sattr3, SetTime, WccAttr, WccData};
pub use create::{CreateArgs, CreateHow, CreateOk, MkdirArgs, MknodArgs, MknodData, NewObjOk, SymlinkArgs};
pub use dir::{DirEntry, DirEntryPlus, ReaddirArgs, ReaddirOk, ReaddirplusArgs, ReaddirplusOk};
pub use inspect::{
    AccessArgs, AccessOk, FsinfoArgs, FsinfoOk, FsstatArgs, FsstatOk, GetattrArgs, GetattrOk, PathconfArgs,
    PathconfOk, SetattrArgs, SetattrOk, ACCESS3_DELETE, ACCESS3_EXECUTE, ACCESS3_EXTEND, ACCESS3_LOOKUP,
    ACCESS3_MODIFY, ACCESS3_READ, FSF3_CANSETTIME, FSF3_HOMOGENEOUS, FSF3_LINK, FSF3_SYMLINK,
};
pub use io::{CommitArgs, CommitOk, ReadArgs, ReadOk, ReadOkHead, WriteArgs, WriteOk};
pub use names::{
    LinkArgs, LinkOk, LookupArgs, LookupOk, ReadlinkArgs, ReadlinkOk, RemoveArgs, RemoveOk, RenameArgs,
    RenameOk, RmdirArgs, RmdirOk,
};
pub use status::{Failed, Nfsstat3};
pub use types::{
    CookieVerf, CreateVerf, DirOpArgs, Fh, FileHandle, Ftype3, NfsTime3, SpecData3, StableHow, WriteVerf,
};

use crate::xdr::{Decode, Encode};

/// Maximum size of a file handle (RFC 1813 §2.4).
pub const NFS3_FHSIZE: usize = 64;
/// Size of a READDIR cookie verifier (RFC 1813 §2.4).
pub const NFS3_COOKIEVERFSIZE: usize = 8;
/// Size of an exclusive-create verifier (RFC 1813 §2.4).
pub const NFS3_CREATEVERFSIZE: usize = 8;
/// Size of a WRITE/COMMIT verifier (RFC 1813 §2.4).
pub const NFS3_WRITEVERFSIZE: usize = 8;
/// Decode budget for `filename3`, which RFC 1813 leaves unbounded: NAME_MAX on every server
/// file system we know of, and what PATHCONF's `name_max` reports in practice.
pub const MAX_NAME_LEN: usize = 255;
/// Decode budget for `nfspath3` (symlink targets): PATH_MAX.
pub const MAX_PATH_LEN: usize = 4096;
/// Decode budget for READ and WRITE data: far above any server's rtmax/wtmax (Linux: 1 MiB),
/// low enough that a corrupt length cannot claim gigabytes.
pub const MAX_DATA_LEN: usize = 64 << 20;
/// Cap on the entries of one READDIR or READDIRPLUS reply. A reply is bounded by the client's
/// `count`/`maxcount` anyway; this bounds the entry vector even if the reply buffer is huge.
pub const MAX_DIR_ENTRIES: usize = 65536;

/// An NFSv3 procedure (RFC 1813 §3.3): its number, its name for logs, and its codec types.
pub trait Procedure {
    const NUMBER: u32;
    /// The RFC name, e.g. `"LOOKUP"`.
    const NAME: &'static str;
    type Args<'a>: Encode + Decode<'a>;
    type Ok<'a>: Encode + Decode<'a>;
    type Fail<'a>: Encode + Decode<'a>;
}

/// The decoded body of a successful RPC reply to procedure `P`.
pub type Reply<'a, P> = Result<<P as Procedure>::Ok<'a>, Failed<<P as Procedure>::Fail<'a>>>;

/// NFSPROC3_NULL (RFC 1813 §3.3.0), the ping: no arguments and an empty reply.
///
/// Deliberately not a [`Procedure`]: its reply has no `nfsstat3`, so decoding it as a
/// [`Reply`] would read a status word that is not there. The client sends an empty body and
/// expects an empty reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Null;

impl Null {
    pub const NUMBER: u32 = 0;
    pub const NAME: &'static str = "NULL";
}

macro_rules! procedures {
    ($($marker:ident = $number:literal, $name:literal, $args:ty, $ok:ty, $fail:ty;)+) => {
        $(
            #[doc = concat!("NFSPROC3_", $name, " (RFC 1813 §3.3.", $number, ").")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $marker;

            impl Procedure for $marker {
                const NUMBER: u32 = $number;
                const NAME: &'static str = $name;
                type Args<'a> = $args;
                type Ok<'a> = $ok;
                type Fail<'a> = $fail;
            }
        )+
    };
}

procedures! {
    Getattr = 1, "GETATTR", GetattrArgs<'a>, GetattrOk, ();
    Setattr = 2, "SETATTR", SetattrArgs<'a>, SetattrOk, WccData;
    Lookup = 3, "LOOKUP", LookupArgs<'a>, LookupOk<'a>, PostOpAttr;
    Access = 4, "ACCESS", AccessArgs<'a>, AccessOk, PostOpAttr;
    Readlink = 5, "READLINK", ReadlinkArgs<'a>, ReadlinkOk<'a>, PostOpAttr;
    Read = 6, "READ", ReadArgs<'a>, ReadOk<'a>, PostOpAttr;
    Write = 7, "WRITE", WriteArgs<'a>, WriteOk, WccData;
    Create = 8, "CREATE", CreateArgs<'a>, NewObjOk<'a>, WccData;
    Mkdir = 9, "MKDIR", MkdirArgs<'a>, NewObjOk<'a>, WccData;
    Symlink = 10, "SYMLINK", SymlinkArgs<'a>, NewObjOk<'a>, WccData;
    Mknod = 11, "MKNOD", MknodArgs<'a>, NewObjOk<'a>, WccData;
    Remove = 12, "REMOVE", RemoveArgs<'a>, RemoveOk, WccData;
    Rmdir = 13, "RMDIR", RmdirArgs<'a>, RmdirOk, WccData;
    Rename = 14, "RENAME", RenameArgs<'a>, RenameOk, RenameOk;
    Link = 15, "LINK", LinkArgs<'a>, LinkOk, LinkOk;
    Readdir = 16, "READDIR", ReaddirArgs<'a>, ReaddirOk<'a>, PostOpAttr;
    Readdirplus = 17, "READDIRPLUS", ReaddirplusArgs<'a>, ReaddirplusOk<'a>, PostOpAttr;
    Fsstat = 18, "FSSTAT", FsstatArgs<'a>, FsstatOk, PostOpAttr;
    Fsinfo = 19, "FSINFO", FsinfoArgs<'a>, FsinfoOk, PostOpAttr;
    Pathconf = 20, "PATHCONF", PathconfArgs<'a>, PathconfOk, PostOpAttr;
    Commit = 21, "COMMIT", CommitArgs<'a>, CommitOk, WccData;
}

#[cfg(test)]
mod tests;
