"""The fixed cost of a run (issue 14, benchmarks/hostcalls.py item 4): what was made cheaper must stay
as complete as before.  The trace's first chunk starts small and grows in place without losing a record
(even with writers and readers in several threads); the final tables, built without pandas, show the
same cells as the DataFrames."""

import re
import struct
import threading

from programs import sockets
from wasix_nb import eventlog
from wasix_nb.process import Process
from wasix_nb.views import plain, tables
from wasix_nb.views.display import StaticResult

FEW = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "hi\\n")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const N))))))"""


CLOCK = """(module
  (import "wasix_32v1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 64)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const N))))))"""


def run_writes(n, wat=FEW):
    p = Process(wat.replace("(i32.const N)", f"(i32.const {n})"), stdout=lambda b: None)
    r = p.run()
    assert r.outcome == "returned", r.message
    return p, r


def test_a_short_run_allocates_a_small_trace():
    p, r = run_writes(5)
    chunks = p.host.trace.events.chunks
    assert len(chunks) == 1 and len(chunks[0]) <= eventlog.FIRST * eventlog.SIZE  # not 2 MB
    assert [ev[2].name for ev in r.log.events] == ["fd_write"] * 5 and r.stdout == b"hi\n" * 5


def test_the_first_chunk_grows_in_place_and_keeps_every_record():
    n = eventlog.CHUNK + 500  # through every doubling of chunk 0 and into chunk 1
    p, r = run_writes(n, CLOCK)  # clock_time_get: packed records (fd_write's captures are kept whole)
    log = p.host.trace.events
    assert len(log) == n and len(log.chunks) == 2
    assert len(log.chunks[0]) == eventlog.CHUNK * eventlog.SIZE
    assert len(log.side) <= 16  # only the records that met a chunk's end are kept whole
    assert all(ev[2].name == "clock_time_get" and ev[4] == 0 and ev[3][:2] == (1, 0) for ev in log)
    assert [b[0].name for b in log.brief()] == ["clock_time_get"] * n
    assert log.counts("tid") == {1: n} and p.host.trace.calls == n


def test_writers_and_readers_in_threads_while_the_chunk_grows():
    """The fused writer's protocol (pack into chunks[i >> SHIFT], else `put`) from four threads while
    another thread scans with brief()/counts(): nothing lost, no BufferError from a held export."""
    log = eventlog.EventLog()
    log.cap = 1 << 20

    class Call:
        name = "x"

    cid = log.decl_id(Call)
    pk = eventlog.packer(1)
    per, errors, stop = 6000, [], threading.Event()

    def writer(tid):
        try:
            for k in range(per):
                i = log.claim()
                try:
                    pk(log.chunks[i >> eventlog.SHIFT], (i & eventlog._MASK) * eventlog.SIZE, i, 1, cid, 0, 1, tid)
                except (IndexError, struct.error):
                    log.put(i, (i, 1, Call, (k,), 0, None, None, 1, tid, None))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def reader():
        try:
            while not stop.is_set():
                log.brief()
                log.counts("tid")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    rd = threading.Thread(target=reader)
    rd.start()
    ws = [threading.Thread(target=writer, args=(t,)) for t in range(1, 5)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    rd.join()
    assert not errors, errors
    assert len(log) == 4 * per and log.counts("tid") == {t: per for t in range(1, 5)}
    assert all(ev[0] == i for i, ev in enumerate(log) if i not in log.side)


def _cells(html, table_id):
    body = html.split(f'id="T_{table_id}"', 1)[1].split("</table>", 1)[0]
    return [c.replace("&lt;NA&gt;", "") for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", body)]


def test_final_tables_show_what_the_dataframes_hold():
    p = Process(sockets(count=3, wait_ms=1))
    p.run()
    st = StaticResult(p)
    html = st._repr_mimebundle_()["text/html"]
    closed = tables.history_frame(plain.closed_rows(p, at_exit=False))
    for suffix, df in (("-fds", p.fds), ("-closed", closed), ("-summary", p.summary)):
        assert _cells(html, st.uid + suffix) == _cells(tables.styled(df, "x"), "x"), suffix
    text = st.text()
    assert text.splitlines()[1].split() == list(plain.FD_COLUMNS)
    assert len(text.splitlines()) >= 2 + len(p.fds)


# -- what is reused from one run to the next carries nothing of the run -----------------------------
STATEFUL = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $open (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (export "counter") (mut i32) (i32.const 0))
  (func (export "_start")
    ;; print the byte at 100 (+ 'a'), then change it and the global: a reused instance would show it
    (i32.store8 (i32.const 200) (i32.add (i32.const 97) (i32.add (i32.load8_u (i32.const 100)) (global.get $g))))
    (i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1)))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 1))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 64)))))"""


def test_two_runs_of_one_module_back_to_back_share_nothing():
    """Compiled module and its Facts are reused (link.py, facts.py); memory, globals, descriptors and the
    trace are each run's own."""
    first = Process(STATEFUL).run()
    second = Process(STATEFUL).run()
    for r in (first, second):
        assert r.outcome == "returned" and r.stdout == b"a"  # fresh memory and global each time
        assert [ev[2].name for ev in r.log.events] == ["fd_write", "sock_open"]
        assert [row["fd"] for row in r.fd_rows] == [0, 1, 2, 3]  # the socket got fd 3 both times
    assert first.log is not second.log and first.log.events.chunks[0] is not second.log.events.chunks[0]
    assert first.process.module is second.process.module  # the compiled module is what is shared


def test_parsed_options_are_remembered_per_line_but_never_shared():
    from IPython.core.magic_arguments import parse_argstring

    from wasix_nb import magics

    m = magics.WasixMagics.wasix
    line = "--env A=1 --env B=2 --inject sock_open=MFILE -n x"
    a, b = magics._parse(m, line), magics._parse(m, line)
    assert vars(a) == vars(parse_argstring(m, line)) == vars(b)
    a.env.append("C=3")
    assert b.env == ["A=1", "B=2"] and magics._parse(m, line).env == ["A=1", "B=2"]


# -- a %%wasix cell makes the live panel only for a program that runs long enough to watch ----------
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _live_cell(body):
    from IPython.core.interactiveshell import InteractiveShell

    from conftest import cell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "wasix_nb")
    return cell(ip, "", body)  # live is the default


def test_a_short_live_cell_makes_no_widget_and_no_thread():
    _live_cell(FEW.replace("(i32.const N)", "(i32.const 2)"))  # the kernel-wide timer thread exists now
    before = threading.active_count()
    cap = _live_cell(FEW.replace("(i32.const N)", "(i32.const 2)"))
    assert threading.active_count() == before
    datas = [o.data for o in cap.outputs]
    assert len(datas) == 2 and not any(WIDGET_MIME in d for d in datas)
    assert "exited 0 · 2 calls" in datas[-1]["text/plain"] and datas[-1]["text/html"].count("<table") >= 2
    assert cap.outputs[-1].update and cap.outputs[0].transient == cap.outputs[-1].transient


def test_a_long_live_cell_gets_the_panel_and_ends_with_the_final_tables():
    cap = _live_cell(sockets(count=3, wait_ms=150))
    datas = [o.data for o in cap.outputs]
    assert any(WIDGET_MIME in d for d in datas), [list(d) for d in datas]  # the panel came up
    assert WIDGET_MIME not in datas[-1] and datas[-1]["text/html"].count("<table") >= 3
    assert "exited 0" in datas[-1]["text/plain"]
    ids = {o.transient["display_id"] for o in cap.outputs}
    assert len(ids) == 1  # one output, updated in place


def test_a_file_run_again_is_read_again_only_when_it_changed(tmp_path):
    from wasix_nb.compile import Source

    path = tmp_path / "prog.wat"
    path.write_text(FEW.replace("(i32.const N)", "(i32.const 1)"))
    a, b = Source.load(str(path)), Source.load(str(path))
    assert a is b  # not read (nor hashed) again
    path.write_text(FEW.replace("(i32.const N)", "(i32.const 2)"))  # same size, new content
    c = Source.load(str(path))
    assert c is not a and c.digest != a.digest and "(i32.const 2)" in c.wat
    r = Process(str(path), stdout=lambda b: None).run()
    assert r.stdout == b"hi\n" * 2 and r.process.source.name == str(path)


def test_timeouts_share_one_thread_and_still_stop_programs():
    spin = """(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"""
    Process(FEW.replace("(i32.const N)", "(i32.const 1)"), timeout=5, stdout=lambda b: None).run()  # warm
    before = threading.active_count()
    ok = Process(FEW.replace("(i32.const N)", "(i32.const 1)"), timeout=0.2, stdout=lambda b: None).run()
    assert ok.outcome == "returned" and threading.active_count() == before  # no thread of its own
    r = Process(spin, timeout=0.3).run()
    assert r.outcome == "timeout" and 0.25 < r.duration < 5 and threading.active_count() == before
    # the cancelled 0.2 s deadline of the first run fired nothing: a run after it is not stopped
    late = Process(spin, timeout=0.6).run()
    assert late.outcome == "timeout" and late.duration >= 0.55


def test_a_cancelled_timeout_keeps_nothing_of_its_run():
    import gc
    import weakref

    from wasix_nb.runtime.deadlines import DEADLINES

    p = Process(FEW.replace("(i32.const N)", "(i32.const 1)"), timeout=3600, stdout=lambda b: None)
    p.run()
    ref = weakref.ref(p)
    del p
    gc.collect()
    assert ref() is None  # the hour-long deadline was cancelled with the run and holds no reference
    before = len(DEADLINES._heap)
    for _ in range(300):
        Process(FEW.replace("(i32.const N)", "(i32.const 1)"), timeout=3600, stdout=lambda b: None).run()
    assert len(DEADLINES._heap) <= before + 150  # cancelled entries are swept, not piled up


def test_cells_do_not_import_pandas_until_a_dataframe_is_asked_for():
    import os
    import subprocess
    import sys

    code = """
import sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "wasix_nb")
for line in ("--no-live", ""):
    with capture_output() as cap:
        ip.run_cell_magic("wasix", line, PROGRAM)
    assert "<table" in cap.outputs[-1].data["text/html"]
print("pandas" in sys.modules)
ip.user_ns["_wasix"].fds
print("pandas" in sys.modules)
""".replace("PROGRAM", repr(STATEFUL))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "True"], out.stderr[-2000:]


def test_a_live_view_of_a_process_never_run_makes_no_panel():
    from wasix_nb.views import display

    p = Process(FEW.replace("(i32.const N)", "(i32.const 1)"))
    view = display.show(p, live=True, lazy=True, interval=0.02)
    import time

    time.sleep(0.2)
    assert view.panel is None and view._tries >= 2  # waiting for the run, no thread following it
    p.close()
    time.sleep(0.1)
    n = view._tries
    time.sleep(0.1)
    assert view._tries == n and view.panel is None  # closed: it stopped looking
