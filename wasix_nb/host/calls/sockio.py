"""Socket data calls: sock_recv, sock_send (preview1), sock_recv_from, sock_send_to.

Data goes straight between the OS socket and guest memory (memoryviews of the iovec buffers), and a
call that can be answered at once costs one OS call; see sockets.Socket for the blocking rules.
"""

import socket
import struct

from ...abi.errno import Errno, WasiError
from ...abi.memory import RW_MAX
from ...abi.types import SockType
from ..registry import syscall
from ..sockets import _advance, addr_text
from .sock import addr_size, get_socket

_PEEK, _WAITALL, _RI_DONT_WAIT = 1, 2, 8
_RI_KNOWN = _PEEK | _WAITALL | _RI_DONT_WAIT
_SI_DONT_WAIT = 1
_INVAL = int(Errno.INVAL)
_MSG_PEEK = socket.MSG_PEEK
_DGRAM = SockType.DGRAM
_IOVEC = struct.Struct("<II")


def _recv(h, s, iovs, iovs_len, riflags, want_addr):
    if riflags & ~_RI_KNOWN:
        raise WasiError(_INVAL)
    bufs = h.mem.views(iovs, iovs_len)
    dont_wait = riflags & _RI_DONT_WAIT
    n, trunc, addr = s.recv_into(bufs, _MSG_PEEK if riflags & _PEEK else 0, dont_wait, want_addr or s.stype == _DGRAM)
    if riflags & _WAITALL and not riflags & _PEEK and s.stype != _DGRAM and n:
        # MSG_WAITALL: keep receiving until the buffers are full, EOF, or (non-blocking) no more data
        want = sum(len(b) for b in bufs)
        while n < want:
            try:
                k = s.recv_into(_advance(bufs, n), 0, dont_wait)[0]
            except WasiError as e:
                if e.errno == Errno.AGAIN:
                    break
                raise
            if not k:
                break
            n += k
    return n, trunc, addr


@syscall("sock_recv", "fd:fd iovs:ptr iovs_len:len flags:riflags ro_datalen:ptr ro_flags:ptr", outs="n flags")
def sock_recv(h, fd, iovs, iovs_len, riflags, ro_datalen, ro_flags):
    s = get_socket(h, fd)
    mem = h.mem
    mem.check(ro_datalen, 4)
    mem.check(ro_flags, 2)
    if iovs_len == 1 and not riflags and s.stream:
        buf, ln = mem.unpack(_IOVEC, iovs)
        n = s.recv1(mem.view(buf, ln)[:RW_MAX])
        mem.set_u32(ro_datalen, n)
        mem.set_u16(ro_flags, 0)
        return 0, (n, 0)
    n, trunc, _ = _recv(h, s, iovs, iovs_len, riflags, False)
    mem.set_u32(ro_datalen, n)
    mem.set_u16(ro_flags, 1 if trunc else 0)
    return 0, (n, 1 if trunc else 0)


@syscall("sock_send", "fd:fd iovs:ptr iovs_len:len flags:siflags ro_datalen:ptr", outs="n")
def sock_send(h, fd, iovs, iovs_len, siflags, ro_datalen):
    s = get_socket(h, fd)
    mem = h.mem
    mem.check(ro_datalen, 4)
    if iovs_len == 1 and not siflags and s.stream:
        buf, ln = mem.unpack(_IOVEC, iovs)
        n = s.send1(mem.view(buf, ln)[:RW_MAX])  # a short count past RW_MAX, as Linux
        mem.set_u32(ro_datalen, n)
        return 0, (n,)
    if siflags & ~_SI_DONT_WAIT:
        return _INVAL
    n = s.send_from(mem.views(iovs, iovs_len), siflags & _SI_DONT_WAIT)
    mem.set_u32(ro_datalen, n)
    return 0, (n,)


@syscall(
    "sock_recv_from",
    "fd:fd iovs:ptr iovs_len:len flags:riflags ro_datalen:ptr ro_flags:ptr ro_addr:addr",
    outs="n flags addr",
)
def sock_recv_from(h, fd, iovs, iovs_len, riflags, ro_datalen, ro_flags, ro_addr):
    s = get_socket(h, fd)
    mem = h.mem
    mem.check(ro_datalen, 4)
    mem.check(ro_flags, 2)
    mem.check(ro_addr, addr_size(s))
    n, trunc, addr = _recv(h, s, iovs, iovs_len, riflags, True)
    peer = s.decode(addr) if addr else (s.peer_addr or (int(s.af), None, 0))
    mem.set_u32(ro_datalen, n)
    mem.set_u16(ro_flags, 1 if trunc else 0)
    mem.write_addr(ro_addr, *peer)
    return 0, (n, 1 if trunc else 0, addr_text(*peer) if peer[1] is not None else "")


@syscall("sock_send_to", "fd:fd iovs:ptr iovs_len:len flags:siflags addr:addr ro_datalen:ptr", outs="n addr")
def sock_send_to(h, fd, iovs, iovs_len, siflags, addr, ro_datalen):
    s = get_socket(h, fd)
    mem = h.mem
    af, host, port = mem.read_addr(addr)
    mem.check(ro_datalen, 4)
    if siflags & ~_SI_DONT_WAIT:
        return _INVAL
    bufs = mem.views(iovs, iovs_len)
    text = addr_text(af, host, port) if host is not None else ""
    if s.stype == SockType.STREAM:
        n = s.send_from(bufs, siflags & _SI_DONT_WAIT)  # a stream ignores the address (Linux)
    else:
        if host is None or af != s.af:
            return int(Errno.AFNOSUPPORT)
        h.policy.check(af, host, port, "send_to " + text)  # before any OS call
        n = s.send_from(bufs, siflags & _SI_DONT_WAIT, s.os_addr(af, host, port))
        if s.state == "opened":  # the first datagram binds an ephemeral port
            s.note_local()
            s.set_state("bound")
    mem.set_u32(ro_datalen, n)
    return 0, (n, text)
