"""What a %%wasix cell shows while and after a program runs.

The magics call `show(proc, live=...)` before starting the program, display the object it returns, run
the program, then call `obj.finish()`.  `live=True` gives the widget panel (with the final tables as its
HTML/text fallback); `live=False` the final tables only.
"""
import threading
import uuid

from .static import Static, status_line  # noqa: F401  (status_line is part of the public API)


class StaticResult(Static):
    """The final tables.  Displayed before the run it shows the status line, under a display_id that
    `finish()` (or, for a background process, its end) fills with the final tables."""

    def __init__(self, proc):
        super().__init__(proc)
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
        else:   # a background process: fill in the tables when it ends
            threading.Thread(target=lambda: (self.proc.done.wait(), self._update()), daemon=True).start()


def show(proc, live=False, interval=0.1, rate=10):
    """The view of `proc` for a notebook output: a `LivePanel` when `live`, else the static tables."""
    if live:
        from .panel import LivePanel
        return LivePanel(proc, interval=interval, rate=rate)
    return StaticResult(proc)
