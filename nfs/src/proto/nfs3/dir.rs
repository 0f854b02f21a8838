//! Directory listing: READDIR and READDIRPLUS (RFC 1813 §3.3.16, §3.3.17).
//!
//! Entries arrive as an XDR linked list, decoded iteratively and capped at [`MAX_DIR_ENTRIES`]
//! (see `proto::list`).

use super::attr::{post_op_attr, post_op_fh, PostOpAttr, PostOpFh};
use super::types::{filename, verf8, CookieVerf, Fh};
use super::MAX_DIR_ENTRIES;
use crate::proto::list;
use crate::xdr::{opaque_len, Decode, DecodeError, Encode, Reader, Writer};

/// `READDIR3args` (RFC 1813 §3.3.16): `cookie` 0 and a zero `cookieverf` start at the
/// beginning; `count` bounds the whole reply in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaddirArgs<'a> {
    pub dir: Fh<'a>,
    pub cookie: u64,
    pub cookieverf: CookieVerf,
    pub count: u32,
}

impl Encode for ReaddirArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.dir.encoded_len() + 8 + self.cookieverf.len() + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.dir.encode(w);
        w.u64(self.cookie);
        w.opaque_fixed(&self.cookieverf);
        w.u32(self.count);
    }
}

impl<'a> Decode<'a> for ReaddirArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReaddirArgs {
            dir: Fh::decode(r)?,
            cookie: r.u64("READDIR3args.cookie")?,
            cookieverf: verf8(r, "READDIR3args.cookieverf")?,
            count: r.u32("READDIR3args.count")?,
        })
    }
}

/// `entry3` (RFC 1813 §3.3.16), without its `nextentry` link. `name` borrows from the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub fileid: u64,
    pub name: &'a [u8],
    /// Where the next READDIR resumes to continue after this entry.
    pub cookie: u64,
}

impl Encode for DirEntry<'_> {
    fn encoded_len(&self) -> usize {
        8 + opaque_len(self.name.len()) + 8
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u64(self.fileid);
        w.opaque(self.name);
        w.u64(self.cookie);
    }
}

impl<'a> Decode<'a> for DirEntry<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(DirEntry { fileid: r.u64("entry3.fileid")?, name: filename(r)?, cookie: r.u64("entry3.cookie")? })
    }
}

/// `READDIR3resok` (RFC 1813 §3.3.16), with `dirlist3` flattened into `entries` and `eof`. The
/// failure arm is the directory's [`PostOpAttr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirOk<'a> {
    pub dir_attributes: PostOpAttr,
    pub cookieverf: CookieVerf,
    pub entries: Vec<DirEntry<'a>>,
    pub eof: bool,
}

impl Encode for ReaddirOk<'_> {
    fn encoded_len(&self) -> usize {
        self.dir_attributes.encoded_len()
            + self.cookieverf.len()
            + list::encoded_len(&self.entries, Encode::encoded_len)
            + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.dir_attributes.encode(w);
        w.opaque_fixed(&self.cookieverf);
        list::encode(&self.entries, w, Encode::encode);
        w.bool(self.eof);
    }
}

impl<'a> Decode<'a> for ReaddirOk<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReaddirOk {
            dir_attributes: post_op_attr(r)?,
            cookieverf: verf8(r, "READDIR3resok.cookieverf")?,
            entries: list::decode(r, MAX_DIR_ENTRIES, "dirlist3.entries", DirEntry::decode)?,
            eof: r.bool("dirlist3.eof")?,
        })
    }
}

/// `READDIRPLUS3args` (RFC 1813 §3.3.17): `dircount` bounds the bytes of directory information
/// (ids, names, cookies), `maxcount` the whole reply including attributes and handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaddirplusArgs<'a> {
    pub dir: Fh<'a>,
    pub cookie: u64,
    pub cookieverf: CookieVerf,
    pub dircount: u32,
    pub maxcount: u32,
}

impl Encode for ReaddirplusArgs<'_> {
    fn encoded_len(&self) -> usize {
        self.dir.encoded_len() + 8 + self.cookieverf.len() + 4 + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.dir.encode(w);
        w.u64(self.cookie);
        w.opaque_fixed(&self.cookieverf);
        w.u32(self.dircount);
        w.u32(self.maxcount);
    }
}

impl<'a> Decode<'a> for ReaddirplusArgs<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReaddirplusArgs {
            dir: Fh::decode(r)?,
            cookie: r.u64("READDIRPLUS3args.cookie")?,
            cookieverf: verf8(r, "READDIRPLUS3args.cookieverf")?,
            dircount: r.u32("READDIRPLUS3args.dircount")?,
            maxcount: r.u32("READDIRPLUS3args.maxcount")?,
        })
    }
}

/// `entryplus3` (RFC 1813 §3.3.17), without its `nextentry` link: an entry with the attributes
/// and handle a LOOKUP would return, either of which the server may omit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntryPlus<'a> {
    pub fileid: u64,
    pub name: &'a [u8],
    pub cookie: u64,
    pub name_attributes: PostOpAttr,
    pub name_handle: PostOpFh<'a>,
}

impl Encode for DirEntryPlus<'_> {
    fn encoded_len(&self) -> usize {
        8 + opaque_len(self.name.len())
            + 8
            + self.name_attributes.encoded_len()
            + self.name_handle.encoded_len()
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.u64(self.fileid);
        w.opaque(self.name);
        w.u64(self.cookie);
        self.name_attributes.encode(w);
        self.name_handle.encode(w);
    }
}

impl<'a> Decode<'a> for DirEntryPlus<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(DirEntryPlus {
            fileid: r.u64("entryplus3.fileid")?,
            name: filename(r)?,
            cookie: r.u64("entryplus3.cookie")?,
            name_attributes: post_op_attr(r)?,
            name_handle: post_op_fh(r)?,
        })
    }
}

/// `READDIRPLUS3resok` (RFC 1813 §3.3.17), with `dirlistplus3` flattened into `entries` and
/// `eof`. The failure arm is the directory's [`PostOpAttr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirplusOk<'a> {
    pub dir_attributes: PostOpAttr,
    pub cookieverf: CookieVerf,
    pub entries: Vec<DirEntryPlus<'a>>,
    pub eof: bool,
}

impl Encode for ReaddirplusOk<'_> {
    fn encoded_len(&self) -> usize {
        self.dir_attributes.encoded_len()
            + self.cookieverf.len()
            + list::encoded_len(&self.entries, Encode::encoded_len)
            + 4
    }
    fn encode(&self, w: &mut Writer<'_>) {
        self.dir_attributes.encode(w);
        w.opaque_fixed(&self.cookieverf);
        list::encode(&self.entries, w, Encode::encode);
        w.bool(self.eof);
    }
}

impl<'a> Decode<'a> for ReaddirplusOk<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ReaddirplusOk {
            dir_attributes: post_op_attr(r)?,
            cookieverf: verf8(r, "READDIRPLUS3resok.cookieverf")?,
            entries: list::decode(r, MAX_DIR_ENTRIES, "dirlistplus3.entries", DirEntryPlus::decode)?,
            eof: r.bool("dirlistplus3.eof")?,
        })
    }
}
