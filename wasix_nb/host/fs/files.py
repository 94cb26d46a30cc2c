"""Files and directories as open files of the descriptor table (kinds `file` and `dir`).

Each holds one OS descriptor.  A call in progress borrows it (`use`/`done`), and the last close of the
descriptor only closes the OS descriptor once no call is using it: a number closed under a running
read can never be reused by the host for something else and read from by mistake.
"""

import fcntl
import os
import stat
import threading

from ...abi.errno import Errno, WasiError, from_os
from ...abi.types import FdFlags, FileType
from ..fdtable import OpenFile
from .rights import ALL, READ_RIGHTS, WRITE_RIGHTS

READ_CAP = 1 << 22  # bytes read per call at most (a short read, as POSIX allows)

_TYPES = (
    (stat.S_ISREG, FileType.REGULAR_FILE),
    (stat.S_ISDIR, FileType.DIRECTORY),
    (stat.S_ISLNK, FileType.SYMBOLIC_LINK),
    (stat.S_ISCHR, FileType.CHARACTER_DEVICE),
    (stat.S_ISBLK, FileType.BLOCK_DEVICE),
    (stat.S_ISSOCK, FileType.SOCKET_STREAM),
)


def filetype(mode: int) -> int:
    for test, ft in _TYPES:
        if test(mode):
            return int(ft)
    return int(FileType.UNKNOWN)


class OsFile(OpenFile):
    """An open file backed by one OS descriptor, guarded against close-while-in-use."""

    rights = ALL
    inheriting = ALL
    os_fds = 1  # counted in the kernel's descriptor budget (fdtable.KernelBudget)

    def __init__(self, fd: int, root, parts):
        super().__init__()
        self._fd = fd
        self._users = 0
        self._closing = False
        self._lock = threading.Lock()
        self.root = root  # the preopen (fs.resolve.Root) this was reached through
        root.hold()
        self.parts = tuple(parts)  # guest components below the root
        self.local = root.guest_path(parts)
        self.peer = root.host_of(parts)

    def use(self) -> int:
        with self._lock:
            if self._closing:
                raise WasiError(Errno.BADF)
            self._users += 1
            return self._fd

    def done(self):
        with self._lock:
            self._users -= 1
            if self._users or not self._closing:
                return
            fd, self._fd = self._fd, -1
        self._close_os(fd)

    def release(self):
        with self._lock:
            self._closing = True
            self.state = "closed"
            if self._users:
                return
            fd, self._fd = self._fd, -1
        self._close_os(fd)

    def _close_os(self, fd):
        try:
            if fd >= 0:
                os.close(fd)
        finally:
            self.root.drop()

    def stat(self):
        fd = self.use()
        try:
            return os.fstat(fd)
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()

    def fdflags(self) -> int:
        return 0

    def readable(self):
        return bool(self.rights & READ_RIGHTS)

    def writable(self):
        return bool(self.rights & WRITE_RIGHTS)


class File(OsFile):
    """A regular file (or another non-directory) opened with path_open."""

    kind = "file"
    type = "regular"
    filetype = int(FileType.REGULAR_FILE)

    def __init__(self, fd, root, parts, rights, inheriting, append=False, ftype=None):
        super().__init__(fd, root, parts)
        self.rights, self.inheriting = rights, inheriting
        self.append = append
        self.pos = 0
        if ftype is not None and ftype != self.filetype:
            self.filetype = ftype
            self.type = FileType(ftype).name.lower().replace("_", " ")

    @property
    def state(self):
        return "closed" if self._closing else f"offset {self.pos}"

    @state.setter
    def state(self, value):
        pass  # the offset is the state; "closed" comes from _closing

    def fdflags(self) -> int:
        return int(FdFlags.APPEND) if self.append else 0

    def set_append(self, on: bool):
        fd = self.use()
        try:
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_APPEND if on else fl & ~os.O_APPEND)
            self.append = on
        finally:
            self.done()

    def read(self, n: int) -> bytes:
        if not self.readable():
            raise WasiError(Errno.BADF)
        fd = self.use()
        try:
            data = os.read(fd, min(n, READ_CAP))
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()
        self.pos += len(data)
        self.bytes_in += len(data)
        return data

    def write(self, data) -> int:
        if not self.writable():
            raise WasiError(Errno.BADF)
        fd = self.use()
        try:
            n = os.write(fd, data)
            self.pos = os.lseek(fd, 0, os.SEEK_CUR) if self.append else self.pos + n
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()
        self.bytes_out += n
        return n

    def pread(self, n: int, offset: int) -> bytes:
        if not self.readable():
            raise WasiError(Errno.BADF)
        fd = self.use()
        try:
            data = os.pread(fd, min(n, READ_CAP), offset)
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()
        self.bytes_in += len(data)
        return data

    def pwrite(self, data, offset: int) -> int:
        if not self.writable():
            raise WasiError(Errno.BADF)
        fd = self.use()
        try:
            n = os.pwrite(fd, data, offset)
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()
        self.bytes_out += n
        return n

    def seek(self, offset: int, whence: int) -> int:
        fd = self.use()
        try:
            self.pos = os.lseek(fd, offset, whence)
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()
        if self.host is not None:
            self.host.fds.version += 1
        return self.pos

    def call(self, fn, *args):
        """`fn(os_fd, *args)` with OS errors as errno."""
        fd = self.use()
        try:
            return fn(fd, *args)
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()


class Dir(OsFile):
    """A directory: a preopen (fd_prestat_get answers for it) or one opened with path_open."""

    kind = "dir"
    filetype = int(FileType.DIRECTORY)

    def __init__(self, fd, root, parts, rights=ALL, inheriting=ALL, preopen=False):
        super().__init__(fd, root, parts)
        self.rights, self.inheriting = rights, inheriting
        self.preopen = preopen
        self.type = "preopen" if preopen else "directory"
        self.state = "open"
        self._listing = None  # (name, inode, filetype) snapshot taken at cookie 0 (fd_readdir)

    def _close_os(self, fd):
        super()._close_os(fd if not self.preopen else -1)  # a preopen's descriptor is its Root's

    def read(self, n: int) -> bytes:
        raise WasiError(Errno.ISDIR)

    def write(self, data) -> int:
        raise WasiError(Errno.BADF)

    def call(self, fn, *args):
        fd = self.use()
        try:
            return fn(fd, *args)
        except OSError as e:
            raise WasiError(from_os(e)) from None
        finally:
            self.done()

    def listing(self, cookie: int):
        """Entries from `cookie` on: `.` and `..` first, then the names in byte order (a stable order
        keeps cookies meaningful); a fresh snapshot whenever the program starts again at 0."""
        if cookie == 0 or self._listing is None:
            fd = self.use()
            try:
                here = os.fstat(fd)
                up = here if not self.parts else self._parent_stat(fd, here)
                rows = [(b".", here.st_ino, int(FileType.DIRECTORY)), (b"..", up.st_ino, int(FileType.DIRECTORY))]
                with os.scandir(fd) as it:
                    ents = sorted(((os.fsencode(e.name), e.inode(), _dtype(e)) for e in it))
                rows.extend(ents)
            except OSError as e:
                raise WasiError(from_os(e)) from None
            finally:
                self.done()
            self._listing = rows
        return self._listing[cookie:] if cookie < len(self._listing) else []

    @staticmethod
    def _parent_stat(fd, here):
        try:
            return os.stat("..", dir_fd=fd, follow_symlinks=False)
        except OSError:
            return here


def _dtype(entry) -> int:
    try:
        if entry.is_symlink():
            return int(FileType.SYMBOLIC_LINK)
        if entry.is_dir(follow_symlinks=False):
            return int(FileType.DIRECTORY)
        if entry.is_file(follow_symlinks=False):
            return int(FileType.REGULAR_FILE)
        return filetype(entry.stat(follow_symlinks=False).st_mode)
    except OSError:
        return int(FileType.UNKNOWN)
