"""Threads and futexes: each wasm thread is its own Store + instance over the process's shared memory,
running in its own Python thread (wasmtime releases the GIL while wasm runs, so they run in parallel).

The process (`h.process`, wasix_nb.runtime.process) owns the thread table and the endings; these calls
only decode arguments and ask it.  Futex queues (host/futex.py) are shared by all threads of the process.
Every blocking call here is cancellable (the process ending, a signal for the thread).
"""

import os
import struct
import threading

from ...abi.errno import Errno, WasiError
from ..host import Cancelled
from ..registry import THREAD, WASIX, Control, syscall

MAIN_TID = 1
_OPTION_TS = struct.Struct("<B7xQ")  # option_timestamp: u8 tag @0 (0 none, 1 some), u64 ns @8
MASK64 = (1 << 64) - 1


class ThreadExit(Control):
    """`thread_exit`: ends the calling thread only (the process ends when its last thread has)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def sleep_ns(h, ns):
    """Cancellable sleep; None, or more than Python can wait for, means until the process is stopped.
    A signal for the sleeping thread ends it early (its handler then runs)."""
    secs = None if ns is None else ns / 1e9
    secs = secs if secs is not None and secs < threading.TIMEOUT_MAX else None
    proc = getattr(h, "process", None)
    if proc is None:
        h.sleep(secs)
        return
    proc.sleep(secs)


def _process(h):
    proc = getattr(h, "process", None)
    if proc is None:
        raise WasiError(Errno.NOTSUP, "no process runs this host")
    return proc


@syscall("futex_wait", "futex:ptr expected:u32 timeout:ptr ret_woken:ptr", outs="woken", modules=(WASIX,))
def futex_wait(h, futex, expected, timeout, ret_woken):
    mem = h.mem
    mem.check(ret_woken, 1)
    mem.check(futex, 4)
    if futex & 3:
        raise WasiError(Errno.INVAL)
    tag, ns = mem.unpack(_OPTION_TS, timeout)
    secs = (ns & MASK64) / 1e9 if tag == 1 else None
    if secs is not None and secs >= threading.TIMEOUT_MAX:
        secs = None
    why = h.futexes.wait(mem, futex, expected & 0xFFFFFFFF, secs, THREAD.tid)
    if why == "cancelled":
        raise Cancelled(h.cancel_reason)
    if why == "interrupted":
        _process(h).run_signals()
    woken = 0 if why == "timeout" else 1
    mem.set_u8(ret_woken, woken)
    note = {"differs": "value differs", "timeout": "timed out", "interrupted": "interrupted by a signal"}.get(why)
    return (0, (woken,), note) if note else (0, (woken,))


@syscall("futex_wake", "futex:ptr ret_woken:ptr", outs="woken", modules=(WASIX,))
def futex_wake(h, futex, ret_woken):
    h.mem.check(futex, 4)
    h.mem.check(ret_woken, 1)
    n = h.futexes.wake(futex, 1)
    h.mem.set_u8(ret_woken, 1 if n else 0)
    return 0, (n,)


@syscall("futex_wake_all", "futex:ptr ret_woken:ptr", outs="woken", modules=(WASIX,))
def futex_wake_all(h, futex, ret_woken):
    h.mem.check(futex, 4)
    h.mem.check(ret_woken, 1)
    n = h.futexes.wake(futex, 1 << 30)
    h.mem.set_u8(ret_woken, 1 if n else 0)
    return 0, (n,)


@syscall("thread_id", "ret_tid:ptr", outs="tid", modules=(WASIX,))
def thread_id(h, ret_tid):
    tid = THREAD.tid
    h.mem.set_u32(ret_tid, tid)
    return 0, (tid,)


@syscall("thread_parallelism", "ret:ptr", outs="n", modules=(WASIX,))
def thread_parallelism(h, ret):
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    h.mem.set_u32(ret, n)
    return 0, (n,)


@syscall("thread_spawn_v2", "start:ptr ret_tid:ptr", outs="tid", modules=(WASIX,))
def thread_spawn_v2(h, start, ret_tid):
    h.mem.check(ret_tid, 4)
    tid = _process(h).spawn(start & 0xFFFFFFFF, "thread_spawn")
    h.mem.set_u32(ret_tid, tid)
    return 0, (tid,)


@syscall("thread_spawn", "start:ptr ret_tid:ptr", outs="tid", modules=(WASIX,))
def thread_spawn(h, start, ret_tid):
    """The v2 call under its plain name (the 5-argument thread_spawn is the old ABI: refused at link)."""
    return thread_spawn_v2(h, start, ret_tid)


class _Spawned(threading.local):
    tid = 0


_SPAWNED = _Spawned()


@syscall("thread-spawn", "start_arg:ptr", outs="tid", modules=("wasi",))
def wasi_thread_spawn(h, start_arg):
    """wasi-threads answers the new tid (> 0) or a negative errno: the trace shows errno and tid as
    for thread_spawn, and `wasm_result` turns them into that one number (runtime/link.py applies it)."""
    tid = _process(h).spawn(start_arg & 0xFFFFFFFF, "thread-spawn")
    _SPAWNED.tid = tid
    return 0, (tid,)


wasi_thread_spawn.wasm_result = lambda err: _SPAWNED.tid if err == 0 else -err


@syscall("thread_join", "tid:u32", modules=(WASIX,))
def thread_join(h, tid):
    tid &= 0xFFFFFFFF
    if tid == THREAD.tid:
        return int(Errno.DEADLK)  # joining yourself
    _process(h).join_thread(tid)  # an unknown or ended thread: at once (as Wasmer)
    return 0


@syscall("thread_sleep", "duration:ns", modules=(WASIX,))
def thread_sleep(h, duration):
    sleep_ns(h, duration & MASK64)
    return 0


@syscall("thread_exit", "code:u32", result=None, modules=(WASIX,))
def thread_exit(h, code):
    raise ThreadExit(code & 0xFFFFFFFF)
