//! Attributes: GETATTR, SETATTR (chmod, chown, truncate, utimes), ACCESS and FSSTAT.

use fuser::{AccessFlags, Errno, INodeNo, TimeOrNow};
use nfsx::proto::nfs3::{self, AccessArgs, Fattr3, Ftype3, GetattrArgs, NfsTime3, Sattr3, SetTime};
use nfsx::FsStat;

use crate::fs::{errno, NfsFs, Res};

impl NfsFs {
    pub fn do_getattr(&self, ino: INodeNo) -> Res<Fattr3> {
        let fh = self.fh(ino)?;
        self.client
            .call::<nfs3::Getattr, _>(&GetattrArgs { object: fh.as_fh() }, |ok| ok.attributes)
            .map_err(errno)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn do_setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Res<Fattr3> {
        let fh = self.fh(ino)?;
        let sattr = Sattr3 {
            mode: mode.map(|m| m & 0o7777),
            uid,
            gid,
            size,
            atime: set_time(atime)?,
            mtime: set_time(mtime)?,
        };
        self.client.setattr_handle(&fh, &sattr).map_err(errno)
    }

    /// ACCESS: the server decides, as it does for the kernel client, from the mount's uid/gid.
    pub fn do_access(&self, ino: INodeNo, mask: AccessFlags) -> Res<()> {
        let fh = self.fh(ino)?;
        if mask.is_empty() {
            return self.do_getattr(ino).map(drop);
        }
        let (granted, attrs) = self
            .client
            .call::<nfs3::Access, _>(
                &AccessArgs { object: fh.as_fh(), access: nfs3::ACCESS3_READ | write_bits() | exec_bits() },
                |ok| (ok.access, ok.obj_attributes),
            )
            .map_err(errno)?;
        let is_dir = attrs.is_some_and(|a| a.ftype == Ftype3::Dir);
        let mut wanted = 0;
        if mask.contains(AccessFlags::R_OK) {
            wanted |= nfs3::ACCESS3_READ;
        }
        if mask.contains(AccessFlags::W_OK) {
            wanted |= if is_dir { nfs3::ACCESS3_MODIFY | nfs3::ACCESS3_EXTEND } else { nfs3::ACCESS3_MODIFY };
        }
        if mask.contains(AccessFlags::X_OK) {
            wanted |= if is_dir { nfs3::ACCESS3_LOOKUP } else { nfs3::ACCESS3_EXECUTE };
        }
        if granted & wanted == wanted {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    pub fn do_statfs(&self) -> Res<FsStat> {
        self.client.statfs_handle(&self.client.root_handle()).map_err(errno)
    }
}

fn write_bits() -> u32 {
    nfs3::ACCESS3_MODIFY | nfs3::ACCESS3_EXTEND | nfs3::ACCESS3_DELETE
}

fn exec_bits() -> u32 {
    nfs3::ACCESS3_LOOKUP | nfs3::ACCESS3_EXECUTE
}

fn set_time(t: Option<TimeOrNow>) -> Res<SetTime> {
    Ok(match t {
        None => SetTime::DontChange,
        Some(TimeOrNow::Now) => SetTime::ServerTime,
        Some(TimeOrNow::SpecificTime(when)) => {
            // nfstime3 counts unsigned 32-bit seconds from 1970: nothing before, nothing past 2106.
            let since = when.duration_since(std::time::UNIX_EPOCH).map_err(|_| Errno::EINVAL)?;
            let seconds = u32::try_from(since.as_secs()).map_err(|_| Errno::EINVAL)?;
            SetTime::ClientTime(NfsTime3 { seconds, nseconds: since.subsec_nanos() })
        }
    })
}
