"""Threads: the `proc.threads` DataFrame and the live panel's threads section.

Both are built from `Process.thread_rows()` (or the rows a Result kept), one dict per thread: tid,
state ("running wasm", "blocked in futex_wait on 0x…", "blocked in sock_accept on fd 3", "exited with
code 0"…), calls made, which call started it.  What every thread is blocked on right now is the
question a deadlock asks.
"""

import html

THREAD_COLUMNS = ["tid", "state", "calls", "started_by", "entry", "started", "ended"]
MAX_SHOWN = 64


def rows_of(p):
    rows = getattr(p, "thread_rows", None)
    return rows() if callable(rows) else list(rows or [])


def frame(rows):
    import pandas as pd

    rows = list(rows)
    cols = {c: [r.get(c) for r in rows] for c in THREAD_COLUMNS}
    df = pd.DataFrame(cols, columns=THREAD_COLUMNS)
    df["calls"] = df["calls"].astype("Int64")
    for c in ("started", "ended"):
        df[c] = pd.to_datetime(df[c], unit="s")
    return df


def threads(p):
    """A Process's or a Result's threads as a DataFrame."""
    return frame(rows_of(p))


def section_html(p) -> str:
    """The panel's threads section: shown once the program has more than its main thread."""
    rows = rows_of(p)
    if len(rows) < 2:
        return ""
    esc = html.escape
    out = [
        '<h4>threads</h4><table class="wx-threads"><tr><th>tid</th><th>state</th><th>calls</th><th>started by</th></tr>'
    ]
    for r in rows[:MAX_SHOWN]:
        cls = ' class="wx-closed"' if r["state"].startswith(("exited", "stopped", "trapped", "called")) else ""
        out.append(
            f"<tr{cls}><td>{r['tid']}</td><td>{esc(r['state'])}</td><td>{r['calls']}</td>"
            f"<td>{esc(r['started_by'])}</td></tr>"
        )
    if len(rows) > MAX_SHOWN:
        out.append(f'<tr><td colspan="4" class="wx-note">… {len(rows) - MAX_SHOWN} more threads</td></tr>')
    out.append("</table>")
    return "".join(out)
