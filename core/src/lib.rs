//! nfsx-core: the transport under nfsx. It opens sockets, frames bytes into messages with a
//! [`net::Framer`] the protocol layer supplies, and matches replies to requests by a `u32` key.
//! It knows nothing of NFS or RPC semantics: the protocol crate decides what a frame and a key are.
//!
//! ```text
//!  caller threads ──call(key, iovecs)──▶ Connection ──writev──▶ TCP socket
//!        ▲                                                        │
//!        └──── Pending::wait ◀── pending table ◀── Framer ◀── receive side
//! ```
//!
//! The receive side is one of: a reader thread per connection, the waiting caller itself
//! ([`net::ReceiveMode::Caller`]), or an event loop of a [`ring::Reactor`] that receives for
//! many connections on io_uring (or epoll where io_uring is unavailable).

pub mod buf;
pub mod net;
pub mod poll;
pub mod ring;
mod stack_or_heap;
#[cfg(test)]
mod wake_count;
