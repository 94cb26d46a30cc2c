"""posix_spawn in one call (`proc_spawn`, `proc_spawn2`): a new process running a program from the
command map, as fork + exec would make it, without copying the caller's memory.

The child is a fresh Process (next pid, parent = the caller) linked against a Host that inherits the
caller's descriptor table, stdio, settings and working directory (`procs.inherit_host`, as for a fork).
Then, before it runs, in this order: its arguments and environment, the signal dispositions, the stdio
wiring (`proc_spawn`) or the file actions (`proc_spawn2`), and the exec rule: CLOEXEC descriptors close.
Any failure closes the child before it ran (its pid is used up, as a failed fork's is) and is the
caller's errno.  A started child is a process like a forked one: in the table, the trace (with its
pid), the views, `proc_join`, SIGCHLD to its parent, killed with the tree.
"""

import os
import posixpath

from .. import compile as _compile
from ..abi.errno import Errno, WasiError, from_os
from ..errors import WasixError
from . import procs as _procs

# proc_spawn's stdio modes (wasix-libc: __wasi_stdio_mode_t)
PIPED, INHERIT, NULL, LOG = 0, 1, 2, 3
# proc_spawn2's file actions (__wasi_proc_spawn_fd_op_name_t)
CLOSE, DUP2, OPEN, CHDIR, FCHDIR = 0, 1, 2, 3, 4
OP_NAMES = {CLOSE: "close", DUP2: "dup2", OPEN: "open", CHDIR: "chdir", FCHDIR: "fchdir"}
DISP_DEFAULT, DISP_IGNORE = 0, 1
CLOEXEC = 1  # fdflagsext


class FileAction:
    """One `__wasi_proc_spawn_fd_op_t`, decoded (the path read from the caller's memory)."""

    __slots__ = ("cmd", "fd", "src_fd", "path", "dirflags", "oflags", "base", "inheriting", "fdflags", "fdflagsext")

    def __init__(self, cmd, fd, src_fd, path, dirflags, oflags, base, inheriting, fdflags, fdflagsext):
        self.cmd, self.fd, self.src_fd, self.path = cmd, fd, src_fd, path
        self.dirflags, self.oflags, self.base, self.inheriting = dirflags, oflags, base, inheriting
        self.fdflags, self.fdflagsext = fdflags, fdflagsext

    def __repr__(self):
        name = OP_NAMES.get(self.cmd, self.cmd)
        if self.cmd == DUP2:
            return f"dup2({self.src_fd}, {self.fd})"
        if self.cmd in (OPEN, CHDIR):
            return f"{name}({self.path!r}{', fd ' + str(self.fd) if self.cmd == OPEN else ''})"
        return f"{name}({self.fd})"


def spawn(parent, name: str, argv, env=None, setup=None):
    """Start a child of `parent` running the program `name` (the command map's lookup, as exec's) with
    `argv` (and `env`: a list of b"K=V", None: the parent's); `setup(child_host)` wires its descriptors
    before it runs.  Returns the started child; raises WasiError: AGAIN (the process limit, the run is
    ending), NOENT (no such program), NOEXEC (not a program wasix_nb can run), or what `setup` raised."""
    from .process import Process

    table = _procs.table_of(parent)
    with table.cond:
        if table.ending:
            raise WasiError(Errno.AGAIN, "the run is ending")
        if table.live() >= table.limit:
            raise WasiError(Errno.AGAIN, f"process limit ({table.limit}) reached")
    target = _procs.resolve(getattr(parent.options, "commands", None), name)
    if target is None:
        raise WasiError(Errno.NOENT, f"{name}: no such program (map it with commands={{...}} / --map-command)")
    try:
        source = _compile.Source.load(target)
    except (OSError, WasixError, ValueError) as e:
        raise WasiError(Errno.NOEXEC, f"{name}: {_first_line(e)}") from None
    pid = table.reserve()  # the slot is held from here: concurrent spawns cannot pass the limit
    try:
        child = Process(source, parent.options, parent=parent, pid=pid)
    except Exception as e:  # noqa: BLE001 - not linkable here: the caller's errno, never a host error
        table.unreserve()
        raise WasiError(Errno.NOEXEC, f"{name}: {_first_line(e)}") from None
    except BaseException:
        table.unreserve()
        raise
    try:
        child.name = posixpath.basename(name) or name
        h = child.host
        h.args = [a if isinstance(a, bytes) else a.encode() for a in (argv or [name])]
        if env is not None:
            h.env = list(env)
        h.signal_dispositions = list(getattr(parent.host, "signal_dispositions", ()))  # exec keeps SIG_IGN
        if setup is not None:
            setup(h)
        h.fds.close_on_exec()  # posix_spawn is fork + exec
    except BaseException:
        child.close()
        table.unreserve()
        raise
    child.vfork_done = None
    with table.cond:
        table.pending -= 1
        if table.ending:
            child.close()
            raise WasiError(Errno.AGAIN, "the run is ending")
        table.procs[pid] = child
        table.history[pid] = child
        parent.children.append(pid)
    child.start()
    return child


def _first_line(e) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def set_dispositions(host, pairs):
    """The child's signal dispositions: [(sig, 0 default | 1 ignore)], later entries win (what
    `proc_signals_get` hands the child's libc, and what a signal from the host does to it)."""
    table = {sig: disp for sig, disp in getattr(host, "signal_dispositions", ())}
    for sig, disp in pairs:
        table[sig] = disp
    host.signal_dispositions = sorted((s, d) for s, d in table.items() if d == DISP_IGNORE)


# -- proc_spawn: stdio modes -------------------------------------------------------------------------
def wire_stdio(parent_host, child_host, modes, made):
    """Give the child's fd 0/1/2 what `modes` (PIPED/INHERIT/NULL/LOG each) ask; a piped stream's other
    end becomes a new descriptor of the parent, appended to `made` as (stream, fd)."""
    from ..host.fs.devices import Device
    from ..host.pipes import PipeEnd

    for fd, mode in enumerate(modes):
        if mode == INHERIT or (mode == LOG and fd):
            continue  # LOG: the run's own capture of stdout/stderr is the log
        if mode == PIPED:
            parent_host.fds.check_room()
            try:
                r, w = os.pipe()
            except OSError as e:
                raise WasiError(from_os(e)) from None
            mine, theirs = (PipeEnd(w, False), PipeEnd(r, True)) if fd == 0 else (PipeEnd(r, True), PipeEnd(w, False))
            try:
                pfd = parent_host.fds.add(mine)
            except BaseException:
                mine.release()
                theirs.release()
                raise
            made.append((fd, pfd))
            _put(child_host, fd, theirs)
            mine.peer = f"pid {child_host.pid} fd {fd}"
            theirs.peer = f"pid {parent_host.pid} fd {pfd}"
        else:  # NULL (and LOG for stdin): /dev/null
            _put(child_host, fd, Device("null"))


def _put(host, fd, file, cloexec=False):
    if fd in host.fds.entries:
        host.fds.close(fd, "replaced by spawn")
    try:
        host.fds.place(fd, file, cloexec)
    except BaseException:
        file.release()
        raise


# -- proc_spawn2: file actions ------------------------------------------------------------------------
def apply_actions(host, actions):
    """posix_spawn's file actions on the child's table, in order; the first failure is the errno."""
    from ..host.calls import fs as _fs

    fds = host.fds
    for a in actions:
        if a.cmd == CLOSE:
            if a.fd >= fds.limit:
                raise WasiError(Errno.BADF, f"close({a.fd}): beyond the descriptor limit")
            if a.fd in fds.entries:  # closing a descriptor that is not open is no error (Linux libcs)
                fds.close(a.fd, "closed by spawn")
        elif a.cmd == DUP2:
            src = fds.get(a.src_fd)  # BADF unless open
            if a.fd >= fds.limit:
                raise WasiError(Errno.BADF, f"dup2 to {a.fd}: beyond the descriptor limit")
            if a.fd == a.src_fd:
                src.cloexec = False  # POSIX: dup2 onto itself clears FD_CLOEXEC in the child
                continue
            _put(host, a.fd, src.file)
        elif a.cmd == OPEN:
            if a.fd >= fds.limit:
                raise WasiError(Errno.BADF, f"open to {a.fd}: beyond the descriptor limit")
            f = _open(host, a, _fs)
            _put(host, a.fd, f, cloexec=bool(a.fdflagsext & CLOEXEC))
        elif a.cmd == CHDIR:
            err = _fs.change_dir(host, a.path.decode("utf-8", "replace"))
            if err:
                raise WasiError(err, f"chdir {a.path!r}")
        elif a.cmd == FCHDIR:
            d = fds.file(a.fd)
            if d.__class__ is not _fs.Dir:
                raise WasiError(Errno.NOTDIR, f"fchdir({a.fd})")
            host.cwd = d.root.guest_path(d.parts)
        else:
            raise WasiError(Errno.INVAL, f"unknown file action {a.cmd}")


def _open(host, a, _fs):
    name = a.path.decode("utf-8", "surrogateescape")
    target = posixpath.normpath(posixpath.join(host.cwd, name)) if name else ""
    if not target:
        raise WasiError(Errno.NOENT)
    d = _fs.preopen_for(host, target)
    if d is None:
        raise WasiError(Errno.NOENT, f"{target}: not below a preopened directory")
    got = _fs.open_path(
        host, d, target.encode("utf-8", "surrogateescape"), a.dirflags, a.oflags, a.base, a.inheriting, a.fdflags
    )
    if isinstance(got, tuple):
        raise WasiError(got[0], got[2] if len(got) > 2 else None)
    if isinstance(got, int):
        raise WasiError(got)
    return got
