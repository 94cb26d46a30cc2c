"""`/dev/null`, `/dev/zero`, `/dev/urandom`, and `/dev/stdin|stdout|stderr` (new descriptors on the
process's own standard streams), answered in any program that has a `/` preopen, whatever the host
directory holds, as the reference runtime does."""

import os

from ...abi.errno import Errno, WasiError
from ...abi.types import FileType
from ..fdtable import OpenFile

CAP = 1 << 20  # bytes one read of /dev/zero or /dev/urandom returns at most


class Device(OpenFile):
    kind = "file"
    type = "character device"
    filetype = int(FileType.CHARACTER_DEVICE)
    state = "open"

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.local = "/dev/" + name

    def read(self, n: int) -> bytes:
        n = min(n, CAP)
        data = b"" if self.name == "null" else bytes(n) if self.name == "zero" else os.urandom(n)
        self.bytes_in += len(data)
        return data

    def write(self, data) -> int:
        self.bytes_out += len(data)  # all three swallow writes, as on Linux
        return len(data)

    def seek(self, offset: int, whence: int) -> int:
        return 0  # Linux: lseek on these always succeeds at 0


def open_device(host, name: bytes, write: bool = False):
    """The open file for `/dev/<name>` (a new Stdio on the same stream for stdin/stdout/stderr)."""
    name = name.decode()
    if name in ("stdin", "stdout", "stderr"):
        from ..host import Stdio

        return Stdio(name, host)
    return Device(name)


def device_stat(name: bytes):
    """(dev, ino, filetype, nlink, size, atim, mtim, ctim) of a device."""
    return (0, 0, int(FileType.CHARACTER_DEVICE), 1, 0, 0, 0, 0)


def refuse(name: bytes):
    raise WasiError(Errno.ACCES, "/dev entries cannot be changed")
