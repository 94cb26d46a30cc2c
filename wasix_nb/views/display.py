"""What a %%wasix cell shows after (or while) a program runs.

`show(proc, live=...)` returns an object with `_repr_mimebundle_`; the magics display it.  This is the
one place the magics ask for a view, so the live panel plugs in here.
"""
import html

from .tables import fds_frame


def status_line(proc) -> str:
    tr = proc.host.trace
    errs = tr.errors()
    dur = f"{proc.duration:.3f} s" if proc.duration is not None else "running"
    code = "" if proc.exit_code is None else f" {proc.exit_code}"
    return f"{proc.name}: {proc.status}{code} · {len(tr)} calls · {errs} errors · {dur}"


class Static:
    """Final summary line plus the descriptor table (html via pandas, and text)."""

    def __init__(self, proc):
        self.proc = proc

    def _rows(self):
        p = self.proc
        return p.final_rows if p.final_rows is not None else p.host.fds.rows()

    def _repr_mimebundle_(self, include=None, exclude=None):
        df = fds_frame(self._rows())
        line = status_line(self.proc)
        styled = df.style.hide(axis="index").set_uuid(f"wasix-{self.proc.name}-fds")
        return {
            "text/plain": line + "\n" + df.to_string(index=False),
            "text/html": f"<div class='wasix-result'><b>{html.escape(line)}</b>{styled.to_html()}</div>",
        }


def show(proc, live=False):
    return Static(proc)
