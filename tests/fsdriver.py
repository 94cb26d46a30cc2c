"""A driver for the file calls: each host function called from Python on a process with preopens.

with FS(f"{tmp}::/") as fs:
    err, fd = fs.open("a.txt", oflags=CREAT)
    fs.write(fd, b"hi")
"""

import struct

from wat_core import Driver

ALL = (1 << 30) - 1
FD_READ, FD_WRITE, FD_READDIR = 1 << 1, 1 << 6, 1 << 14
CREAT, DIRECTORY, EXCL, TRUNC = 1, 2, 4, 8
APPEND = 1
FOLLOW = 1
CALLS = (
    "path_open",
    "fd_read",
    "fd_write",
    "fd_close",
    "fd_seek",
    "fd_tell",
    "fd_readdir",
    "fd_filestat_get",
    "path_filestat_get",
    "path_create_directory",
    "path_remove_directory",
    "path_unlink_file",
    "path_rename",
    "path_symlink",
    "path_readlink",
    "path_link",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pread",
    "fd_pwrite",
    "fd_sync",
    "fd_datasync",
    "fd_allocate",
    "fd_advise",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "path_filestat_set_times",
    "fd_fdstat_get",
    "fd_fdstat_set_rights",
    "fd_fdstat_set_flags",
)
WASIX_ONLY = ("chdir", "getcwd", "fd_dup", "sock_open")

# memory: 64 out u32/u64 · 128 iovec · 256 struct out · 1024 path A · 2048 path B · 4096.. buffer
OUT, IOV, ST, PA, PB, BUF = 64, 128, 256, 1024, 2048, 4096


class FS:
    def __init__(self, dirs, module="wasix_32v1", **opts):
        names = CALLS + (WASIX_ONLY if module == "wasix_32v1" else ())
        self.d = Driver(*names, module=module, dirs=dirs, memory_pages=2, **opts)
        self.mem = self.d.mem
        self.host = self.d.host

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.d.close()

    def call(self, name, *args):
        return self.d.call(name, *args)

    def _p(self, at, path):
        raw = path.encode() if isinstance(path, str) else path
        self.mem.write(at, raw)
        return at, len(raw)

    def u32(self, at=OUT):
        return self.mem.u32(at)

    def u64(self, at=OUT):
        return self.mem.u64(at)

    # -- calls --------------------------------------------------------------------------------------------
    def open(self, path, oflags=0, rights=ALL, fdflags=0, dirfd=3, follow=FOLLOW, inheriting=ALL):
        e = self.call("path_open", dirfd, follow, *self._p(PA, path), oflags, rights, inheriting, fdflags, OUT)
        return e, (self.u32() if e == 0 else None)

    def write(self, fd, data):
        self.mem.write(BUF, data)
        self.mem.set_u32(IOV, BUF)
        self.mem.set_u32(IOV + 4, len(data))
        e = self.call("fd_write", fd, IOV, 1, OUT)
        return e, (self.u32() if e == 0 else None)

    def read(self, fd, n=4096):
        self.mem.set_u32(IOV, BUF)
        self.mem.set_u32(IOV + 4, n)
        e = self.call("fd_read", fd, IOV, 1, OUT)
        return e, (self.mem.read(BUF, self.u32()) if e == 0 else None)

    def pread(self, fd, n, offset):
        self.mem.set_u32(IOV, BUF)
        self.mem.set_u32(IOV + 4, n)
        e = self.call("fd_pread", fd, IOV, 1, offset, OUT)
        return e, (self.mem.read(BUF, self.u32()) if e == 0 else None)

    def pwrite(self, fd, data, offset):
        self.mem.write(BUF, data)
        self.mem.set_u32(IOV, BUF)
        self.mem.set_u32(IOV + 4, len(data))
        e = self.call("fd_pwrite", fd, IOV, 1, offset, OUT)
        return e, (self.u32() if e == 0 else None)

    def seek(self, fd, offset, whence):
        e = self.call("fd_seek", fd, offset, whence, OUT)
        return e, (self.u64() if e == 0 else None)

    def tell(self, fd):
        e = self.call("fd_tell", fd, OUT)
        return e, (self.u64() if e == 0 else None)

    def mkdir(self, path, dirfd=3):
        return self.call("path_create_directory", dirfd, *self._p(PA, path))

    def rmdir(self, path, dirfd=3):
        return self.call("path_remove_directory", dirfd, *self._p(PA, path))

    def unlink(self, path, dirfd=3):
        return self.call("path_unlink_file", dirfd, *self._p(PA, path))

    def rename(self, old, new, fd1=3, fd2=3):
        return self.call("path_rename", fd1, *self._p(PA, old), fd2, *self._p(PB, new))

    def symlink(self, target, path, dirfd=3):
        return self.call("path_symlink", *self._p(PB, target), dirfd, *self._p(PA, path))

    def readlink(self, path, dirfd=3, n=256):
        e = self.call("path_readlink", dirfd, *self._p(PA, path), BUF, n, OUT)
        return e, (self.mem.read(BUF, self.u32()) if e == 0 else None)

    def link(self, old, new, follow=0, fd1=3, fd2=3):
        return self.call("path_link", fd1, follow, *self._p(PA, old), fd2, *self._p(PB, new))

    def stat(self, path, follow=FOLLOW, dirfd=3):
        """(errno, (dev, ino, filetype, nlink, size, atim, mtim, ctim)) of a path (preview1 layout)."""
        e = self.call("path_filestat_get", dirfd, follow, *self._p(PA, path), ST)
        return e, (struct.unpack("<QQB7xQQQQQ", self.mem.read(ST, 64)) if e == 0 else None)

    def fstat(self, fd):
        e = self.call("fd_filestat_get", fd, ST)
        return e, (struct.unpack("<QQB7xQQQQQ", self.mem.read(ST, 64)) if e == 0 else None)

    def fdstat(self, fd):
        """(errno, (filetype, fdflags, rights_base, rights_inheriting))."""
        e = self.call("fd_fdstat_get", fd, ST)
        return e, (struct.unpack("<BxHxxxxQQ", self.mem.read(ST, 24)) if e == 0 else None)

    def readdir(self, fd, cookie=0, n=4096):
        """(errno, [(d_next, ino, type, name)], bytes used)."""
        e = self.call("fd_readdir", fd, BUF, n, cookie, OUT)
        if e:
            return e, None, 0
        used = self.u32()
        raw = self.mem.read(BUF, used)
        out, i = [], 0
        while i + 24 <= used:
            nxt, ino, nl, t = struct.unpack_from("<QQIB", raw, i)
            if i + 24 + nl > used:
                break  # cut entry at the end of the buffer
            out.append((nxt, ino, t, raw[i + 24 : i + 24 + nl].decode()))
            i += 24 + nl
        return e, out, used

    def prestat(self, fd):
        e = self.call("fd_prestat_get", fd, ST)
        if e:
            return e, None
        n = self.mem.u32(ST + 4)
        e = self.call("fd_prestat_dir_name", fd, BUF, n)
        return e, self.mem.read(BUF, n).decode()

    def chdir(self, path):
        return self.call("chdir", *self._p(PA, path))

    def getcwd(self):
        self.mem.set_u32(OUT, 512)
        e = self.call("getcwd", BUF, OUT)
        return e, (self.mem.read(BUF, self.u32()).decode() if e == 0 else None)

    def rows(self):
        return {r["fd"]: r for r in self.host.fds.rows()}
