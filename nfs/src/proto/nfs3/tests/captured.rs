//! Whole reply records captured from nfs-ganesha 4.3 on loopback (tshark, `-e tcp.payload`), record
//! mark included, decoded through the same path the client takes: record marking, RPC reply
//! header, then the procedure's result.

use super::*;
use crate::proto::mount::{MntOk, Mountstat3};
use crate::rpc::{decode_reply, RecordReader};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Strips the record mark and the RPC header; returns the procedure's result bytes.
fn result_bytes(captured: &str) -> Vec<u8> {
    let stream = hex(captured);
    let (used, record) = RecordReader::new(1 << 20).feed(&stream).unwrap();
    assert_eq!(used, stream.len(), "one whole record");
    let record = record.expect("complete record");
    decode_reply(&record).unwrap().body.unwrap().to_vec()
}

// Wireshark: NFS V3 GETATTR Reply, Status: NFS3_OK, a freshly created empty regular file.
const GETATTR_REPLY: &str = "8000007053deef98000000010000000000000000000000000000000000000000000000010000018000000001000000000000000000000000000000000000000000000000000000000000000006bc7b3d5dbaa6e8000000000098c0cf343332310000000038373635000000006b0731231957e0d1";

#[test]
fn ganesha_getattr_reply() {
    let body = result_bytes(GETATTR_REPLY);
    let ok = <Reply<'_, Getattr>>::from_xdr(&body).unwrap().unwrap();
    let a = ok.attributes;
    // Wireshark: Type: Regular File (1), Mode: 0600, nlink 1, uid 0, gid 0, size 0, fileid 0x98c0cf.
    assert_eq!((a.ftype, a.mode, a.nlink, a.uid, a.gid, a.size), (Ftype3::Reg, 0o600, 1, 0, 0, 0));
    assert_eq!(a.fileid, 0x0098_c0cf);
    assert!(a.mtime.nseconds < 1_000_000_000);
}

// Wireshark: NFS V3 FSINFO Reply, NFS3_OK, rtmax 1048576, rtpref 1048576, rtmult 4096,
// wtmax 1048576, wtpref 1048576, wtmult 4096, dtpref 1048576, maxfilesize 0x7fffffffffffffff,
// time delta 0 s 100 ns, properties 0x1b (LINK, SYMLINK, HOMOGENEOUS, CANSETTIME).
const FSINFO_REPLY: &str = "800000a453e1aec80000000100000000000000000000000000000000000000000000000100000002000001ff00000002000000000000000000000000000010000000000000001000000000000000000006bc7b3d5dbaa6e8000000000098c0526b0731221e6c7f8c6b0731221e6c7f8c6b0731221ea9888d001000000010000000000200001000000010000000000200000040007fffffffffffffff00000000000000640000001b";

#[test]
fn ganesha_fsinfo_reply() {
    let body = result_bytes(FSINFO_REPLY);
    let ok = <Reply<'_, Fsinfo>>::from_xdr(&body).unwrap().unwrap();
    assert_eq!(ok.obj_attributes.map(|a| a.ftype), Some(Ftype3::Dir));
    assert_eq!((ok.rtmax, ok.rtpref, ok.wtmax, ok.wtpref), (1 << 20, 1 << 20, 1 << 20, 1 << 20));
    assert_eq!(ok.maxfilesize, 0x7fff_ffff_ffff_ffff);
    assert_eq!((ok.time_delta.seconds, ok.time_delta.nseconds), (0, 100));
    assert_eq!(ok.properties, FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME);
}

// Wireshark: NFS V3 LOOKUP Reply, Status: NFS3ERR_NOENT (2), dir_attributes: Directory mode 0777.
const LOOKUP_NOENT_REPLY: &str = "8000007468e456930000000100000000000000000000000000000000000000020000000100000002000001ff00000006000000000000000000000000000010000000000000001000000000000000000006bc7b3d5dbaa6e8000000000098c0526b0731221e6c7f8c6b07312319a7cbb36b07312319a7cbb3";

#[test]
fn ganesha_lookup_noent_reply() {
    let body = result_bytes(LOOKUP_NOENT_REPLY);
    let failed = <Reply<'_, Lookup>>::from_xdr(&body).unwrap().unwrap_err();
    assert_eq!(failed.status, Nfsstat3::Noent);
    let dir = failed.detail.expect("directory attributes follow");
    assert_eq!((dir.ftype, dir.mode & 0o7777, dir.nlink), (Ftype3::Dir, 0o777, 6));
}

// Wireshark: MOUNT V3 MNT Reply, Status: OK, fhandle (24 bytes), Flavors: 1, AUTH_UNIX.
const MNT_REPLY: &str = "8000004053e1aec700000001000000000000000000000000000000000000000000000018430000011244e8a6ba5d3d7bbc060152c0980056625235000000000100000001";

#[test]
fn ganesha_mnt_reply() {
    let body = result_bytes(MNT_REPLY);
    let ok: MntOk<'_> = <Result<MntOk<'_>, Mountstat3>>::from_xdr(&body).unwrap().unwrap();
    assert_eq!(ok.fhandle.as_bytes().len(), 24);
    assert_eq!(ok.auth_flavors, vec![crate::rpc::AUTH_SYS]);
}
