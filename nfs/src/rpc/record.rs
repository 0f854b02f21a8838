//! Record marking (RFC 5531 §11): over TCP each RPC message is sent as one or more fragments, each
//! preceded by a four-byte header whose top bit marks the last fragment and whose other 31 bits
//! give the fragment's length.

use bytes::{Bytes, BytesMut};

/// Set in a fragment header when the fragment ends the record.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;
/// The largest length a fragment header can carry.
pub const MAX_FRAGMENT_LEN: usize = 0x7fff_ffff;
/// Fragments allowed in one record: a peer that sends endless empty fragments is cut off here.
const MAX_FRAGMENTS_PER_RECORD: u32 = 65_536;

/// The header for a single-fragment record of `len` bytes.
pub fn record_mark(len: usize) -> [u8; 4] {
    debug_assert!(len <= MAX_FRAGMENT_LEN);
    (LAST_FRAGMENT | (len as u32 & !LAST_FRAGMENT)).to_be_bytes()
}

/// A peer broke the framing rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("record of at least {len} bytes exceeds the maximum of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("record has more than {MAX_FRAGMENTS_PER_RECORD} fragments")]
    TooManyFragments,
    #[error("record of {len} bytes is too short to hold an RPC transaction id")]
    TooShort { len: usize },
}

/// Reassembles records from a byte stream fed in arbitrary pieces. Memory held is bounded by
/// `max_record_len` whatever the peer sends.
#[derive(Debug)]
pub struct RecordReader {
    max_record_len: usize,
    header: [u8; 4],
    header_filled: usize,
    fragment_remaining: usize,
    in_last_fragment: bool,
    fragments: u32,
    record: BytesMut,
}

impl RecordReader {
    pub fn new(max_record_len: usize) -> RecordReader {
        RecordReader {
            max_record_len,
            header: [0; 4],
            header_filled: 0,
            fragment_remaining: 0,
            in_last_fragment: false,
            fragments: 0,
            record: BytesMut::new(),
        }
    }

    /// Consumes a prefix of `input`; returns the bytes used and a record if one completed.
    /// The caller feeds the remainder again.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Bytes>), RecordError> {
        let mut used = 0;
        loop {
            if self.header_filled < 4 {
                let take = (4 - self.header_filled).min(input.len() - used);
                self.header[self.header_filled..self.header_filled + take]
                    .copy_from_slice(&input[used..used + take]);
                self.header_filled += take;
                used += take;
                if self.header_filled < 4 {
                    return Ok((used, None));
                }
                self.start_fragment()?;
            }
            let take = self.fragment_remaining.min(input.len() - used);
            self.record.extend_from_slice(&input[used..used + take]);
            self.fragment_remaining -= take;
            used += take;
            if self.fragment_remaining > 0 {
                return Ok((used, None));
            }
            self.header_filled = 0;
            if self.in_last_fragment {
                self.fragments = 0;
                return Ok((used, Some(self.record.split().freeze())));
            }
            if used == input.len() {
                return Ok((used, None));
            }
        }
    }

    fn start_fragment(&mut self) -> Result<(), RecordError> {
        let word = u32::from_be_bytes(self.header);
        let len = (word & !LAST_FRAGMENT) as usize;
        self.in_last_fragment = word & LAST_FRAGMENT != 0;
        self.fragments += 1;
        if self.fragments > MAX_FRAGMENTS_PER_RECORD {
            return Err(RecordError::TooManyFragments);
        }
        let total = self.record.len() + len;
        if total > self.max_record_len {
            return Err(RecordError::TooLarge { len: total, max: self.max_record_len });
        }
        if self.record.capacity() - self.record.len() < len {
            self.record.reserve(len);
        }
        self.fragment_remaining = len;
        Ok(())
    }
}

/// Record marking plus the XID: what the transport needs to match replies to calls.
#[derive(Debug)]
pub struct RecordFramer {
    reader: RecordReader,
}

impl RecordFramer {
    pub fn new(max_record_len: usize) -> RecordFramer {
        RecordFramer { reader: RecordReader::new(max_record_len) }
    }

    /// As [`RecordReader::feed`], with the record's XID read off its first word.
    pub fn next_record(&mut self, input: &[u8]) -> Result<(usize, Option<(u32, Bytes)>), RecordError> {
        let (used, record) = self.reader.feed(input)?;
        let Some(record) = record else {
            return Ok((used, None));
        };
        let Some(xid) = record.get(..4) else {
            return Err(RecordError::TooShort { len: record.len() });
        };
        let xid = u32::from_be_bytes([xid[0], xid[1], xid[2], xid[3]]);
        Ok((used, Some((xid, record))))
    }
}

impl nfsx_core::net::Framer for RecordFramer {
    fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<(u32, Bytes)>), String> {
        self.next_record(input).map_err(|e| e.to_string())
    }
}
