//! The client's receive path: `RecordFramer` driven through the transport's `Framer` contract
//! (`read_target`, then `filled`) exactly as a connection's reader does, over a byte stream cut
//! at arbitrary points, with and without a `BufferPool` for large records. Checks:
//!
//! - the frames and their XIDs equal what a plain `RecordReader` makes of the whole stream, and
//!   the framer fails exactly where the reference does (oversize record, too many fragments, a
//!   record too short to hold an XID);
//! - memory stays bounded: the heap grows by at most the scratch buffer plus twice the maximum
//!   record (measured by a counting allocator), and the pool maps at most one buffer per
//!   record in flight;
//! - each frame then goes through the reply decoders, as the client would (no panic);
//! - with memory lent to every request (as `File::read_into` does), a payload that lands there
//!   is exactly the reference record's, and the frame handed over is the record up to it.
//!
//! The input is a list of segments, so a small input can describe a large stream: raw bytes, or
//! a synthesised fragment (header plus a pattern body of a length taken from the input).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nfsx::proto::nfs3::{self, Reply};
use nfsx::rpc::{decode_reply, RecordReader, LAST_FRAGMENT};
use nfsx::xdr::Decode;
use nfsx_core::buf::landing::{lend, Lender, ZoneClaim};
use nfsx_core::buf::BufferPool;
use nfsx_core::net::{Framer, Replies};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Maximum record sizes to try: tiny, the bootstrap size, and around the direct-read threshold
/// (32 KiB) and the scratch buffer (256 KiB).
const MAX_RECORDS: [usize; 6] = [16, 4096, 40_000, 300_000, 1 << 20, 33 * 1024];
/// The framer's scratch buffer (`rpc/record.rs`).
const SCRATCH_LEN: usize = 256 * 1024;
/// Longest stream built from one input.
const MAX_STREAM: usize = 4 << 20;

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    fn u24(&mut self) -> Option<usize> {
        Some(usize::from(self.byte()?) << 16 | usize::from(self.byte()?) << 8 | usize::from(self.byte()?))
    }
}

/// The requests in flight as the fuzzer sees them: every frame must be the reference's next
/// one, whole or (landed) split between the frame and the lent memory.
struct Checked<'a, 'l> {
    expected: &'a [(u32, Vec<u8>)],
    got: usize,
    max_record: usize,
    /// Lends a fresh zone of all its memory to every request that asks.
    lender: Option<&'l Lender<'l>>,
}

impl<'a> Checked<'a, '_> {
    fn next_expected(&mut self, xid: u32, frame_len: usize) -> &'a [u8] {
        assert!(
            frame_len <= self.max_record,
            "frame of {frame_len} bytes over the maximum {}",
            self.max_record
        );
        let expected: &'a [(u32, Vec<u8>)] = self.expected;
        let (want_xid, want) =
            expected.get(self.got).expect("the framer made more frames than the reference");
        assert_eq!(xid, *want_xid, "frame {}: XID", self.got);
        self.got += 1;
        want
    }
}

impl Replies for Checked<'_, '_> {
    fn deliver(&mut self, xid: u32, frame: Bytes) {
        let want = self.next_expected(xid, frame.len());
        assert_eq!(&frame[..], want, "frame {}: bytes", self.got - 1);
        decode(&frame);
    }

    fn claim_landing(&mut self, _xid: u32) -> Option<ZoneClaim> {
        let lender = self.lender?;
        lender.zone(0..lender.len())?.claim(-1)
    }

    fn deliver_landed(&mut self, xid: u32, rest: Bytes, mut claim: ZoneClaim) {
        let want = self.next_expected(xid, rest.len());
        let (at, len) = locate_payload(want).expect("a landed record has a payload where the locator says");
        assert_eq!(rest.len(), at, "the landed frame is the record up to its payload");
        assert_eq!(&rest[..], &want[..at]);
        assert_eq!(&claim.memory()[..len], &want[at..at + len], "the payload landed whole");
        assert!(want[at + len..].iter().all(|&b| b == 0), "a landed payload's padding is zeros");
    }
}

/// A payload after the XID and a length word, as the fuzzer's records may be laid out.
fn locate_payload(record: &[u8]) -> Option<(usize, usize)> {
    let len = record.get(4..8)?;
    Some((8, u32::from_be_bytes(len.try_into().ok()?) as usize))
}

/// Builds the stream: `0` + n + n raw bytes; `1` + flags + len24 + xid byte: a fragment whose
/// body starts with a four-byte XID and continues with a pattern; `2` + len24 + flags: only a
/// fragment header (its body is whatever follows); `3` + len24 + xid byte + flags: a whole
/// record laid out as [`locate_payload`] reads it (XID, payload length, payload, padding; the
/// padding not zero if flags say so), one a lent zone could take (tags are read modulo 4, then
/// modulo 3 but for 3).
fn build_stream(input: &mut Input<'_>) -> Vec<u8> {
    let mut stream = Vec::new();
    while stream.len() < MAX_STREAM {
        let Some(tag) = input.byte() else { break };
        if tag % 4 == 3 {
            let (Some(len), Some(x), Some(flags)) = (input.u24(), input.byte(), input.byte()) else { break };
            let len = len.min(MAX_STREAM.saturating_sub(stream.len() + 16));
            let padding = (4 - len % 4) % 4;
            let record_len = (8 + len + padding) as u32;
            stream.extend_from_slice(&(LAST_FRAGMENT | record_len).to_be_bytes());
            stream.extend_from_slice(&u32::from(x).to_be_bytes());
            stream.extend_from_slice(&(len as u32).to_be_bytes());
            stream.extend((0..len).map(|i| (i % 253) as u8));
            stream.extend((0..padding).map(|_| flags & 1));
            continue;
        }
        match tag % 3 {
            0 => {
                let Some(n) = input.byte() else { break };
                let take = usize::from(n).min(input.data.len());
                stream.extend_from_slice(&input.data[..take]);
                input.data = &input.data[take..];
            }
            1 => {
                let (Some(flags), Some(len), Some(x)) = (input.byte(), input.u24(), input.byte()) else {
                    break;
                };
                let len = len.min(MAX_STREAM - stream.len());
                let last = if flags & 1 == 1 { LAST_FRAGMENT } else { 0 };
                stream.extend_from_slice(&(last | len as u32).to_be_bytes());
                let xid = [0, 0, 0, x];
                stream.extend((0..len).map(|i| if i < 4 { xid[i] } else { (i % 251) as u8 }));
            }
            _ => {
                let (Some(len), Some(flags)) = (input.u24(), input.byte()) else { break };
                let word = (usize::from(flags) << 24 | len) as u32;
                stream.extend_from_slice(&word.to_be_bytes());
            }
        }
    }
    stream
}

/// What a plain reader makes of the whole stream: the records, and whether it then failed.
fn reference(stream: &[u8], max_record: usize) -> (Vec<(u32, Vec<u8>)>, bool) {
    let mut reader = RecordReader::new(max_record);
    let mut records = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        match reader.feed(rest) {
            Ok((used, record)) => {
                rest = &rest[used..];
                if let Some(record) = record {
                    if record.len() < 4 {
                        return (records, true);
                    }
                    let xid = u32::from_be_bytes([record[0], record[1], record[2], record[3]]);
                    records.push((xid, record.to_vec()));
                }
            }
            Err(_) => return (records, true),
        }
    }
    (records, false)
}

/// Decodes a frame as the client would: RPC header, then the body as a few procedures.
fn decode(frame: &[u8]) {
    if let Ok(reply) = decode_reply(frame) {
        if let Ok(body) = reply.body {
            let _ = Reply::<nfs3::Getattr>::from_xdr(body);
            let _ = Reply::<nfs3::Read>::from_xdr(body);
            let _ = Reply::<nfs3::Readdirplus>::from_xdr(body);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let (Some(config), Some(cut_seed)) = (input.byte(), input.byte()) else { return };
    let max_record = MAX_RECORDS[usize::from(config) % MAX_RECORDS.len()];
    let pool = (config & 0x80 != 0).then(|| BufferPool::new(max_record, 2));
    let stream = build_stream(&mut input);
    let (expected, expect_error) = reference(&stream, max_record);

    let mut framer = match &pool {
        Some(pool) => nfsx::rpc::RecordFramer::with_pool(max_record, Arc::clone(pool)),
        None => nfsx::rpc::RecordFramer::new(max_record),
    };
    // Half the pooled runs also lend memory to every request, as `File::read_into` does.
    let landing = pool.is_some() && config & 0x40 != 0;
    if landing {
        framer = framer.landing_payloads(locate_payload);
    }
    let zone_len = usize::from(cut_seed) << 10;
    let mut memory = vec![0u8; zone_len];
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    // Cut sizes cycle through a few shapes: single bytes, odd sizes, whole reads.
    let cuts = [1usize, 3, 4, 7, 4093, 65536, usize::MAX];
    let mut cut_index = usize::from(cut_seed);
    let (got, failed) = lend(&mut memory, &|| {}, |lender| {
        let mut replies =
            Checked { expected: &expected, got: 0, max_record, lender: landing.then_some(lender) };
        let mut failed = None;
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let target = framer.read_target();
            assert!(!target.is_empty(), "read_target must never be empty");
            let n = target.len().min(cuts[cut_index % cuts.len()]).min(rest.len());
            cut_index = cut_index.wrapping_mul(31).wrapping_add(usize::from(cut_seed) | 1);
            target[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            let outcome = framer.filled(n, &mut replies);
            let grown = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
            // The landed heads' arena and the zones are extra when landing.
            let landing_extra = if landing { 128 * 1024 } else { 0 };
            assert!(
                grown <= SCRATCH_LEN + 2 * max_record + 64 * 1024 + landing_extra,
                "heap grew by {grown} bytes with a maximum record of {max_record}"
            );
            if let Err(e) = outcome {
                failed = Some(e);
                break;
            }
        }
        framer.abandon();
        (replies.got, failed)
    });
    // A payload that landed in lent memory has its padding checked by the framer itself (the
    // plain reader leaves that to the decoders): the one way the framer may stop first.
    let refused_padding = landing && failed.as_ref().is_some_and(|e| e.contains("padding"));
    if refused_padding {
        assert!(got < expected.len(), "the padding refused belongs to a record not yet handed over");
    } else {
        assert_eq!(got, expected.len(), "frames made before the stream ended or failed");
    }
    if failed.is_some() {
        assert!(
            expect_error || refused_padding,
            "the framer failed where the plain reader did not: {failed:?}"
        );
    } else if expect_error {
        // The reference failed on a record the framer is still waiting to finish: impossible,
        // both see the same bytes, and both check each fragment header as soon as it is whole.
        panic!("the plain reader failed where the framer did not");
    }
    if let Some(pool) = &pool {
        let (mapped, _) = pool.counts();
        assert!(
            mapped <= expected.len() as u64 + 1,
            "pool mapped {mapped} buffers for {} records",
            expected.len()
        );
    }
});
