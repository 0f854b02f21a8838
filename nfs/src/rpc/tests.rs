use super::*;
use crate::xdr::{DecodeError, Encode, Reader, Writer};

fn sys_credential() -> Credential {
    Credential::sys(&AuthSys {
        stamp: 0x11,
        machine_name: "node".into(),
        uid: 1000,
        gid: 100,
        gids: vec![100, 200],
    })
    .unwrap()
}

#[test]
fn call_header_matches_rfc_layout() {
    let cred = sys_credential();
    let header =
        CallHeader { xid: 0xdead_beef, program: 100_003, version: 3, procedure: 1, credential: &cred };
    let bytes = header.to_xdr();
    assert_eq!(bytes.len(), header.encoded_len());
    // Wireshark: XID 0xdeadbeef, Message Type: Call (0), RPC Version: 2, Program: NFS (100003),
    // Program Version: 3, Procedure: GETATTR (1), Credentials Flavor: AUTH_UNIX (1), Length: 32,
    // Stamp 0x11, Machine Name: node, UID 1000, GID 100, Auxiliary GIDs (2) [100, 200], Verifier AUTH_NULL.
    let expected: Vec<u8> = [
        &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x01, 0x86, 0xa3, 0, 0, 0, 3, 0, 0, 0, 1][..],
        &[0, 0, 0, 1, 0, 0, 0, 32, 0, 0, 0, 0x11, 0, 0, 0, 4, b'n', b'o', b'd', b'e'][..],
        &[0, 0, 0x03, 0xe8, 0, 0, 0, 100, 0, 0, 0, 2, 0, 0, 0, 100, 0, 0, 0, 200][..],
        &[0, 0, 0, 0, 0, 0, 0, 0][..],
    ]
    .concat();
    assert_eq!(bytes, expected);
}

#[test]
fn auth_sys_limits_are_enforced() {
    let mut auth = AuthSys { stamp: 0, machine_name: "x".repeat(256), uid: 0, gid: 0, gids: vec![] };
    assert_eq!(Credential::sys(&auth), Err(CredentialError::MachineNameTooLong(256)));
    auth.machine_name = "x".into();
    auth.gids = vec![1; 17];
    assert_eq!(Credential::sys(&auth), Err(CredentialError::TooManyGids(17)));
}

#[test]
fn auth_sys_body_round_trips() {
    let auth = AuthSys { stamp: 9, machine_name: "host".into(), uid: 1, gid: 2, gids: vec![3, 4, 5] };
    let cred = Credential::sys(&auth).unwrap();
    assert_eq!(AuthSys::decode(&mut Reader::new(cred.body())).unwrap(), auth);
}

fn accepted(xid: u32, accept_stat: u32, tail: &[u32]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    for v in [xid, REPLY, 0, AUTH_NONE, 0, accept_stat] {
        w.u32(v);
    }
    for &v in tail {
        w.u32(v);
    }
    buf
}

#[test]
fn successful_reply_yields_the_result_bytes() {
    // Wireshark: XID 7, Reply, Reply State: accepted, Verifier AUTH_NULL, Accept State: RPC
    // executed successfully, then the procedure's status word.
    let buf = accepted(7, 0, &[0]);
    let reply = decode_reply(&buf).unwrap();
    assert_eq!(reply.xid, 7);
    assert_eq!(reply.body, Ok(&[0u8, 0, 0, 0][..]));
}

#[test]
fn every_accept_status_maps_to_an_error() {
    let cases = [
        (1, vec![], RpcError::ProgUnavail),
        (2, vec![2, 3], RpcError::ProgMismatch { low: 2, high: 3 }),
        (3, vec![], RpcError::ProcUnavail),
        (4, vec![], RpcError::GarbageArgs),
        (5, vec![], RpcError::SystemErr),
    ];
    for (stat, tail, expected) in cases {
        assert_eq!(decode_reply(&accepted(1, stat, &tail)).unwrap().body, Err(expected));
    }
    let err = decode_reply(&accepted(1, 6, &[])).unwrap_err();
    assert_eq!(err, DecodeError::UnknownDiscriminant { field: "rpc.accept_stat", value: 6 });
}

#[test]
fn denied_replies_map_to_errors() {
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    for v in [1, REPLY, 1, 0, 2, 2] {
        w.u32(v);
    }
    assert_eq!(decode_reply(&buf).unwrap().body, Err(RpcError::RpcMismatch { low: 2, high: 2 }));
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    for v in [1, REPLY, 1, 1, 5] {
        w.u32(v);
    }
    assert_eq!(decode_reply(&buf).unwrap().body, Err(RpcError::AuthError(AuthStat::TooWeak)));
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    for v in [1, REPLY, 1, 9] {
        w.u32(v);
    }
    assert!(matches!(
        decode_reply(&buf),
        Err(DecodeError::UnknownDiscriminant { field: "rpc.reject_stat", .. })
    ));
}

#[test]
fn a_call_is_not_a_reply() {
    let buf = accepted(1, 0, &[]);
    let mut call = buf.clone();
    call[7] = 0;
    assert!(matches!(
        decode_reply(&call),
        Err(DecodeError::UnknownDiscriminant { field: "rpc.msg_type", .. })
    ));
    assert!(matches!(decode_reply(&buf[..10]), Err(DecodeError::Truncated { .. })));
}

#[test]
fn oversized_verifier_is_rejected() {
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    for v in [1, REPLY, 0, 0, 401] {
        w.u32(v);
    }
    assert!(matches!(decode_reply(&buf), Err(DecodeError::TooLong { field: "rpc.verf.body", .. })));
}

fn fragment(data: &[u8], last: bool) -> Vec<u8> {
    let word = data.len() as u32 | if last { LAST_FRAGMENT } else { 0 };
    [&word.to_be_bytes()[..], data].concat()
}

#[test]
fn records_reassemble_from_fragments_fed_byte_by_byte() {
    let stream =
        [fragment(b"abcd", false), fragment(b"", false), fragment(b"efgh", true), fragment(b"wxyz", true)]
            .concat();
    let mut reader = RecordReader::new(64);
    let mut records = Vec::new();
    for byte in stream.chunks(1) {
        let (used, record) = reader.feed(byte).unwrap();
        assert_eq!(used, 1);
        records.extend(record);
    }
    assert_eq!(records, vec![&b"abcdefgh"[..], &b"wxyz"[..]]);
}

#[test]
fn several_records_in_one_read_come_out_one_at_a_time() {
    let stream = [fragment(b"1111", true), fragment(b"2222", true)].concat();
    let mut reader = RecordReader::new(64);
    let (used, first) = reader.feed(&stream).unwrap();
    assert_eq!((used, first.as_deref()), (8, Some(&b"1111"[..])));
    let (used, second) = reader.feed(&stream[8..]).unwrap();
    assert_eq!((used, second.as_deref()), (8, Some(&b"2222"[..])));
}

#[test]
fn a_record_over_the_maximum_is_refused_before_buffering() {
    let mut reader = RecordReader::new(16);
    let err = reader.feed(&(LAST_FRAGMENT | 17).to_be_bytes()).unwrap_err();
    assert_eq!(err, RecordError::TooLarge { len: 17, max: 16 });
    let mut reader = RecordReader::new(16);
    let stream = [fragment(&[0; 10], false), fragment(&[0; 10], true)].concat();
    assert_eq!(reader.feed(&stream).unwrap_err(), RecordError::TooLarge { len: 20, max: 16 });
}

#[test]
fn endless_empty_fragments_are_cut_off() {
    let mut reader = RecordReader::new(16);
    let empty = 0u32.to_be_bytes();
    if cfg!(miri) {
        // 65,537 separate feeds take minutes under Miri: one feed of them all walks the same
        // per-fragment path in a single loop.
        let stream = empty.repeat(70_000);
        assert_eq!(reader.feed(&stream).unwrap_err(), RecordError::TooManyFragments);
        return;
    }
    let outcome = (0..70_000).try_for_each(|_| reader.feed(&empty).map(|_| ()));
    assert_eq!(outcome, Err(RecordError::TooManyFragments));
}

#[test]
fn framer_reads_the_xid_and_rejects_short_records() {
    let mut framer = RecordFramer::new(64);
    let (_, record) = framer.next_record(&fragment(&[0, 0, 0, 42, 1], true)).unwrap();
    assert_eq!(record.unwrap().0, 42);
    assert_eq!(framer.next_record(&fragment(&[1, 2], true)).unwrap_err(), RecordError::TooShort { len: 2 });
}

#[test]
fn record_mark_sets_the_last_fragment_bit() {
    assert_eq!(record_mark(0x1234), [0x80, 0, 0x12, 0x34]);
}

#[test]
fn xids_are_sequential_from_the_seed() {
    let xids = XidAllocator::new(u32::MAX);
    assert_eq!((xids.next_xid(), xids.next_xid()), (u32::MAX, 0));
}

mod direct {
    use std::collections::HashMap;

    use nfsx_core::buf::landing::{lend, LandingZone, ZoneClaim};
    use nfsx_core::buf::BufferPool;
    use nfsx_core::net::{Framer, Replies};

    use super::super::*;

    /// The requests in flight, as a test sees them: what was delivered (and whether its payload
    /// landed), and the zones lent by key.
    #[derive(Default)]
    struct Requests {
        out: Vec<(u32, bytes::Bytes, bool)>,
        lent: HashMap<u32, LandingZone>,
    }

    impl Replies for Requests {
        fn deliver(&mut self, key: u32, frame: bytes::Bytes) {
            self.out.push((key, frame, false));
        }
        fn claim_landing(&mut self, key: u32) -> Option<ZoneClaim> {
            self.lent.get(&key)?.claim(-1)
        }
        fn deliver_landed(&mut self, key: u32, rest: bytes::Bytes, claim: ZoneClaim) {
            assert!(self.lent[&key].is_claimed_by(&claim));
            self.out.push((key, rest, true));
        }
    }

    fn feed(framer: &mut RecordFramer, stream: &[u8], cut: usize, requests: &mut Requests) {
        let mut rest = stream;
        while !rest.is_empty() {
            let target = framer.read_target();
            let n = target.len().min(cut).min(rest.len());
            target[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            framer.filled(n, requests).unwrap();
        }
    }

    fn run(framer: &mut RecordFramer, stream: &[u8], cut: usize) -> Vec<(u32, bytes::Bytes)> {
        let mut requests = Requests::default();
        feed(framer, stream, cut, &mut requests);
        requests.out.into_iter().map(|(xid, record, _)| (xid, record)).collect()
    }

    /// The sizes a stream is cut into. Byte-at-a-time over 100 KiB takes minutes under Miri;
    /// larger odd cuts there.
    fn cuts() -> &'static [usize] {
        if cfg!(miri) {
            &[4093, usize::MAX]
        } else {
            &[1, 3, 4096, 65536, usize::MAX]
        }
    }

    /// A test record whose payload follows its XID and a length word, padded to four bytes.
    fn payload_record(xid: u32, payload: &[u8]) -> Vec<u8> {
        let mut r = [xid.to_be_bytes(), (payload.len() as u32).to_be_bytes()].concat();
        r.extend_from_slice(payload);
        r.resize(r.len() + crate::xdr::pad_len(payload.len()), 0);
        r
    }

    fn locate_test_payload(record: &[u8]) -> Option<(usize, usize)> {
        let len = record.get(4..8)?;
        Some((8, u32::from_be_bytes(len.try_into().ok()?) as usize))
    }

    #[test]
    fn a_payload_lands_in_the_memory_its_request_lent_and_the_rest_is_delivered() {
        let pool = BufferPool::new(1 << 20, 4);
        let payload: Vec<u8> = (0..100_001u32).map(|i| (i % 253) as u8).collect();
        let landing = payload_record(7, &payload);
        let too_big_for_its_zone = payload_record(9, &payload);
        let small = record(8, 10);
        let stream = [
            &record_mark(small.len())[..],
            &small,
            &record_mark(landing.len()),
            &landing,
            &record_mark(too_big_for_its_zone.len()),
            &too_big_for_its_zone,
            &record_mark(small.len()),
            &small,
        ]
        .concat();
        for &cut in cuts() {
            let mut memory = vec![0u8; 2 * payload.len()];
            let out = lend(&mut memory, &|| {}, |lender| {
                let mut requests = Requests::default();
                requests.lent.insert(7, lender.zone(0..payload.len() + 10).unwrap());
                requests.lent.insert(9, lender.zone(payload.len() + 10..2 * payload.len()).unwrap());
                let mut framer =
                    RecordFramer::with_pool(1 << 20, pool.clone()).landing_payloads(locate_test_payload);
                feed(&mut framer, &stream, cut, &mut requests);
                requests.out
            });
            // The payload lands only when the read that meets the record holds all before it.
            let summary: Vec<(u32, usize, bool)> = out.iter().map(|(x, r, l)| (*x, r.len(), *l)).collect();
            let lands = cut >= 8;
            let seven = if lands { (7, 8, true) } else { (7, landing.len(), false) };
            assert_eq!(
                summary,
                [
                    (8, small.len(), false),
                    seven,
                    (9, too_big_for_its_zone.len(), false),
                    (8, small.len(), false)
                ],
                "cut {cut}"
            );
            if !lands {
                assert_eq!(&out[1].1[..], &landing[..]);
                continue;
            }
            assert_eq!(&out[1].1[..], &landing[..8]);
            assert!(memory[..payload.len()] == payload[..], "cut {cut}: the payload landed in place");
            assert!(memory[payload.len()..].iter().all(|&b| b == 0), "cut {cut}: nothing else was written");
            assert_eq!(&out[2].1[..], &too_big_for_its_zone[..]);
        }
    }

    #[test]
    fn a_landed_payload_with_non_zero_padding_is_refused() {
        let mut bad = payload_record(7, &[1; 40_001]);
        *bad.last_mut().unwrap() = 1;
        let stream = [&record_mark(bad.len())[..], &bad].concat();
        let mut memory = vec![0u8; 40_001];
        let refused = lend(&mut memory, &|| {}, |lender| {
            let mut requests = Requests::default();
            requests.lent.insert(7, lender.zone(0..40_001).unwrap());
            let mut framer = RecordFramer::with_pool(1 << 20, BufferPool::new(1 << 20, 1))
                .landing_payloads(locate_test_payload);
            let mut rest = &stream[..];
            loop {
                let target = framer.read_target();
                let n = target.len().min(rest.len());
                target[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                if let Err(e) = framer.filled(n, &mut requests) {
                    break e;
                }
                assert!(!rest.is_empty(), "the record was accepted");
            }
        });
        assert!(refused.contains("padding"), "{refused}");
    }

    fn record(xid: u32, body_len: usize) -> Vec<u8> {
        let mut r = xid.to_be_bytes().to_vec();
        r.extend((0..body_len).map(|i| (i % 251) as u8));
        r
    }

    #[test]
    fn large_records_land_in_pooled_buffers_small_ones_in_order_around_them() {
        let pool = BufferPool::new(1 << 20, 4);
        let big = record(7, 300_000);
        let small = record(8, 10);
        let stream = [
            &record_mark(small.len())[..],
            &small,
            &record_mark(big.len()),
            &big,
            &record_mark(small.len()),
            &small,
        ]
        .concat();
        for &cut in cuts() {
            let mut framer = RecordFramer::with_pool(1 << 20, pool.clone());
            let out = run(&mut framer, &stream, cut);
            let xids: Vec<u32> = out.iter().map(|(x, _)| *x).collect();
            assert_eq!(xids, [8, 7, 8], "cut {cut}");
            assert_eq!(&out[1].1[..], &big[..]);
            assert_eq!(out[1].1.as_ptr() as usize % 4096, 0, "the big record is a pooled buffer");
            assert_eq!(&out[2].1[..], &small[..]);
        }
        assert!(pool.counts().1 > 0, "buffers were reused");
    }

    /// Feeds a stream holding one record, checking after every read that what the framer
    /// awaits is exactly the rest of it (the event loops wait for that many bytes with no
    /// timeout); returns whether it awaited anything at all.
    fn awaits_exactly_the_rest(
        framer: &mut RecordFramer,
        stream: &[u8],
        cut: usize,
        requests: &mut Requests,
    ) -> bool {
        let mut fed = 0;
        let mut awaited = false;
        while fed < stream.len() {
            let target = framer.read_target();
            let n = target.len().min(cut).min(stream.len() - fed);
            target[..n].copy_from_slice(&stream[fed..fed + n]);
            fed += n;
            framer.filled(n, requests).unwrap();
            if let Some(rest) = framer.awaited_bytes() {
                assert_eq!(rest, stream.len() - fed, "cut {cut}, after {fed} bytes");
                awaited = true;
            }
        }
        assert_eq!(framer.awaited_bytes(), None, "cut {cut}: a whole record leaves nothing awaited");
        awaited
    }

    #[test]
    fn the_rest_a_framer_awaits_is_exactly_what_its_record_still_holds() {
        let pooled = record(7, 300_000);
        let pooled = [&record_mark(pooled.len())[..], &pooled].concat();
        // An odd payload: the rest counts its three bytes of padding.
        let payload = vec![5u8; 100_001];
        let landing = payload_record(9, &payload);
        let landing = [&record_mark(landing.len())[..], &landing].concat();
        for &cut in cuts() {
            let mut framer = RecordFramer::with_pool(1 << 20, BufferPool::new(1 << 20, 2));
            let awaited = awaits_exactly_the_rest(&mut framer, &pooled, cut, &mut Requests::default());
            assert!(awaited, "cut {cut}: the record was not read into a pooled buffer");
            let mut memory = vec![0u8; payload.len()];
            let (awaited, landed) = lend(&mut memory, &|| {}, |lender| {
                let mut requests = Requests::default();
                requests.lent.insert(9, lender.zone(0..payload.len()).unwrap());
                let mut framer = RecordFramer::with_pool(1 << 20, BufferPool::new(1 << 20, 1))
                    .landing_payloads(locate_test_payload);
                let awaited = awaits_exactly_the_rest(&mut framer, &landing, cut, &mut requests);
                (awaited, requests.out.iter().any(|(_, _, landed)| *landed))
            });
            assert!(awaited, "cut {cut}: nothing was read straight into place");
            assert_eq!(landed, cut >= 8, "cut {cut}");
        }
    }

    #[test]
    fn multi_fragment_and_oversized_records_take_the_reassembly_path() {
        let pool = BufferPool::new(1 << 16, 2);
        let body = record(9, 100_000);
        let (a, b) = body.split_at(50_000);
        let word = (a.len() as u32).to_be_bytes();
        let stream = [&word[..], a, &record_mark(b.len()), b].concat();
        let mut framer = RecordFramer::with_pool(1 << 20, pool);
        let out = run(&mut framer, &stream, 8192);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].1[..], &body[..]);
        let mut framer = RecordFramer::with_pool(1000, BufferPool::new(1 << 16, 2));
        let too_big = [&record_mark(50_000)[..], &[0; 100]].concat();
        let err = framer.read_target().len();
        assert!(err > 0);
        framer.read_target()[..too_big.len()].copy_from_slice(&too_big);
        let refused = framer.filled(too_big.len(), &mut Requests::default()).unwrap_err();
        assert!(refused.contains("exceeds the maximum"));
    }
}
