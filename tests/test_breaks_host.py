"""Regression tests for the host-layer breaks of issue 9 (one per break, named after it).

Memory checks run the reproducer and a small control program each in a child process and compare their
peak RSS (tests/memcheck.py); the figures are printed (`pytest -s`) for the record.
"""
import os
import socket
import struct
import threading

import pytest

from memcheck import peak_rss
from watlib import Shim, imports, module

INVAL, NAMETOOLONG, NOTDIR, ACCES = 28, 37, 54, 2
MiB = 1 << 20


@pytest.fixture
def k(no_leak):
    with Shim() as shim:
        yield shim


def _iovec_program(fd: int, count: int, length: int, pages: int, call: str = "fd_write") -> str:
    """Fill `count` iovecs at 0 with {buf 0, len `length`} (all overlapping), write them once, exit with
    the errno."""
    body = f'''
  (func (export "_start") (local $i i32)
    (if (i32.ne (i32.const {length}) (i32.const 0)) (then
      (loop $l
        (i32.store (i32.add (i32.mul (local.get $i) (i32.const 8)) (i32.const 4)) (i32.const {length}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const {count}))))))
    (call $proc_exit (call ${call} (i32.const {fd}) (i32.const 0) (i32.const {count}) (i32.const 0))))'''
    return module(imports(call, "proc_exit"), body, pages=pages)


def _report(name, peak, control):
    print(f"\n{name}: peak RSS {peak:.0f} MiB, control {control:.0f} MiB, extra {peak - control:.0f} MiB")


# -- B3: gathered bytes per call are bounded ------------------------------------------------------------
def test_b3_overlapping_iovecs_do_not_amplify_memory():
    control, _ = peak_rss(_iovec_program(1, 1, 8, 4))
    # 1024 iovecs, each the whole 256 KiB memory: 256 MiB gathered (and kept as stdout) before the fix
    peak, rep = peak_rss(_iovec_program(1, 1024, 4 * 65536, 4))
    _report("B3 fd_write 1024 x 256 KiB overlapping iovecs", peak, control)
    assert rep["outcome"] == "exited" and rep["exit_code"] == 0, rep
    assert rep["stdout"] == 4 * MiB            # a short count at RW_MAX, as Linux caps one write
    assert peak - control < 48


def test_b3_one_call_moves_at_most_rw_max(k):
    from wasix_nb.abi.memory import RW_MAX
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = k.mem.u32(128), k.mem.u32(132)
    k.host.fds.file(a).os.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * MiB)
    for i in range(16):                             # 16 x 64 KiB (the whole memory) = 1 MiB
        k.mem.write(1024 + 8 * i, struct.pack("<II", 0, 65536))
    assert k.sock_send(a, 1024, 16, 1, 200) == 0   # DONT_WAIT: what fits now
    assert 0 < k.mem.u32(200) <= min(RW_MAX, 16 * 65536)
    assert k.fd_pipe(128, 132) == 0
    w = k.mem.u32(132)
    assert k.fd_fdstat_set_flags(w, 4) == 0            # NONBLOCK: what the pipe takes now
    assert k.fd_write(w, 1024, 16, 200) == 0 and 0 < k.mem.u32(200) <= RW_MAX


# -- B4: iovec and subscription counts are checked before anything is built --------------------------------
def test_b4_huge_iovec_count_is_inval_at_once():
    control, _ = peak_rss(_iovec_program(1, 1, 0, 512))
    # 4M zeroed iovecs fill a 32 MiB memory: a 4M-entry Python list (hundreds of MiB) before the fix
    peak, rep = peak_rss(_iovec_program(1, 4 << 20, 0, 512))
    _report("B4 fd_write with 4M iovecs", peak, control)
    assert rep["exit_code"] == INVAL, rep
    assert peak - control < 48


def test_b4_huge_poll_subscription_count_is_inval_at_once():
    body = '''
  (func (export "_start")
    (call $proc_exit (call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 1000000) (i32.const 0))))'''
    control, _ = peak_rss(module(imports("poll_oneoff", "proc_exit"), body.replace("1000000", "1"), pages=768))
    peak, rep = peak_rss(module(imports("poll_oneoff", "proc_exit"), body, pages=768))   # 1M clocks, 48 MiB
    _report("B4 poll_oneoff with 1M subscriptions", peak, control)
    assert rep["exit_code"] == INVAL, rep
    assert peak - control < 48


def test_b4_iov_max_and_poll_limit(k):
    from wasix_nb.abi.memory import IOV_MAX
    for i in range(IOV_MAX + 1):
        k.mem.write(8 * i, struct.pack("<II", 16384, 1))
    k.mem.write(16384, b"x")
    assert k.fd_write(1, 0, IOV_MAX, 60000) == 0 and k.mem.u32(60000) == IOV_MAX
    assert k.fd_write(1, 0, IOV_MAX + 1, 60000) == INVAL
    assert k.sock_pair(3, 1, 0, 60000, 60004) == 0
    assert k.sock_send(k.mem.u32(60000), 0, IOV_MAX + 1, 0, 60008) == INVAL
    assert k.sock_recv(k.mem.u32(60000), 0, IOV_MAX + 1, 0, 60008, 60012) == INVAL
    assert k.poll_oneoff(0, 0, k.host.fds.limit + 1, 60000) == INVAL   # Linux: nfds past RLIMIT_NOFILE


# -- B16: POSIX answers, not IO from a host exception --------------------------------------------------------
_TS = struct.Struct("<B7xQ")
_DAYS30 = 30 * 86400 * 10**9


def test_b16_poll_timeout_longer_than_24_days(k):
    from watlib import subscription
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = k.mem.u32(128), k.mem.u32(132)
    k.host.fds.file(b).os.send(b"x")
    k.mem.write(1024, subscription(7, 0, 1, _DAYS30) + subscription(8, 1, a))
    assert k.poll_oneoff(1024, 2048, 2, 200) == 0
    assert k.mem.u32(200) == 1 and struct.unpack_from("<Q", k.mem.read(2048, 8))[0] == 8


def test_b16_receive_timeout_longer_than_24_days(k):
    assert k.sock_pair(3, 1, 0, 128, 132) == 0
    a, b = k.mem.u32(128), k.mem.u32(132)
    k.mem.write(300, _TS.pack(1, _DAYS30))
    assert k.sock_set_opt_time(a, 19, 300) == 0
    peer = k.host.fds.file(b).os
    t = threading.Timer(0.05, peer.send, args=(b"late",))
    t.start()
    k.mem.write(160, struct.pack("<II", 4096, 16))
    try:
        assert k.sock_recv(a, 160, 1, 0, 136, 140) == 0 and k.mem.read(4096, 4) == b"late"
    finally:
        t.join()


def test_b16_linger_of_2_63_ns_is_clamped(k):
    assert k.sock_open(1, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    k.mem.write(300, _TS.pack(1, 2**63))
    assert k.sock_set_opt_time(fd, 13, 300) == 0          # Linux clamps l_linger
    assert k.sock_get_opt_time(fd, 13, 400) == 0
    assert _TS.unpack(k.mem.read(400, 16)) == (1, (2**31 - 1) * 10**9)
    assert not k.host.host_errors


def test_b16_local_path_not_utf8(k):
    path = b"/s\xff\xfe.sock"
    k.mem.write(0, bytes([3, 0]) + path + bytes(108 - len(path)))
    assert k.sock_open(3, 1, 0, 128) == 0
    srv = k.mem.u32(128)
    assert k.sock_bind(srv, 0) == 0 and k.sock_listen(srv, 1) == 0
    assert k.sock_addr_local(srv, 512) == 0 and k.mem.read(514, len(path) + 1) == path + b"\0"
    assert k.sock_open(3, 1, 0, 132) == 0
    assert k.sock_connect(k.mem.u32(132), 0) == 0
    assert os.path.exists(os.path.join(os.fsencode(k.host.scratch_dir), path[1:]))
    assert not k.host.host_errors


# -- B18: a failing LOCAL bind leaves nothing behind --------------------------------------------------------------
def _local(path: bytes) -> bytes:
    return bytes([3, 0]) + path + bytes(108 - len(path))


def test_b18_failing_local_bind_creates_nothing(k):
    assert k.sock_open(3, 1, 0, 128) == 0
    fd = k.mem.u32(128)
    for i in range(50):                                   # too long for sun_path once in the scratch dir
        k.mem.write(0, _local(b"/d%d/" % i + b"e/" * 8 + b"x" * 80))
        assert k.sock_bind(fd, 0) == NAMETOOLONG
    k.mem.write(0, _local(b"/a.sock"))
    assert k.sock_bind(fd, 0) == 0
    assert k.sock_open(3, 1, 0, 128) == 0
    k.mem.write(0, _local(b"/a.sock/b/c/x.sock"))         # a parent is a socket file: NOTDIR
    assert k.sock_bind(k.mem.u32(128), 0) == NOTDIR
    assert os.listdir(k.host.scratch_dir) == ["a.sock"]


def test_b18_os_refusal_removes_the_directories_it_made(k):
    assert k.sock_open(3, 1, 0, 128) == 0
    s = k.host.fds.file(k.mem.u32(128))

    class Refusing:           # the OS refusing the bind itself (EACCES, EADDRINUSE...)
        def __getattr__(self, name):
            return getattr(real, name)

        def bind(self, addr):
            raise PermissionError(13, "refused")
    real, s.os = s.os, Refusing()
    k.mem.write(0, _local(b"/p/q/r.sock"))
    try:
        assert k.sock_bind(k.mem.u32(128), 0) == ACCES
    finally:
        s.os = real
    assert os.listdir(k.host.scratch_dir) == []
