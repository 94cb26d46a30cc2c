"""`fd_event`: an eventfd descriptor (an 8-byte counter), backed by a real Linux eventfd.

The OS object gives the exact semantics for free: a read returns the counter and zeroes it (or 1 and
decrements it in semaphore mode), blocks while it is 0; a write adds, blocks before overflow; reads or
writes shorter than 8 bytes are INVAL; and `poll_oneoff` polls it like any descriptor.  It is
non-blocking at OS level, as sockets and pipes are: the host waits cancellably, so a process stopping
wakes a thread blocked on it, and the program's NONBLOCK flag answers AGAIN instead.
"""

import os
import select

from ..abi.errno import Errno, WasiError, from_os
from ..abi.types import FileType
from .fdtable import OpenFile
from .host import Cancelled

AGAIN = int(Errno.AGAIN)
SEMAPHORE = 1  # wasix EventFdFlags bit 0


class EventFd(OpenFile):
    kind = "event"
    filetype = int(FileType.UNKNOWN)
    os_fds = 1  # counted in the kernel's descriptor budget (fdtable.KernelBudget)

    def __init__(self, initial: int, semaphore: bool):
        super().__init__()
        flags = os.EFD_CLOEXEC | os.EFD_NONBLOCK | (os.EFD_SEMAPHORE if semaphore else 0)
        # the kernel takes an unsigned int initial value; a larger one is written right after
        self.fd_no = os.eventfd(initial if initial < 1 << 32 else 0, flags)
        if initial >= 1 << 32:
            os.eventfd_write(self.fd_no, initial)
        self.type = "semaphore" if semaphore else "counter"
        self.state = "open"

    def fileno(self):
        return self.fd_no

    @property
    def local(self):
        """The counter, read from /proc without consuming it (shown in the descriptor table)."""
        try:
            with open(f"/proc/self/fdinfo/{self.fd_no}") as fp:
                for line in fp:
                    if line.startswith("eventfd-count:"):
                        return f"count={int(line.split()[1], 16)}"
        except (OSError, ValueError):
            pass
        return ""

    def set_nonblock(self, on: bool):
        self.nonblock = on
        if self.host is not None:
            self.host.fds.version += 1

    def read(self, n: int) -> bytes:
        if n < 8:
            raise WasiError(Errno.INVAL)
        while True:
            try:
                data = os.read(self.fd_no, 8)
                self.bytes_in += len(data)
                return data
            except BlockingIOError:
                if self.nonblock:
                    raise WasiError(AGAIN) from None
                self._wait(select.POLLIN)
            except OSError as e:
                raise WasiError(from_os(e)) from None

    def write(self, data) -> int:
        if len(data) < 8:
            raise WasiError(Errno.INVAL)
        data = bytes(data[:8])
        while True:
            try:
                os.write(self.fd_no, data)
                self.bytes_out += 8
                return 8
            except BlockingIOError:
                if self.nonblock:
                    raise WasiError(AGAIN) from None
                self._wait(select.POLLOUT)
            except OSError as e:  # 0xffffffffffffffff: INVAL
                raise WasiError(from_os(e)) from None

    def _wait(self, mask):
        # a poll object per wait: several threads may block on one eventfd at once
        h = self.host
        p = select.poll()
        p.register(self.fd_no, mask)
        p.register(h.wake_fd, select.POLLIN)
        proc = h.process
        sfd = -1 if proc is None else proc.signal_fd()
        if sfd != -1:
            p.register(sfd, select.POLLIN)
        ready = p.poll()
        if h.cancelled.is_set():
            raise Cancelled(h.cancel_reason)
        if sfd != -1 and any(fd == sfd for fd, _ in ready):
            h.signalled(proc)  # INTR once the handler ran (a stale wake: the caller waits again)

    def release(self):
        try:
            os.close(self.fd_no)
        finally:
            self.state = "closed"
