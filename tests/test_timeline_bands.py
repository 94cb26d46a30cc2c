"""The timeline of a run with several processes (views/bands.py, views/bandsvg.py): one band per process,
pid order, fork -> exit, with that process's descriptor lanes; fork, exec and exit marks; a descriptor
inherited through fork in both bands; a zombie until joined; many processes collapsed; and a run that
never forks drawn exactly as the single-process timeline."""

import re
import socket

import pytest

import wasix_nb
from conftest import listening_port, wait_for
from test_fork import EXEC, HELLO
from test_forking_server import FORKING_ECHO
from wasix_nb import wasmopt
from wasix_nb.views import bands as bands_view
from wasix_nb.views import bandsvg
from wasix_nb.views.tables import closed_rows, event_log, open_rows
from wasix_nb.views.timeline import error_marks, render

pytestmark = pytest.mark.skipif(wasmopt.wasm_opt() is None, reason="wasm-opt not found (apt-get install binaryen)")


def _echo(srv, port, text):
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(text)
        assert c.recv(100) == text


@pytest.fixture(scope="module")
def served():
    """The forking echo server after two clients, one after the other, then a third still connected
    when the server is killed: pids 1 (server), 2 and 3 (exited, joined), 4 (killed with the tree)."""
    srv = wasix_nb.Process(FORKING_ECHO, name="echo").start()
    held = None
    try:
        port = listening_port(srv, timeout=30)
        _echo(srv, port, b"one")
        wait_for(lambda: srv.procs.every()[-1].done.is_set(), timeout=30)
        _echo(srv, port, b"two")  # the accept before it joins pid 2: a zombie until then
        wait_for(lambda: len(srv.procs.every()) == 3 and srv.procs.every()[-1].done.is_set(), timeout=30)
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"three")
        assert held.recv(100) == b"three"
        # pid 1 closed its copy of the connection and waits for the next client
        wait_for(lambda: srv.processes.state.iloc[0] == "blocked in sock_accept on fd 3", timeout=30)
        live = srv.timeline().svg  # while pid 4 serves `held`
    finally:
        r = srv.kill()
        if held is not None:
            held.close()
    return r, live, bands_view.bands(r, r.log, _end(r.log))


def _end(trace):
    ev = trace.events[len(trace.events) - 1]
    return ev[0] - trace.t0 + ev[1]


def band_labels(svg):
    return re.findall(r'class="wx-tl-fg wx-band-label"[^>]*>([^<]+)<', svg)


def test_one_band_per_process_in_pid_order_fork_to_exit(served):
    r, _, bands = served
    assert [(b.pid, b.parent, b.program) for b in bands] == [
        (1, 0, "echo"),
        (2, 1, "echo"),
        (3, 1, "echo"),
        (4, 1, "echo"),
    ]
    root, kids = bands[0], bands[1:]
    assert root.how == "" and all(b.how == "fork" for b in kids)
    for b in kids:  # fork (in the parent) -> the child's first call -> its exit, inside the parent's life
        assert root.start_ns <= b.born_ns <= b.start_ns < b.end_ns <= root.end_ns
    assert [b.exit_text for b in bands] == ["killed", "exited 0", "exited 0", "killed"]
    assert kids[0].start_ns < kids[1].start_ns < kids[2].start_ns
    # pid 2 was joined at the accept after the second client: a zombie until then
    assert kids[0].reaped_ns is not None and kids[0].reaped_ns > kids[0].end_ns
    svg = r.timeline().svg
    assert band_labels(svg) == ["pid 1 echo", "pid 2 echo · ppid 1", "pid 3 echo · ppid 1", "pid 4 echo · ppid 1"]
    assert svg.count('class="wx-fork"') == 3 and svg.count('class="wx-exit"') == 4
    assert "descriptor timeline · 4 processes" in svg and 'class="wx-tl-line wx-zombie"' in svg


def test_an_inherited_descriptor_shows_in_both_bands(served):
    r, _, bands = served
    svg = r.timeline().svg
    # the listener: pid 1's for the whole run; each child's copy from its fork to the child's close of it
    assert re.search(r"<title>pid 1 fd 3: socket INET STREAM, opened by call #\d+, still open", svg)
    for pid in (2, 3, 4):
        assert re.search(rf"<title>pid {pid} fd 3: socket INET STREAM, opened by call #\d+, closed by call", svg)
    # the connection: accepted by pid 1, which closes its copy; the child serves it
    assert len(re.findall(r"<title>pid 1 fd 4: socket INET STREAM, opened by call #\d+, closed by call", svg)) == 3
    assert re.search(r"<title>pid 2 fd 4: socket INET STREAM", svg)
    listener = {b.pid: [c for c in b.closed if c["fd"] == 3 and c["kind"] == "socket"] for b in bands}
    assert all(len(listener[pid]) == 1 for pid in (2, 3, 4))
    # a child's copies are drawn from its fork, where its band begins (not from the copy's first use)
    life = {
        int(m.group(2)): float(m.group(1))
        for m in re.finditer(r'<rect class="wx-tl-life wx-life" x="([\d.]+)"[^>]*><title>pid (\d+)', svg)
    }
    for pid in (2, 3, 4):
        bar = re.search(rf'<rect class="wx-bar" x="([\d.]+)"[^>]*><title>pid {pid} fd 3: socket', svg)
        assert abs(float(bar.group(1)) - life[pid]) < 0.2, (pid, bar.group(1), life)
    # children leave out the stdio they inherited untouched (the parent's band has it)
    assert "pid 1 fd 0: stdin" in svg and "pid 2 fd 0:" not in svg


def test_live_timeline_draws_a_running_child_to_now(served):
    _, live, _ = served
    assert band_labels(live)[-1] == "pid 4 echo · ppid 1"
    assert re.search(r"<title>pid 4 fd 4: socket INET STREAM, opened by call #\d+, still open</title>", live)
    assert live.count('class="wx-exit"') == 2  # pids 2 and 3 ended; 1 and 4 still run


def test_exec_mark_where_the_program_changes():
    r = wasix_nb.run(EXEC, timeout=30, commands={"echo": HELLO})
    assert r.ok, r.message
    bands = bands_view.bands(r, r.log, _end(r.log))
    assert [(b.pid, b.program) for b in bands] == [(1, "<cell>"), (2, "echo")]
    ((t, prog),) = bands[1].execs
    assert prog == "echo" and bands[1].start_ns <= t <= bands[1].end_ns
    assert bands[0].execs == []
    svg = r.timeline().svg
    assert svg.count('class="wx-exec"') == 1 and ">exec echo</text>" in svg
    assert band_labels(svg) == ["pid 1 &lt;cell&gt;", "pid 2 echo · ppid 1"]


def test_a_run_that_never_forks_is_drawn_as_before():
    from programs import sockets

    p = wasix_nb.Process(sockets(count=3, wait_ms=1))
    r = p.run()
    assert bands_view.bands(r, r.log, _end(r.log)) == []
    svg = r.timeline().svg
    trace = event_log(r)
    same = render(trace, open_rows(r), closed_rows(r, at_exit=False), marks=error_marks(trace))
    assert svg == same
    assert "processes" not in svg and "wx-tl-band" not in svg and "pid 1" not in svg and "wx-fork" not in svg
    assert re.findall(r">(fd \d+)</text>", svg)[:3] == ["fd 0", "fd 1", "fd 2"]


def test_many_processes_collapse_into_one_row(served):
    r, _, bands = served
    trace = r.log
    many = [bands[0]] + [
        bands_view.Band(
            pid=pid,
            parent=1,
            program="echo",
            state="exited 0",
            start_ns=bands[1].start_ns,
            end_ns=bands[1].end_ns,
            exit_text="exited 0",
            how="fork",
            born_ns=bands[1].born_ns,
            closed=bands[1].closed,
        )
        for pid in range(2, 22)
    ]
    svg = render(trace, [], [], bands=many)
    labels = band_labels(svg)
    assert len(labels) == bands_view.MAX_BANDS and labels[0] == "pid 1 echo"
    assert [int(re.match(r"pid (\d+)", s).group(1)) for s in labels[1:]] == list(range(15, 22))  # the newest
    assert ">+13 more: pids 2–14</text>" in svg
    height = int(re.search(r'height="(\d+)"', svg).group(1))
    assert height < 40 + bands_view.MAX_BANDS * (bandsvg.CHILD_LANES + 2) * 16 + 60  # bounded


def test_band_colours_are_theme_variables_with_light_fallbacks(served):
    r, _, _ = served
    svg = r.timeline().svg
    style = dict(re.findall(r"\.(wx-tl-[\w-]+)\{(?:fill|stroke):([^}]+)\}", svg))
    assert style["wx-tl-band"].startswith("var(--jp-layout-color2,")  # themed inline (live panel, Dark)
    assert style["wx-tl-line"].startswith("var(--jp-ui-font-color1,")
    labels = re.findall(r'<text class="([^"]+)"[^>]*>(pid \d+[^<]*)<', svg)
    assert labels and all(c.startswith("wx-tl-fg") for c, _ in labels)


def test_live_panel_draws_bands_once_the_run_forked():
    pytest.importorskip("ipywidgets")
    from wasix_nb.views.panel import LivePanel

    srv = wasix_nb.Process(FORKING_ECHO, name="echo").start()
    panel = LivePanel(srv)
    held = None
    try:
        port = listening_port(srv, timeout=30)
        panel.update()
        assert "wx-band-label" not in panel.bottom.value  # not forked yet: the single-process timeline
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"hi")
        assert held.recv(10) == b"hi"
        wait_for(lambda: srv.procs is not None and len(srv.procs.every()) == 2, timeout=30)
        panel.update()
        bottom = panel.bottom.value
        assert "pid 1 echo" in bottom and "pid 2 echo · ppid 1" in bottom and 'class="wx-fork"' in bottom
    finally:
        srv.kill()
        panel.close()
        if held is not None:
            held.close()


def test_a_spawned_child_gets_a_band_and_a_spawn_mark():
    from test_spawn import RUN, spawn1

    r = wasix_nb.run(spawn1(b"echo", b"echo\na\nb"), timeout=30, **RUN)
    assert r.outcome == "exited", r.message
    bands = bands_view.bands(r, r.log, _end(r.log))
    assert [(b.pid, b.parent, b.how, b.program) for b in bands] == [
        (1, 0, "", bands[0].program),
        (2, 1, "spawn", "echo"),
    ]
    spawn = [e for e in r.trace.itertuples() if e.syscall == "proc_spawn"][0]
    assert bands[1].born_ns == bands[1].start_ns == spawn.t_ns < bands[1].end_ns
    svg = r.timeline().svg
    assert band_labels(svg)[1] == "pid 2 echo · ppid 1" and "called proc_spawn" not in svg
    assert re.search(r'<g class="wx-fork"><title>pid 1 called spawn at', svg)
