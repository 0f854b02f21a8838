//! Every reply decoder on arbitrary bytes: none may panic, and whatever decodes must re-encode
//! to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nfsx::proto::nfs3::{self, Failed, Procedure};
use nfsx::proto::{mount, portmap};
use nfsx::rpc::decode_reply;
use nfsx::xdr::{Decode, Encode};

fn round_trip<'a, T: Decode<'a> + Encode + PartialEq + std::fmt::Debug>(data: &'a [u8]) {
    if let Ok(value) = T::from_xdr(data) {
        let bytes = value.to_xdr();
        assert_eq!(bytes.len(), value.encoded_len());
        let again = T::from_xdr(&bytes).expect("re-encoded value decodes");
        assert_eq!(again, value);
    }
}

fn procedure<P: Procedure>(data: &[u8])
where
    for<'a> P::Ok<'a>: PartialEq + std::fmt::Debug,
    for<'a> P::Fail<'a>: PartialEq + std::fmt::Debug,
    for<'a> P::Args<'a>: PartialEq + std::fmt::Debug,
{
    round_trip::<Result<P::Ok<'_>, Failed<P::Fail<'_>>>>(data);
    round_trip::<P::Args<'_>>(data);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    match selector % 25 {
        0 => drop(decode_reply(body)),
        1 => procedure::<nfs3::Getattr>(body),
        2 => procedure::<nfs3::Setattr>(body),
        3 => procedure::<nfs3::Lookup>(body),
        4 => procedure::<nfs3::Access>(body),
        5 => procedure::<nfs3::Readlink>(body),
        6 => procedure::<nfs3::Read>(body),
        7 => procedure::<nfs3::Write>(body),
        8 => procedure::<nfs3::Create>(body),
        9 => procedure::<nfs3::Mkdir>(body),
        10 => procedure::<nfs3::Symlink>(body),
        11 => procedure::<nfs3::Mknod>(body),
        12 => procedure::<nfs3::Remove>(body),
        13 => procedure::<nfs3::Rmdir>(body),
        14 => procedure::<nfs3::Rename>(body),
        15 => procedure::<nfs3::Link>(body),
        16 => procedure::<nfs3::Readdir>(body),
        17 => procedure::<nfs3::Readdirplus>(body),
        18 => procedure::<nfs3::Fsstat>(body),
        19 => procedure::<nfs3::Fsinfo>(body),
        20 => procedure::<nfs3::Pathconf>(body),
        21 => procedure::<nfs3::Commit>(body),
        22 => round_trip::<Result<mount::MntOk<'_>, mount::Mountstat3>>(body),
        23 => {
            round_trip::<mount::ExportList<'_>>(body);
            round_trip::<mount::MountList<'_>>(body);
        }
        _ => round_trip::<portmap::Mapping>(body),
    }
});
