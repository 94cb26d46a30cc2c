"""The socket object behind a socket descriptor: an OS socket plus what the fd table shows.

The OS socket is always non-blocking.  A call first tries the operation; only when the OS says
"would block" does it either answer AGAIN (NONBLOCK / DONT_WAIT) or wait in `host.wait_fd`, which a
stop or kill of the process interrupts.  So the fast path (data already there) is one OS call.
"""

import _socket
import errno
import socket

from ..abi.errno import Errno, WasiError, from_os
from ..abi.types import AddressFamily, FileType, SockType
from .fdtable import OpenFile

OS_FAMILY = {
    AddressFamily.INET: socket.AF_INET,
    AddressFamily.INET6: socket.AF_INET6,
    AddressFamily.LOCAL: socket.AF_UNIX,
}
OS_TYPE = {SockType.STREAM: socket.SOCK_STREAM, SockType.DGRAM: socket.SOCK_DGRAM}
FILETYPE = {SockType.STREAM: int(FileType.SOCKET_STREAM), SockType.DGRAM: int(FileType.SOCKET_DGRAM)}
DEFAULT_PROTO = {(AddressFamily.LOCAL, SockType.STREAM): 0, (AddressFamily.LOCAL, SockType.DGRAM): 0}

_INET, _INET6, _LOCAL = int(AddressFamily.INET), int(AddressFamily.INET6), int(AddressFamily.LOCAL)
_STREAM = SockType.STREAM
_NONBLOCK = socket.SOCK_NONBLOCK
# (af, type) -> what a Socket of that kind shows and opens, in one lookup (the per-accept path):
# af member, type member, family name, type name, filetype, is a stream, OS family, OS type
# (af and type as plain ints: IntEnum members compare and hash as their ints, and an int needs no
# int() where an address is decoded)
KINDS = {
    (af, st): (int(af), int(st), af.name, st.name, FILETYPE[st], st == SockType.STREAM, OS_FAMILY[af], OS_TYPE[st])
    for af in OS_FAMILY
    for st in OS_TYPE
}
MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE instead of SIGPIPE
_MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0x20)
_NOT_CONNECTED = frozenset(("opened", "bound", "listening"))
AGAIN, NOTCONN, INTR = int(Errno.AGAIN), int(Errno.NOTCONN), int(Errno.INTR)
READ_MAX = 1 << 18


def addr_text(af: int, host, port: int) -> str:
    """'127.0.0.1:8080', '[::1]:80', or the LOCAL path."""
    if af == _INET6:
        return f"[{host}]:{port}"
    if af == _LOCAL:
        return host or ""
    return f"{host}:{port}"


class Socket(OpenFile):
    """A WASIX socket on a real, non-blocking OS socket."""

    kind = "socket"
    os_fds = 1  # one OS socket (fdtable.KernelBudget)

    # defaults at class level: an accept writes only what differs (each attribute write costs)
    peer_addr = None  # (af, host, port) once connected, for recv_from on streams
    pending_error = 0  # WASI errno of a failed non-blocking connect, reported once
    # SO_*TIMEO-style limits, in seconds (None = block for ever); kept here because the host waits
    recv_timeout = send_timeout = connect_timeout = accept_timeout = None

    def __init__(self, af: int, stype: int, proto: int, nonblock: bool = False, os_sock=None):
        self.refs = 0  # OpenFile.__init__, inlined
        try:
            kind = KINDS[af, stype]  # IntEnum members hash as their ints: ints and members both work
        except KeyError:
            kind = _kind(af, stype)
        self.af, self.stype, self.family, self.type, self.filetype, self.stream, os_af, os_type = kind
        self.proto = proto
        if nonblock:
            self.nonblock = True
        if os_sock is None:
            # the C socket type, not socket.socket: the same methods, without the Python-level
            # __init__/close frames on every open and close.  Non-blocking from the start (one
            # system call, not two).
            os_sock = _socket.socket(os_af, os_type | _NONBLOCK, 0 if os_af == _AF_UNIX else proto)
        else:
            os_sock.setblocking(False)
        self.os = os_sock
        self.fd_no = os_sock.fileno()

    # -- fd table bookkeeping ------------------------------------------------------------------------
    def fileno(self) -> int:
        return self.fd_no

    def set_state(self, state: str):
        self.state = state
        if self.host is not None:
            self.host.fds.version += 1

    def set_nonblock(self, on: bool):
        self.nonblock = on
        if self.host is not None:
            self.host.fds.version += 1

    def release(self):
        try:
            self.os.close()
        finally:
            self.state = "closed"

    # -- addresses -----------------------------------------------------------------------------------
    def os_addr(self, af: int, host, port: int):
        """The OS sockaddr for a decoded addr_port (LOCAL paths: bytes, in the scratch directory)."""
        if af == _INET:
            return (host, port)
        if af == _INET6:
            return (host, port, 0, 0)
        if not host:
            raise WasiError(Errno.INVAL)
        path = self.host.local_path(host)
        if len(path) > 107:
            raise WasiError(Errno.NAMETOOLONG)
        return path

    def decode(self, os_addr):
        """OS sockaddr -> (af, host, port)."""
        af = self.af
        if af == _LOCAL:
            return _LOCAL, self.host.guest_path(os_addr or ""), 0
        if not os_addr:
            return af, None, 0
        host = os_addr[0]
        return af, (host.split("%", 1)[0] if "%" in host else host), os_addr[1]

    def local_addr(self):
        try:
            return self.decode(self.os.getsockname())
        except OSError as e:
            raise WasiError(from_os(e)) from None

    def note_local(self):
        self.local = addr_text(*self.local_addr())

    def note_peer(self, decoded):
        self.peer_addr = decoded
        self.peer = addr_text(*decoded)

    # -- connecting ----------------------------------------------------------------------------------
    def finish_connect(self) -> int:
        """A non-blocking connect is over (the socket polled writable): record how it ended."""
        err = self.os.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.pending_error = from_os(err)
            self.set_state("error")
            return self.pending_error
        try:
            self.note_peer(self.decode(self.os.getpeername()))
        except OSError as e:  # not connected yet after all
            if e.errno == errno.ENOTCONN:
                return 0
            raise
        self.note_local()
        self.set_state("connected")
        return 0

    def take_error(self):
        """Raise (once) the error of a failed non-blocking connect."""
        err, self.pending_error = self.pending_error, 0
        if err:
            raise WasiError(err)

    # -- data ----------------------------------------------------------------------------------------
    # recv1/send1: the common case (one buffer, no flags, a stream), kept to one OS call when the
    # data or the buffer space is there; anything else goes the general way.
    def recv1(self, view) -> int:
        if self.state != "connecting":
            try:
                n = self.os.recv_into(view)
                self.bytes_in += n
                return n
            except BlockingIOError:
                if self.nonblock:
                    raise WasiError(AGAIN) from None
            except OSError as e:
                raise WasiError(from_os(e)) from None
        return self.recv_into([view], 0, False)[0]

    def send1(self, view) -> int:
        if self.state == "connected":
            try:
                n = self.os.send(view, MSG_NOSIGNAL)
                self.bytes_out += n
                if n == len(view) or self.nonblock:
                    return n
                try:
                    return n + self.send_from([view[n:]], False)
                except WasiError:
                    return n  # the part already sent counts (as a short write)
            except BlockingIOError:
                if self.nonblock:
                    raise WasiError(AGAIN) from None
            except OSError as e:
                raise WasiError(from_os(e)) from None
        return self.send_from([view], False)

    def recv_into(self, bufs, flags: int, dont_wait: bool, want_trunc: bool = False):
        """Receive into writable memoryviews; returns (n, truncated, os address)."""
        if self.state == "connecting":
            self.check_connecting()
        os_sock = self.os
        while True:
            try:
                if len(bufs) == 1 and not want_trunc:
                    if self.stype == _STREAM:
                        n = os_sock.recv_into(bufs[0], 0, flags)
                        self.bytes_in += n
                        return n, False, None
                    n, addr = os_sock.recvfrom_into(bufs[0], 0, flags)
                    self.bytes_in += n
                    return n, False, addr
                n, _, mflags, addr = os_sock.recvmsg_into(bufs, 0, flags)
                self.bytes_in += n
                return n, bool(mflags & _MSG_TRUNC), addr
            except BlockingIOError:
                if dont_wait or self.nonblock:
                    raise WasiError(AGAIN) from None
                if not self.host.wait_fd(self.fd_no, False, self.recv_timeout):
                    raise WasiError(AGAIN) from None
            except OSError as e:
                raise WasiError(from_os(e)) from None

    def send_from(self, bufs, dont_wait: bool, os_addr=None) -> int:
        """Send memoryviews; a blocking stream send sends everything (as Linux does)."""
        if self.stype == _STREAM and os_addr is None:
            st = self.state
            if st in _NOT_CONNECTED:
                raise WasiError(NOTCONN)
            if st == "connecting":
                self.check_connecting()
        os_sock = self.os
        total = 0
        size = sum(len(b) for b in bufs) if len(bufs) != 1 else len(bufs[0])
        while True:
            try:
                if os_addr is None and len(bufs) == 1:
                    n = os_sock.send(bufs[0], MSG_NOSIGNAL)
                elif os_addr is None:
                    n = os_sock.sendmsg(bufs, (), MSG_NOSIGNAL)
                else:
                    n = os_sock.sendmsg(bufs, (), MSG_NOSIGNAL, os_addr)
                total += n
                self.bytes_out += n
                if total >= size or self.stype != _STREAM or dont_wait or self.nonblock:
                    return total
                bufs = _advance(bufs, n)
            except BlockingIOError:
                if total or dont_wait or self.nonblock:
                    if total:
                        return total
                    raise WasiError(AGAIN) from None
                if not self.host.wait_fd(self.fd_no, True, self.send_timeout):
                    raise WasiError(AGAIN) from None
                continue
            except OSError as e:
                if total:
                    return total
                raise WasiError(from_os(e)) from None
            try:
                if not self.host.wait_fd(self.fd_no, True, self.send_timeout):
                    return total
            except WasiError as e:  # a signal's handler ran: what was sent is the answer, as send(2)
                if e.errno != INTR:
                    raise
                return total

    def check_connecting(self):
        """Operations on a socket whose non-blocking connect may have ended since."""
        if self.pending_error or self.state != "connecting":
            self.take_error()
            return
        if self.host.wait_fd(self.fd_no, True, 0):
            self.finish_connect()
            self.take_error()

    def check_connecting_quietly(self):
        """Update the state of a non-blocking connect that may have ended (status, peer)."""
        if self.state == "connecting" and self.host.wait_fd(self.fd_no, True, 0):
            self.finish_connect()

    # -- fd_read / fd_write -----------------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        buf = bytearray(min(n, READ_MAX))  # a socket may return less than asked: no huge buffers
        got = self.recv_into([memoryview(buf)], 0, False)[0]
        return bytes(buf[:got])

    def write(self, data: bytes) -> int:
        return self.send_from([memoryview(data)], False)


_AF_UNIX = socket.AF_UNIX


def _kind(af, stype):
    """KINDS' row for a kind it lacks: the enum conversions raise as they always did (ValueError,
    KeyError) for a family or type no socket can have."""
    af, st = AddressFamily(af), SockType(stype)
    return (int(af), int(st), af.name, st.name, FILETYPE[st], st == SockType.STREAM, OS_FAMILY[af], OS_TYPE[st])


def _advance(bufs, n):
    """The part of `bufs` after the first n bytes."""
    out = []
    for b in bufs:
        if n >= len(b):
            n -= len(b)
            continue
        out.append(b[n:] if n else b)
        n = 0
    return out
