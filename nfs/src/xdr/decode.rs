use std::fmt;

/// What was wrong with bytes that claimed to be XDR, and in which field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ended inside `field`.
    Truncated { field: &'static str, needed: usize, remaining: usize },
    /// A length on the wire is larger than the protocol allows for `field`.
    TooLong { field: &'static str, len: u64, max: u64 },
    /// Padding after `field` was not zero.
    NonZeroPadding { field: &'static str },
    /// A boolean that was neither 0 nor 1.
    InvalidBool { field: &'static str, value: u32 },
    /// An enum or union discriminant this implementation does not know.
    UnknownDiscriminant { field: &'static str, value: u32 },
    /// A value that decodes but breaks a protocol rule.
    Invalid { field: &'static str, reason: &'static str },
    /// Bytes remained after the whole message was read.
    TrailingBytes { count: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { field, needed, remaining } => {
                write!(f, "truncated message: {field} needs {needed} bytes, {remaining} remain")
            }
            DecodeError::TooLong { field, len, max } => {
                write!(f, "{field} length {len} exceeds the maximum {max}")
            }
            DecodeError::NonZeroPadding { field } => {
                write!(f, "non-zero XDR padding after {field}")
            }
            DecodeError::InvalidBool { field, value } => {
                write!(f, "{field}: boolean must be 0 or 1, got {value}")
            }
            DecodeError::UnknownDiscriminant { field, value } => {
                write!(f, "{field}: unknown value {value}")
            }
            DecodeError::Invalid { field, reason } => write!(f, "{field}: {reason}"),
            DecodeError::TrailingBytes { count } => {
                write!(f, "{count} unexpected bytes after the end of the message")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over borrowed XDR bytes. Every accessor names the field it reads, so an error says
/// exactly what was wrong.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Succeeds only when every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { count: self.buf.len() })
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated { field, needed: n, remaining: self.buf.len() });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    pub fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }

    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u32(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { field, value }),
        }
    }

    /// Fixed-length opaque of `len` bytes, followed by zero padding.
    pub fn opaque_fixed(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let padded = len + super::pad_len(len);
        if padded > self.buf.len() {
            return Err(DecodeError::Truncated { field, needed: padded, remaining: self.buf.len() });
        }
        let data = self.take(len, field)?;
        let pad = self.take(super::pad_len(len), field)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(DecodeError::NonZeroPadding { field });
        }
        Ok(data)
    }

    /// Variable-length opaque (or string) of at most `max` bytes.
    pub fn opaque(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.opaque_len(max, field)?;
        self.opaque_fixed(len, field)
    }

    /// Reads and bounds the length word of a variable-length opaque, leaving its data unread
    /// (for a READ reply whose payload the transport lands elsewhere).
    pub fn opaque_len(&mut self, max: usize, field: &'static str) -> Result<usize, DecodeError> {
        let len = self.u32(field)?;
        if u64::from(len) > max as u64 {
            return Err(DecodeError::TooLong { field, len: len.into(), max: max as u64 });
        }
        Ok(len as usize)
    }

    /// Reads an array count and checks it is at most `max` and that `min_item_len` bytes per
    /// item could still follow, so no caller sizes an allocation from a count the message can't hold.
    pub fn count(
        &mut self,
        max: usize,
        min_item_len: usize,
        field: &'static str,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(field)?;
        if u64::from(n) > max as u64 {
            return Err(DecodeError::TooLong { field, len: n.into(), max: max as u64 });
        }
        let n = n as usize;
        let needed = n.saturating_mul(min_item_len);
        if needed > self.buf.len() {
            return Err(DecodeError::Truncated { field, needed, remaining: self.buf.len() });
        }
        Ok(n)
    }
}
