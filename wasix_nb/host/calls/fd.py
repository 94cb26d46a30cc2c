"""Descriptor calls: read/write/close/stat/flags/dup/renumber (seek, sync and prestat: fs.py)."""

import struct

from ...abi.errno import Errno, WasiError
from ...abi.types import FdFlags, FdFlagsExt, ALL_RIGHTS
from ..registry import WASIX, syscall

_FDSTAT = struct.Struct("<BxHxxxxQQ")  # filetype u8 @0, fdflags u16 @2, rights_base @8, inheriting @16
_FDFLAGS_KNOWN = 0x1F
_BADF = int(Errno.BADF)


@syscall("fd_write", "fd:fd iovs:ptr iovs_len:len nwritten:ptr", outs="n")
def fd_write(h, fd, iovs, iovs_len, nwritten):
    try:
        f = h.fds.entries[fd].file  # h.fds.file(fd), inlined
    except KeyError:
        return _BADF
    mem = h.mem
    vecs = mem.iovecs(iovs, iovs_len)
    mem.check(nwritten, 4)
    n = f.write(mem.gather(vecs))
    mem.set_u32(nwritten, n)
    return 0, (n,)


@syscall("fd_read", "fd:fd iovs:ptr iovs_len:len nread:ptr", outs="n")
def fd_read(h, fd, iovs, iovs_len, nread):
    try:
        f = h.fds.entries[fd].file  # h.fds.file(fd), inlined
    except KeyError:
        return _BADF
    mem = h.mem
    vecs = mem.iovecs(iovs, iovs_len)
    mem.check(nread, 4)
    data = f.read(sum(ln for _, ln in vecs))
    n = mem.scatter(vecs, data)
    mem.set_u32(nread, n)
    return 0, (n,)


@syscall("fd_close", "fd:fd")
def fd_close(h, fd):
    if fd not in h.fds.entries:  # answered without raising: Rust's std on WASIX closes sockets twice
        return _BADF
    h.fds.close(fd)
    return 0


@syscall("fd_fdstat_get", "fd:fd buf:ptr", outs="filetype flags")
def fd_fdstat_get(h, fd, buf):
    f = h.fds.file(fd)
    flags = (FdFlags.NONBLOCK if f.nonblock else 0) | (FdFlags.APPEND if getattr(f, "append", False) else 0)
    rights = getattr(f, "rights", ALL_RIGHTS), getattr(f, "inheriting", ALL_RIGHTS)  # files: their own
    h.mem.pack(_FDSTAT, buf, f.filetype, flags, *rights)
    return 0, (f.filetype, int(flags))


@syscall("fd_fdstat_set_flags", "fd:fd flags:fdflags")
def fd_fdstat_set_flags(h, fd, flags):
    f = h.fds.file(fd)
    if flags & ~_FDFLAGS_KNOWN & 0xFFFF:
        raise WasiError(Errno.INVAL)
    f.set_nonblock(bool(flags & FdFlags.NONBLOCK))
    if hasattr(f, "set_append"):  # files (host/fs): O_APPEND on the OS descriptor
        f.set_append(bool(flags & FdFlags.APPEND))
    return 0


@syscall("fd_fdflags_get", "fd:fd flags:ptr", outs="flags", modules=(WASIX,))
def fd_fdflags_get(h, fd, out):
    e = h.fds.get(fd)
    v = int(FdFlagsExt.CLOEXEC) if e.cloexec else 0
    h.mem.set_u16(out, v)
    return 0, (v,)


@syscall("fd_fdflags_set", "fd:fd flags:fdflagsext", modules=(WASIX,))
def fd_fdflags_set(h, fd, flags):
    e = h.fds.get(fd)
    if flags & ~int(FdFlagsExt.CLOEXEC) & 0xFFFF:
        raise WasiError(Errno.INVAL)
    e.cloexec = bool(flags & FdFlagsExt.CLOEXEC)
    h.fds.version += 1
    return 0


@syscall("fd_dup", "fd:fd ret:ptr", outs="fd", modules=(WASIX,))
def fd_dup(h, fd, ret):
    e = h.fds.get(fd)
    h.mem.check(ret, 4)
    new = h.fds.add(e.file)  # POSIX dup: the copy does not inherit FD_CLOEXEC
    h.mem.set_u32(ret, new)
    return 0, (new,)


@syscall("fd_renumber", "fd:fd to:fd")
def fd_renumber(h, fd, to):
    h.fds.renumber(fd, to)
    return 0
