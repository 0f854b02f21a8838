//! File data: READ, WRITE, COMMIT (RFC 1813 §3.3.6, §3.3.7, §3.3.21).

use super::attr::{post_op_attr, PostOpAttr, WccData};
use super::types::{verf8, Fh, StableHow, WriteVerf};
use super::MAX_DATA_LEN;
use crate::xdr::{opaque_len, pad_len, Decode, DecodeError, Encode, Reader, Writer};

/// `READ3args` (RFC 1813 §3.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadArgs<'a> {
    pub file: Fh<'a>,
    pub offset: u64,
    pub count: u32,
}

impl Encode for ReadArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.file.encoded_len() + 8 + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.file.encode(w);
        w.u64(self.offset);
        w.u32(self.count);
    }
}

impl<'a> Decode<'a> for ReadArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReadArgs {
            file: Fh::decode(r)?,
            offset: r.u64("READ3args.offset")?,
            count: r.u32("READ3args.count")?,
        })
    }
}

/// `READ3resok` (RFC 1813 §3.3.6): `data` is borrowed from the reply buffer. The failure arm is
/// the file's [`PostOpAttr`].
///
/// `count` and the length of `data` say the same thing twice; a reply where they differ is
/// rejected rather than trusting either one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOk<'a> {
    pub file_attributes: PostOpAttr,
    pub count: u32,
    pub eof: bool,
    pub data: &'a [u8],
}

impl Encode for ReadOk<'_> {
    fn encoded_len(&self) -> usize {
        self.file_attributes.encoded_len() + 4 + 4 + opaque_len(self.data.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.file_attributes.encode(w);
        w.u32(self.count);
        w.bool(self.eof);
        w.opaque(self.data);
    }
}

impl<'a> Decode<'a> for ReadOk<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let ReadOkHead { file_attributes, count, eof, data_len } = ReadOkHead::decode(r)?;
        let data = r.opaque_fixed(data_len, "READ3resok.data")?;
        Ok(ReadOk { file_attributes, count, eof, data })
    }
}

/// `READ3resok` up to its data, which is `data_len` bytes (plus padding) long: all of a reply
/// whose data the transport read straight into the caller's memory (`File::read_into`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOkHead {
    pub file_attributes: PostOpAttr,
    pub count: u32,
    pub eof: bool,
    pub data_len: usize,
}

impl<'a> Decode<'a> for ReadOkHead {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let file_attributes = post_op_attr(r)?;
        let count = r.u32("READ3resok.count")?;
        let eof = r.bool("READ3resok.eof")?;
        let data_len = r.opaque_len(MAX_DATA_LEN, "READ3resok.data")?;
        check_count(count, data_len, "READ3resok.count")?;
        Ok(ReadOkHead { file_attributes, count, eof, data_len })
    }
}

fn check_count(count: u32, data_len: usize, field: &'static str) -> Result<(), DecodeError> {
    if u64::from(count) == data_len as u64 {
        Ok(())
    } else {
        Err(DecodeError::Invalid { field, reason: "count differs from the length of data" })
    }
}

/// `WRITE3args` (RFC 1813 §3.3.7).
///
/// For zero-copy sends, [`WriteArgs::encode_without_payload`] writes the header up to the data's
/// length word; the transport then sends `data` from the caller's memory, followed by
/// [`WriteArgs::payload_padding`] zero bytes. [`Encode::encode`] writes all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteArgs<'a> {
    pub file: Fh<'a>,
    pub offset: u64,
    /// Must equal `data.len()`; servers reject a WRITE where they differ, and so does decode.
    pub count: u32,
    pub stable: StableHow,
    pub data: &'a [u8],
}

impl WriteArgs<'_> {
    /// Appends everything before the data bytes, ending with the data's length word.
    pub fn encode_without_payload(&self, w: &mut Writer<'_>) {
        self.file.encode(w);
        w.u64(self.offset);
        w.u32(self.count);
        self.stable.encode(w);
        // Every caller bounds `data` by the negotiated wtmax, far below u32::MAX.
        w.u32(self.data.len() as u32);
    }

    /// Zero bytes that must follow the payload to keep the message XDR-aligned.
    pub fn payload_padding(&self) -> usize {
        pad_len(self.data.len())
    }
}

impl Encode for WriteArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.file.encoded_len() + 8 + 4 + 4 + opaque_len(self.data.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.encode_without_payload(w);
        w.opaque_fixed(self.data);
    }
}

impl<'a> Decode<'a> for WriteArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let file = Fh::decode(r)?;
        let offset = r.u64("WRITE3args.offset")?;
        let count = r.u32("WRITE3args.count")?;
        let stable = StableHow::decode(r)?;
        let data = r.opaque(MAX_DATA_LEN, "WRITE3args.data")?;
        check_count(count, data.len(), "WRITE3args.count")?;
        Ok(WriteArgs { file, offset, count, stable, data })
    }
}

/// `WRITE3resok` (RFC 1813 §3.3.7): `committed` may be stronger than requested; `verf` is
/// compared with the one COMMIT returns. The failure arm is the file's [`WccData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOk {
    pub file_wcc: WccData,
    pub count: u32,
    pub committed: StableHow,
    pub verf: WriteVerf,
}

impl Encode for WriteOk {
    fn encoded_len(&self) -> usize {
        self.file_wcc.encoded_len() + 4 + 4 + self.verf.len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.file_wcc.encode(w);
        w.u32(self.count);
        self.committed.encode(w);
        w.opaque_fixed(&self.verf);
    }
}

impl<'a> Decode<'a> for WriteOk {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(WriteOk {
            file_wcc: WccData::decode(r)?,
            count: r.u32("WRITE3resok.count")?,
            committed: StableHow::decode(r)?,
            verf: verf8(r, "WRITE3resok.verf")?,
        })
    }
}

/// `COMMIT3args` (RFC 1813 §3.3.21): `count` 0 means "to the end of the file".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitArgs<'a> {
    pub file: Fh<'a>,
    pub offset: u64,
    pub count: u32,
}

impl Encode for CommitArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.file.encoded_len() + 8 + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.file.encode(w);
        w.u64(self.offset);
        w.u32(self.count);
    }
}

impl<'a> Decode<'a> for CommitArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(CommitArgs {
            file: Fh::decode(r)?,
            offset: r.u64("COMMIT3args.offset")?,
            count: r.u32("COMMIT3args.count")?,
        })
    }
}

/// `COMMIT3resok` (RFC 1813 §3.3.21): a `verf` different from the WRITEs' means the server
/// restarted and the uncommitted data must be written again. The failure arm is the file's
/// [`WccData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitOk {
    pub file_wcc: WccData,
    pub verf: WriteVerf,
}

impl Encode for CommitOk {
    fn encoded_len(&self) -> usize {
        self.file_wcc.encoded_len() + self.verf.len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.file_wcc.encode(w);
        w.opaque_fixed(&self.verf);
    }
}

impl<'a> Decode<'a> for CommitOk {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(CommitOk { file_wcc: WccData::decode(r)?, verf: verf8(r, "COMMIT3resok.verf")? })
    }
}
