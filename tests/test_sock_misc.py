"""Socket options, multicast membership, resolve and fd_pipe."""

import ipaddress
import socket
import struct
import time

import pytest

from conftest import has_ipv6
from watlib import Shim

INVAL = 28


@pytest.fixture
def k(no_leak):
    with Shim() as shim:
        yield shim


def test_flag_options(k):
    assert k.sock_open(1, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    for opt in (2, 3, 12):  # REUSE_ADDR, NO_DELAY, KEEP_ALIVE
        assert k.sock_get_opt_flag(fd, opt, 300) == 0 and k.mem.u8(300) == 0
        assert k.sock_set_opt_flag(fd, opt, 1) == 0
        assert k.sock_get_opt_flag(fd, opt, 300) == 0 and k.mem.u8(300) == 1
    assert k.sock_set_opt_flag(fd, 2, 2) == INVAL
    assert k.sock_set_opt_flag(fd, 10, 1) == INVAL  # LISTENING is read-only
    assert k.sock_set_opt_flag(fd, 99, 1) == INVAL
    assert k.sock_get_opt_flag(fd, 10, 300) == 0 and k.mem.u8(300) == 0
    assert k.sock_listen(fd, 1) == 0
    assert k.sock_get_opt_flag(fd, 10, 300) == 0 and k.mem.u8(300) == 1
    assert k.sock_get_opt_flag(fd, 11, 300) == 0 and k.mem.u8(300) == 0  # LAST_ERROR


def test_size_options(k):
    assert k.sock_open(1, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    assert k.sock_get_opt_size(fd, 25, 300) == 0 and k.mem.u64(300) == 1  # TYPE STREAM
    assert k.sock_get_opt_size(fd, 26, 300) == 0 and k.mem.u64(300) == 6  # PROTO TCP
    assert k.sock_set_opt_size(fd, 15, 8192) == 0
    assert k.sock_get_opt_size(fd, 15, 300) == 0 and k.mem.u64(300) >= 8192
    assert k.sock_set_opt_size(fd, 23, 7) == 0  # TTL
    assert k.sock_get_opt_size(fd, 23, 300) == 0 and k.mem.u64(300) == 7
    assert k.sock_set_opt_size(fd, 15, -1) == INVAL
    assert k.sock_set_opt_size(fd, 25, 2) == INVAL
    assert k.last()[2] is None


def test_recv_timeout_gives_again(k):
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a = k.mem.u32(128)
    k.mem.write(300, struct.pack("<B7xQ", 1, 50_000_000))
    assert k.sock_set_opt_time(a, 19, 300) == 0
    assert k.sock_get_opt_time(a, 19, 400) == 0 and k.mem.read(400, 16) == struct.pack("<B7xQ", 1, 50_000_000)
    assert k.sock_get_opt_time(a, 20, 400) == 0 and k.mem.u8(400) == 0  # SEND_TIMEOUT: none
    k.mem.write(160, (4096).to_bytes(4, "little") + (16).to_bytes(4, "little"))
    t0 = time.monotonic()
    assert k.sock_recv(a, 160, 1, 0, 136, 140) == 6
    assert 0.04 < time.monotonic() - t0 < 1
    k.mem.write(300, struct.pack("<B7xQ", 2, 0))
    assert k.sock_set_opt_time(a, 19, 300) == INVAL
    assert k.sock_set_opt_time(a, 3, 300) == INVAL


def test_multicast_v4_join_and_leave(k):
    assert k.sock_open(1, 2, 0, 128) == 0
    fd = k.mem.u32(128)
    k.mem.write(400, bytes([224, 0, 0, 251, 127, 0, 0, 1]))
    assert k.sock_join_multicast_v4(fd, 400, 404) == 0
    assert k.sock_leave_multicast_v4(fd, 400, 404) == 0
    assert k.sock_leave_multicast_v4(fd, 400, 404) == 4  # not a member: ADDRNOTAVAIL, as Linux


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
def test_multicast_v6_join_and_leave(k):
    assert k.sock_open(2, 2, 0, 128) == 0
    fd = k.mem.u32(128)
    k.mem.write(400, ipaddress.IPv6Address("ff02::fb").packed)
    lo = socket.if_nametoindex("lo")
    assert k.sock_join_multicast_v6(fd, 400, lo) == 0
    assert k.sock_leave_multicast_v6(fd, 400, lo) == 0


def test_resolve(k):
    k.mem.write(500, b"localhost")
    assert k.resolve(500, 9, 80, 0x800, 4, 900) == 0 and k.mem.u32(900) == 2
    raw = k.mem.read(0x800, 36)
    assert raw[0] == 1 and raw[2:6] == bytes([127, 0, 0, 1]) and raw[6:18] == bytes(12)
    assert raw[18] == 2 and raw[20:36] == ipaddress.IPv6Address("::1").packed
    assert k.resolve(500, 9, 80, 0x800, 1, 900) == 0 and k.mem.u32(900) == 1  # at most naddrs
    k.mem.write(500, b"10.1.2.3")
    assert k.resolve(500, 8, 0, 0x800, 4, 900) == 0 and k.mem.u32(900) == 1
    assert k.mem.read(0x800, 6) == bytes([1, 0, 10, 1, 2, 3])
    assert k.last()[2] == (1, "10.1.2.3")
    k.mem.write(500, b"\xff\xfe")
    assert k.resolve(500, 2, 0, 0x800, 4, 900) == INVAL


def test_fd_pipe(k):
    m = k.mem
    assert k.fd_pipe(128, 132) == 0
    r, w = m.u32(128), m.u32(132)
    assert (r, w) == (3, 4)
    m.write(512, b"through the pipe")
    m.write(168, (512).to_bytes(4, "little") + (16).to_bytes(4, "little"))
    m.write(160, (4096).to_bytes(4, "little") + (64).to_bytes(4, "little"))
    assert k.fd_write(w, 168, 1, 144) == 0 and m.u32(144) == 16
    assert k.fd_read(r, 160, 1, 136) == 0 and m.read(4096, m.u32(136)) == b"through the pipe"
    assert k.fd_write(r, 168, 1, 144) == 8  # BADF: the read end
    assert k.fd_read(w, 160, 1, 136) == 8
    assert k.fd_fdstat_set_flags(r, 4) == 0
    assert k.fd_read(r, 160, 1, 136) == 6  # empty, non-blocking: AGAIN
    # poll sees the read end become readable
    from watlib import events, subscription

    m.write(0x600, subscription(7, 1, r) + subscription(8, 2, w))
    assert k.poll_oneoff(0x600, 0x800, 2, 900) == 0
    assert [e[0] for e in events(m.read(0x800, 64), m.u32(900))] == [8]
    assert k.sock_send(w, 168, 1, 0, 144) == 57  # NOTSOCK
    rows = k.host.fds.rows()
    assert rows[r]["kind"] == "pipe" and rows[r]["bytes_in"] == 16 and rows[w]["bytes_out"] == 16
    assert k.fd_close(w) == 0
    assert k.fd_read(r, 160, 1, 136) == 0 and m.u32(136) == 0  # EOF
    assert k.fd_pipe(128, 132) == 0
    r2, w2 = m.u32(128), m.u32(132)
    assert k.fd_close(r2) == 0
    assert k.fd_write(w2, 168, 1, 144) == 64  # PIPE (no SIGPIPE)


def test_accept_names_per_module():
    from wasix_nb.host import registry

    p1 = registry.lookup("wasi_snapshot_preview1", "sock_accept")
    assert p1.name == "sock_accept" and len(p1.params) == 3
    for name in ("sock_accept", "sock_accept_v2"):
        v2 = registry.lookup("wasix_32v1", name)
        assert v2.name == "sock_accept_v2" and len(v2.params) == 4
    assert registry.lookup("wasi_snapshot_preview1", "sock_accept_v2") is None


def test_local_datagrams(k):
    from watlib import addr_local

    m = k.mem
    assert k.sock_open(3, 2, 0, 128) == 0 and k.sock_open(3, 2, 0, 132) == 0
    a, b = m.u32(128), m.u32(132)
    m.write(0, addr_local("/run/a.sock"))
    m.write(200, addr_local("/b.sock"))
    assert k.sock_bind(a, 0) == 0 and k.sock_bind(b, 200) == 0
    m.write(512, b"dgram")
    m.write(168, (512).to_bytes(4, "little") + (5).to_bytes(4, "little"))
    m.write(160, (4096).to_bytes(4, "little") + (64).to_bytes(4, "little"))
    assert k.sock_send_to(b, 168, 1, 0, 0, 144) == 0 and m.u32(144) == 5
    assert k.sock_recv_from(a, 160, 1, 0, 136, 140, 400) == 0
    assert m.read(4096, m.u32(136)) == b"dgram"
    assert m.u8(400) == 3 and m.read(402, 8) == b"/b.sock\0"
    assert k.last()[2] == (5, 0, "/b.sock")
    rows = k.host.fds.rows()
    assert rows[a]["local"] == "/run/a.sock" and rows[b]["local"] == "/b.sock"
    assert k.sock_addr_local(a, 400) == 0 and m.read(402, 12) == b"/run/a.sock\0"


def _iov(k, at, *bufs):
    k.mem.write(at, b"".join(b.to_bytes(4, "little") + n.to_bytes(4, "little") for b, n in bufs))


def test_scatter_gather_peek_waitall(k):
    m = k.mem
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = m.u32(128), m.u32(132)
    m.write(512, b"hello, world")
    _iov(k, 168, (512, 5), (517, 7))  # two ciovecs
    assert k.sock_send(b, 168, 2, 0, 144) == 0 and m.u32(144) == 12
    _iov(k, 160, (4096, 4))
    assert k.sock_recv(a, 160, 1, 1, 136, 140) == 0 and m.read(4096, 4) == b"hell"  # PEEK
    _iov(k, 200, (4096, 3), (8192, 100))  # two iovecs
    assert k.sock_recv(a, 200, 2, 0, 136, 140) == 0 and m.u32(136) == 12
    assert m.read(4096, 3) == b"hel" and m.read(8192, 9) == b"lo, world"
    # WAITALL: the second half arrives later but the call returns only when the buffer is full
    import threading

    m.write(600, b"0123456789")
    _iov(k, 168, (600, 5))
    assert k.sock_send(b, 168, 1, 0, 144) == 0
    peer = k.host.fds.file(b).os
    t = threading.Timer(0.05, lambda: peer.send(b"56789"))
    t.start()
    _iov(k, 160, (4096, 10))
    assert k.sock_recv(a, 160, 1, 2, 136, 140) == 0 and m.u32(136) == 10
    assert m.read(4096, 10) == b"0123456789"
    t.join()
    assert k.sock_recv(a, 160, 1, 0x40, 136, 140) == INVAL  # unknown riflags
    assert k.sock_send(b, 168, 1, 2, 144) == INVAL  # unknown siflags


def test_dup_shares_the_socket(k):
    m = k.mem
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = m.u32(128), m.u32(132)
    assert k.fd_dup(a, 300) == 0
    d = m.u32(300)
    assert k.fd_close(a) == 0
    m.write(512, b"ok")
    _iov(k, 168, (512, 2))
    assert k.sock_send(d, 168, 1, 0, 144) == 0  # still open through the copy
    _iov(k, 160, (4096, 8))
    assert k.sock_recv(b, 160, 1, 0, 136, 140) == 0 and m.read(4096, 2) == b"ok"
    assert k.sock_status(d, 304) == 0 and m.u8(304) == 1  # opened
    assert k.fd_close(d) == 0
    assert k.sock_recv(b, 160, 1, 0, 136, 140) == 0 and m.u32(136) == 0  # now the peer sees EOF
