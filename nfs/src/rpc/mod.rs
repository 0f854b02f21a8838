//! ONC RPC version 2 (RFC 5531): call and reply headers, AUTH_NONE and AUTH_SYS credentials,
//! record marking over TCP, and XID allocation. Sans-IO: bytes in, bytes out.

mod auth;
mod message;
mod record;
mod xid;

pub use auth::{
    AuthSys, Credential, CredentialError, AUTH_NONE, AUTH_SYS, MAX_AUTH_BYTES, MAX_GIDS, MAX_MACHINE_NAME_LEN,
};
pub use message::{
    decode_reply, encode_call, AcceptedReply, AuthStat, CallHeader, ReplyBody, RpcError, CALL, REPLY,
    RPC_VERSION,
};
pub use record::{
    record_mark, PayloadLocator, RecordError, RecordFramer, RecordReader, LAST_FRAGMENT, MAX_FRAGMENT_LEN,
};
pub use xid::XidAllocator;

#[cfg(test)]
mod tests;
