"""fd_event: an eventfd descriptor (counter, semaphore mode, non-blocking, pollable, closed at the end)."""

import struct
import threading
import time

from watlib import subscription
from wasix_nb.abi import Errno

AGAIN, INVAL = int(Errno.AGAIN), int(Errno.INVAL)


def _iov(d, n=8):
    d.mem.set_u32(0, 100)
    d.mem.set_u32(4, n)


def _read(d, fd, n=8):
    _iov(d, n)
    e = d.call("fd_read", fd, 0, 1, 64)
    return e, (struct.unpack("<Q", d.mem.read(100, 8))[0] if e == 0 else None)


def _write(d, fd, value, n=8):
    d.mem.write(100, struct.pack("<Q", value))
    _iov(d, n)
    return d.call("fd_write", fd, 0, 1, 64)


def test_counter_adds_and_a_read_takes_it_all(driver):
    d = driver("fd_event", "fd_read", "fd_write", "fd_close")
    assert d.call("fd_event", 5, 0, 96) == 0 and d.mem.u32(96) == 3
    assert _write(d, 3, 2) == 0 and d.mem.u32(64) == 8
    assert _read(d, 3) == (0, 7)
    rows = {r["fd"]: r for r in d.host.fds.rows()}
    assert rows[3]["kind"] == "event" and rows[3]["type"] == "counter" and rows[3]["local"] == "count=0"
    assert _read(d, 3, n=4)[0] == INVAL  # shorter than 8 bytes
    assert _write(d, 3, 2**64 - 1) == INVAL  # the one value a counter cannot take
    assert d.call("fd_close", 3) == 0


def test_semaphore_reads_one_at_a_time_and_nonblock_answers_again(driver):
    d = driver("fd_event", "fd_read", "fd_write")
    assert d.call("fd_event", 2, 1 | 4, 96) == 0  # SEMAPHORE | NONBLOCK (as wasix-libc passes it)
    fd = d.mem.u32(96)
    assert _read(d, fd) == (0, 1) and _read(d, fd) == (0, 1)
    assert _read(d, fd)[0] == AGAIN


def test_a_blocking_read_waits_for_a_write_from_another_thread(driver):
    d = driver("fd_event", "fd_read", "fd_write")
    assert d.call("fd_event", 0, 0, 96) == 0
    f = d.host.fds.file(3)
    threading.Timer(0.1, lambda: __import__("os").eventfd_write(f.fileno(), 9)).start()
    t0 = time.monotonic()
    assert _read(d, 3) == (0, 9) and time.monotonic() - t0 >= 0.05


def test_poll_oneoff_sees_it_readable(driver):
    d = driver("fd_event", "fd_write", "poll_oneoff")
    assert d.call("fd_event", 0, 0, 96) == 0
    d.mem.write(200, subscription(7, 1, 3) + subscription(8, 0, 1, 10**9))
    assert _write(d, 3, 1) == 0
    assert d.call("poll_oneoff", 200, 400, 2, 92) == 0 and d.mem.u32(92) == 1
    assert struct.unpack("<QHB", d.mem.read(400, 11)) == (7, 0, 1)


def test_eventfds_are_closed_with_the_process(driver, no_leak):
    d = driver("fd_event")
    for _ in range(5):
        assert d.call("fd_event", 0, 0, 96) == 0
    d.close()
