//! Sockets and connections.

mod connection;
mod error;
mod socket;

pub use connection::{Connection, ConnectionStats, Framer, Pending, ReceiveMode};
pub use error::TransportError;
pub use socket::{connect, SocketOptions};

#[cfg(test)]
mod tests;
