"""Blocked programs end promptly on kill/stop/timeout, and close their sockets."""

import socket
import time

from conftest import listening_port, wait_for
from watlib import CHECK, addr_v4, echo_server, imports, module, subscription
from wasix_nb.process import Process


def test_kill_blocked_in_accept(no_leak):
    proc = Process(echo_server(addr_v4("127.0.0.1", 0))).start()
    port = listening_port(proc)
    time.sleep(0.05)  # let it enter sock_accept
    t0 = time.monotonic()
    res = proc.kill()
    assert time.monotonic() - t0 < 1
    assert res.outcome == "killed"
    assert res.log.events[-1][2].name == "sock_accept_v2"
    assert proc.host.fds.rows() == []
    assert any(r["local"] == f"127.0.0.1:{port}" and r["state"] == "closed at exit" for r in res.history_rows)
    with socket.socket() as s:  # the port is free again: the socket was closed
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_stop_blocked_in_recv(no_leak):
    proc = Process(echo_server(addr_v4("127.0.0.1", 0))).start()
    port = listening_port(proc)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        wait_for(lambda: any(r["state"] == "connected" for r in proc.host.fds.rows()))
        time.sleep(0.05)  # now blocked in sock_recv
        t0 = time.monotonic()
        proc.stop()
        res = proc.wait(1.0)
        assert res is not None and time.monotonic() - t0 < 1
        assert res.outcome == "killed"
        assert c.recv(10) == b""  # the server side was closed
    assert res.log.events[-1][2].name == "sock_recv"


POLL_FOREVER = module(
    imports("sock_open", "sock_bind", "sock_listen", "poll_oneoff", "proc_exit"),
    CHECK
    + """
  (func (export "_start")
    (call $check (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 128)))
    (call $check (call $sock_bind (i32.load (i32.const 128)) (i32.const 0)))
    (call $check (call $sock_listen (i32.load (i32.const 128)) (i32.const 1)))
    (i32.store (i32.const 616) (i32.load (i32.const 128)))
    (call $check (call $poll_oneoff (i32.const 600) (i32.const 800) (i32.const 2) (i32.const 900))))""",
    data=[(0, addr_v4()), (600, subscription(1, 1) + subscription(2, 0, 1, 3600 * 10**9))],
)


def test_timeout_ends_poll_oneoff(no_leak):
    t0 = time.monotonic()
    res = Process(POLL_FOREVER, timeout=0.3).run()
    took = time.monotonic() - t0
    assert res.outcome == "timeout" and 0.25 < took < 1.3
    assert res.log.events[-1][2].name == "poll_oneoff"
    assert all(r["state"] == "closed at exit" for r in res.history_rows if r["kind"] == "socket")


def test_kill_blocked_in_poll(no_leak):
    proc = Process(POLL_FOREVER).start()
    listening_port(proc)
    time.sleep(0.05)
    t0 = time.monotonic()
    res = proc.kill()
    assert res.outcome == "killed" and time.monotonic() - t0 < 1


def test_sigint_interrupts_a_foreground_program_blocked_in_accept(no_leak):
    import os
    import signal
    import threading
    import time

    import wasix_nb
    from watlib import addr_v4, echo_server

    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    res = wasix_nb.run(echo_server(addr_v4("127.0.0.1", 0), conns=-1))
    took = time.perf_counter() - t0
    assert res.outcome == "interrupted" and took < 1.3
    assert [e.name for e in res.log][-1] == "sock_accept_v2"
