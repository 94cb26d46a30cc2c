"""SIGINT while a program runs on the main thread: stop it (epoch increment + wake of blocking calls)."""

import os
import select
import signal
import threading


class Watcher:
    """One daemon thread for the whole interpreter, reading the signal wakeup pipe.

    Python runs signal handlers only between bytecodes, never while wasm runs; the C-level handler still
    writes the signal number to the wakeup fd at once, so this thread stops the current process (epoch
    increment + wake of blocking calls) without waiting for wasm to call back.  Bytes are forwarded to
    the wakeup fd that was set before (asyncio's).  One thread, started once: runs stay cheap.
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
            if target is not None and signal.SIGINT in data:
                target.stop("interrupted")


_WATCHER = None


class SigintToEpoch:
    """While a process runs on the main thread, SIGINT means `Process.stop("interrupted")`; the previous
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
        try:
            self._old_fd = signal.set_wakeup_fd(_WATCHER.w, warn_on_full_buffer=False)
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except (ValueError, OSError):
            return self
        _WATCHER.forward_fd = self._old_fd
        _WATCHER.target = self.proc
        self.active = True
        return self

    def _on_sigint(self, signum, frame):
        self.proc.stop("interrupted")

    def __exit__(self, *exc):
        if not self.active:
            return False
        _WATCHER.target = None
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_fd)
        _WATCHER.forward_fd = -1
        return False
