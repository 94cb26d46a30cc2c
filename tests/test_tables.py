"""DataFrames, the timeline and the trace export, on a Process and on a Result."""

import io
import re

import pandas as pd
import pytest

from programs import sockets
from wasix_nb.process import Process
from wasix_nb.views import text, timeline


@pytest.fixture(scope="module")
def ran():
    p = Process(sockets(count=3, wait_ms=1))
    return p, p.run()


def test_fds_and_history(ran):
    p, r = ran
    for obj in (p, r):
        df = obj.fds
        assert list(df["fd"]) == [0, 1, 2, 3, 4, 5]
        assert df["fd"].dtype == "int64" and df["opened_seq"].dtype == "Int64"
        assert df.loc[df.fd == 5, "family"].item() == "INET6"  # the lowest free number, reused
        hist = obj.history
        assert (hist.loc[0, "fd"], hist.loc[0, "family"], hist.loc[0, "state"]) == (5, "INET", "closed")
        assert (hist["state"] == "closed at exit").sum() == 6


def test_calls_typed(ran):
    p, r = ran
    df = p.trace
    assert len(df) == len(p.host.trace) == len(r.trace)
    assert isinstance(df["syscall"].dtype, pd.CategoricalDtype)
    assert isinstance(df["errno_name"].dtype, pd.CategoricalDtype)
    assert df["t_ns"].dtype == "int64" and df["dur_ns"].dtype == "int64" and df["fd"].dtype == "Int64"
    assert df["t_ns"].is_monotonic_increasing
    so = df[df.syscall == "sock_open"].iloc[0]
    assert so["args"]["af"] == "INET" and so["outs"] == {"fd": 3}
    bad = df[df.errno != 0]
    assert list(bad["errno_name"]) == ["BADF"] and bad["fd"].item() == 99


def test_summary(ran):
    p, _ = ran
    s = p.summary
    from programs import use_poll

    waiter = "poll_oneoff" if use_poll() else "clock_time_get"
    assert set(s["syscall"]) - {"clock_time_get"} == {"sock_open", "fd_close", waiter}
    row = s.set_index("syscall").loc["fd_close"]
    assert (row["calls"], row["errors"]) == (2, 1)
    assert (s["total_ns"] >= s["mean_ns"]).all()


def test_timeline_svg(ran):
    p, r = ran
    tl = p.timeline()
    svg = tl._repr_svg_()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "data:image/svg+xml;base64," in tl._repr_html_()  # an <img>: untrusted front ends show it
    for fd in range(6):
        assert f">fd {fd}</text>" in svg
    assert len(re.findall(r'class="wx-bar"', svg)) == 7  # 6 open + fd 5 before its reuse
    assert len(re.findall(r'class="wx-err"', svg)) == 1 and "fd_close = BADF" in svg
    assert ">no fd</text>" in svg  # fd 99 has no lane of its own
    assert r.timeline().svg == svg


def test_save_and_print_trace(ran, tmp_path):
    p, r = ran
    path = tmp_path / "t.jsonl"
    assert p.save_trace(path) == str(path)
    out = io.StringIO()
    assert text.print_trace(path, file=out) == 0
    assert out.getvalue() == p.host.trace.text() + "\n"
    out = io.StringIO()
    text.print_trace(path, summary=True, file=out)
    assert "fd_close" in out.getvalue() and "total" in out.getvalue()
    r.save_trace(tmp_path / "r.jsonl")
    assert (tmp_path / "r.jsonl").read_text() == path.read_text()


def test_timeline_of_nothing():
    p = Process(sockets(count=1, wait_ms=0))
    svg = timeline.render(p.host.trace, [], [])
    p.kill()
    assert svg.startswith("<svg")


def test_timeline_is_bounded():
    p = Process(sockets(count=1, wait_ms=0))
    p.run()
    row = p.fds.iloc[3].to_dict()
    rows = [dict(row, fd=i, opened_seq=0) for i in range(300)]
    closed = [dict(row, fd=3, opened_seq=0, closed_seq=1)] * 1000
    svg = timeline.render(p.host.trace, rows, closed)
    assert svg.count('class="wx-bar"') <= timeline.MAX_LANES + timeline.MAX_BARS
    assert svg.count('text-anchor="end">fd ') == timeline.MAX_LANES and "bars not shown" in svg


def test_styled_is_deterministic(ran):
    from wasix_nb.views import tables

    html = tables.styled(ran[0].fds, "wasix-x-fds")
    assert "<table" in html and 'id="T_wasix-x-fds"' in html
    assert html == tables.styled(ran[0].fds, "wasix-x-fds")
