//! The inode table: FUSE inode numbers to NFS file handles. An object's number is its NFS
//! fileid (what `ls -i` shows on a kernel NFS mount), except the root, which FUSE calls 1, and a
//! fileid already taken by another live handle (a reused fileid, or one from another file
//! system on the server), which gets a number from a range fileids do not reach in practice.
//! Entries live while the kernel holds lookups on them (`forget` drops them).

use std::collections::HashMap;

use nfsx::proto::nfs3::{FileHandle, NfsTime3};
use parking_lot::Mutex;

pub const ROOT: u64 = 1;
/// First number handed out when a fileid cannot be used as it is.
const SYNTHETIC_BASE: u64 = 1 << 63;

#[derive(Debug)]
struct Node {
    fh: FileHandle,
    /// Lookups the kernel holds; the root is never forgotten.
    lookups: u64,
    /// (mtime, size) seen when the file was last opened, for close-to-open checks.
    opened_version: Option<(NfsTime3, u64)>,
}

#[derive(Debug)]
struct Table {
    by_ino: HashMap<u64, Node>,
    by_fh: HashMap<FileHandle, u64>,
    next_synthetic: u64,
}

#[derive(Debug)]
pub struct Inodes {
    table: Mutex<Table>,
}

impl Inodes {
    pub fn new(root: FileHandle) -> Inodes {
        let mut table =
            Table { by_ino: HashMap::new(), by_fh: HashMap::new(), next_synthetic: SYNTHETIC_BASE };
        table.by_ino.insert(ROOT, Node { fh: root, lookups: 1, opened_version: None });
        table.by_fh.insert(root, ROOT);
        Inodes { table: Mutex::new(table) }
    }

    pub fn handle(&self, ino: u64) -> Option<FileHandle> {
        self.table.lock().by_ino.get(&ino).map(|n| n.fh)
    }

    /// The number of a handle the kernel already knows, without counting a lookup.
    pub fn number(&self, fh: &FileHandle, fileid: u64) -> u64 {
        self.table.lock().by_fh.get(fh).copied().unwrap_or(fileid)
    }

    /// Counts one kernel lookup of `fh` and returns its inode number.
    pub fn remember(&self, fh: FileHandle, fileid: u64) -> u64 {
        let mut t = self.table.lock();
        if let Some(&ino) = t.by_fh.get(&fh) {
            if let Some(node) = t.by_ino.get_mut(&ino) {
                node.lookups += 1;
            }
            return ino;
        }
        let ino = if fileid != ROOT && fileid < SYNTHETIC_BASE && !t.by_ino.contains_key(&fileid) {
            fileid
        } else {
            let ino = t.next_synthetic;
            t.next_synthetic += 1;
            ino
        };
        t.by_ino.insert(ino, Node { fh, lookups: 1, opened_version: None });
        t.by_fh.insert(fh, ino);
        ino
    }

    /// The kernel dropped `n` lookups.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let mut t = self.table.lock();
        let gone = match t.by_ino.get_mut(&ino) {
            Some(node) => {
                node.lookups = node.lookups.saturating_sub(n);
                (node.lookups == 0).then_some(node.fh)
            }
            None => None,
        };
        if let Some(fh) = gone {
            t.by_ino.remove(&ino);
            t.by_fh.remove(&fh);
        }
    }

    /// Records the version seen at open and says whether it is the one seen at the previous open.
    pub fn note_open(&self, ino: u64, version: (NfsTime3, u64)) -> bool {
        let mut t = self.table.lock();
        match t.by_ino.get_mut(&ino) {
            Some(node) => node.opened_version.replace(version) == Some(version),
            None => false,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.lock().by_ino.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fh(b: u8) -> FileHandle {
        FileHandle::new(&[b; 8]).unwrap()
    }

    #[test]
    fn lookups_are_counted_and_fileids_reused_safely() {
        let t = Inodes::new(fh(0));
        assert_eq!(t.remember(fh(1), 42), 42);
        assert_eq!(t.remember(fh(1), 42), 42);
        // Another handle with the same fileid, and one claiming the root's number.
        let other = t.remember(fh(2), 42);
        assert!(other >= SYNTHETIC_BASE);
        assert!(t.remember(fh(3), ROOT) >= SYNTHETIC_BASE);
        t.forget(42, 1);
        assert_eq!(t.handle(42), Some(fh(1)));
        t.forget(42, 1);
        assert_eq!(t.handle(42), None);
        assert_eq!(t.number(&fh(2), 42), other);
        t.forget(ROOT, 100);
        assert_eq!(t.handle(ROOT), Some(fh(0)));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn open_versions() {
        let t = Inodes::new(fh(0));
        let ino = t.remember(fh(1), 7);
        let v = (NfsTime3 { seconds: 1, nseconds: 2 }, 10);
        assert!(!t.note_open(ino, v));
        assert!(t.note_open(ino, v));
        assert!(!t.note_open(ino, (v.0, 11)));
    }
}
