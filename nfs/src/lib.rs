//! nfsx: a userspace NFSv3 client for HPC codes.
//!
//! ```text
//!   Client (path calls, files, directories)          client/
//!      │  Procedure args ──encode──▶ bytes            proto/ (nfs3, mount, portmap)
//!      │                                              xdr/   (bounded, borrowing codec)
//!      ▼  RPC call header + record mark               rpc/
//!   Channel: pick connection, send, wait, retry       client/channel.rs
//!      ▼
//!   nfsx_core::net::Connection (sockets, reader thread, replies matched by XID)
//! ```
//!
//! The protocol layers (`xdr`, `rpc`, `proto`) are sans-IO: they turn values into bytes and
//! bytes into values that borrow from them, and never touch a socket or a clock. See
//! `docs/ARCHITECTURE.md` for the layers, threading and limits.

#![deny(unsafe_code)]

pub mod client;
mod error;
/// The C ABI (`libnfsx`): the only module allowed `unsafe`, for pointers from C.
#[allow(unsafe_code)]
pub mod ffi;
pub mod proto;
pub mod rpc;
pub mod xdr;

pub use client::{Client, DirEntry, File, FsInfo, FsStat, MountOptions, OpenOptions, PathConf, ReadDir};
pub use error::{Error, Result};
