//! Path-level namespace calls: resolution (with the name cache and symbolic links), attributes,
//! and the operations that create, rename and remove names.

use crate::proto::nfs3::{
    self, AccessArgs, CommitArgs, DirOpArgs, Fattr3, FileHandle, FsstatArgs, Ftype3, GetattrArgs, LinkArgs,
    LookupArgs, MkdirArgs, MknodArgs, MknodData, NewObjOk, Nfsstat3, PathconfArgs, ReadlinkArgs, RemoveArgs,
    RenameArgs, RmdirArgs, Sattr3, SetTime, SetattrArgs, SymlinkArgs,
};
use crate::{Error, Result};

use super::Client;

/// Symbolic links followed while resolving one path, as Linux's MAXSYMLINKS.
const MAX_SYMLINK_HOPS: u32 = 40;

/// FSSTAT's answer (RFC 1813 §3.3.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub avail_bytes: u64,
    pub total_files: u64,
    pub free_files: u64,
    pub avail_files: u64,
    pub invarsec: u32,
}

/// PATHCONF's answer (RFC 1813 §3.3.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathConf {
    pub link_max: u32,
    pub name_max: u32,
    pub no_trunc: bool,
    pub chown_restricted: bool,
    pub case_insensitive: bool,
    pub case_preserving: bool,
}

/// Checks one path component before it goes on the wire.
pub(crate) fn check_name(name: &str) -> Result<&[u8]> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidArgument(format!("{name:?} cannot be created or removed")));
    }
    if name.len() > nfs3::MAX_NAME_LEN {
        return Err(Error::Nfs { procedure: "LOOKUP", status: Nfsstat3::Nametoolong });
    }
    if name.contains('\0') || name.contains('/') {
        return Err(Error::InvalidArgument(format!("{name:?} contains NUL or '/'")));
    }
    Ok(name.as_bytes())
}

fn components(path: &str) -> Result<Vec<String>> {
    if path.contains('\0') {
        return Err(Error::InvalidArgument("path contains NUL".into()));
    }
    if path.len() > nfs3::MAX_PATH_LEN {
        return Err(Error::Nfs { procedure: "LOOKUP", status: Nfsstat3::Nametoolong });
    }
    Ok(path.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_string).collect())
}

impl Client {
    /// GETATTR on a handle.
    pub fn getattr(&self, fh: &FileHandle) -> Result<Fattr3> {
        self.call::<nfs3::Getattr, _>(&GetattrArgs { object: fh.as_fh() }, |ok| ok.attributes)
    }

    /// One LOOKUP in `dir`, answered from the name cache when fresh. Attributes come back when
    /// the server sent them.
    pub fn lookup_in(&self, dir: &FileHandle, name: &str) -> Result<(FileHandle, Option<Fattr3>)> {
        self.lookup_typed(dir, name).map(|(fh, _, attrs)| (fh, attrs))
    }

    fn lookup_typed(&self, dir: &FileHandle, name: &str) -> Result<(FileHandle, Ftype3, Option<Fattr3>)> {
        if name.len() > nfs3::MAX_NAME_LEN {
            return Err(Error::Nfs { procedure: "LOOKUP", status: Nfsstat3::Nametoolong });
        }
        if let Some(hit) = self.inner.names.get(dir, name.as_bytes()) {
            return Ok((hit.handle, hit.ftype, None));
        }
        let args = LookupArgs { what: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() } };
        let (fh, attrs) =
            self.call::<nfs3::Lookup, _>(&args, |ok| (ok.object.to_owned(), ok.obj_attributes))?;
        let attrs = match attrs {
            Some(a) => a,
            None => self.getattr(&fh)?,
        };
        self.inner.names.insert(dir, name.as_bytes(), fh, attrs.ftype);
        Ok((fh, attrs.ftype, Some(attrs)))
    }

    /// Resolves a path relative to the URL's directory. Symbolic links in the middle are always
    /// followed (an absolute target starts again at the URL's directory); the last is followed
    /// when `follow_last`.
    pub(crate) fn resolve(&self, path: &str, follow_last: bool) -> Result<(FileHandle, Option<Fattr3>)> {
        let mut pending: std::collections::VecDeque<String> = components(path)?.into();
        let mut current = self.inner.root;
        let mut attrs = None;
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            let last = pending.is_empty();
            let (fh, ftype, found) = self.lookup_typed(&current, &name)?;
            if ftype == Ftype3::Lnk && (!last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::SymlinkLoop(path.to_string()));
                }
                let target = self.readlink_handle(&fh)?;
                if target.starts_with('/') {
                    current = self.inner.root;
                }
                for component in components(&target)?.into_iter().rev() {
                    pending.push_front(component);
                }
                attrs = None;
                continue;
            }
            if !last && ftype != Ftype3::Dir {
                return Err(Error::Nfs { procedure: "LOOKUP", status: Nfsstat3::Notdir });
            }
            current = fh;
            attrs = found;
        }
        Ok((current, attrs))
    }

    /// Resolves everything but the last component, which is returned checked.
    pub(crate) fn resolve_parent<'p>(&self, path: &'p str) -> Result<(FileHandle, &'p str)> {
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
        check_name(name)?;
        let (dir_fh, attrs) = self.resolve(dir, true)?;
        if attrs.is_some_and(|a| a.ftype != Ftype3::Dir) {
            return Err(Error::Nfs { procedure: "LOOKUP", status: Nfsstat3::Notdir });
        }
        Ok((dir_fh, name))
    }

    /// Runs a path call; one that meets NFS3ERR_STALE (a handle it took from the name cache
    /// names something another client removed or replaced within the cache's lifetime) runs
    /// once more after the cache is emptied, resolving its path from the server again. A
    /// stale handle means the server carried nothing out, so the second try is safe for every
    /// procedure.
    pub(crate) fn with_fresh_names<T>(&self, op: impl Fn() -> Result<T>) -> Result<T> {
        match op() {
            // Whether or not this call found the entry still there: another thread that met
            // the same stale handle may have emptied the cache first.
            Err(Error::Nfs { status: Nfsstat3::Stale, .. }) if self.inner.names.is_enabled() => {
                self.inner.names.forget_all();
                op()
            }
            outcome => outcome,
        }
    }

    /// The handle a path names, following a final symbolic link.
    pub fn lookup(&self, path: &str) -> Result<FileHandle> {
        self.with_fresh_names(|| self.resolve(path, true).map(|(fh, _)| fh))
    }

    /// Attributes of what `path` names, following a final symbolic link.
    pub fn stat(&self, path: &str) -> Result<Fattr3> {
        self.stat_inner(path, true)
    }

    /// Attributes of `path` itself, not of a symbolic link's target.
    pub fn lstat(&self, path: &str) -> Result<Fattr3> {
        self.stat_inner(path, false)
    }

    fn stat_inner(&self, path: &str, follow: bool) -> Result<Fattr3> {
        self.with_fresh_names(|| match self.resolve(path, follow)? {
            (_, Some(attrs)) => Ok(attrs),
            (fh, None) => self.getattr(&fh),
        })
    }

    pub fn mkdir(&self, path: &str, mode: u32) -> Result<FileHandle> {
        self.with_fresh_names(|| {
            let (dir, name) = self.resolve_parent(path)?;
            let args = MkdirArgs {
                where_: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() },
                attributes: Sattr3 { mode: Some(mode), ..Sattr3::default() },
            };
            let made = self.call_once::<nfs3::Mkdir, _>(&args, Nfsstat3::Exist, new_object)?;
            let (fh, attrs) = made.unwrap_or_default();
            self.finish_new_object(&dir, name, fh, attrs, Ftype3::Dir)
        })
    }

    /// Records a freshly made object in the name cache; a server that returned no handle costs a LOOKUP.
    pub(crate) fn finish_new_object(
        &self,
        dir: &FileHandle,
        name: &str,
        fh: Option<FileHandle>,
        attrs: Option<Fattr3>,
        ftype: Ftype3,
    ) -> Result<FileHandle> {
        match fh {
            Some(fh) => {
                self.inner.names.insert(dir, name.as_bytes(), fh, attrs.map_or(ftype, |a| a.ftype));
                Ok(fh)
            }
            None => {
                self.inner.names.remove(dir, name.as_bytes());
                self.lookup_in(dir, name).map(|(fh, _)| fh)
            }
        }
    }

    pub fn rmdir(&self, path: &str) -> Result<()> {
        self.with_fresh_names(|| {
            let (dir, name) = self.resolve_parent(path)?;
            self.inner.names.remove(&dir, name.as_bytes());
            let args = RmdirArgs { object: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() } };
            self.call_once::<nfs3::Rmdir, _>(&args, Nfsstat3::Noent, drop).map(drop)
        })
    }

    /// Removes a non-directory (REMOVE).
    pub fn unlink(&self, path: &str) -> Result<()> {
        self.with_fresh_names(|| {
            let (dir, name) = self.resolve_parent(path)?;
            self.inner.names.remove(&dir, name.as_bytes());
            let args = RemoveArgs { object: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() } };
            self.call_once::<nfs3::Remove, _>(&args, Nfsstat3::Noent, drop).map(drop)
        })
    }

    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.with_fresh_names(|| {
            let (from_dir, from_name) = self.resolve_parent(from)?;
            let (to_dir, to_name) = self.resolve_parent(to)?;
            self.inner.names.remove(&from_dir, from_name.as_bytes());
            self.inner.names.remove(&to_dir, to_name.as_bytes());
            let args = RenameArgs {
                from: DirOpArgs { dir: from_dir.as_fh(), name: from_name.as_bytes() },
                to: DirOpArgs { dir: to_dir.as_fh(), name: to_name.as_bytes() },
            };
            self.call_once::<nfs3::Rename, _>(&args, Nfsstat3::Noent, drop).map(drop)
        })
    }

    /// Makes `new` another name for the file `existing` (a hard link).
    pub fn link(&self, existing: &str, new: &str) -> Result<()> {
        self.with_fresh_names(|| {
            let (file, _) = self.resolve(existing, false)?;
            let (dir, name) = self.resolve_parent(new)?;
            let args =
                LinkArgs { file: file.as_fh(), link: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() } };
            self.call_once::<nfs3::Link, _>(&args, Nfsstat3::Exist, drop).map(drop)
        })
    }

    pub fn symlink(&self, target: &str, link_path: &str) -> Result<()> {
        self.with_fresh_names(|| {
            if target.len() > nfs3::MAX_PATH_LEN || target.contains('\0') {
                return Err(Error::InvalidArgument("symbolic link target too long or contains NUL".into()));
            }
            let (dir, name) = self.resolve_parent(link_path)?;
            let args = SymlinkArgs {
                where_: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() },
                symlink_attributes: Sattr3::default(),
                symlink_data: target.as_bytes(),
            };
            let made = self.call_once::<nfs3::Symlink, _>(&args, Nfsstat3::Exist, new_object)?;
            let (fh, attrs) = made.unwrap_or_default();
            self.finish_new_object(&dir, name, fh, attrs, Ftype3::Lnk).map(drop)
        })
    }

    pub fn readlink(&self, path: &str) -> Result<String> {
        self.with_fresh_names(|| {
            let (fh, _) = self.resolve(path, false)?;
            self.readlink_handle(&fh)
        })
    }

    fn readlink_handle(&self, fh: &FileHandle) -> Result<String> {
        self.call::<nfs3::Readlink, _>(&ReadlinkArgs { symlink: fh.as_fh() }, |ok| {
            String::from_utf8_lossy(ok.data).into_owned()
        })
    }

    /// Makes a special file: a FIFO, socket or device (MKNOD).
    pub fn mknod(&self, path: &str, what: MknodData) -> Result<FileHandle> {
        self.with_fresh_names(|| {
            let (dir, name) = self.resolve_parent(path)?;
            let ftype = match what {
                MknodData::Chr(..) => Ftype3::Chr,
                MknodData::Blk(..) => Ftype3::Blk,
                MknodData::Sock(_) => Ftype3::Sock,
                MknodData::Fifo(_) => Ftype3::Fifo,
            };
            let args = MknodArgs { where_: DirOpArgs { dir: dir.as_fh(), name: name.as_bytes() }, what };
            let made = self.call_once::<nfs3::Mknod, _>(&args, Nfsstat3::Exist, new_object)?;
            let (fh, attrs) = made.unwrap_or_default();
            self.finish_new_object(&dir, name, fh, attrs, ftype)
        })
    }

    /// SETATTR on what `path` names; returns the attributes after the change.
    pub fn setattr(&self, path: &str, attrs: &Sattr3) -> Result<Fattr3> {
        self.with_fresh_names(|| {
            let (fh, _) = self.resolve(path, true)?;
            self.setattr_handle(&fh, attrs)
        })
    }

    pub fn setattr_handle(&self, fh: &FileHandle, attrs: &Sattr3) -> Result<Fattr3> {
        let args = SetattrArgs { object: fh.as_fh(), new_attributes: *attrs, guard: None };
        match self.call::<nfs3::Setattr, _>(&args, |ok| ok.obj_wcc.after)? {
            Some(after) => Ok(after),
            None => self.getattr(fh),
        }
    }

    pub fn chmod(&self, path: &str, mode: u32) -> Result<Fattr3> {
        self.setattr(path, &Sattr3 { mode: Some(mode), ..Sattr3::default() })
    }

    pub fn chown(&self, path: &str, uid: Option<u32>, gid: Option<u32>) -> Result<Fattr3> {
        self.setattr(path, &Sattr3 { uid, gid, ..Sattr3::default() })
    }

    pub fn truncate(&self, path: &str, size: u64) -> Result<Fattr3> {
        self.setattr(path, &Sattr3 { size: Some(size), ..Sattr3::default() })
    }

    pub fn set_times(&self, path: &str, atime: SetTime, mtime: SetTime) -> Result<Fattr3> {
        self.setattr(path, &Sattr3 { atime, mtime, ..Sattr3::default() })
    }

    /// ACCESS: which of the `nfs3::ACCESS3_*` bits in `mask` the server grants this user.
    pub fn access(&self, path: &str, mask: u32) -> Result<u32> {
        self.with_fresh_names(|| {
            let (fh, _) = self.resolve(path, true)?;
            self.call::<nfs3::Access, _>(&AccessArgs { object: fh.as_fh(), access: mask }, |ok| ok.access)
        })
    }

    /// FSSTAT: space and inodes of the file system holding `path`.
    pub fn statfs(&self, path: &str) -> Result<FsStat> {
        self.with_fresh_names(|| {
            let (fh, _) = self.resolve(path, true)?;
            self.statfs_handle(&fh)
        })
    }

    /// FSSTAT of the file system holding `fh`.
    pub fn statfs_handle(&self, fh: &FileHandle) -> Result<FsStat> {
        self.call::<nfs3::Fsstat, _>(&FsstatArgs { fsroot: fh.as_fh() }, |ok| FsStat {
            total_bytes: ok.tbytes,
            free_bytes: ok.fbytes,
            avail_bytes: ok.abytes,
            total_files: ok.tfiles,
            free_files: ok.ffiles,
            avail_files: ok.afiles,
            invarsec: ok.invarsec,
        })
    }

    pub fn pathconf(&self, path: &str) -> Result<PathConf> {
        self.with_fresh_names(|| {
            let (fh, _) = self.resolve(path, true)?;
            self.call::<nfs3::Pathconf, _>(&PathconfArgs { object: fh.as_fh() }, |ok| PathConf {
                link_max: ok.linkmax,
                name_max: ok.name_max,
                no_trunc: ok.no_trunc,
                chown_restricted: ok.chown_restricted,
                case_insensitive: ok.case_insensitive,
                case_preserving: ok.case_preserving,
            })
        })
    }

    /// COMMIT of a byte range of a file; returns the server's write verifier.
    pub fn commit(&self, fh: &FileHandle, offset: u64, count: u32) -> Result<[u8; 8]> {
        self.call::<nfs3::Commit, _>(&CommitArgs { file: fh.as_fh(), offset, count }, |ok| ok.verf)
    }
}

/// The handle and attributes a CREATE, MKDIR, SYMLINK or MKNOD returned, owned.
pub(crate) fn new_object(ok: NewObjOk<'_>) -> (Option<FileHandle>, Option<Fattr3>) {
    (ok.obj.map(|f| f.to_owned()), ok.obj_attributes)
}
