//! encode → decode → equal, with `encoded_len` exact, for the arguments and both result arms
//! of every procedure.

use super::*;

/// Round trips the arguments, the success reply and a failure reply of procedure `$p`.
macro_rules! assert_procedure_round_trips {
    ($p:ty, $args:expr, $ok:expr, $status:expr, $fail:expr $(,)?) => {{
        assert_round_trip!(<$p as Procedure>::Args<'_>, $args);
        assert_round_trip!(Reply<'_, $p>, Ok($ok));
        assert_round_trip!(Reply<'_, $p>, Err(Failed { status: $status, detail: $fail }));
    }};
}

#[test]
fn null() {
    assert_round_trip!((), ());
    assert_eq!(().to_xdr(), b"");
}

#[test]
fn getattr() {
    assert_procedure_round_trips!(
        Getattr,
        GetattrArgs { object: fh() },
        GetattrOk { attributes: fattr(Ftype3::Reg) },
        Nfsstat3::Stale,
        (),
    );
}

#[test]
fn setattr() {
    assert_procedure_round_trips!(
        Setattr,
        SetattrArgs { object: fh(), new_attributes: sattr(), guard: Some(time(9)) },
        SetattrOk { obj_wcc: wcc() },
        Nfsstat3::NotSync,
        wcc(),
    );
    assert_round_trip!(
        SetattrArgs<'_>,
        SetattrArgs { object: fh(), new_attributes: Sattr3::default(), guard: None }
    );
}

#[test]
fn lookup() {
    assert_procedure_round_trips!(
        Lookup,
        LookupArgs { what: dirop(b"a") },
        LookupOk { object: fh(), obj_attributes: Some(fattr(Ftype3::Lnk)), dir_attributes: None },
        Nfsstat3::Noent,
        Some(fattr(Ftype3::Dir)),
    );
}

#[test]
fn access() {
    assert_procedure_round_trips!(
        Access,
        AccessArgs { object: fh(), access: ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_EXECUTE },
        AccessOk { obj_attributes: Some(fattr(Ftype3::Reg)), access: ACCESS3_READ },
        Nfsstat3::Acces,
        None,
    );
}

#[test]
fn readlink() {
    assert_procedure_round_trips!(
        Readlink,
        ReadlinkArgs { symlink: fh() },
        ReadlinkOk { symlink_attributes: Some(fattr(Ftype3::Lnk)), data: b"../target" },
        Nfsstat3::Inval,
        None,
    );
}

#[test]
fn read() {
    assert_procedure_round_trips!(
        Read,
        ReadArgs { file: fh(), offset: 1 << 33, count: 1 << 20 },
        ReadOk { file_attributes: Some(fattr(Ftype3::Reg)), count: 3, eof: true, data: b"abc" },
        Nfsstat3::Io,
        Some(fattr(Ftype3::Reg)),
    );
}

#[test]
fn write() {
    assert_procedure_round_trips!(
        Write,
        WriteArgs { file: fh(), offset: 4096, count: 5, stable: StableHow::DataSync, data: b"hello" },
        WriteOk { file_wcc: wcc(), count: 5, committed: StableHow::FileSync, verf: *b"verifier" },
        Nfsstat3::Nospc,
        wcc(),
    );
}

#[test]
fn create() {
    for how in [
        CreateHow::Unchecked(sattr()),
        CreateHow::Guarded(Sattr3::default()),
        CreateHow::Exclusive(*b"12345678"),
    ] {
        assert_procedure_round_trips!(
            Create,
            CreateArgs { where_: dirop(b"new"), how },
            CreateOk { obj: Some(fh()), obj_attributes: Some(fattr(Ftype3::Reg)), dir_wcc: wcc() },
            Nfsstat3::Exist,
            WccData::default(),
        );
    }
}

#[test]
fn mkdir() {
    assert_procedure_round_trips!(
        Mkdir,
        MkdirArgs { where_: dirop(b"dir"), attributes: sattr() },
        NewObjOk { obj: None, obj_attributes: None, dir_wcc: wcc() },
        Nfsstat3::Dquot,
        wcc(),
    );
}

#[test]
fn symlink() {
    assert_procedure_round_trips!(
        Symlink,
        SymlinkArgs {
            where_: dirop(b"link"),
            symlink_attributes: Sattr3::default(),
            symlink_data: b"/some/where/else",
        },
        NewObjOk { obj: Some(fh()), obj_attributes: None, dir_wcc: WccData::default() },
        Nfsstat3::Rofs,
        wcc(),
    );
}

#[test]
fn mknod() {
    let dev = SpecData3 { major: 1, minor: 3 };
    for what in [
        MknodData::Chr(sattr(), dev),
        MknodData::Blk(Sattr3::default(), dev),
        MknodData::Sock(sattr()),
        MknodData::Fifo(Sattr3::default()),
    ] {
        assert_procedure_round_trips!(
            Mknod,
            MknodArgs { where_: dirop(b"node"), what },
            NewObjOk { obj: Some(fh()), obj_attributes: Some(fattr(Ftype3::Chr)), dir_wcc: wcc() },
            Nfsstat3::Badtype,
            wcc(),
        );
    }
}

#[test]
fn remove_and_rmdir() {
    assert_procedure_round_trips!(
        Remove,
        RemoveArgs { object: dirop(b"gone") },
        RemoveOk { dir_wcc: wcc() },
        Nfsstat3::Noent,
        wcc(),
    );
    assert_procedure_round_trips!(
        Rmdir,
        RmdirArgs { object: dirop(b"dir") },
        RmdirOk { dir_wcc: WccData::default() },
        Nfsstat3::Notempty,
        wcc(),
    );
}

#[test]
fn rename() {
    let both = RenameOk { fromdir_wcc: wcc(), todir_wcc: WccData::default() };
    assert_procedure_round_trips!(
        Rename,
        RenameArgs { from: dirop(b"old"), to: dirop(b"new name") },
        both,
        Nfsstat3::Xdev,
        both,
    );
}

#[test]
fn link() {
    let both = LinkOk { file_attributes: Some(fattr(Ftype3::Reg)), linkdir_wcc: wcc() };
    assert_procedure_round_trips!(
        Link,
        LinkArgs { file: fh(), link: dirop(b"alias") },
        both,
        Nfsstat3::Mlink,
        both,
    );
}

#[test]
fn readdir() {
    assert_procedure_round_trips!(
        Readdir,
        ReaddirArgs { dir: fh(), cookie: 0, cookieverf: [0; NFS3_COOKIEVERFSIZE], count: 8192 },
        ReaddirOk {
            dir_attributes: Some(fattr(Ftype3::Dir)),
            cookieverf: *b"cookieve",
            entries: vec![
                DirEntry { fileid: 1, name: b".", cookie: 1 },
                DirEntry { fileid: 2, name: b"..", cookie: 2 },
                DirEntry { fileid: 3, name: b"x", cookie: u64::MAX },
            ],
            eof: true,
        },
        Nfsstat3::BadCookie,
        None,
    );
    assert_round_trip!(
        ReaddirOk<'_>,
        ReaddirOk { dir_attributes: None, cookieverf: [0; 8], entries: Vec::new(), eof: false }
    );
}

#[test]
fn readdirplus() {
    assert_procedure_round_trips!(
        Readdirplus,
        ReaddirplusArgs { dir: fh(), cookie: 77, cookieverf: *b"cookieve", dircount: 4096, maxcount: 32768 },
        ReaddirplusOk {
            dir_attributes: None,
            cookieverf: *b"cookieve",
            entries: vec![
                DirEntryPlus {
                    fileid: 1,
                    name: b"a",
                    cookie: 1,
                    name_attributes: Some(fattr(Ftype3::Reg)),
                    name_handle: Some(fh()),
                },
                DirEntryPlus { fileid: 2, name: b"bb", cookie: 2, name_attributes: None, name_handle: None },
            ],
            eof: false,
        },
        Nfsstat3::Toosmall,
        Some(fattr(Ftype3::Dir)),
    );
}

#[test]
fn fsstat() {
    assert_procedure_round_trips!(
        Fsstat,
        FsstatArgs { fsroot: fh() },
        FsstatOk {
            obj_attributes: None,
            tbytes: 1,
            fbytes: 2,
            abytes: 3,
            tfiles: 4,
            ffiles: 5,
            afiles: 6,
            invarsec: 7,
        },
        Nfsstat3::Serverfault,
        None,
    );
}

#[test]
fn fsinfo() {
    assert_procedure_round_trips!(
        Fsinfo,
        FsinfoArgs { fsroot: fh() },
        FsinfoOk {
            obj_attributes: Some(fattr(Ftype3::Dir)),
            rtmax: 1 << 20,
            rtpref: 1 << 20,
            rtmult: 4096,
            wtmax: 1 << 20,
            wtpref: 1 << 20,
            wtmult: 4096,
            dtpref: 1 << 16,
            maxfilesize: u64::MAX,
            time_delta: NfsTime3 { seconds: 0, nseconds: 1 },
            properties: FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
        },
        Nfsstat3::Stale,
        None,
    );
}

#[test]
fn pathconf() {
    assert_procedure_round_trips!(
        Pathconf,
        PathconfArgs { object: fh() },
        PathconfOk {
            obj_attributes: None,
            linkmax: 32000,
            name_max: 255,
            no_trunc: true,
            chown_restricted: true,
            case_insensitive: false,
            case_preserving: true,
        },
        Nfsstat3::Jukebox,
        Some(fattr(Ftype3::Dir)),
    );
}

#[test]
fn commit() {
    assert_procedure_round_trips!(
        Commit,
        CommitArgs { file: fh(), offset: 0, count: 0 },
        CommitOk { file_wcc: wcc(), verf: *b"verifier" },
        Nfsstat3::Io,
        wcc(),
    );
}

#[test]
fn write_header_payload_and_padding_equal_the_whole_encoding() {
    for data in [&b""[..], b"x", b"xy", b"xyz", b"wxyz", b"hello"] {
        let args =
            WriteArgs { file: fh(), offset: 1, count: data.len() as u32, stable: StableHow::Unstable, data };
        let mut split = Vec::new();
        args.encode_without_payload(&mut crate::xdr::Writer::new(&mut split));
        let header_len = split.len();
        split.extend_from_slice(data);
        split.resize(split.len() + args.payload_padding(), 0);
        assert_eq!(split, args.to_xdr(), "data {data:?}");
        assert_eq!(header_len + data.len() + args.payload_padding(), args.encoded_len());
        assert_eq!((data.len() + args.payload_padding()) % 4, 0);
    }
}
