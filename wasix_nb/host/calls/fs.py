"""Files: the path calls and the descriptor calls that act on files and directories (docs/files.md).

Paths are resolved by `host.fs.resolve.walk`, confined to the preopen the directory descriptor came
from.  Without preopened directories (the default) no descriptor is a directory, so every path call
answers BADF for a descriptor that is not open and NOTCAPABLE for one that is (stdio, a socket, a pipe);
a regular file as the directory answers NOTDIR.  Writes through a read-only preopen answer ROFS, as a
read-only mount does on Linux.  Stdio, sockets and pipes keep their answers (SPIPE for seeking...).
The path appears in the trace as `path=...`.
"""

import errno as E
import os
import posixpath
import stat
import time

from ...abi.errno import Errno, WasiError, from_os
from ...abi.memory import MASK32
from ..fs import Dir, File, OsFile
from ..fs.devices import Device, device_stat, open_device, refuse
from ..fs.files import filetype
from ..fs.layout import DIRENT, FILESTAT, FILESTAT0, PRESTAT, WHENCE0, stat_tuple
from ..fs.resolve import PATH_MAX, FollowLink, walk
from ..fs.rights import READ_RIGHTS, WRITE_RIGHTS
from ..fdtable import OpenFile
from ..registry import UNSTABLE, WASIX, syscall, variant

_MASK64 = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1
_CREAT, _DIRECTORY, _EXCL, _TRUNC = 1, 2, 4, 8
_APPEND, _DSYNC, _NONBLOCK, _RSYNC, _SYNC = 1, 2, 4, 8, 16
_FOLLOW = 1
_ATIM, _ATIM_NOW, _MTIM, _MTIM_NOW = 1, 2, 4, 8
_WRITE_CAP = 1 << 22  # bytes one fd_pwrite takes at most (a short write, as POSIX allows)
_ADVICE = {
    0: "POSIX_FADV_NORMAL",
    1: "POSIX_FADV_SEQUENTIAL",
    2: "POSIX_FADV_RANDOM",
    3: "POSIX_FADV_WILLNEED",
    4: "POSIX_FADV_DONTNEED",
    5: "POSIX_FADV_NOREUSE",
}


# -- helpers ------------------------------------------------------------------------------------------
def _path(h, ptr, n) -> bytes:
    n &= MASK32
    if n > PATH_MAX:
        raise WasiError(Errno.NAMETOOLONG)
    return h.mem.read(ptr, n)


def _show(p: bytes) -> str:
    return p.decode("utf-8", "replace")


def _dir(h, fd) -> Dir:
    f = h.fds.file(fd)  # BADF unless open
    if f.__class__ is Dir:
        return f
    raise WasiError(Errno.NOTDIR if isinstance(f, (File, Device)) else Errno.NOTCAPABLE)


def _writable(d: Dir):
    if d.root.ro:
        raise WasiError(Errno.ROFS, "read-only preopen")


def _at(d: Dir, path: bytes, op, device=None):
    fd = d.use()
    try:
        return walk(d.root, fd, d.parts, path, op, device)
    finally:
        d.done()


def _bare(path: bytes) -> bytes:
    """Without trailing slashes, for the calls that act on a name itself (mkdir "a/" makes "a")."""
    p = path.rstrip(b"/")
    return p if p else path


def _os(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except OSError as e:
        raise WasiError(from_os(e)) from None


def _islink(name, dfd) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _lstat_follow(follow):
    def op(dfd, name, parts):
        st = _os(os.stat, name, dir_fd=dfd, follow_symlinks=False)
        if follow and stat.S_ISLNK(st.st_mode):
            raise FollowLink
        return st

    return op


def _stat_of(f):
    """The filestat tuple of any open file (stdio, sockets and pipes: a bare one of their type)."""
    if isinstance(f, OsFile):
        st = f.stat()
        return stat_tuple(st, filetype(st.st_mode))
    return (0, 0, f.filetype, 1, 0, 0, 0, 0)


def _gather(mem, vecs, cap=_WRITE_CAP) -> bytes:
    out, n = [], 0
    for buf, ln in vecs:
        take = min(ln, cap - n)
        if take <= 0:
            break
        out.append(mem.read(buf, take))
        n += take
    return b"".join(out)


def _times(st, atim, mtim, fst):
    if fst & ~0xF & 0xFFFF or (fst & _ATIM and fst & _ATIM_NOW) or (fst & _MTIM and fst & _MTIM_NOW):
        raise WasiError(Errno.INVAL)
    now = time.time_ns()
    a = (atim & _MASK64) if fst & _ATIM else now if fst & _ATIM_NOW else st.st_atime_ns
    m = (mtim & _MASK64) if fst & _MTIM else now if fst & _MTIM_NOW else st.st_mtime_ns
    return a, m


# -- the working directory (WASIX) -------------------------------------------------------------------
@syscall("getcwd", "buf:ptr len:ptr", outs="len", modules=(WASIX,))
def getcwd(h, buf, len_ptr):
    # in: the buffer size at *len; out: the path length (no NUL) at *len, then the path if it fits
    cwd = h.cwd.encode()
    room = h.mem.u32(len_ptr)
    h.mem.set_u32(len_ptr, len(cwd))
    if len(cwd) > room:
        return int(Errno.RANGE), (len(cwd),)
    if buf & 0xFFFFFFFF == 0:
        return int(Errno.INVAL)
    h.mem.write(buf, (cwd + b"\0")[:room])
    return 0, (len(cwd),)


@syscall("chdir", "path:ptr path_len:len", modules=(WASIX,))
def chdir(h, path, path_len):
    return change_dir(h, _show(_path(h, path, path_len).split(b"\0", 1)[0]))


def preopen_for(h, target: str):
    """The open preopen whose guest path holds the absolute guest path `target` (the longest), or None."""
    best = None
    for e in list(h.fds.entries.values()):
        d = e.file
        if d.__class__ is Dir and d.preopen and d.root.gparts is not None:
            g = d.root.guest
            if target == g or target.startswith(g.rstrip("/") + "/"):
                if best is None or len(g) > len(best.root.guest):
                    best = d
    return best


def change_dir(h, name: str) -> int:
    """Make `name` (relative to the current directory) `h`'s working directory: 0 or an errno (also
    posix_spawn's chdir file action, on the child's host)."""
    target = posixpath.normpath(posixpath.join(h.cwd, name)) if name else ""
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    if not target:
        return int(Errno.NOENT)
    best = preopen_for(h, target)
    if best is None:
        if target != "/":
            return int(Errno.NOENT)
        h.cwd = target
        return 0

    def is_dir(dfd, nm, parts):
        st = _os(os.stat, nm, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise FollowLink
        if not stat.S_ISDIR(st.st_mode):
            raise WasiError(Errno.NOTDIR)

    _at(best, target.encode("utf-8", "surrogateescape"), is_dir)
    h.cwd = target
    return 0


# -- preopens ----------------------------------------------------------------------------------------
@syscall("fd_prestat_get", "fd:fd buf:ptr", outs="name")
def fd_prestat_get(h, fd, buf):
    f = h.fds.file(fd)
    if f.__class__ is not Dir or not f.preopen:
        return int(Errno.BADF)
    name = f.root.guest.encode()
    h.mem.pack(PRESTAT, buf, 0, len(name))
    return 0, (f.root.guest,)


@syscall("fd_prestat_dir_name", "fd:fd path:ptr path_len:len", outs="name")
def fd_prestat_dir_name(h, fd, path, path_len):
    f = h.fds.file(fd)
    if f.__class__ is not Dir or not f.preopen:
        return int(Errno.BADF)
    name = f.root.guest.encode()
    if path_len & MASK32 < len(name):
        return int(Errno.NAMETOOLONG)
    h.mem.write(path, name)
    return 0, (f.root.guest,)


# -- opening -----------------------------------------------------------------------------------------
@syscall(
    "path_open",
    "dirfd:fd dirflags:lookupflags path:ptr path_len:len oflags:oflags rights_base:rights "
    "rights_inheriting:rights fdflags:fdflags ret_fd:ptr",
    outs="fd",
)
def path_open(h, fd, dirflags, path, path_len, oflags, base, inheriting, fdflags, ret_fd):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    h.mem.check(ret_fd, 4)
    f = open_path(h, d, p, dirflags, oflags, base, inheriting, fdflags)
    if not isinstance(f, OpenFile):
        return f  # an errno (with its note)
    try:
        new = h.fds.add(f)
    except BaseException:
        f.release()
        raise
    h.mem.set_u32(ret_fd, new)
    return 0, (new,)


def open_path(h, d, p: bytes, dirflags, oflags, base, inheriting, fdflags):
    """The open file for path `p` below directory `d` (not yet in a table), or an errno (int, or
    (errno, None, note)); also posix_spawn's open file action, on the child's host."""
    oflags &= 0xFFFF
    fdflags &= 0xFFFF
    if oflags & ~0xF or fdflags & ~0x1F:
        return int(Errno.INVAL)
    base &= _MASK64
    inheriting &= _MASK64
    if base & ~d.inheriting & ((1 << 30) - 1):
        return int(Errno.NOTCAPABLE), None, "rights beyond the directory's inheriting rights"
    h.fds.check_room()
    read, write = bool(base & READ_RIGHTS), bool(base & WRITE_RIGHTS)
    if oflags & _DIRECTORY:
        write = False  # a directory is opened for reading; write rights mean nothing
    creat, excl, trunc = oflags & _CREAT, oflags & _EXCL, oflags & _TRUNC
    ro = d.root.ro
    if ro and (write or trunc):
        return int(Errno.ROFS), None, "read-only preopen"
    flags = os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY)
    if creat and not ro:
        flags |= os.O_CREAT | (os.O_EXCL if excl else 0)
    if trunc:
        flags |= os.O_TRUNC
    if oflags & _DIRECTORY:
        flags |= os.O_DIRECTORY
    if fdflags & _APPEND:
        flags |= os.O_APPEND
    if fdflags & _DSYNC:
        flags |= os.O_DSYNC
    if fdflags & (_SYNC | _RSYNC):
        flags |= os.O_SYNC
    follow = dirflags & _FOLLOW
    root = d.root

    def op(dfd, nm, parts):
        try:
            ofd = os.open(nm, flags, 0o666, dir_fd=dfd)
        except OSError as e:
            if e.errno in (E.ELOOP, E.ENOTDIR) and follow and _islink(nm, dfd):
                raise FollowLink from None
            if ro and creat and e.errno == E.ENOENT:
                raise WasiError(Errno.ROFS, "read-only preopen") from None
            raise WasiError(from_os(e)) from None
        try:
            st = os.fstat(ofd)
            if ro and creat and excl:
                raise WasiError(Errno.EXIST)
            where = parts if nm == b"." else parts + [nm]
            if stat.S_ISDIR(st.st_mode):
                return Dir(ofd, root, where, base, inheriting)
            if oflags & _DIRECTORY:
                raise WasiError(Errno.NOTDIR)
            return File(ofd, root, where, base, inheriting, bool(fdflags & _APPEND), filetype(st.st_mode))
        except BaseException:
            os.close(ofd)
            raise

    f = _at(d, p, op, device=lambda nm: open_device(h, nm))
    if fdflags & _NONBLOCK:
        f.nonblock = True
    return f


# -- attributes --------------------------------------------------------------------------------------
def _path_stat(h, fd, flags, path, path_len, buf, st_struct):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    h.mem.check(buf, st_struct.size)
    st = _at(d, p, _lstat_follow(flags & _FOLLOW), device=device_stat)
    vals = stat_tuple(st, filetype(st.st_mode)) if isinstance(st, os.stat_result) else st
    h.mem.pack(st_struct, buf, *vals)
    return 0, (vals[2],)


@syscall("path_filestat_get", "dirfd:fd flags:lookupflags path:ptr path_len:len buf:ptr", outs="filetype")
def path_filestat_get(h, fd, flags, path, path_len, buf):
    return _path_stat(h, fd, flags, path, path_len, buf, FILESTAT)


@variant(path_filestat_get, UNSTABLE)
def path_filestat_get0(h, fd, flags, path, path_len, buf):
    return _path_stat(h, fd, flags, path, path_len, buf, FILESTAT0)


@syscall("fd_filestat_get", "fd:fd buf:ptr", outs="filetype")
def fd_filestat_get(h, fd, buf):
    vals = _stat_of(h.fds.file(fd))
    h.mem.pack(FILESTAT, buf, *vals)
    return 0, (vals[2],)


@variant(fd_filestat_get, UNSTABLE)
def fd_filestat_get0(h, fd, buf):
    vals = _stat_of(h.fds.file(fd))
    h.mem.pack(FILESTAT0, buf, *vals)
    return 0, (vals[2],)


@syscall(
    "path_filestat_set_times", "dirfd:fd flags:lookupflags path:ptr path_len:len atim:ns mtim:ns fst_flags:fstflags"
)
def path_filestat_set_times(h, fd, flags, path, path_len, atim, mtim, fst_flags):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    if fst_flags & ~0xF & 0xFFFF:
        return int(Errno.INVAL)
    _writable(d)
    follow = flags & _FOLLOW

    def op(dfd, nm, parts):
        st = _os(os.stat, nm, dir_fd=dfd, follow_symlinks=False)
        if follow and stat.S_ISLNK(st.st_mode):
            raise FollowLink
        _os(os.utime, nm, ns=_times(st, atim, mtim, fst_flags), dir_fd=dfd, follow_symlinks=False)

    _at(d, p, op, device=refuse)
    return 0


@syscall("fd_filestat_set_times", "fd:fd atim:ns mtim:ns fst_flags:fstflags")
def fd_filestat_set_times(h, fd, atim, mtim, fst_flags):
    f = h.fds.file(fd)
    if not isinstance(f, OsFile):
        return int(Errno.NOTSUP)
    if f.root.ro:
        return int(Errno.ROFS)
    f.call(lambda ofd: os.utime(ofd, ns=_times(os.fstat(ofd), atim, mtim, fst_flags)))
    return 0


@syscall("fd_filestat_set_size", "fd:fd size:u64")
def fd_filestat_set_size(h, fd, size):
    f = h.fds.file(fd)
    if f.__class__ is Dir:
        return int(Errno.ISDIR)
    if f.__class__ is not File:
        return int(Errno.INVAL)  # stdio, sockets, pipes, devices: no size to change
    size &= _MASK64
    if size > _I64_MAX:
        return int(Errno.INVAL)
    f.call(os.ftruncate, size)
    return 0


@syscall("fd_fdstat_set_rights", "fd:fd base:rights inheriting:rights")
def fd_fdstat_set_rights(h, fd, base, inheriting):
    f = h.fds.file(fd)
    if not isinstance(f, OsFile):
        return 0
    base &= (1 << 30) - 1
    inheriting &= (1 << 30) - 1
    if base & ~f.rights or inheriting & ~f.inheriting:
        return int(Errno.NOTCAPABLE)  # rights can only be dropped
    f.rights, f.inheriting = base, inheriting
    return 0


# -- positioned I/O, seeking, syncing ----------------------------------------------------------------
@syscall("fd_pread", "fd:fd iovs:ptr iovs_len:len offset:u64 nread:ptr", outs="n")
def fd_pread(h, fd, iovs, iovs_len, offset, nread):
    f = h.fds.file(fd)
    mem = h.mem
    vecs = mem.iovecs(iovs, iovs_len)
    mem.check(nread, 4)
    cls = f.__class__
    if cls is Dir:
        return int(Errno.ISDIR)
    if cls is not File and cls is not Device:
        return int(Errno.SPIPE)  # positioned I/O needs a seekable file
    offset &= _MASK64
    if offset > _I64_MAX:
        return int(Errno.INVAL)
    want = sum(ln for _, ln in vecs)
    data = f.pread(want, offset) if cls is File else f.read(want)
    n = mem.scatter(vecs, data)
    mem.set_u32(nread, n)
    return 0, (n,)


@syscall("fd_pwrite", "fd:fd iovs:ptr iovs_len:len offset:u64 nwritten:ptr", outs="n")
def fd_pwrite(h, fd, iovs, iovs_len, offset, nwritten):
    f = h.fds.file(fd)
    mem = h.mem
    vecs = mem.iovecs(iovs, iovs_len)
    mem.check(nwritten, 4)
    cls = f.__class__
    if cls is Dir:
        return int(Errno.BADF)
    if cls is not File and cls is not Device:
        return int(Errno.SPIPE)
    offset &= _MASK64
    if offset > _I64_MAX:
        return int(Errno.INVAL)
    data = _gather(mem, vecs)
    n = f.pwrite(data, offset) if cls is File else f.write(data)
    mem.set_u32(nwritten, n)
    return 0, (n,)


def _seek(h, fd, offset, whence, newoffset):
    f = h.fds.file(fd)
    h.mem.check(newoffset, 8)
    cls = f.__class__
    if cls is File or cls is Device:
        if whence not in (0, 1, 2):
            return int(Errno.INVAL)
        pos = f.seek(offset, (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END)[whence])
        h.mem.set_u64(newoffset, pos)
        return 0, (pos,)
    if cls is Dir:
        return int(Errno.BADF)
    return int(Errno.SPIPE)  # stdio, sockets and pipes cannot seek


@syscall("fd_seek", "fd:fd offset:i64 whence:whence newoffset:ptr", outs="offset")
def fd_seek(h, fd, offset, whence, newoffset):
    return _seek(h, fd, offset, whence & 0xFF, newoffset)


@variant(fd_seek, UNSTABLE, params="fd:fd offset:i64 whence:whence0 newoffset:ptr")
def fd_seek0(h, fd, offset, whence, newoffset):
    return _seek(h, fd, offset, WHENCE0.get(whence & 0xFF, 255), newoffset)


@syscall("fd_tell", "fd:fd offset:ptr", outs="offset")
def fd_tell(h, fd, offset):
    return _seek(h, fd, 0, 1, offset)


def _sync(h, fd, fn):
    f = h.fds.file(fd)
    if not isinstance(f, OsFile):
        return int(Errno.INVAL)  # Linux: fsync on a socket, pipe or terminal is EINVAL
    f.call(fn)
    return 0


@syscall("fd_sync", "fd:fd")
def fd_sync(h, fd):
    return _sync(h, fd, os.fsync)


@syscall("fd_datasync", "fd:fd")
def fd_datasync(h, fd):
    return _sync(h, fd, os.fdatasync)


@syscall("fd_advise", "fd:fd offset:u64 len:u64 advice:advice")
def fd_advise(h, fd, offset, length, advice):
    f = h.fds.file(fd)
    if advice & 0xFF not in _ADVICE:
        return int(Errno.INVAL)
    if f.__class__ is Dir:
        return int(Errno.BADF)
    if f.__class__ is not File:
        return int(Errno.SPIPE)
    offset, length = offset & _MASK64, length & _MASK64
    if offset > _I64_MAX or length > _I64_MAX:
        return int(Errno.INVAL)
    f.call(os.posix_fadvise, offset, length, getattr(os, _ADVICE[advice & 0xFF]))
    return 0


@syscall("fd_allocate", "fd:fd offset:u64 len:u64")
def fd_allocate(h, fd, offset, length):
    f = h.fds.file(fd)
    if f.__class__ is Dir:
        return int(Errno.BADF)
    if f.__class__ is not File:
        return int(Errno.SPIPE)
    offset, length = offset & _MASK64, length & _MASK64
    if offset > _I64_MAX or length > _I64_MAX or length == 0:
        return int(Errno.INVAL)
    if not f.writable():
        return int(Errno.BADF)
    f.call(os.posix_fallocate, offset, length)
    return 0


# -- directories -------------------------------------------------------------------------------------
def _readdir(h, fd, buf, buf_len, cookie, bufused):
    f = h.fds.file(fd)
    buf_len &= MASK32
    h.mem.check(buf, buf_len)
    h.mem.check(bufused, 4)
    if f.__class__ is not Dir:
        return int(Errno.NOTDIR)
    cookie &= _MASK64
    out = bytearray()
    for i, (nm, ino, dtype) in enumerate(f.listing(cookie)):
        if len(out) >= buf_len:
            break
        out += DIRENT.pack(cookie + i + 1, ino, len(nm), dtype) + nm
    out = out[:buf_len]  # the last entry may be cut: the caller grows its buffer
    h.mem.write(buf, out)
    h.mem.set_u32(bufused, len(out))
    return 0, (len(out),)


@syscall("fd_readdir", "fd:fd buf:ptr buf_len:len cookie:u64 bufused:ptr", outs="bufused")
def fd_readdir(h, fd, buf, buf_len, cookie, bufused):
    return _readdir(h, fd, buf, buf_len, cookie, bufused)


@syscall("path_create_directory", "dirfd:fd path:ptr path_len:len")
def path_create_directory(h, fd, path, path_len):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    _writable(d)
    _at(d, _bare(p), lambda dfd, nm, parts: _os(os.mkdir, nm, 0o777, dir_fd=dfd), device=refuse)
    return 0


@syscall("path_remove_directory", "dirfd:fd path:ptr path_len:len")
def path_remove_directory(h, fd, path, path_len):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    _writable(d)

    def op(dfd, nm, parts):
        if nm == b".":
            raise WasiError(Errno.INVAL)  # rmdir(".") as on Linux (also keeps a preopen in place)
        _os(os.rmdir, nm, dir_fd=dfd)

    _at(d, _bare(p), op, device=refuse)
    return 0


@syscall("path_unlink_file", "dirfd:fd path:ptr path_len:len")
def path_unlink_file(h, fd, path, path_len):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    _writable(d)
    slash = p.endswith(b"/")

    def op(dfd, nm, parts):
        if slash:  # "name/" names a directory: never a file to unlink
            st = _os(os.stat, nm, dir_fd=dfd, follow_symlinks=False)
            raise WasiError(Errno.ISDIR if stat.S_ISDIR(st.st_mode) else Errno.NOTDIR)
        _os(os.unlink, nm, dir_fd=dfd)

    _at(d, _bare(p), op, device=refuse)
    return 0


@syscall("path_rename", "old_fd:fd old_path:ptr old_len:len new_fd:fd new_path:ptr new_len:len")
def path_rename(h, old_fd, old_path, old_len, new_fd, new_path, new_len):
    d1, d2 = _dir(h, old_fd), _dir(h, new_fd)
    p1, p2 = _path(h, old_path, old_len), _path(h, new_path, new_len)
    _writable(d1)
    _writable(d2)

    def op(dfd1, nm1, parts1):
        def inner(dfd2, nm2, parts2):
            if nm1 == b"." or nm2 == b".":
                raise WasiError(Errno.BUSY if nm1 == b"." else Errno.INVAL)
            _os(os.rename, nm1, nm2, src_dir_fd=dfd1, dst_dir_fd=dfd2)

        _at(d2, _bare(p2), inner, device=refuse)

    _at(d1, _bare(p1), op, device=refuse)
    return 0


@syscall("path_symlink", "old_path:ptr old_len:len dirfd:fd new_path:ptr new_len:len")
def path_symlink(h, old_path, old_len, fd, new_path, new_len):
    d = _dir(h, fd)
    target = _path(h, old_path, old_len)
    p = _path(h, new_path, new_len)
    if b"\0" in target:
        return int(Errno.INVAL)
    if not target:
        return int(Errno.NOENT)
    _writable(d)
    # the link text is stored as given: whatever it says, resolving it later stays inside the preopen
    _at(d, _bare(p), lambda dfd, nm, parts: _os(os.symlink, target, nm, dir_fd=dfd), device=refuse)
    return 0


@syscall("path_readlink", "dirfd:fd path:ptr path_len:len buf:ptr buf_len:len bufused:ptr", outs="target n")
def path_readlink(h, fd, path, path_len, buf, buf_len, bufused):
    d = _dir(h, fd)
    p = _path(h, path, path_len)
    buf_len &= MASK32
    h.mem.check(buf, buf_len)
    h.mem.check(bufused, 4)

    def not_a_link(nm):
        raise WasiError(Errno.INVAL)

    target = _at(d, p, lambda dfd, nm, parts: _os(os.readlink, nm, dir_fd=dfd), device=not_a_link)
    out = target[:buf_len]  # truncated to the buffer, as readlink(2)
    h.mem.write(buf, out)
    h.mem.set_u32(bufused, len(out))
    return 0, (_show(out), len(out))


@syscall("path_link", "old_fd:fd old_flags:lookupflags old_path:ptr old_len:len new_fd:fd new_path:ptr new_len:len")
def path_link(h, old_fd, old_flags, old_path, old_len, new_fd, new_path, new_len):
    d1, d2 = _dir(h, old_fd), _dir(h, new_fd)
    p1, p2 = _path(h, old_path, old_len), _path(h, new_path, new_len)
    _writable(d2)
    follow = old_flags & _FOLLOW

    def op(dfd1, nm1, parts1):
        if follow and _islink(nm1, dfd1):
            raise FollowLink
        _at(
            d2,
            _bare(p2),
            lambda dfd2, nm2, parts2: _os(os.link, nm1, nm2, src_dir_fd=dfd1, dst_dir_fd=dfd2, follow_symlinks=False),
            device=refuse,
        )

    _at(d1, _bare(p1), op, device=refuse)
    return 0
