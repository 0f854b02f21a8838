//! Record marking (RFC 5531 §11): over TCP each RPC message is sent as one or more fragments, each
//! preceded by a four-byte header whose top bit marks the last fragment and whose other 31 bits
//! give the fragment's length.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nfsx_core::buf::landing::ZoneClaim;
use nfsx_core::buf::{BufferPool, PoolBuf};
use nfsx_core::net::Replies;

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
    /// Stop after the header of a single-fragment record at least this long, so the caller can
    /// take its body elsewhere ([`RecordReader::take_large_record`]).
    pause_before: Option<usize>,
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
            pause_before: None,
        }
    }

    /// If the reader has just read the header of a single-fragment record whose body it has
    /// not started, gives that record up (the caller reads the body itself) and returns its length.
    pub fn take_large_record(&mut self, min_len: usize) -> Option<usize> {
        let untouched = self.header_filled == 4 && self.in_last_fragment && self.record.is_empty();
        if !untouched || self.fragment_remaining < min_len {
            return None;
        }
        let len = self.fragment_remaining;
        self.header_filled = 0;
        self.fragment_remaining = 0;
        self.fragments = 0;
        Some(len)
    }

    /// Whether the reader sits between records, holding nothing.
    pub fn is_idle(&self) -> bool {
        self.header_filled == 0 && self.fragment_remaining == 0 && self.record.is_empty()
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
                if self.pause_before.is_some_and(|min| self.fragment_remaining >= min)
                    && self.in_last_fragment
                    && self.record.is_empty()
                {
                    return Ok((used, None));
                }
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
            if self.record.is_empty() {
                make_arena_room(&mut self.record, len);
            } else {
                self.grow_record(total);
            }
        }
        self.fragment_remaining = len;
        Ok(())
    }

    /// Makes room for a record that arrives in several fragments to reach `total` bytes:
    /// doubling, so many small fragments cost few copies, but never past the maximum record, so
    /// reassembly holds at most the old and the new buffer, each at most that maximum (a
    /// `BytesMut::reserve` would double past it). `total` is within the maximum: checked first.
    fn grow_record(&mut self, total: usize) {
        let capacity = total.max(2 * self.record.capacity()).min(self.max_record_len);
        let mut grown = BytesMut::with_capacity(capacity);
        grown.extend_from_slice(&self.record);
        self.record = grown;
    }
}

/// Small records are reassembled into one shared allocation of this size, one after another,
/// and handed out as views of it: no allocation per reply. Once every view of it is dropped the
/// allocation is reused in place; while one is held, the next records go to a fresh one.
const RECORD_ARENA_LEN: usize = 64 * 1024;

/// Records at least this large are read straight into a pooled buffer instead of through the
/// scratch buffer, so their bytes are copied once (by the kernel) on their way to the caller.
const DIRECT_MIN_LEN: usize = 32 * 1024;
/// Bytes read per system call while records are small.
const SCRATCH_LEN: usize = 256 * 1024;
/// The first read of a connection, and the one after each large record: big enough for the
/// next record's header and a few small replies, small enough that little of a following large
/// record lands in the scratch buffer (to be copied out) rather than straight in its own buffer.
/// Each read that fills its whole length doubles the next, up to the scratch buffer.
const PROBE_READ_LEN: usize = 4 * 1024;

/// Finds the payload in the start of a large reply record (beginning with its XID): the offset
/// where it begins and its length, when the record is a reply whose payload could be read into
/// memory its call lent (a successful READ). The protocol layer supplies it.
pub type PayloadLocator = fn(&[u8]) -> Option<(usize, usize)>;

/// Record marking plus the XID: what the transport needs to match replies to calls.
///
/// Small records are read many at a time into a scratch buffer and reassembled by a
/// [`RecordReader`]. A large single-fragment record (a READ reply) gets a buffer from the pool
/// as soon as its header is seen, and the rest of it is read straight into that buffer, which
/// then becomes the reply handed to the caller: no copy in user space. Or, where its call lent
/// memory for the payload (`File::read_into`) and a [`PayloadLocator`] finds the payload, the
/// payload is read straight into that memory and the reply handed over is the rest.
#[derive(Debug)]
pub struct RecordFramer {
    reader: RecordReader,
    scratch: Vec<u8>,
    pool: Option<Arc<BufferPool>>,
    locate_payload: Option<PayloadLocator>,
    /// Where the parts of records before a landed payload are kept, one after another (as the
    /// small records' arena, so landing allocates nothing per reply).
    heads: BytesMut,
    direct: Option<Direct>,
    /// How much of the scratch buffer the next read may fill.
    next_read_len: usize,
    /// Bytes copied in user space: records reassembled out of the scratch buffer, and the
    /// parts of large records that arrived there before their own buffer was taken.
    copied: Arc<AtomicU64>,
}

/// A large record being read straight into the memory it is handed out in.
#[derive(Debug)]
enum Direct {
    /// Into a pooled buffer of its own.
    Pooled { buf: PoolBuf, len: usize, filled: usize },
    /// Its payload into memory its call lent; the rest of it was in the first read.
    Landing(Landing),
}

#[derive(Debug)]
struct Landing {
    xid: u32,
    /// The record up to the payload.
    rest: BytesMut,
    claim: ZoneClaim,
    payload_len: usize,
    /// The record's length, and the bytes of it read so far (counting the payload's padding).
    len: usize,
    filled: usize,
    /// Where the payload's XDR padding is read to.
    padding: [u8; 4],
}

impl Landing {
    fn payload_end(&self) -> usize {
        self.rest.len() + self.payload_len
    }

    fn target(&mut self) -> &mut [u8] {
        let (at, end) = (self.rest.len(), self.payload_end());
        if self.filled < end {
            &mut self.claim.memory()[self.filled - at..self.payload_len]
        } else {
            &mut self.padding[self.filled - end..self.len - end]
        }
    }

    /// The payload's XDR padding, once read, must be zeros like any other.
    fn check_padding(&self) -> Result<(), String> {
        if self.padding.iter().all(|&b| b == 0) {
            Ok(())
        } else {
            Err("non-zero XDR padding after a reply's payload".to_string())
        }
    }
}

impl RecordFramer {
    /// A framer that reassembles every record through the scratch buffer.
    pub fn new(max_record_len: usize) -> RecordFramer {
        let mut reader = RecordReader::new(max_record_len);
        reader.pause_before = Some(DIRECT_MIN_LEN);
        RecordFramer {
            reader,
            scratch: vec![0; SCRATCH_LEN],
            pool: None,
            locate_payload: None,
            heads: BytesMut::new(),
            direct: None,
            next_read_len: PROBE_READ_LEN,
            copied: Arc::default(),
        }
    }

    /// A framer that lands large records in buffers from `pool` (whose buffers must hold the
    /// largest record; smaller pools are used only for records that fit).
    pub fn with_pool(max_record_len: usize, pool: Arc<BufferPool>) -> RecordFramer {
        RecordFramer { pool: Some(pool), ..RecordFramer::new(max_record_len) }
    }

    /// Reads the payloads that `locate` finds straight into memory their calls lent.
    pub fn landing_payloads(mut self, locate: PayloadLocator) -> RecordFramer {
        self.locate_payload = Some(locate);
        self
    }

    /// Counts the bytes this framer copies into `counter` (shared by a channel's connections).
    pub fn counting_copies_in(mut self, counter: Arc<AtomicU64>) -> RecordFramer {
        self.copied = counter;
        self
    }

    /// As [`RecordReader::feed`], with the record's XID read off its first word.
    pub fn next_record(&mut self, input: &[u8]) -> Result<(usize, Option<(u32, Bytes)>), RecordError> {
        let (used, record) = self.reader.feed(input)?;
        let Some(record) = record else { return Ok((used, None)) };
        Ok((used, Some((xid_of(&record)?, record))))
    }

    /// Once the reader has parsed the header of a large single-fragment record, moves its body
    /// into memory of its own: its payload into memory its call lent, or the whole body into a
    /// pooled buffer; what `input` holds now, the rest by later reads straight into it. Returns
    /// the bytes of `input` taken.
    fn start_direct(&mut self, input: &[u8], replies: &mut dyn Replies) -> Result<usize, String> {
        let Some(pool) = self.pool.clone() else { return Ok(0) };
        if pool.buffer_len() < DIRECT_MIN_LEN {
            return Ok(0);
        }
        let Some(len) = self.reader.take_large_record(DIRECT_MIN_LEN) else { return Ok(0) };
        if let Some(taken) = self.start_landing(input, len, replies) {
            return Ok(taken);
        }
        if len > pool.buffer_len() {
            return Err(format!(
                "record of {len} bytes does not fit a {}-byte receive buffer",
                pool.buffer_len()
            ));
        }
        let mut buf = pool.take().map_err(|e| format!("no receive buffer: {e}"))?;
        let now = input.len().min(len);
        buf.as_mut_slice()[..now].copy_from_slice(&input[..now]);
        self.copied.fetch_add(now as u64, Ordering::Relaxed);
        if now == len {
            let xid = xid_of(&buf.as_mut_slice()[..len]).map_err(|e| e.to_string())?;
            replies.deliver(xid, buf.freeze(len));
        } else {
            self.direct = Some(Direct::Pooled { buf, len, filled: now });
        }
        Ok(now)
    }

    /// Lands the payload of the `len`-byte record starting in `input` in memory its call lent, if
    /// the part before the payload is all in `input`, the payload fills the rest of the record
    /// (but its padding) and the call lent room for it. Returns the bytes of `input` taken.
    fn start_landing(&mut self, input: &[u8], len: usize, replies: &mut dyn Replies) -> Option<usize> {
        let locate = self.locate_payload?;
        let now = input.len().min(len);
        let (at, payload_len) = locate(&input[..now])?;
        let payload_end = at.checked_add(payload_len)?;
        if at > now || payload_end.checked_add(crate::xdr::pad_len(payload_len))? != len {
            return None;
        }
        let xid = xid_of(input).ok()?;
        let mut claim = replies.claim_landing(xid)?;
        if claim.len() < payload_len {
            return None;
        }
        let early = &input[at..now.min(payload_end)];
        claim.memory()[..early.len()].copy_from_slice(early);
        self.copied.fetch_add(early.len() as u64, Ordering::Relaxed);
        let mut padding = [0; 4];
        let early_padding = input.get(payload_end..now).unwrap_or_default();
        padding[..early_padding.len()].copy_from_slice(early_padding);
        let landing = Landing {
            xid,
            rest: self.keep_head(&input[..at]),
            claim,
            payload_len,
            len,
            filled: now,
            padding,
        };
        if now == len {
            landing.check_padding().ok()?;
            replies.deliver_landed(xid, landing.rest.freeze(), landing.claim);
        } else {
            self.direct = Some(Direct::Landing(landing));
        }
        Some(now)
    }

    /// A copy of `head` in the heads' arena (see [`make_arena_room`]).
    fn keep_head(&mut self, head: &[u8]) -> BytesMut {
        if self.heads.capacity() < head.len() {
            make_arena_room(&mut self.heads, head.len());
        }
        self.heads.extend_from_slice(head);
        self.heads.split()
    }
}

/// Makes room for `needed` bytes in an arena that holds none now (every byte split off as a
/// view): it is reused in place when no view of it is left, else replaced by a fresh one of at
/// least [`RECORD_ARENA_LEN`], just large enough for a bigger need (`reserve` could double a
/// large one).
fn make_arena_room(arena: &mut BytesMut, needed: usize) {
    let wanted = needed.max(RECORD_ARENA_LEN);
    if !arena.try_reclaim(wanted) {
        *arena = BytesMut::with_capacity(wanted);
    }
}

fn xid_of(record: &[u8]) -> Result<u32, RecordError> {
    match record.get(..4) {
        Some(x) => Ok(u32::from_be_bytes([x[0], x[1], x[2], x[3]])),
        None => Err(RecordError::TooShort { len: record.len() }),
    }
}

impl nfsx_core::net::Framer for RecordFramer {
    fn read_target(&mut self) -> &mut [u8] {
        match &mut self.direct {
            Some(Direct::Pooled { buf, len, filled }) => &mut buf.as_mut_slice()[*filled..*len],
            Some(Direct::Landing(landing)) => landing.target(),
            None => &mut self.scratch[..self.next_read_len],
        }
    }

    fn filled(&mut self, n: usize, replies: &mut dyn Replies) -> Result<(), String> {
        match &mut self.direct {
            Some(Direct::Pooled { filled, len, .. }) => {
                *filled += n;
                if *filled >= *len {
                    if let Some(Direct::Pooled { mut buf, len, .. }) = self.direct.take() {
                        let xid = xid_of(&buf.as_mut_slice()[..len]).map_err(|e| e.to_string())?;
                        replies.deliver(xid, buf.freeze(len));
                    }
                    self.next_read_len = PROBE_READ_LEN;
                }
                return Ok(());
            }
            Some(Direct::Landing(landing)) => {
                landing.filled += n;
                if landing.filled >= landing.len {
                    landing.check_padding()?;
                    if let Some(Direct::Landing(Landing { xid, rest, claim, .. })) = self.direct.take() {
                        replies.deliver_landed(xid, rest.freeze(), claim);
                    }
                    self.next_read_len = PROBE_READ_LEN;
                }
                return Ok(());
            }
            None => {}
        }
        let scratch = std::mem::take(&mut self.scratch);
        if n >= self.next_read_len {
            self.next_read_len = (2 * self.next_read_len).min(SCRATCH_LEN);
        }
        let outcome = self.parse(&scratch[..n.min(scratch.len())], replies);
        self.scratch = scratch;
        outcome
    }

    fn abandon(&mut self) {
        self.direct = None;
    }

    fn awaited_bytes(&self) -> Option<usize> {
        match &self.direct {
            Some(Direct::Pooled { len, filled, .. }) => Some(len - filled),
            Some(Direct::Landing(landing)) => Some(landing.len - landing.filled),
            None => None,
        }
    }
}

impl RecordFramer {
    fn parse(&mut self, mut input: &[u8], replies: &mut dyn Replies) -> Result<(), String> {
        while !input.is_empty() {
            let (used, record) = self.next_record(input).map_err(|e| e.to_string())?;
            input = &input[used..];
            if let Some((xid, record)) = record {
                self.copied.fetch_add(record.len() as u64, Ordering::Relaxed);
                replies.deliver(xid, record);
                continue;
            }
            let taken = self.start_direct(input, replies)?;
            input = &input[taken..];
            if used == 0 && taken == 0 {
                return Err("record reassembly made no progress".to_string());
            }
            if self.direct.is_some() {
                break;
            }
        }
        Ok(())
    }
}
