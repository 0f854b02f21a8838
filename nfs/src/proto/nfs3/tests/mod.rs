//! NFSv3 codec tests: round trips of every procedure, byte vectors checked against what
//! Wireshark shows, and one negative test per decoding rule.

use super::*;
use crate::xdr::{Decode, DecodeError, Encode};

mod captured;
mod rejects;
mod round_trip;
mod vectors;

/// Encodes `$value` as `$ty`, checks `encoded_len` is exact, decodes it back and compares.
macro_rules! assert_round_trip {
    ($ty:ty, $value:expr) => {{
        let value: $ty = $value;
        let bytes = value.to_xdr();
        assert_eq!(bytes.len(), value.encoded_len(), "encoded_len of {}", stringify!($ty));
        let back = <$ty>::from_xdr(&bytes).expect(concat!(stringify!($ty), " decodes"));
        assert_eq!(back, value);
    }};
}
use assert_round_trip;

/// A 17-byte handle: odd length, so every encoding of it exercises padding.
const FH_BYTES: &[u8] = b"\x01\x00\x07\x00handle-bytes0";

fn fh() -> Fh<'static> {
    Fh::new(FH_BYTES).unwrap()
}

fn dirop(name: &[u8]) -> DirOpArgs<'_> {
    DirOpArgs { dir: fh(), name }
}

fn time(seconds: u32) -> NfsTime3 {
    NfsTime3 { seconds, nseconds: 999_999_999 }
}

fn fattr(ftype: Ftype3) -> Fattr3 {
    Fattr3 {
        ftype,
        mode: 0o4755,
        nlink: 2,
        uid: 1000,
        gid: 100,
        size: u64::MAX,
        used: 1 << 40,
        rdev: SpecData3 { major: 8, minor: 1 },
        fsid: 0x0123_4567_89ab_cdef,
        fileid: 42,
        atime: time(1),
        mtime: time(2),
        ctime: time(3),
    }
}

fn wcc() -> WccData {
    WccData {
        before: Some(WccAttr { size: 7, mtime: time(4), ctime: time(5) }),
        after: Some(fattr(Ftype3::Dir)),
    }
}

/// Every `sattr3` arm set, so each discriminant is exercised.
fn sattr() -> Sattr3 {
    Sattr3 {
        mode: Some(0o644),
        uid: Some(0),
        gid: None,
        size: Some(0),
        atime: SetTime::ServerTime,
        mtime: SetTime::ClientTime(time(6)),
    }
}

#[test]
fn every_defined_status_round_trips_and_nothing_else_decodes() {
    let defined: Vec<Nfsstat3> = (0..=20_000).filter_map(Nfsstat3::from_u32).collect();
    assert_eq!(defined.len(), 29, "RFC 1813 defines 29 nfsstat3 values");
    let mut names = std::collections::HashSet::new();
    for status in defined {
        assert_round_trip!(Nfsstat3, status);
        assert!(names.insert(status.name()), "duplicate name {status}");
        assert!(status.name().starts_with("NFS3"));
        assert_eq!(status.to_string(), status.name());
        assert_eq!(status.errno() == 0, status == Nfsstat3::Ok, "{status}");
    }
}

#[test]
fn errno_follows_the_linux_client() {
    assert_eq!(Nfsstat3::Noent.errno(), libc::ENOENT);
    assert_eq!(Nfsstat3::Stale.errno(), libc::ESTALE);
    assert_eq!(Nfsstat3::Badhandle.errno(), libc::ESTALE);
    assert_eq!(Nfsstat3::Notsupp.errno(), libc::EOPNOTSUPP);
    assert_eq!(Nfsstat3::Serverfault.errno(), libc::EREMOTEIO);
    assert_eq!(Nfsstat3::Jukebox.errno(), libc::EAGAIN);
}

#[test]
fn procedure_numbers_and_names_follow_rfc_1813() {
    fn id<P: Procedure>() -> (u32, &'static str) {
        (P::NUMBER, P::NAME)
    }
    let all = [
        (Null::NUMBER, Null::NAME),
        id::<Getattr>(),
        id::<Setattr>(),
        id::<Lookup>(),
        id::<Access>(),
        id::<Readlink>(),
        id::<Read>(),
        id::<Write>(),
        id::<Create>(),
        id::<Mkdir>(),
        id::<Symlink>(),
        id::<Mknod>(),
        id::<Remove>(),
        id::<Rmdir>(),
        id::<Rename>(),
        id::<Link>(),
        id::<Readdir>(),
        id::<Readdirplus>(),
        id::<Fsstat>(),
        id::<Fsinfo>(),
        id::<Pathconf>(),
        id::<Commit>(),
    ];
    let names = [
        "NULL",
        "GETATTR",
        "SETATTR",
        "LOOKUP",
        "ACCESS",
        "READLINK",
        "READ",
        "WRITE",
        "CREATE",
        "MKDIR",
        "SYMLINK",
        "MKNOD",
        "REMOVE",
        "RMDIR",
        "RENAME",
        "LINK",
        "READDIR",
        "READDIRPLUS",
        "FSSTAT",
        "FSINFO",
        "PATHCONF",
        "COMMIT",
    ];
    for (number, ((n, name), expected)) in all.iter().zip(names).enumerate() {
        assert_eq!((*n as usize, *name), (number, expected));
    }
}

#[test]
fn file_handles_borrow_and_own() {
    let borrowed = fh();
    assert!(std::ptr::eq(borrowed.as_bytes(), FH_BYTES));
    let owned = borrowed.to_owned();
    assert_eq!(owned.as_bytes(), FH_BYTES);
    assert_eq!(owned.as_fh(), borrowed);
    assert_eq!(FileHandle::new(FH_BYTES).unwrap(), owned);
    assert_eq!(FileHandle::from(borrowed), owned);
    assert_eq!(format!("{owned:?}"), "FileHandle(0100070068616e646c652d627974657330)");
    let longest = [0xabu8; NFS3_FHSIZE];
    assert_eq!(FileHandle::new(&longest).unwrap().as_bytes(), longest);
    assert_ne!(FileHandle::new(&[1]).unwrap(), FileHandle::new(&[1, 0]).unwrap());
}
