/// Appends XDR items to a buffer the caller owns (and typically reuses across calls).
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

const ZEROS: [u8; 4] = [0; 4];

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }

    /// Bytes in the underlying buffer, including any written before this writer was made.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.u32(u32::from(v));
    }

    /// Fixed-length opaque: the bytes then zero padding, no length word.
    pub fn opaque_fixed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.padding(data.len());
    }

    /// Variable-length opaque or string: length word, bytes, zero padding.
    ///
    /// Callers bound `data` by its protocol limit when they build the message; every such limit
    /// is far below `u32::MAX`, so the length always fits.
    pub fn opaque(&mut self, data: &[u8]) {
        self.u32(data.len() as u32);
        self.opaque_fixed(data);
    }

    /// Zero padding after `len` bytes of opaque data written elsewhere (the zero-copy WRITE path
    /// sends the payload from the caller's memory and only the padding from here).
    pub fn padding(&mut self, len: usize) {
        self.buf.extend_from_slice(&ZEROS[..super::pad_len(len)]);
    }
}
