//! Property tests for the codecs (proptest): for arbitrary arguments and results of every NFSv3
//! procedure, MOUNT and portmap, encoding then decoding gives the value back, `encoded_len` is
//! exact and re-encoding gives the same bytes; and no decoder panics on arbitrary bytes.
//!
//! Case counts are modest so `cargo test` stays fast; `PROPTEST_CASES=10000` runs more. A
//! failure prints the minimal input proptest shrank it to.

use nfsx::proto::mount::{ExportEntry, ExportList, MntArgs, MntOk, MountEntry, MountList, Mountstat3};
use nfsx::proto::nfs3::*;
use nfsx::proto::portmap::Mapping;
use nfsx::rpc::decode_reply;
use nfsx::xdr::{Decode, Encode};
use proptest::prelude::*;

/// Encodes `$value` as `$ty` and checks the round trip: exact length, equal value, same bytes.
macro_rules! check {
    ($ty:ty, $value:expr) => {{
        let value: $ty = $value;
        let bytes = value.to_xdr();
        prop_assert_eq!(bytes.len(), value.encoded_len(), "encoded_len of {}", stringify!($ty));
        let back = <$ty>::from_xdr(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&value), "{} decodes back", stringify!($ty));
        prop_assert_eq!(back.unwrap().to_xdr(), bytes, "{} re-encodes the same", stringify!($ty));
    }};
}

/// Args, a success and a failure of procedure `$p`.
macro_rules! check_procedure {
    ($p:ty, $args:expr, $ok:expr, $status:expr, $fail:expr $(,)?) => {{
        check!(<$p as Procedure>::Args<'_>, $args);
        check!(Reply<'_, $p>, Ok($ok));
        check!(Reply<'_, $p>, Err(Failed { status: $status, detail: $fail }));
    }};
}

/// A directory entry's parts: fileid, name, cookie, attributes, handle.
type OwnedEntry = (u64, Vec<u8>, u64, Option<Fattr3>, Option<Vec<u8>>);

/// The variable-length parts, owned, for values that borrow them.
#[derive(Debug, Clone)]
struct Owned {
    fh: Vec<u8>,
    fh2: Vec<u8>,
    name: Vec<u8>,
    name2: Vec<u8>,
    path: Vec<u8>,
    data: Vec<u8>,
    entries: Vec<OwnedEntry>,
}

/// The fixed-size parts.
#[derive(Debug, Clone, Copy)]
struct Fixed {
    attrs: Fattr3,
    post: Option<Fattr3>,
    wcc: WccData,
    sattr: Sattr3,
    time: NfsTime3,
    guard: Option<NfsTime3>,
    status: Nfsstat3,
    stable: StableHow,
    verf: [u8; 8],
    a: u64,
    b: u32,
    flags: [bool; 4],
    spec: SpecData3,
}

fn time() -> impl Strategy<Value = NfsTime3> {
    (any::<u32>(), 0..1_000_000_000u32).prop_map(|(seconds, nseconds)| NfsTime3 { seconds, nseconds })
}

fn ftype() -> impl Strategy<Value = Ftype3> {
    prop::sample::select(vec![
        Ftype3::Reg,
        Ftype3::Dir,
        Ftype3::Blk,
        Ftype3::Chr,
        Ftype3::Lnk,
        Ftype3::Sock,
        Ftype3::Fifo,
    ])
}

fn spec() -> impl Strategy<Value = SpecData3> {
    (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| SpecData3 { major, minor })
}

fn fattr() -> impl Strategy<Value = Fattr3> {
    (
        (ftype(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        (any::<u64>(), any::<u64>(), spec(), any::<u64>(), any::<u64>()),
        (time(), time(), time()),
    )
        .prop_map(
            |((ftype, mode, nlink, uid, gid), (size, used, rdev, fsid, fileid), (atime, mtime, ctime))| {
                Fattr3 { ftype, mode, nlink, uid, gid, size, used, rdev, fsid, fileid, atime, mtime, ctime }
            },
        )
}

fn wcc() -> impl Strategy<Value = WccData> {
    let before =
        (any::<u64>(), time(), time()).prop_map(|(size, mtime, ctime)| WccAttr { size, mtime, ctime });
    (proptest::option::of(before), proptest::option::of(fattr()))
        .prop_map(|(before, after)| WccData { before, after })
}

fn set_time() -> impl Strategy<Value = SetTime> {
    prop_oneof![Just(SetTime::DontChange), Just(SetTime::ServerTime), time().prop_map(SetTime::ClientTime)]
}

fn sattr() -> impl Strategy<Value = Sattr3> {
    use proptest::option::of;
    (of(any::<u32>()), of(any::<u32>()), of(any::<u32>()), of(any::<u64>()), set_time(), set_time())
        .prop_map(|(mode, uid, gid, size, atime, mtime)| Sattr3 { mode, uid, gid, size, atime, mtime })
}

fn failure_status() -> impl Strategy<Value = Nfsstat3> {
    let all: Vec<Nfsstat3> = (1..=10_008).filter_map(Nfsstat3::from_u32).collect();
    prop::sample::select(all)
}

fn fixed() -> impl Strategy<Value = Fixed> {
    (
        (fattr(), proptest::option::of(fattr()), wcc(), sattr(), time(), proptest::option::of(time())),
        (
            failure_status(),
            prop::sample::select(vec![StableHow::Unstable, StableHow::DataSync, StableHow::FileSync]),
        ),
        (any::<[u8; 8]>(), any::<u64>(), any::<u32>(), any::<[bool; 4]>(), spec()),
    )
        .prop_map(
            |((attrs, post, wcc, sattr, time, guard), (status, stable), (verf, a, b, flags, spec))| Fixed {
                attrs,
                post,
                wcc,
                sattr,
                time,
                guard,
                status,
                stable,
                verf,
                a,
                b,
                flags,
                spec,
            },
        )
}

fn bytes(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

fn owned() -> impl Strategy<Value = Owned> {
    let entry = (
        any::<u64>(),
        bytes(0..=40),
        any::<u64>(),
        proptest::option::of(fattr()),
        proptest::option::of(bytes(1..=64)),
    );
    (
        bytes(1..=64),
        bytes(1..=64),
        bytes(0..=255),
        bytes(0..=40),
        bytes(0..=300),
        bytes(0..=3000),
        prop::collection::vec(entry, 0..12),
    )
        .prop_map(|(fh, fh2, name, name2, path, data, entries)| Owned {
            fh,
            fh2,
            name,
            name2,
            path,
            data,
            entries,
        })
}

fn config() -> ProptestConfig {
    // A few seconds for the whole file; PROPTEST_CASES overrides.
    ProptestConfig { cases: 128, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_procedure_round_trips(o in owned(), f in fixed()) {
        let fh = Fh::new(&o.fh).unwrap();
        let fh2 = Fh::new(&o.fh2).unwrap();
        let dirop = DirOpArgs { dir: fh, name: &o.name };
        let dirop2 = DirOpArgs { dir: fh2, name: &o.name2 };
        let new_obj = NewObjOk { obj: f.flags[0].then_some(fh2), obj_attributes: f.post, dir_wcc: f.wcc };
        let count = o.data.len() as u32;

        check_procedure!(Getattr, GetattrArgs { object: fh }, GetattrOk { attributes: f.attrs }, f.status, ());
        check_procedure!(
            Setattr,
            SetattrArgs { object: fh, new_attributes: f.sattr, guard: f.guard },
            SetattrOk { obj_wcc: f.wcc },
            f.status,
            f.wcc,
        );
        check_procedure!(
            Lookup,
            LookupArgs { what: dirop },
            LookupOk { object: fh2, obj_attributes: f.post, dir_attributes: Some(f.attrs) },
            f.status,
            f.post,
        );
        check_procedure!(
            Access,
            AccessArgs { object: fh, access: f.b },
            AccessOk { obj_attributes: f.post, access: f.b },
            f.status,
            f.post,
        );
        check_procedure!(
            Readlink,
            ReadlinkArgs { symlink: fh },
            ReadlinkOk { symlink_attributes: f.post, data: &o.path },
            f.status,
            f.post,
        );
        check_procedure!(
            Read,
            ReadArgs { file: fh, offset: f.a, count: f.b },
            ReadOk { file_attributes: f.post, count, eof: f.flags[1], data: &o.data },
            f.status,
            f.post,
        );
        check_procedure!(
            Write,
            WriteArgs { file: fh, offset: f.a, count, stable: f.stable, data: &o.data },
            WriteOk { file_wcc: f.wcc, count: f.b, committed: f.stable, verf: f.verf },
            f.status,
            f.wcc,
        );
        let how = match f.b % 3 {
            0 => CreateHow::Unchecked(f.sattr),
            1 => CreateHow::Guarded(f.sattr),
            _ => CreateHow::Exclusive(f.verf),
        };
        check_procedure!(Create, CreateArgs { where_: dirop, how }, new_obj, f.status, f.wcc);
        check_procedure!(Mkdir, MkdirArgs { where_: dirop, attributes: f.sattr }, new_obj, f.status, f.wcc);
        check_procedure!(
            Symlink,
            SymlinkArgs { where_: dirop, symlink_attributes: f.sattr, symlink_data: &o.path },
            new_obj,
            f.status,
            f.wcc,
        );
        let what = match f.b % 4 {
            0 => MknodData::Chr(f.sattr, f.spec),
            1 => MknodData::Blk(f.sattr, f.spec),
            2 => MknodData::Sock(f.sattr),
            _ => MknodData::Fifo(f.sattr),
        };
        check_procedure!(Mknod, MknodArgs { where_: dirop, what }, new_obj, f.status, f.wcc);
        check_procedure!(Remove, RemoveArgs { object: dirop }, RemoveOk { dir_wcc: f.wcc }, f.status, f.wcc);
        check_procedure!(Rmdir, RmdirArgs { object: dirop2 }, RmdirOk { dir_wcc: f.wcc }, f.status, f.wcc);
        let renamed = RenameOk { fromdir_wcc: f.wcc, todir_wcc: WccData { before: None, after: f.post } };
        check_procedure!(Rename, RenameArgs { from: dirop, to: dirop2 }, renamed, f.status, renamed);
        let linked = LinkOk { file_attributes: f.post, linkdir_wcc: f.wcc };
        check_procedure!(Link, LinkArgs { file: fh2, link: dirop }, linked, f.status, linked);

        let entries: Vec<DirEntry<'_>> =
            o.entries.iter().map(|(fileid, name, cookie, _, _)| DirEntry { fileid: *fileid, name, cookie: *cookie }).collect();
        check_procedure!(
            Readdir,
            ReaddirArgs { dir: fh, cookie: f.a, cookieverf: f.verf, count: f.b },
            ReaddirOk { dir_attributes: f.post, cookieverf: f.verf, entries, eof: f.flags[2] },
            f.status,
            f.post,
        );
        let entries: Vec<DirEntryPlus<'_>> = o
            .entries
            .iter()
            .map(|(fileid, name, cookie, attrs, handle)| DirEntryPlus {
                fileid: *fileid,
                name,
                cookie: *cookie,
                name_attributes: *attrs,
                name_handle: handle.as_deref().map(|h| Fh::new(h).unwrap()),
            })
            .collect();
        check_procedure!(
            Readdirplus,
            ReaddirplusArgs { dir: fh, cookie: f.a, cookieverf: f.verf, dircount: f.b, maxcount: f.b / 2 },
            ReaddirplusOk { dir_attributes: f.post, cookieverf: f.verf, entries, eof: f.flags[3] },
            f.status,
            f.post,
        );
        check_procedure!(
            Fsstat,
            FsstatArgs { fsroot: fh },
            FsstatOk {
                obj_attributes: f.post,
                tbytes: f.a,
                fbytes: f.a / 2,
                abytes: f.a / 3,
                tfiles: f.a.rotate_left(7),
                ffiles: 1,
                afiles: 0,
                invarsec: f.b,
            },
            f.status,
            f.post,
        );
        check_procedure!(
            Fsinfo,
            FsinfoArgs { fsroot: fh },
            FsinfoOk {
                obj_attributes: f.post,
                rtmax: f.b,
                rtpref: f.b / 2,
                rtmult: 4096,
                wtmax: f.b.rotate_left(3),
                wtpref: 1,
                wtmult: 0,
                dtpref: 8192,
                maxfilesize: f.a,
                time_delta: f.time,
                properties: f.b & 0x1b,
            },
            f.status,
            f.post,
        );
        check_procedure!(
            Pathconf,
            PathconfArgs { object: fh },
            PathconfOk {
                obj_attributes: f.post,
                linkmax: f.b,
                name_max: 255,
                no_trunc: f.flags[0],
                chown_restricted: f.flags[1],
                case_insensitive: f.flags[2],
                case_preserving: f.flags[3],
            },
            f.status,
            f.post,
        );
        check_procedure!(
            Commit,
            CommitArgs { file: fh, offset: f.a, count: f.b },
            CommitOk { file_wcc: f.wcc, verf: f.verf },
            f.status,
            f.wcc,
        );
    }

    #[test]
    fn mount_and_portmap_round_trip(o in owned(), f in fixed(), flavors in prop::collection::vec(any::<u32>(), 0..=32)) {
        let fh = Fh::new(&o.fh).unwrap();
        check!(MntArgs<'_>, MntArgs { dirpath: &o.path });
        check!(Result<MntOk<'_>, Mountstat3>, Ok(MntOk { fhandle: fh, auth_flavors: flavors }));
        check!(Result<MntOk<'_>, Mountstat3>, Err(Mountstat3::Acces));
        let mounts = o.entries.iter().map(|(_, name, _, _, _)| MountEntry { hostname: name, directory: &o.path }).collect();
        check!(MountList<'_>, MountList { entries: mounts });
        let groups: Vec<&[u8]> = o.entries.iter().map(|(_, name, _, _, _)| &name[..]).collect();
        let exports = vec![
            ExportEntry { dir: &o.path, groups: groups.clone() },
            ExportEntry { dir: &o.name2, groups: vec![] },
        ];
        check!(ExportList<'_>, ExportList { entries: exports });
        check!(Mapping, Mapping { prog: f.b, vers: 3, prot: 6, port: f.b >> 16 });
    }

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        macro_rules! each {
            ($($p:ty),+) => {$(
                let _ = Reply::<$p>::from_xdr(&bytes);
                let _ = <<$p as Procedure>::Args<'_>>::from_xdr(&bytes);
            )+};
        }
        each!(
            Getattr, Setattr, Lookup, Access, Readlink, Read, Write, Create, Mkdir, Symlink, Mknod, Remove,
            Rmdir, Rename, Link, Readdir, Readdirplus, Fsstat, Fsinfo, Pathconf, Commit
        );
        let _ = decode_reply(&bytes);
        let _ = <Result<MntOk<'_>, Mountstat3>>::from_xdr(&bytes);
        let _ = MountList::from_xdr(&bytes);
        let _ = ExportList::from_xdr(&bytes);
        let _ = MntArgs::from_xdr(&bytes);
        let _ = Mapping::from_xdr(&bytes);
    }

    /// Words that look like XDR (small counts, booleans, lengths) reach deeper than bytes do.
    #[test]
    fn no_decoder_panics_on_plausible_words(words in prop::collection::vec(prop_oneof![0..3u32, 0..300u32, any::<u32>()], 0..150)) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        let _ = Reply::<Readdirplus>::from_xdr(&bytes);
        let _ = Reply::<Readdir>::from_xdr(&bytes);
        let _ = Reply::<Lookup>::from_xdr(&bytes);
        let _ = Reply::<Create>::from_xdr(&bytes);
        let _ = Reply::<Read>::from_xdr(&bytes);
        let _ = ExportList::from_xdr(&bytes);
        let _ = decode_reply(&bytes);
    }
}
