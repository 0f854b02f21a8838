//! Directory listings: READDIRPLUS pages behind `nfsx_readdir`, one entry per call.

use libc::{c_char, c_int};
use parking_lot::Mutex;

use super::args::{non_null, path_arg, write_out};
use super::client::CLIENTS;
use super::guard::{self, Errno};
use super::handle::Registry;
use super::types::{nfsx_client, nfsx_dir, nfsx_dirent, nfsx_stat, NFSX_NAME_MAX};
use crate::proto::nfs3::Ftype3;
use crate::{DirEntry, ReadDir};

static DIRS: Registry<Mutex<ReadDir>> = Registry::new();

/// Opens the directory `path` for listing into `*out`. Returns 0, -EINVAL, -EBADF (client),
/// -ENOENT, -ENOTDIR, ... Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_opendir(
    client: *const nfsx_client,
    path: *const c_char,
    out: *mut *mut nfsx_dir,
) -> c_int {
    guard::int("nfsx_opendir", || {
        non_null(out)?;
        let client = CLIENTS.get(client)?;
        // Checked now, as opendir(3) does; the Rust iterator would only fail at its first page.
        let (fh, attrs) = client.resolve(path_arg(path)?, true)?;
        let attrs = match attrs {
            Some(a) => a,
            None => client.getattr(&fh)?,
        };
        if attrs.ftype != Ftype3::Dir {
            return Err(Errno(libc::ENOTDIR));
        }
        let dir = client.read_dir_handle(fh);
        write_out(out, DIRS.insert(Mutex::new(dir)));
        Ok(0)
    })
}

fn dirent(e: &DirEntry) -> Result<nfsx_dirent, Errno> {
    let bytes = e.name.as_bytes();
    // A name with bytes that are not UTF-8 comes back with U+FFFD in their place, which can
    // make it longer than NAME_MAX or let it contain nothing C can take.
    if bytes.len() > NFSX_NAME_MAX || bytes.contains(&0) {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    let mut name = [0 as c_char; NFSX_NAME_MAX + 1];
    for (d, &s) in name.iter_mut().zip(bytes) {
        *d = s as c_char;
    }
    Ok(nfsx_dirent {
        name,
        fileid: e.fileid,
        cookie: e.cookie,
        has_attributes: u32::from(e.attributes.is_some()),
        _reserved: 0,
        attributes: e.attributes.as_ref().map(nfsx_stat::from).unwrap_or_default(),
    })
}

/// Fills `*out` with the next entry ("." and ".." are left out). Returns 1 for an entry, 0 at
/// the end, or -EINVAL, -EBADF, -ENAMETOOLONG (a name not valid UTF-8 that no longer fits; the
/// listing goes on with the next call), -EIO, ... Safe to call from several threads (calls on
/// one directory are serialised); each entry is returned once.
#[no_mangle]
pub extern "C" fn nfsx_readdir(dir: *const nfsx_dir, out: *mut nfsx_dirent) -> c_int {
    guard::int("nfsx_readdir", || {
        non_null(out)?;
        let dir = DIRS.get(dir)?;
        let next = dir.lock().next();
        match next {
            None => Ok(0),
            Some(entry) => {
                write_out(out, dirent(&entry?)?);
                Ok(1)
            }
        }
    })
}

/// Frees the listing; the handle is then -EBADF. Returns 0, -EINVAL or -EBADF. Thread-safe.
#[no_mangle]
pub extern "C" fn nfsx_closedir(dir: *mut nfsx_dir) -> c_int {
    guard::int("nfsx_closedir", || {
        DIRS.remove(dir)?;
        Ok(0)
    })
}
