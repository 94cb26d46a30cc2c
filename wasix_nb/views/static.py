"""The final tables as static HTML (stable ids) and text: what renders without widget state.  Built from
plain rows (views/plain.py), not DataFrames: pandas is not even imported for a cell's final tables."""

import html
import itertools
import re

from . import plain, procs, stream
from . import threads as threads_view
from .sections import status_text
from .timeline import img_html, timeline

RECENT = 20
_counter = itertools.count(1)  # per kernel session: ids stay the same when a notebook is re-executed


def status_line(proc, summary_rows=None) -> str:
    """'srv: exited 0 · 5 calls · 1 error · 3.2 ms', worded as the live panel words it.  `summary_rows`
    (the trace's, when the caller has them) saves two passes over the trace."""
    tr = proc.host.trace
    if summary_rows is None:
        errors, unfinished = tr.errors(), tr.unfinished()
    else:  # the same counts: errors and calls cut short, recorded or only counted
        errors = sum(r["errors"] for r in summary_rows)
        unfinished = sum(r["unfinished"] for r in summary_rows)
    return status_text(proc.name, proc.status, proc.exit_code, proc.duration, tr.calls, errors, unfinished)


def _section(view, p) -> str:
    """A Process's threads / processes section, as the live panel showed it (nothing for a Result)."""
    try:
        return view.section_html(p)
    except (AttributeError, TypeError):
        return ""


class Static:
    """Status line, open descriptors, closed ones, per-function summary, the last calls and the timeline."""

    def __init__(self, proc, calls=True, summary=True):
        self.proc = proc
        self.calls = calls  # False when the cell prints the trace itself (--trace): no line twice
        self.summary = summary  # False when the cell prints the summary (--summary)
        self.uid = f"wasix-{re.sub(r'[^A-Za-z0-9]+', '', proc.name) or 'p'}-{next(_counter)}"

    def html(self, fds=None, summary_rows=None) -> str:
        p, uid = self.proc, self.uid
        fds = plain.open_rows(p) if fds is None else fds
        rows = p.host.trace.summary_rows() if summary_rows is None else summary_rows
        parts = [
            f"<div class='wasix-result'><p><b>{html.escape(status_line(p, rows))}</b></p>",
            _section(threads_view, p),  # the threads, when it had more than one
            "<h4>descriptors</h4>",
            plain.html_table(fds, plain.FD_COLUMNS, uid + "-fds"),
        ]
        parts.append(procs.section_html(p))  # the process tree, once the run forked ("" otherwise)
        closed = plain.closed_rows(p, at_exit=False)
        if closed:
            parts += ["<h4>closed</h4>", plain.html_table(closed, plain.FD_COLUMNS, uid + "-closed")]
        if self.summary and rows:
            parts += ["<h4>per function</h4>", plain.html_table(rows, plain.SUMMARY_COLUMNS, uid + "-summary")]
        tr = p.host.trace
        n = len(tr)
        if n:
            if self.calls:
                lines = tr.lines(max(0, n - RECENT))
                parts.append(f"<h4>last calls</h4><pre>{html.escape(chr(10).join(lines))}</pre>")
            parts.append(stream.section_html(tr, max_bytes=4096))  # the last socket's conversation
            parts.append(img_html(timeline(p).svg))  # an <img>: untrusted notebooks and GitHub show it
        parts.append("</div>")
        return "".join(parts)

    def text(self, fds=None, summary_rows=None) -> str:
        p = self.proc
        fds = plain.open_rows(p) if fds is None else fds
        out = [status_line(p, summary_rows), plain.text_table(fds, plain.FD_COLUMNS)]
        if getattr(procs._root(p), "procs", None) is not None:
            out.append(procs.processes_frame(p).to_string(index=False))
        if len(p.host.trace) and self.summary:
            out.append(p.host.trace.summary_text())
        return "\n".join(out)

    def _repr_mimebundle_(self, include=None, exclude=None):
        fds = plain.open_rows(self.proc)  # one table and one pass over the trace for both forms
        rows = self.proc.host.trace.summary_rows()
        return {"text/plain": self.text(fds, rows), "text/html": self.html(fds, rows)}
