use crate::xdr::{DecodeError, Encode, Reader, Writer};

use super::auth::{Credential, MAX_AUTH_BYTES};

pub const CALL: u32 = 0;
pub const REPLY: u32 = 1;
pub const RPC_VERSION: u32 = 2;

const MSG_ACCEPTED: u32 = 0;
const MSG_DENIED: u32 = 1;

const SUCCESS: u32 = 0;
const PROG_UNAVAIL: u32 = 1;
const PROG_MISMATCH: u32 = 2;
const PROC_UNAVAIL: u32 = 3;
const GARBAGE_ARGS: u32 = 4;
const SYSTEM_ERR: u32 = 5;

const RPC_MISMATCH: u32 = 0;
const AUTH_ERROR: u32 = 1;

/// The fixed part of a call (RFC 5531 §9, `call_body`). The verifier is always AUTH_NONE: AUTH_SYS
/// has no verifier of its own.
#[derive(Debug, Clone, Copy)]
pub struct CallHeader<'a> {
    pub xid: u32,
    pub program: u32,
    pub version: u32,
    pub procedure: u32,
    pub credential: &'a Credential,
}

impl Encode for CallHeader<'_> {
    fn encoded_len(&self) -> usize {
        4 * 6 + self.credential.encoded_len() + 8
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u32(self.xid);
        w.u32(CALL);
        w.u32(RPC_VERSION);
        w.u32(self.program);
        w.u32(self.version);
        w.u32(self.procedure);
        self.credential.encode(w);
        w.u32(super::AUTH_NONE);
        w.u32(0);
    }
}

/// Appends a complete call message: header, then the procedure's arguments.
pub fn encode_call(w: &mut Writer<'_>, header: &CallHeader<'_>, args: &impl Encode) {
    header.encode(w);
    args.encode(w);
}

/// Why the authentication of a call failed (RFC 5531 §9, `auth_stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthStat {
    Ok,
    BadCred,
    RejectedCred,
    BadVerf,
    RejectedVerf,
    TooWeak,
    InvalidResp,
    Failed,
    /// A flavor-specific status this client never uses (Kerberos, RPCSEC_GSS), kept for the message.
    Other(u32),
}

impl AuthStat {
    fn from_wire(value: u32) -> AuthStat {
        match value {
            0 => AuthStat::Ok,
            1 => AuthStat::BadCred,
            2 => AuthStat::RejectedCred,
            3 => AuthStat::BadVerf,
            4 => AuthStat::RejectedVerf,
            5 => AuthStat::TooWeak,
            6 => AuthStat::InvalidResp,
            7 => AuthStat::Failed,
            other => AuthStat::Other(other),
        }
    }
}

/// The server accepted the message but did not run the procedure, or refused the call outright.
/// Every accept_stat other than SUCCESS and every reject_stat has a variant (RFC 5531 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    #[error("program unavailable on the server")]
    ProgUnavail,
    #[error("program version mismatch: server supports {low}..={high}")]
    ProgMismatch { low: u32, high: u32 },
    #[error("procedure unavailable")]
    ProcUnavail,
    #[error("server could not decode the arguments (GARBAGE_ARGS)")]
    GarbageArgs,
    #[error("server system error (SYSTEM_ERR)")]
    SystemErr,
    #[error("RPC version mismatch: server supports {low}..={high}")]
    RpcMismatch { low: u32, high: u32 },
    #[error("authentication failed: {0:?}")]
    AuthError(AuthStat),
}

impl RpcError {
    pub fn errno(self) -> i32 {
        match self {
            RpcError::AuthError(_) => libc::EACCES,
            RpcError::ProgUnavail | RpcError::ProgMismatch { .. } | RpcError::RpcMismatch { .. } => {
                libc::EPROTONOSUPPORT
            }
            RpcError::ProcUnavail => libc::EOPNOTSUPP,
            RpcError::GarbageArgs | RpcError::SystemErr => libc::EIO,
        }
    }
}

/// A reply whose header decoded. `Ok` holds the procedure's result bytes, borrowed.
pub type ReplyBody<'a> = Result<&'a [u8], RpcError>;

/// The parts of a decoded reply the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedReply<'a> {
    pub xid: u32,
    pub body: ReplyBody<'a>,
}

/// Decodes a reply record's header (RFC 5531 §9, `reply_body`) and returns the result bytes that
/// follow it. A call message, an unknown status or a malformed header is a [`DecodeError`].
pub fn decode_reply(record: &[u8]) -> Result<AcceptedReply<'_>, DecodeError> {
    let mut r = Reader::new(record);
    let xid = r.u32("rpc.xid")?;
    let msg_type = r.u32("rpc.msg_type")?;
    if msg_type != REPLY {
        return Err(DecodeError::UnknownDiscriminant { field: "rpc.msg_type", value: msg_type });
    }
    let body = match r.u32("rpc.reply_stat")? {
        MSG_ACCEPTED => {
            let _flavor = r.u32("rpc.verf.flavor")?;
            r.opaque(MAX_AUTH_BYTES, "rpc.verf.body")?;
            match r.u32("rpc.accept_stat")? {
                SUCCESS => Ok(r.rest()),
                PROG_UNAVAIL => Err(RpcError::ProgUnavail),
                PROG_MISMATCH => {
                    let low = r.u32("rpc.mismatch.low")?;
                    let high = r.u32("rpc.mismatch.high")?;
                    Err(RpcError::ProgMismatch { low, high })
                }
                PROC_UNAVAIL => Err(RpcError::ProcUnavail),
                GARBAGE_ARGS => Err(RpcError::GarbageArgs),
                SYSTEM_ERR => Err(RpcError::SystemErr),
                value => return Err(DecodeError::UnknownDiscriminant { field: "rpc.accept_stat", value }),
            }
        }
        MSG_DENIED => match r.u32("rpc.reject_stat")? {
            RPC_MISMATCH => {
                let low = r.u32("rpc.mismatch.low")?;
                let high = r.u32("rpc.mismatch.high")?;
                Err(RpcError::RpcMismatch { low, high })
            }
            AUTH_ERROR => Err(RpcError::AuthError(AuthStat::from_wire(r.u32("rpc.auth_stat")?))),
            value => return Err(DecodeError::UnknownDiscriminant { field: "rpc.reject_stat", value }),
        },
        value => return Err(DecodeError::UnknownDiscriminant { field: "rpc.reply_stat", value }),
    };
    Ok(AcceptedReply { xid, body })
}
