"""`poll_oneoff`: clock and descriptor subscriptions, waited for together with one OS poll().

Stdio is always ready.  Sockets and pipes are polled for real; the host's wake pipe is polled too,
so a stop or kill ends the wait at once.  A socket whose non-blocking connect ends here gets its
state (connected or error) recorded.
"""

import fcntl
import select
import struct
import termios
import time

from ...abi.errno import Errno
from ...abi.memory import MASK32
from ..host import Cancelled
from ..registry import UNSTABLE, syscall, variant
from ..sockets import Socket

_SUB = struct.Struct("<QB7xI4xQQH6x")  # userdata, tag, clock id | fd, timeout, precision, flags
_SUB0 = struct.Struct("<QB7xQI4xQQH6x")  # snapshot 0: userdata, tag, identifier | fd, clock id, ... (56 B)
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
_CLOCK, _READ, _WRITE = 0, 1, 2
_ABSTIME, _HANGUP = 1, 1
_BADF, _INVAL = int(Errno.BADF), int(Errno.INVAL)
_POLLIN, _POLLOUT = select.POLLIN, select.POLLOUT
_POLLRDHUP = getattr(select, "POLLRDHUP", 0x2000)
_HUP = select.POLLHUP | _POLLRDHUP
_BAD = select.POLLERR | select.POLLNVAL
_FIONREAD = termios.FIONREAD
_ZERO4 = bytes(4)
_POLL_MAX_MS = 2**31 - 1  # poll()'s longest wait (~24.8 days)


def _deadline(clock_id, timeout, flags, now):
    """Monotonic deadline (seconds) of a clock subscription."""
    if not flags & _ABSTIME:
        return now + timeout / 1e9
    if clock_id == 0:  # REALTIME: convert wall-clock to monotonic
        return now + (timeout - time.time_ns()) / 1e9
    if clock_id == 1:
        return timeout / 1e9  # clock_time_get(MONOTONIC) is time.monotonic_ns
    return now  # cpu-time clocks: treat as due


def _available(fileno):
    try:
        return struct.unpack("i", fcntl.ioctl(fileno, _FIONREAD, _ZERO4))[0]
    except OSError:  # listening sockets have no byte count
        return 0


@syscall("poll_oneoff", "in:ptr out:ptr nsubscriptions:len ro_nevents:ptr", outs="nevents")
def poll_oneoff(h, in_, out, nsubs, ro_nevents):
    return _poll(h, in_, out, nsubs, ro_nevents, _SUB.size, _SUB.iter_unpack)


def _subs0(raw):
    for ud, tag, ident, clock_id, timeout, prec, flags in _SUB0.iter_unpack(raw):
        yield ud, tag, clock_id if tag == _CLOCK else ident & MASK32, timeout, prec, flags


@variant(poll_oneoff, UNSTABLE)
def poll_oneoff0(h, in_, out, nsubs, ro_nevents):
    return _poll(h, in_, out, nsubs, ro_nevents, _SUB0.size, _subs0)


def _poll(h, in_, out, nsubs, ro_nevents, size, parse):
    nsubs &= MASK32
    if nsubs > h.fds.limit:
        return _INVAL  # Linux poll(): nfds past RLIMIT_NOFILE; checked before reading
    mem = h.mem
    raw = mem.read(in_, size * nsubs)
    mem.check(out, _EVENT.size * nsubs)
    mem.check(ro_nevents, 4)
    if nsubs == 0:
        return _INVAL
    now = time.monotonic()
    events, clocks, waits, masks = [], [], [], {}
    entries = h.fds.entries
    for ud, tag, which, timeout, _prec, flags in parse(raw):
        if tag == _CLOCK:
            if which > 3:
                events.append((ud, _INVAL, _CLOCK, 0, 0))
            else:
                clocks.append((_deadline(which, timeout, flags, now), ud))
        elif tag == _READ or tag == _WRITE:
            e = entries.get(which)
            if e is None:
                events.append((ud, _BADF, tag, 0, 0))
                continue
            fno = e.file.fileno()
            if fno is None:  # stdio: always ready
                events.append((ud, 0, tag, 0, 0))
                continue
            waits.append((ud, tag, e.file, fno))
            masks[fno] = masks.get(fno, 0) | (_POLLIN | _POLLRDHUP if tag == _READ else _POLLOUT)
        else:
            events.append((ud, _INVAL, tag, 0, 0))

    p = select.poll()
    wake = h.wake_fd
    p.register(wake, _POLLIN)
    for fno, mask in masks.items():
        p.register(fno, mask)
    proc = h.process
    sfd = -1 if proc is None else proc.signal_fd()  # a signal for this thread ends the wait (INTR)
    if sfd != -1:
        p.register(sfd, _POLLIN)
    while True:
        if events:
            ms = 0
        elif clocks:
            ms = max(0, int((min(d for d, _ in clocks) - time.monotonic()) * 1000 + 0.999))
            if ms > _POLL_MAX_MS:  # poll() takes an int: wait in slices (the loop re-checks)
                ms = _POLL_MAX_MS
        else:
            ms = None
        ready = dict(p.poll(ms))
        if h.cancelled.is_set():
            raise Cancelled(h.cancel_reason)
        if sfd in ready:
            h.signalled(proc)
        for ud, tag, f, fno in waits:
            rev = ready.get(fno, 0)
            if not rev:
                continue
            if tag == _READ and rev & (_POLLIN | _HUP | _BAD):
                events.append((ud, 0, _READ, _available(fno) if rev & _POLLIN else 0, _HANGUP if rev & _HUP else 0))
            elif tag == _WRITE and rev & (_POLLOUT | _HUP | _BAD):
                events.append((ud, 0, _WRITE, 0, _HANGUP if rev & select.POLLHUP else 0))
            else:
                continue
            if f.__class__ is Socket and f.state == "connecting":
                f.finish_connect()
        t = time.monotonic()
        for d, ud in clocks:
            if d <= t:
                events.append((ud, 0, _CLOCK, 0, 0))
        if events:
            break
    buf = bytearray(_EVENT.size * len(events))
    for i, ev in enumerate(events):
        _EVENT.pack_into(buf, _EVENT.size * i, *ev)
    mem.write(out, buf)
    mem.set_u32(ro_nevents, len(events))
    return 0, (len(events),)
