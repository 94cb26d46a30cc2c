"""The process itself: exit, its id, its parent, its terminal."""
import struct

from ...abi.errno import Errno, WasiError
from ..host import ProcExit
from ..registry import WASIX, syscall

PID = 1                                     # every process is alone in its own world
_TTY = struct.Struct("<IIIIBBBBBB")         # cols, rows, width, height, stdin/stdout/stderr tty, echo,
                                            # line_buffered, line_feeds (22 bytes)


@syscall("proc_exit", "code:u32", result=None)
def proc_exit(h, code):
    raise ProcExit(code & 0xFFFFFFFF)


@syscall("proc_exit2", "code:u32", result=None, modules=(WASIX,))
def proc_exit2(h, code):
    raise ProcExit(code & 0xFFFFFFFF)


@syscall("proc_id", "ret_pid:ptr", outs="pid", modules=(WASIX,))
def proc_id(h, ret_pid):
    h.mem.set_u32(ret_pid, PID)
    return 0, (PID,)


@syscall("proc_parent", "pid:u32 ret_parent:ptr", outs="parent", modules=(WASIX,))
def proc_parent(h, pid, ret_parent):
    if pid != PID:
        return int(Errno.SRCH)
    h.mem.set_u32(ret_parent, 0)            # started by the host, not by another program
    return 0, (0,)


def _tty(h):
    # stdio is captured, never a terminal; a program may still change the settings it sees
    return getattr(h, "tty", (80, 24, 0, 0, 0, 0, 0, 0, 0, 1))


@syscall("tty_get", "state:ptr", modules=(WASIX,))
def tty_get(h, state):
    h.mem.pack(_TTY, state, *_tty(h))
    return 0


@syscall("tty_set", "state:ptr", modules=(WASIX,))
def tty_set(h, state):
    values = h.mem.unpack(_TTY, state)
    h.tty = values[:4] + (0, 0, 0) + values[7:]     # the stdio tty flags are not the program's to set
    return 0


@syscall("proc_fork", "copy_memory:bool ret_pid:ptr", outs="pid", modules=(WASIX,))
def proc_fork(h, copy_memory, ret_pid):
    h.mem.check(ret_pid, 4)
    raise WasiError(Errno.NOTSUP, "fork is not supported: one process per program")


@syscall("proc_join", "pid:ptr flags:u32 ret_status:ptr", modules=(WASIX,))
def proc_join(h, pid, flags, ret_status):
    h.mem.check(ret_status, 8)
    return int(Errno.CHILD)                 # a program here never has children


@syscall("clock_time_set", "id:clockid time:ns", modules=(WASIX,))
def clock_time_set(h, clock_id, t):
    return int(Errno.PERM)                  # the host's clock is not the program's to set
