"""The POSIX answers (section 5 of the ABI doc), each on a real loopback socket."""

import socket
import time

import pytest

from watlib import Shim, addr_local, addr_v4, addr_v6

CONNREFUSED, ADDRINUSE, PIPE, INVAL, NOTCONN, NOTSOCK, BADF = 14, 3, 64, 28, 53, 57, 8
IOV = 160  # iovec {4096, 64}
CIOV = 168  # ciovec {512, 4}


@pytest.fixture
def k(no_leak):
    with Shim() as shim:
        shim.mem.write(IOV, (4096).to_bytes(4, "little") + (64).to_bytes(4, "little"))
        shim.mem.write(CIOV, (512).to_bytes(4, "little") + (4).to_bytes(4, "little"))
        shim.mem.write(512, b"data")
        yield shim


def tcp(k):
    assert k.sock_open(1, 1, 0, 128) == 0
    return k.mem.u32(128)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connection_refused(k):
    fd = tcp(k)
    k.mem.write(0, addr_v4("127.0.0.1", free_port()))
    assert k.sock_connect(fd, 0) == CONNREFUSED
    row = k.host.fds.rows()[fd]
    assert row["state"] == "error"
    assert k.sock_status(fd, 300) == 0 and k.mem.u8(300) == 3  # failed


def test_address_in_use(k):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        fd = tcp(k)
        k.mem.write(0, addr_v4("127.0.0.1", busy.getsockname()[1]))
        assert k.sock_bind(fd, 0) == ADDRINUSE
        assert k.host.fds.rows()[fd]["state"] == "opened"


def _connected(k):
    srv = socket.create_server(("127.0.0.1", 0))
    fd = tcp(k)
    k.mem.write(0, addr_v4("127.0.0.1", srv.getsockname()[1]))
    assert k.sock_connect(fd, 0) == 0
    c, _ = srv.accept()
    srv.close()
    return fd, c


def test_send_after_peer_closed_is_pipe(k):
    fd, c = _connected(k)
    c.close()
    results = []
    for _ in range(200):  # the first sends may still succeed; then the RST arrives
        r = k.sock_send(fd, CIOV, 1, 0, 144)
        results.append(r)
        if r:
            break
        time.sleep(0.005)
    assert results[-1] == PIPE, results
    assert k.host.host_errors == []


def test_recv_on_closed_peer_gives_zero_bytes(k):
    fd, c = _connected(k)
    c.sendall(b"bye")
    c.close()
    assert k.sock_recv(fd, IOV, 1, 0, 136, 140) == 0 and k.mem.u32(136) == 3
    assert k.sock_recv(fd, IOV, 1, 0, 136, 140) == 0 and k.mem.u32(136) == 0
    assert k.fd_read(fd, IOV, 1, 136) == 0 and k.mem.u32(136) == 0


def test_accept_on_non_listening_is_inval(k):
    fd = tcp(k)
    assert k.sock_accept(fd, 0, 132) == INVAL
    assert k.sock_accept_v2(fd, 0, 132, 256) == INVAL
    k.mem.write(0, addr_v4("127.0.0.1", 0))
    assert k.sock_bind(fd, 0) == 0
    assert k.sock_accept_v2(fd, 0, 132, 256) == INVAL


def test_send_on_unconnected_stream_is_notconn(k):
    fd = tcp(k)
    assert k.sock_send(fd, CIOV, 1, 0, 144) == NOTCONN
    assert k.fd_write(fd, CIOV, 1, 144) == NOTCONN
    assert k.sock_recv(fd, IOV, 1, 0, 136, 140) == NOTCONN


@pytest.mark.parametrize(
    "call,args",
    [
        ("sock_bind", (0,)),
        ("sock_listen", (1,)),
        ("sock_accept", (0, 132)),
        ("sock_accept_v2", (0, 132, 256)),
        ("sock_connect", (0,)),
        ("sock_recv", (IOV, 1, 0, 136, 140)),
        ("sock_send", (CIOV, 1, 0, 144)),
        ("sock_recv_from", (IOV, 1, 0, 136, 140, 256)),
        ("sock_send_to", (CIOV, 1, 0, 0, 144)),
        ("sock_shutdown", (3,)),
        ("sock_status", (300,)),
        ("sock_addr_local", (256,)),
        ("sock_addr_peer", (256,)),
        ("sock_set_opt_flag", (2, 1)),
        ("sock_get_opt_flag", (2, 300)),
        ("sock_set_opt_time", (19, 300)),
        ("sock_get_opt_time", (19, 300)),
        ("sock_set_opt_size", (15, 4096)),
        ("sock_get_opt_size", (15, 300)),
        ("sock_join_multicast_v4", (400, 404)),
        ("sock_leave_multicast_v4", (400, 404)),
        ("sock_join_multicast_v6", (400, 0)),
        ("sock_leave_multicast_v6", (400, 0)),
    ],
)
def test_socket_calls_on_stdout_are_notsock(k, call, args):
    k.mem.write(0, addr_v4("127.0.0.1", 1))
    assert getattr(k, call)(1, *args) == NOTSOCK
    assert getattr(k, call)(77, *args) == BADF
    assert k.last()[:2] == (call, BADF)


def test_listen_without_bind_gets_ephemeral_port(k):
    fd = tcp(k)
    assert k.sock_listen(fd, 8) == 0
    row = k.host.fds.rows()[fd]
    assert row["state"] == "listening"
    host, port = row["local"].rsplit(":", 1)
    assert host == "0.0.0.0" and int(port) > 0
    assert k.last()[2] == (row["local"],)
    # and a client can reach it
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
        assert k.sock_accept_v2(fd, 0, 132, 256) == 0
    assert k.sock_addr_local(fd, 256) == 0 and k.mem.u16(258) == int(port)


def test_bind_twice_and_wrong_family_are_inval(k):
    fd = tcp(k)
    k.mem.write(0, addr_v6("::1", 0))
    assert k.sock_bind(fd, 0) == INVAL
    k.mem.write(0, addr_v4("127.0.0.1", 0))
    assert k.sock_bind(fd, 0) == 0
    assert k.sock_bind(fd, 0) == INVAL
    assert k.host.fds.rows()[fd]["state"] == "bound"


def test_shutdown_states_and_bad_how(k):
    fd, c = _connected(k)
    with c:
        assert k.sock_shutdown(fd, 0) == INVAL
        assert k.sock_shutdown(fd, 4) == INVAL
        assert k.sock_shutdown(fd, 2) == 0
        assert k.host.fds.rows()[fd]["state"] == "shut_wr"
        assert c.recv(10) == b""  # the peer sees EOF
        assert k.sock_send(fd, CIOV, 1, 0, 144) == PIPE
        assert k.sock_shutdown(fd, 1) == 0
        assert k.host.fds.rows()[fd]["state"] == "shut_rdwr"
    fd2 = tcp(k)
    assert k.sock_shutdown(fd2, 3) == NOTCONN


def test_addresses_written_back(k):
    fd, c = _connected(k)
    with c:
        assert k.sock_addr_peer(fd, 256) == 0
        raw = k.mem.read(256, 28)
        assert raw[0] == 1 and raw[1] == 0 and int.from_bytes(raw[2:4], "little") == c.getsockname()[1]
        assert raw[4:8] == bytes([127, 0, 0, 1])
        assert k.sock_addr_local(fd, 256) == 0
        assert int.from_bytes(k.mem.read(258, 2), "little") == c.getpeername()[1]
    fd2 = tcp(k)
    assert k.sock_addr_peer(fd2, 256) == NOTCONN


def test_local_connect_to_missing_path(k):
    assert k.sock_open(3, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    k.mem.write(0, addr_local("/nowhere.sock"))
    assert k.sock_connect(fd, 0) == 44  # NOENT, as Linux


def test_recv_from_on_a_stream_reports_the_peer(k):
    fd, c = _connected(k)
    with c:
        c.sendall(b"abc")
        assert k.sock_recv_from(fd, IOV, 1, 0, 136, 140, 256) == 0 and k.mem.u32(136) == 3
        assert k.mem.u8(256) == 1 and int.from_bytes(k.mem.read(258, 2), "little") == c.getsockname()[1]
        # send_to on a connected stream ignores the address (Linux), even one the policy would deny
        k.mem.write(0, addr_v4("10.9.9.9", 1))
        assert k.sock_send_to(fd, CIOV, 1, 0, 0, 144) == 0 and c.recv(10) == b"data"


def test_descriptor_limit_checked_before_accepting(no_leak):
    with Shim(fd_limit=4) as k:  # stdio + the listener fill it
        assert k.sock_open(1, 1, 0, 128) == 0
        fd = k.mem.u32(128)
        assert k.sock_listen(fd, 4) == 0
        port = int(k.host.fds.rows()[fd]["local"].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            assert k.sock_accept_v2(fd, 0, 132, 256) == 33  # MFILE, nothing accepted
            assert k.sock_pair(3, 1, 0, 128, 132) == 33
            assert k.fd_pipe(128, 132) == 33
            assert k.fd_close(0) == 0  # a free slot: the connection is still there
            assert k.sock_accept_v2(fd, 0, 132, 256) == 0 and k.mem.u32(132) == 0
