"""Saved traces back to text: what `python -m wasix_nb trace FILE` prints."""

import sys

from ..trace import load_jsonl


def save_trace(p, path) -> str:
    """Write the trace of a Process or Result as JSON lines (`Trace.to_jsonl`); returns the path."""
    from .tables import event_log

    trace = event_log(p)
    with open(path, "w", encoding="utf-8") as fp:
        trace.to_jsonl(fp)
    return str(path)


def trace_text(path, summary=False, strsize=None) -> str:
    """The strace-style lines of a saved trace (strings shown up to `strsize` bytes, default 32), or its
    `strace -c` style summary."""
    with open(path, encoding="utf-8") as fp:
        trace = load_jsonl(fp)
    return trace.summary_text() if summary else trace.text(strsize=strsize)


def print_trace(path, summary=False, file=None, strsize=None) -> int:
    """Print a saved trace (or its summary) to `file` (stdout); returns 0, for use as an exit status."""
    text = trace_text(path, summary, strsize)
    out = file or sys.stdout
    if text:
        out.write(text + "\n")
    return 0
