//! Codec microbenchmarks (criterion): XDR encode/decode of the calls and replies on nfsx's hot
//! paths, and record-marking reassembly. Each sets a throughput, so criterion prints ops/s
//! (elements) or bytes/s. The buffer pool and the ring round trip are in `transport.rs`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nfsx::proto::nfs3::{
    DirEntryPlus, Failed, Fattr3, Fh, Ftype3, GetattrArgs, GetattrOk, NfsTime3, PostOpAttr, ReadOk,
    ReaddirplusOk, SpecData3, StableHow, WriteArgs,
};
use nfsx::rpc::{decode_reply, record_mark, AuthSys, CallHeader, Credential, RecordReader};
use nfsx::xdr::{Decode, Encode, Reader, Writer};

const NFS_PROGRAM: u32 = 100_003;
const MIB: usize = 1 << 20;

fn credential() -> Credential {
    Credential::sys(&AuthSys {
        stamp: 1,
        machine_name: "bench-host".into(),
        uid: 1000,
        gid: 1000,
        gids: vec![1000, 27],
    })
    .expect("a valid AUTH_SYS credential")
}

fn attrs() -> Fattr3 {
    let t = NfsTime3 { seconds: 1_700_000_000, nseconds: 123 };
    Fattr3 {
        ftype: Ftype3::Reg,
        mode: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 1000,
        size: 4096,
        used: 4096,
        rdev: SpecData3 { major: 0, minor: 0 },
        fsid: 42,
        fileid: 7,
        atime: t,
        mtime: t,
        ctime: t,
    }
}

/// A reply record (without record mark): accepted, AUTH_NONE verifier, SUCCESS, then `result`.
fn reply(xid: u32, result: &impl Encode) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    w.u32(xid);
    w.u32(1); // REPLY
    w.u32(0); // MSG_ACCEPTED
    w.u32(0); // verifier AUTH_NONE
    w.u32(0); // empty body
    w.u32(0); // SUCCESS
    result.encode(&mut w);
    buf
}

const FH: [u8; 28] = [0xab; 28];

fn getattr(c: &mut Criterion) {
    let cred = credential();
    let mut g = c.benchmark_group("getattr");
    g.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(512);
    g.bench_function("encode call", |b| {
        b.iter(|| {
            buf.clear();
            let mut w = Writer::new(&mut buf);
            let header = CallHeader {
                xid: black_box(7),
                program: NFS_PROGRAM,
                version: 3,
                procedure: 1,
                credential: &cred,
            };
            header.encode(&mut w);
            GetattrArgs { object: Fh::new(black_box(&FH)).expect("short handle") }.encode(&mut w);
            black_box(buf.len())
        })
    });
    let record = reply(7, &Ok::<_, Failed<()>>(GetattrOk { attributes: attrs() }));
    g.bench_function("decode reply", |b| {
        b.iter(|| {
            let rpc = decode_reply(black_box(&record)).expect("valid reply");
            let body = rpc.body.expect("accepted");
            let r = <Result<GetattrOk, Failed<()>>>::from_xdr(body).expect("valid result");
            black_box(r.map(|ok| ok.attributes.size).ok())
        })
    });
    g.finish();
}

fn read_reply_header(c: &mut Criterion) {
    let data = vec![0x5a; MIB];
    let record = reply(
        9,
        &Ok::<_, Failed<PostOpAttr>>(ReadOk {
            file_attributes: Some(attrs()),
            count: MIB as u32,
            eof: false,
            data: &data,
        }),
    );
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode reply header (1 MiB payload, borrowed)", |b| {
        b.iter(|| {
            let rpc = decode_reply(black_box(&record)).expect("valid reply");
            let body = rpc.body.expect("accepted");
            let mut r = Reader::new(body);
            let res = <Result<ReadOk<'_>, Failed<PostOpAttr>>>::decode(&mut r).expect("valid");
            black_box(res.map(|ok| ok.data.len()).ok())
        })
    });
    g.finish();
}

fn write_call_header(c: &mut Criterion) {
    let cred = credential();
    let data = vec![0xa5; MIB];
    let mut buf = Vec::with_capacity(512);
    let mut g = c.benchmark_group("write");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode call header (1 MiB payload, not copied)", |b| {
        b.iter(|| {
            buf.clear();
            let args = WriteArgs {
                file: Fh::new(&FH).expect("short handle"),
                offset: black_box(3 * MIB as u64),
                count: MIB as u32,
                stable: StableHow::Unstable,
                data: black_box(&data),
            };
            let header =
                CallHeader { xid: 11, program: NFS_PROGRAM, version: 3, procedure: 7, credential: &cred };
            let len = header.encoded_len() + args.encoded_len();
            let mut w = Writer::new(&mut buf);
            w.opaque_fixed(&record_mark(len));
            header.encode(&mut w);
            args.encode_without_payload(&mut w);
            // The payload (and its padding) would follow from the caller's memory via writev.
            black_box((buf.len(), args.data.as_ptr(), args.payload_padding()))
        })
    });
    g.finish();
}

fn readdirplus(c: &mut Criterion) {
    let names: Vec<String> = (0..100).map(|i| format!("file-{i:05}.dat")).collect();
    let entries: Vec<DirEntryPlus<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| DirEntryPlus {
            fileid: 1000 + i as u64,
            name: n.as_bytes(),
            cookie: i as u64 + 1,
            name_attributes: Some(attrs()),
            name_handle: Some(Fh::new(&FH).expect("short handle")),
        })
        .collect();
    let record = reply(
        13,
        &Ok::<_, Failed<PostOpAttr>>(ReaddirplusOk {
            dir_attributes: Some(attrs()),
            cookieverf: [1; 8],
            entries,
            eof: true,
        }),
    );
    let mut g = c.benchmark_group("readdirplus");
    g.throughput(Throughput::Elements(100));
    g.bench_function("decode reply (100 entries)", |b| {
        b.iter(|| {
            let rpc = decode_reply(black_box(&record)).expect("valid reply");
            let body = rpc.body.expect("accepted");
            let r = <Result<ReaddirplusOk<'_>, Failed<PostOpAttr>>>::from_xdr(body).expect("valid result");
            black_box(r.map(|ok| ok.entries.len()).ok())
        })
    });
    g.finish();
}

fn record_marking(c: &mut Criterion) {
    // One 1 MiB reply in 16 fragments of 64 KiB, fed in 256 KiB reads like the reader thread's.
    let frag = 64 * 1024;
    let mut wire = Vec::with_capacity(MIB + 64);
    for i in 0..MIB / frag {
        let last = i == MIB / frag - 1;
        let mark = frag as u32 | if last { 0x8000_0000 } else { 0 };
        wire.extend_from_slice(&mark.to_be_bytes());
        wire.extend(std::iter::repeat_n(i as u8, frag));
    }
    let mut g = c.benchmark_group("record marking");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("reassemble 1 MiB in 64 KiB fragments", |b| {
        b.iter_batched_ref(
            || RecordReader::new(2 * MIB),
            |reader| {
                let mut records = 0;
                for chunk in wire.chunks(256 * 1024) {
                    let mut rest = chunk;
                    while !rest.is_empty() {
                        let (used, record) = reader.feed(rest).expect("valid framing");
                        rest = &rest[used..];
                        records += usize::from(record.is_some());
                    }
                }
                black_box(records)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(codec, getattr, read_reply_header, write_call_header, readdirplus, record_marking);
criterion_main!(codec);
