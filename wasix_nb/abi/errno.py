"""WASI errno numbers (preview1 0..76 plus the WASIX additions) and the OS -> WASI mapping."""

import errno as _os
from enum import IntEnum


class Errno(IntEnum):
    SUCCESS = 0
    TOOBIG = 1  # E2BIG
    ACCES = 2
    ADDRINUSE = 3
    ADDRNOTAVAIL = 4
    AFNOSUPPORT = 5
    AGAIN = 6
    ALREADY = 7
    BADF = 8
    BADMSG = 9
    BUSY = 10
    CANCELED = 11
    CHILD = 12
    CONNABORTED = 13
    CONNREFUSED = 14
    CONNRESET = 15
    DEADLK = 16
    DESTADDRREQ = 17
    DOM = 18
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    HOSTUNREACH = 23
    IDRM = 24
    ILSEQ = 25
    INPROGRESS = 26
    INTR = 27
    INVAL = 28
    IO = 29
    ISCONN = 30
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    MLINK = 34
    MSGSIZE = 35
    MULTIHOP = 36
    NAMETOOLONG = 37
    NETDOWN = 38
    NETRESET = 39
    NETUNREACH = 40
    NFILE = 41
    NOBUFS = 42
    NODEV = 43
    NOENT = 44
    NOEXEC = 45
    NOLCK = 46
    NOLINK = 47
    NOMEM = 48
    NOMSG = 49
    NOPROTOOPT = 50
    NOSPC = 51
    NOSYS = 52
    NOTCONN = 53
    NOTDIR = 54
    NOTEMPTY = 55
    NOTRECOVERABLE = 56
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    NXIO = 60
    OVERFLOW = 61
    OWNERDEAD = 62
    PERM = 63
    PIPE = 64
    PROTO = 65
    PROTONOSUPPORT = 66
    PROTOTYPE = 67
    RANGE = 68
    ROFS = 69
    SPIPE = 70
    SRCH = 71
    STALE = 72
    TIMEDOUT = 73
    TXTBSY = 74
    XDEV = 75
    NOTCAPABLE = 76
    SHUTDOWN = 77
    MEMVIOLATION = 78
    UNKNOWN = 79


#: name of every errno value, indexed by number (fast path for formatting)
NAMES = {int(e): ("2BIG" if e is Errno.TOOBIG else e.name) for e in Errno}


def name(value: int) -> str:
    """'BADF' for 8; the number itself for values outside the table."""
    return NAMES.get(value, str(value))


def _build_os_map():
    table = {}
    for e in Errno:
        os_name = "E2BIG" if e is Errno.TOOBIG else "E" + e.name
        if e is Errno.CANCELED:
            os_name = "ECANCELED"
        num = getattr(_os, os_name, None)
        if num is not None and e not in (Errno.SUCCESS,):
            table.setdefault(num, int(e))
    # Linux aliases
    table[_os.EWOULDBLOCK] = int(Errno.AGAIN)
    if hasattr(_os, "EOPNOTSUPP"):
        table[_os.EOPNOTSUPP] = int(Errno.NOTSUP)
    if hasattr(_os, "ESHUTDOWN"):
        table[_os.ESHUTDOWN] = int(Errno.PIPE)
    return table


OS_TO_WASI = _build_os_map()


def from_os(os_errno) -> int:
    """Map an OS errno (or OSError) to its WASI number; unknown values become IO."""
    if isinstance(os_errno, OSError):
        os_errno = os_errno.errno
    if os_errno is None:
        return int(Errno.IO)
    return OS_TO_WASI.get(os_errno, int(Errno.IO))


class WasiError(Exception):
    """Raised inside a syscall to return `errno` to the program (the registry catches it)."""

    __slots__ = ("errno", "mark")

    def __init__(self, errno: int, mark: str = None):
        self.errno = int(errno)
        self.mark = mark  # a note for the trace event ("denied by policy: ...", "threads are not supported")
