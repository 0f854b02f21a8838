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
//! - each frame then goes through the reply decoders, as the client would (no panic).
//!
//! The input is a list of segments, so a small input can describe a large stream: raw bytes, or
//! a synthesised fragment (header plus a pattern body of a length taken from the input).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use nfsx::proto::nfs3::{self, Reply};
use nfsx::rpc::{decode_reply, RecordReader, LAST_FRAGMENT};
use nfsx::xdr::Decode;
use nfsx_core::buf::BufferPool;
use nfsx_core::net::Framer;

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

/// Builds the stream: `0` + n + n raw bytes; `1` + flags + len24 + xid byte: a fragment whose
/// body starts with a four-byte XID and continues with a pattern; `2` + len24 + flags: only a
/// fragment header (its body is whatever follows).
fn build_stream(input: &mut Input<'_>) -> Vec<u8> {
    let mut stream = Vec::new();
    while stream.len() < MAX_STREAM {
        let Some(tag) = input.byte() else { break };
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
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    // Cut sizes cycle through a few shapes: single bytes, odd sizes, whole reads.
    let cuts = [1usize, 3, 4, 7, 4093, 65536, usize::MAX];
    let mut cut_index = usize::from(cut_seed);
    let mut got = 0usize;
    let mut failed = false;
    let mut rest = &stream[..];
    while !rest.is_empty() {
        let target = framer.read_target();
        assert!(!target.is_empty(), "read_target must never be empty");
        let n = target.len().min(cuts[cut_index % cuts.len()]).min(rest.len());
        cut_index = cut_index.wrapping_mul(31).wrapping_add(usize::from(cut_seed) | 1);
        target[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        let outcome = framer.filled(n, &mut |xid, frame| {
            assert!(
                frame.len() <= max_record,
                "frame of {} bytes over the maximum {max_record}",
                frame.len()
            );
            let (want_xid, want) = expected.get(got).expect("the framer made more frames than the reference");
            assert_eq!(xid, *want_xid, "frame {got}: XID");
            assert_eq!(&frame[..], &want[..], "frame {got}: bytes");
            decode(&frame);
            got += 1;
        });
        let grown = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
        assert!(
            grown <= SCRATCH_LEN + 2 * max_record + 64 * 1024,
            "heap grew by {grown} bytes with a maximum record of {max_record}"
        );
        if outcome.is_err() {
            failed = true;
            break;
        }
    }
    assert_eq!(got, expected.len(), "frames made before the stream ended or failed");
    if failed {
        assert!(expect_error, "the framer failed where the plain reader did not");
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
