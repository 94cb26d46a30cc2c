"""The final tables as static HTML (pandas, stable ids) and text: what renders without widget state."""
import html
import itertools
import re

from . import tables
from .timeline import timeline

RECENT = 20
_counter = itertools.count(1)   # per kernel session: ids stay the same when a notebook is re-executed


def status_line(proc) -> str:
    tr = proc.host.trace
    errs = tr.errors()
    dur = f"{proc.duration:.3f} s" if proc.duration is not None else "running"
    if proc.status in ("returned", "exited"):
        word = f"exited {proc.exit_code}"
    else:
        word = proc.status
    return f"{proc.name}: {word} · {tr.calls} calls · {errs} errors · {dur}"


class Static:
    """Status line, open descriptors, closed ones, per-function summary, the last calls and the timeline."""

    def __init__(self, proc):
        self.proc = proc
        self.uid = f"wasix-{re.sub(r'[^A-Za-z0-9]+', '', proc.name) or 'p'}-{next(_counter)}"

    def html(self, fds=None) -> str:
        p, uid = self.proc, self.uid
        fds = tables.fds(p) if fds is None else fds
        parts = [f"<div class='wasix-result'><p><b>{html.escape(status_line(p))}</b></p>",
                 "<h4>descriptors</h4>", tables.styled(fds, uid + "-fds")]
        closed = tables.closed_rows(p, at_exit=False)
        if closed:
            parts += ["<h4>closed</h4>", tables.styled(tables.history_frame(closed), uid + "-closed")]
        summ = tables.summary(p)
        if len(summ):
            parts += ["<h4>per function</h4>", tables.styled(summ, uid + "-summary")]
        tr = p.host.trace
        n = len(tr)
        if n:
            lines = tr.lines(max(0, n - RECENT))
            parts.append(f"<h4>last calls</h4><pre>{html.escape(chr(10).join(lines))}</pre>")
            parts.append(timeline(p).svg)
        parts.append("</div>")
        return "".join(parts)

    def text(self, fds=None) -> str:
        p = self.proc
        fds = tables.fds(p) if fds is None else fds
        out = [status_line(p), fds.to_string(index=False)]
        if len(p.host.trace):
            out.append(p.host.trace.summary_text())
        return "\n".join(out)

    def _repr_mimebundle_(self, include=None, exclude=None):
        fds = tables.fds(self.proc)     # one frame for both forms
        return {"text/plain": self.text(fds), "text/html": self.html(fds)}
