//! Sockets and connections.

mod connection;
mod error;
mod socket;

pub use connection::{Connection, ConnectionStats, Framer, Pending, ReceiveKind, ReceiveMode, Replies};
pub(crate) use connection::{Received, Receiver};
pub use error::TransportError;
pub use socket::{connect, SocketOptions};

#[cfg(test)]
pub(crate) mod tests;
