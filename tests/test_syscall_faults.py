"""Every syscall of the core with out-of-range pointers: an errno, no exception, and a trace event."""

import pytest

from wasix_nb.abi import Errno

BAD = 0x7FFFFFF0  # far past a one-page memory
EDGE = 65535  # last byte: any 2+ byte value written here crosses the end

CASES = [
    ("fd_write", (1, BAD, 1, 64)),
    ("fd_write", (1, 0, 1, BAD)),  # the iovec is fine but the nwritten pointer is not
    ("fd_read", (0, BAD, 1, 64)),
    ("fd_read", (0, 0, 1, EDGE)),
    ("fd_fdstat_get", (1, EDGE - 10)),
    ("fd_fdflags_get", (1, EDGE)),
    ("fd_dup", (1, BAD)),
    ("args_sizes_get", (BAD, 64)),
    ("args_sizes_get", (64, EDGE)),
    ("args_get", (BAD, 64)),
    ("args_get", (64, EDGE)),
    ("environ_sizes_get", (EDGE, 64)),
    ("environ_get", (64, BAD)),
    ("clock_res_get", (1, EDGE)),
    ("clock_time_get", (1, 0, EDGE - 3)),
    ("random_get", (EDGE, 2)),
    ("random_get", (-8, 4)),
    ("sock_open", (1, 1, 0, BAD)),
]


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_bad_pointer_is_fault(driver, name, args):
    d = driver(name, env={"A": "1"}, args=["x"])
    # an iovec at 0 pointing at 16 bytes at 32, so that only the pointer under test is bad
    d.mem.set_u32(0, 32)
    d.mem.set_u32(4, 16)
    before_fds = d.open_fds()
    assert d.call(name, *args) == Errno.FAULT
    ev = d.last()
    assert ev.name == name and ev.errno == Errno.FAULT and ev.mark is None
    assert d.open_fds() == before_fds


def test_iovec_buffer_out_of_range_is_fault(driver):
    d = driver("fd_write")
    d.mem.set_u32(0, 65530)
    d.mem.set_u32(4, 16)  # runs past the end
    assert d.call("fd_write", 1, 0, 1, 64) == Errno.FAULT
    assert d.proc.stdout_bytes == b""


def test_edge_byte_values_that_fit_are_fine(driver):
    d = driver("clock_time_get", "fd_fdflags_get")
    assert d.call("clock_time_get", 0, 0, 65536 - 8) == 0
    assert d.mem.u64(65528) > 1_600_000_000 * 10**9
    assert d.call("fd_fdflags_get", 1, 65534) == 0


def test_bad_fd_and_bad_enum(driver):
    d = driver(
        "fd_close",
        "fd_write",
        "clock_time_get",
        "fd_seek",
        "fd_prestat_get",
        "fd_fdstat_set_flags",
        "fd_renumber",
        "fd_dup",
    )
    assert d.call("fd_close", 77) == Errno.BADF
    assert d.call("fd_close", -1) == Errno.BADF
    assert d.call("fd_write", 9, 0, 0, 64) == Errno.BADF
    assert d.call("fd_write", 0, 0, 0, 64) == Errno.BADF  # stdin is read-only
    assert d.call("clock_time_get", 9, 0, 64) == Errno.INVAL
    assert d.call("fd_seek", 1, 0, 0, 64) == Errno.SPIPE
    assert d.call("fd_seek", 5, 0, 0, 64) == Errno.BADF
    assert d.call("fd_prestat_get", 3, 64) == Errno.BADF
    assert d.call("fd_fdstat_set_flags", 1, 0x100) == Errno.INVAL
    assert d.call("fd_renumber", 1, 5000) == Errno.BADF
    assert d.call("fd_renumber", 8, 1) == Errno.BADF


def test_host_bug_becomes_io_and_is_recorded(driver, monkeypatch):
    d = driver("fd_write")
    stdout = d.host.fds.file(1)
    monkeypatch.setattr(stdout, "write", lambda data: 1 / 0)
    d.mem.set_u32(0, 32)
    d.mem.set_u32(4, 3)
    assert d.call("fd_write", 1, 0, 1, 64) == Errno.IO
    assert "ZeroDivisionError" in d.last().mark
    assert d.host.host_errors and d.host.host_errors[0][0] == "fd_write"
