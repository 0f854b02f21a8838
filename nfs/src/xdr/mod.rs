//! XDR (RFC 4506): the external data representation every ONC RPC message uses.
//!
//! Decoding borrows: [`Reader`] walks a `&'a [u8]` and hands out sub-slices for opaque data and
//! strings, so names, file handles and file data are never copied. Every variable-length field is
//! checked against the caller's maximum and the bytes remaining before it is sliced, and padding
//! must be zero (RFC 4506 §3: "the padding bytes ... must be zero"). Encoding writes into a buffer
//! the caller owns and reuses; [`Encode::encoded_len`] is exact so the caller reserves once.

mod decode;
mod encode;

pub use decode::{DecodeError, Reader};
pub use encode::Writer;

/// XDR's unit: every item occupies a multiple of four bytes (RFC 4506 §3).
pub const UNIT: usize = 4;

/// Bytes of zero padding that follow `len` bytes of opaque data.
pub const fn pad_len(len: usize) -> usize {
    (UNIT - len % UNIT) % UNIT
}

/// Bytes a variable-length opaque of `len` bytes takes on the wire: length word, data, padding.
pub const fn opaque_len(len: usize) -> usize {
    4 + len + pad_len(len)
}

/// A value that can be written in XDR.
pub trait Encode {
    /// Exactly the number of bytes [`Encode::encode`] appends.
    fn encoded_len(&self) -> usize;
    /// Appends the XDR form of `self`.
    fn encode(&self, w: &mut Writer<'_>);

    /// Convenience for tests and one-off messages: encodes into a fresh vector.
    fn to_xdr(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode(&mut Writer::new(&mut buf));
        buf
    }
}

/// A value that can be read from XDR, borrowing from the input where it can.
pub trait Decode<'a>: Sized {
    /// Reads one value; the reader is left just past it.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer, rejecting bytes left over.
    fn from_xdr(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

impl Encode for u32 {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(*self);
    }
}

impl Encode for u64 {
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u64(*self);
    }
}

impl Encode for bool {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.bool(*self);
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encoded_len(&self) -> usize {
        4 + self.as_ref().map_or(0, Encode::encoded_len)
    }
    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            Some(v) => {
                w.bool(true);
                v.encode(w);
            }
            None => w.bool(false),
        }
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        (**self).encode(w);
    }
}

impl<'a> Decode<'a> for u32 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.u32("u32")
    }
}

impl<'a> Decode<'a> for u64 {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.u64("u64")
    }
}

impl<'a, T: Decode<'a>> Decode<'a> for Option<T> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        if r.bool("optional")? {
            Ok(Some(T::decode(r)?))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests;
