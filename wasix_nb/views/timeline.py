"""The descriptor timeline as plain SVG: one lane per fd number, a bar from the open call to the close call.

Bars are coloured by kind/family; calls that failed are red marks on the lane of their fd argument (or on
a "no fd" lane).  Reuse of a number shows as several bars on one lane.  No plotting library needed.

Where it is shown decides how: the live panel (a trusted widget) inlines the SVG, whose text and backdrop
follow JupyterLab's theme variables; saved outputs use an `<img>` with a data URI, which untrusted
notebooks, GitHub and nbviewer all display (an inline `<svg>` is stripped there, leaving its text as
run-on garbage).  Inside an `<img>` CSS variables do not apply, so every colour has a fallback that reads
on the SVG's own light backdrop, in light and dark themes alike.
"""

import base64
import html

from ..abi import errno as _errno
from ..trace import ARGS, CALL, DUR, ERRNO, PID, START
from .plain import closed_rows, event_log, fd_arg, open_rows

COLOURS = {
    "stdio": "#9e9e9e",
    "INET": "#1f77b4",
    "INET6": "#9467bd",
    "LOCAL": "#2ca02c",
    "file": "#8c564b",
    "dir": "#bcbd22",
    "other": "#ff7f0e",
}
# theme variables with fallbacks for a light backdrop (what an <img> shows in every theme)
STYLE = (
    "<style>.wx-tl-bg{fill:var(--jp-layout-color0,#fff)}"
    ".wx-tl-fg{fill:var(--jp-ui-font-color1,#1a1a1a)}"
    ".wx-tl-dim{fill:var(--jp-ui-font-color2,#555)}"
    ".wx-tl-grid{stroke:var(--jp-border-color2,#ddd)}</style>"
)
WIDTH, LEFT, RIGHT, LANE, TOP = 720, 64, 12, 16, 32
MAX_BARS, MAX_MARKS, MAX_LANES = 400, 500, 48


def colour_key(row) -> str:
    if row["kind"] in ("stdin", "stdout", "stderr"):
        return "stdio"
    if row["kind"] == "socket":
        return row["family"] if row["family"] in COLOURS else "other"
    return row["kind"] if row["kind"] in ("file", "dir") else "other"


def error_marks(trace, start=0, limit=MAX_MARKS):
    """[(t_ns, fd or None, text, pid)] for the failed calls from `start` on (the last `limit`)."""
    out = []
    t0 = trace.t0
    for seq, ev in enumerate(trace.events[start:], start):
        if ev[ERRNO]:
            call = ev[CALL]
            text = f"#{seq} {call.name} = {_errno.name(ev[ERRNO])}"
            out.append((ev[START] - t0, fd_arg(call, ev[ARGS]), text, ev[PID]))
    return out[-limit:]


def _seq_time(events, t0, seq, end_ns):
    # opened_seq/closed_seq name the call during which it happened (len(events) once the program ended);
    # a descriptor exists from the moment that call returned (an accept may block for minutes before)
    if seq is None or seq >= len(events):
        return end_ns
    ev = events[seq]
    return ev[START] - t0 + ev[DUR]


def _nice_step(span_ns):
    for step in (
        1e3,
        2e3,
        5e3,
        1e4,
        2e4,
        5e4,
        1e5,
        2e5,
        5e5,
        1e6,
        2e6,
        5e6,
        1e7,
        2e7,
        5e7,
        1e8,
        2e8,
        5e8,
        1e9,
        2e9,
        5e9,
        1e10,
        3e10,
        6e10,
        3e11,
        6e11,
        3.6e12,
    ):
        if span_ns / step <= 8:
            return step
    return span_ns / 8


def _label(ns):
    if ns >= 1e9 or ns == 0:
        return f"{ns / 1e9:g} s"
    if ns >= 1e6:
        return f"{ns / 1e6:g} ms"
    return f"{ns / 1e3:g} µs"


def plan_lanes(open_, closed, marks, threads=(), max_lanes=MAX_LANES, max_bars=MAX_BARS):
    """Which bars and lanes to draw: (bars [(row, is_open)], lane order, marks kept, thread rows, bars
    hidden).  Lanes: one per thread (when given), "no fd" for marks without a lane, one per fd number."""
    bars = [(row, False) for row in list(closed)[-max_bars:]] + [(row, True) for row in open_]
    hidden = max(0, len(closed) - max_bars)
    lanes = sorted({r["fd"] for r, _ in bars})
    more_lanes = set(lanes[max_lanes:])
    if more_lanes:  # the lowest numbers are the interesting ones (reuse happens there)
        lanes = lanes[:max_lanes]
        keep = set(lanes)
        hidden += sum(1 for r, _ in bars if r["fd"] not in keep)
        bars = [(r, o) for r, o in bars if r["fd"] in keep]
    marks = [m for m in marks if m[1] not in more_lanes]
    no_fd = any(m[1] is None or m[1] not in lanes for m in marks)
    threads = [t for t in threads if t.get("start_ns") is not None][:max_lanes]
    order = [("tid", t["tid"]) for t in threads] + (["—"] if no_fd else []) + lanes
    return bars, order, marks, threads, hidden


def lane_label(lane) -> str:
    return "no fd" if lane == "—" else f"tid {lane[1]}" if isinstance(lane, tuple) else f"fd {lane}"


def draw_labels(out, order, y_of, left=LEFT):
    for lane in order:
        out.append(
            f'<text class="wx-tl-fg" x="{left - 6}" y="{y_of[lane] + 11}" text-anchor="end">{lane_label(lane)}</text>'
        )


def draw_bars(out, events, t0, lo, end_ns, x, y_of, bars, tip_prefix="", inherited=None):
    """One bar per descriptor row: from the return of its opening call to its close (or `end_ns`);
    stdio, and rows opened at or before seq `inherited` (a fork child's copies), from `lo`."""
    for row, is_open in bars:
        stdio = row["kind"] in ("stdin", "stdout", "stderr")
        came = inherited is not None and row["opened_seq"] is not None and row["opened_seq"] <= inherited
        t_open = lo if stdio or came else _seq_time(events, t0, row["opened_seq"], end_ns)
        t_close = end_ns if is_open else _seq_time(events, t0, row["closed_seq"], end_ns)
        x1, x2 = x(t_open), x(t_close)
        colour = COLOURS[colour_key(row)]
        what = " ".join(v for v in (row["kind"], row["family"], row["type"]) if v)
        until = "still open" if is_open else f"closed by call #{row['closed_seq']} ({row['state']})"
        tip = f"{tip_prefix}fd {row['fd']}: {what}, opened by call #{row['opened_seq']}, {until}"
        out.append(
            f'<rect class="wx-bar" x="{x1:.1f}" y="{y_of[row["fd"]] + 2}" width="{max(x2 - x1, 2):.1f}" '
            f'height="{LANE - 4}" rx="2" fill="{colour}" fill-opacity="{0.9 if is_open else 0.5}">'
            f"<title>{html.escape(tip)}</title></rect>"
        )


def draw_threads(out, x, y_of, threads, end_ns, tip_prefix=""):
    for t in threads:
        x1, x2 = x(t["start_ns"]), x(end_ns if t["end_ns"] is None else t["end_ns"])
        tip = f"{tip_prefix}thread {t['tid']}: started by {t['started_by']}; {t['state']}"
        out.append(
            f'<rect class="wx-thread" x="{x1:.1f}" y="{y_of[("tid", t["tid"])] + 4}" '
            f'width="{max(x2 - x1, 2):.1f}" height="{LANE - 8}" rx="2" fill="#555" fill-opacity="0.7">'
            f"<title>{html.escape(tip)}</title></rect>"
        )


def draw_marks(out, x, y_of, marks, top=TOP):
    for m in marks:
        t, fd, text = m[0], m[1], m[2]
        y = y_of.get(fd, y_of.get("—", top)) + LANE // 2
        xx = x(t)
        out.append(
            f'<path class="wx-err" d="M{xx:.1f} {y - 5}l4 5l-4 5l-4 -5z" fill="#d62728">'
            f"<title>{html.escape(text)}</title></path>"
        )


def axis(events, t0, end_ns, left=LEFT):
    """(lo, end_ns, x): the axis starts at the first call (not at host creation, which precedes
    compiling); times stay relative to the trace start, as in the strace lines."""
    n = len(events)
    if end_ns is None:
        end_ns = (events[n - 1][START] - t0 + events[n - 1][DUR]) if n else 0
    lo = events[0][START] - t0 if n else 0
    span = max(end_ns - lo, 1)
    plot_w = WIDTH - left - RIGHT
    x = lambda t: left + plot_w * (min(max(t, lo), end_ns) - lo) / span  # noqa: E731
    return lo, end_ns, x


def head(out, height, title, lo, end_ns, x, style="", bottom=None):
    out += [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wx-timeline" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="10">',
        STYLE + style,
        f'<rect class="wx-tl-bg" width="{WIDTH}" height="{height}" rx="4"/>',
        f'<text class="wx-tl-fg" x="4" y="12" font-weight="bold">{html.escape(title)}</text>',
    ]
    bottom = height - 24 if bottom is None else bottom
    step = _nice_step(max(end_ns - lo, 1))
    k = -(-lo // step)  # ticks at multiples of step from the first call on
    while k * step <= end_ns:
        t = k * step
        xx = x(t)
        out.append(
            f'<line x1="{xx:.1f}" y1="{TOP - 4}" x2="{xx:.1f}" y2="{bottom}" class="wx-tl-grid"/>'
            f'<text class="wx-tl-dim" x="{xx:.1f}" y="{TOP - 6}" text-anchor="middle">{_label(t)}</text>'
        )
        k += 1


def legend(out, keys, marks, x0, y):
    """Colour keys (and the error mark) from x0 on; returns where the next item goes."""
    lx = x0
    for k in keys:
        out.append(
            f'<rect x="{lx}" y="{y - 8}" width="10" height="10" fill="{COLOURS[k]}"/>'
            f'<text class="wx-tl-fg" x="{lx + 13}" y="{y + 1}">{k}</text>'
        )
        lx += 60
    if marks:
        out.append(
            f'<path d="M{lx + 4} {y - 8}l4 5l-4 5l-4 -5z" fill="#d62728"/>'
            f'<text class="wx-tl-fg" x="{lx + 11}" y="{y + 1}">error</text>'
        )
        lx += 50
    return lx


def colour_keys(bars):
    return sorted({colour_key(r) for r, _ in bars}, key=list(COLOURS).index)


def render(trace, open_, closed, end_ns=None, marks=(), title="descriptor timeline", threads=(), bands=()) -> str:
    """SVG text. `open_`/`closed` are fd-table rows; `end_ns` is where open bars stop (default: the end
    of the last call); `marks` are from `error_marks`; `threads` (Process.thread_rows()) add one lane per
    thread, spawn to end, above the descriptors.  `bands` (views.bands, two or more processes): one band
    per process instead, each with its own lanes (views/bandsvg.py)."""
    events = trace.events
    t0 = trace.t0
    if len(bands) > 1:
        from .bandsvg import render_bands

        return render_bands(trace, bands, end_ns, marks, title)
    lo, end_ns, x = axis(events, t0, end_ns)
    bars, order, marks, threads, hidden = plan_lanes(open_, closed, marks, threads)
    y_of = {lane: TOP + i * LANE for i, lane in enumerate(order)}
    height = TOP + len(order) * LANE + 24
    out = []
    head(out, height, title, lo, end_ns, x)
    draw_labels(out, order, y_of)
    draw_bars(out, events, t0, lo, end_ns, x, y_of, bars)
    draw_threads(out, x, y_of, threads, end_ns)
    draw_marks(out, x, y_of, marks)
    ly = height - 8
    lx = legend(out, colour_keys(bars), marks, LEFT, ly)
    if hidden:
        out.append(f'<text class="wx-tl-dim" x="{lx + 10}" y="{ly + 1}">({hidden} bars not shown)</text>')
    out.append("</svg>")
    return "".join(out)


def img_html(svg: str, alt="descriptor timeline") -> str:
    """The SVG as an `<img>` with a data URI: shown by untrusted notebooks, GitHub, nbviewer, nbconvert."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f'<img class="wx-timeline-img" alt="{html.escape(alt)}" style="max-width:100%" '
        f'src="data:image/svg+xml;base64,{data}"/>'
    )


class Timeline:
    """What `proc.timeline()` returns: shows as SVG in Jupyter; `.svg` is the text, `.save(path)` writes it.
    Its HTML form is an `<img>` (see `img_html`), what front ends that distrust inline SVG fall back to."""

    def __init__(self, svg: str):
        self.svg = svg

    def _repr_svg_(self):
        return self.svg

    def _repr_html_(self):
        return f"<div class='wasix-timeline'>{img_html(self.svg)}</div>"

    def save(self, path):
        with open(path, "w", encoding="utf-8") as fp:
            fp.write(self.svg)

    def __repr__(self):
        return f"<Timeline svg {len(self.svg)} chars>"


def timeline(p) -> Timeline:
    """The timeline of a Process (running or ended) or a Result: one band per process once it forked."""
    from .bands import bands

    trace = event_log(p)
    rows = getattr(p, "thread_rows", None)
    threads = (rows() if callable(rows) else rows) or []
    events = trace.events
    n = len(events)
    end_ns = (events[n - 1][START] - trace.t0 + events[n - 1][DUR]) if n else 0
    procs = bands(p, trace, end_ns)
    return Timeline(
        render(
            trace,
            open_rows(p),
            closed_rows(p, at_exit=False),
            marks=error_marks(trace),
            threads=threads if len(threads) > 1 else (),
            bands=procs,
        )
    )
