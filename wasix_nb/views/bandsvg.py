"""The timeline of a run with several processes: one band per process, fork -> exit.

Each band has a header row (`pid N program · ppid P`, a bar for the process's life, an exec mark where
the program changes, the exit status where it ended, a dashed zombie tail until its parent joined it)
and under it the process's own lanes: its threads (when it has several) and its descriptors.  A
descriptor inherited through fork is in the child's table too, so it shows in both bands, each closed
where that process closed it.  A teal line goes down from where the parent called fork (or spawn) to the
child's band, which starts there.

Kept readable for a forking server that has made many children: the first process and the newest
MAX_BANDS - 1 get a band, the others share one row of thin bars; a child band has at most CHILD_LANES
descriptor lanes, and leaves out the stdin/stdout/stderr and preopened directories it inherited and left
as they were (its parent's band has them; a renumbered or closed one is drawn).
"""

import html

from .bands import shown as _shown
from .timeline import (
    LANE,
    MAX_LANES,
    RIGHT,
    TOP,
    WIDTH,
    axis,
    colour_keys,
    draw_bars,
    draw_labels,
    draw_marks,
    draw_threads,
    head,
    legend,
    plan_lanes,
)

LEFT_B = 150  # room for "pid 12 program · ppid 1"
CHILD_LANES = 8
GAP = 4
FORK, EXEC = "#00897b", "#e377c2"  # mid-luminance: readable on the light card and on a dark theme
BAND_STYLE = (
    "<style>.wx-tl-band{fill:var(--jp-layout-color2,#f0f0f0)}"
    ".wx-tl-life{fill:var(--jp-ui-font-color2,#555)}"
    ".wx-tl-line{stroke:var(--jp-ui-font-color1,#1a1a1a)}</style>"
)
LABEL_CHARS = 25


def _as_inherited(row) -> bool:
    return row["kind"] in ("stdin", "stdout", "stderr") or row["type"] == "preopen"


def _plan(b, first, marks):
    open_ = b.open_ if first else [r for r in b.open_ if not _as_inherited(r)]
    mine = [m for m in marks if (m[3] if len(m) > 3 else 1) == b.pid]
    return plan_lanes(open_, b.closed, mine, b.threads, MAX_LANES if first else CHILD_LANES)


def _short(text, n=LABEL_CHARS):
    return text if len(text) <= n else text[: n - 1] + "…"


def _ms(ns):
    return f"+{ns / 1e6:.3f} ms" if ns is not None else "?"


def render_bands(trace, bands, end_ns=None, marks=(), title="descriptor timeline") -> str:
    events, t0 = trace.events, trace.t0
    lo, end_ns, x = axis(events, t0, end_ns, LEFT_B)
    shown, collapsed = _shown(bands)
    plans, y = [], TOP
    for i, b in enumerate(shown):
        plan = _plan(b, i == 0, marks)
        plans.append((b, y, plan))
        y += LANE * (1 + len(plan[1])) + GAP
    collapsed_y = y
    if collapsed:
        y += LANE + GAP
    height = y + 38  # two legend lines
    out = []
    head(out, height, f"{title} · {len(bands)} processes", lo, end_ns, x, BAND_STYLE, bottom=y)
    life_y = {}
    for b, by, (bars, order, bmarks, threads, _) in plans:
        end = b.end_ns if b.end_ns is not None else end_ns
        rows = 1 + len(order)
        out.append(f'<rect class="wx-tl-band" x="2" y="{by}" width="{WIDTH - 4}" height="{rows * LANE}" rx="3"/>')
        _header(out, b, by, x, end, end_ns, bands)
        life_y[b.pid] = by + 12
        y_of = {lane: by + LANE * (i + 1) for i, lane in enumerate(order)}
        draw_labels(out, order, y_of, LEFT_B)
        since = lo if b.pid == shown[0].pid else max(lo, b.start_ns)  # where its stdio bars begin
        draw_bars(out, events, t0, since, end, x, y_of, bars, f"pid {b.pid} ", b.inherited_seq)
        draw_threads(out, x, y_of, threads, end, f"pid {b.pid} ")
        draw_marks(out, x, y_of, bmarks, by)
    for b, by, _ in plans:  # fork marks over the bands they cross
        if b.born_ns is None:
            continue
        xx, y2 = x(b.born_ns), life_y[b.pid]
        tip = f"pid {b.parent} called {b.how or 'fork'} at {_ms(b.born_ns)}, which made pid {b.pid}"
        if b.first_ns is not None:
            tip += f" (its first call at {_ms(b.first_ns)})"
        y1 = life_y.get(b.parent)
        line = (
            f'<path d="M{xx:.1f} {y1}V{y2 - 5}" stroke="{FORK}" stroke-width="1.5" fill="none"/>'
            f'<circle cx="{xx:.1f}" cy="{y1}" r="2.5" fill="{FORK}"/>'
            if y1 is not None
            else ""
        )
        out.append(
            f'<g class="wx-fork"><title>{html.escape(tip)}</title>{line}'
            f'<path d="M{xx - 3:.1f} {y2 - 6}l6 0l-3 5z" fill="{FORK}"/></g>'
        )
    if collapsed:
        _collapsed(out, collapsed, collapsed_y, x, end_ns)
    _legend(out, plans, marks, height, collapsed)
    out.append("</svg>")
    return "".join(out)


def _header(out, b, by, x, end, end_ns, bands):
    """The band's header row: label, life bar, exec marks, exit status, zombie tail."""
    esc = html.escape
    x1, x2 = x(b.start_ns), x(end)
    how = f", made by {b.how} in pid {b.parent}" if b.parent else ", the run's first process"
    tip = f"pid {b.pid} ({b.program}){how}; {b.state}"
    out.append(
        f'<text class="wx-tl-fg wx-band-label" x="6" y="{by + 11}" font-weight="bold">{esc(_short(b.label))}'
        f"<title>{esc(tip)}</title></text>"
        f'<rect class="wx-tl-life wx-life" x="{x1:.1f}" y="{by + 10}" width="{max(x2 - x1, 2):.1f}" height="4" rx="1">'
        f"<title>{esc(tip)}</title></rect>"
    )
    # the exit status right of its mark (left of it at the right edge), exec names right of theirs,
    # or left when the next label is too close: placed right to left, none over another
    limit = WIDTH - RIGHT
    if b.end_ns is not None:
        text = b.exit_text or "ended"
        w = _width(text)
        tx, anchor = (x2 + 4, "start") if x2 + 4 + w <= limit else (x2 - 4, "end")
        limit = tx if anchor == "start" else tx - w
        out.append(
            f'<g class="wx-exit"><title>{esc(f"pid {b.pid} {text} at {_ms(b.end_ns)}")}</title>'
            f'<path class="wx-tl-line" d="M{x2:.1f} {by + 6}v10" stroke-width="2"/>'
            f'<text class="wx-tl-dim" x="{tx:.1f}" y="{by + 8}" font-size="9" text-anchor="{anchor}">{esc(text)}</text></g>'
        )
    for t, prog in reversed(b.execs):
        xx = x(t)
        text = f"exec {_short(prog, 16)}"
        w = _width(text)
        tx, anchor = (xx + 7, "start") if xx + 7 + w <= limit - 3 else (min(xx - 2, limit - 3), "end")
        limit = tx if anchor == "start" else tx - w
        out.append(
            f'<g class="wx-exec"><title>{esc(f"pid {b.pid} exec {prog} at {_ms(t)}")}</title>'
            f'<path d="M{xx:.1f} {by + 7}l6 5l-6 5z" fill="{EXEC}"/>'
            f'<text class="wx-tl-fg" x="{tx:.1f}" y="{by + 8}" font-size="9" text-anchor="{anchor}">{esc(text)}</text></g>'
        )
    if b.end_ns is None or not b.parent:
        return
    parent = next((p for p in bands if p.pid == b.parent), None)
    until = b.reaped_ns
    if until is None:
        until = parent.end_ns if parent is not None and parent.end_ns is not None else end_ns
    if until > b.end_ns:
        text = b.exit_text or "ended"
        joined = f"joined by pid {b.parent} at {_ms(b.reaped_ns)}" if b.reaped_ns is not None else "not joined"
        out.append(
            f'<line class="wx-tl-line wx-zombie" x1="{x2:.1f}" y1="{by + 12}" x2="{x(until):.1f}" y2="{by + 12}" '
            f'stroke-dasharray="3 2"><title>{esc(f"pid {b.pid}: a zombie ({text}), {joined}")}</title></line>'
        )


def _width(text):
    return 5 * len(text)  # at font-size 9


def _collapsed(out, collapsed, y, x, end_ns):
    pids = [b.pid for b in collapsed]
    label = f"+{len(pids)} more: pids {pids[0]}–{pids[-1]}"
    out.append(
        f'<rect class="wx-tl-band" x="2" y="{y}" width="{WIDTH - 4}" height="{LANE}" rx="3"/>'
        f'<text class="wx-tl-dim wx-collapsed" x="6" y="{y + 11}">{html.escape(label)}</text>'
    )
    for b in collapsed:
        x1, x2 = x(b.start_ns), x(b.end_ns if b.end_ns is not None else end_ns)
        tip = f"pid {b.pid} ({b.program}): {b.state}"
        out.append(
            f'<rect class="wx-tl-life" x="{x1:.1f}" y="{y + 5}" width="{max(x2 - x1, 2):.1f}" height="6" '
            f'fill-opacity="0.35"><title>{html.escape(tip)}</title></rect>'
        )


def _legend(out, plans, marks, height, collapsed):
    bars = [bar for _, _, plan in plans for bar in plan[0]]
    shown_marks = [m for _, _, plan in plans for m in plan[2]]
    ly = height - 22
    lx = legend(out, colour_keys(bars), shown_marks, LEFT_B, ly)
    hidden = sum(plan[4] for _, _, plan in plans)
    if hidden:
        out.append(f'<text class="wx-tl-dim" x="{lx + 10}" y="{ly + 1}">({hidden} bars not shown)</text>')
    ly = height - 8
    lx = LEFT_B
    out.append(
        f'<path d="M{lx} {ly - 3}h14" stroke="{FORK}" stroke-width="1.5"/><circle cx="{lx}" cy="{ly - 3}" r="2.5" fill="{FORK}"/>'
        f'<text class="wx-tl-fg" x="{lx + 18}" y="{ly + 1}">fork</text>'
        f'<path d="M{lx + 50} {ly - 8}l6 5l-6 5z" fill="{EXEC}"/><text class="wx-tl-fg" x="{lx + 59}" y="{ly + 1}">exec</text>'
        f'<path class="wx-tl-line" d="M{lx + 94} {ly - 8}v10" stroke-width="2"/>'
        f'<text class="wx-tl-fg" x="{lx + 99}" y="{ly + 1}">exit</text>'
        f'<line class="wx-tl-line" x1="{lx + 128}" y1="{ly - 3}" x2="{lx + 148}" y2="{ly - 3}" stroke-dasharray="3 2"/>'
        f'<text class="wx-tl-fg" x="{lx + 152}" y="{ly + 1}">zombie</text>'
        f'<text class="wx-tl-dim" x="{lx + 200}" y="{ly + 1}">children: inherited stdio not drawn</text>'
    )
