//! Directory listing: READDIRPLUS pages (names, handles and attributes in one round trip),
//! falling back to READDIR plus a LOOKUP per name on servers that answer NOTSUPP.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use crate::proto::nfs3::{self, CookieVerf, Fattr3, FileHandle, Nfsstat3, ReaddirArgs, ReaddirplusArgs};
use crate::{Error, Result};

use super::Client;

/// Directory bytes asked for per READDIRPLUS page (names and cookies only).
const DIRCOUNT_BYTES: u32 = 64 * 1024;
/// Reply bytes allowed per page, attributes and handles included.
const MAXCOUNT_BYTES: u32 = 256 * 1024;

/// One name in a directory. "." and ".." are left out, as `std::fs::read_dir` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub fileid: u64,
    pub cookie: u64,
    pub attributes: Option<Fattr3>,
    pub handle: Option<FileHandle>,
}

/// Iterates a directory page by page; each page is one RPC.
#[derive(Debug)]
pub struct ReadDir {
    client: Client,
    dir: FileHandle,
    cookie: u64,
    verifier: CookieVerf,
    buffered: VecDeque<DirEntry>,
    eof: bool,
}

impl Client {
    pub fn read_dir(&self, path: &str) -> Result<ReadDir> {
        self.with_fresh_names(|| {
            let (dir, _) = self.resolve(path, true)?;
            Ok(self.read_dir_handle(dir))
        })
    }

    pub fn read_dir_handle(&self, dir: FileHandle) -> ReadDir {
        ReadDir {
            client: self.clone(),
            dir,
            cookie: 0,
            verifier: [0; 8],
            buffered: VecDeque::new(),
            eof: false,
        }
    }
}

fn visible(name: &[u8]) -> bool {
    name != b"." && name != b".."
}

impl ReadDir {
    fn fetch_page(&mut self) -> Result<()> {
        let before = (self.cookie, self.buffered.len());
        if !self.client.inner.readdirplus_unsupported.load(Ordering::Relaxed) {
            match self.fetch_plus() {
                Err(e) if e.nfs_status() == Some(Nfsstat3::Notsupp) => {
                    self.client.inner.readdirplus_unsupported.store(true, Ordering::Relaxed);
                }
                other => return self.check_progress(other, before),
            }
        }
        let outcome = self.fetch_plain();
        self.check_progress(outcome, before)
    }

    /// A page with no entries that is not the last would loop for ever.
    fn check_progress(&self, outcome: Result<()>, before: (u64, usize)) -> Result<()> {
        outcome?;
        if !self.eof && (self.cookie, self.buffered.len()) == before {
            return Err(Error::Protocol { procedure: "READDIR", reason: "empty page without eof".into() });
        }
        Ok(())
    }

    fn fetch_plus(&mut self) -> Result<()> {
        let args = ReaddirplusArgs {
            dir: self.dir.as_fh(),
            cookie: self.cookie,
            cookieverf: self.verifier,
            dircount: DIRCOUNT_BYTES,
            maxcount: MAXCOUNT_BYTES.min(self.client.inner.fsinfo.rsize.max(8192)),
        };
        let (verifier, eof, last_cookie) = self.client.call::<nfs3::Readdirplus, _>(&args, |ok| {
            let last_cookie = ok.entries.last().map(|e| e.cookie);
            for e in ok.entries.iter().filter(|e| visible(e.name)) {
                self.buffered.push_back(DirEntry {
                    name: String::from_utf8_lossy(e.name).into_owned(),
                    fileid: e.fileid,
                    cookie: e.cookie,
                    attributes: e.name_attributes,
                    handle: e.name_handle.map(|h| h.to_owned()),
                });
            }
            (ok.cookieverf, ok.eof, last_cookie)
        })?;
        self.advance(verifier, eof, last_cookie);
        Ok(())
    }

    fn fetch_plain(&mut self) -> Result<()> {
        let args = ReaddirArgs {
            dir: self.dir.as_fh(),
            cookie: self.cookie,
            cookieverf: self.verifier,
            count: DIRCOUNT_BYTES,
        };
        let (verifier, eof, last_cookie, names) = self.client.call::<nfs3::Readdir, _>(&args, |ok| {
            let names: Vec<(String, u64, u64)> = ok
                .entries
                .iter()
                .filter(|e| visible(e.name))
                .map(|e| (String::from_utf8_lossy(e.name).into_owned(), e.fileid, e.cookie))
                .collect();
            (ok.cookieverf, ok.eof, ok.entries.last().map(|e| e.cookie), names)
        })?;
        for (name, fileid, cookie) in names {
            let (handle, attributes) = match self.client.lookup_in(&self.dir, &name) {
                Ok((fh, attrs)) => (Some(fh), attrs),
                // Removed between the listing and the lookup: still listed, without details.
                Err(e) if e.nfs_status() == Some(Nfsstat3::Noent) => (None, None),
                Err(e) => return Err(e),
            };
            self.buffered.push_back(DirEntry { name, fileid, cookie, attributes, handle });
        }
        self.advance(verifier, eof, last_cookie);
        Ok(())
    }

    fn advance(&mut self, verifier: CookieVerf, eof: bool, last_cookie: Option<u64>) {
        self.verifier = verifier;
        self.eof = eof;
        if let Some(cookie) = last_cookie {
            self.cookie = cookie;
        }
    }
}

impl Iterator for ReadDir {
    type Item = Result<DirEntry>;

    fn next(&mut self) -> Option<Result<DirEntry>> {
        loop {
            if let Some(entry) = self.buffered.pop_front() {
                return Some(Ok(entry));
            }
            if self.eof {
                return None;
            }
            if let Err(e) = self.fetch_page() {
                self.eof = true;
                return Some(Err(e));
            }
        }
    }
}
