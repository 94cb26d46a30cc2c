"""The live panel without a browser: message budget, final state, background runs, display bundles."""

import re
import threading
import time

import pytest

from conftest import wait_for
from programs import clock_loop, sockets
from wasix_nb.process import Process
from wasix_nb.views import sections
from wasix_nb.views.display import show
from wasix_nb.views.panel import WIDGET_MIME

ANIM = re.compile(r' class="wx-(new|flash|gone)" style="animation-delay:-[0-9.]+s"')


class Counter:
    """Counts the comm messages the panel's widgets send (after they were opened), and keeps values."""

    def __init__(self, panel):
        self.lock = threading.Lock()
        self.n = 0
        self.values = []
        for w in (panel.top, panel.bottom, panel.widget):
            w.comm.send = self._wrap(w.comm.send)

    def _wrap(self, send):
        def counted(data=None, metadata=None, buffers=None):
            with self.lock:
                self.n += 1
                self.values.append((time.monotonic(), data.get("state", {})))
            return send(data=data, metadata=metadata, buffers=buffers)

        return counted


def final_table(p):
    return sections.fd_table_html(p.final_rows, {}, {})


def test_100k_calls_throttled():
    p = Process(clock_loop(100_000))
    t0 = time.monotonic()
    panel = show(p, live=True)
    count = Counter(panel)
    p.run()
    panel.finish()
    T = time.monotonic() - t0
    assert panel.finished and panel.error is None
    assert count.n == panel.messages
    assert 2 <= count.n <= 10 * T + 2, (count.n, T)
    # rolling check: no one-second window holds more than 10 + 2 messages
    times = [t for t, _ in count.values]
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 1.0) <= 12
    assert "100000 calls" in panel.top.value and "exited 0" in panel.top.value
    assert final_table(p) in ANIM.sub("", panel.top.value)
    assert "clock_time_get</td><td>100000<" in panel.bottom.value


def fd_rows_sent(count):
    """The number of descriptor rows of each table the widget was sent, repeats folded."""
    seen = []
    with count.lock:
        values = list(count.values)
    for _, state in values:
        v = state.get("value", "")
        if "wx-fds" in v:
            n = v.split('<table class="wx-fds">')[1].split("</table>")[0].count("<tr") - 1
            if not seen or seen[-1] != n:
                seen.append(n)
    return seen


def test_table_grows_while_running():
    count = None
    reads = []

    def stdin(n):
        # the program reads a byte before each socket and after the last: it goes on only once the
        # widget was sent the table it has so far (3 stdio rows, then one more per socket)
        reads.append(n)
        want = 2 + len(reads)
        wait_for(lambda: count is not None and want in fd_rows_sent(count), timeout=30)
        return b"x"

    p = Process(sockets(count=4, wait_ms=0, gate=True), stdin=stdin)
    panel = show(p, live=True)
    count = Counter(panel)
    p.run()
    panel.finish()
    rows_seen = fd_rows_sent(count)
    assert len(reads) == 5 and p.status == "returned"
    # every state reached the widget, in order, while the program ran; then the final table (7 rows)
    assert rows_seen[:5] == [3, 4, 5, 6, 7] and rows_seen[-1] == 7, rows_seen
    top = ANIM.sub("", panel.top.value)
    assert final_table(p) in top
    assert "<h4>closed</h4>" in top and "<td>5</td><td>socket</td><td>INET</td>" in top
    assert 'class="wx-timeline"' in panel.bottom.value and "BADF" in panel.bottom.value


def test_new_row_is_highlighted():
    rows = [
        {
            "fd": 3,
            "kind": "socket",
            "family": "INET",
            "type": "STREAM",
            "proto": 6,
            "state": "opened",
            "local": "",
            "peer": "",
            "flags": "",
            "bytes_in": 0,
            "bytes_out": 0,
            "opened_seq": 7,
        }
    ]
    html = sections.fd_table_html(rows, {(3, 7): 0.5}, {(3, 7): 0.25})
    assert '<tr class="wx-new" style="animation-delay:-0.50s">' in html
    assert '<td class="wx-flash" style="animation-delay:-0.25s">opened</td>' in html
    assert "wx-new" not in sections.fd_table_html(rows, {(3, 7): 5.0}, {})


def test_background_panel_stays_live():
    p = Process(sockets(count=3, wait_ms=100))
    panel = show(p, live=True)
    count = Counter(panel)
    p.start()
    panel.finish()  # returns at once: the program still runs
    assert not panel.finished and not p.done.is_set()
    p.wait(10)
    for _ in range(100):
        if panel.finished:
            break
        time.sleep(0.05)
    assert panel.finished and count.n >= 2
    assert final_table(p) in ANIM.sub("", panel.top.value)


def test_killed_panel_shows_it():
    p = Process(sockets(count=50, wait_ms=100))
    panel = show(p, live=True)
    p.start()
    time.sleep(0.3)
    p.kill()
    panel.finish()
    assert "killed" in panel.top.value


def test_live_bundle_has_fallbacks():
    p = Process(sockets(count=3, wait_ms=1))
    panel = show(p, live=True)
    before = panel._repr_mimebundle_()
    assert before[WIDGET_MIME]["model_id"] == panel.widget.model_id and "text/html" in before
    p.run()
    panel.finish()
    b = panel._repr_mimebundle_()
    assert WIDGET_MIME not in b  # ended: the saved output needs no widget model (issue 13)
    html = b["text/html"]
    assert html.count('id="T_wasix-') >= 3  # descriptors, closed, summary
    assert "socket" in html and "exited 0" in html and "data:image/svg+xml;base64," in html
    assert "exited 0" in b["text/plain"] and "sock_open" in b["text/plain"]


def test_static_before_and_after_run():
    p = Process(sockets(count=3, wait_ms=1))
    obj = show(p, live=False)
    before = obj._repr_mimebundle_()
    assert "<table" not in before["text/html"]
    p.run()
    obj.finish()
    after = obj._repr_mimebundle_()
    assert after["text/html"].count("<table") >= 3 and "exited 0" in after["text/plain"]
    assert obj.html() == obj.html()  # stable ids: same HTML twice


@pytest.mark.parametrize("live", [True, False])
def test_in_ipython_display(live):
    # displayed through IPython: one display_data with our display_id, then an update with the tables
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    from IPython.display import display

    p = Process(sockets(count=3, wait_ms=1))
    with capture_output() as cap:
        obj = show(p, live=live)
        display(obj)
        p.run()
        obj.finish()
    first, last = cap.outputs[0], cap.outputs[-1]
    assert len(cap.outputs) == 2 and last.update and not first.update
    assert first.transient["display_id"] == last.transient["display_id"] == obj.display_id
    assert ("<table" in first.data["text/html"]) == live  # the panel's fallback shows the start state
    assert (WIDGET_MIME in first.data) == live
    assert WIDGET_MIME not in last.data  # the end replaces the widget view by the final tables
    assert "exited 0" in last.data["text/html"] and last.data["text/html"].count("<table") >= 3


class FakeProc:
    """Just what a view may read: trace, fd table, status fields."""

    def __init__(self):
        from types import SimpleNamespace

        from wasix_nb.host.fdtable import FdTable
        from wasix_nb.trace import Trace

        self.name, self.status, self.exit_code = "fake", "running", None
        self.started, self.duration, self.final_rows = time.time(), None, None
        self.done = threading.Event()
        trace = Trace()
        self.host = SimpleNamespace(trace=trace, fds=FdTable(seq=trace.events.__len__))


def test_new_row_state_change_and_close_are_marked():
    from wasix_nb.host.fdtable import OpenFile

    p = FakeProc()
    a = OpenFile()
    p.host.fds.add(a)  # fd 0 exists before the panel: not "new"
    panel = show(p, live=True, interval=30)  # the timer stays asleep; we call update()
    assert 'class="wx-new"' not in panel.top.value
    b = OpenFile()
    p.host.fds.add(b)
    panel.update()
    assert panel.top.value.count('class="wx-new"') == 1
    b.state = "connected"
    panel.update()
    assert re.search(r'<td class="wx-flash" style="animation-delay:-[0-9.]+s">connected</td>', panel.top.value)
    p.host.fds.close(1)
    panel.update()
    assert "<h4>closed</h4>" in panel.top.value and 'class="wx-gone"' in panel.top.value
    p.done.set()
    panel.finish()
    assert panel.finished


def test_injected_call_is_marked():
    p = Process(sockets(count=3, wait_ms=1), inject="fd_close#2=IO")
    panel = show(p, live=True)
    p.run()
    panel.finish()
    assert re.search(r'<div class="wx-inj">⚑ +\d+ \+[0-9.]+ fd_close\(fd=99\) = 29 IO .*injected', panel.bottom.value)


def test_a_failing_view_never_blocks_the_run():
    p = Process(sockets(count=2, wait_ms=1))
    panel = show(p, live=True)

    def broken(final):
        raise RuntimeError("render bug")

    panel._render = broken
    assert p.run().ok
    t = time.monotonic()
    panel.finish()
    assert panel.finished and time.monotonic() - t < 2
    assert "render bug" in panel.error
