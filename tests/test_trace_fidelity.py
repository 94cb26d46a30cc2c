"""The trace tells what a strace user expects: who made each call, calls cut short, inputs, the bytes."""
import socket
import threading

import pandas as pd

from wasix_nb.abi.memory import GuestMemory
from wasix_nb.host import registry
from wasix_nb.host.host import Host
from wasix_nb.process import Process
from wasix_nb.trace import Trace
from wasix_nb.views import tables
from watlib import addr_v4, echo_server, stream_client

WASIX = registry.WASIX


def _host(pid=1):
    h = Host()
    h.mem = GuestMemory.of_bytearray(bytearray(4096))
    h.pid = pid
    return h


def _in_thread(tid, fn):
    def run():
        registry.THREAD.tid = tid
        fn()
    t = threading.Thread(target=run)
    t.start()
    t.join()


# -- 1. pid and tid --------------------------------------------------------------------------------
def test_events_carry_pid_and_tid_and_lines_name_the_thread():
    h = _host(pid=7)
    clock = registry.wrap(registry.lookup(WASIX, "clock_time_get"), h)
    clock(1, 0, 64)
    _in_thread(2, lambda: clock(1, 0, 64))
    evs = list(h.trace)
    assert [(e.pid, e.tid) for e in evs] == [(7, 1), (7, 2)]
    lines = h.trace.lines()
    assert "[tid 1] clock_time_get(" in lines[0] and "[tid 2] clock_time_get(" in lines[1]
    df = tables.trace_frame(h.trace)
    assert list(df["pid"]) == [7, 7] and list(df["tid"]) == [1, 2]
    assert df["pid"].dtype == "int64" and df["tid"].dtype == "int64"


def test_one_thread_one_process_has_no_prefix_and_two_processes_say_pid():
    h = _host()
    clock = registry.wrap(registry.lookup(WASIX, "clock_time_get"), h)
    clock(1, 0, 64)
    assert "[" not in h.trace.lines()[0].split("clock_time_get")[0]
    merged = Trace()
    merged.events.extend(h.trace.events)
    h2 = _host(pid=2)
    registry.wrap(registry.lookup(WASIX, "clock_time_get"), h2)(1, 0, 64)
    merged.events.extend(h2.trace.events)
    lines = merged.lines()
    assert "[pid 1] clock_time_get" in lines[0] and "[pid 2] clock_time_get" in lines[1]


# -- 2. a call cut short is not a success ---------------------------------------------------------------
def _blocked_accept(**opts):
    return Process(echo_server(addr_v4("127.0.0.1", 0), conns=1), **opts)


def test_call_ended_by_timeout_is_unfinished_everywhere():
    r = _blocked_accept(timeout=0.3).run()
    assert r.outcome == "timeout"
    last = list(r.log)[-1]
    assert last.name.startswith("sock_accept") and last.errno is None and last.state == "timeout"
    line = r.log.lines()[-1]
    assert " = ? <timeout>" in line and "= 0" not in line
    row = r.summary.set_index("syscall").loc[last.name]
    assert (row["calls"], row["errors"], row["unfinished"]) == (1, 0, 1)
    assert "unfinished" in r.log.summary_text()
    df = r.trace
    assert df["errno"].dtype == "Int64" and pd.isna(df["errno"].iloc[-1])
    assert df["state"].iloc[-1] == "timeout" and isinstance(df["state"].dtype, pd.CategoricalDtype)
    assert (df["state"].iloc[:-1] == "ok").all()


def test_call_ended_by_kill_is_killed():
    p = _blocked_accept().start()
    import time
    deadline = time.time() + 10
    while not any(e.name.startswith("sock_listen") for e in p.host.trace) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    r = p.kill()
    assert r.outcome == "killed"
    assert r.log.lines()[-1].split(") = ")[1].startswith("? <killed>")
    assert r.log.unfinished() == 1 and r.log.errors() == 0


def test_proc_exit_shows_as_strace_does():
    wat = '''(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (i32.const 3))))'''
    r = Process(wat).run()
    assert r.log.lines()[-1].endswith("proc_exit(code=3) = ?")
    ev = list(r.log)[-1]
    assert ev.errno is None and ev.state == "exit"
    assert r.summary.set_index("syscall").loc["proc_exit", "unfinished"] == 0
    assert r.trace["state"].iloc[-1] == "exit"


# -- 5. the conversation ------------------------------------------------------------------------------
def _python_upper_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        c, _ = srv.accept()
        data = b""
        while True:
            chunk = c.recv(100)
            if not chunk:
                break
            data += chunk
        c.sendall(data.upper())
        c.close()
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], t


def test_io_frame_is_the_conversation_in_order():
    port, t = _python_upper_server()
    r = Process(stream_client(addr_v4("127.0.0.1", port), b"hello\nwasix"), timeout=10).run()
    t.join(5)
    assert r.ok, r.message
    io = r.io
    assert list(io.columns) == ["seq", "t_ns", "pid", "tid", "fd", "direction", "nbytes", "data", "peer"]
    assert list(io["direction"]) == ["out", "in", "out"]
    assert list(io["data"]) == [b"hello\nwasix", b"HELLO\nWASIX", b"HELLO\nWASIX"]
    assert list(io["nbytes"]) == [11, 11, 11]
    assert list(io["peer"]) == [f"127.0.0.1:{port}", f"127.0.0.1:{port}", "stdout"]
    assert list(io["fd"]) == [3, 3, 1]
    assert io["seq"].is_monotonic_increasing and io["nbytes"].dtype == "int64"
    assert isinstance(io["direction"].dtype, pd.CategoricalDtype)
    assert r.process.io.equals(io)


def test_io_capture_limit_keeps_exact_counts():
    port, t = _python_upper_server()
    p = Process(stream_client(addr_v4("127.0.0.1", port), b"x" * 100), timeout=10)
    p.host.trace.capture = 10
    r = p.run()
    t.join(5)
    io = r.io
    assert list(io["nbytes"]) == [100, 100, 100]
    assert all(len(d) == 10 for d in io["data"])
    assert r.log.captured_bytes <= 30 + 200      # payload prefixes plus the input structs
