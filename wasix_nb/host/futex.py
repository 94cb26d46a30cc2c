"""Futex wait queues of one process, keyed by address in its shared memory.

A waiter registers under the lock *before* the value is compared, and wakes happen under the same lock,
so a wake between "the value still matches" and "now sleeping" is never lost.  Every wait is
cancellable: `cancel_all()` (the process is ending) and `interrupt(tid)` (a signal arrived for that
thread) end it at once.
"""

import threading


class Waiter:
    __slots__ = ("tid", "addr", "event", "why")

    def __init__(self, tid, addr):
        self.tid = tid
        self.addr = addr
        self.event = threading.Event()
        self.why = None  # "woken" | "cancelled" | "interrupted"


class Futexes:
    def __init__(self):
        self.lock = threading.Lock()
        self.queues = {}  # addr -> [Waiter] in arrival order
        self.cancelled = False

    def wait(self, mem, addr, expected, timeout, tid=1):
        """ "differs" if *addr != expected at once; else "woken", "timeout", "cancelled" or "interrupted".
        `timeout` in seconds, None for ever."""
        w = Waiter(tid, addr)
        with self.lock:
            if self.cancelled:
                return "cancelled"
            self.queues.setdefault(addr, []).append(w)
        result = "timeout"
        try:
            if mem.u32(addr) != expected:
                result = "differs"
            else:
                w.event.wait(timeout)
        finally:
            with self.lock:  # a wake that raced the timeout still counts as a wake
                if w.why is None:
                    q = self.queues.get(addr)
                    if q is not None and w in q:
                        q.remove(w)
                        if not q:
                            del self.queues[addr]
        return w.why or result

    def wake(self, addr, n) -> int:
        """Wake up to `n` waiters on `addr` (oldest first); returns how many."""
        with self.lock:
            q = self.queues.get(addr)
            if not q:
                return 0
            woken = q[:n]
            del q[:n]
            if not q:
                del self.queues[addr]
            for w in woken:
                w.why = "woken"
                w.event.set()
        return len(woken)

    def interrupt(self, tid) -> bool:
        """End the wait of thread `tid`, if it waits (a signal for it arrived)."""
        with self.lock:
            for addr, q in list(self.queues.items()):
                for w in q:
                    if w.tid == tid:
                        q.remove(w)
                        if not q:
                            del self.queues[addr]
                        w.why = "interrupted"
                        w.event.set()
                        return True
        return False

    def cancel_all(self):
        """The process is ending: every wait ends now, and no new one starts."""
        with self.lock:
            self.cancelled = True
            queues, self.queues = self.queues, {}
            for q in queues.values():
                for w in q:
                    w.why = "cancelled"
                    w.event.set()

    def waiting(self):
        """{tid: addr} of the threads waiting now (for the threads view)."""
        with self.lock:
            return {w.tid: addr for addr, q in self.queues.items() for w in q}
