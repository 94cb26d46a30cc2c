"""The host state of one process: memory, descriptors, trace, stdio and cancellation."""

import os
import posixpath
import select
import shutil
import stat
import tempfile
import threading
import time

from ..abi.errno import Errno, WasiError, from_os
from ..abi.memory import RW_MAX
from ..abi.types import FileType, Rights
from ..trace import Trace
from .fdtable import BUDGET, DEFAULT_LIMIT, FdTable, OpenFile
from .policy import Policy
from .registry import Control

_POLLIN, _POLLOUT = select.POLLIN, select.POLLOUT
_POLL_MAX_MS = 2**31 - 1  # poll() takes an int: longer waits go in slices (~24.8 days each)


class Cancelled(Control):
    """A blocking host call was woken because the process is being stopped (kill, timeout, interrupt)."""


class ProcExit(Control):
    """`proc_exit(code)`."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


_R = Rights
_STDIO_RIGHTS = int(
    _R.FD_DATASYNC | _R.FD_SYNC | _R.FD_ADVISE | _R.FD_FILESTAT_GET | _R.FD_FDSTAT_SET_FLAGS | _R.POLL_FD_READWRITE
)
_STDIN_RIGHTS, _STDOUT_RIGHTS = _STDIO_RIGHTS | int(_R.FD_READ), _STDIO_RIGHTS | int(_R.FD_WRITE)


class Stdio(OpenFile):
    filetype = int(FileType.CHARACTER_DEVICE)

    def __init__(self, name, host):
        super().__init__()
        self.kind = name
        self.state = "open"
        # Wasmer's stdio rights: no SEEK/TELL, so wasi-libc's isatty() is true and stdout line-buffered
        self.rights = self.inheriting = _STDIN_RIGHTS if name == "stdin" else _STDOUT_RIGHTS
        self._host = host

    def read(self, n: int) -> bytes:
        if self.kind != "stdin":
            raise WasiError(Errno.BADF)
        data = self._host.read_stdin(n, self.nonblock, self.host)  # waits on the caller's own host
        self.bytes_in += len(data)
        return data

    def fileno(self):
        """The real stdin when it can block (a pipe, a terminal), so poll_oneoff waits on it; else None
        (always ready)."""
        return self._host.stdin_fd if self.kind == "stdin" else None

    def write(self, data: bytes) -> int:
        kind = self.kind
        if kind == "stdin":
            raise WasiError(Errno.BADF)
        self._host._sinks[kind](data)  # write_stdio, inlined (a server's per-connection log line)
        self.bytes_out += len(data)
        return len(data)


class Host:
    """Everything the syscalls act on. One per process; never shared between processes."""

    host_errors_more = 0  # host errors past the first registry.HOST_ERRORS_KEPT (only counted)

    def __init__(
        self,
        args=(),
        env=None,
        stdin=None,
        stdout=None,
        stderr=None,
        fd_limit=DEFAULT_LIMIT,
        policy=None,
        scratch_dir=None,
        trace_limit=None,
        dirs=None,
    ):
        self.pid = 1  # the process id the trace records (procs numbers them)
        self.trace = Trace() if trace_limit is None else Trace(trace_limit)
        events = self.trace.events
        self.fds = FdTable(fd_limit, seq=events.__len__)
        self.fds.host = self  # open files find their host (to wait cancellably)
        self.mem = None  # GuestMemory, set once the instance exists
        self.args = [a.encode() if isinstance(a, str) else bytes(a) for a in args]
        self.env = [(f"{k}={v}").encode() for k, v in (env or {}).items()]
        self._stdin = _stdin_source(stdin)
        self.stdin_fd = _blocking_fd(stdin)  # the real descriptor behind stdin when it can block, else None
        self._sinks = {"stdout": stdout or (lambda b: None), "stderr": stderr or (lambda b: None)}
        self.policy = Policy(policy)  # a copy: names it resolves add addresses to this process only
        self.scratch_dir = scratch_dir  # where LOCAL socket paths live; a temp dir made on first use
        self._own_scratch = False
        self.host_errors = []  # (syscall name, args, traceback) of host bugs seen
        self.cancelled = threading.Event()
        self.cancel_reason = None
        self.process = None  # the runtime's Process (signals: its threads' wake pipes)
        self._wake_r, self._wake_w = os.pipe()
        BUDGET.charge(2)  # counted in the kernel's descriptor budget, never refused
        self._pollers = {}
        self._waiting = set()  # Events of calls in wait_event (cancel sets them)
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        for name in ("stdin", "stdout", "stderr"):
            self.fds.add(Stdio(name, self))
        self.cwd = "/"  # the working directory (WASIX chdir/getcwd), a guest path
        self.preopens = []
        if dirs:  # preopened directories take fds 3, 4, ... (host/fs)
            from . import fs

            try:
                self.preopens = fs.install(self, dirs)
            except BaseException:
                self.close()
                raise

    # -- stdio ------------------------------------------------------------------------------
    def write_stdio(self, name, data):
        self._sinks[name](data)

    def read_stdin(self, n, nonblock=False, waiter=None):
        """Up to n bytes of stdin. A real stdin that can block (the CLI's pipe or terminal) is waited on
        cancellably (timeout, SIGINT, kill end the wait) and read only when ready: AGAIN if NONBLOCK."""
        fd = self.stdin_fd
        if fd is None:
            return self._stdin(n)
        waiter = waiter or self  # a forked child's read must wake when the child is killed
        while True:
            if not waiter.wait_fd(fd, False, 0 if nonblock else None):
                raise WasiError(Errno.AGAIN)
            try:
                return os.read(fd, min(n, RW_MAX))
            except BlockingIOError:  # someone else took the data (or the fd is O_NONBLOCK)
                if nonblock:
                    raise WasiError(Errno.AGAIN) from None
            except OSError as e:
                raise WasiError(from_os(e)) from None

    # -- errors and cancellation --------------------------------------------------------------
    def on_host_error(self, call, args, tb):
        self.host_errors.append((call.name, args, tb))

    def cancel(self, reason="killed"):
        """Wake every blocking call of this process; they raise Cancelled. Thread-safe."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.cancelled.set()
        for ev in list(self._waiting):
            ev.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def check_cancelled(self):
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason)

    def wait_fd(self, fileno: int, write: bool = False, timeout=None) -> bool:
        """Block until `fileno` is ready (True) or `timeout` seconds pass (False); cancellable.
        poll, not select: OS descriptor numbers may exceed FD_SETSIZE when many processes run."""
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason)
        proc = self.process
        sfd = -1 if proc is None else proc.signal_fd()  # -1 unless the program has a signal handler
        key = (fileno, write, sfd)
        p = self._pollers.get(key)
        if p is None:  # one poll object per (descriptor number, direction), reused: hot path
            p = self._pollers[key] = self._poller(fileno, write, sfd)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        if ms is not None and ms > _POLL_MAX_MS:
            return self._wait_long(fileno, write, timeout)
        while True:
            try:
                ready = p.poll(ms)
            except RuntimeError:  # another thread of the program waits on this descriptor: a poll of our own
                p = self._poller(fileno, write, sfd)
                ready = p.poll(ms)
            if self.cancelled.is_set():
                raise Cancelled(self.cancel_reason)
            if sfd != -1 and any(fd == sfd for fd, _ in ready):
                self.signalled(proc)  # INTR once the handler ran; a stale wake waits on
                continue
            return bool(ready)

    def _poller(self, fileno, write, sfd):
        p = select.poll()
        p.register(self._wake_r, _POLLIN)
        p.register(fileno, _POLLOUT if write else _POLLIN)
        if sfd != -1:
            p.register(sfd, _POLLIN)
        return p

    @staticmethod
    def signalled(proc):
        """A blocking wait woke on the calling thread's signal wake pipe (runtime/signals.py): run its
        handlers, then fail the call with INTR as POSIX does; nothing pending (stale): return."""
        if proc.take_signals():
            raise WasiError(Errno.INTR, "interrupted by a signal (its handler ran)")

    def wait_event(self, ev: threading.Event, timeout=None) -> bool:
        """Wait until another thread sets `ev` (True) or `timeout` seconds pass (False); cancellable,
        for host work done off the program's thread (a name lookup)."""
        self._waiting.add(ev)
        try:
            if self.cancelled.is_set():
                raise Cancelled(self.cancel_reason)
            done = ev.wait(None if timeout is None or timeout >= threading.TIMEOUT_MAX else timeout)
        finally:
            self._waiting.discard(ev)
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason)
        return done

    def _wait_long(self, fileno, write, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            if self.wait_fd(fileno, write, min(left, _POLL_MAX_MS / 1000)):
                return True

    def sleep(self, seconds: float):
        """Cancellable sleep (poll_oneoff clock subscriptions); None or longer than Python can wait for
        means until the process is stopped."""
        if seconds is not None and seconds >= threading.TIMEOUT_MAX:
            seconds = None
        if self.cancelled.wait(seconds):
            raise Cancelled(self.cancel_reason)

    @property
    def wake_fd(self) -> int:
        return self._wake_r

    # -- LOCAL socket paths ------------------------------------------------------------------------
    def local_path(self, guest_path) -> bytes:
        """Host path (bytes: a program's path need not be UTF-8) of a LOCAL socket path, confined to
        this process's scratch directory: the program sees that directory as `/`, so `..` cannot
        leave it. Creates nothing but the scratch directory itself."""
        if self.scratch_dir is None:
            self.scratch_dir = tempfile.mkdtemp(prefix="wx")  # short: sun_path holds 107 bytes
            self._own_scratch = True
        if isinstance(guest_path, str):
            guest_path = guest_path.encode("utf-8", "surrogateescape")
        rel = posixpath.normpath(b"/" + guest_path).lstrip(b"/")
        return os.path.join(os.fsencode(self.scratch_dir), rel)

    def make_parents(self, path: bytes) -> list:
        """Create the missing directories above `path` (inside the scratch directory), so a program
        can bind `/tmp/x.sock` with no file system; returns what it made, for `remove_dirs` when the
        bind then fails. On error nothing is left behind."""
        missing = []
        d = os.path.dirname(path)
        while not os.path.lexists(d):
            missing.append(d)
            d = os.path.dirname(d)
        made = []
        try:
            for d in reversed(missing):
                os.mkdir(d)
                made.append(d)
        except OSError:
            self.remove_dirs(made)
            raise
        return made

    @staticmethod
    def remove_dirs(made):
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass

    def guest_path(self, host_path) -> str:
        """Inverse of local_path (for addresses the OS reports)."""
        if isinstance(host_path, bytes):
            host_path = host_path.decode("utf-8", "surrogateescape")
        root = self.scratch_dir
        if root and host_path.startswith(root + "/"):
            return host_path[len(root) :]
        return host_path

    def close(self):
        """Close every descriptor (and so every OS socket), the wake pipe and the scratch directory.
        Idempotent."""
        self.fds.close_all()
        for root in self.preopens:  # the host's reference; files still open elsewhere keep theirs
            root.drop()
        self.preopens = []
        self._pollers.clear()
        if self._own_scratch:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
            self._own_scratch = False
        # forget the numbers first: a late cancel() from another thread must not write to a reused fd
        fds, (self._wake_r, self._wake_w) = (self._wake_r, self._wake_w), (-1, -1)
        if fds[0] != -1:
            BUDGET.credit(2)
        for fd in fds:
            if fd != -1:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _blocking_fd(stdin):
    """The OS descriptor of a stdin that can block (pipe, terminal, socket, character device); None for
    bytes, callables and regular files (those never block, and keep their own buffering)."""
    if stdin is None or isinstance(stdin, (bytes, bytearray, memoryview, str)) or not hasattr(stdin, "read"):
        return None
    try:
        fd = getattr(stdin, "buffer", stdin).fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) else None


def _stdin_source(stdin):
    """A function n -> bytes from None (EOF), bytes/str, a binary file, or a callable."""
    if stdin is None:
        return lambda n: b""
    if callable(stdin) and not hasattr(stdin, "read"):
        return stdin
    if isinstance(stdin, str):
        stdin = stdin.encode()
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        import io

        stdin = io.BytesIO(bytes(stdin))
    reader = getattr(stdin, "buffer", stdin)
    read = getattr(reader, "read1", None) or reader.read
    return lambda n: read(n) or b""
