"""pandas DataFrames of the descriptor table, its history, the trace and the per-call summary."""
import pandas as pd

from ..abi import errno as _errno
from ..trace import ARGS, CALL, DUR, ERRNO, FORMAT, MARK, OUTS, START

FD_COLUMNS = ["fd", "kind", "family", "type", "proto", "state", "local", "peer", "flags",
              "bytes_in", "bytes_out", "opened_seq", "closed_seq"]


def fds_frame(rows) -> pd.DataFrame:
    """Descriptor rows (dicts from FdTable.rows()/history_rows()) as a DataFrame indexed by nothing."""
    df = pd.DataFrame(list(rows), columns=FD_COLUMNS)
    return df.astype({"fd": "int64", "proto": "int64", "bytes_in": "int64", "bytes_out": "int64",
                      "opened_seq": "Int64", "closed_seq": "Int64"})


def trace_frame(trace, start: int = 0, stop=None) -> pd.DataFrame:
    """One row per call: seq, t_ns, dur_ns, syscall, errno, errno_name, args (decoded dict), outs, mark."""
    events = trace.events[start:stop]
    t0 = trace.t0
    recs = []
    for i, ev in enumerate(events):
        call = ev[CALL]
        recs.append((
            start + i, ev[START] - t0, ev[DUR], call.name, ev[ERRNO], _errno.name(ev[ERRNO]),
            {n: FORMAT[k](v) for (n, k), v in zip(call.params, ev[ARGS])},
            dict(zip(call.outs, ev[OUTS])) if ev[OUTS] else {},
            ev[MARK] or "",
        ))
    df = pd.DataFrame(recs, columns=["seq", "t_ns", "dur_ns", "syscall", "errno", "errno_name", "args",
                                     "outs", "mark"])
    df = df.astype({"seq": "int64", "t_ns": "int64", "dur_ns": "int64", "errno": "int64"})
    df["syscall"] = df["syscall"].astype("category")
    df["errno_name"] = df["errno_name"].astype("category")
    return df


def summary_frame(trace) -> pd.DataFrame:
    df = pd.DataFrame(trace.summary_rows(), columns=["syscall", "calls", "errors", "total_ns", "mean_ns"])
    return df


def processes_frame(procs) -> pd.DataFrame:
    """`%wasix ps`: one row per process."""
    rows = []
    for p in procs:
        open_rows = p.final_rows if p.final_rows is not None else p.host.fds.rows()
        rows.append({
            "name": p.name, "status": p.status, "exit_code": p.exit_code,
            "sockets": sum(1 for r in open_rows if r["kind"] == "socket" and p.final_rows is None),
            "calls": len(p.host.trace), "errors": p.host.trace.errors(),
            "seconds": round(p.duration, 3) if p.duration is not None else None,
        })
    return pd.DataFrame(rows, columns=["name", "status", "exit_code", "sockets", "calls", "errors", "seconds"])
