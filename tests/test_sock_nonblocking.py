"""Non-blocking sockets, DONT_WAIT, poll_oneoff readiness, non-blocking connect."""

import socket
import time

from conftest import listening_port, wait_for
from watlib import CHECK, Shim, addr_v4, events, imports, module, subscription
from wasix_nb.process import Process

# 600: two subscriptions (fd read, 5 s clock); 800: events; 900: nevents; 700: "ready\n", 710: "accepted\n"
NB_SERVER = module(
    imports(
        "sock_open",
        "sock_bind",
        "sock_listen",
        "sock_accept_v2",
        "sock_recv",
        "sock_send",
        "fd_fdstat_set_flags",
        "poll_oneoff",
        "fd_write",
        "fd_close",
        "proc_exit",
    ),
    CHECK
    + """
  (func $say (param $p i32) (param $n i32)
    (i32.store (i32.const 176) (local.get $p)) (i32.store (i32.const 180) (local.get $n))
    (call $check (call $fd_write (i32.const 1) (i32.const 176) (i32.const 1) (i32.const 148))))
  (func $expect (param $got i32) (param $want i32) (param $code i32)
    (if (i32.ne (local.get $got) (local.get $want)) (then (call $proc_exit (local.get $code)))))
  ;; poll fd for reading with a 5 s clock; exits with $code unless exactly the fd event came back
  (func $wait_read (param $fd i32) (param $code i32)
    (i32.store (i32.const 616) (local.get $fd))
    (call $check (call $poll_oneoff (i32.const 600) (i32.const 800) (i32.const 2) (i32.const 900)))
    (call $expect (i32.load (i32.const 900)) (i32.const 1) (local.get $code))
    (call $expect (i32.load (i32.const 800)) (i32.const 1) (local.get $code))
    (call $expect (i32.load8_u (i32.const 810)) (i32.const 1) (local.get $code)))
  (func (export "_start")
    (local $ls i32) (local $c i32)
    (i32.store (i32.const 160) (i32.const 4096)) (i32.store (i32.const 164) (i32.const 100))
    (i32.store (i32.const 168) (i32.const 4096))
    (call $check (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 128)))
    (local.set $ls (i32.load (i32.const 128)))
    (call $check (call $sock_bind (local.get $ls) (i32.const 0)))
    (call $check (call $sock_listen (local.get $ls) (i32.const 4)))
    (call $check (call $fd_fdstat_set_flags (local.get $ls) (i32.const 4)))
    (call $expect (call $sock_accept_v2 (local.get $ls) (i32.const 0) (i32.const 132) (i32.const 256))
                  (i32.const 6) (i32.const 1))
    (call $say (i32.const 700) (i32.const 6))
    (call $wait_read (local.get $ls) (i32.const 2))
    (call $check (call $sock_accept_v2 (local.get $ls) (i32.const 4) (i32.const 132) (i32.const 256)))
    (local.set $c (i32.load (i32.const 132)))
    (call $expect (call $sock_recv (local.get $c) (i32.const 160) (i32.const 1) (i32.const 0)
                                   (i32.const 136) (i32.const 140)) (i32.const 6) (i32.const 3))
    (call $say (i32.const 710) (i32.const 9))
    (call $wait_read (local.get $c) (i32.const 4))
    (call $check (call $sock_recv (local.get $c) (i32.const 160) (i32.const 1) (i32.const 0)
                                  (i32.const 136) (i32.const 140)))
    (i32.store (i32.const 172) (i32.load (i32.const 136)))
    (call $check (call $sock_send (local.get $c) (i32.const 168) (i32.const 1) (i32.const 0) (i32.const 144)))
    ;; nothing more yet: DONT_WAIT answers AGAIN
    (call $expect (call $sock_recv (local.get $c) (i32.const 160) (i32.const 1) (i32.const 8)
                                   (i32.const 136) (i32.const 140)) (i32.const 6) (i32.const 5))
    (call $say (i32.const 720) (i32.const 5))
    ;; the peer shuts down: readable with the hangup flag, then recv gives 0 bytes
    (call $wait_read (local.get $c) (i32.const 6))
    (call $expect (i32.load16_u (i32.const 824)) (i32.const 1) (i32.const 7))
    (call $check (call $sock_recv (local.get $c) (i32.const 160) (i32.const 1) (i32.const 0)
                                  (i32.const 136) (i32.const 140)))
    (call $expect (i32.load (i32.const 136)) (i32.const 0) (i32.const 8))
    (call $check (call $fd_close (local.get $c)))
    (call $check (call $fd_close (local.get $ls))))""",
    data=[
        (0, addr_v4()),
        (600, subscription(1, 1) + subscription(2, 0, 1, 5_000_000_000)),
        (700, b"ready\n"),
        (710, b"accepted\n"),
        (720, b"sent\n"),
    ],
)


def test_nonblocking_accept_recv_with_poll(no_leak):
    out = bytearray()
    proc = Process(NB_SERVER, stdout=out.extend, timeout=20).start()
    wait_for(lambda: b"ready" in out)
    port = listening_port(proc)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        wait_for(lambda: b"accepted" in out)
        c.sendall(b"data")
        assert c.recv(10) == b"data"
        wait_for(lambda: b"sent" in out)
        c.shutdown(socket.SHUT_WR)
        res = proc.wait(10)
    assert res.exit_code == 0, (res.message, res.log.text())
    text = res.log.text()
    assert "sock_accept_v2(fd=3, flags=0, ro_fd=0x84, ro_addr=0x100) = 6 AGAIN" in text
    assert "sock_recv(fd=4, iovs=0xa0, iovs_len=1, flags=0, ro_datalen=0x88, ro_flags=0x8c) = 6 AGAIN" in text
    assert "flags=DONT_WAIT" in text
    assert [e.outs for e in res.log if e.name == "poll_oneoff"] == [(1,), (1,), (1,)]
    conn = [r for r in res.history_rows if r["fd"] == 4][0]
    assert "nonblock" in conn["flags"]


def nb_client(port):
    return module(
        imports("sock_open", "sock_connect", "poll_oneoff", "sock_status", "sock_send", "fd_close", "proc_exit"),
        CHECK
        + """
  (func (export "_start")
    (local $s i32) (local $r i32)
    (call $check (call $sock_open (i32.const 1) (i32.const 0x4001) (i32.const 0) (i32.const 128)))
    (local.set $s (i32.load (i32.const 128)))
    (local.set $r (call $sock_connect (local.get $s) (i32.const 0)))
    (if (i32.and (i32.ne (local.get $r) (i32.const 26)) (i32.ne (local.get $r) (i32.const 0)))
      (then (call $proc_exit (i32.const 1))))
    (i32.store (i32.const 616) (local.get $s))
    (call $check (call $poll_oneoff (i32.const 600) (i32.const 800) (i32.const 2) (i32.const 900)))
    (if (i32.ne (i32.load (i32.const 800)) (i32.const 1)) (then (call $proc_exit (i32.const 2))))
    (call $check (call $sock_status (local.get $s) (i32.const 904)))
    (if (i32.ne (i32.load8_u (i32.const 904)) (i32.const 1)) (then (call $proc_exit (i32.const 3))))
    (i32.store (i32.const 168) (i32.const 512)) (i32.store (i32.const 172) (i32.const 2))
    (call $check (call $sock_send (local.get $s) (i32.const 168) (i32.const 1) (i32.const 0) (i32.const 144)))
    (call $check (call $fd_close (local.get $s))))""",
        data=[
            (0, addr_v4("127.0.0.1", port)),
            (512, b"hi"),
            (600, subscription(1, 2) + subscription(2, 0, 1, 5_000_000_000)),
        ],
    )


def test_nonblocking_connect_then_poll_writable(no_leak):
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    res = Process(nb_client(port), timeout=10).run()
    c, _ = srv.accept()
    with c, srv:
        assert c.recv(10) == b"hi"
    assert res.exit_code == 0, (res.message, res.log.text())
    connect = [e for e in res.log if e.name == "sock_connect"][0]
    assert connect.errno in (0, 26)
    row = [r for r in res.history_rows if r["kind"] == "socket"][0]
    assert row["peer"] == f"127.0.0.1:{port}" and row["bytes_out"] == 2


def test_nonblocking_connect_state_in_fd_table(no_leak):
    """connecting -> connected is recorded when poll_oneoff sees the socket writable."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    with Shim() as k, srv:
        m = k.mem
        assert k.sock_open(1, 0x4001, 0, 128) == 0
        m.write(0, addr_v4("127.0.0.1", port))
        r = k.sock_connect(3, 0)
        assert r in (0, 26)
        if r == 26:
            assert k.host.fds.rows()[3]["state"] == "connecting"
        m.write(600, subscription(9, 2, 3) + subscription(2, 0, 1, 5_000_000_000))
        assert k.poll_oneoff(600, 800, 2, 900) == 0
        assert events(m.read(800, 64), m.u32(900))[0][:3] == (9, 0, 2)
        assert k.host.fds.rows()[3]["state"] == "connected"
        assert k.host.fds.rows()[3]["peer"] == f"127.0.0.1:{port}"


def test_nonblocking_connect_refused_sets_error(no_leak):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now
    with Shim() as k:
        m = k.mem
        assert k.sock_open(1, 0x4001, 0, 128) == 0
        m.write(0, addr_v4("127.0.0.1", port))
        r = k.sock_connect(3, 0)
        if r == 26:
            m.write(600, subscription(9, 2, 3) + subscription(2, 0, 1, 5_000_000_000))
            assert k.poll_oneoff(600, 800, 2, 900) == 0
            assert k.host.fds.rows()[3]["state"] == "error"
            m.write(256, b"x")
            m.write(160, bytes(8))
            assert k.sock_status(3, 904) == 0 and m.u8(904) == 3  # failed
            assert k.sock_get_opt_flag(3, 11, 905) == 0 and m.u8(905) == 1  # LAST_ERROR
        else:
            assert r == 14


def test_poll_many_subscriptions_and_hangup(no_leak):
    with Shim() as k:
        m = k.mem
        fds = []
        for i in range(20):
            assert k.sock_pair(3, 1, 0, 128, 132) == 0
            fds.append((m.u32(128), m.u32(132)))
        m.write(512, b"z")
        m.write(168, b"\x00\x02\x00\x00\x01\x00\x00\x00")  # ciovec {512, 1}
        for a, b in fds[::2]:
            assert k.sock_send(a, 168, 1, 0, 144) == 0
        assert k.fd_close(fds[1][0]) == 0  # peer of fds[1][1] gone: hangup
        subs = b"".join(subscription(100 + i, 1, b) for i, (a, b) in enumerate(fds))
        subs += subscription(1, 0, 1, 5_000_000_000)
        m.write(0x1000, subs)
        t0 = time.monotonic()
        assert k.poll_oneoff(0x1000, 0x3000, 21, 900) == 0
        assert time.monotonic() - t0 < 1
        evs = events(m.read(0x3000, 32 * m.u32(900)), m.u32(900))
        got = {e[0]: e for e in evs}
        assert set(got) == {100 + i for i in range(0, 20, 2)} | {101}
        assert all(got[100 + i][3] == 1 for i in range(0, 20, 2))  # nbytes available
        assert got[101][4] == 1 and got[100][4] == 0  # hangup flag
        # a due clock alone
        m.write(0x1000, subscription(5, 0, 1, 20_000_000))
        t0 = time.monotonic()
        assert k.poll_oneoff(0x1000, 0x3000, 1, 900) == 0
        assert 0.015 < time.monotonic() - t0 < 1
        assert events(m.read(0x3000, 32), 1) == [(5, 0, 0, 0, 0)]
        # a closed descriptor: BADF in the event; zero subscriptions: INVAL
        m.write(0x1000, subscription(6, 1, 999))
        assert k.poll_oneoff(0x1000, 0x3000, 1, 900) == 0
        assert events(m.read(0x3000, 32), 1)[0][:2] == (6, 8)
        assert k.poll_oneoff(0x1000, 0x3000, 0, 900) == 28


def test_fdstat_nonblock_and_dont_wait(no_leak):
    with Shim() as k:
        m = k.mem
        assert k.sock_pair(3, 1, 0, 128, 132) == 0
        a, b = m.u32(128), m.u32(132)
        m.write(160, b"\x00\x10\x00\x00\x10\x00\x00\x00")  # iovec {4096, 16}
        assert k.sock_recv(a, 160, 1, 8, 136, 140) == 6  # DONT_WAIT on a blocking socket
        assert k.fd_fdstat_set_flags(a, 4) == 0
        assert "nonblock" in k.host.fds.rows()[a]["flags"]
        assert k.fd_fdstat_get(a, 300) == 0 and m.u16(302) == 4 and m.u8(300) == 6
        assert k.fd_read(a, 160, 1, 136) == 6  # fd_read on a non-blocking socket: AGAIN
        m.write(512, b"hello")
        m.write(168, b"\x00\x02\x00\x00\x05\x00\x00\x00")
        assert k.fd_write(b, 168, 1, 144) == 0 and m.u32(144) == 5
        assert k.fd_read(a, 160, 1, 136) == 0 and m.read(4096, m.u32(136)) == b"hello"
        # a full send buffer: non-blocking send gives a partial count, then AGAIN
        m.write(168, b"\x00\x80\x00\x00\x00\x40\x00\x00")  # ciovec {0x8000, 0x4000}
        total, r = 0, 0
        for _ in range(1000):
            r = k.sock_send(b, 168, 1, 1, 144)
            if r:
                break
            total += m.u32(144)
        assert r == 6 and total > 0
        rows = k.host.fds.rows()
        assert rows[b]["bytes_out"] == total + 5 and rows[a]["bytes_in"] == 5


def test_poll_absolute_realtime_clock(no_leak):
    with Shim() as k:
        m = k.mem
        m.write(0x600, subscription(3, 0, 0, time.time_ns() + 30_000_000, flags=1))
        t0 = time.monotonic()
        assert k.poll_oneoff(0x600, 0x800, 1, 900) == 0
        assert 0.02 < time.monotonic() - t0 < 1
        assert events(m.read(0x800, 32), 1) == [(3, 0, 0, 0, 0)]
        m.write(0x600, subscription(4, 0, 9, 0))  # unknown clock: INVAL in the event
        assert k.poll_oneoff(0x600, 0x800, 1, 900) == 0
        assert events(m.read(0x800, 32), 1)[0][:2] == (4, 28)
