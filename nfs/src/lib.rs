#![deny(unsafe_code)]
pub mod xdr;
