use crate::xdr::{DecodeError, Encode, Reader, Writer};

/// `AUTH_NONE` flavor (RFC 5531 §8.1).
pub const AUTH_NONE: u32 = 0;
/// `AUTH_SYS` flavor (RFC 5531 appendix A).
pub const AUTH_SYS: u32 = 1;
/// An opaque_auth body holds at most 400 bytes (RFC 5531 §8.2).
pub const MAX_AUTH_BYTES: usize = 400;
/// AUTH_SYS carries at most 16 auxiliary groups.
pub const MAX_GIDS: usize = 16;
/// AUTH_SYS machine names are `string<255>`.
pub const MAX_MACHINE_NAME_LEN: usize = 255;

/// The AUTH_SYS credential body: who the caller claims to be (RFC 5531 appendix A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSys {
    pub stamp: u32,
    pub machine_name: String,
    pub uid: u32,
    pub gid: u32,
    pub gids: Vec<u32>,
}

impl AuthSys {
    fn encoded_len(&self) -> usize {
        4 + crate::xdr::opaque_len(self.machine_name.len()) + 4 + 4 + 4 + 4 * self.gids.len()
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<AuthSys, DecodeError> {
        let stamp = r.u32("authsys.stamp")?;
        let name = r.opaque(MAX_MACHINE_NAME_LEN, "authsys.machinename")?;
        let machine_name = String::from_utf8_lossy(name).into_owned();
        let uid = r.u32("authsys.uid")?;
        let gid = r.u32("authsys.gid")?;
        let n = r.count(MAX_GIDS, 4, "authsys.gids")?;
        let gids = (0..n).map(|_| r.u32("authsys.gids")).collect::<Result<_, _>>()?;
        Ok(AuthSys { stamp, machine_name, uid, gid, gids })
    }
}

/// A credential, encoded once when it is made so each call only copies its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    flavor: u32,
    body: Vec<u8>,
}

/// Why a credential could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("AUTH_SYS machine name is {0} bytes, the maximum is {MAX_MACHINE_NAME_LEN}")]
    MachineNameTooLong(usize),
    #[error("AUTH_SYS carries at most {MAX_GIDS} auxiliary groups, got {0}")]
    TooManyGids(usize),
}

impl Credential {
    pub fn none() -> Credential {
        Credential { flavor: AUTH_NONE, body: Vec::new() }
    }

    pub fn sys(auth: &AuthSys) -> Result<Credential, CredentialError> {
        if auth.machine_name.len() > MAX_MACHINE_NAME_LEN {
            return Err(CredentialError::MachineNameTooLong(auth.machine_name.len()));
        }
        if auth.gids.len() > MAX_GIDS {
            return Err(CredentialError::TooManyGids(auth.gids.len()));
        }
        let mut body = Vec::with_capacity(auth.encoded_len());
        let mut w = Writer::new(&mut body);
        w.u32(auth.stamp);
        w.opaque(auth.machine_name.as_bytes());
        w.u32(auth.uid);
        w.u32(auth.gid);
        w.u32(auth.gids.len() as u32);
        for &g in &auth.gids {
            w.u32(g);
        }
        Ok(Credential { flavor: AUTH_SYS, body })
    }

    pub fn flavor(&self) -> u32 {
        self.flavor
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl Encode for Credential {
    fn encoded_len(&self) -> usize {
        4 + crate::xdr::opaque_len(self.body.len())
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.flavor);
        w.opaque(&self.body);
    }
}
