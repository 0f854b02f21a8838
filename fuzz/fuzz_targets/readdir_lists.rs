//! Directory and MOUNT lists (READDIR, READDIRPLUS, DUMP, EXPORT), the XDR linked lists the
//! client decodes iteratively under an entry cap. Two halves:
//!
//! - arbitrary bytes decode as each list without panicking, and whatever decodes re-encodes to
//!   the same bytes (decode, encode, decode);
//! - lists built from the input (names, handles, attributes cut from it, up to a few thousand
//!   entries) round-trip exactly, with `encoded_len` exact, and every prefix of their encoding
//!   fails as truncation rather than decoding to something shorter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nfsx::proto::mount::{ExportEntry, ExportList, MountEntry, MountList};
use nfsx::proto::nfs3::{
    DirEntry, DirEntryPlus, Failed, Fattr3, Fh, Ftype3, NfsTime3, Readdir, ReaddirOk, Readdirplus,
    ReaddirplusOk, Reply, SpecData3,
};
use nfsx::xdr::{Decode, DecodeError, Encode};

fn round_trip<'a, T: Decode<'a> + Encode + PartialEq + std::fmt::Debug>(data: &'a [u8]) {
    if let Ok(value) = T::from_xdr(data) {
        let bytes = value.to_xdr();
        assert_eq!(bytes.len(), value.encoded_len());
        // Byte-identical, so decoding the re-encoding gives the same value again.
        assert_eq!(bytes, data, "XDR is canonical: what decodes re-encodes to the same bytes");
    }
}

/// Encodes `$value` as `$ty`, checks it decodes back equal with `encoded_len` exact, and that
/// cutting its encoding short is truncation.
macro_rules! built {
    ($ty:ty, $value:expr, $cut:expr) => {{
        let value: $ty = $value;
        let bytes = value.to_xdr();
        assert_eq!(bytes.len(), value.encoded_len());
        assert_eq!(<$ty>::from_xdr(&bytes).expect("a built list decodes"), value);
        let cut = $cut % bytes.len().max(1);
        match <$ty>::from_xdr(&bytes[..cut]) {
            Err(DecodeError::Truncated { .. }) => {}
            other => panic!("prefix of {cut} of {} bytes: {other:?}", bytes.len()),
        }
    }};
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(std::array::from_fn(|_| self.byte()))
    }
    fn time(&mut self) -> NfsTime3 {
        NfsTime3 { seconds: u32::from(self.byte()) << 8, nseconds: u32::from(self.byte()) * 3_900_000 }
    }
    fn fattr(&mut self) -> Option<Fattr3> {
        (self.byte() & 1 == 1).then(|| Fattr3 {
            ftype: [Ftype3::Reg, Ftype3::Dir, Ftype3::Lnk, Ftype3::Fifo][usize::from(self.byte() % 4)],
            mode: u32::from(self.byte()) << 4,
            nlink: 1,
            uid: u32::from(self.byte()),
            gid: 0,
            size: self.u64(),
            used: 0,
            rdev: SpecData3::default(),
            fsid: 7,
            fileid: self.u64(),
            atime: self.time(),
            mtime: self.time(),
            ctime: self.time(),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    match selector % 8 {
        0 => round_trip::<Reply<'_, Readdir>>(body),
        1 => round_trip::<Reply<'_, Readdirplus>>(body),
        2 => round_trip::<MountList<'_>>(body),
        3 => round_trip::<ExportList<'_>>(body),
        _ => {
            let mut input = Input(body);
            let cut = usize::from(input.byte()) << 8 | usize::from(input.byte());
            let count = (usize::from(input.byte()) << 4 | usize::from(input.byte() & 15)).min(4000);
            // Names and handles are cut from the input, so they vary with it; when the input
            // runs out they are empty names (legal on the wire) and a one-byte handle.
            let mut names = Vec::with_capacity(count);
            for _ in 0..count {
                let len = usize::from(input.byte() % 32);
                names.push(input.bytes(len));
            }
            let eof = input.byte() & 1 == 1;
            match selector % 8 {
                4 => {
                    let entries = names
                        .iter()
                        .map(|name| DirEntry { fileid: input.u64(), name, cookie: input.u64() })
                        .collect();
                    let ok = ReaddirOk { dir_attributes: input.fattr(), cookieverf: [9; 8], entries, eof };
                    built!(Reply<'_, Readdir>, Ok(ok), cut);
                }
                5 => {
                    let handle_bytes = [0xa5u8; 64];
                    let entries = names
                        .iter()
                        .map(|name| {
                            let fh_len = 1 + usize::from(input.byte() % 64);
                            DirEntryPlus {
                                fileid: input.u64(),
                                name,
                                cookie: input.u64(),
                                name_attributes: input.fattr(),
                                name_handle: (input.byte() & 1 == 1)
                                    .then(|| Fh::new(&handle_bytes[..fh_len]).expect("1 to 64 bytes")),
                            }
                        })
                        .collect();
                    let ok =
                        ReaddirplusOk { dir_attributes: input.fattr(), cookieverf: [3; 8], entries, eof };
                    built!(Reply<'_, Readdirplus>, Ok(ok), cut);
                    let failed: Reply<'_, Readdirplus> =
                        Err(Failed { status: nfsx::proto::nfs3::Nfsstat3::BadCookie, detail: input.fattr() });
                    built!(Reply<'_, Readdirplus>, failed, cut);
                }
                6 => {
                    let entries = names
                        .chunks(2)
                        .map(|p| MountEntry { hostname: p[0], directory: p[p.len() - 1] })
                        .collect();
                    built!(MountList<'_>, MountList { entries }, cut);
                }
                _ => {
                    let entries =
                        names.chunks(3).map(|g| ExportEntry { dir: g[0], groups: g[1..].to_vec() }).collect();
                    built!(ExportList<'_>, ExportList { entries }, cut);
                }
            }
        }
    }
});
