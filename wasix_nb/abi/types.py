"""WASI/WASIX enums and flag bits, as numbers the program sends (see shared/wasix-abi.md, section 3)."""

from enum import IntEnum, IntFlag


class AddressFamily(IntEnum):
    UNSPEC = 0
    INET = 1
    INET6 = 2
    LOCAL = 3


class SockType(IntEnum):
    UNKNOWN = 0
    STREAM = 1
    DGRAM = 2
    RAW = 3
    SEQPACKET = 4


SOCK_CLOEXEC = 0x2000
SOCK_NONBLOCK = 0x4000
SOCK_TYPE_FLAGS = SOCK_CLOEXEC | SOCK_NONBLOCK


class SockProto(IntEnum):
    DEFAULT = 0
    ICMP = 1
    TCP = 6
    UDP = 17
    IPV6 = 41
    ICMPV6 = 58
    RAW = 255


class SockOption(IntEnum):
    NOOP = 0
    REUSE_PORT = 1
    REUSE_ADDR = 2
    NO_DELAY = 3
    DONT_ROUTE = 4
    ONLY_V6 = 5
    BROADCAST = 6
    MULTICAST_LOOP_V4 = 7
    MULTICAST_LOOP_V6 = 8
    PROMISCUOUS = 9
    LISTENING = 10
    LAST_ERROR = 11
    KEEP_ALIVE = 12
    LINGER = 13
    OOB_INLINE = 14
    RECV_BUF_SIZE = 15
    SEND_BUF_SIZE = 16
    RECV_LOWAT = 17
    SEND_LOWAT = 18
    RECV_TIMEOUT = 19
    SEND_TIMEOUT = 20
    CONNECT_TIMEOUT = 21
    ACCEPT_TIMEOUT = 22
    TTL = 23
    MULTICAST_TTL_V4 = 24
    TYPE = 25
    PROTO = 26


class SockStatus(IntEnum):
    OPENING = 0
    OPENED = 1
    CLOSED = 2
    FAILED = 3


class FdFlags(IntFlag):
    APPEND = 1
    DSYNC = 2
    NONBLOCK = 4
    RSYNC = 8
    SYNC = 16


class FdFlagsExt(IntFlag):
    CLOEXEC = 1


class RiFlags(IntFlag):
    PEEK = 1
    WAITALL = 2
    DONT_WAIT = 8


class SiFlags(IntFlag):
    DONT_WAIT = 1


class RoFlags(IntFlag):
    DATA_TRUNCATED = 1


class SdFlags(IntEnum):
    RD = 1
    WR = 2
    RDWR = 3


class FileType(IntEnum):
    UNKNOWN = 0
    BLOCK_DEVICE = 1
    CHARACTER_DEVICE = 2
    DIRECTORY = 3
    REGULAR_FILE = 4
    SOCKET_DGRAM = 5
    SOCKET_STREAM = 6
    SYMBOLIC_LINK = 7
    SOCKET_RAW = 8
    SOCKET_SEQPACKET = 9


class ClockId(IntEnum):
    REALTIME = 0
    MONOTONIC = 1
    PROCESS_CPUTIME_ID = 2
    THREAD_CPUTIME_ID = 3


class Whence(IntEnum):
    SET = 0
    CUR = 1
    END = 2


class EventType(IntEnum):
    CLOCK = 0
    FD_READ = 1
    FD_WRITE = 2


class Rights(IntFlag):
    FD_DATASYNC = 1 << 0
    FD_READ = 1 << 1
    FD_SEEK = 1 << 2
    FD_FDSTAT_SET_FLAGS = 1 << 3
    FD_SYNC = 1 << 4
    FD_TELL = 1 << 5
    FD_WRITE = 1 << 6
    FD_ADVISE = 1 << 7
    FD_ALLOCATE = 1 << 8
    PATH_CREATE_DIRECTORY = 1 << 9
    PATH_CREATE_FILE = 1 << 10
    PATH_LINK_SOURCE = 1 << 11
    PATH_LINK_TARGET = 1 << 12
    PATH_OPEN = 1 << 13
    FD_READDIR = 1 << 14
    PATH_READLINK = 1 << 15
    PATH_RENAME_SOURCE = 1 << 16
    PATH_RENAME_TARGET = 1 << 17
    PATH_FILESTAT_GET = 1 << 18
    PATH_FILESTAT_SET_SIZE = 1 << 19
    PATH_FILESTAT_SET_TIMES = 1 << 20
    FD_FILESTAT_GET = 1 << 21
    FD_FILESTAT_SET_SIZE = 1 << 22
    FD_FILESTAT_SET_TIMES = 1 << 23
    PATH_SYMLINK = 1 << 24
    PATH_REMOVE_DIRECTORY = 1 << 25
    PATH_UNLINK_FILE = 1 << 26
    POLL_FD_READWRITE = 1 << 27
    SOCK_SHUTDOWN = 1 << 28
    SOCK_ACCEPT = 1 << 29


class OFlags(IntFlag):
    CREAT = 1
    DIRECTORY = 2
    EXCL = 4
    TRUNC = 8


class LookupFlags(IntFlag):
    SYMLINK_FOLLOW = 1


class FstFlags(IntFlag):
    ATIM = 1
    ATIM_NOW = 2
    MTIM = 4
    MTIM_NOW = 8


class Advice(IntEnum):
    NORMAL = 0
    SEQUENTIAL = 1
    RANDOM = 2
    WILLNEED = 3
    DONTNEED = 4
    NOREUSE = 5


class Whence0(IntEnum):
    """Snapshot 0 (`wasi_unstable`) numbers whence differently from preview1."""

    CUR = 0
    END = 1
    SET = 2


#: all rights bits set (fdstat.rights_base / rights_inheriting for sockets and stdio)
ALL_RIGHTS = (1 << 30) - 1


def enum_name(enum, value) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def flags_name(enum, value) -> str:
    """'PEEK|DONT_WAIT', '0', or leftover bits in hex: 'PEEK|0x40'."""
    if not value:
        return "0"
    parts, rest = [], value
    for member in enum:
        if value & member.value:
            parts.append(member.name)
            rest &= ~member.value
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def rights_name(value: int) -> str:
    """'ALL', or the rights set, for path_open and fd_fdstat_set_rights."""
    value &= (1 << 64) - 1
    if value & ALL_RIGHTS == ALL_RIGHTS:
        return "ALL"
    missing = ALL_RIGHTS & ~value
    if bin(missing).count("1") < 10:  # mostly set (what libc sends): name the few left out
        return f"ALL&~({flags_name(Rights, missing)})"
    return flags_name(Rights, value)


def socktype_name(value: int) -> str:
    """'STREAM|CLOEXEC' for 0x2001."""
    base = value & ~SOCK_TYPE_FLAGS & 0xFFFFFFFF
    parts = [enum_name(SockType, base) if base < 0x100 else hex(base)]
    if value & SOCK_CLOEXEC:
        parts.append("CLOEXEC")
    if value & SOCK_NONBLOCK:
        parts.append("NONBLOCK")
    return "|".join(parts)
