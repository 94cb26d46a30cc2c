"""What a %%wasix cell shows while and after a program runs.

The magics call `show(proc, live=...)` before starting the program, display the object it returns, run
the program, then call `obj.finish()`.  `live=True` gives the widget panel (with the final tables as its
HTML/text fallback); `live=False` the final tables only; `lazy=True` (a %%wasix cell in the foreground)
the final tables for a program that ends within the panel's first interval, the widget panel only once
it runs longer: a short run makes no widgets and starts no thread.
"""

import codecs
import heapq
import itertools
import threading
import time
import uuid

from .static import Static, status_line  # noqa: F401  (status_line is part of the public API)


class StaticResult(Static):
    """The final tables.  Displayed before the run it shows the status line, under a display_id that
    `finish()` (or, for a background process, its end) fills with the final tables."""

    def __init__(self, proc, **parts):
        super().__init__(proc, **parts)
        self.display_id = uuid.uuid4().hex
        self._displayed = False

    def _repr_mimebundle_(self, include=None, exclude=None):
        if self.proc.status in ("created", "running"):
            line = status_line(self.proc)
            return {"text/plain": line, "text/html": f"<div class='wasix-result'><p>{line}</p></div>"}
        return super()._repr_mimebundle_(include, exclude)

    def _ipython_display_(self):
        from IPython.display import display

        self._displayed = True
        display(self._repr_mimebundle_(), raw=True, display_id=self.display_id)

    def _update(self):
        if self._displayed:
            from IPython.display import update_display

            update_display(self._repr_mimebundle_(), raw=True, display_id=self.display_id)

    def publish_final(self, timeout=10.0):
        """Re-send the final tables from the calling thread (see LivePanel.publish_final)."""
        if self.proc.done.wait(timeout):
            self._update()

    def finish(self, timeout=None):
        if self.proc.done.is_set():
            self._update()
        else:  # a background process: fill in the tables when it ends
            threading.Thread(target=lambda: (self.proc.done.wait(), self._update()), daemon=True).start()


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
MAX_SAVED_OUTPUT = 64 * 1024  # bytes of a background program's output kept in its saved output


class StreamView:
    """A background program's stdout/stderr: an ipywidgets `Output` while it runs (a finished cell can
    only grow through a widget), replaced by plain text when it ends, so a saved notebook needs no
    widget model.  `sinks()` gives the (stdout, stderr) callables for the Process."""

    def __init__(self, proc=None):
        import ipywidgets

        self.proc = proc
        self.widget = ipywidgets.Output()
        self.display_id = uuid.uuid4().hex
        self._displayed = False
        self._ended = False

    def sinks(self):
        def sink(kind):
            dec = codecs.getincrementaldecoder("utf-8")("replace")
            append = self.widget.append_stdout if kind == "stdout" else self.widget.append_stderr

            def write(data: bytes):
                text = dec.decode(data)
                if text:
                    append(text)

            return write

        return sink("stdout"), sink("stderr")

    def _repr_mimebundle_(self, include=None, exclude=None):
        if not self._ended:
            return {
                WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
                "text/plain": "",
            }
        p = self.proc
        data = p.stdout + p.stderr
        cut = len(data) > MAX_SAVED_OUTPUT
        text = data[-MAX_SAVED_OUTPUT:].decode("utf-8", "replace")
        return {"text/plain": (f"[… the first {len(data) - MAX_SAVED_OUTPUT} bytes not kept]\n" if cut else "") + text}

    def _ipython_display_(self):
        from IPython.display import display

        self._displayed = True
        display(self._repr_mimebundle_(), raw=True, display_id=self.display_id)

    def publish_final(self, timeout=10.0):
        if self.proc.done.wait(timeout) and self._displayed:
            self._ended = True
            from IPython.display import update_display

            update_display(self._repr_mimebundle_(), raw=True, display_id=self.display_id)

    def finish(self, timeout=None):
        """Swap the widget for the final text when the program ends (at once if it has)."""
        if self.proc.done.is_set():
            self.publish_final()
        else:
            threading.Thread(target=lambda: (self.proc.done.wait(), self.publish_final()), daemon=True).start()


class _Later:
    """One daemon thread for the whole kernel running callbacks after a delay (like the SIGINT watcher:
    started once, so a run does not pay for a thread of its own)."""

    def __init__(self):
        self._cv = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._thread = None

    def after(self, delay, fn):
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name="wasix-later")
                self._thread.start()
            if len(self._heap) == 1:  # it slept with nothing to do (later ones never come earlier)
                self._cv.notify()

    def _loop(self):
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:  # noqa: BLE001 - a view must never take the timer down
                pass


LATER = _Later()


class LazyLive(StaticResult):
    """The live panel, made only if the program still runs `interval` seconds after `start()`; until then
    (and for good, when it ended by then) the status line, then the final tables, as StaticResult."""

    def __init__(self, proc, interval=0.1, rate=10, **parts):
        # imported now, not while the program runs (a kernel's first cell lost a second of panel to them)
        import ipywidgets  # noqa: F401

        from . import panel  # noqa: F401

        super().__init__(proc, **parts)
        self.interval, self.rate, self.parts = interval, rate, parts
        self.panel = None  # the LivePanel, once made
        self._lock = threading.Lock()
        self._finishing = False
        self._tries = 0
        LATER.after(interval, self._promote)

    def _promote(self):
        from .panel import LivePanel

        with self._lock:
            if self._finishing or self.proc.done.is_set():
                return
            if self.proc.status == "created":  # not started yet: look again later (a minute at most)
                self._tries += 1
                if self._tries < 600:
                    LATER.after(self.interval, self._promote)
                return
            # the widget view goes out first; the panel's thread publishes its final tables only once it
            # knows it is displayed, so the final tables are always the last word
            panel = LivePanel(self.proc, interval=self.interval, rate=self.rate, **self.parts)
            panel.display_id = self.display_id
            if self._displayed:
                from IPython.display import update_display

                update_display(panel._repr_mimebundle_(), raw=True, display_id=self.display_id)
                panel._displayed = True
                if panel._ended:  # it reached its end meanwhile and may have skipped publishing them
                    panel._publish_fallback()
            self.panel = panel

    def finish(self, timeout=10.0):
        with self._lock:
            self._finishing = True  # no panel from now on
            panel = self.panel
        if panel is None:
            super().finish()
        else:
            panel.finish(timeout)

    def publish_final(self, timeout=10.0):
        panel = self.panel
        if panel is not None:
            panel.publish_final(timeout)
        else:
            super().publish_final(timeout)


def show(proc, live=False, interval=0.1, rate=10, calls=True, summary=True, lazy=False):
    """The view of `proc` for a notebook output: a `LivePanel` when `live` (`lazy`: made only once the
    program has run `interval` seconds, see LazyLive), else the static tables.  `calls=False` /
    `summary=False` leave the last calls / the per-function table out of the final tables (the cell
    prints them itself: --trace, --summary)."""
    if live and lazy:
        return LazyLive(proc, interval=interval, rate=rate, calls=calls, summary=summary)
    if live:
        from .panel import LivePanel

        return LivePanel(proc, interval=interval, rate=rate, calls=calls, summary=summary)
    return StaticResult(proc, calls=calls, summary=summary)
