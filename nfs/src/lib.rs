#![deny(unsafe_code)]
pub mod rpc;
pub mod xdr;
