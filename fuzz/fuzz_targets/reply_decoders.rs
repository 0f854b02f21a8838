//! Every reply decoder (portmap, MOUNT, all 21 NFSv3 procedures with a result, and the RPC reply
//! header) and every argument decoder on arbitrary bytes: none may panic, and whatever decodes
//! must re-encode to exactly the input (XDR is canonical), with `encoded_len` exact, and decode
//! again to the same value (decode, encode, decode).
//!
//! The first byte picks the decoder. Selectors 32 and up take a whole reply record instead, as
//! the client's receive path does: `decode_reply` for the RPC header, then the body as the
//! procedure the selector names.
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
        // Byte-identical, so decoding the re-encoding gives the same value again: the
        // decode, encode, decode round trip.
        assert_eq!(bytes, data, "what decodes must re-encode to the same bytes");
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

/// One decoder per selector; 0 is the RPC reply header alone.
fn decode(selector: u8, body: &[u8]) {
    match selector % 32 {
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
        23 => round_trip::<mount::ExportList<'_>>(body),
        24 => round_trip::<mount::MountList<'_>>(body),
        25 => round_trip::<mount::MntArgs<'_>>(body),
        26 => round_trip::<portmap::Mapping>(body),
        // GETPORT's reply: a bare unsigned int.
        27 => round_trip::<u32>(body),
        28 => round_trip::<Option<nfs3::Fattr3>>(body),
        29 => round_trip::<nfs3::WccData>(body),
        30 => round_trip::<nfs3::Sattr3>(body),
        _ => round_trip::<nfs3::Nfsstat3>(body),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    if selector < 32 {
        decode(selector, body);
    } else if let Ok(reply) = decode_reply(body) {
        if let Ok(result) = reply.body {
            decode(selector, result);
        }
    }
});
