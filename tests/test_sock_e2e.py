"""End-to-end: WAT programs on real loopback sockets against Python peers."""

import os
import random
import socket
import threading

import pytest

from conftest import has_ipv6, listening_port, wait_for
from watlib import addr_local, addr_v4, addr_v6, echo_server, module, imports, CHECK, stream_client
from wasix_nb.process import Process


def _echo_1mib(proc, family, host):
    port = listening_port(proc)
    payload = random.Random(7).randbytes(1 << 20)
    received = bytearray()
    seen = set()
    with socket.create_connection((host, port), timeout=10) as c:

        def reader():
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return
                received.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        rng = random.Random(1)
        pos = 0
        while pos < len(payload):
            n = rng.randint(1, 32768)
            c.sendall(payload[pos : pos + n])
            pos += n
            seen.update(r["state"] for r in proc.host.fds.rows())
        wait_for(lambda: len(received) >= len(payload), timeout=20)
        seen.update(r["state"] for r in proc.host.fds.rows())
        c.shutdown(socket.SHUT_WR)
        t.join(10)
    res = proc.wait(10)
    assert res is not None and res.ok, res and res.message
    assert bytes(received) == payload
    return res, seen


def test_tcp_echo_1mib(no_leak):
    proc = Process(echo_server(addr_v4("127.0.0.1", 0))).start()
    port = listening_port(proc)
    res, seen = _echo_1mib(proc, socket.AF_INET, "127.0.0.1")
    assert {"listening", "connected"} <= seen
    hist = {r["fd"]: r for r in res.history_rows}
    conn = hist[4]
    assert conn["state"] == "closed" and conn["bytes_in"] == conn["bytes_out"] == 1 << 20
    assert conn["local"] == f"127.0.0.1:{port}" and conn["peer"].startswith("127.0.0.1:")
    assert hist[3]["local"] == f"127.0.0.1:{port}"
    # the accept event shows the peer; bind shows the address actually bound
    lines = res.log.text()
    assert f"sock_bind(fd=3, addr={{127.0.0.1:0}}) = 0 addr=127.0.0.1:{port}" in lines
    assert "sock_accept_v2(" in lines and "fd=4 peer=127.0.0.1:" in lines


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
def test_tcp_echo_ipv6(no_leak):
    proc = Process(echo_server(addr_v6("::1", 0))).start()
    port = listening_port(proc)
    res, seen = _echo_1mib(proc, socket.AF_INET6, "::1")
    assert "listening" in seen
    hist = {r["fd"]: r for r in res.history_rows}
    assert hist[3]["local"] == f"[::1]:{port}" and hist[3]["family"] == "INET6"
    assert hist[4]["peer"].startswith("[::1]:") and hist[4]["state"] == "closed"


def _python_server(family, addr, reply):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind(addr)
    srv.listen()
    got = []

    def serve():
        c, _ = srv.accept()
        with c:
            data = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            got.append(data)
            c.sendall(reply(data))
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], got, t


def test_tcp_client_against_python_server(no_leak):
    port, got, t = _python_server(socket.AF_INET, ("127.0.0.1", 0), lambda d: d.upper() * 3)
    res = Process(stream_client(addr_v4("127.0.0.1", port), b"hello wasix"), timeout=10).run()
    t.join(5)
    assert res.ok, res.message
    assert got == [b"hello wasix"]
    assert res.stdout == b"HELLO WASIX" * 3
    row = res.history_rows[0]
    assert row["peer"] == f"127.0.0.1:{port}" and row["state"] == "closed"
    assert row["bytes_out"] == 11 and row["bytes_in"] == 33
    assert f"sock_connect(fd=3, addr={{127.0.0.1:{port}}}) = 0 addr=127.0.0.1:{port}" in res.log.text()


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
def test_tcp_client_ipv6(no_leak):
    port, got, t = _python_server(socket.AF_INET6, ("::1", 0), lambda d: d[::-1])
    res = Process(stream_client(addr_v6("::1", port), b"abc"), timeout=10).run()
    t.join(5)
    assert res.ok, res.message
    assert res.stdout == b"cba"
    assert res.history_rows[0]["peer"] == f"[::1]:{port}"


UDP_PAIR = module(
    imports(
        "sock_open",
        "sock_bind",
        "sock_addr_local",
        "sock_send_to",
        "sock_recv_from",
        "fd_write",
        "fd_close",
        "proc_exit",
    ),
    CHECK
    + """
  (func (export "_start")
    (local $a i32) (local $b i32)
    (call $check (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 128)))
    (local.set $a (i32.load (i32.const 128)))
    (call $check (call $sock_open (i32.const 1) (i32.const 2) (i32.const 17) (i32.const 128)))
    (local.set $b (i32.load (i32.const 128)))
    (call $check (call $sock_bind (local.get $a) (i32.const 0)))
    (call $check (call $sock_addr_local (local.get $a) (i32.const 256)))
    ;; b -> a: "ping" (b is bound implicitly by the send)
    (i32.store (i32.const 168) (i32.const 512)) (i32.store (i32.const 172) (i32.const 4))
    (call $check (call $sock_send_to (local.get $b) (i32.const 168) (i32.const 1) (i32.const 0)
                                     (i32.const 256) (i32.const 144)))
    ;; a receives into a 2-byte buffer: truncated datagram, sender address in 384
    (i32.store (i32.const 160) (i32.const 4096)) (i32.store (i32.const 164) (i32.const 2))
    (call $check (call $sock_recv_from (local.get $a) (i32.const 160) (i32.const 1) (i32.const 0)
                                       (i32.const 136) (i32.const 140) (i32.const 384)))
    (i32.store (i32.const 172) (i32.load (i32.const 136)))
    (i32.store (i32.const 168) (i32.const 4096))
    (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144)))
    ;; a -> b: "pong" to the address recv_from reported
    (i32.store (i32.const 168) (i32.const 516)) (i32.store (i32.const 172) (i32.const 4))
    (call $check (call $sock_send_to (local.get $a) (i32.const 168) (i32.const 1) (i32.const 0)
                                     (i32.const 384) (i32.const 144)))
    (i32.store (i32.const 164) (i32.const 100))
    (call $check (call $sock_recv_from (local.get $b) (i32.const 160) (i32.const 1) (i32.const 0)
                                       (i32.const 136) (i32.const 140) (i32.const 384)))
    (i32.store (i32.const 172) (i32.load (i32.const 136)))
    (i32.store (i32.const 168) (i32.const 4096))
    (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144)))
    (call $check (call $fd_close (local.get $a)))
    (call $check (call $fd_close (local.get $b))))""",
    data=[(0, addr_v4("127.0.0.1", 0)), (512, b"pingpong")],
)


def test_udp_pair(no_leak):
    res = Process(UDP_PAIR, timeout=10).run()
    assert res.ok, res.message
    assert res.stdout == b"pipong"
    ev = [e for e in res.log if e.name == "sock_recv_from"]
    assert ev[0].outs[:2] == (2, 1)  # 2 bytes, DATA_TRUNCATED
    assert ev[1].outs[:2] == (4, 0)
    a, b = sorted((r for r in res.history_rows if r["kind"] == "socket"), key=lambda r: r["fd"])
    assert a["type"] == "DGRAM" and a["state"] == "closed"
    # b was bound implicitly by its first send_to, on the unspecified address (as Linux does)
    assert b["local"] == "0.0.0.0:" + ev[0].outs[2].split(":")[1] and ev[1].outs[2] == a["local"]
    assert a["bytes_in"] == 2 and a["bytes_out"] == 4 and b["bytes_out"] == 4 and b["bytes_in"] == 4


LOCAL_STREAM = module(
    imports(
        "sock_open",
        "sock_bind",
        "sock_listen",
        "sock_connect",
        "sock_accept_v2",
        "sock_send",
        "sock_recv",
        "sock_addr_peer",
        "fd_write",
        "fd_close",
        "proc_exit",
    ),
    CHECK
    + """
  (func (export "_start")
    (local $l i32) (local $c i32) (local $a i32)
    (call $check (call $sock_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 128)))
    (local.set $l (i32.load (i32.const 128)))
    (call $check (call $sock_bind (local.get $l) (i32.const 0)))
    (call $check (call $sock_listen (local.get $l) (i32.const 4)))
    (call $check (call $sock_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 128)))
    (local.set $c (i32.load (i32.const 128)))
    (call $check (call $sock_connect (local.get $c) (i32.const 0)))
    (call $check (call $sock_accept_v2 (local.get $l) (i32.const 0) (i32.const 132) (i32.const 256)))
    (local.set $a (i32.load (i32.const 132)))
    (i32.store (i32.const 168) (i32.const 512)) (i32.store (i32.const 172) (i32.const 5))
    (call $check (call $sock_send (local.get $c) (i32.const 168) (i32.const 1) (i32.const 0) (i32.const 144)))
    (i32.store (i32.const 160) (i32.const 4096)) (i32.store (i32.const 164) (i32.const 100))
    (call $check (call $sock_recv (local.get $a) (i32.const 160) (i32.const 1) (i32.const 0)
                                  (i32.const 136) (i32.const 140)))
    (i32.store (i32.const 168) (i32.const 4096)) (i32.store (i32.const 172) (i32.load (i32.const 136)))
    (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144)))
    ;; the peer of the connecting side is the path it named
    (call $check (call $sock_addr_peer (local.get $c) (i32.const 384)))
    (i32.store (i32.const 168) (i32.const 386)) (i32.store (i32.const 172) (i32.const 14))
    (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144))))""",
    data=[(0, addr_local("/tmp/echo.sock")), (512, b"hello")],
)


def test_local_stream_confined_to_scratch_dir(no_leak):
    import os

    proc = Process(LOCAL_STREAM, timeout=10)
    res = proc.run()
    assert res.ok, res.message
    assert res.stdout == b"hello/tmp/echo.sock"
    rows = {r["fd"]: r for r in res.fd_rows}
    assert rows[3]["state"] == "listening" and rows[3]["local"] == "/tmp/echo.sock"
    assert rows[4]["peer"] == "/tmp/echo.sock" and rows[4]["state"] == "connected"
    assert rows[5]["local"] == "/tmp/echo.sock" and rows[5]["family"] == "LOCAL"
    # the socket file lived in the per-process scratch directory, which is gone now
    scratch = proc.host.scratch_dir
    assert scratch and not os.path.exists(scratch)
    assert not os.path.exists("/tmp/echo.sock")


def test_local_paths_cannot_escape():
    from wasix_nb.host.host import Host

    h = Host()
    try:
        for guest in ("../../etc/passwd", "/../x", "a/../../b", "/etc/shadow"):
            p = h.local_path(guest)  # bytes: a program's path need not be UTF-8
            assert p.startswith(os.fsencode(h.scratch_dir) + b"/")
            assert b".." not in p
    finally:
        h.close()
    assert not __import__("os").path.exists(h.scratch_dir)


SOCK_PAIR = module(
    imports("sock_pair", "sock_send", "sock_recv", "fd_write", "fd_close", "proc_exit"),
    CHECK
    + """
  (func (export "_start")
    (call $check (call $sock_pair (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 128) (i32.const 132)))
    (i32.store (i32.const 168) (i32.const 512)) (i32.store (i32.const 172) (i32.const 3))
    (call $check (call $sock_send (i32.load (i32.const 128)) (i32.const 168) (i32.const 1) (i32.const 0)
                                  (i32.const 144)))
    (i32.store (i32.const 160) (i32.const 4096)) (i32.store (i32.const 164) (i32.const 100))
    (call $check (call $sock_recv (i32.load (i32.const 132)) (i32.const 160) (i32.const 1) (i32.const 0)
                                  (i32.const 136) (i32.const 140)))
    (i32.store (i32.const 168) (i32.const 4096)) (i32.store (i32.const 172) (i32.load (i32.const 136)))
    (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144)))
    ;; INET pairs do not exist (Linux: EOPNOTSUPP)
    (call $proc_exit (call $sock_pair (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 128) (i32.const 132))))""",
    data=[(512, b"abc")],
)


def test_sock_pair(no_leak):
    res = Process(SOCK_PAIR, timeout=10).run()
    assert res.stdout == b"abc"
    assert res.exit_code == 58  # NOTSUP for INET
    rows = {r["fd"]: r for r in res.fd_rows}
    assert rows[3]["state"] == rows[4]["state"] == "connected"
    assert rows[3]["bytes_out"] == 3 and rows[4]["bytes_in"] == 3
    assert rows[3]["peer"] == "pair fd 4"
