"""The descriptor table: lowest-free numbering in O(log n), a limit, and a bounded history of closed
entries (the last HISTORY_LIMIT rows are kept, older ones only counted in `history_dropped`).

An entry is a descriptor number plus descriptor flags (cloexec) pointing at an *open file* (a socket, a
stdio stream, a pipe end) which dups share; the open file counts its references and releases its OS
resource when the last descriptor goes.
"""

import collections
import heapq
import os
import resource
import threading

from ..abi.errno import Errno, WasiError
from .registry import THREAD

_MFILE, _NFILE, _BADF = Errno.MFILE, Errno.NFILE, Errno.BADF

DEFAULT_LIMIT = 1024
HISTORY_LIMIT = 10_000  # closed-descriptor rows kept (~0.6 KiB each: ~6 MiB at most per process)
# One lock for every table and every open file's reference count.  After a fork two processes'
# tables hold the same file and the last close anywhere must release it exactly once, so counts need
# a lock common to the tables; making it *the* lock of every table (FdTable.lock) lets an open or a
# close take one lock, not two.  Critical sections are a few dict/heap operations (never an OS call,
# never a wait), so sharing one lock between tables costs no contention worth a second acquire.
# Not reentrant: code holding it never calls _ref/_unref/BUDGET.charge/credit (they take it), and
# no finalizer or signal handler of the package takes it (add and close allocate while holding it,
# which may run the garbage collector: a finalizer that opened or closed a descriptor would deadlock).
_REFS = threading.Lock()


class KernelBudget:
    """The OS descriptors held by the open files of every process this kernel (this Python process)
    runs, against one budget: half of the soft RLIMIT_NOFILE, so the other half stays for the kernel
    itself (Jupyter's sockets, IPython's history, the user's files).  A new open file past the budget is
    refused with NFILE (per process, `fd_limit` gives MFILE first).  An open file counts once however
    many descriptors (dups, forked tables) refer to it, as its class declares (`OpenFile.os_fds`: stdio
    and /dev/null hold none).  Each process's wake pipe
    (2) is counted but never refused.  Override with WASIX_NB_FD_BUDGET or `set_limit()`."""

    def __init__(self):
        self.used = 0
        self._limit = None

    @property
    def limit(self) -> int:
        if self._limit is None:
            env = os.environ.get("WASIX_NB_FD_BUDGET")
            if env:
                self._limit = int(env)
            else:
                soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                if soft == resource.RLIM_INFINITY or soft > 1 << 20:
                    soft = 1 << 20
                self._limit = max(soft // 2, 16)
        return self._limit

    def set_limit(self, n=None):
        """Set the budget (None: back to half of RLIMIT_NOFILE, read again)."""
        self._limit = n

    def room(self, n: int = 1) -> bool:
        limit = self._limit
        return self.used + n <= (self.limit if limit is None else limit)

    def charge(self, n: int):
        """Count n descriptors without refusing (the host's own wake pipe)."""
        with _REFS:
            self.used += n

    def credit(self, n: int):
        with _REFS:
            self.used -= n


BUDGET = KernelBudget()


def _ref_locked(file):
    """One more reference to `file` (the caller holds _REFS)."""
    if file.refs == 0 and file.os_fds:  # a new open file: its OS descriptors join the budget
        limit = BUDGET._limit
        if limit is None:
            limit = BUDGET.limit
        if BUDGET.used + file.os_fds > limit:
            raise WasiError(_NFILE, f"kernel descriptor budget ({limit}) reached")
        BUDGET.used += file.os_fds
    file.refs += 1


def _ref(file):
    with _REFS:
        _ref_locked(file)


def _unref(file) -> bool:
    """Drop one reference; True when it was the last."""
    with _REFS:
        file.refs -= 1
        if file.refs == 0:
            BUDGET.used -= file.os_fds
            return True
        return False


class OpenFile:
    """What a descriptor refers to. Subclasses fill in the fields shown in the fd table."""

    kind = "file"
    family = ""
    type = ""
    proto = 0
    filetype = 0  # abi.FileType
    state = "opened"
    local = ""
    peer = ""
    nonblock = False
    bytes_in = 0
    bytes_out = 0
    os_fds = 0  # OS descriptors this file holds (KernelBudget): 1 for sockets, pipes, files...
    _host = None  # set by FdTable.add: the Host of the table that first held it

    def __init__(self):
        self.refs = 0

    @property
    def host(self):
        """The Host whose cancellable waits a blocking call uses: the calling wasm thread's own (after
        a fork two processes hold this file, and a kill of one must wake only its own waits), else
        the Host of the table that first held it."""
        h = THREAD.host
        return h if h is not None else self._host

    @host.setter
    def host(self, h):
        self._host = h

    def fileno(self):
        """OS descriptor for poll_oneoff, or None when the file is always ready (stdio)."""
        return None

    def read(self, n: int) -> bytes:
        raise WasiError(Errno.BADF)

    def write(self, data: bytes) -> int:
        raise WasiError(Errno.BADF)

    def set_nonblock(self, on: bool):
        self.nonblock = on

    def release(self):
        """Called when the last descriptor referring to this file is closed."""
        self.state = "closed"


class FdEntry:
    __slots__ = ("fd", "file", "cloexec", "opened_seq", "closed_seq")

    def __init__(self, fd, file, cloexec, opened_seq):
        self.fd = fd
        self.file = file
        self.cloexec = cloexec
        self.opened_seq = opened_seq
        self.closed_seq = None

    def values(self, state=None) -> tuple:
        """The row's values in ROW_KEYS order (closed rows are kept as these: a tuple is a third of
        the work of a dict, and closing is on every server's per-connection path)."""
        f = self.file
        return (
            self.fd,
            f.kind,
            f.family,
            f.type,
            f.proto,
            state or f.state,
            f.local,
            f.peer,
            _FLAGS[(2 if self.cloexec else 0) | (1 if f.nonblock else 0)],
            f.bytes_in,
            f.bytes_out,
            self.opened_seq,
            self.closed_seq,
        )

    def row(self, state=None) -> dict:
        return dict(zip(ROW_KEYS, self.values(state)))


ROW_KEYS = (
    "fd",
    "kind",
    "family",
    "type",
    "proto",
    "state",
    "local",
    "peer",
    "flags",
    "bytes_in",
    "bytes_out",
    "opened_seq",
    "closed_seq",
)
_FLAGS = ("", "nonblock", "cloexec", "cloexec,nonblock")  # by cloexec << 1 | nonblock


class FdTable:
    """Descriptor numbers -> entries. New descriptors take the lowest number not open."""

    def __init__(self, limit: int = DEFAULT_LIMIT, seq=lambda: None, history_limit: int = HISTORY_LIMIT):
        self.limit = limit
        self.entries = {}
        self.history = collections.deque(maxlen=history_limit)  # rows of closed descriptors, oldest first
        self.history_dropped = 0  # closed rows that fell out of `history` (bounded memory)
        self._free = []  # heap of numbers below _next that may be free (lazy deletion)
        self._next = 0  # every number >= _next is free
        self._seq = seq  # gives the sequence number of the call being made
        self.version = 0  # bumped on every change, for views that poll
        self.lock = _REFS  # shared by every table (see _REFS)
        self.host = None  # the owning Host (given to every file added)

    def __len__(self):
        return len(self.entries)

    def __contains__(self, fd):
        return fd in self.entries

    def get(self, fd: int) -> FdEntry:
        try:
            return self.entries[fd]
        except KeyError:
            raise WasiError(Errno.BADF) from None

    def file(self, fd: int):
        try:
            return self.entries[fd].file
        except KeyError:
            raise WasiError(Errno.BADF) from None

    def check_room(self, n: int = 1):
        """MFILE unless n more descriptors fit in this table, NFILE unless n more OS descriptors fit in
        the kernel's budget (checked before creating anything; `add` checks again)."""
        if len(self.entries) + n > self.limit:
            raise WasiError(_MFILE)
        limit = BUDGET._limit  # BUDGET.room(n), inlined (every open and accept asks)
        if limit is None:
            limit = BUDGET.limit
        if BUDGET.used + n > limit:
            raise WasiError(_NFILE, f"kernel descriptor budget ({limit}) reached")

    def _lowest_free(self) -> int:
        free, entries = self._free, self.entries
        while free:
            n = heapq.heappop(free)
            if n not in entries:
                return n
        n = self._next
        self._next = n + 1
        return n

    def add(self, file: OpenFile, cloexec: bool = False) -> int:
        """Open a new descriptor for `file` at the lowest free number."""
        entries = self.entries
        with _REFS:  # == self.lock
            if len(entries) >= self.limit:
                raise WasiError(_MFILE)
            refs = file.refs  # _ref_locked, inlined (every open and accept)
            if refs == 0 and file.os_fds:  # a new open file: NFILE past the kernel's budget
                limit = BUDGET._limit
                if limit is None:
                    limit = BUDGET.limit
                if BUDGET.used + file.os_fds > limit:
                    raise WasiError(_NFILE, f"kernel descriptor budget ({limit}) reached")
                BUDGET.used += file.os_fds
            file.refs = refs + 1
            free = self._free
            while free:  # _lowest_free, inlined
                fd = heapq.heappop(free)
                if fd not in entries:
                    break
            else:
                fd = self._next
                self._next = fd + 1
            if file._host is None:
                file._host = self.host
            entries[fd] = FdEntry(fd, file, cloexec, self._seq())
            self.version += 1
            return fd

    def add_pair(self, a: OpenFile, b: OpenFile, cloexec: bool = False):
        """Open two descriptors (pipe ends, a socket pair) or neither; returns their numbers."""
        fd1 = None
        try:
            fd1 = self.add(a, cloexec)
            return fd1, self.add(b, cloexec)
        except BaseException:
            if fd1 is not None:
                self.close(fd1)
            else:
                a.release()
            b.release()
            raise

    def place(self, fd: int, file: OpenFile, cloexec: bool = False, new_ref: bool = True):
        """Open `file` at exactly `fd` (which must not be open): fd_renumber's target."""
        with self.lock:
            if new_ref:
                _ref_locked(file)  # first: a refusal (NFILE) leaves the numbering as it was
            if fd >= self._next:
                for n in range(self._next, fd):
                    heapq.heappush(self._free, n)
                self._next = fd + 1
            if file._host is None:
                file._host = self.host
            self.entries[fd] = FdEntry(fd, file, cloexec, self._seq())
            self.version += 1

    def close(self, fd: int, state: str = "closed") -> FdEntry:
        """Close `fd`; release its file when no other descriptor refers to it."""
        with _REFS:  # == self.lock
            entry = self.entries.pop(fd, None)
            if entry is None:
                raise WasiError(_BADF)
            entry.closed_seq = self._seq()
            heapq.heappush(self._free, fd)
            file = entry.file
            file.refs -= 1  # _unref, inlined (we hold its lock)
            last = file.refs == 0
            if last:
                BUDGET.used -= file.os_fds
            h = self.history  # _keep, inlined
            if len(h) == h.maxlen:
                self.history_dropped += 1
            h.append(entry.values(state))
            self.version += 1
        if last:
            file.release()
        return entry

    def _keep(self, row):
        h = self.history
        if len(h) == h.maxlen:
            self.history_dropped += 1
        h.append(row)

    def renumber(self, src: int, dst: int):
        """Move descriptor `src` to number `dst`, closing whatever `dst` was (like dup2 + close)."""
        entry = self.get(src)
        if dst == src:
            return
        if dst < 0 or dst >= self.limit:
            raise WasiError(Errno.BADF)
        if dst in self.entries:
            self.close(dst)
        with self.lock:
            del self.entries[src]
            heapq.heappush(self._free, src)
            entry.closed_seq = self._seq()
            self._keep(entry.values(f"renumbered to {dst}"))
        self.place(dst, entry.file, entry.cloexec, new_ref=False)  # the moved entry keeps its reference

    def close_all(self, state: str = "closed at exit"):
        """Close every descriptor (end of process); never raises."""
        for fd in sorted(self.entries):
            try:
                self.close(fd, state)
            except Exception:  # noqa: BLE001 - teardown must finish
                pass

    def inherit(self, parent: "FdTable"):
        """Become a copy of `parent` (fork): the same numbers and flags, referring to the same open
        files, which each count one more holder. What this table held before is let go silently."""
        with parent.lock:
            copied = [(fd, e.file, e.cloexec) for fd, e in parent.entries.items()]
        with self.lock:
            old, self.entries, self._free, self._next = self.entries, {}, [], 0
        for e in old.values():
            if _unref(e.file):
                e.file.release()
        for fd, file, cloexec in sorted(copied, key=lambda c: c[0]):
            self.place(fd, file, cloexec)

    def close_on_exec(self):
        """Close every descriptor flagged CLOEXEC (exec replaced the program)."""
        for fd in sorted(fd for fd, e in list(self.entries.items()) if e.cloexec):
            try:
                self.close(fd, "closed on exec")
            except Exception:  # noqa: BLE001 - closed meanwhile
                pass

    def rows(self) -> list:
        """Open descriptors as plain dicts, by number (a consistent copy for views)."""
        with self.lock:
            return [self.entries[fd].row() for fd in sorted(self.entries)]

    def history_rows(self) -> list:
        with self.lock:
            kept = list(self.history)
        return [dict(zip(ROW_KEYS, v)) for v in kept]
