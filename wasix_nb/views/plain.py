"""The final tables of a run from plain rows, without pandas: HTML shaped like `DataFrame.to_html`
(same ids and classes as before, so saved notebooks and their CSS stay as they were) and aligned text.

Building two DataFrames and rendering each twice cost ~2 ms per `%%wasix` cell, most of a cached
re-run of a small program; these tables take ~50 us.  The DataFrames stay what `srv.fds`, `srv.summary`
etc. return (views/tables.py builds them, from the same rows these helpers read).
"""

import html
import re

from .. import capture as _cap
from ..trace import _UNSIGNED, ERRNO, FORMAT, NAMED, OUTS, plan_of
from ..host.fdtable import ROW_KEYS

FD_COLUMNS = ROW_KEYS  # the descriptor table's own row layout
SUMMARY_COLUMNS = ("syscall", "calls", "errors", "total_ns", "mean_ns", "unfinished")
_NULLABLE_INT = {"opened_seq", "closed_seq"}  # Int64 columns of the DataFrames: None shows as <NA>


# -- on a Process or a Result -------------------------------------------------------------------
def event_log(p):
    """The Trace (event log) of a Process or a Result."""
    return p.log if hasattr(p, "fd_rows") else p.host.trace


def open_rows(p):
    """The descriptor table as the program left it (or as it is now, while it runs)."""
    if hasattr(p, "fd_rows"):  # a Result
        return p.fd_rows
    return p.final_rows if p.final_rows is not None else p.host.fds.rows()


def closed_rows(p, at_exit=True):
    """Closed descriptors; `at_exit=False` leaves out those the host closed when the program ended."""
    rows = p.history_rows if hasattr(p, "fd_rows") else p.host.fds.history_rows()
    if not at_exit:
        rows = [r for r in rows if r["state"] != "closed at exit"]
    return rows


def fd_arg(call, args):
    """The descriptor a call acts on (its first `fd` parameter), or None."""
    for (_, kind), v in zip(call.params, args):
        if kind == "fd":
            return v
    return None


def typed_args(call, args, cap=None, ev=None) -> dict:
    """A call's arguments as Python values: ints as ints (unsigned kinds unsigned), enum and flag
    values as their names, captured inputs decoded (addresses and paths as strings, iovecs as
    {count, lens, data})."""
    plan = plan_of(call) if cap else None
    out = {}
    for i, ((n, k), v) in enumerate(zip(call.params, args)):
        if plan is not None and i in plan.by_arg and plan.by_arg[i] < len(cap):
            j = plan.by_arg[i]
            kind, _, aux = plan.items[j]
            nb = None
            if plan.io == "in" and j == plan.iov:
                if not (ev is not None and ev[ERRNO] == 0 and ev[OUTS]):
                    out[n] = v & 0xFFFFFFFF
                    continue
                nb = ev[OUTS][0]
            out[n] = _cap.typed(kind, cap[j], args, aux, nb)
        elif k in NAMED:
            out[n] = FORMAT[k](v)
        else:
            mask = _UNSIGNED.get(k)
            out[n] = v & mask if mask else v
    return out


# -- rendering ----------------------------------------------------------------------------------
def _value(col, v):
    if v is None:
        return "<NA>" if col in _NULLABLE_INT else ""
    return str(v)


_SPECIAL = re.compile("[&<>\"']").search


def _html(v, esc=html.escape, special=_SPECIAL):
    if v is None:
        return ""
    v = str(v)
    return esc(v) if special(v) else v  # most cells have nothing to escape


def html_table(rows, columns, uid) -> str:
    """`rows` (dicts) as `DataFrame.to_html(index=False, table_id="T_"+uid, border=0, na_rep="")` shapes
    them: a stable id, escaped cells, an empty cell for a missing value."""
    out = [
        f'<table border="0" class="dataframe wasix" id="T_{html.escape(uid)}">\n  <thead>\n'
        '    <tr style="text-align: right;">\n',
        *(f"      <th>{html.escape(c)}</th>\n" for c in columns),
        "    </tr>\n  </thead>\n  <tbody>\n",
    ]
    for r in rows:
        out.append("    <tr>\n      <td>")
        out.append("</td>\n      <td>".join([_html(r[c]) for c in columns]))
        out.append("</td>\n    </tr>\n")
    out.append("  </tbody>\n</table>")
    return "".join(out)


def text_table(rows, columns) -> str:
    """`rows` as right-aligned columns under their names (what `to_string(index=False)` looks like)."""
    cols = [[c, *[_value(c, r[c]) for r in rows]] for c in columns]
    widths = [max(map(len, col)) for col in cols]
    lines = zip(*[[v.rjust(w) for v in col] for col, w in zip(cols, widths)])
    return "\n".join(map(" ".join, lines))
