"""The kernel's interrupt button (SIGINT to the kernel, Ctrl-C in the CLI) while a program runs.

`interrupt(proc)` decides what it means for the program:

- a program that registered a signal handler (`callback_signal`: wasix-libc does on its first
  `signal()`/`sigaction()`, a WAT program by hand) gets SIGINT in that handler, on its main thread, at
  its next safe point (a blocking call ends with INTR, a pure-wasm loop takes it at the next epoch
  tick).  Its handler decides: end by itself with its own code, `longjmp` back to a prompt, ignore it.
  wasix-libc keeps the dispositions in the program's memory and tells the host nothing per signal, so
  the host cannot know beforehand whether SIGINT itself was set: when it was not, the libc's default
  handler prints "Program recieved termination signal" and aborts, and that trap is taken as what it
  is, SIGINT's default action: the run ends `interrupted` (130), as without a handler.
- a program without a handler, a second interrupt of the same run, or a handler that has not started
  within `GRACE` seconds (a thread stuck where no signal reaches it): `proc.stop("interrupted")`, as
  before.  The kernel never waits on the program's goodwill for more than `GRACE`.
"""

import os
import select
import signal
import threading
import time

GRACE = 1.0  # seconds a program gets to start its SIGINT handler before the interrupt stops it
SIGINT = 2
_LOCK = threading.Lock()


def interrupt(proc):
    if proc.done.is_set() or proc.status != "running":
        proc.stop("interrupted")
        return
    with _LOCK:
        first = proc._sigint_at is None and proc.signal_handler is not None
        if first:
            proc._sigint_at = time.monotonic()
    if not first:
        proc.stop("interrupted")
        return
    try:
        proc.signal(SIGINT, None, "the kernel's interrupt")
    except Exception:  # noqa: BLE001 - no thread to take it (ending): stop as without a handler
        proc.stop("interrupted")
        return
    timer = threading.Timer(GRACE, _overdue, args=(proc,))
    timer.daemon = True
    proc.signal_timers["interrupt"] = timer  # cancelled when the run ends
    timer.start()


def _overdue(proc):
    if not proc._sigint_ran:
        proc.stop("interrupted")


class Watcher:
    """One daemon thread for the whole interpreter, reading the signal wakeup pipe.

    Python runs signal handlers only between bytecodes, never while wasm runs; the C-level handler still
    writes the signal number to the wakeup fd at once, so this thread interrupts the current process
    without waiting for wasm to call back.  Bytes are forwarded to the wakeup fd that was set before
    (asyncio's).  One thread, started once: runs stay cheap.
    """

    def __init__(self):
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self.target = None
        self.forward_fd = -1
        threading.Thread(target=self._loop, daemon=True, name="wasix-sigint").start()

    def _loop(self):
        while True:
            select.select([self.r], [], [])
            try:
                data = os.read(self.r, 512)
            except OSError:
                continue
            fwd, target = self.forward_fd, self.target
            if data and fwd != -1:
                try:
                    os.write(fwd, data)
                except OSError:
                    pass
            if target is not None:
                for _ in range(data.count(signal.SIGINT)):  # one byte per SIGINT the kernel sent
                    target.interrupt()


_WATCHER = None


class SigintToEpoch:
    """While a process runs on the main thread, SIGINT means `Process.interrupt()` (above); the previous
    handler and wakeup fd come back afterwards."""

    def __init__(self, proc):
        self.proc = proc
        self.active = False

    def __enter__(self):
        global _WATCHER
        if threading.current_thread() is not threading.main_thread():
            return self
        if _WATCHER is None:
            _WATCHER = Watcher()
        _WATCHER.target = self.proc  # before the handler: a SIGINT right after it must find its process
        try:
            self._old_fd = signal.set_wakeup_fd(_WATCHER.w, warn_on_full_buffer=False)
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except (ValueError, OSError):
            _WATCHER.target = None
            return self
        _WATCHER.forward_fd = self._old_fd
        self.active = True
        return self

    def _on_sigint(self, signum, frame):
        pass  # the watcher acts on the same signal (its wakeup byte); here only no KeyboardInterrupt

    def __exit__(self, *exc):
        if not self.active:
            return False
        _WATCHER.target = None
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_fd)
        _WATCHER.forward_fd = -1
        return False
