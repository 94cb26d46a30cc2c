"""The live panel: ipywidgets that follow a running process, updated from a timer thread.

Nothing runs on the syscall hot path: a thread polls `len(trace.events)`, `fds.version` and the status
every `interval` seconds and renders only what changed.  The panel is two HTML widgets (status +
descriptor tables; recent calls + summary + timeline), so one update costs at most two comm messages;
after sending k messages the thread waits k/rate seconds, which keeps any stretch of T seconds under
rate·T + 2 messages.  A final update always follows the end of the process, then the display's static
HTML fallback is replaced by the final tables.
"""

import threading
import time
import uuid
from collections import deque

from ..abi import errno as _errno
from ..trace import ARGS, CALL, DUR, ERRNO, MARK, PID, START, UNFINISHED
from . import sections, stream
from . import procs as procs_view
from . import threads as threads_view
from .bands import BandScan, bands
from .plain import fd_arg
from .timeline import MAX_MARKS, render

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class LivePanel:
    def __init__(self, proc, interval=0.1, rate=10, calls=True, summary=True):
        import ipywidgets as W

        self.proc = proc
        self.interval = interval
        self.rate = rate
        self.messages = 0  # comm messages sent by updates (one per changed widget)
        self.updates = 0  # updates that sent at least one message
        self.display_id = uuid.uuid4().hex
        self.error = None  # traceback of the last failed update, if any
        self._displayed = False
        self._cursor = 0  # events already counted into _acc
        self._acc = {}  # syscall name -> [calls, errors, total_ns]
        self._errors = 0
        self._unfinished = 0
        self._marks = deque(maxlen=MAX_MARKS)
        self._scan = BandScan()  # the processes on the timeline, folded as events come
        self._seen, self._flash, self._state, self._gone = {}, {}, {}, {}
        self._first = True
        self._version = None
        self._closed = []
        self._bottom, self._bottom_n, self._bottom_v = "", None, None
        self._next = self._last_sent = 0.0
        self._last_key = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._final = threading.Event()
        self._ended = False  # the final tables replaced the widget view
        top, bottom = self._render(final=False)
        self.top = W.HTML(value=top)
        self.bottom = W.HTML(value=bottom)
        self.widget = W.VBox([self.top, self.bottom])
        self.widget.add_class("wasix-panel")
        from .static import Static

        self._static = Static(proc, calls=calls, summary=summary)  # the final tables, ids fixed for this panel
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"wasix-panel:{proc.name}")
        self._thread.start()

    # -- the timer thread -----------------------------------------------------------------------
    def _loop(self):
        done = self.proc.done
        try:
            while not done.wait(self.interval):
                if self._stop.is_set():
                    return
                if time.monotonic() >= self._next and self._changed():
                    self._safe(self.update)
            # the final update always goes out, after the pause the last update earned
            time.sleep(max(0.0, self._next - time.monotonic()))
            self._safe(self.update, final=True)
            # then the output becomes the final static tables: a saved notebook needs no widget model
            self._ended = True
            self._safe(self._publish_fallback)
        finally:
            self._final.set()

    def _safe(self, fn, **kw):
        # a view must never break the run: keep the last error for debugging and carry on
        try:
            fn(**kw)
        except Exception:  # noqa: BLE001
            import traceback

            self.error = traceback.format_exc()

    def _key(self):
        p = self.proc
        return len(p.host.trace.events), p.host.fds.version, p.status

    def _changed(self) -> bool:
        """Cheap test before rendering: new calls, a descriptor change, a new status; or, once a
        second, only the elapsed time (a program blocked in a call)."""
        if self._key() != self._last_key:
            return True
        return self.proc.status == "running" and time.monotonic() - self._last_sent >= 1.0

    def update(self, final=False):
        """Render and send what changed; returns the number of comm messages sent."""
        with self._lock:
            self._last_key = self._key()
            top, bottom = self._render(final)
            sent = 0
            for w, v in ((self.top, top), (self.bottom, bottom)):
                if v != w.value:
                    with w.hold_sync():
                        w.value = v
                    sent += 1
            if sent:
                self.messages += sent
                self.updates += 1
                self._last_sent = time.monotonic()
                self._next = self._last_sent + sent / self.rate
            return sent

    # -- rendering ------------------------------------------------------------------------------
    def _count(self, events, n):
        """Fold the events since the last update into the per-function summary (incremental)."""
        acc, marks, t0 = self._acc, self._marks, self.proc.host.trace.t0
        for seq, ev in enumerate(events[self._cursor : n], self._cursor):
            call = ev[CALL]
            row = acc.get(call.name)
            if row is None:
                row = acc[call.name] = [0, 0, 0, 0]
            row[0] += 1
            row[2] += ev[DUR]
            if ev[ERRNO] is None and ev[MARK] in UNFINISHED:  # cut short: neither error nor success
                row[3] += 1
                self._unfinished += 1
            elif ev[ERRNO]:
                row[1] += 1
                self._errors += 1
                text = f"#{seq} {call.name} = {_errno.name(ev[ERRNO])}"
                marks.append((ev[START] - t0, fd_arg(call, ev[ARGS]), text, ev[PID]))
        self._cursor = n

    def _summary(self, trace):
        """The per-function counts of the recorded events plus the calls past the trace's limit."""
        if not trace.unrecorded:
            return self._acc
        acc = {k: list(v) for k, v in self._acc.items()}
        for name, (c, e, t) in list(trace.unrecorded.items()):
            row = acc.setdefault(name, [0, 0, 0, 0])
            row[0] += c
            row[1] += e
            row[2] += t
            row[3] += trace.unrecorded_unfinished.get(name, 0)
        return acc

    def _render(self, final):
        p = self.proc
        trace, fds = p.host.trace, p.host.fds
        events = trace.events
        n = len(events)
        self._count(events, n)
        now = time.monotonic()
        if final and p.final_rows is not None:
            rows = p.final_rows
        else:
            rows = fds.rows()
        version = fds.version
        if version != self._version or final:
            closed = fds.history_rows()
            if final:
                closed = [r for r in closed if r["state"] != "closed at exit"]
            self._closed, self._version = closed, version
        closed = self._closed
        at_exit = len(fds.history) - len(closed) if final else 0

        # highlight bookkeeping: when each row appeared / changed state / was closed
        born = float("-inf") if self._first else now
        self._first = False
        ages, flashes = {}, {}
        seen, state, flash, gone_at = {}, {}, {}, {}  # kept only for the rows shown: bounded memory
        for r in rows:
            key = (r["fd"], r["opened_seq"])
            seen[key] = self._seen.get(key, born)
            state[key] = r["state"]
            if self._state.get(key, r["state"]) != r["state"]:
                flash[key] = now
            elif key in self._flash:
                flash[key] = self._flash[key]
            ages[key] = now - seen[key]
            if key in flash:
                flashes[key] = now - flash[key]
        gone = {}
        for r in closed[-sections.MAX_CLOSED :]:
            key = (r["fd"], r["opened_seq"], r["closed_seq"])
            gone_at[key] = self._gone.get(key, now)
            gone[key] = now - gone_at[key]
        self._seen, self._state, self._flash, self._gone = seen, state, flash, gone_at

        if p.status == "running" and p.started:
            elapsed = round(time.time() - p.started, 1)  # changes once a second: bounded updates
        else:
            elapsed = p.duration
        note = f"(the host closed {at_exit} descriptors at exit)" if at_exit else ""
        top = "".join(
            [
                sections.CSS,
                '<div class="wxp">',
                sections.status_html(
                    p.name,
                    p.status,
                    p.exit_code,
                    elapsed,
                    trace.calls,
                    self._errors + sum(r[1] for r in list(trace.unrecorded.values())),
                    note,
                    self._unfinished + sum(trace.unrecorded_unfinished.values()),
                ),
                threads_view.section_html(p),
                procs_view.section_html(p),
                sections.fd_table_html(rows, ages, flashes),
                sections.closed_html(closed, gone),
                "</div>",
            ]
        )
        if final or n != self._bottom_n or version != self._bottom_v:
            first = max(0, n - sections.RECENT)
            svg = (
                render(trace, rows, closed, marks=list(self._marks), bands=self._bands(trace, n))
                if (n or closed)
                else ""
            )
            self._bottom = "".join(
                [
                    sections.CSS,
                    '<div class="wxp"><div class="wx-cols">',
                    sections.calls_html(events[first:n], first, trace.t0),
                    sections.summary_html(self._summary(trace)) if self._acc else "",
                    "</div>",
                    stream.section_html(trace),
                    svg,
                    "</div>",
                ]
            )
            self._bottom_n, self._bottom_v = n, version
        return top, self._bottom

    def _bands(self, trace, n):
        """One band per process once the run has forked (else none: the single-process timeline)."""
        if getattr(self.proc, "procs", None) is None or not n:
            return ()
        events = trace.events
        self._scan.feed(events, trace.t0, n)
        last = events[n - 1]
        return bands(self.proc, trace, last[START] - trace.t0 + last[DUR], self._scan)

    # -- display --------------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        """While the program runs: the widget view, with the tables so far as HTML/text for front ends
        without widgets.  Once it ended: the final tables only (what a saved notebook can show later,
        when the widget's model has died with its kernel)."""
        st = self._static
        bundle = {"text/html": st.html(), "text/plain": st.text()}
        if not self._ended:
            bundle = {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}, **bundle}
        return bundle

    def _ipython_display_(self):
        # displayed under our own display_id, so the end can swap the fallback HTML for the final tables
        from IPython.display import display

        self._displayed = True
        display(self._repr_mimebundle_(), raw=True, display_id=self.display_id)

    def _publish_fallback(self):
        if self._displayed:
            from IPython.display import update_display

            update_display(self._repr_mimebundle_(), raw=True, display_id=self.display_id)

    # -- API for the magics ------------------------------------------------------------------------
    def finish(self, timeout=10.0):
        """After the program ended: wait until the final update is out. Returns at once while a
        background program still runs (the panel stays live until it ends)."""
        if self.proc.done.is_set():
            self._final.wait(timeout)

    def publish_final(self, timeout=10.0):
        """Re-send the final tables from the calling thread (a later cell, e.g. `%wasix kill`), so
        that front ends which only record the running cell's messages (nbclient) keep them."""
        if self._final.wait(timeout):
            self._publish_fallback()

    def close(self):
        """Stop following the process (the widgets stay as they are)."""
        self._stop.set()

    @property
    def finished(self) -> bool:
        return self._final.is_set()
