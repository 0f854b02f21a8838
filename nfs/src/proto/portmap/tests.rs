use super::*;

/// GETPORT call arguments for NFS v3 over TCP.
#[rustfmt::skip]
const GETPORT_NFS_TCP: [u8; 16] = [
    0, 0x01, 0x86, 0xa3,            // Program: NFS (100003)
    0, 0, 0, 3,                     // Version: 3
    0, 0, 0, 6,                     // Proto: TCP (6)
    0, 0, 0, 0,                     // Port: 0
];

#[test]
fn getport_arguments() {
    let mapping = Mapping {
        prog: crate::proto::NFS_PROGRAM,
        vers: crate::proto::NFS_VERSION,
        prot: IPPROTO_TCP,
        port: 0,
    };
    assert_eq!(mapping.to_xdr(), GETPORT_NFS_TCP);
    assert_eq!(mapping.encoded_len(), GETPORT_NFS_TCP.len());
    assert_eq!(Mapping::from_xdr(&GETPORT_NFS_TCP).unwrap(), mapping);
}

#[test]
fn getport_reply_is_a_plain_port() {
    // Port: 2049
    assert_eq!(u32::from_xdr(&[0, 0, 0x08, 0x01]).unwrap(), 2049);
    assert!(matches!(
        Mapping::from_xdr(&GETPORT_NFS_TCP[..15]),
        Err(DecodeError::Truncated { field: "mapping.port", .. })
    ));
}
