//! Sans-IO codecs for the three ONC RPC programs an NFSv3 client speaks: the portmapper (to find
//! the ports), MOUNT v3 (to turn an export path into the root file handle) and NFS v3 itself.
//!
//! ```text
//!   client ──Args──▶ Encode ──▶ bytes ──▶ rpc (call header, record mark) ──▶ core (socket)
//!   client ◀──Result<Ok, Failed<Fail>>── Decode ◀── reply body ◀── rpc ◀── core
//! ```
//!
//! Everything here is pure: encoders append to a buffer the caller owns, decoders borrow names,
//! handles and file data from the reply buffer, and every length read from the wire is checked
//! against its protocol maximum and the bytes remaining before anything is sliced or allocated.

use crate::xdr::{Decode, DecodeError, Encode, Reader, Writer};

mod list;
pub mod mount;
pub mod nfs3;
pub mod portmap;

/// The portmapper, RFC 1833 §3 (program 100000, version 2).
pub const PORTMAP_PROGRAM: u32 = 100_000;
pub const PORTMAP_VERSION: u32 = 2;
/// MOUNT protocol version 3, RFC 1813 Appendix I.
pub const MOUNT_PROGRAM: u32 = 100_005;
pub const MOUNT_VERSION: u32 = 3;
/// NFS version 3, RFC 1813.
pub const NFS_PROGRAM: u32 = 100_003;
pub const NFS_VERSION: u32 = 3;

/// XDR `void`: the arguments of the NULL procedures and the failure arm of results whose
/// `resfail` carries nothing (GETATTR, MNT).
impl Encode for () {
    fn encoded_len(&self) -> usize {
        0
    }
    fn encode(&self, _: &mut Writer<'_>) {}
}

impl<'a> Decode<'a> for () {
    fn decode(_: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(())
    }
}
