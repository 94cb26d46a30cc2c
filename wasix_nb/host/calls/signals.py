"""Signals a program sends itself. The host never calls back into the program, so every signal takes
its default action: the default-ignored ones do nothing, the rest end the process with status 128+sig
(the shell's convention).  A handler registered with `callback_signal` is remembered but not called.
"""
from ...abi.errno import Errno, WasiError
from ..host import ProcExit
from ..registry import WASIX, syscall
from .threads import MAIN_TID

# WASI signal numbers whose default action is to do nothing: CHLD, CONT, URG, WINCH
_IGNORED = {16, 17, 22, 27}
_NAMES = ("NONE HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM CHLD CONT STOP "
          "TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH POLL PWR SYS").split()


def _deliver(h, sig):
    sig &= 0xFF
    if sig >= len(_NAMES):
        return int(Errno.INVAL)
    if sig == 0:
        return 0                            # signal 0 only asks whether the target exists
    name = "SIG" + _NAMES[sig]
    if sig in _IGNORED:
        return 0, (), f"{name} ignored (default action)"
    h.killed_by = name
    raise ProcExit(128 + sig)


@syscall("proc_raise", "sig:u32")
def proc_raise(h, sig):
    return _deliver(h, sig)


@syscall("thread_signal", "tid:u32 sig:u32", modules=(WASIX,))
def thread_signal(h, tid, sig):
    if tid != MAIN_TID:
        return int(Errno.SRCH)
    return _deliver(h, sig)


@syscall("proc_raise_interval", "sig:u32 interval:ns repeat:bool", modules=(WASIX,))
def proc_raise_interval(h, sig, interval, repeat):
    if interval == 0:
        return 0                            # cancels a timer that was never set
    raise WasiError(Errno.NOTSUP, "timed signals are not supported")


@syscall("callback_signal", "name:ptr name_len:len", result=None, modules=(WASIX,))
def callback_signal(h, name, name_len):
    # the export that would receive signals; kept for inspection, never called
    h.signal_callback = h.mem.read(name, name_len & 0xFFFFFFFF).decode("utf-8", "replace")
    return 0, (), f"handler {h.signal_callback!r} noted, never called"


@syscall("proc_signal", "pid:u32 sig:u32", modules=(WASIX,))
def proc_signal(h, pid, sig):
    from .proc import PID
    if pid != PID:
        return int(Errno.SRCH)
    return _deliver(h, sig)


@syscall("proc_signals_sizes_get", "ret_count:ptr", outs="count", modules=(WASIX,))
def proc_signals_sizes_get(h, ret_count):
    # wasix-libc asks at start-up which signal dispositions were inherited: none
    h.mem.set_u32(ret_count, 0)
    return 0, (0,)


@syscall("proc_signals_get", "buf:ptr", modules=(WASIX,))
def proc_signals_get(h, buf):
    return 0
