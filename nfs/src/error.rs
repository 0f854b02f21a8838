//! One error type that says who failed: the server (an `nfsstat3` or `mountstat3`), the RPC layer,
//! the transport, a malformed reply, or the caller's own arguments.

use std::io;

use nfsx_core::net::TransportError;

use crate::proto::mount::Mountstat3;
use crate::proto::nfs3::Nfsstat3;
use crate::rpc::RpcError;
use crate::xdr::DecodeError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server ran the procedure and answered with a failure status: a normal result.
    #[error("{procedure}: {status}")]
    Nfs { procedure: &'static str, status: Nfsstat3 },
    /// MOUNT refused the export.
    #[error("MOUNT {path}: {status}")]
    Mount { path: String, status: Mountstat3 },
    /// The server's RPC layer refused or could not run the call.
    #[error("{procedure}: RPC failed: {source}")]
    Rpc { procedure: &'static str, source: RpcError },
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server's reply broke the protocol; `source` names the field.
    #[error("{procedure}: malformed reply: {source}")]
    Decode { procedure: &'static str, source: DecodeError },
    /// The server answered in a way the protocol allows but this operation cannot use.
    #[error("{procedure}: {reason}")]
    Protocol { procedure: &'static str, reason: String },
    /// Unstable data was lost: the server's write verifier changed before COMMIT (it restarted).
    #[error("server restarted before unstable writes were committed; data since the last commit must be rewritten")]
    WriteVerifierChanged,
    #[error("invalid URL {0}")]
    Url(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0}: too many levels of symbolic links")]
    SymlinkLoop(String),
    /// [`crate::Client::shut_down`] abandoned the call.
    #[error("the client was shut down; the call was abandoned")]
    ShutDown,
    /// A READ (or READDIR/READDIRPLUS) was not sent: all `limit` receive buffers (`maxbuffers`)
    /// are lent out as views of earlier replies or reserved by calls in flight.
    #[error("all {limit} receive buffers are in use (views of earlier replies still held, or calls in flight); drop views or raise maxbuffers")]
    ReceiveBuffersBusy { limit: usize },
}

impl Error {
    /// The positive errno value a POSIX caller would see for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Nfs { status, .. } => status.errno(),
            Error::Mount { status, .. } => status.errno(),
            Error::Rpc { source, .. } => source.errno(),
            Error::Transport(e) => e.errno(),
            Error::Decode { .. } | Error::Protocol { .. } | Error::WriteVerifierChanged | Error::ShutDown => {
                libc::EIO
            }
            Error::Url(_) | Error::InvalidArgument(_) => libc::EINVAL,
            Error::SymlinkLoop(_) => libc::ELOOP,
            Error::ReceiveBuffersBusy { .. } => libc::ENOBUFS,
        }
    }

    /// The server's status, when the server answered with one.
    pub fn nfs_status(&self) -> Option<Nfsstat3> {
        match self {
            Error::Nfs { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let errno = e.errno();
        io::Error::new(io::Error::from_raw_os_error(errno).kind(), e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
