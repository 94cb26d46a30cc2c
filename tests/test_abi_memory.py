"""The bounds-checked memory view and the address layouts of shared/wasix-abi.md section 4."""

import pytest

from wasix_nb.abi import Errno, Fault, GuestMemory
from wasix_nb.abi import errno as E


def mem(n=256):
    return GuestMemory.of_bytearray(bytearray(n))


def test_scalars_and_edges():
    m = mem(64)
    m.set_u32(60, 0xDEADBEEF)
    assert m.u32(60) == 0xDEADBEEF and m.u8(63) == 0xDE
    m.set_u64(56, 2**64 - 1)
    assert m.u64(56) == 2**64 - 1
    for bad in ((61, 4), (64, 1), (-1, 1), (2**32 - 1, 1)):
        with pytest.raises(Fault):
            m.check(*bad)
    with pytest.raises(Fault):
        m.u32(61)
    with pytest.raises(Fault):
        m.set_u16(63, 1)
    with pytest.raises(Fault):
        m.u8(-4)  # an i32 pointer from wasm arrives signed: it is unsigned 0xFFFFFFFC, far out
    m.check(64, 0)  # an empty range at the end is fine


def test_iovecs_are_each_checked():
    m = mem(128)
    m.set_u32(0, 100)
    m.set_u32(4, 28)
    m.set_u32(8, 120)
    m.set_u32(12, 9)  # 120 + 9 > 128
    assert m.iovecs(0, 1) == [(100, 28)]
    with pytest.raises(Fault):
        m.iovecs(0, 2)
    with pytest.raises(Fault):
        m.iovecs(124, 1)  # the array itself crosses the end


def test_scatter_and_gather():
    m = mem(128)
    vecs = [(10, 3), (20, 5)]
    assert m.scatter(vecs, b"abcdefg") == 7
    assert m.read(10, 3) == b"abc" and m.read(20, 5) == b"defg\0"
    assert m.gather(vecs) == b"abcdefg\0"


@pytest.mark.parametrize(
    "af,host,port", [(1, "127.0.0.1", 8080), (2, "::1", 443), (2, "fe80::1", 1), (3, "/tmp/sock", 0)]
)
def test_addr_roundtrip_and_layout(af, host, port):
    m = mem(256)
    m.write_addr(16, af, host, port)
    assert m.read_addr(16) == (af, host, port)
    assert m.u8(16) == af and m.u8(17) == 0
    if af == 1:
        assert m.read(16, 8) == bytes([1, 0, 0x90, 0x1F, 127, 0, 0, 1])  # port little-endian, addr network order
    if af == 2:
        assert m.u16(18) == port and m.read(36, 8) == bytes(8)  # flowinfo/scope written as zeros


def test_inet_addr_fills_28_bytes_and_faults_whole():
    m = GuestMemory.of_bytearray(bytearray(b"\xff" * 64))
    m.write_addr(0, 1, "10.1.2.3", 65535)
    assert m.read(0, 28) == bytes([1, 0, 0xFF, 0xFF, 10, 1, 2, 3]) + bytes(20) and m.u8(28) == 0xFF
    m.write_addr(30, 1, None, 7)  # no host: 0.0.0.0
    assert m.read(30, 8) == bytes([1, 0, 7, 0, 0, 0, 0, 0])
    with pytest.raises(Fault):
        m.write_addr(37, 1, "127.0.0.1", 80)  # 28 bytes from 37 cross the end: nothing written
    assert m.read(58, 6) == b"\xff" * 6


def test_errno_table_and_os_mapping():
    import errno as os_errno

    assert len(E.Errno) == 80 and E.Errno.SHUTDOWN == 77 and E.Errno.UNKNOWN == 79
    assert E.name(1) == "2BIG" and E.name(21) == "FAULT" and E.name(999) == "999"
    assert E.from_os(os_errno.EMFILE) == Errno.MFILE == 33
    assert E.from_os(os_errno.ENFILE) == 41 and E.from_os(os_errno.EACCES) == 2
    assert E.from_os(os_errno.ECONNREFUSED) == 14 and E.from_os(os_errno.EWOULDBLOCK) == 6
    assert E.from_os(OSError(os_errno.EADDRINUSE, "x")) == 3
    assert E.from_os(12345) == Errno.IO
