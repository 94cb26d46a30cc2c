"""The accept path of a server.  sock_listen's backlog is a hint: a burst beyond it is queued, not dropped.

A small backlog taken literally makes Linux drop the SYNs of a burst, and each dropped connect then
waits for a 1 s retransmit: the "2 ms per accept" mode of benchmarks/echo.py (issue 14).  Wasmer
listens with SOMAXCONN whatever the guest asks; so does wasix_nb.
"""

import socket

from watlib import AF_INET, STREAM, Shim, addr_v4


def test_a_burst_beyond_the_backlog_is_queued():
    with Shim() as k:
        k.mem.write(0, addr_v4("127.0.0.1", 0))
        assert k.sock_open(AF_INET, STREAM, 0, 128) == 0
        fd = k.mem.u32(128)
        assert k.sock_bind(fd, 0) == 0
        assert k.sock_listen(fd, 1) == 0  # and nobody accepts
        port = int(k.host.fds.rows()[fd]["local"].rsplit(":", 1)[1])
        clients, refused = [], 0
        try:
            for _ in range(64):
                c = socket.socket()
                c.settimeout(0.5)  # a dropped SYN would wait 1 s for its retransmit
                clients.append(c)
                try:
                    c.connect(("127.0.0.1", port))
                except OSError:
                    refused += 1
            assert refused == 0, f"{refused} of 64 connects were dropped by a backlog of 1"
            assert k.sock_accept_v2(fd, 0, 132, 256) == 0
        finally:
            for c in clients:
                c.close()


def _listen(k, addr):
    k.mem.write(0, addr)
    assert k.sock_open(addr[0], STREAM, 0, 128) == 0
    fd = k.mem.u32(128)
    assert k.sock_bind(fd, 0) == 0 and k.sock_listen(fd, 8) == 0
    return fd, int(k.host.fds.rows()[fd]["local"].rsplit(":", 1)[1])


def test_accepted_connection_addresses():
    """The accept fast path: a listener on one address lends it to the connection (no getsockname);
    a wildcard listener asks the OS which local address the connection got."""
    with Shim() as k:
        for addr, connect_to, local in (
            (addr_v4("127.0.0.1", 0), "127.0.0.1", "127.0.0.1"),
            (addr_v4("0.0.0.0", 0), "127.0.0.1", "127.0.0.1"),
        ):
            lfd, port = _listen(k, addr)
            with socket.create_connection((connect_to, port), timeout=5) as c:
                assert k.sock_accept_v2(lfd, 0, 132, 256) == 0
                fd = k.mem.u32(132)
                row = k.host.fds.rows()[fd]
                cport = c.getsockname()[1]
                assert row["local"] == f"{local}:{port}" and row["peer"] == f"127.0.0.1:{cport}"
                assert (row["family"], row["type"], row["state"]) == ("INET", "STREAM", "connected")
                assert k.mem.read(256, 8) == addr_v4("127.0.0.1", cport)[:8]  # the peer, as written
                assert k.fd_close(fd) == 0
                assert k.fd_close(fd) == 8 and k.last()[:2] == ("fd_close", 8)  # BADF, traced
            assert k.fd_close(lfd) == 0
