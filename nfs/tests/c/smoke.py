"""ctypes smoke test of libnfsx: mount, write, read back, stat, errors, umount.

Usage: python3 smoke.py LIBNFSX_SO NFS_URL
Ends with "python: N passed, M failed".
"""

import ctypes
import errno
import os
import sys

lib = ctypes.CDLL(sys.argv[1])
url = sys.argv[2].encode()
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what, file=sys.stderr)


class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_uint32), ("nsec", ctypes.c_uint32)]


class Stat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in
                ("type", "mode", "nlink", "uid", "gid", "rdev_major", "rdev_minor", "_reserved")]
    _fields_ += [(n, ctypes.c_uint64) for n in ("size", "used", "fsid", "fileid")]
    _fields_ += [(n, Timespec) for n in ("atime", "mtime", "ctime")]


P = ctypes.c_void_p
lib.nfsx_version.restype = ctypes.c_char_p
lib.nfsx_strerror.restype = ctypes.c_char_p
lib.nfsx_strerror.argtypes = [ctypes.c_int]
lib.nfsx_mount.argtypes = [ctypes.c_char_p, ctypes.POINTER(P)]
lib.nfsx_umount.argtypes = [P]
lib.nfsx_open.argtypes = [P, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(P)]
lib.nfsx_close.argtypes = [P]
lib.nfsx_pwrite.argtypes = [P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
lib.nfsx_pwrite.restype = ctypes.c_ssize_t
lib.nfsx_pread.argtypes = [P, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64]
lib.nfsx_pread.restype = ctypes.c_ssize_t
lib.nfsx_stat.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(Stat)]
lib.nfsx_unlink.argtypes = [P, ctypes.c_char_p]

check(lib.nfsx_version().decode().count(".") == 2, "version")
check(lib.nfsx_strerror(-errno.ENOENT) == b"No such file or directory", "strerror")
client = P()
check(lib.nfsx_mount(None, ctypes.byref(client)) == -errno.EINVAL, "NULL url")
check(lib.nfsx_mount(url, ctypes.byref(client)) == 0, "mount")
name = b"python-%d" % os.getpid()
f = P()
check(lib.nfsx_open(client, name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600, ctypes.byref(f)) == 0, "open")
data = b"hello from ctypes " * 1000
check(lib.nfsx_pwrite(f, data, len(data), 0) == len(data), "pwrite")
back = ctypes.create_string_buffer(len(data) + 10)
check(lib.nfsx_pread(f, back, len(back), 0) == len(data), "pread")
check(back.raw[:len(data)] == data, "data read back")
check(lib.nfsx_close(f) == 0, "close")
check(lib.nfsx_close(f) == -errno.EBADF, "double close")
st = Stat()
check(lib.nfsx_stat(client, name, ctypes.byref(st)) == 0 and st.size == len(data), "stat")
check(st.mode & 0o7777 == 0o600 and st.type == 1, "stat mode and type")
check(lib.nfsx_stat(client, name, None) == -errno.EINVAL, "stat NULL out")
check(lib.nfsx_unlink(client, name) == 0, "unlink")
check(lib.nfsx_stat(client, name, ctypes.byref(st)) == -errno.ENOENT, "stat after unlink")
check(lib.nfsx_umount(client) == 0, "umount")
print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
