"""`fd_pipe`: the two ends of an OS pipe, non-blocking at OS level like sockets (the host waits)."""

import os

from ..abi.errno import Errno, WasiError, from_os
from .fdtable import OpenFile

AGAIN = int(Errno.AGAIN)


class PipeEnd(OpenFile):
    kind = "pipe"
    os_fds = 1

    def __init__(self, os_fd: int, readable: bool):
        super().__init__()
        os.set_blocking(os_fd, False)
        self.fd_no = os_fd
        self.readable = readable
        self.type = "read end" if readable else "write end"
        self.state = "open"

    def fileno(self):
        return self.fd_no

    def set_nonblock(self, on: bool):
        self.nonblock = on
        if self.host is not None:
            self.host.fds.version += 1

    def read(self, n: int) -> bytes:
        if not self.readable:
            raise WasiError(Errno.BADF)
        while True:
            try:
                data = os.read(self.fd_no, min(n, 1 << 18))  # os.read allocates n bytes
                self.bytes_in += len(data)
                return data
            except BlockingIOError:
                if self.nonblock:
                    raise WasiError(AGAIN) from None
                self.host.wait_fd(self.fd_no, False)
            except OSError as e:
                raise WasiError(from_os(e)) from None

    def write(self, data) -> int:
        if self.readable:
            raise WasiError(Errno.BADF)
        view, total = memoryview(data), 0
        while True:
            try:
                n = os.write(self.fd_no, view[total:])
                total += n
                self.bytes_out += n
                if total >= len(view) or self.nonblock:
                    return total
            except BlockingIOError:
                if self.nonblock or total:
                    if total:
                        return total
                    raise WasiError(AGAIN) from None
            except OSError as e:  # EPIPE when the read end is closed (SIGPIPE is ignored)
                if total:
                    return total
                raise WasiError(from_os(e)) from None
            try:
                self.host.wait_fd(self.fd_no, True)
            except WasiError as e:  # a signal's handler ran: a partial write answers what was written
                if not total or e.errno != Errno.INTR:
                    raise
                return total

    def release(self):
        try:
            os.close(self.fd_no)
        finally:
            self.state = "closed"
