//! The namespace: LOOKUP, CREATE-like procedures (MKDIR, SYMLINK, MKNOD), REMOVE, RMDIR,
//! RENAME, LINK and READLINK, all on the parent's handle; no paths are resolved here.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fuser::{Errno, INodeNo};
use nfsx::proto::nfs3::{
    self, CreateArgs, CreateHow, DirOpArgs, Fattr3, FileHandle, GetattrArgs, LinkArgs, LookupArgs, MkdirArgs,
    MknodArgs, MknodData, NewObjOk, ReadlinkArgs, RemoveArgs, RenameArgs, Sattr3, SpecData3, SymlinkArgs,
};

use crate::fs::{errno, NfsFs, Res};

/// A name as NFS takes it: at most 255 bytes, never "." or "..", no '/'.
pub fn name_bytes(name: &OsStr) -> Res<&[u8]> {
    let b = name.as_bytes();
    if b.len() > nfs3::MAX_NAME_LEN {
        return Err(Errno::ENAMETOOLONG);
    }
    if b.is_empty() || b.contains(&b'/') || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(b)
}

impl NfsFs {
    pub fn getattr_fh(&self, fh: &FileHandle) -> Res<Fattr3> {
        self.client
            .call::<nfs3::Getattr, _>(&GetattrArgs { object: fh.as_fh() }, |ok| ok.attributes)
            .map_err(errno)
    }

    pub fn lookup_fh(&self, dir: &FileHandle, name: &[u8]) -> Res<(FileHandle, Fattr3)> {
        let args = LookupArgs { what: DirOpArgs { dir: dir.as_fh(), name } };
        let (fh, attrs) = self
            .client
            .call::<nfs3::Lookup, _>(&args, |ok| (ok.object.to_owned(), ok.obj_attributes))
            .map_err(errno)?;
        let attrs = match attrs {
            Some(a) => a,
            None => self.getattr_fh(&fh)?,
        };
        Ok((fh, attrs))
    }

    pub fn do_lookup(&self, parent: INodeNo, name: &OsStr) -> Res<(FileHandle, Fattr3)> {
        let dir = self.fh(parent)?;
        self.lookup_fh(&dir, name_bytes(name)?)
    }

    /// The handle and attributes of an object just made; servers may omit either.
    pub fn new_object(
        &self,
        dir: &FileHandle,
        name: &[u8],
        made: (Option<FileHandle>, Option<Fattr3>),
    ) -> Res<(FileHandle, Fattr3)> {
        match made {
            (Some(fh), Some(a)) => Ok((fh, a)),
            (Some(fh), None) => Ok((fh, self.getattr_fh(&fh)?)),
            (None, _) => self.lookup_fh(dir, name),
        }
    }

    pub fn do_mkdir(&self, parent: INodeNo, name: &OsStr, mode: u32) -> Res<(FileHandle, Fattr3)> {
        let dir = self.fh(parent)?;
        let name = name_bytes(name)?;
        let args = MkdirArgs {
            where_: DirOpArgs { dir: dir.as_fh(), name },
            attributes: Sattr3 { mode: Some(mode), ..Sattr3::default() },
        };
        let made = self.client.call::<nfs3::Mkdir, _>(&args, made).map_err(errno)?;
        self.new_object(&dir, name, made)
    }

    /// Regular files go through CREATE (GUARDED, so an existing name is EEXIST); FIFOs, sockets
    /// and devices through MKNOD.
    pub fn do_mknod(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
    ) -> Res<(FileHandle, Fattr3)> {
        let dir = self.fh(parent)?;
        let name = name_bytes(name)?;
        let attrs = Sattr3 { mode: Some(mode & !umask & 0o7777), ..Sattr3::default() };
        let spec = SpecData3 { major: libc::major(u64::from(rdev)), minor: libc::minor(u64::from(rdev)) };
        let what = match mode & libc::S_IFMT {
            libc::S_IFREG => {
                let args = CreateArgs {
                    where_: DirOpArgs { dir: dir.as_fh(), name },
                    how: CreateHow::Guarded(attrs),
                };
                let made = self.client.call::<nfs3::Create, _>(&args, made).map_err(errno)?;
                return self.new_object(&dir, name, made);
            }
            libc::S_IFIFO => MknodData::Fifo(attrs),
            libc::S_IFSOCK => MknodData::Sock(attrs),
            libc::S_IFCHR => MknodData::Chr(attrs, spec),
            libc::S_IFBLK => MknodData::Blk(attrs, spec),
            _ => return Err(Errno::EINVAL),
        };
        let args = MknodArgs { where_: DirOpArgs { dir: dir.as_fh(), name }, what };
        let made = self.client.call::<nfs3::Mknod, _>(&args, made).map_err(errno)?;
        self.new_object(&dir, name, made)
    }

    pub fn do_symlink(&self, parent: INodeNo, name: &OsStr, target: &Path) -> Res<(FileHandle, Fattr3)> {
        let dir = self.fh(parent)?;
        let name = name_bytes(name)?;
        let target = target.as_os_str().as_bytes();
        if target.len() > nfs3::MAX_PATH_LEN {
            return Err(Errno::ENAMETOOLONG);
        }
        let args = SymlinkArgs {
            where_: DirOpArgs { dir: dir.as_fh(), name },
            symlink_attributes: Sattr3::default(),
            symlink_data: target,
        };
        let made = self.client.call::<nfs3::Symlink, _>(&args, made).map_err(errno)?;
        self.new_object(&dir, name, made)
    }

    pub fn do_remove(&self, parent: INodeNo, name: &OsStr, directory: bool) -> Res<()> {
        let dir = self.fh(parent)?;
        let args = RemoveArgs { object: DirOpArgs { dir: dir.as_fh(), name: name_bytes(name)? } };
        if directory {
            self.client.call::<nfs3::Rmdir, _>(&args, drop).map_err(errno)
        } else {
            self.client.call::<nfs3::Remove, _>(&args, drop).map_err(errno)
        }
    }

    pub fn do_rename(&self, parent: INodeNo, name: &OsStr, newparent: INodeNo, newname: &OsStr) -> Res<()> {
        let from = self.fh(parent)?;
        let to = self.fh(newparent)?;
        let args = RenameArgs {
            from: DirOpArgs { dir: from.as_fh(), name: name_bytes(name)? },
            to: DirOpArgs { dir: to.as_fh(), name: name_bytes(newname)? },
        };
        self.client.call::<nfs3::Rename, _>(&args, drop).map_err(errno)
    }

    pub fn do_link(&self, ino: INodeNo, newparent: INodeNo, newname: &OsStr) -> Res<(FileHandle, Fattr3)> {
        let file = self.fh(ino)?;
        let dir = self.fh(newparent)?;
        let args =
            LinkArgs { file: file.as_fh(), link: DirOpArgs { dir: dir.as_fh(), name: name_bytes(newname)? } };
        let attrs = self.client.call::<nfs3::Link, _>(&args, |ok| ok.file_attributes).map_err(errno)?;
        let attrs = match attrs {
            Some(a) => a,
            None => self.getattr_fh(&file)?,
        };
        Ok((file, attrs))
    }

    pub fn do_readlink(&self, ino: INodeNo) -> Res<Vec<u8>> {
        let fh = self.fh(ino)?;
        self.client
            .call::<nfs3::Readlink, _>(&ReadlinkArgs { symlink: fh.as_fh() }, |ok| ok.data.to_vec())
            .map_err(errno)
    }
}

/// What CREATE, MKDIR, SYMLINK and MKNOD hand back.
pub fn made(ok: NewObjOk<'_>) -> (Option<FileHandle>, Option<Fattr3>) {
    (ok.obj.map(|f| f.to_owned()), ok.obj_attributes)
}
