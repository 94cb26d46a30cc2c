"""Run timeouts: one daemon thread for the whole interpreter instead of a `threading.Timer` per run.

Starting a thread costs a run ~0.1 ms, and on a busy machine the start handshake can wait a scheduler
quantum; a notebook that sets `%config WasixMagics.timeout = 10` paid it on every cell.  The callbacks are
quick and never block (`Process.stop`: set events, write a wake pipe, bump the epoch).
"""

import heapq
import itertools
import threading
import time


class Deadline:
    __slots__ = ("when", "fn", "args", "cancelled", "owner")

    def __init__(self, when, fn, args, owner):
        self.when, self.fn, self.args, self.cancelled, self.owner = when, fn, args, False, owner

    def cancel(self):
        self.owner.cancel(self)


class Deadlines:
    def __init__(self):
        self._cv = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._thread = None
        self._cancelled = 0  # cancelled entries still in the heap

    def after(self, seconds, fn, *args) -> Deadline:
        """Call `fn(*args)` in the deadline thread `seconds` from now, unless cancelled first."""
        d = Deadline(time.monotonic() + seconds, fn, args, self)
        with self._cv:
            heapq.heappush(self._heap, (d.when, next(self._seq), d))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name="wasix-deadlines")
                self._thread.start()
            if self._heap[0][2] is d:  # earlier than what the thread sleeps towards
                self._cv.notify()
        return d

    def cancel(self, d):
        """Forget `d`: its callback (and the process it would stop) is released now, not when it would
        have come due (a run with an hour's timeout must not keep its Process for an hour)."""
        with self._cv:
            if d.cancelled:
                return
            d.cancelled, d.fn, d.args = True, None, ()
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):  # keep the heap small
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _loop(self):
        while True:
            with self._cv:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    self._cv.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                d = heapq.heappop(self._heap)[2]
            try:
                d.fn(*d.args)
            except Exception:  # noqa: BLE001 - one failing stop must not end every later timeout
                pass


DEADLINES = Deadlines()
