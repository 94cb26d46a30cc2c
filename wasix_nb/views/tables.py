"""pandas DataFrames of the descriptor table, its history, the trace, the per-call summary and the payloads.

Each `*_frame` function takes plain data (rows or a Trace); `fds(proc)`, `history(proc)`, `calls(proc)`,
`summary(proc)` and `io(proc)` take a Process or a Result.  `styled(df, uid)` gives deterministic HTML
(a stable id).
"""

import pandas as pd

from ..abi import errno as _errno
from .plain import closed_rows, event_log, fd_arg, open_rows, typed_args  # noqa: F401  (pandas-free)
from ..trace import ARGS, CALL, CAP, DUR, ERRNO, MARK, OUTS, PID, START, TID, state_of
from ..host.fdtable import ROW_KEYS

FD_COLUMNS = list(ROW_KEYS)
CALL_COLUMNS = [
    "seq",
    "t_ns",
    "dur_ns",
    "pid",
    "tid",
    "syscall",
    "fd",
    "errno",
    "errno_name",
    "state",
    "args",
    "outs",
    "mark",
]
SUMMARY_COLUMNS = ["syscall", "calls", "errors", "total_ns", "mean_ns", "unfinished"]
IO_COLUMNS = ["seq", "t_ns", "pid", "tid", "fd", "direction", "nbytes", "data", "peer"]


_FD_DTYPES = {
    "fd": "int64",
    "proto": "int64",
    "bytes_in": "int64",
    "bytes_out": "int64",
    "opened_seq": "Int64",
    "closed_seq": "Int64",
}


def fds_frame(rows) -> pd.DataFrame:
    """Descriptor rows (dicts from FdTable.rows()/history_rows()) as a DataFrame."""
    rows = list(rows)
    # typed column by column: several times faster than DataFrame(rows).astype(...) (every cell shows one)
    cols = {c: pd.array([r[c] for r in rows], dtype=_FD_DTYPES.get(c, object)) for c in FD_COLUMNS}
    return pd.DataFrame(cols, columns=FD_COLUMNS, copy=False)


def history_frame(rows) -> pd.DataFrame:
    """Closed descriptors, oldest close first (the same columns as `fds_frame`)."""
    return fds_frame(rows)


def trace_frame(trace, start: int = 0, stop=None) -> pd.DataFrame:
    """One row per call: seq, t_ns (since the trace began), dur_ns, pid, tid, syscall (category, the
    name the program imported), fd (the fd argument, nullable), errno (nullable: <NA> for a call that
    never returned), errno_name and state (categories: ok, error, exit, killed, timeout, interrupted,
    unfinished), args (dict of typed values), outs (dict), mark."""
    events = trace.events[start:stop]
    t0 = trace.t0
    recs = []
    for i, ev in enumerate(events):
        call = ev[CALL]
        err = ev[ERRNO]
        recs.append(
            (
                start + i,
                ev[START] - t0,
                ev[DUR],
                ev[PID],
                ev[TID],
                call.name,
                fd_arg(call, ev[ARGS]),
                err,
                _errno.name(err) if err is not None else "",
                state_of(ev),
                typed_args(call, ev[ARGS], ev[CAP], ev),
                dict(zip(call.outs, ev[OUTS])) if ev[OUTS] else {},
                (ev[MARK] or "") if err is not None else "",
            )
        )
    cols = list(zip(*recs)) if recs else [()] * len(CALL_COLUMNS)
    dtypes = {
        "seq": "int64",
        "t_ns": "int64",
        "dur_ns": "int64",
        "pid": "int64",
        "tid": "int64",
        "syscall": "category",
        "fd": "Int64",
        "errno": "Int64",
        "errno_name": "category",
        "state": "category",
    }
    data = {c: pd.array(list(v), dtype=dtypes.get(c, object)) for c, v in zip(CALL_COLUMNS, cols)}
    return pd.DataFrame(data, columns=CALL_COLUMNS, copy=False)


def io_frame(trace) -> pd.DataFrame:
    """Every payload in order: seq (of the call), t_ns, pid, tid, fd, direction ('in' read, 'out'
    written), nbytes (exact), data (bytes: the first `capture` bytes), peer (the other end: an address,
    `stdout`, a pipe...)."""
    rows = trace.io_rows()
    cols = list(zip(*rows)) if rows else [()] * len(IO_COLUMNS)
    dtypes = {
        "seq": "int64",
        "t_ns": "int64",
        "pid": "int64",
        "tid": "int64",
        "fd": "int64",
        "direction": "category",
        "nbytes": "int64",
    }
    data = {c: pd.array(list(v), dtype=dtypes.get(c, object)) for c, v in zip(IO_COLUMNS, cols)}
    return pd.DataFrame(data, columns=IO_COLUMNS, copy=False)


def summary_frame(trace) -> pd.DataFrame:
    """Per-function calls, errors, total and mean time (ns), the slowest in total first."""
    rows = trace.summary_rows()
    cols = {c: [r[c] for r in rows] for c in SUMMARY_COLUMNS}
    cols = {c: pd.array(v, dtype=object if c == "syscall" else "int64") for c, v in cols.items()}
    return pd.DataFrame(cols, columns=SUMMARY_COLUMNS, copy=False)


# -- on a Process or a Result (their rows: event_log, open_rows, closed_rows, from plain.py) ------
def fds(p) -> pd.DataFrame:
    return fds_frame(open_rows(p))


def history(p) -> pd.DataFrame:
    return history_frame(closed_rows(p))


def calls(p) -> pd.DataFrame:
    return trace_frame(event_log(p))


def summary(p) -> pd.DataFrame:
    return summary_frame(event_log(p))


def io(p) -> pd.DataFrame:
    """The conversation: every payload read or written, in order (see `io_frame`)."""
    return io_frame(event_log(p))


def styled(df: pd.DataFrame, uid: str) -> str:
    """Table HTML with a stable id, so saved notebooks diff cleanly.  `DataFrame.to_html` rather than
    the Styler: no random ids, no jinja2, and about 2.5x faster (every %%wasix cell renders three)."""
    return df.to_html(index=False, table_id=f"T_{uid}", border=0, na_rep="", classes="dataframe wasix")
