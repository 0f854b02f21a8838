//! Basic NFSv3 data types (RFC 1813 §2.5–2.6) shared by every procedure.

use std::fmt;

use super::{
    MAX_NAME_LEN, MAX_PATH_LEN, NFS3_COOKIEVERFSIZE, NFS3_CREATEVERFSIZE, NFS3_FHSIZE, NFS3_WRITEVERFSIZE,
};
use crate::xdr::{opaque_len, Decode, DecodeError, Encode, Reader, Writer};

/// A borrowed NFSv3 file handle, `nfs_fh3` (RFC 1813 §2.5): opaque to the client, at most
/// [`NFS3_FHSIZE`] bytes. Decoding borrows it from the reply, so a LOOKUP or READDIRPLUS reply
/// hands out handles without copying; [`Fh::to_owned`] keeps one past the reply buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fh<'a>(&'a [u8]);

impl<'a> Fh<'a> {
    /// Rejects handles longer than [`NFS3_FHSIZE`] and empty ones: RFC 1813 allows a zero-length
    /// `nfs_fh3` syntactically, but no server issues one, and accepting it would let a broken
    /// reply pass an "absent" handle off as a real one.
    pub fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        check_fh_len(bytes.len())?;
        Ok(Fh(bytes))
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Copies the handle into an owned, heap-free [`FileHandle`].
    pub fn to_owned(&self) -> FileHandle {
        // `Fh::new` bounds the length by NFS3_FHSIZE, so the zip copies every byte.
        let mut bytes = [0u8; NFS3_FHSIZE];
        bytes.iter_mut().zip(self.0).for_each(|(d, s)| *d = *s);
        FileHandle { len: self.0.len() as u8, bytes }
    }
}

fn check_fh_len(len: usize) -> Result<(), DecodeError> {
    if len > NFS3_FHSIZE {
        return Err(DecodeError::TooLong { field: "nfs_fh3", len: len as u64, max: NFS3_FHSIZE as u64 });
    }
    if len == 0 {
        return Err(DecodeError::Invalid { field: "nfs_fh3", reason: "file handle is empty" });
    }
    Ok(())
}

impl fmt::Debug for Fh<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fh({})", Hex(self.0))
    }
}

impl Encode for Fh<'_> {
    fn encoded_len(&self) -> usize {
        opaque_len(self.0.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.opaque(self.0);
    }
}

impl<'a> Decode<'a> for Fh<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Fh::new(r.opaque(NFS3_FHSIZE, "nfs_fh3")?)
    }
}

/// An owned file handle that lives inline (no heap), for caches and tables that outlive the
/// reply buffer. Bytes past `len` are always zero, so the derived `Eq` and `Hash` are exact.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileHandle {
    len: u8,
    bytes: [u8; NFS3_FHSIZE],
}

impl FileHandle {
    /// Same rules as [`Fh::new`]: 1 to [`NFS3_FHSIZE`] bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Fh::new(bytes)?.to_owned())
    }

    pub fn as_fh(&self) -> Fh<'_> {
        Fh(self.as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8] {
        // `len` is at most NFS3_FHSIZE by construction, so `get` always succeeds.
        self.bytes.get(..usize::from(self.len)).unwrap_or(&self.bytes)
    }
}

impl From<Fh<'_>> for FileHandle {
    fn from(fh: Fh<'_>) -> Self {
        fh.to_owned()
    }
}

impl fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileHandle({})", Hex(self.as_bytes()))
    }
}

/// Lower-case hex, the form in which servers log and Wireshark shows file handles.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// File type, `ftype3` (RFC 1813 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Ftype3 {
    Reg = 1,
    Dir = 2,
    Blk = 3,
    Chr = 4,
    Lnk = 5,
    Sock = 6,
    Fifo = 7,
}

impl Ftype3 {
    pub(super) fn decode_field(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(match r.u32(field)? {
            1 => Ftype3::Reg,
            2 => Ftype3::Dir,
            3 => Ftype3::Blk,
            4 => Ftype3::Chr,
            5 => Ftype3::Lnk,
            6 => Ftype3::Sock,
            7 => Ftype3::Fifo,
            value => return Err(DecodeError::UnknownDiscriminant { field, value }),
        })
    }
}

impl Encode for Ftype3 {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(*self as u32);
    }
}

impl<'a> Decode<'a> for Ftype3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ftype3::decode_field(r, "ftype3")
    }
}

/// `nfstime3` (RFC 1813 §2.5): seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NfsTime3 {
    pub seconds: u32,
    pub nseconds: u32,
}

impl Encode for NfsTime3 {
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.seconds);
        w.u32(self.nseconds);
    }
}

impl<'a> Decode<'a> for NfsTime3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let seconds = r.u32("nfstime3.seconds")?;
        let nseconds = r.u32("nfstime3.nseconds")?;
        // A nanosecond count of a second or more is not a time; passing it on would make every
        // consumer that converts to `Duration` or `timespec` handle the overflow.
        if nseconds >= 1_000_000_000 {
            return Err(DecodeError::Invalid {
                field: "nfstime3.nseconds",
                reason: "must be less than 1000000000",
            });
        }
        Ok(NfsTime3 { seconds, nseconds })
    }
}

/// `specdata3` (RFC 1813 §2.5): device numbers of a block or character special file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpecData3 {
    pub major: u32,
    pub minor: u32,
}

impl Encode for SpecData3 {
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.major);
        w.u32(self.minor);
    }
}

impl<'a> Decode<'a> for SpecData3 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SpecData3 { major: r.u32("specdata3.specdata1")?, minor: r.u32("specdata3.specdata2")? })
    }
}

/// `diropargs3` (RFC 1813 §3.3.3): a name in a directory. The name is `filename3`, bounded by
/// [`MAX_NAME_LEN`] on decode; encoding sends whatever the caller gives and leaves a too-long
/// name for the server to refuse with NFS3ERR_NAMETOOLONG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirOpArgs<'a> {
    pub dir: Fh<'a>,
    pub name: &'a [u8],
}

impl Encode for DirOpArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.dir.encoded_len() + opaque_len(self.name.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.dir.encode(w);
        w.opaque(self.name);
    }
}

impl<'a> Decode<'a> for DirOpArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(DirOpArgs { dir: Fh::decode(r)?, name: filename(r)? })
    }
}

/// `stable_how` (RFC 1813 §3.3.7): how durable a WRITE must be before the server replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum StableHow {
    Unstable = 0,
    DataSync = 1,
    FileSync = 2,
}

impl Encode for StableHow {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(*self as u32);
    }
}

impl<'a> Decode<'a> for StableHow {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match r.u32("stable_how")? {
            0 => StableHow::Unstable,
            1 => StableHow::DataSync,
            2 => StableHow::FileSync,
            value => return Err(DecodeError::UnknownDiscriminant { field: "stable_how", value }),
        })
    }
}

/// `filename3`: RFC 1813 leaves it unbounded; [`MAX_NAME_LEN`] is the budget.
pub(super) fn filename<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    r.opaque(MAX_NAME_LEN, "filename3")
}

/// `nfspath3`: RFC 1813 leaves it unbounded; [`MAX_PATH_LEN`] is the budget.
pub(super) fn nfspath<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    r.opaque(MAX_PATH_LEN, "nfspath3")
}

/// `cookieverf3` (RFC 1813 §2.5): identifies the directory version READDIR cookies belong to.
pub type CookieVerf = [u8; NFS3_COOKIEVERFSIZE];
/// `createverf3` (RFC 1813 §2.5): makes an exclusive CREATE idempotent across retransmission.
pub type CreateVerf = [u8; NFS3_CREATEVERFSIZE];
/// `writeverf3` (RFC 1813 §2.5): changes when the server reboots, telling the client that
/// unstable writes it has not committed were lost and must be sent again.
pub type WriteVerf = [u8; NFS3_WRITEVERFSIZE];

/// The 8-byte verifiers (`cookieverf3`, `createverf3`, `writeverf3`), fixed-length opaques.
pub(super) fn verf8(r: &mut Reader<'_>, field: &'static str) -> Result<[u8; 8], DecodeError> {
    r.opaque_fixed(8, field)?
        .try_into()
        .map_err(|_| DecodeError::Invalid { field, reason: "verifier is not 8 bytes" })
}

/// An XDR optional (`bool` discriminant, then the value) whose discriminant error names `field`
/// rather than the generic `Option` decoder's "optional".
pub(super) fn optional<'a, T: Decode<'a>>(
    r: &mut Reader<'a>,
    field: &'static str,
) -> Result<Option<T>, DecodeError> {
    if r.bool(field)? {
        T::decode(r).map(Some)
    } else {
        Ok(None)
    }
}
