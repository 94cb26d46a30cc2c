"""The socket object behind a socket descriptor: an OS socket plus what the fd table shows."""
import socket

from ..abi.types import AddressFamily, FileType, SockType

OS_FAMILY = {AddressFamily.INET: socket.AF_INET, AddressFamily.INET6: socket.AF_INET6,
             AddressFamily.LOCAL: socket.AF_UNIX}
OS_TYPE = {SockType.STREAM: socket.SOCK_STREAM, SockType.DGRAM: socket.SOCK_DGRAM}
FILETYPE = {SockType.STREAM: int(FileType.SOCKET_STREAM), SockType.DGRAM: int(FileType.SOCKET_DGRAM)}
DEFAULT_PROTO = {(AddressFamily.LOCAL, SockType.STREAM): 0, (AddressFamily.LOCAL, SockType.DGRAM): 0}


from .fdtable import OpenFile  # noqa: E402


class Socket(OpenFile):
    """A WASIX socket on a real, non-blocking OS socket (blocking is done by the host with select,
    so that every wait can be cancelled)."""

    kind = "socket"

    def __init__(self, af: int, stype: int, proto: int, nonblock: bool = False):
        super().__init__()
        self.af = AddressFamily(af)
        self.stype = SockType(stype)
        self.family = self.af.name
        self.type = self.stype.name
        self.proto = proto
        self.filetype = FILETYPE[self.stype]
        self.nonblock = nonblock
        os_proto = 0 if self.af == AddressFamily.LOCAL else proto
        self.os = socket.socket(OS_FAMILY[self.af], OS_TYPE[self.stype], os_proto)
        self.os.setblocking(False)
        self.state = "opened"

    def fileno(self) -> int:
        return self.os.fileno()

    def set_nonblock(self, on: bool):
        self.nonblock = on

    def release(self):
        try:
            self.os.close()
        finally:
            self.state = "closed"
