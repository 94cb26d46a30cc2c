"""Signals delivered for real, and what each thread is doing (for the threads views).

A program that registered a handler with `callback_signal` (wasix-libc and Rust std register
`__wasm_signal`, which applies the program's own dispositions, defaults included) gets every signal but
SIGKILL in that handler, run by the target thread at its next safe point: at once when a thread signals
itself, on return from the blocking call it is in (futex_wait, thread_sleep, thread_join), or at the next
epoch tick when it is busy in pure wasm (runtime/epoch.py).  Without a handler the host applies the
POSIX default: CHLD, CONT, URG, WINCH are ignored, the stop signals too (no job control here), every
other signal ends the process with status 128 + sig.

A thread blocked in a descriptor wait (accept, recv, read, poll_oneoff...) while its process has a
handler also polls a wake pipe of its own (made on its first such wait): a signal for it ends the wait,
its handler runs, and the call fails with INTR, as a blocking call interrupted by a handler does.
"""

import os
import sys
import threading
import time

import wasmtime

from .. import _raw_calls
from ..abi.errno import Errno, WasiError
from ..host import registry
from ..host.fdtable import BUDGET
from ..host.host import Cancelled, ProcExit
from .thread import End, HandlerTrapped

NAMES = (
    "NONE HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM CHLD CONT STOP "
    "TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH POLL PWR SYS"
).split()
KILL = 9
INT, ABRT = 2, 6
IGNORED = {16, 17, 22, 27}  # CHLD CONT URG WINCH
STOPS = {18, 19, 20, 21}  # STOP TSTP TTIN TTOU

_SIGNAL_EVENT = registry.Syscall("signal", "sig:int", "", None, None, {}, "signals")
_LOCK = threading.Lock()  # signal ticks held during a handler (below), wake pipes opened and closed


def name(sig) -> str:
    return "SIG" + NAMES[sig] if 0 <= sig < len(NAMES) else f"signal {sig}"


def deliver(proc, sig, tid=None, source="host"):
    """Send `sig` to thread `tid` (None: the process, i.e. its main thread while it lives). Returns a
    note for the trace; raises WasiError (INVAL, SRCH) or ProcExit (the calling thread's process ends)."""
    if not 0 <= sig < len(NAMES):
        raise WasiError(Errno.INVAL)
    target = _target(proc, tid)
    if sig == 0:
        return "the target exists"
    nm = name(sig)
    if sig == KILL or (proc.signal_handler is None and sig not in IGNORED | STOPS):
        _terminate(proc, sig, nm)
        return f"{nm}: ends the process (default action)"
    if proc.signal_handler is None:
        return f"{nm} ignored (default action)"
    if sig not in target.signals:  # a standard signal is pending once, not counted (as on Linux)
        target.signals.append(sig)
    if proc.current_thread() is target:
        if sig == ABRT and INT in target.handling and proc._sigint_ran:
            # abort() while the kernel's SIGINT runs its handler: wasix-libc's default action for SIGINT
            # (print, abort, exit 127) or the program's own choice; either way SIGINT ended the process
            proc.stop("interrupted")
            raise Cancelled("interrupted")
        if sig in target.handling:
            return f"{nm} pending (its handler is running)"
        run_pending(proc, target)
        return f"{nm} handled by {proc.signal_handler}"
    # another thread: end its wait, or tick the epoch so a thread busy in wasm takes it
    wake(proc, target)
    return f"{nm} queued for thread {target.tid} ({source})"


def wake(proc, t):
    """Make thread `t` take its queued signals soon: end its futex wait, sleep or descriptor wait, and
    tick the epoch for the case it runs pure wasm."""
    proc.futexes.interrupt(t.tid)
    t.wake.set()
    with _LOCK:
        if t.sig_w != -1:
            try:
                os.write(t.sig_w, b"s")
            except OSError:  # full: a wake is pending anyway
                pass
    tick(proc)


def tick(proc):
    """Tick `proc`'s engine so its threads busy in pure wasm run their epoch callback (runtime/epoch.py).
    While a handler runs inside that callback the tick is owed instead: wasmtime has taken the callback
    out of the handler's store, so a tick would trap the handler with a bare "interrupt" (issue 11)."""
    with _LOCK:
        if proc._ticks_held:
            proc._tick_owed = True
            return
        eng = proc._engine
        if eng is not None:
            eng.increment_epoch()


def run_at_tick(proc, t):
    """The epoch callback of thread `t` runs its pending signals, the process's ticks held meanwhile."""
    with _LOCK:
        proc._ticks_held += 1
    try:
        t.store.set_epoch_deadline(1)  # the handler's own wasm runs under a fresh deadline
        run_pending(proc, t)
    finally:
        with _LOCK:
            proc._ticks_held -= 1
            if proc._tick_owed and not proc._ticks_held:
                proc._tick_owed = False
                eng = proc._engine
                if eng is not None:  # no handler runs in a callback now: safe
                    eng.increment_epoch()


# -- waking a descriptor wait ------------------------------------------------------------------------------
def wake_fd(proc) -> int:
    """The read end of the calling thread's signal wake pipe (made now if needed), or -1 outside a wasm
    thread.  A signal queued before the pipe existed is written into it at once."""
    t = proc.current_thread()
    if t is None:
        return -1
    if t.sig_r == -1:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        BUDGET.charge(2)
        with _LOCK:
            t.sig_r, t.sig_w = r, w
        if t.signals:
            wake(proc, t)
    return t.sig_r


def interrupts_wait(proc) -> bool:
    """A wait that polls (proc_join) asks: has the calling thread a signal whose handler should end it?
    Signals ignored by default (SIGCHLD above all: a child ending wakes the join anyway) do not."""
    t = proc.current_thread()
    return t is not None and proc.signal_handler is not None and any(s not in IGNORED for s in list(t.signals))


def take(proc) -> bool:
    """A descriptor wait of the calling thread woke on its wake pipe: run its signals.  False when
    there were none (a stale wake: the signal was taken elsewhere); the wait goes on."""
    t = proc.current_thread()
    if t is None:
        return False
    _drain(t)
    if not t.signals:
        return False
    run_pending(proc, t)
    return True


def _drain(t):
    r = t.sig_r
    if r != -1:
        try:
            while os.read(r, 64):
                pass
        except OSError:
            pass


def close_wake(t):
    """Close thread `t`'s wake pipe (its end, or the process's)."""
    with _LOCK:
        fds, t.sig_r, t.sig_w = (t.sig_r, t.sig_w), -1, -1
    if fds[0] != -1:
        BUDGET.credit(2)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _target(proc, tid):
    if tid is None:
        main = proc.wasm_threads.get(1)
        if main is not None and main.state != "ended":
            return main
        for t in proc.wasm_threads.values():
            if t.state != "ended":
                return t
        raise WasiError(Errno.SRCH)
    t = proc.wasm_threads.get(tid)
    if t is None or t.state == "ended":
        raise WasiError(Errno.SRCH)
    return t


def _terminate(proc, sig, nm):
    proc.host.killed_by = nm
    if proc.current_thread() is not None:  # from a host call of this process: unwind it
        raise ProcExit(128 + sig)
    proc.end_with(End("exited", 128 + sig, f"killed by {nm} (exit {128 + sig})"))


def run_pending(proc, t):
    """Run `t`'s queued signals in its handler export (on `t`'s own OS thread).  A signal whose handler
    is running on `t` stays queued until it returns (POSIX blocks it meanwhile: wasix-libc's abort()
    raises SIGABRT from SIGABRT's default handler, and expects not to re-enter it).  Stops early when a
    handler started unwinding the stack (a longjmp out of it): the rest run after the jump."""
    handler = t.instance.exports(t.store).get(proc.signal_handler) if t.instance is not None else None
    trace = proc.host.trace
    if t.sig_r != -1:
        _drain(t)
    while True:
        if t.stack is not None and t.stack.pending is not None:
            return
        sig = next((s for s in list(t.signals) if s not in t.handling), None)
        if sig is None:
            return
        t.signals.remove(sig)
        from_kernel = sig == INT and proc._sigint_at is not None
        trace.add(
            (
                time.perf_counter_ns(),
                0,
                _SIGNAL_EVENT,
                (sig,),
                0,
                None,
                (f"{name(sig)} -> {proc.signal_handler}" if handler is not None else f"{name(sig)}: no handler export")
                + (" (the kernel's interrupt)" if from_kernel else ""),
                proc.host.pid,
                t.tid,
                None,
            )
        )
        if handler is None:
            continue
        if from_kernel:
            proc._sigint_ran = True
        t.handling = t.handling | {sig}
        try:
            _raw_calls.call(handler, t.store, sig)
        except (wasmtime.Trap, wasmtime.WasmtimeError, HandlerTrapped) as e:
            if proc.host.cancelled.is_set():
                raise Cancelled(proc.host.cancel_reason) from None
            if from_kernel:
                # the program's disposition for SIGINT was the default: wasix-libc's ends in abort(),
                # a trap; that is SIGINT's default action (the end of the process), not a crash
                proc.stop("interrupted")
                raise Cancelled("interrupted") from None
            if isinstance(e, HandlerTrapped):
                raise
            raise HandlerTrapped(e) from None  # a trap, not a host error of the call the handler ran in
        finally:
            t.handling = t.handling - {sig}


# -- what each thread is doing --------------------------------------------------------------------------
# calls that wait for something outside the thread (a peer, a timer, another thread)
_BLOCKING = {
    "futex_wait",
    "thread_sleep",
    "thread_join",
    "poll_oneoff",
    "fd_read",
    "fd_write",
    "fd_pread",
    "sock_accept",
    "sock_accept_v2",
    "sock_recv",
    "sock_recv_from",
    "sock_send",
    "sock_send_to",
    "sock_connect",
    "proc_join",
    "sched_yield",
    "resolve",
    "sock_send_file",
    "epoll_wait",
}


def _in_call(frame):
    """(syscall, args) of the innermost host call on this stack (the registry's wrapper frame), or None
    when the thread runs wasm."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.endswith("registry.py"):
            loc = frame.f_locals
            call = loc.get("call")
            if isinstance(call, registry.Syscall):
                return call, loc.get("args", ())
        frame = frame.f_back
    return None


def describe(proc, t, frames, waiting) -> str:
    if t.state == "created":
        return "starting"
    if t.state == "ended":
        e = t.end
        if e is None:
            return "ended"
        if e.kind in ("returned", "thread-exit"):
            return f"exited with code {e.code or 0}"
        if e.kind == "exited":
            return f"called proc_exit({e.code})"
        if e.kind == "stopped":
            return f"stopped ({e.reason})"
        return "trapped"
    if t.tid in waiting:
        return f"blocked in futex_wait on {waiting[t.tid]:#x}"
    where = _in_call(frames.get(t.ident)) if t.ident is not None else None
    if where is None:
        return "running wasm"
    call, args = where
    words = "blocked in" if call.name in _BLOCKING else "in"
    fd = next((a for (_, kind), a in zip(call.params, args) if kind == "fd"), None)
    return f"{words} {call.name}" + (f" on fd {fd}" if fd is not None else "")


def _calls_by_tid(proc):
    """Calls per thread, counted incrementally (the panel asks ten times a second)."""
    events = proc.host.trace.events
    seen, counts = getattr(proc, "_tid_counts", (0, {}))
    n = len(events)
    if n < seen:
        seen, counts = 0, {}
    events.counts("tid", seen, n, counts)  # read from the records' headers (eventlog.py)
    proc._tid_counts = (n, counts)
    return counts


def thread_rows(proc):
    frames = sys._current_frames()
    waiting = proc.futexes.waiting()
    counts = _calls_by_tid(proc)
    rows = []
    t0 = proc.host.trace.t0
    for tid, t in sorted(proc.wasm_threads.items()):
        by = t.started_by
        rows.append(
            {
                "tid": tid,
                "state": describe(proc, t, frames, waiting),
                "calls": counts.get(tid, 0),
                "started_by": "the host (_start)" if by is None else f"thread {by[0]}: {by[1]}",
                "entry": t.entry,
                "started": t.started,
                "ended": t.ended,
                "start_ns": None if t.started_ns is None else t.started_ns - t0,  # on the trace's clock
                "end_ns": None if t.ended_ns is None else t.ended_ns - t0,
            }
        )
    return rows
