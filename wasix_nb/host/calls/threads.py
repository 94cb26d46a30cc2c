"""Threads and futexes for a process that has exactly one thread (tid 1).

wasix-libc and Rust std lock their mutexes with `futex_*` even when no second thread exists, so these
must answer the way a lone thread would see them: a wait can only end by its timeout (or the value
already differing), a wake wakes nobody, and spawning a thread is refused (NOTSUP) with a trace note.
"""
import struct
import threading

from ...abi.errno import Errno, WasiError
from ..host import ProcExit
from ..registry import WASIX, syscall

MAIN_TID = 1
_OPTION_TS = struct.Struct("<B7xQ")     # option_timestamp: u8 tag @0 (0 none, 1 some), u64 ns @8


def sleep_ns(h, ns):
    """Cancellable sleep; None, or more than Python can wait for, means until the process is stopped."""
    secs = None if ns is None else ns / 1e9
    h.sleep(secs if secs is not None and secs < threading.TIMEOUT_MAX else None)


@syscall("futex_wait", "futex:ptr expected:u32 timeout:ptr ret_woken:ptr", outs="woken", modules=(WASIX,))
def futex_wait(h, futex, expected, timeout, ret_woken):
    mem = h.mem
    mem.check(ret_woken, 1)
    tag, ns = mem.unpack(_OPTION_TS, timeout)
    if mem.u32(futex) != expected & 0xFFFFFFFF:
        mem.set_u8(ret_woken, 1)            # the value moved on: return at once, as if woken
        return 0, (1,)
    # with no timeout nobody can ever wake us: block until the process is stopped (timeout, kill)
    sleep_ns(h, ns if tag == 1 else None)
    mem.set_u8(ret_woken, 0)
    return 0, (0,), "timed out: no other thread"


@syscall("futex_wake", "futex:ptr ret_woken:ptr", outs="woken", modules=(WASIX,))
def futex_wake(h, futex, ret_woken):
    h.mem.check(futex, 4)
    h.mem.set_u8(ret_woken, 0)              # nobody else is waiting
    return 0, (0,)


@syscall("futex_wake_all", "futex:ptr ret_woken:ptr", outs="woken", modules=(WASIX,))
def futex_wake_all(h, futex, ret_woken):
    return futex_wake(h, futex, ret_woken)


@syscall("thread_id", "ret_tid:ptr", outs="tid", modules=(WASIX,))
def thread_id(h, ret_tid):
    h.mem.set_u32(ret_tid, MAIN_TID)
    return 0, (MAIN_TID,)


@syscall("thread_parallelism", "ret:ptr", outs="n", modules=(WASIX,))
def thread_parallelism(h, ret):
    h.mem.set_u32(ret, 1)                   # one thread is all a program gets here
    return 0, (1,)


@syscall("thread_spawn_v2", "start:ptr ret_tid:ptr", modules=(WASIX,))
def thread_spawn_v2(h, start, ret_tid):
    h.mem.check(start, 4)
    raise WasiError(Errno.NOTSUP, "threads are not supported: single-threaded host")


@syscall("thread_join", "tid:u32", modules=(WASIX,))
def thread_join(h, tid):
    if tid == MAIN_TID:
        return int(Errno.DEADLK)            # joining yourself
    return int(Errno.SRCH)                  # no thread was ever spawned


@syscall("thread_sleep", "duration:ns", modules=(WASIX,))
def thread_sleep(h, duration):
    sleep_ns(h, duration & (2**64 - 1))
    return 0


@syscall("thread_exit", "code:u32", result=None, modules=(WASIX,))
def thread_exit(h, code):
    # the only thread ending ends the process
    raise ProcExit(code & 0xFFFFFFFF)
