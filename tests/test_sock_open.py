"""sock_open exactly as shared/wasix-abi.md section 5 says: numbering, every check in order, nothing
allocated on failure, flags applied, the limit, and result pointers at the edge of memory."""

import itertools
import socket

import pytest
from conftest import untimed

from wasix_nb.abi import Errno

INET, INET6, LOCAL = 1, 2, 3
STREAM, DGRAM = 1, 2
CLOEXEC, NONBLOCK = 0x2000, 0x4000
PTR = 64


def opened(d):
    return d.mem.u32(PTR)


@pytest.mark.parametrize(
    "af,stype,proto",
    [
        (af, st, pr)
        for af, st, pr in itertools.product((INET, INET6), (STREAM, DGRAM, STREAM | CLOEXEC), (0, 6, 17))
        if pr == 0 or (pr == 6 and st & 0xFF == STREAM) or (pr == 17 and st == DGRAM)
    ]
    + [(LOCAL, STREAM, 0), (LOCAL, DGRAM, 0), (LOCAL, STREAM | CLOEXEC, 0)],
)
def test_valid_rows_open_a_real_socket_at_fd_3(driver, af, stype, proto):
    d = driver("sock_open", "fd_close")
    assert d.call("sock_open", af, stype, proto, PTR) == 0
    assert opened(d) == 3
    row = d.host.fds.rows()[3]
    assert row["fd"] == 3 and row["kind"] == "socket" and row["state"] == "opened"
    assert row["family"] == {INET: "INET", INET6: "INET6", LOCAL: "LOCAL"}[af]
    assert row["type"] == {STREAM: "STREAM", DGRAM: "DGRAM"}[stype & 0xFF]
    assert row["flags"] == ("cloexec" if stype & CLOEXEC else "")
    sock = d.host.fds.file(3).os
    assert sock.family == {INET: socket.AF_INET, INET6: socket.AF_INET6, LOCAL: socket.AF_UNIX}[af]
    assert sock.type == {STREAM: socket.SOCK_STREAM, DGRAM: socket.SOCK_DGRAM}[stype & 0xFF]
    ev = d.last()
    assert ev.name == "sock_open" and ev.errno == 0 and ev.outs == (3,)


@pytest.mark.parametrize(
    "af,stype,proto,err",
    [
        (0, STREAM, 0, Errno.AFNOSUPPORT),  # UNSPEC
        (4, STREAM, 0, Errno.AFNOSUPPORT),
        (-1, STREAM, 0, Errno.AFNOSUPPORT),
        (0, 99, 99, Errno.AFNOSUPPORT),  # af is checked first
        (INET, 0, 0, Errno.INVAL),  # base type outside 1..4
        (INET, 5, 0, Errno.INVAL),
        (INET, STREAM | 0x1000, 0, Errno.INVAL),  # unknown flag bit
        (INET, CLOEXEC, 0, Errno.INVAL),  # flags alone, no type
        (INET, 3, 0, Errno.NOTSUP),  # RAW
        (INET, 4, 0, Errno.NOTSUP),  # SEQPACKET
        (INET, 3, 99, Errno.NOTSUP),  # type is checked before proto
        (INET, STREAM, 17, Errno.PROTONOSUPPORT),
        (INET, DGRAM, 6, Errno.PROTONOSUPPORT),
        (INET6, STREAM, 1, Errno.PROTONOSUPPORT),
        (INET, STREAM, 255, Errno.PROTONOSUPPORT),
        (LOCAL, STREAM, 6, Errno.PROTONOSUPPORT),
        (LOCAL, DGRAM, 17, Errno.PROTONOSUPPORT),
    ],
)
def test_errors_allocate_nothing(driver, af, stype, proto, err):
    d = driver("sock_open")
    d.mem.set_u32(PTR, 0xDEAD)
    assert d.call("sock_open", af, stype, proto, PTR) == err
    assert d.mem.u32(PTR) == 0xDEAD, "nothing written on failure"
    assert d.open_fds() == [0, 1, 2]
    assert d.last().errno == err
    assert d.call("sock_open", INET, STREAM, 0, PTR) == 0 and opened(d) == 3, "the next open still gets 3"


def test_nonblock_flag_becomes_a_descriptor_flag(driver):
    d = driver("sock_open", "fd_fdstat_get", "fd_fdflags_get")
    assert d.call("sock_open", INET, STREAM | NONBLOCK | CLOEXEC, 0, PTR) == 0
    assert d.host.fds.rows()[3]["flags"] == "cloexec,nonblock"
    assert d.call("fd_fdstat_get", 3, 128) == 0
    assert d.mem.u8(128) == 6 and d.mem.u16(130) == 4  # SOCKET_STREAM, NONBLOCK
    assert d.call("fd_fdflags_get", 3, 160) == 0 and d.mem.u16(160) == 1  # CLOEXEC
    assert d.call("sock_open", INET, DGRAM, 0, PTR) == 0
    assert d.call("fd_fdstat_get", 4, 128) == 0 and d.mem.u8(128) == 5 and d.mem.u16(130) == 0


def test_lowest_free_reuse(driver):
    d = driver("sock_open", "fd_close")
    fds = []
    for _ in range(5):
        assert d.call("sock_open", INET, STREAM, 0, PTR) == 0
        fds.append(opened(d))
    assert fds == [3, 4, 5, 6, 7]
    assert d.call("fd_close", 5) == 0  # a middle one
    assert d.call("sock_open", INET, DGRAM, 0, PTR) == 0 and opened(d) == 5
    assert d.call("fd_close", 3) == 0 and d.call("fd_close", 6) == 0  # the lowest, and another
    assert d.call("sock_open", LOCAL, STREAM, 0, PTR) == 0 and opened(d) == 3
    assert d.call("sock_open", LOCAL, STREAM, 0, PTR) == 0 and opened(d) == 6
    assert d.call("sock_open", LOCAL, STREAM, 0, PTR) == 0 and opened(d) == 8
    assert d.call("fd_close", 1) == 0  # a stdio slot is a free number too
    assert d.call("sock_open", INET6, STREAM, 0, PTR) == 0 and opened(d) == 1
    assert d.call("fd_close", 42) == Errno.BADF
    hist = d.host.fds.history_rows()
    assert [h["fd"] for h in hist] == [5, 3, 6, 1]
    assert hist[0]["closed_seq"] == 5 and hist[0]["opened_seq"] == 2


def test_limit_gives_mfile_and_nothing_allocated(driver):
    d = driver("sock_open", "fd_close", fd_limit=8)
    for want in range(3, 8):
        assert d.call("sock_open", INET, DGRAM, 0, PTR) == 0 and opened(d) == want
    d.mem.set_u32(PTR, 0xBEEF)
    assert d.call("sock_open", INET, DGRAM, 0, PTR) == Errno.MFILE
    assert d.mem.u32(PTR) == 0xBEEF and len(d.host.fds) == 8
    assert d.call("fd_close", 4) == 0
    assert d.call("sock_open", INET, DGRAM, 0, PTR) == 0 and opened(d) == 4


def test_result_pointer_at_memory_edge(driver):
    d = driver("sock_open")
    size = d.mem.size
    assert size == 65536
    assert d.call("sock_open", INET, STREAM, 0, size - 4) == 0  # last valid 4 bytes
    assert d.mem.u32(size - 4) == 3
    for bad in (size - 3, size - 1, size, 0x7FFFFFFF, -4, -1):
        assert d.call("sock_open", INET, STREAM, 0, bad) == Errno.FAULT
    assert d.open_fds() == [0, 1, 2, 3], "no descriptor was allocated on FAULT"
    assert d.last().errno == Errno.FAULT


def test_os_failure_maps_errno(driver, monkeypatch):
    import errno as os_errno

    from wasix_nb.host import sockets

    def boom(*a, **k):
        raise OSError(os_errno.EMFILE, "Too many open files")

    d = driver("sock_open")
    # Socket opens the C socket type (_socket.socket), not socket.socket: patch that
    monkeypatch.setattr(sockets._socket, "socket", boom)
    assert d.call("sock_open", INET, STREAM, 0, PTR) == Errno.MFILE
    monkeypatch.setattr(sockets._socket, "socket", lambda *a: (_ for _ in ()).throw(OSError(os_errno.ENFILE, "x")))
    assert d.call("sock_open", INET, STREAM, 0, PTR) == Errno.NFILE
    assert d.open_fds() == [0, 1, 2]


def test_trace_decodes_arguments(driver):
    d = driver("sock_open")
    d.call("sock_open", INET, STREAM | CLOEXEC, 0, PTR)
    line = d.host.trace.lines()[-1]
    assert "sock_open(af=INET, type=STREAM|CLOEXEC, proto=0, ro_fd=0x40) = 0 fd=3" in line
    d.call("sock_open", 0, STREAM, 0, PTR)
    assert untimed(d.host.trace.lines()[-1]).split(") = ")[1] == "5 AFNOSUPPORT"
