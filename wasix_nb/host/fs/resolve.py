"""Confined path resolution: a guest path is walked one component at a time, relative to directory
descriptors, and the OS is never allowed to follow a symbolic link or a `..` on its own.

Every intermediate directory is opened with O_DIRECTORY|O_NOFOLLOW (O_PATH where Linux has it) relative
to the one before; a symlink met on the way is read with readlinkat and its target walked the same way
(counted: LOOP past 40, as Linux); an absolute target, like an absolute path, starts again at the
preopen's root (its guest path is stripped; outside it: NOTCAPABLE); `..` pops back to a directory
descriptor already held, and at the root stays there for a `/` preopen (POSIX `/..`) or is NOTCAPABLE for
any other.  The final component is handed to an operation that must not follow it either (openat with
O_NOFOLLOW, fstatat/utimensat with AT_SYMLINK_NOFOLLOW, mkdirat, unlinkat, renameat, linkat without
AT_SYMLINK_FOLLOW...); when the call asked to follow it, the operation raises `FollowLink` and the walk
goes on through the link.  A check and its use are the same system call, so swapping a directory for a
symlink between them cannot lead outside.
"""

import errno as E
import os
import threading

from ...abi.errno import Errno, WasiError, from_os

O_PATH = getattr(os, "O_PATH", 0)
STEP = O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # symlinks followed in one lookup (Linux's MAXSYMLINKS)
PATH_MAX = 4096
DEVICES = (b"stdin", b"stdout", b"stderr", b"null", b"zero", b"urandom")


class FollowLink(Exception):
    """Raised by an operation whose final name is a symlink that the call asked to follow."""


def split(p: bytes):
    """Components without empty and `.` ones; a trailing `/` or `.` becomes a final `.` (the name must
    then be a directory, reached through any symlink)."""
    comps = [c for c in p.split(b"/") if c and c != b"."]
    if p.endswith((b"/", b"/.")) or p == b"." or not comps:
        comps.append(b".")
    return comps


class Root:
    """A preopened host directory: an OS descriptor, its guest path, ro.  Counted references (the host's
    own, and every file or directory reached through it) keep the descriptor open: a forked child's
    files outlive the parent's host."""

    def __init__(self, host_path: str, guest: str, ro: bool = False):
        self.host_path = host_path
        self.guest = guest
        self.ro = ro
        self.slash = guest == "/"
        self.gparts = [c for c in guest.encode().split(b"/") if c] if guest.startswith("/") else None
        self.fd = os.open(host_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.refs = 1
        self._lock = threading.Lock()

    def hold(self):
        with self._lock:
            self.refs += 1

    def drop(self):
        """Let go of one reference; the last one closes the descriptor."""
        with self._lock:
            self.refs -= 1
            if self.refs:
                return
            fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def relative(self, path: bytes) -> bytes:
        """An absolute guest path as a path below this root, or NOTCAPABLE when it is elsewhere."""
        if self.slash:
            return path.lstrip(b"/") or b"."
        comps = [c for c in path.split(b"/") if c and c != b"."]
        g = self.gparts
        if g is None or comps[: len(g)] != g:
            raise WasiError(Errno.NOTCAPABLE, "outside the preopened directory")
        rest = b"/".join(comps[len(g) :])
        return rest + (b"/" if path.endswith(b"/") and rest else b"") or b"."

    def guest_path(self, parts) -> str:
        tail = b"/".join(parts).decode("utf-8", "surrogateescape")
        if not tail:
            return self.guest
        return (self.guest.rstrip("/") + "/" + tail) if self.guest != "." else tail

    def host_of(self, parts) -> str:
        return os.path.join(self.host_path, *(p.decode("utf-8", "surrogateescape") for p in parts))


def rewalk(root: Root, parts):
    """The directory at `parts` below the root, opened again from the root without following anything
    (when `..` climbs above the descriptor a walk started from); owned unless it is the root's."""
    fd = root.fd
    try:
        for c in parts:
            nfd = os.open(c, STEP, dir_fd=fd)
            if fd != root.fd:
                os.close(fd)
            fd = nfd
    except OSError as e:
        if fd != root.fd:
            os.close(fd)
        raise WasiError(Errno.NOENT if e.errno in (E.ELOOP, E.ENOTDIR) else from_os(e)) from None
    return fd


def walk(root: Root, start_fd: int, start_parts, path: bytes, op, device=None):
    """Resolve `path` from directory `start_fd` (guest components `start_parts` below `root`) and return
    `op(dirfd, name, parts)` for its final component (`name` may be `.`: the directory itself; `parts`
    are the guest components of `dirfd`).  `device(name)` answers `/dev/<name>` in a `/` preopen."""
    if not path:
        raise WasiError(Errno.NOENT)
    if len(path) > PATH_MAX:
        raise WasiError(Errno.NAMETOOLONG)
    if b"\0" in path:
        raise WasiError(Errno.INVAL)
    levels = [(start_fd, False)]  # (descriptor, owned) from where `parts` last re-based to here
    parts = list(start_parts)
    links = 0

    def drop_all():
        for fd, owned in levels:
            if owned:
                os.close(fd)
        levels.clear()

    try:
        if path.startswith(b"/"):
            path = root.relative(path)
            drop_all()
            levels.append((root.fd, False))
            parts = []
        todo = split(path)[::-1]
        while todo:
            comp = todo.pop()
            last = not todo
            top = levels[-1][0]
            if comp == b".":
                if last:
                    return op(top, comp, parts)
                continue
            if comp == b"..":
                if parts:
                    if len(levels) > 1:
                        fd, owned = levels.pop()
                        if owned:
                            os.close(fd)
                    else:  # above where the walk started: open the parent again from the root
                        drop_all()
                        fd = rewalk(root, parts[:-1])
                        levels.append((fd, fd != root.fd))
                    parts.pop()
                elif not root.slash:
                    raise WasiError(Errno.NOTCAPABLE, "'..' above the preopened directory")
                if last:
                    todo.append(b".")
                continue
            if (
                device is not None
                and root.slash
                and comp == b"dev"
                and not parts
                and len(todo) == 1
                and todo[0] in DEVICES
            ):
                return device(todo[0])
            if last:
                try:
                    return op(top, comp, parts)
                except FollowLink:
                    try:
                        target = os.readlink(comp, dir_fd=top)
                    except OSError as e:
                        if e.errno != E.EINVAL:
                            raise WasiError(from_os(e)) from None
                        target = comp  # no longer a link (a race): try it again
            else:
                try:
                    fd = os.open(comp, STEP, dir_fd=top)
                except OSError as e:
                    if e.errno not in (E.ENOTDIR, E.ELOOP):
                        raise WasiError(from_os(e)) from None
                    try:
                        target = os.readlink(comp, dir_fd=top)
                    except OSError as e2:
                        raise WasiError(Errno.NOTDIR if e2.errno == E.EINVAL else from_os(e2)) from None
                else:
                    levels.append((fd, True))
                    parts.append(comp)
                    continue
            links += 1
            if links > MAX_LINKS:
                raise WasiError(Errno.LOOP)
            if target.startswith(b"/"):
                target = root.relative(target)
                drop_all()
                levels.append((root.fd, False))
                parts = []
            todo.extend(split(target)[::-1])
        raise WasiError(Errno.NOENT)  # not reached: split() always leaves a final component
    finally:
        drop_all()
