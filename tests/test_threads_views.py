"""Seeing threads: `proc.threads` (a DataFrame), the panel's threads section, the trace's tid."""

from conftest import wait_for
from threadprogs import program, spawn
from wasix_nb.runtime import Process
from wasix_nb.views import threads as threads_view


def test_threads_frame_and_panel_section_say_what_each_thread_waits_on():
    p = Process(program(spawn("spin", "futex", "pipe_read", "accept") + "\n    (call $go (i32.const 2))")).start()
    try:
        want = {1: "blocked in futex_wait on 0x40", 2: "running wasm", 3: "blocked in futex_wait on 0x40"}

        def ready():
            df = p.threads
            st = dict(zip(df["tid"], df["state"]))
            return (
                len(df) == 5
                and all(st.get(k) == v for k, v in want.items())
                and st[4].startswith("blocked in fd_read on fd")
                and st[5].startswith("blocked in sock_accept")
                and len(df) > 0
            )

        wait_for(ready, timeout=15)
        df = p.threads
        assert list(df.columns) == threads_view.THREAD_COLUMNS
        assert list(df["started_by"]) == ["the host (_start)"] + ["thread 1: thread_spawn"] * 4
        html = threads_view.section_html(p)
        assert "<h4>threads</h4>" in html and "blocked in futex_wait on 0x40" in html and "running wasm" in html
    finally:
        r = p.kill()
    df = r.threads
    assert len(df) == 5 and all(s.startswith("stopped") for s in df["state"])
    assert int(df["calls"].sum()) == len(r.log)


def test_a_single_thread_program_shows_no_threads_section():
    p = Process('(module (memory (export "memory") 1) (func (export "_start")))')
    r = p.run()
    assert threads_view.section_html(p) == "" and list(r.threads["state"]) == ["exited with code 0"]


def test_timeline_has_a_lane_per_thread_above_the_descriptors():
    import wasix_nb

    r = wasix_nb.run(
        program(
            spawn("count", "count")
            + """
    (loop $w (if (i32.lt_u (i32.atomic.load (i32.const 68)) (i32.const 2)) (then
      (drop (call $futex_wait (i32.const 68) (i32.atomic.load (i32.const 68)) (i32.const 80) (i32.const 100)))
      (br $w))))"""
        ),
        timeout=20,
    )
    svg = r.timeline().svg
    assert svg.count('class="wx-thread"') == 3 and svg.index(">tid 1<") < svg.index(">fd 0<")
    single = wasix_nb.run('(module (memory (export "memory") 1) (func (export "_start")))')
    assert "wx-thread" not in single.timeline().svg
