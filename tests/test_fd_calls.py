"""Descriptor calls: read/write on stdio, dup, renumber, flags, args and environment."""

from wasix_nb.abi import Errno


def test_write_gathers_iovecs_and_read_scatters(driver):
    d = driver("fd_write", "fd_read", stdin=b"abcdefgh")
    d.mem.write(100, b"hello, ")
    d.mem.write(200, b"world\n")
    for i, (buf, n) in enumerate([(100, 7), (200, 6)]):
        d.mem.set_u32(8 * i, buf)
        d.mem.set_u32(8 * i + 4, n)
    assert d.call("fd_write", 1, 0, 2, 64) == 0 and d.mem.u32(64) == 13
    assert bytes(d.proc.stdout_bytes) == b"hello, world\n"
    assert d.call("fd_write", 2, 0, 1, 64) == 0
    assert bytes(d.proc.stderr_bytes) == b"hello, "
    d.mem.set_u32(16, 300)
    d.mem.set_u32(20, 3)
    d.mem.set_u32(24, 400)
    d.mem.set_u32(28, 10)
    assert d.call("fd_read", 0, 16, 2, 64) == 0 and d.mem.u32(64) == 8
    assert d.mem.read(300, 3) == b"abc" and d.mem.read(400, 5) == b"defgh"
    assert d.call("fd_read", 0, 16, 2, 64) == 0 and d.mem.u32(64) == 0  # EOF
    rows = {r["fd"]: r for r in d.host.fds.rows()}
    assert rows[1]["bytes_out"] == 13 and rows[0]["bytes_in"] == 8


def test_dup_shares_the_socket_and_renumber_moves_it(driver):
    d = driver("sock_open", "fd_dup", "fd_renumber", "fd_close", "fd_fdflags_set", "fd_fdflags_get")
    assert d.call("sock_open", 1, 0x2001, 0, 64) == 0 and d.mem.u32(64) == 3
    assert d.call("fd_dup", 3, 68) == 0 and d.mem.u32(68) == 4
    s3, s4 = d.host.fds.file(3), d.host.fds.file(4)
    assert s3 is s4
    assert d.host.fds.get(4).cloexec is False
    assert d.call("fd_close", 3) == 0
    assert s4.os.fileno() != -1, "the OS socket lives while a dup refers to it"
    assert d.call("fd_renumber", 4, 9) == 0
    assert d.open_fds() == [0, 1, 2, 9]
    assert d.call("sock_open", 2, 2, 0, 64) == 0 and d.mem.u32(64) == 3
    assert d.call("fd_renumber", 9, 3) == 0  # replaces what 3 was
    assert d.open_fds() == [0, 1, 2, 3]
    assert d.call("sock_open", 2, 2, 0, 64) == 0 and d.mem.u32(64) == 4
    assert d.call("fd_fdflags_set", 3, 1) == 0
    assert d.call("fd_fdflags_get", 3, 72) == 0 and d.mem.u16(72) == 1
    assert d.call("fd_fdflags_set", 3, 2) == Errno.INVAL
    assert d.call("fd_close", 3) == 0
    assert s4.os.fileno() == -1, "closed when the last descriptor went"


def test_args_and_environ(driver):
    d = driver(
        "args_sizes_get",
        "args_get",
        "environ_sizes_get",
        "environ_get",
        args=["one", "two words"],
        env={"HOME": "/", "X": "é"},
    )
    assert d.call("args_sizes_get", 0, 4) == 0
    argc, size = d.mem.u32(0), d.mem.u32(4)
    assert argc == 3
    assert d.call("args_get", 100, 200) == 0
    ptrs = [d.mem.u32(100 + 4 * i) for i in range(argc)]
    blob = d.mem.read(200, size)
    assert blob.split(b"\0")[:-1] == [b"driver_wat", b"one", b"two words"] or blob.split(b"\0")[1:3] == [
        b"one",
        b"two words",
    ]
    assert d.mem.read(ptrs[1], 4) == b"one\0"
    assert d.call("environ_sizes_get", 0, 4) == 0 and d.mem.u32(0) == 2
    assert d.call("environ_get", 300, 400) == 0
    assert d.mem.read(d.mem.u32(304), len("X=é".encode()) + 1) == "X=é".encode() + b"\0"


def test_clock_random_yield(driver):
    d = driver("clock_time_get", "clock_res_get", "random_get", "sched_yield")
    assert d.call("clock_time_get", 1, 0, 8) == 0
    t1 = d.mem.u64(8)
    assert d.call("clock_time_get", 1, 0, 8) == 0 and d.mem.u64(8) >= t1
    assert d.call("clock_res_get", 0, 16) == 0 and d.mem.u64(16) > 0
    assert d.call("random_get", 100, 64) == 0 and d.mem.read(100, 64) != bytes(64)
    assert d.call("sched_yield") == 0
