//! Replies written out byte by byte, each with what Wireshark's NFS dissector shows for it.

use super::*;

/// GETATTR reply.
#[rustfmt::skip]
pub(super) const GETATTR_REPLY: [u8; 88] = [
    0, 0, 0, 0,                     // Status: NFS3_OK (0)
    0, 0, 0, 2,                     // obj_attributes  Type: Directory (2)
    0, 0, 0x01, 0xed,               //   Mode: 0755
    0, 0, 0, 3,                     //   nlink: 3
    0, 0, 0, 0,                     //   uid: 0
    0, 0, 0, 0,                     //   gid: 0
    0, 0, 0, 0, 0, 0, 0x10, 0,      //   size: 4096
    0, 0, 0, 0, 0, 0, 0x20, 0,      //   used: 8192
    0, 0, 0, 0, 0, 0, 0, 0,         //   rdev: 0,0
    0, 0, 0, 0, 0, 0, 0x08, 0x01,   //   fsid: 0x0000000000000801
    0, 0, 0, 0, 0, 0, 0, 2,         //   fileid: 2
    0x65, 0x53, 0xf1, 0, 0, 0, 0, 0, //   atime: Nov 14, 2023 22:13:20.000000000 UTC
    0x65, 0x53, 0xf1, 0,            //   mtime: Nov 14, 2023 22:13:20.500000000 UTC
    0x1d, 0xcd, 0x65, 0,
    0x65, 0x53, 0xf1, 1, 0, 0, 0, 0, //   ctime: Nov 14, 2023 22:13:21.000000000 UTC
];

#[test]
fn getattr_reply() {
    let reply = Reply::<Getattr>::from_xdr(&GETATTR_REPLY).unwrap();
    let time = |seconds, nseconds| NfsTime3 { seconds, nseconds };
    let expected = Fattr3 {
        ftype: Ftype3::Dir,
        mode: 0o755,
        nlink: 3,
        uid: 0,
        gid: 0,
        size: 4096,
        used: 8192,
        rdev: SpecData3::default(),
        fsid: 0x801,
        fileid: 2,
        atime: time(1_700_000_000, 0),
        mtime: time(1_700_000_000, 500_000_000),
        ctime: time(1_700_000_001, 0),
    };
    assert_eq!(reply, Ok(GetattrOk { attributes: expected }));
    assert_eq!(reply.to_xdr(), GETATTR_REPLY);
}

/// LOOKUP reply, success and failure.
#[rustfmt::skip]
const LOOKUP_REPLY: [u8; 28] = [
    0, 0, 0, 0,                     // Status: NFS3_OK (0)
    0, 0, 0, 12,                    // object  length: 12
    1, 0, 1, 0, 0, 0, 0, 0,         //   [filehandle: 01000100000000000a000002]
    0x0a, 0, 0, 2,
    0, 0, 0, 0,                     // obj_attributes  attributes_follow: no value (0)
    0, 0, 0, 0,                     // dir_attributes  attributes_follow: no value (0)
];

#[rustfmt::skip]
const LOOKUP_NOENT_REPLY: [u8; 8] = [
    0, 0, 0, 2,                     // Status: NFS3ERR_NOENT (2)
    0, 0, 0, 0,                     // dir_attributes  attributes_follow: no value (0)
];

#[test]
fn lookup_reply() {
    let reply = Reply::<Lookup>::from_xdr(&LOOKUP_REPLY).unwrap();
    let handle = [1, 0, 1, 0, 0, 0, 0, 0, 0x0a, 0, 0, 2];
    let expected = LookupOk { object: Fh::new(&handle).unwrap(), obj_attributes: None, dir_attributes: None };
    assert_eq!(reply, Ok(expected));
    assert_eq!(reply.to_xdr(), LOOKUP_REPLY);

    let reply = Reply::<Lookup>::from_xdr(&LOOKUP_NOENT_REPLY).unwrap();
    let expected = Failed { status: Nfsstat3::Noent, detail: None };
    assert_eq!(reply, Err(expected));
    assert_eq!(reply.to_xdr(), LOOKUP_NOENT_REPLY);
}

/// READ reply.
#[rustfmt::skip]
pub(super) const READ_REPLY: [u8; 28] = [
    0, 0, 0, 0,                     // Status: NFS3_OK (0)
    0, 0, 0, 0,                     // file_attributes  attributes_follow: no value (0)
    0, 0, 0, 5,                     // count: 5
    0, 0, 0, 1,                     // EOF: 1
    0, 0, 0, 5,                     // Data  length: 5
    b'h', b'e', b'l', b'l', b'o',   //   contents: 68656c6c6f
    0, 0, 0,                        //   fill bytes: opaque data
];

#[test]
fn read_reply_borrows_its_data() {
    // One buffer, named: each mention of a `const` array is its own temporary (natively they
    // happen to share storage; under Miri they don't), so the pointer check needs a single one.
    let bytes = READ_REPLY;
    let reply = Reply::<Read>::from_xdr(&bytes).unwrap();
    let ok = reply.as_ref().unwrap();
    assert_eq!(*ok, ReadOk { file_attributes: None, count: 5, eof: true, data: b"hello" });
    assert!(std::ptr::eq(ok.data.as_ptr(), bytes[20..].as_ptr()));
    assert_eq!(reply.to_xdr(), READ_REPLY);
}

/// READDIRPLUS reply with two entries.
#[rustfmt::skip]
pub(super) const READDIRPLUS_REPLY: [u8; 108] = [
    0, 0, 0, 0,                     // Status: NFS3_OK (0)
    0, 0, 0, 0,                     // dir_attributes  attributes_follow: no value (0)
    1, 2, 3, 4, 5, 6, 7, 8,         // Verifier: Opaque Data
    0, 0, 0, 1,                     // Value Follows: Yes
    0, 0, 0, 0, 0, 0, 0, 2,         // Entry: name .  File ID: 2
    0, 0, 0, 1,                     //   Name  length: 1
    b'.', 0, 0, 0,                  //     contents: .  fill bytes: opaque data
    0, 0, 0, 0, 0, 0, 0, 1,         //   Cookie: 1
    0, 0, 0, 0,                     //   name_attributes  attributes_follow: no value (0)
    0, 0, 0, 1,                     //   name_handle  handle_follows: value follows (1)
    0, 0, 0, 4,                     //     length: 4
    0xde, 0xad, 0xbe, 0xef,         //     [filehandle: deadbeef]
    0, 0, 0, 1,                     // Value Follows: Yes
    0, 0, 0, 0, 0, 0, 0, 0x10,      // Entry: name file.txt  File ID: 16
    0, 0, 0, 8,                     //   Name  length: 8
    b'f', b'i', b'l', b'e',         //     contents: file.txt
    b'.', b't', b'x', b't',
    0, 0, 0, 0, 0, 0, 0, 2,         //   Cookie: 2
    0, 0, 0, 0,                     //   name_attributes  attributes_follow: no value (0)
    0, 0, 0, 0,                     //   name_handle  handle_follows: no value (0)
    0, 0, 0, 0,                     // Value Follows: No
    0, 0, 0, 1,                     // EOF: 1
];

#[test]
fn readdirplus_reply_with_two_entries() {
    let reply = Reply::<Readdirplus>::from_xdr(&READDIRPLUS_REPLY).unwrap();
    let expected = ReaddirplusOk {
        dir_attributes: None,
        cookieverf: [1, 2, 3, 4, 5, 6, 7, 8],
        entries: vec![
            DirEntryPlus {
                fileid: 2,
                name: b".",
                cookie: 1,
                name_attributes: None,
                name_handle: Some(Fh::new(&[0xde, 0xad, 0xbe, 0xef]).unwrap()),
            },
            DirEntryPlus {
                fileid: 16,
                name: b"file.txt",
                cookie: 2,
                name_attributes: None,
                name_handle: None,
            },
        ],
        eof: true,
    };
    assert_eq!(reply, Ok(expected));
    assert_eq!(reply.to_xdr(), READDIRPLUS_REPLY);
}
