"""pandas DataFrames of the descriptor table, its history, the trace and the per-call summary.

Each `*_frame` function takes plain data (rows or a Trace); `fds(proc)`, `history(proc)`, `calls(proc)` and
`summary(proc)` take a Process or a Result.  `styled(df, uid)` gives deterministic HTML (a stable id).
"""
import pandas as pd

from ..abi import errno as _errno
from ..trace import ARGS, CALL, DUR, ERRNO, FORMAT, MARK, OUTS, START

FD_COLUMNS = ["fd", "kind", "family", "type", "proto", "state", "local", "peer", "flags",
              "bytes_in", "bytes_out", "opened_seq", "closed_seq"]
CALL_COLUMNS = ["seq", "t_ns", "dur_ns", "syscall", "fd", "errno", "errno_name", "args", "outs", "mark"]
SUMMARY_COLUMNS = ["syscall", "calls", "errors", "total_ns", "mean_ns"]


_FD_DTYPES = {"fd": "int64", "proto": "int64", "bytes_in": "int64", "bytes_out": "int64",
              "opened_seq": "Int64", "closed_seq": "Int64"}


def fds_frame(rows) -> pd.DataFrame:
    """Descriptor rows (dicts from FdTable.rows()/history_rows()) as a DataFrame."""
    rows = list(rows)
    # typed column by column: several times faster than DataFrame(rows).astype(...) (every cell shows one)
    cols = {c: pd.array([r[c] for r in rows], dtype=_FD_DTYPES.get(c, object)) for c in FD_COLUMNS}
    return pd.DataFrame(cols, columns=FD_COLUMNS, copy=False)


def history_frame(rows) -> pd.DataFrame:
    """Closed descriptors, oldest close first (the same columns as `fds_frame`)."""
    return fds_frame(rows)


def fd_arg(call, args):
    """The descriptor a call acts on (its first `fd` parameter), or None."""
    for (_, kind), v in zip(call.params, args):
        if kind == "fd":
            return v
    return None


def trace_frame(trace, start: int = 0, stop=None) -> pd.DataFrame:
    """One row per call: seq, t_ns (since the trace began), dur_ns, syscall (category), fd (the fd
    argument, nullable), errno, errno_name (category), args (decoded dict), outs (dict), mark."""
    events = trace.events[start:stop]
    t0 = trace.t0
    recs = []
    for i, ev in enumerate(events):
        call = ev[CALL]
        recs.append((
            start + i, ev[START] - t0, ev[DUR], call.name, fd_arg(call, ev[ARGS]), ev[ERRNO],
            _errno.name(ev[ERRNO]),
            {n: FORMAT[k](v) for (n, k), v in zip(call.params, ev[ARGS])},
            dict(zip(call.outs, ev[OUTS])) if ev[OUTS] else {},
            ev[MARK] or "",
        ))
    df = pd.DataFrame(recs, columns=CALL_COLUMNS)
    df = df.astype({"seq": "int64", "t_ns": "int64", "dur_ns": "int64", "fd": "Int64", "errno": "int64"})
    df["syscall"] = df["syscall"].astype("category")
    df["errno_name"] = df["errno_name"].astype("category")
    return df


def summary_frame(trace) -> pd.DataFrame:
    """Per-function calls, errors, total and mean time (ns), the slowest in total first."""
    rows = trace.summary_rows()
    cols = {c: [r[c] for r in rows] for c in SUMMARY_COLUMNS}
    cols = {c: pd.array(v, dtype=object if c == "syscall" else "int64") for c, v in cols.items()}
    return pd.DataFrame(cols, columns=SUMMARY_COLUMNS, copy=False)


# -- on a Process or a Result -------------------------------------------------------------------
def event_log(p):
    """The Trace (event log) of a Process or a Result."""
    return p.log if hasattr(p, "fd_rows") else p.host.trace


def open_rows(p):
    """The descriptor table as the program left it (or as it is now, while it runs)."""
    if hasattr(p, "fd_rows"):                       # a Result
        return p.fd_rows
    return p.final_rows if p.final_rows is not None else p.host.fds.rows()


def closed_rows(p, at_exit=True):
    """Closed descriptors; `at_exit=False` leaves out those the host closed when the program ended."""
    rows = p.history_rows if hasattr(p, "fd_rows") else p.host.fds.history_rows()
    if not at_exit:
        rows = [r for r in rows if r["state"] != "closed at exit"]
    return rows


def fds(p) -> pd.DataFrame:
    return fds_frame(open_rows(p))


def history(p) -> pd.DataFrame:
    return history_frame(closed_rows(p))


def calls(p) -> pd.DataFrame:
    return trace_frame(event_log(p))


def summary(p) -> pd.DataFrame:
    return summary_frame(event_log(p))


def styled(df: pd.DataFrame, uid: str) -> str:
    """Table HTML with a stable id, so saved notebooks diff cleanly.  `DataFrame.to_html` rather than
    the Styler: no random ids, no jinja2, and about 2.5x faster (every %%wasix cell renders three)."""
    return df.to_html(index=False, table_id=f"T_{uid}", border=0, na_rep="", classes="dataframe wasix")


def processes_frame(procs) -> pd.DataFrame:
    """`%wasix ps`: one row per process."""
    rows = []
    for p in procs:
        running = p.final_rows is None and p.status == "running"
        rows.append({
            "name": p.name, "status": p.status, "exit_code": p.exit_code,
            "sockets": sum(1 for r in open_rows(p) if r["kind"] == "socket") if running else 0,
            "calls": p.host.trace.calls, "errors": p.host.trace.errors(),
            "seconds": round(p.duration, 3) if p.duration is not None else None,
        })
    return pd.DataFrame(rows, columns=["name", "status", "exit_code", "sockets", "calls", "errors", "seconds"])
