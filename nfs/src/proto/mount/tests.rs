use super::*;

/// Encodes `$value` as `$ty`, checks `encoded_len` is exact, decodes it back and compares.
macro_rules! assert_round_trip {
    ($ty:ty, $value:expr) => {{
        let value: $ty = $value;
        let bytes = value.to_xdr();
        assert_eq!(bytes.len(), value.encoded_len(), "encoded_len of {}", stringify!($ty));
        assert_eq!(<$ty>::from_xdr(&bytes).unwrap(), value);
    }};
}

type MntReply<'a> = Result<MntOk<'a>, Mountstat3>;

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// MNT reply.
#[rustfmt::skip]
const MNT_REPLY: [u8; 28] = [
    0, 0, 0, 0,                     // Status: MNT3_OK (0)
    0, 0, 0, 8,                     // fhandle  length: 8
    1, 0, 1, 0, 0, 0, 0, 0x2a,      //   [filehandle: 010001000000002a]
    0, 0, 0, 2,                     // Flavors: 2
    0, 0, 0, 1,                     //   Flavor: AUTH_UNIX (1)
    0, 0, 0, 0,                     //   Flavor: AUTH_NULL (0)
];

#[test]
fn mnt_reply() {
    let reply = MntReply::from_xdr(&MNT_REPLY).unwrap();
    let handle = [1, 0, 1, 0, 0, 0, 0, 0x2a];
    let expected = MntOk { fhandle: Fh::new(&handle).unwrap(), auth_flavors: vec![1, 0] };
    assert_eq!(reply, Ok(expected));
    assert_eq!(reply.to_xdr(), MNT_REPLY);
    // Status: MNT3ERR_ACCES (13), and nothing follows.
    assert_eq!(MntReply::from_xdr(&words(&[13])).unwrap(), Err(Mountstat3::Acces));
}

#[test]
fn round_trips() {
    assert_round_trip!(MntArgs<'_>, MntArgs { dirpath: b"/export/home" });
    assert_round_trip!(UmntArgs<'_>, UmntArgs { dirpath: b"/" });
    assert_round_trip!(
        MntReply<'_>,
        Ok(MntOk { fhandle: Fh::new(&[7; FHSIZE3]).unwrap(), auth_flavors: Vec::new() })
    );
    assert_round_trip!(MntReply<'_>, Err(Mountstat3::Noent));
    assert_round_trip!(MountList<'_>, MountList::default());
    assert_round_trip!(
        MountList<'_>,
        MountList {
            entries: vec![
                MountEntry { hostname: b"node1", directory: b"/export" },
                MountEntry { hostname: b"node22", directory: b"/scratch/a" },
            ],
        }
    );
    assert_round_trip!(ExportList<'_>, ExportList::default());
    assert_round_trip!(
        ExportList<'_>,
        ExportList {
            entries: vec![
                ExportEntry { dir: b"/export", groups: vec![b"*"] },
                ExportEntry { dir: b"/scratch", groups: vec![b"10.0.0.0/8", b"@compute"] },
                ExportEntry { dir: b"/open", groups: Vec::new() },
            ],
        }
    );
}

#[test]
fn every_defined_status_round_trips() {
    let defined: Vec<Mountstat3> = (0..=20_000).filter_map(Mountstat3::from_u32).collect();
    assert_eq!(defined.len(), 10);
    for status in defined {
        assert_round_trip!(Mountstat3, status);
        assert!(status.name().starts_with("MNT3"));
        assert_eq!(status.to_string(), status.name());
        assert_eq!(status.errno() == 0, status == Mountstat3::Ok);
    }
    assert_eq!(
        MntReply::from_xdr(&words(&[3])).unwrap_err(),
        DecodeError::UnknownDiscriminant { field: "mountstat3", value: 3 }
    );
}

#[test]
fn dirpath_longer_than_mntpathlen() {
    let path = vec![b'/'; MNTPATHLEN + 1];
    let err = MntArgs::from_xdr(&MntArgs { dirpath: &path }.to_xdr()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLong { field: "dirpath", len: MNTPATHLEN as u64 + 1, max: MNTPATHLEN as u64 }
    );
}

#[test]
fn file_handle_longer_than_fhsize3() {
    let mut bytes = words(&[0, 65]);
    bytes.extend_from_slice(&[0; 68]);
    bytes.extend(words(&[0]));
    assert!(matches!(
        MntReply::from_xdr(&bytes),
        Err(DecodeError::TooLong { field: "fhandle3", len: 65, .. })
    ));
}

#[test]
fn more_auth_flavors_than_the_cap() {
    let mut bytes = words(&[0, 4, 1, MAX_AUTH_FLAVORS as u32 + 1]);
    bytes.extend(words(&[1; MAX_AUTH_FLAVORS + 1]));
    assert!(matches!(
        MntReply::from_xdr(&bytes),
        Err(DecodeError::TooLong { field: "mountres3_ok.auth_flavors", .. })
    ));
    // A count the message cannot hold fails before any allocation.
    assert!(matches!(
        MntReply::from_xdr(&words(&[0, 4, 1, 32])),
        Err(DecodeError::Truncated { field: "mountres3_ok.auth_flavors", .. })
    ));
}

#[test]
fn host_name_longer_than_mntnamlen() {
    let host = [b'h'; MNTNAMLEN + 1];
    let list = MountList { entries: vec![MountEntry { hostname: &host, directory: b"/" }] };
    assert!(matches!(MountList::from_xdr(&list.to_xdr()), Err(DecodeError::TooLong { field: "name", .. })));
}

#[test]
fn mount_list_longer_than_the_cap() {
    let entry = MountEntry { hostname: b"", directory: b"" };
    if cfg!(miri) {
        // 65,537 entries take minutes under Miri; the cap is `list::decode`'s, so check it there
        // with a small cap on the same entry decoder.
        let bytes = MountList { entries: vec![entry; 5] }.to_xdr();
        let err = list::decode(&mut Reader::new(&bytes), 4, "mountlist", MountEntry::decode).unwrap_err();
        assert_eq!(err, DecodeError::TooLong { field: "mountlist", len: 5, max: 4 });
        return;
    }
    let list = MountList { entries: vec![entry; MAX_MOUNT_ENTRIES + 1] };
    assert!(matches!(
        MountList::from_xdr(&list.to_xdr()),
        Err(DecodeError::TooLong { field: "mountlist", .. })
    ));
}

#[test]
fn truncated_export_list() {
    let list = ExportList { entries: vec![ExportEntry { dir: b"/export", groups: vec![b"a", b"bc"] }] };
    let bytes = list.to_xdr();
    for len in 0..bytes.len() {
        assert!(matches!(ExportList::from_xdr(&bytes[..len]), Err(DecodeError::Truncated { .. })));
    }
    let mut bad = bytes.clone();
    bad[19] = 2; // the first group's value_follows
    assert!(matches!(
        ExportList::from_xdr(&bad),
        Err(DecodeError::InvalidBool { field: "groups", value: 2 })
    ));
}
