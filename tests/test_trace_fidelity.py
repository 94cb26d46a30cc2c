"""The trace tells what a strace user expects: who made each call, calls cut short, inputs, the bytes."""

import socket
import threading

import pandas as pd
import pytest
from conftest import untimed
from watlib import addr_v4, echo_server, stream_client

from wasix_nb.abi.memory import GuestMemory
from wasix_nb.host import registry
from wasix_nb.host.host import Host
from wasix_nb.process import Process
from wasix_nb.trace import Trace
from wasix_nb.views import tables

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


@pytest.fixture
def ip():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "wasix_nb")
    yield shell
    shell.run_line_magic("unload_ext", "wasix_nb")


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
    wat = """(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (i32.const 3))))"""
    r = Process(wat).run()
    assert untimed(r.log.lines()[-1]).endswith("proc_exit(code=3) = ?")
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
    assert r.log.captured_bytes <= 30 + 200  # payload prefixes plus the input structs


# -- 3. inputs decoded at call time, even when the call fails --------------------------------------
def test_failed_bind_says_which_address(driver):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        d = driver("sock_open", "sock_bind")
        d.call("sock_open", 1, 1, 0, 64)
        d.mem.write(128, addr_v4("127.0.0.1", port))
        err = d.call("sock_bind", 3, 128)
        assert err != 0
        d.mem.write(128, bytes(28))  # the program reuses the buffer: the trace keeps the input
        line = d.host.trace.lines()[-1]
        assert f"sock_bind(fd=3, addr={{127.0.0.1:{port}}}) = {err} ADDRINUSE" in line
        assert list(tables.trace_frame(d.host.trace)["args"])[-1]["addr"] == f"127.0.0.1:{port}"
    finally:
        busy.close()


def test_inputs_of_failed_calls_are_decoded(driver):
    import struct

    d = driver("fd_write", "poll_oneoff", "sock_open", "sock_set_opt_time", "sock_connect")
    d.mem.write(256, b"hello")
    d.mem.write(0, struct.pack("<II", 256, 5))
    assert d.call("fd_write", 9, 0, 1, 8) == 8  # BADF: data still shown
    assert 'fd_write(fd=9, iovs=[{"hello", 5}], iovs_len=1, nwritten=0x8) = 8 BADF' in d.host.trace.lines()[-1]
    sub = struct.pack("<QB7xI4xQQH6x", 7, 0, 1, 5_000_000, 0, 0) + struct.pack("<QB7xI4xQQH6x", 8, 1, 42, 0, 0, 0)
    d.mem.write(512, sub)
    d.call("poll_oneoff", 512, 1024, 2, 16)
    line = d.host.trace.lines()[-1]
    assert "in=[{7, CLOCK MONOTONIC 5000000ns}, {8, FD_READ fd=42}]" in line
    d.call("sock_open", 1, 1, 0, 64)
    d.mem.write(600, struct.pack("<B7xQ", 1, 2_500_000_000))
    d.call("sock_set_opt_time", 3, 99, 600)  # bad option: INVAL, value shown
    assert "time={2500000000ns}" in d.host.trace.lines()[-1]
    d.mem.write(700, addr_v4("10.9.8.7", 80))
    assert d.call("sock_connect", 3, 700) == 2  # policy: ACCES, address shown
    assert "addr={10.9.8.7:80}" in d.host.trace.lines()[-1]


# -- 4. the bytes, strace -s ------------------------------------------------------------------------
WRITE_100 = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz!!")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 100))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def test_payload_shown_as_strace_string_prefix():
    import wasix_nb

    r = wasix_nb.run(WRITE_100)
    assert 'iovs=[{"0123456789abcdefghijklmnopqrstuv"..., 100}]' in r.log.text()  # -s 32
    r = wasix_nb.run(WRITE_100, strsize=4)
    assert 'iovs=[{"0123"..., 100}]' in r.log.text()
    assert 'iovs=[{"0123456789' in r.log.text(strsize=10)
    full = r.log.line(0)  # everything that was kept
    assert (
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz!!" in full
    )
    r = wasix_nb.run(WRITE_100, payload_limit=10)
    assert list(r.io["data"]) == [b"0123456789"] and list(r.io["nbytes"]) == [100]


def test_strsize_on_the_cli_and_the_magic(tmp_path, ip):
    import subprocess
    import sys

    from conftest import cell

    f = tmp_path / "w.wat"
    f.write_text(WRITE_100)
    out = subprocess.run(
        [sys.executable, "-m", "wasix_nb", "run", "--trace", "-s", "6", str(f)], capture_output=True, timeout=60
    )
    assert b'iovs=[{"012345"..., 100}]' in out.stderr
    cap = cell(ip, "--strsize 3 --trace --no-live", WRITE_100)
    assert 'iovs=[{"012"..., 100}]' in cap.stdout


# -- 6. names, types, whole arguments ----------------------------------------------------------------
def test_call_named_by_its_import_name_and_args_typed():
    wat = """(module
      (import "wasix_32v1" "sock_open" (func $so (param i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "sock_accept" (func $acc (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $so (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 64)))
        (drop (call $acc (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 128)))))"""
    r = Process(wat).run()
    assert [e.name for e in r.log] == ["sock_open", "sock_accept"]
    assert "sock_accept(fd=3" in r.log.text() and "sock_accept_v2" not in r.log.text()
    assert list(r.summary["syscall"].sort_values()) == ["sock_accept", "sock_open"]
    args = r.trace["args"].iloc[0]
    assert args == {"af": "INET", "type": "STREAM", "proto": "0", "ro_fd": 64}
    assert isinstance(r.trace["args"].iloc[1]["fd"], int)


def test_long_arguments_are_reachable_whole():
    path = "/" + "d" * 200 + "/end"
    data = "".join(f"\\{b:02x}" for b in path.encode())
    wat = f'''(module
      (import "wasix_32v1" "chdir" (func $cd (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "{data}")
      (func (export "_start") (drop (call $cd (i32.const 64) (i32.const {len(path)})))))'''
    r = Process(wat).run()
    assert r.trace["args"].iloc[0]["path"] == path
    assert f'path="{path}"' in r.log.line(0)
    assert f'path="{path[:32]}"...' in r.log.text()


# -- 7. the command line ---------------------------------------------------------------------------
def test_cli_trace_flag_takes_no_value_and_o_writes_a_file(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "w.wat"
    f.write_text(WRITE_100)
    r = subprocess.run([sys.executable, "-m", "wasix_nb", "run", "--trace", str(f)], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"0123") and b"fd_write(fd=1" in r.stderr
    out = tmp_path / "t.txt"
    r = subprocess.run(
        [sys.executable, "-m", "wasix_nb", "run", "-o", str(out), str(f)], capture_output=True, timeout=60
    )
    assert r.returncode == 0 and r.stderr == b"" and "fd_write(fd=1" in out.read_text()


# -- 9. the event log: packed records, several writers ---------------------------------------------
def test_event_log_keeps_every_event_of_concurrent_writers():
    h = _host()
    call = registry.lookup(WASIX, "clock_time_get")
    w = registry.wrap(call, h)
    import struct as _st

    from wasix_nb import _raw_calls

    args_st = _st.Struct("<i12xq8xi12x")
    cb = w.raw(args_st.unpack_from, _st.Struct("<i").pack_into, _raw_calls._SPACE, lambda e: 1)
    import ctypes

    per, nthreads = 5000, 4

    def writer(tid):
        buf = ctypes.create_string_buffer(64)
        args_st.pack_into(buf, 0, 1, tid, 64)
        raw = ctypes.addressof(buf)
        registry.THREAD.tid = tid
        for _ in range(per):
            assert cb(None, None, raw, 3) == 0

    ts = [threading.Thread(target=writer, args=(t + 2,)) for t in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    log = h.trace.events
    assert len(log) == per * nthreads
    evs = list(log)
    assert all(ev[2] is call and ev[4] == 0 and ev[3][1] == ev[8] for ev in evs)  # args match their thread
    assert log.counts("tid") == {t + 2: per for t in range(nthreads)}
    assert sum(r["calls"] for r in h.trace.summary_rows()) == per * nthreads
    import gc

    assert not gc.is_tracked(log.chunks[0])  # nothing per call for the collector to walk


def test_saved_trace_prints_the_same_captures_and_states(tmp_path):
    import wasix_nb
    from wasix_nb.views import text

    r = wasix_nb.run(WRITE_100, strsize=8)
    path = tmp_path / "t.jsonl"
    r.save_trace(path)
    assert text.trace_text(path, strsize=8) == r.log.text()
    r2 = _blocked_accept(timeout=0.2).run()
    r2.save_trace(path)
    assert text.trace_text(path).splitlines()[-1].split(") = ")[1].startswith("? <timeout>")
