"""Process ends (return, exit, trap, timeout, interrupt, kill), cleanup, compile cache, imports, injection."""

import os
import signal
import threading
import time

import pytest

import wasix_nb
from wasix_nb import compile as wcompile
from wasix_nb.errors import MissingImports, ProgramExit, ProgramTrapped, WatSyntaxError
from wasix_nb.process import Process
from wat_core import count_os_fds

HEAD = """(module
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (func $open3 (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64)))
               (drop (call $sock_open (i32.const 2) (i32.const 2) (i32.const 0) (i32.const 64)))
               (drop (call $sock_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 64))))
"""

ENDINGS = {
    "returned": '(func (export "_start") (call $open3))',
    "exited": '(func (export "_start") (call $open3) (call $exit (i32.const 3)))',
    "trapped": '(func (export "_start") (call $open3) (unreachable))',
    "timeout": '(func (export "_start") (call $open3) (loop $l (br $l)))',
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_ending_closes_every_socket(ending):
    before = count_os_fds()
    res = wasix_nb.run(HEAD + ENDINGS[ending] + ")", timeout=0.3 if ending == "timeout" else None)
    assert res.outcome == ending
    assert res.exit_code == {"returned": 0, "exited": 3}.get(ending)
    assert [r["fd"] for r in res.fd_rows] == [0, 1, 2, 3, 4, 5], "the table as the program left it"
    assert {h["state"] for h in res.history_rows} == {"closed at exit"}
    assert count_os_fds() == before, "no OS descriptor leaked"
    assert len(res.process.host.fds) == 0


def test_kill_of_a_background_loop_within_a_second():
    before = count_os_fds()
    proc = Process(HEAD + ENDINGS["timeout"] + ")").start()
    deadline = time.time() + 5
    while len(proc.host.trace) < 3 and time.time() < deadline:
        time.sleep(0.01)
    t0 = time.perf_counter()
    res = proc.kill()
    assert time.perf_counter() - t0 < 1.0
    assert res.outcome == "killed" and res.returncode == 137
    assert count_os_fds() == before


def test_sigint_interrupts_a_pure_wasm_loop():
    assert threading.current_thread() is threading.main_thread()
    before = count_os_fds()
    old = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    res = wasix_nb.run(HEAD + ENDINGS["timeout"] + ")")
    took = time.perf_counter() - t0
    assert res.outcome == "interrupted" and res.returncode == 130
    assert took < 1.3, f"interrupt took {took:.2f} s"
    assert signal.getsignal(signal.SIGINT) is old, "the previous handler is back"
    assert count_os_fds() == before


def test_trap_message_names_the_function_and_line():
    wat = (
        HEAD
        + """(func $inner (param i32) (result i32)
    (i32.div_u (i32.const 1) (local.get 0)))
  (func (export "_start") (drop (call $inner (i32.const 0)))))"""
    )
    res = wasix_nb.run(wat)
    assert res.outcome == "trapped"
    assert "integer division by zero" in res.message
    assert "#0 inner" in res.message
    lineno = wat.splitlines().index("    (i32.div_u (i32.const 1) (local.get 0)))") + 1
    assert f"line {lineno}: (i32.div_u" in res.message
    with pytest.raises(ProgramTrapped):
        res.check()


def test_exit_code_check_raises_like_called_process_error():
    res = wasix_nb.run(HEAD + ENDINGS["exited"] + ")")
    with pytest.raises(ProgramExit) as ei:
        res.check()
    assert ei.value.returncode == 3 and ei.value.result is res


def test_stdout_streams_while_running():
    seen = []
    wat = (
        HEAD
        + """(func (export "_start")
      (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (call $open3)
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
    )
    proc = Process(wat, stdout=lambda b: seen.append((b, len(proc.host.trace))))
    res = proc.run()
    assert seen == [(b"hi\n", 0), (b"hi\n", 4)], "each write reaches the sink during its own call"
    assert res.stdout == b"hi\nhi\n"


def test_compile_cache_hits_on_rerun():
    wat = HEAD + ENDINGS["returned"] + ") ;; cache test " + str(time.time())
    n = wcompile.POOL.compiles
    wasix_nb.run(wat)
    wasix_nb.run(wat)
    wasix_nb.run(wat)
    assert wcompile.POOL.compiles == n + 1


def test_wat_syntax_error_points_at_line_and_column():
    with pytest.raises(WatSyntaxError) as ei:
        Process('(module\n  (func (export "_start")\n    (i32.bogus)))')
    msg = str(ei.value)
    assert "3:6" in msg and "^" in msg and "Traceback" not in msg


def test_missing_imports_listed_before_running_and_stubbed_on_request():
    wat = """(module
      (import "wasix_32v1" "sock_frobnicate" (func $f (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_teleport" (func $g (param i32 i64)))
      (import "wasix_32v1" "fd_close" (func $c (param i64) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (i32.store (i32.const 0) (call $f (i32.const 7))) (call $g (i32.const 1) (i64.const 2))))"""
    with pytest.raises(MissingImports) as ei:
        Process(wat)
    text = str(ei.value)
    assert "wasix_32v1.sock_frobnicate: func (i32) -> (i32)" in text
    assert "wasi_snapshot_preview1.path_teleport: func (i32 i64) -> ()" in text
    assert "wasix_32v1.fd_close: func (i64) -> (i32) (the host's fd_close is func (i32) -> (i32))" in text
    res = wasix_nb.run(wat, stub_missing=True)
    assert res.outcome == "returned"
    evs = list(res.log)
    assert [e.name for e in evs] == ["wasix_32v1.sock_frobnicate", "wasi_snapshot_preview1.path_teleport"]
    assert evs[0].errno == 52 and evs[0].mark == "nosys" and evs[0].args == (7,)
    mem = res.process.host.mem
    assert mem.u32(0) == 52


def test_injection_nth_call_and_condition():
    res = wasix_nb.run(HEAD + ENDINGS["returned"] + ")", inject=["sock_open#2=MFILE"])
    evs = list(res.log)
    assert [e.errno for e in evs] == [0, 33, 0]
    assert evs[1].mark == "injected by sock_open#2=MFILE"
    assert [r["family"] for r in res.fd_rows[3:]] == ["INET", "LOCAL"]
    res = wasix_nb.run(HEAD + ENDINGS["returned"] + ")", inject="sock_open:af=INET6=AFNOSUPPORT")
    assert [e.errno for e in res.log] == [0, 5, 0]
    assert "(injected by sock_open:af=INET6=AFNOSUPPORT)" in res.log.text()
    with pytest.raises(ValueError):
        Process(HEAD + ENDINGS["returned"] + ")", inject=["sock_open#2=NOTANERRNO"])
    with pytest.raises(ValueError):
        Process(HEAD + ENDINGS["returned"] + ")", inject=["sock_open:colour=red=IO"])


def test_fuel_and_memory_limit():
    res = wasix_nb.run(HEAD + ENDINGS["timeout"] + ")", fuel=10_000)
    assert res.outcome == "trapped" and "fuel" in res.message
    wat = """(module (memory (export "memory") 1)
      (func (export "_start") (if (i32.ne (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))))"""
    assert wasix_nb.run(wat, memory_limit=2 * 65536).outcome == "returned"
    assert wasix_nb.run(wat).outcome == "trapped"


def test_no_entry_is_a_clear_error():
    from wasix_nb.errors import NoEntry

    with pytest.raises(NoEntry, match="no entry point.*'_start'.*main"):  # not "trapped" (issue 13)
        wasix_nb.run('(module (func (export "main")))')
    assert wasix_nb.run('(module (func (export "main")))', entry="main").ok


def test_injection_by_import_name_or_syscall_name(driver):
    d = driver("sock_accept", inject=["sock_accept#2=CONNABORTED"])  # wasix_32v1.sock_accept is accept_v2
    assert d.call("sock_accept", 3, 0, 64, 128) == 8  # BADF: really called
    assert d.call("sock_accept", 3, 0, 64, 128) == 13  # injected
    assert (
        d.last().name == "sock_accept" and d.last().mark == "injected by sock_accept#2=CONNABORTED"
    )  # the import name
    d2 = driver("sock_accept", inject=["sock_accept_v2=AGAIN"])
    assert d2.call("sock_accept", 3, 0, 64, 128) == 6
    with pytest.raises(Exception, match="does not import"):
        driver("sock_open", inject=["sock_accept=AGAIN"])


def test_process_stdout_while_and_after():
    proc = Process(
        HEAD
        + """(func (export "_start")
      (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
    )
    assert proc.stdout == b"" and proc.status == "created"
    res = proc.run()
    assert proc.stdout == res.stdout == b"hi\n" and proc.stderr == b""


def test_compile_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(wcompile.EnginePool, "MAX_MODULES", 3)
    pool = wcompile.EnginePool()
    eng = pool.checkout()
    srcs = [wcompile.Source.load(f'(module (func (export "f{i}")))') for i in range(5)]
    for s in srcs:
        pool.module(eng, s)
    assert pool.compiles == 5
    assert len(pool._modules[id(eng)]) == 3 and len(pool._serialized) == 3
    pool.module(eng, srcs[-1])
    assert pool.compiles == 5  # still cached
    pool.module(eng, srcs[0])
    assert pool.compiles == 6  # evicted, compiled again


def test_trace_keeps_its_limit_and_counts_the_rest():
    from programs import clock_loop

    res = wasix_nb.run(clock_loop(1000), trace_limit=100)
    tr = res.log
    assert len(tr) == 100 and tr.calls == 1000 and tr.unrecorded_calls == 900
    summ = {r["syscall"]: r for r in tr.summary_rows()}
    assert summ["clock_time_get"]["calls"] == 1000
    assert tr.lines()[-1].startswith("  ... 900 more calls counted")
    assert len(res.trace) == 100  # the DataFrame: the recorded events
    assert res.summary.set_index("syscall").loc["clock_time_get", "calls"] == 1000
