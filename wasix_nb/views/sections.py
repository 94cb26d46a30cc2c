"""Hand-built HTML for the live panel's sections (pandas is too slow to run ten times a second).

Highlights are CSS animations.  A section's HTML is replaced on every update, which would restart an
animation from zero, so each highlighted element gets a negative `animation-delay` equal to its age:
the browser resumes the fade where it was, and the highlight ends on time however often we re-render.
"""
import html

from ..trace import ERRNO, MARK, format_event

FLASH_S = 2.0   # how long a new row / state change / close stays highlighted

CSS = """<style>
.wxp{font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:1.35}
.wxp .wx-status{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;margin:2px 0 6px}
.wxp .wx-st{font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff;background:#1f77b4}
.wxp .wx-st.ok{background:#2ca02c}.wxp .wx-st.bad{background:#d62728}
.wxp table{border-collapse:collapse;margin:2px 0 8px}
.wxp th{text-align:left;font-weight:600;border-bottom:1px solid #999;padding:1px 8px 1px 2px}
.wxp td{padding:1px 8px 1px 2px;border-bottom:1px solid #eee;white-space:nowrap}
.wxp h4{margin:6px 0 2px;font-family:var(--jp-ui-font-family,sans-serif);font-size:12px}
.wxp .wx-note{color:#777;font-style:italic}
.wxp tr.wx-new{animation:wx-new 2s linear both}
.wxp td.wx-flash{animation:wx-flash 2s linear both}
.wxp tr.wx-gone{animation:wx-gone 2s linear both}
.wxp tr.wx-closed{opacity:.55}
.wxp .wx-err{color:#d62728}.wxp .wx-inj{color:#b35900}
.wxp .wx-calls div{white-space:pre}
.wxp .wx-cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
@keyframes wx-new{from{background:#b7f0b1}to{background:transparent}}
@keyframes wx-flash{from{background:#ffe066}to{background:transparent}}
@keyframes wx-gone{from{background:#f8c4c4;opacity:1}to{background:transparent;opacity:.55}}
</style>"""

FD_HEAD = ["fd", "kind", "family", "type", "proto", "state", "local", "peer", "flags", "bytes in", "bytes out",
           "opened at"]
FD_KEYS = ["fd", "kind", "family", "type", "proto", "state", "local", "peer", "flags", "bytes_in", "bytes_out",
           "opened_seq"]
MAX_OPEN, MAX_CLOSED, RECENT = 64, 12, 12

_esc = html.escape


def _anim(cls, age):
    """`class=… style=animation-delay:-age` while the highlight lasts, else nothing."""
    if age is None or age >= FLASH_S:
        return ""
    return f' class="{cls}" style="animation-delay:-{age:.2f}s"'


def _cell(key, v):
    if key in ("opened_seq", "closed_seq"):
        return "" if v is None else f"#{v}"
    if key == "proto":
        return str(v) if v else ""
    return _esc(str(v))


def status_html(name, status, exit_code, elapsed, ncalls, nerrors, note=""):
    if status == "running":
        word, cls = "running", ""
    elif status in ("returned", "exited"):
        word, cls = f"exited {exit_code}", "ok" if exit_code == 0 else "bad"
    elif status == "created":
        word, cls = "starting", ""
    else:
        word, cls = status, "bad"
    t = f"{elapsed:.1f} s" if elapsed is not None else ""
    word_e = "error" if nerrors == 1 else "errors"
    errs = f'<span class="wx-err">{nerrors} {word_e}</span>' if nerrors else "0 errors"
    extra = f' <span class="wx-note">{_esc(note)}</span>' if note else ""
    return (f'<div class="wx-status"><b>{_esc(name)}</b> <span class="wx-st {cls}">{_esc(word)}</span>'
            f' · {t} · {ncalls} calls · {errs}{extra}</div>')


def fd_table_html(rows, ages, flashes):
    """Open descriptors; `ages[key]` = seconds since the row appeared, `flashes[key]` since its state
    changed (key = (fd, opened_seq))."""
    out = ['<h4>descriptors</h4><table class="wx-fds"><tr>', *(f"<th>{h}</th>" for h in FD_HEAD), "</tr>"]
    for r in rows[:MAX_OPEN]:
        key = (r["fd"], r["opened_seq"])
        out.append(f"<tr{_anim('wx-new', ages.get(key))}>")
        stdio = r["kind"] in ("stdin", "stdout", "stderr")
        for k in FD_KEYS:
            if k == "opened_seq" and stdio:
                out.append("<td>start</td>")   # opened by the host before the first call
                continue
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
    out = ['<h4>closed</h4><table class="wx-closed-t"><tr><th>fd</th><th>kind</th><th>family</th><th>type</th>'
           '<th>state</th><th>local</th><th>peer</th><th>bytes in</th><th>bytes out</th>'
           '<th>opened at</th><th>closed at</th></tr>']
    if len(rows) > MAX_CLOSED:
        out.append(f'<tr><td colspan="11" class="wx-note">… {len(rows) - MAX_CLOSED} earlier</td></tr>')
    for r in shown:
        key = (r["fd"], r["opened_seq"], r["closed_seq"])
        anim = _anim("wx-gone", ages.get(key)) or ' class="wx-closed"'
        out.append(f"<tr{anim}>" + "".join(f"<td>{_cell(k, r[k])}</td>" for k in (
            "fd", "kind", "family", "type", "state", "local", "peer", "bytes_in", "bytes_out",
            "opened_seq", "closed_seq")) + "</tr>")
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
        elif ev[ERRNO]:
            out.append(f'<div class="wx-err">{line}</div>')
        else:
            out.append(f"<div>{line}</div>")
    out.append("</div>")
    return "".join(out)


def summary_html(acc):
    """`acc`: name -> [calls, errors, total_ns]."""
    rows = sorted(acc.items(), key=lambda kv: -kv[1][2])
    out = ['<div><h4>per function</h4><table class="wx-summary"><tr><th>syscall</th><th>calls</th>'
           '<th>errors</th><th>total ms</th><th>mean µs</th></tr>']
    for name, (c, e, t) in rows:
        err = f'<span class="wx-err">{e}</span>' if e else ""
        out.append(f"<tr><td>{_esc(name)}</td><td>{c}</td><td>{err}</td><td>{t / 1e6:.3f}</td>"
                   f"<td>{t / c / 1e3:.2f}</td></tr>")
    out.append("</table></div>")
    return "".join(out)

