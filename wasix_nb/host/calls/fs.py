"""The filesystem there is not: no preopened directory, so every path call is refused.

wasi-libc links these into almost every C program (fopen, stat, opendir), so they must exist and fail
cleanly: BADF for a descriptor that is not open, NOTCAPABLE for one that is (it is never a directory).
The descriptor-level calls answer for what descriptors here are: stdio, sockets and pipes.
The refused path is shown in the trace as `path=...`.
"""
import struct

from ...abi.errno import Errno
from ..registry import WASIX, syscall

CWD = "/"
_FILESTAT = struct.Struct("<QQB7xQQQQQ")    # dev, ino, filetype @16, nlink, size, atim, mtim, ctim (64 B)


def _refuse(h, fd, path, path_len):
    h.fds.get(fd)                           # BADF unless open
    name = h.mem.read(path, path_len & 0xFFFFFFFF).decode("utf-8", "replace")
    return int(Errno.NOTCAPABLE), (name,)


# -- the working directory (WASIX) -------------------------------------------------------------------
@syscall("getcwd", "buf:ptr len:ptr", outs="len", modules=(WASIX,))
def getcwd(h, buf, len_ptr):
    # in: the buffer size at *len; out: the path length (no NUL) at *len, then the path if it fits
    cwd = CWD.encode()
    room = h.mem.u32(len_ptr)
    h.mem.set_u32(len_ptr, len(cwd))
    if len(cwd) > room:
        return int(Errno.RANGE), (len(cwd),)
    if buf & 0xFFFFFFFF == 0:
        return int(Errno.INVAL)
    h.mem.write(buf, (cwd + b"\0")[:room])
    return 0, (len(cwd),)


@syscall("chdir", "path:ptr path_len:len", outs="path", modules=(WASIX,))
def chdir(h, path, path_len):
    name = h.mem.read(path, path_len & 0xFFFFFFFF).split(b"\0", 1)[0].decode("utf-8", "replace")
    if name.rstrip("/.") == "" and name.startswith(("/", ".")):
        return 0, (name,)                   # "/", "." and the like: already there
    return int(Errno.NOENT), (name,)


# -- path calls (preview1) ---------------------------------------------------------------------------
@syscall("path_open", "dirfd:fd dirflags:u32 path:ptr path_len:len oflags:u32 rights_base:u64 "
         "rights_inheriting:u64 fdflags:fdflags ret_fd:ptr", outs="path")
def path_open(h, fd, dirflags, path, path_len, oflags, base, inheriting, fdflags, ret_fd):
    return _refuse(h, fd, path, path_len)


@syscall("path_filestat_get", "dirfd:fd flags:u32 path:ptr path_len:len buf:ptr", outs="path")
def path_filestat_get(h, fd, flags, path, path_len, buf):
    return _refuse(h, fd, path, path_len)


@syscall("path_filestat_set_times", "dirfd:fd flags:u32 path:ptr path_len:len atim:ns mtim:ns fst_flags:u32",
         outs="path")
def path_filestat_set_times(h, fd, flags, path, path_len, atim, mtim, fst_flags):
    return _refuse(h, fd, path, path_len)


@syscall("path_create_directory", "dirfd:fd path:ptr path_len:len", outs="path")
def path_create_directory(h, fd, path, path_len):
    return _refuse(h, fd, path, path_len)


@syscall("path_remove_directory", "dirfd:fd path:ptr path_len:len", outs="path")
def path_remove_directory(h, fd, path, path_len):
    return _refuse(h, fd, path, path_len)


@syscall("path_unlink_file", "dirfd:fd path:ptr path_len:len", outs="path")
def path_unlink_file(h, fd, path, path_len):
    return _refuse(h, fd, path, path_len)


@syscall("path_readlink", "dirfd:fd path:ptr path_len:len buf:ptr buf_len:len bufused:ptr", outs="path")
def path_readlink(h, fd, path, path_len, buf, buf_len, bufused):
    return _refuse(h, fd, path, path_len)


@syscall("path_link", "old_fd:fd old_flags:u32 old_path:ptr old_len:len new_fd:fd new_path:ptr new_len:len",
         outs="path")
def path_link(h, old_fd, old_flags, old_path, old_len, new_fd, new_path, new_len):
    h.fds.get(new_fd)
    return _refuse(h, old_fd, old_path, old_len)


@syscall("path_rename", "old_fd:fd old_path:ptr old_len:len new_fd:fd new_path:ptr new_len:len", outs="path")
def path_rename(h, old_fd, old_path, old_len, new_fd, new_path, new_len):
    h.fds.get(new_fd)
    return _refuse(h, old_fd, old_path, old_len)


@syscall("path_symlink", "old_path:ptr old_len:len dirfd:fd new_path:ptr new_len:len", outs="path")
def path_symlink(h, old_path, old_len, fd, new_path, new_len):
    return _refuse(h, fd, new_path, new_len)


# -- descriptor calls that only make sense on files --------------------------------------------------
@syscall("fd_filestat_get", "fd:fd buf:ptr", outs="filetype")
def fd_filestat_get(h, fd, buf):
    f = h.fds.file(fd)
    h.mem.pack(_FILESTAT, buf, 0, 0, f.filetype, 1, 0, 0, 0, 0)
    return 0, (f.filetype,)


@syscall("fd_filestat_set_size", "fd:fd size:u64")
def fd_filestat_set_size(h, fd, size):
    h.fds.get(fd)
    return int(Errno.INVAL)                 # nothing here has a size to change


@syscall("fd_filestat_set_times", "fd:fd atim:ns mtim:ns fst_flags:u32")
def fd_filestat_set_times(h, fd, atim, mtim, fst_flags):
    h.fds.get(fd)
    return int(Errno.NOTSUP)


@syscall("fd_pread", "fd:fd iovs:ptr iovs_len:len offset:u64 nread:ptr")
def fd_pread(h, fd, iovs, iovs_len, offset, nread):
    h.fds.get(fd)
    return int(Errno.SPIPE)                 # positioned I/O needs a seekable file


@syscall("fd_pwrite", "fd:fd iovs:ptr iovs_len:len offset:u64 nwritten:ptr")
def fd_pwrite(h, fd, iovs, iovs_len, offset, nwritten):
    h.fds.get(fd)
    return int(Errno.SPIPE)


@syscall("fd_readdir", "fd:fd buf:ptr buf_len:len cookie:u64 bufused:ptr")
def fd_readdir(h, fd, buf, buf_len, cookie, bufused):
    h.fds.get(fd)
    return int(Errno.NOTDIR)


@syscall("fd_advise", "fd:fd offset:u64 len:u64 advice:u32")
def fd_advise(h, fd, offset, length, advice):
    h.fds.get(fd)
    return int(Errno.SPIPE)


@syscall("fd_allocate", "fd:fd offset:u64 len:u64")
def fd_allocate(h, fd, offset, length):
    h.fds.get(fd)
    return int(Errno.SPIPE)


@syscall("fd_datasync", "fd:fd")
def fd_datasync(h, fd):
    h.fds.get(fd)
    return int(Errno.INVAL)
