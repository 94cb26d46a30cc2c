"""Clocks, randomness and yielding."""

import os
import time

from ...abi.errno import Errno
from ..registry import syscall

_CLOCKS = {0: time.time_ns, 1: time.monotonic_ns, 2: time.process_time_ns, 3: time.thread_time_ns}
_RES = {0: 1000, 1: 1, 2: 1000, 3: 1000}


@syscall("clock_res_get", "id:clockid resolution:ptr", outs="ns")
def clock_res_get(h, clock_id, out):
    res = _RES.get(clock_id)
    if res is None:
        return int(Errno.INVAL)
    h.mem.set_u64(out, res)
    return 0, (res,)


@syscall("clock_time_get", "id:clockid precision:ns time:ptr", outs="ns")
def clock_time_get(h, clock_id, precision, out):
    now = _CLOCKS.get(clock_id)
    if now is None:
        return int(Errno.INVAL)
    t = now()
    h.mem.set_u64(out, t)
    return 0, (t,)


@syscall("random_get", "buf:ptr len:len")
def random_get(h, buf, n):
    n &= 0xFFFFFFFF
    pos = h.mem.check(buf, n)
    end = pos + n
    while pos < end:  # in slices: a huge request must not double the memory,
        h.check_cancelled()  # and a kill need not wait for a whole GiB of randomness
        k = min(end - pos, 1 << 20)
        h.mem.write(pos, os.urandom(k))
        pos += k
    return 0


@syscall("sched_yield")
def sched_yield(h):
    h.check_cancelled()
    return 0
