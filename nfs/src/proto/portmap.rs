//! Portmapper version 2 (RFC 1833 §3): asks a host which port an RPC program listens on.
//!
//! GETPORT takes a [`Mapping`] and replies with a plain `unsigned int` port, 0 when the program
//! is not registered; decode it with `u32::decode` and check that it fits a `u16`.

use crate::xdr::{Decode, DecodeError, Encode, Reader, Writer};

/// The port the portmapper itself listens on, TCP and UDP (RFC 1833 §3).
pub const PMAP_PORT: u16 = 111;

/// Procedure numbers (RFC 1833 §3.2). Only the ones a client needs.
pub const PMAPPROC_NULL: u32 = 0;
pub const PMAPPROC_GETPORT: u32 = 3;

/// `mapping.prot` values (RFC 1833 §3.1).
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;

/// `mapping` (RFC 1833 §3.1), the GETPORT argument: `port` is ignored there and sent as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mapping {
    pub prog: u32,
    pub vers: u32,
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub prot: u32,
    pub port: u32,
}

impl Encode for Mapping {
    fn encoded_len(&self) -> usize {
        16
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.prog);
        w.u32(self.vers);
        w.u32(self.prot);
        w.u32(self.port);
    }
}

impl<'a> Decode<'a> for Mapping {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Mapping {
            prog: r.u32("mapping.prog")?,
            vers: r.u32("mapping.vers")?,
            prot: r.u32("mapping.prot")?,
            port: r.u32("mapping.port")?,
        })
    }
}

#[cfg(test)]
mod tests;
