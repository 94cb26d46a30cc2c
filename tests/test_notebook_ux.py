"""Notebooks as users open them (issue 13) and B14 (issue 9), checked without a browser: the timeline as an
<img>, theme colours, accept bars, missing files, no entry point, tab completion, one vocabulary, status
wording, `%wasix ps` types, --trace printed once, a re-run never orphans a stuck process."""

import base64
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

import wasix_nb
from conftest import cell, wait_for
from programs import sockets
from wasix_nb.errors import NoEntry, SourceNotFound
from wasix_nb.process import Process
from wasix_nb.views import sections, tables, timeline
from wasix_nb.views.display import show
from wasix_nb.views.static import Static, status_line
from watlib import addr_v4, echo_server

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "wasix_nb")
    yield shell
    shell.run_line_magic("unload_ext", "wasix_nb")


@pytest.fixture(scope="module")
def ran():
    p = Process(sockets(count=3, wait_ms=1))
    p.run()
    return p


def svg_of(html):
    m = re.search(r'<img class="wx-timeline-img"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert m, html[-500:]
    return base64.b64decode(m.group(1)).decode()


# -- untrusted notebooks, GitHub, nbviewer: the timeline is a picture ------------------------------------
def test_saved_timeline_is_an_img_not_inline_svg(ran):
    html = Static(ran).html()
    assert "<svg" not in html  # Lab drops an untrusted inline <svg> and shows its text run on
    svg = svg_of(html)
    assert svg.startswith("<svg") and ">fd 3</text>" in svg and 'class="wx-bar"' in svg
    assert svg_of(ran.timeline()._repr_html_()) == ran.timeline().svg


def _rgb(hexcolour):
    h = hexcolour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]


def contrast(a, b):
    def lum(c):
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in _rgb(c)]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_timeline_labels_use_theme_variables_with_readable_fallbacks(ran):
    svg = ran.timeline().svg
    style = dict(re.findall(r"\.(wx-tl-\w+)\{(?:fill|stroke):([^}]+)\}", svg))
    assert style["wx-tl-fg"].startswith("var(--jp-ui-font-color1,")  # themed when inline (live panel)
    assert style["wx-tl-bg"].startswith("var(--jp-layout-color0,")
    fallback = {k: v.rstrip(")").split(",")[1] for k, v in style.items()}  # what an <img> shows
    assert contrast(fallback["wx-tl-fg"], fallback["wx-tl-bg"]) >= 7
    assert contrast(fallback["wx-tl-dim"], fallback["wx-tl-bg"]) >= 4.5
    labels = re.findall(r'<text class="([^"]+)"[^>]*>(fd \d+|no fd)</text>', svg)
    assert labels and all(c == "wx-tl-fg" for c, _ in labels)  # no label without a colour
    assert re.search(r'<rect class="wx-tl-bg" width="\d+" height="\d+"', svg)  # its own backdrop


def test_accepted_connection_bar_starts_when_accept_returned():
    p = Process(echo_server(addr_v4(), conns=1))
    p.start()
    try:
        row = wait_for(lambda: next((r for r in p.host.fds.rows() if r["state"] == "listening"), None))
        port = int(row["local"].rsplit(":", 1)[1])
        time.sleep(0.3)  # accept waits for us
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(b"hi")
            c.recv(10)
        assert p.wait(10).ok
    finally:
        p.kill()
    tr = p.host.trace
    acc = next(i for i, ev in enumerate(tr.events) if ev[timeline.CALL].name == "sock_accept_v2")
    fd4 = next(r for r in tables.closed_rows(p) if r["fd"] == 4)
    assert fd4["opened_seq"] == acc
    svg = p.timeline().svg
    x = float(re.search(r'<rect class="wx-bar" x="([\d.]+)"[^>]*><title>fd 4:', svg).group(1))
    ev, t0 = tr.events[acc], tr.t0
    lo = tr.events[0][timeline.START] - t0
    last = tr.events[-1]
    end = last[timeline.START] - t0 + last[timeline.DUR]
    to_x = lambda t: timeline.LEFT + (timeline.WIDTH - timeline.LEFT - timeline.RIGHT) * (t - lo) / (end - lo)  # noqa
    called, returned = to_x(ev[timeline.START] - t0), to_x(ev[timeline.START] - t0 + ev[timeline.DUR])
    assert returned - called > 20  # the accept blocked: visibly long
    assert abs(x - returned) < 0.2, (x, called, returned)


# -- the end of a run: what a saved notebook needs ------------------------------------------------------
def test_final_bundle_has_no_widget_view():
    p = Process(sockets(count=2, wait_ms=1))
    panel = show(p, live=True)
    assert WIDGET_MIME in panel._repr_mimebundle_()
    p.run()
    panel.finish()
    b = panel._repr_mimebundle_()
    assert WIDGET_MIME not in b and "<table" in b["text/html"] and "data:image/svg+xml" in b["text/html"]


def test_bg_output_widget_becomes_text(ip):
    from wasix_nb.views.display import StreamView

    wat = """(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (data (i32.const 16) "hi there\\n")
      (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 9))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
    view = StreamView()
    out, err = view.sinks()
    p = Process(wat, stdout=out, stderr=err)
    view.proc = p
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        from IPython.display import display

        display(view)
        p.start()
        view.finish()
        p.wait(10)
        wait_for(lambda: len(cap.outputs) == 2)
    first, last = cap.outputs
    assert WIDGET_MIME in first.data and WIDGET_MIME not in last.data
    assert last.data["text/plain"] == "hi there\n" and last.update


def test_panel_says_gone_when_its_kernel_is_gone():
    """ipywidgets marks views `jupyter-widgets-disconnected` after a kernel restart: the panel's CSS then
    hides the frozen "running" and shows that the process is gone (checked in chromium in test_browser)."""
    html = sections.status_html("srv", "running", None, 1.0, 3, 0)
    assert 'class="wx-st live"' in html and 'class="wx-gone"' in html and "process gone" in html
    assert ".jupyter-widgets-disconnected .wxp .wx-st.live{display:none}" in sections.CSS
    assert ".jupyter-widgets-disconnected .wxp .wx-gone{display:inline}" in sections.CSS
    assert "wx-gone" not in sections.status_html("srv", "exited", 0, 1.0, 3, 0)


# -- missing file, no entry point ------------------------------------------------------------------------
def test_missing_file_says_not_found(ip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceNotFound, match="file not found: missing.wat") as e:
        wasix_nb.run("missing.wat")
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(SourceNotFound, match="file not found: missing.wat"):
        ip.run_line_magic("wasix", "run missing.wat")
    r = subprocess.run([sys.executable, "-m", "wasix_nb", "run", "missing.wat"], capture_output=True, text=True)
    assert r.returncode == 2 and "file not found: missing.wat" in r.stderr and "expected" not in r.stderr


def test_no_entry_point_is_not_a_trap(ip):
    with pytest.raises(NoEntry, match="no entry point"):
        wasix_nb.run('(module (memory (export "memory") 1))')
    with pytest.raises(NoEntry) as e:
        cell(ip, "", '(module (func (export "main")))')
    assert "trapped" not in str(e.value) and e.value._render_traceback_()[0].startswith("NoEntry: no entry point")


# -- tab completion, dir() ----------------------------------------------------------------------------------
def completions(ip, code, pos=None):
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(code, len(code.split("\n")[0]) if pos is None else pos)]


@pytest.mark.parametrize("jedi", [True, False])
def test_tab_completion(ip, jedi, tmp_path, monkeypatch):
    from wasix_nb import magics

    ip.Completer.use_jedi = jedi
    m = magics._MAGICS
    p = Process(sockets(count=1, wait_ms=0), name="srvx")
    m.processes["srvx"] = p
    try:
        assert completions(ip, "%%wasix --b\n(module)") == ["--bg"]
        assert completions(ip, "%%wasix -n x --tr") == ["--trace", "--trace-limit"]
        assert completions(ip, "%wasix ") == ["fds", "kill", "ps", "run", "trace"]
        assert completions(ip, "%wasix k") == ["kill"]
        assert "srvx" in completions(ip, "%wasix fds ") and "--all" in completions(ip, "%wasix kill ")
        assert completions(ip, "%wasix trace srv") == ["srvx"]
        monkeypatch.chdir(tmp_path)
        (tmp_path / "echo.wat").write_text("(module)")
        (tmp_path / "notes.txt").write_text("")
        assert completions(ip, "%wasix run e") == ["echo.wat"]
    finally:
        m.processes.pop("srvx")
        p.close()
        ip.Completer.use_jedi = True


def test_dir_shows_the_public_api(ran):
    names = dir(ran)
    for want in ("fds", "history", "trace", "summary", "timeline", "status", "kill", "wait", "stdout"):
        assert want in names
    for internal in ("host", "store", "instance", "module", "rules", "done", "stdout_bytes", "final_rows"):
        assert internal not in names
    assert "host" not in dir(ran.result) and "outcome" in dir(ran.result)
    assert ran.host is not None  # still reachable by name


# -- one vocabulary, status wording, ps types ---------------------------------------------------------------
def test_one_vocabulary_for_the_same_columns(ran):
    panel_fd = re.findall(r"<th>([^<]+)</th>", sections.fd_table_html(tables.open_rows(ran), {}, {}))
    assert panel_fd == [c for c in tables.FD_COLUMNS if c != "closed_seq"]
    closed = tables.closed_rows(ran, at_exit=False)
    assert re.findall(r"<th>([^<]+)</th>", sections.closed_html(closed, {})) == tables.FD_COLUMNS
    acc = {
        r["syscall"]: [r["calls"], r["errors"], r["total_ns"], r["unfinished"]] for r in ran.host.trace.summary_rows()
    }
    assert re.findall(r"<th>([^<]+)</th>", sections.summary_html(acc)) == tables.SUMMARY_COLUMNS
    saved = Static(ran).html()
    for col in tables.FD_COLUMNS + tables.SUMMARY_COLUMNS:
        assert f"<th>{col}</th>" in saved
    # the same values: opened_seq as a number in both
    row = next(r for r in tables.open_rows(ran) if r["kind"] == "socket")
    assert f"<td>{row['opened_seq']}</td>" in sections.fd_table_html([row], {}, {})


def test_killed_call_is_unfinished_in_every_view():
    # the kill must land in a call: wait until the program blocks in its (minute-long) poll_oneoff
    p = Process(sockets(count=2, wait_ms=60_000))
    panel = show(p, live=True)
    p.start()
    wait_for(lambda: any(r["state"] == "blocked in poll_oneoff" for r in p.thread_rows()), timeout=30)
    p.kill()
    panel.finish()
    assert "1 unfinished" in panel.top.value and 'class="wx-unf"' in panel.bottom.value
    assert "1 unfinished" in status_line(p) and "1 unfinished" in panel._repr_mimebundle_()["text/plain"]


def test_status_wording():
    assert sections.status_text("p", "exited", 0, 0.0123, 1, 1) == "p: exited 0 · 1 call · 1 error · 12.3 ms"
    assert sections.status_text("p", "returned", 0, 2.5, 2, 0) == "p: exited 0 · 2 calls · 0 errors · 2.50 s"
    assert sections.status_text("p", "running", None, None, 0, 0) == "p: running · 0 calls · 0 errors"
    one = Process(
        """(module (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
                     (memory (export "memory") 1) (func (export "_start") (drop (call $y))))""",
        name="one",
    )
    one.run()
    line = status_line(one)
    assert re.fullmatch(r"one: exited 0 · 1 call · 0 errors · \d+\.\d ms", line), line
    assert re.search(
        r"· 1 call · 0 errors · [\d.]+ ms",
        sections.status_html("one", "exited", 0, 0.004, 1, 0).replace("<b>", "").replace("</b>", ""),
    )


def test_ps_has_consistent_types(ip):
    cell(ip, "-n psa --no-live", sockets(count=1, wait_ms=0))
    cell(ip, "--bg -n psb", sockets(count=50, wait_ms=100))
    try:
        ps = ip.run_line_magic("wasix", "ps")
        assert str(ps.dtypes["exit_code"]) == "Int64" and str(ps.dtypes["seconds"]) == "float64"
        for c in ("sockets", "calls", "errors"):
            assert str(ps.dtypes[c]) == "int64"
        by = ps.set_index("name")
        assert by.loc["psb", "status"] == "running" and str(ps.dtypes["pid"]) == "int64"
        assert by.loc["psb", "seconds"] >= 0 and by.loc["psa", "exit_code"] == 0
    finally:
        ip.run_line_magic("wasix", "kill psb")


def test_trace_is_not_printed_twice(ip):
    cap = cell(ip, "--trace --summary --no-live", sockets(count=2, wait_ms=0))
    shown = [o.data["text/html"] for o in cap.outputs if "text/html" in o.data]
    assert shown and "last calls" not in shown[-1] and "per function" not in shown[-1]
    lines = [ln for ln in cap.stdout.splitlines() if "sock_open(" in ln]
    assert len(lines) >= 2 and all(ln not in "".join(shown) for ln in lines)
    assert cap.stdout.count("total") == 1  # the summary, once
    plain = cell(ip, "--no-live", sockets(count=2, wait_ms=0))
    assert "last calls" in plain.outputs[-1].data["text/html"]  # without --trace the view has them


# -- B14: a re-run never orphans an old process stuck in a long host call -----------------------------------
STDIN_READER = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 16))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def test_b14_rerun_keeps_a_stuck_process_listed_until_it_ends(ip):
    from wasix_nb import magics

    gate = threading.Event()
    entered = threading.Event()

    def stuck_stdin(n):  # a host call that ignores stop requests until the gate opens
        entered.set()
        gate.wait(30)
        return b""

    ip.user_ns["stuck_stdin"] = stuck_stdin
    cell(ip, "--bg -n b14 --stdin stuck_stdin", STDIN_READER)
    old = ip.user_ns["b14"]
    try:
        assert entered.wait(10)
        cell(ip, "--bg -n b14", sockets(count=1, wait_ms=0))  # the re-run replaces it
        new = ip.user_ns["b14"]
        assert new is not old
        ps = ip.run_line_magic("wasix", "ps")
        listed = list(zip(ps["name"], ps["status"]))
        assert old.done.is_set() or ("b14", "stopping") in listed, listed  # never silently dropped
        if not old.done.is_set():
            assert old in magics._MAGICS.stopping
            ip.run_line_magic("wasix", "kill --all")  # reaches it again (and waits)
        gate.set()
        wait_for(lambda: old.done.is_set(), timeout=10)
        ps = ip.run_line_magic("wasix", "ps")
        assert "stopping" not in set(ps["status"])  # it left the table once it ended
        assert old not in magics._MAGICS.stopping
    finally:
        gate.set()
        old.kill()
        ip.user_ns["b14"].kill()
        ip.user_ns.pop("stuck_stdin", None)
