use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A failure of the transport itself, as opposed to anything the server said.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("connecting to {addr} failed: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("sending to {addr} failed: {source}")]
    Send { addr: SocketAddr, source: io::Error },
    #[error("connection to {addr} closed: {reason}")]
    Closed { addr: SocketAddr, reason: String },
    #[error("no reply from {addr} within {timeout:?}")]
    TimedOut { addr: SocketAddr, timeout: Duration },
    #[error("request key {key} is already in flight on the connection to {addr}")]
    DuplicateKey { addr: SocketAddr, key: u32 },
    /// A local failure: the connection could not be handed to a receive event loop (all full,
    /// stopped, or its queue stayed full).
    #[error("handing the connection to {addr} to a receive event loop failed: {source}")]
    Receive { addr: SocketAddr, source: io::Error },
}

impl TransportError {
    /// Whether a fresh connection could succeed where this one failed.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, TransportError::Closed { .. } | TransportError::Send { .. })
    }

    pub fn errno(&self) -> i32 {
        match self {
            TransportError::Connect { source, .. } => source.raw_os_error().unwrap_or(ECONNREFUSED),
            TransportError::TimedOut { .. } => ETIMEDOUT,
            TransportError::DuplicateKey { .. } | TransportError::Receive { .. } => EIO,
            _ => ECONNRESET,
        }
    }
}

// Linux errno values; the transport reports them so callers need no libc of their own.
const EIO: i32 = 5;
const ECONNRESET: i32 = 104;
const ETIMEDOUT: i32 = 110;
const ECONNREFUSED: i32 = 111;
