"""Signals: `callback_signal` names the program's handler export; `thread_signal`, `proc_raise`,
`proc_signal` and `proc_raise_interval` deliver signals to it for real (runtime/signals.py has the rules:
the handler runs on the target thread at its next safe point; without a handler, POSIX defaults).
"""

import threading

from ...abi.errno import Errno, WasiError
from ..registry import THREAD, WASIX, syscall

MASK64 = (1 << 64) - 1


def _process(h):
    proc = getattr(h, "process", None)
    if proc is None:
        raise WasiError(Errno.NOTSUP, "no process runs this host")
    return proc


@syscall("proc_raise", "sig:u32")
def proc_raise(h, sig):
    return 0, (), _process(h).signal(sig & 0xFF, THREAD.tid, "proc_raise")


LIBC_MAIN_TID = 0x3FFFFFFF  # what wasix-libc's raise() passes before it knows its tid


@syscall("thread_signal", "tid:u32 sig:u32", modules=(WASIX,))
def thread_signal(h, tid, sig):
    tid &= 0xFFFFFFFF
    return 0, (), _process(h).signal(sig & 0xFF, 1 if tid == LIBC_MAIN_TID else tid, "thread_signal")


@syscall("proc_signal", "pid:u32 sig:u32", modules=(WASIX,))
def proc_signal(h, pid, sig):
    proc = _process(h)
    if pid & 0xFFFFFFFF != proc.pid:  # another process of the run: runtime/procs.py
        from .proc import signal_other

        return signal_other(h, pid & 0xFFFFFFFF, sig)
    return 0, (), proc.signal(sig & 0xFF, None, "proc_signal")


@syscall("proc_raise_interval", "sig:u32 interval:ns repeat:bool", modules=(WASIX,))
def proc_raise_interval(h, sig, interval, repeat):
    """setitimer/alarm: `sig` to the process after `interval` ns (again every interval if `repeat`);
    0 cancels the timer of that signal."""
    proc = _process(h)
    sig &= 0xFF
    interval &= MASK64
    if not 0 < sig < 31:
        return int(Errno.INVAL)
    timers = proc.signal_timers
    old = timers.pop(sig, None)
    if old is not None:
        old.cancel()
    if interval == 0:
        return 0, (), "timer cancelled" if old is not None else "no timer to cancel"
    secs = interval / 1e9
    if secs >= threading.TIMEOUT_MAX:
        return 0, (), "interval too long to ever fire"

    def fire():
        if proc.host.cancelled.is_set():
            return
        try:
            proc.signal(sig, None, "proc_raise_interval")
        except WasiError:
            return
        if repeat and timers.get(sig) is t:
            arm()

    def arm():
        nonlocal t
        t = threading.Timer(secs, fire)
        t.daemon = True
        timers[sig] = t
        t.start()

    t = None
    arm()
    return 0, (), f"every {secs:g} s" if repeat else f"once after {secs:g} s"


@syscall("callback_signal", "name:ptr name_len:len", result=None, modules=(WASIX,))
def callback_signal(h, name, name_len):
    proc = _process(h)
    export = h.mem.read(name, name_len & 0xFFFFFFFF).decode("utf-8", "replace")
    t = proc.current_thread()
    func = t.instance.exports(t.store).get(export) if t is not None and t.instance is not None else None
    if func is None:
        return 0, (), f"no export named {export!r}: signals keep their default actions"
    proc.signal_handler = export
    h.signal_callback = export
    return 0, (), f"signals go to {export}"


@syscall("proc_signals_sizes_get", "ret_count:ptr", outs="count", modules=(WASIX,))
def proc_signals_sizes_get(h, ret_count):
    # wasix-libc asks at start-up which signal dispositions were inherited: the ignored signals a
    # spawn (proc_spawn2) handed over, none otherwise
    n = len(getattr(h, "signal_dispositions", ()))
    h.mem.set_u32(ret_count, n)
    return 0, (n,)


@syscall("proc_signals_get", "buf:ptr", modules=(WASIX,))
def proc_signals_get(h, buf):
    pairs = getattr(h, "signal_dispositions", ())  # [(sig u8, disposition u8)]: 2 bytes each
    h.mem.write(buf, bytes(b for pair in pairs for b in pair)) if pairs else h.mem.check(buf, 0)
    return 0
