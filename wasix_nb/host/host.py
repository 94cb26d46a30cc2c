"""The host state of one process: memory, descriptors, trace, stdio and cancellation."""
import os
import select
import threading

from ..abi.types import FileType
from ..trace import Trace
from .fdtable import DEFAULT_LIMIT, FdTable, OpenFile
from .registry import Control


class Cancelled(Control):
    """A blocking host call was woken because the process is being stopped (kill, timeout, interrupt)."""


class ProcExit(Control):
    """`proc_exit(code)`."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Stdio(OpenFile):
    filetype = int(FileType.CHARACTER_DEVICE)

    def __init__(self, name, host):
        super().__init__()
        self.kind = name
        self.state = "open"
        self._host = host

    def read(self, n: int) -> bytes:
        if self.kind != "stdin":
            from ..abi.errno import Errno, WasiError
            raise WasiError(Errno.BADF)
        data = self._host.read_stdin(n)
        self.bytes_in += len(data)
        return data

    def write(self, data: bytes) -> int:
        if self.kind == "stdin":
            from ..abi.errno import Errno, WasiError
            raise WasiError(Errno.BADF)
        self._host.write_stdio(self.kind, data)
        self.bytes_out += len(data)
        return len(data)


class Host:
    """Everything the syscalls act on. One per process; never shared between processes."""

    def __init__(self, args=(), env=None, stdin=None, stdout=None, stderr=None, fd_limit=DEFAULT_LIMIT,
                 policy=None, scratch_dir=None):
        self.trace = Trace()
        events = self.trace.events
        self.fds = FdTable(fd_limit, seq=events.__len__)
        self.mem = None                     # GuestMemory, set once the instance exists
        self.args = [a.encode() if isinstance(a, str) else bytes(a) for a in args]
        self.env = [(f"{k}={v}").encode() for k, v in (env or {}).items()]
        self._stdin = _stdin_source(stdin)
        self._sinks = {"stdout": stdout or (lambda b: None), "stderr": stderr or (lambda b: None)}
        self.policy = policy
        self.scratch_dir = scratch_dir
        self.host_errors = []               # (syscall name, args, traceback) of host bugs seen
        self.cancelled = threading.Event()
        self.cancel_reason = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        for name in ("stdin", "stdout", "stderr"):
            self.fds.add(Stdio(name, self))

    # -- stdio ------------------------------------------------------------------------------
    def write_stdio(self, name, data):
        self._sinks[name](data)

    def read_stdin(self, n):
        return self._stdin(n)

    # -- errors and cancellation --------------------------------------------------------------
    def on_host_error(self, call, args, tb):
        self.host_errors.append((call.name, args, tb))

    def cancel(self, reason="killed"):
        """Wake every blocking call of this process; they raise Cancelled. Thread-safe."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.cancelled.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def check_cancelled(self):
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason)

    def wait_fd(self, fileno: int, write: bool = False, timeout=None) -> bool:
        """Block until `fileno` is ready (True) or `timeout` seconds pass (False); cancellable."""
        self.check_cancelled()
        r, w = ([self._wake_r, fileno], []) if not write else ([self._wake_r], [fileno])
        rr, ww, _ = select.select(r, w, [], timeout)
        self.check_cancelled()
        return bool(rr or ww)

    def sleep(self, seconds: float):
        """Cancellable sleep (poll_oneoff clock subscriptions)."""
        if self.cancelled.wait(seconds):
            raise Cancelled(self.cancel_reason)

    @property
    def wake_fd(self) -> int:
        return self._wake_r

    def close(self):
        """Close every descriptor (and so every OS socket) and the wake pipe. Idempotent."""
        self.fds.close_all()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1


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
