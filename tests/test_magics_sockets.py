"""The socket features through the magic: a background server poked from Python, the network policy,
`%wasix run` of a file, and unload killing everything."""

import socket
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from conftest import cell, listening_port, open_fds, wait_for
from watlib import addr_v4, echo_server, stream_client


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "wasix_nb")
    yield shell
    shell.run_line_magic("unload_ext", "wasix_nb")


def test_background_echo_server_inspected_from_the_next_cell(ip):
    cell(ip, "--no-live", '(module (func (export "_start")))')  # warm up: the first render opens a few fds for good
    before = open_fds()
    cell(ip, "--bg -n srv --no-live", echo_server(addr_v4("127.0.0.1", 0), conns=-1))
    srv = ip.user_ns["srv"]
    port = listening_port(srv)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"ping")
        assert c.recv(16) == b"ping"
        wait_for(lambda: "connected" in set(ip.run_line_magic("wasix", "fds srv")["state"]))
        fds = ip.run_line_magic("wasix", "fds srv")
        row = fds[fds["state"] == "connected"].iloc[0]
        assert row["peer"] == "127.0.0.1:%d" % c.getsockname()[1] and row["bytes_in"] == 4
        assert row["local"] == f"127.0.0.1:{port}"
    # the reply reaches the client before sock_send's event is appended: wait for it, bounded
    want = {"sock_bind", "sock_listen", "sock_accept_v2", "sock_recv", "sock_send"}
    wait_for(lambda: want <= set(ip.run_line_magic("wasix", "trace srv")["syscall"]))
    t0 = time.perf_counter()
    ip.run_line_magic("wasix", "kill srv")  # blocked in accept: ends at once
    assert time.perf_counter() - t0 < 1.0
    assert srv.status == "killed"
    assert open_fds() == before


def test_network_policy_denies_before_any_os_call(ip):
    with pytest.raises(Exception) as ei:
        cell(ip, "-n cli --no-live", stream_client(addr_v4("10.1.2.3", 9), b"x"))
    proc = ip.user_ns["cli"]
    ev = [e for e in proc.host.trace if e.name == "sock_connect"][0]
    assert ev.errno == 2 and "denied by policy" in ev.mark
    assert "ProgramExit" in type(ei.value).__name__


def test_wasix_run_of_a_file_with_args(ip, tmp_path):
    f = tmp_path / "args.wat"
    f.write_text("""(module
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $as (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (call $as (i32.const 0) (i32.const 4))) (call $exit (i32.load (i32.const 0)))))""")
    with capture_output():
        ip.run_line_magic("wasix", f"run {f} -n r --no-live --no-raise-error -- one two three")
    assert ip.user_ns["r"].exit_code == 4
    assert ip.user_ns["r"].name == "r"


def test_unload_kills_background_processes(ip):
    cell(ip, "--bg -n srv2 --no-live", echo_server(addr_v4("127.0.0.1", 0), conns=-1))
    srv = ip.user_ns["srv2"]
    listening_port(srv)
    ip.run_line_magic("unload_ext", "wasix_nb")
    assert srv.done.is_set() and srv.status == "killed"
    ip.run_line_magic("load_ext", "wasix_nb")
