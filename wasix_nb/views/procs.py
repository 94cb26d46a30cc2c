"""Processes as tables: the tree of one run (`proc.processes`), who holds which socket or pipe
(`proc.lsof()`, `%wasix lsof NAME`), and `%wasix ps` over every named run.

Rows are built from plain attributes the runtime keeps (pid, parent, name, status, the descriptor
tables); nothing here changes a process.
"""

import html
import sys
import time

MAX_SHOWN = 16  # processes the panel lists (the newest ones past it are counted)

PROCESS_COLUMNS = ["pid", "parent", "program", "state", "fds", "calls", "started", "ended"]
LSOF_COLUMNS = ["kind", "type", "state", "local", "peer", "holders", "pids", "count"]
PS_COLUMNS = [
    "name",
    "pid",
    "parent",
    "program",
    "status",
    "state",
    "exit_code",
    "sockets",
    "calls",
    "errors",
    "seconds",
]


def _root(p):
    return getattr(p, "process", None) or p  # a Result -> its Process


def members(p) -> list:
    """Every process of `p`'s run that is known: alive, zombie, or ended (most recent kept)."""
    root = _root(p)
    table = getattr(root, "procs", None)
    return table.every() if table is not None else [root]


def state_of(proc, frames=None) -> str:
    """running / blocked in X / zombie / exited N / killed / trapped, as `ps` would say it."""
    status = proc.status
    if status == "created":
        return "starting"
    if status == "running" or not proc.done.is_set():
        t = proc.wasm_threads.get(1) if getattr(proc, "wasm_threads", None) else None
        if t is None or t.state != "running":
            return "running"
        try:
            from ..runtime import signals

            text = signals.describe(
                proc, t, frames if frames is not None else sys._current_frames(), proc.futexes.waiting()
            )
        except Exception:  # noqa: BLE001 - a view never fails on a racing thread
            return "running"
        return "running" if text == "running wasm" else text
    ended = f"exited {proc.exit_code}" if status in ("returned", "exited") else status
    if proc.parent is not None and not getattr(proc, "reaped", False) and proc.parent.status == "running":
        return f"zombie ({ended})"
    return ended


def process_rows(p) -> list:
    procs = members(p)
    calls = {}
    root = _root(p)
    for b in root.host.trace.events.brief():  # (call, errno, mark, dur, pid, tid)
        calls[b[4]] = calls.get(b[4], 0) + 1
    frames = sys._current_frames()
    rows = []
    for q in procs:
        table = q.final_rows if q.final_rows is not None else q.host.fds.rows()
        rows.append(
            {
                "pid": q.pid,
                "parent": q.parent.pid if q.parent is not None else 0,
                "program": q.name,
                "state": state_of(q, frames),
                "fds": len(table),
                "calls": calls.get(q.pid, 0),
                "started": q.started,
                "ended": q.started + q.duration if q.duration is not None and q.started else None,
            }
        )
    return rows


def processes_frame(p):
    """One row per process of the run: pid, parent, program, state, open descriptors, calls."""
    import pandas as pd

    return pd.DataFrame(process_rows(p), columns=PROCESS_COLUMNS)


def lsof_rows(p) -> list:
    """Every open socket and pipe of the run with every (pid, fd) that holds it."""
    files = {}
    for q in members(p):
        if q.done.is_set():
            continue
        with q.host.fds.lock:
            entries = list(q.host.fds.entries.values())
        for e in entries:
            f = e.file
            if f.kind not in ("socket", "pipe"):
                continue
            rec = files.setdefault(id(f), [f, []])
            rec[1].append((q.pid, e.fd))
    rows = []
    for f, holders in files.values():
        holders.sort()
        pids = sorted({pid for pid, _ in holders})
        rows.append(
            {
                "kind": f.kind,
                "type": f.type,
                "state": f.state,
                "local": f.local,
                "peer": f.peer,
                "holders": ", ".join(f"pid {pid} fd {fd}" for pid, fd in holders),
                "pids": pids,
                "count": len(holders),
            }
        )
    rows.sort(key=lambda r: (r["pids"], r["holders"]))
    return rows


def lsof_frame(p):
    import pandas as pd

    return pd.DataFrame(lsof_rows(p), columns=LSOF_COLUMNS)


def _seconds(q):
    """The run time once ended; the time so far while it runs."""
    if q.duration is not None:
        return round(q.duration, 3)
    started = getattr(q, "started", None)
    return round(time.time() - started, 3) if started else None


_PS_DTYPES = {
    "pid": "int64",
    "parent": "int64",
    "exit_code": "Int64",
    "sockets": "int64",
    "calls": "int64",
    "errors": "int64",
    "seconds": "float64",
}


def ps_frame(named: dict, stopping=()):
    """`%wasix ps`: every process of every named run, the run's root first and its children under it
    (indented by depth in `program`).  `stopping`: runs a re-run replaced that have not ended yet (B14);
    they stay listed, status "stopping", until they end.  Typed columns (exit_code nullable)."""
    import pandas as pd

    rows = []
    runs = [(name, root, False) for name, root in named.items()] + [(p.name, p, True) for p in stopping]
    for name, root, old in runs:
        calls, errors = {}, {}
        for b in root.host.trace.events.brief():  # (call, errno, mark, dur, pid, tid)
            pid = b[4]
            calls[pid] = calls.get(pid, 0) + 1
            if b[1] not in (0, None):
                errors[pid] = errors.get(pid, 0) + 1
        depth = {}
        for q in members(root):
            depth[q.pid] = depth.get(q.parent.pid, -1) + 1 if q.parent is not None else 0
            running = q.final_rows is None and q.status == "running"
            table = q.host.fds.rows() if running else []
            rows.append(
                {
                    "name": name,
                    "pid": q.pid,
                    "parent": q.parent.pid if q.parent is not None else 0,
                    "program": "  " * depth[q.pid] + q.name,
                    "state": state_of(q),
                    "status": "stopping" if old and running else q.status,
                    "exit_code": q.exit_code,
                    "sockets": sum(1 for r in table if r["kind"] == "socket"),
                    "calls": calls.get(q.pid, 0),
                    "errors": errors.get(q.pid, 0),
                    "seconds": _seconds(q),
                }
            )
    cols = {c: pd.array([r[c] for r in rows], dtype=_PS_DTYPES.get(c, object)) for c in PS_COLUMNS}
    return pd.DataFrame(cols, columns=PS_COLUMNS, copy=False)


def section_html(p) -> str:
    """The live panel's processes section, once the run has forked: the tree with each process's state,
    and every socket or pipe that several processes hold (who holds it)."""
    root = _root(p)
    table = getattr(root, "procs", None)
    if table is None:
        return ""
    esc = html.escape
    procs = table.every()
    frames = sys._current_frames()
    out = [
        '<h4>processes</h4><table class="wx-procs"><tr><th>pid</th><th>parent</th><th>program</th><th>state</th></tr>'
    ]
    shown = procs if len(procs) <= MAX_SHOWN else procs[:1] + procs[-(MAX_SHOWN - 1) :]
    for q in shown:
        state = state_of(q, frames)
        cls = ' class="wx-closed"' if q.done.is_set() else ""
        parent = q.parent.pid if q.parent is not None else ""
        out.append(f"<tr{cls}><td>{q.pid}</td><td>{parent}</td><td>{esc(q.name)}</td><td>{esc(state)}</td></tr>")
    if len(procs) > len(shown):
        out.append(f'<tr><td colspan="4" class="wx-note">… {len(procs) - len(shown)} more (proc.processes)</td></tr>')
    out.append("</table>")
    shared = [r for r in lsof_rows(root) if r["count"] > 1]
    if shared:
        out.append(
            '<h4>shared by several processes</h4><table class="wx-lsof"><tr><th>kind</th><th>state</th>'
            "<th>local</th><th>peer</th><th>held by</th></tr>"
        )
        for r in shared[:MAX_SHOWN]:
            out.append(
                f"<tr><td>{esc(r['kind'])} {esc(r['type'])}</td><td>{esc(r['state'])}</td>"
                f"<td>{esc(r['local'])}</td><td>{esc(r['peer'])}</td><td>{esc(r['holders'])}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)
