"""Hand-built HTML for the live panel's sections (pandas is too slow to run ten times a second).

Highlights are CSS animations.  A section's HTML is replaced on every update, which would restart an
animation from zero, so each highlighted element gets a negative `animation-delay` equal to its age:
the browser resumes the fade where it was, and the highlight ends on time however often we re-render.
"""

import html

from ..trace import ERRNO, MARK, UNFINISHED, format_event
from ..host.fdtable import ROW_KEYS

FLASH_S = 2.0  # how long a new row / state change / close stays highlighted

CSS = """<style>
.wxp{font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:1.35}
.wxp .wx-status{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;margin:2px 0 6px}
.wxp .wx-st{font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff;background:#1f77b4}
.wxp .wx-st.ok{background:#2ca02c}.wxp .wx-st.bad{background:#d62728}
.wxp .wx-gone{display:none;font-weight:bold;color:#d62728}
.jupyter-widgets-disconnected .wxp .wx-st.live{display:none}
.jupyter-widgets-disconnected .wxp .wx-gone{display:inline}
.wxp table{border-collapse:collapse;margin:2px 0 8px}
.wxp th{text-align:left;font-weight:600;border-bottom:1px solid #999;padding:1px 8px 1px 2px}
.wxp td{padding:1px 8px 1px 2px;border-bottom:1px solid #eee;white-space:nowrap}
.wxp h4{margin:6px 0 2px;font-family:var(--jp-ui-font-family,sans-serif);font-size:12px}
.wxp .wx-note{color:#777;font-style:italic}
.wxp tr.wx-new{animation:wx-new 2s linear both}
.wxp td.wx-flash{animation:wx-flash 2s linear both}
.wxp tr.wx-gone{animation:wx-gone 2s linear both}
.wxp tr.wx-closed{opacity:.55}
.wxp .wx-err{color:#d62728}.wxp .wx-inj{color:#b35900}.wxp .wx-unf{color:#8c6d00;font-style:italic}
.wxp .wx-calls div{white-space:pre}
.wxp .wx-cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
@keyframes wx-new{from{background:#b7f0b1}to{background:transparent}}
@keyframes wx-flash{from{background:#ffe066}to{background:transparent}}
@keyframes wx-gone{from{background:#f8c4c4;opacity:1}to{background:transparent;opacity:.55}}
</style>"""

# one vocabulary: the headers are the DataFrame column names (srv.fds, srv.history, srv.summary), and the
# values are shown as the saved tables show them
FD_KEYS = [k for k in ROW_KEYS if k != "closed_seq"]  # an open descriptor has no closing call yet
CLOSED_KEYS = list(ROW_KEYS)
MAX_OPEN, MAX_CLOSED, RECENT = 64, 12, 12

_esc = html.escape


def _anim(cls, age):
    """`class=… style=animation-delay:-age` while the highlight lasts, else nothing."""
    if age is None or age >= FLASH_S:
        return ""
    return f' class="{cls}" style="animation-delay:-{age:.2f}s"'


def _cell(key, v):
    return "" if v is None else _esc(str(v))


def plural(n, word):
    """'1 call', '2 calls'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def duration(seconds) -> str:
    """Under 0.1 s in ms ('3.2 ms'), else seconds ('1.25 s', '73.4 s')."""
    if seconds is None:
        return ""
    if seconds < 0.1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def status_word(status, exit_code) -> str:
    """One word for how a process stands, the same in the panel, the saved tables and `%wasix ps`."""
    if status in ("returned", "exited"):
        return f"exited {exit_code}"
    if status == "created":
        return "starting"
    return status


def status_text(name, status, exit_code, seconds, ncalls, nerrors, unfinished=0) -> str:
    """'srv: exited 0 · 5 calls · 1 error · 3.2 ms' (the status line of every view); calls cut short
    by a kill or timeout add '· 1 unfinished'."""
    parts = [f"{name}: {status_word(status, exit_code)}", plural(ncalls, "call"), plural(nerrors, "error")]
    if unfinished:
        parts.append(f"{unfinished} unfinished")
    if seconds is not None:
        parts.append(duration(seconds))
    return " · ".join(parts)


def status_html(name, status, exit_code, elapsed, ncalls, nerrors, note="", unfinished=0):
    word = status_word(status, exit_code)
    if status in ("returned", "exited"):
        cls = "ok" if exit_code == 0 else "bad"
    elif status in ("running", "created", "stopping"):
        cls = "live"
    else:
        cls = "bad"
    t = f" · {duration(elapsed)}" if elapsed is not None else ""
    errs = f'<span class="wx-err">{plural(nerrors, "error")}</span>' if nerrors else "0 errors"
    if unfinished:
        errs += f' · <span class="wx-unf">{unfinished} unfinished</span>'
    extra = f' <span class="wx-note">{_esc(note)}</span>' if note else ""
    # after a kernel restart ipywidgets marks the view `jupyter-widgets-disconnected`: CSS then swaps the
    # frozen "running" for what is true (the process died with its kernel)
    gone = '<span class="wx-gone"> process gone (its kernel stopped)</span>' if cls == "live" else ""
    return (
        f'<div class="wx-status"><b>{_esc(name)}</b>: <span class="wx-st {cls}">{_esc(word)}</span>{gone}'
        f" · {plural(ncalls, 'call')} · {errs}{t}{extra}</div>"
    )


def fd_table_html(rows, ages, flashes):
    """Open descriptors; `ages[key]` = seconds since the row appeared, `flashes[key]` since its state
    changed (key = (fd, opened_seq))."""
    out = ['<h4>descriptors</h4><table class="wx-fds"><tr>', *(f"<th>{h}</th>" for h in FD_KEYS), "</tr>"]
    for r in rows[:MAX_OPEN]:
        key = (r["fd"], r["opened_seq"])
        out.append(f"<tr{_anim('wx-new', ages.get(key))}>")
        for k in FD_KEYS:
            attr = _anim("wx-flash", flashes.get(key)) if k == "state" else ""
            out.append(f"<td{attr}>{_cell(k, r[k])}</td>")
        out.append("</tr>")
    out.append("</table>")
    if len(rows) > MAX_OPEN:
        out.append(f'<div class="wx-note">… {len(rows) - MAX_OPEN} more open descriptors</div>')
    return "".join(out)


def closed_html(rows, ages):
    """The last closed descriptors, newest last; they fade in from red to grey."""
    if not rows:
        return ""
    shown = rows[-MAX_CLOSED:]
    out = ['<h4>closed</h4><table class="wx-closed-t"><tr>', *(f"<th>{h}</th>" for h in CLOSED_KEYS), "</tr>"]
    if len(rows) > MAX_CLOSED:
        out.append(f'<tr><td colspan="{len(CLOSED_KEYS)}" class="wx-note">… {len(rows) - MAX_CLOSED} earlier</td></tr>')
    for r in shown:
        key = (r["fd"], r["opened_seq"], r["closed_seq"])
        anim = _anim("wx-gone", ages.get(key)) or ' class="wx-closed"'
        out.append(f"<tr{anim}>" + "".join(f"<td>{_cell(k, r[k])}</td>" for k in CLOSED_KEYS) + "</tr>")
    out.append("</table>")
    return "".join(out)


def calls_html(events, start, t0):
    """Recent calls, strace-style; failed calls red (with errno names), injected results marked."""
    out = ['<div class="wx-calls"><h4>recent calls</h4>']
    if start > 0:
        out.append(f'<div class="wx-note">… {start} earlier</div>')
    for seq, ev in enumerate(events, start):
        line = _esc(format_event(seq, ev, t0))
        mark = ev[MARK] or ""
        if mark.startswith("injected"):
            out.append(f'<div class="wx-inj">⚑ {line}</div>')
        elif ev[ERRNO] is None and ev[MARK] in UNFINISHED:
            out.append(f'<div class="wx-unf">{line}</div>')
        elif ev[ERRNO]:
            out.append(f'<div class="wx-err">{line}</div>')
        else:
            out.append(f"<div>{line}</div>")
    out.append("</div>")
    return "".join(out)


def summary_html(acc):
    """`acc`: name -> [calls, errors, total_ns, unfinished] (the columns of `proc.summary`)."""
    rows = sorted(acc.items(), key=lambda kv: -kv[1][2])
    out = [
        '<div><h4>per function</h4><table class="wx-summary"><tr><th>syscall</th><th>calls</th>'
        "<th>errors</th><th>total_ns</th><th>mean_ns</th><th>unfinished</th></tr>"
    ]
    for name, row in rows:
        c, e, t = row[:3]
        u = row[3] if len(row) > 3 else 0
        err = f'<span class="wx-err">{e}</span>' if e else "0"
        unf = f'<span class="wx-unf">{u}</span>' if u else "0"
        out.append(
            f"<tr><td>{_esc(name)}</td><td>{c}</td><td>{err}</td><td>{t}</td><td>{t // c}</td><td>{unf}</td></tr>"
        )
    out.append("</table></div>")
    return "".join(out)
