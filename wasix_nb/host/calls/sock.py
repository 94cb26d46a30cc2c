"""Socket calls: open, pair, bind, listen, accept, connect, shutdown, status, addresses.
`sock_open` follows shared/wasix-abi.md section 5 check by check; data calls are in sockio.py."""

import _socket
import errno
import os
import socket

from ...abi.errno import Errno, WasiError, from_os
from ...abi.memory import MASK32
from ...abi.types import SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_TYPE_FLAGS, AddressFamily, SockStatus, SockType
from ..registry import P1, WASIX, syscall
from ..sockets import OS_FAMILY, OS_TYPE, Socket, addr_text

_TCP, _UDP = 6, 17
_BACKLOG = max(socket.SOMAXCONN, 4096)  # the kernel caps it at net.core.somaxconn
_WILDCARDS = ("0.0.0.0:", "[::]:", "[::ffff:0.0.0.0]:")


@syscall("sock_open", "af:af type:socktype proto:proto ro_fd:ptr", outs="fd")
def sock_open(h, af, socktype, proto, ro_fd):
    base, proto, socktype = check_type(af, socktype, proto)  # checks 1-3
    h.mem.check(ro_fd, 4)  # 4
    h.fds.check_room()  # 5 (then the OS may refuse)
    try:
        sock = Socket(af, base, proto, socktype & SOCK_NONBLOCK)
    except OSError as e:
        raise WasiError(from_os(e)) from None
    try:
        fd = h.fds.add(sock, cloexec=bool(socktype & SOCK_CLOEXEC))
    except BaseException:
        sock.release()
        raise
    h.mem.set_u32(ro_fd, fd)
    return 0, (fd,)


def check_type(af, socktype, proto):
    """sock_open's checks 1-3 in order (also sock_pair's): returns (base type, proto, socktype) or
    raises the errno. Flag bits SOCK_CLOEXEC/SOCK_NONBLOCK stay in socktype for the caller."""
    if af not in (1, 2, 3):
        raise WasiError(Errno.AFNOSUPPORT)
    socktype &= MASK32
    base = socktype & ~SOCK_TYPE_FLAGS
    if base != 1 and base != 2:  # STREAM, DGRAM (ints throughout: this runs on every open)
        raise WasiError(Errno.NOTSUP if base == 3 or base == 4 else Errno.INVAL)
    if af == 3:  # LOCAL
        if proto != 0:
            raise WasiError(Errno.PROTONOSUPPORT)
    elif proto == 0:
        proto = _TCP if base == 1 else _UDP
    elif proto != (_TCP if base == 1 else _UDP):
        raise WasiError(Errno.PROTONOSUPPORT)
    return base, proto, socktype


# -- helpers -------------------------------------------------------------------------------------------
_BADF, _NOTSOCK, _INVAL = int(Errno.BADF), int(Errno.NOTSOCK), int(Errno.INVAL)
_NONBLOCK = 4  # fdflags NONBLOCK
_LOCAL = int(AddressFamily.LOCAL)
_ADDR_SIZE = 28
_LOCAL_ADDR_SIZE = 110
# connect failures that leave the socket in state `error` (others, like EALREADY, change nothing)
_CONNECT_FAILED = {
    int(Errno.CONNREFUSED),
    int(Errno.TIMEDOUT),
    int(Errno.NETUNREACH),
    int(Errno.HOSTUNREACH),
    int(Errno.CONNRESET),
    int(Errno.CONNABORTED),
    int(Errno.NOENT),
    int(Errno.ACCES),
}


def get_socket(h, fd) -> Socket:
    """The Socket behind `fd`: BADF if not open, NOTSOCK if it is not a socket (stdio, pipe)."""
    try:
        f = h.fds.entries[fd].file
    except KeyError:
        raise WasiError(_BADF) from None
    if f.__class__ is not Socket:
        raise WasiError(_NOTSOCK)
    return f


def addr_size(s: Socket) -> int:
    """Bytes an address of this socket's family occupies in guest memory."""
    return _LOCAL_ADDR_SIZE if s.af == _LOCAL else _ADDR_SIZE


# -- creating, naming, connecting ------------------------------------------------------------------------
@syscall("sock_pair", "af:af type:socktype proto:proto ro_fd1:ptr ro_fd2:ptr", outs="fd1 fd2")
def sock_pair(h, af, socktype, proto, ro_fd1, ro_fd2):
    base, proto, socktype = check_type(af, socktype, proto)
    if af != _LOCAL:
        return int(Errno.NOTSUP)  # Linux: socketpair works only for AF_UNIX
    h.mem.check(ro_fd1, 4)
    h.mem.check(ro_fd2, 4)
    h.fds.check_room(2)
    try:
        a, b = socket.socketpair(socket.AF_UNIX, OS_TYPE[base])
    except OSError as e:
        raise WasiError(from_os(e)) from None
    nb, cloexec = bool(socktype & SOCK_NONBLOCK), bool(socktype & SOCK_CLOEXEC)
    s1, s2 = Socket(af, base, proto, nb, os_sock=a), Socket(af, base, proto, nb, os_sock=b)
    s1.state = s2.state = "connected"
    s1.peer_addr = s2.peer_addr = (_LOCAL, "", 0)
    fd1, fd2 = h.fds.add_pair(s1, s2, cloexec)
    s1.peer, s2.peer = f"pair fd {fd2}", f"pair fd {fd1}"
    h.mem.set_u32(ro_fd1, fd1)
    h.mem.set_u32(ro_fd2, fd2)
    return 0, (fd1, fd2)


@syscall("sock_bind", "fd:fd addr:addr", outs="addr")
def sock_bind(h, fd, addr):
    s = get_socket(h, fd)
    af, host, port = h.mem.read_addr(addr)
    if host is None or af != s.af or s.state != "opened":
        return _INVAL  # wrong family, or already bound (Linux: EINVAL)
    os_addr = s.os_addr(af, host, port)
    try:
        made = h.make_parents(os_addr) if af == _LOCAL else ()
        try:
            s.os.bind(os_addr)
        except OSError:
            h.remove_dirs(made)  # a failed bind leaves nothing behind
            raise
    except OSError as e:
        raise WasiError(from_os(e)) from None
    if af == _LOCAL:
        s.local = addr_text(*s.decode(s.os.getsockname()))
    else:
        s.note_local()
    s.set_state("bound")
    return 0, (s.local,)


@syscall("sock_listen", "fd:fd backlog:int", outs="addr")
def sock_listen(h, fd, backlog):
    s = get_socket(h, fd)
    if s.stype != SockType.STREAM:
        return int(Errno.NOTSUP)  # Linux: EOPNOTSUPP for datagram sockets
    if s.state not in ("opened", "bound", "listening"):
        return _INVAL
    try:
        # the guest's backlog is a hint: the queue is the system's largest (as Wasmer: SOMAXCONN), or a
        # burst of connects beyond a small backlog loses SYNs and waits a 1 s retransmit each (issue 14)
        s.os.listen(_BACKLOG)  # an unbound socket gets an ephemeral port (POSIX)
    except OSError as e:
        raise WasiError(from_os(e)) from None
    s.note_local()
    s.set_state("listening")
    return 0, (s.local,)


def _accept(h, fd, fdflags, ro_fd, ro_addr):
    s = get_socket(h, fd)
    mem = h.mem
    mem.check(ro_fd, 4)
    if ro_addr is not None:
        mem.check(ro_addr, _LOCAL_ADDR_SIZE if s.af == _LOCAL else _ADDR_SIZE)  # addr_size(s)
    if s.state != "listening":
        return _INVAL
    h.fds.check_room()  # before accepting, so no connection is taken and dropped
    os_sock = s.os
    while True:
        try:
            # _accept + socket(fileno=): socket.accept() reads .family and .type, each an enum built per call
            conn_fd, os_peer = os_sock._accept()
            break
        except BlockingIOError:
            if s.nonblock:
                raise WasiError(Errno.AGAIN) from None
            if not h.wait_fd(s.fd_no, False, s.accept_timeout):
                raise WasiError(Errno.AGAIN) from None
        except OSError as e:
            raise WasiError(from_os(e)) from None
    try:
        # the C socket type, as Socket makes (no Python-level frames on its open and close)
        conn = _socket.socket(OS_FAMILY[s.af], OS_TYPE[s.stype], os_sock.proto, conn_fd)
    except OSError as e:
        os.close(conn_fd)
        raise WasiError(from_os(e)) from None
    c = Socket(s.af, s.stype, s.proto, fdflags & _NONBLOCK, os_sock=conn)
    c._host = h  # (the `host` property's setter, without the property)
    peer = c.decode(os_peer)
    c.note_peer(peer)
    # a listener on one address: that is the connection's local address too (no getsockname)
    c.local = s.local if s.af == _LOCAL or not s.local.startswith(_WILDCARDS) else addr_text(*c.local_addr())
    c.state = "connected"
    try:
        new = h.fds.add(c)
    except BaseException:
        c.release()
        raise
    mem.set_u32(ro_fd, new)
    if ro_addr is not None:
        mem.write_addr(ro_addr, *peer)
    return 0, (new, c.peer)


@syscall("sock_accept", "fd:fd flags:fdflags ro_fd:ptr", outs="fd peer", modules=(P1,))
def sock_accept(h, fd, fdflags, ro_fd):
    return _accept(h, fd, fdflags, ro_fd, None)


# wasix_32v1 has it under both names: `sock_accept_v2`, and `sock_accept` (which there means v2)
@syscall("sock_accept_v2", "fd:fd flags:fdflags ro_fd:ptr ro_addr:addr", outs="fd peer", modules=(WASIX,))
@syscall(
    "sock_accept_v2",
    "fd:fd flags:fdflags ro_fd:ptr ro_addr:addr",
    outs="fd peer",
    modules=(WASIX,),
    names={WASIX: "sock_accept"},
)
def sock_accept_v2(h, fd, fdflags, ro_fd, ro_addr):
    return _accept(h, fd, fdflags, ro_fd, ro_addr)


@syscall("sock_connect", "fd:fd addr:addr", outs="addr")
def sock_connect(h, fd, addr):
    s = get_socket(h, fd)
    af, host, port = h.mem.read_addr(addr)
    if host is None or af != s.af:
        return int(Errno.AFNOSUPPORT)
    text = addr_text(af, host, port)
    h.policy.check(af, host, port, "connect " + text)  # before any OS call
    os_addr = s.os_addr(af, host, port)
    while True:
        err = s.os.connect_ex(os_addr)
        if err == errno.EAGAIN and af == _LOCAL and not s.nonblock:
            h.sleep(0.001)  # a full LOCAL backlog: Linux would block; retry
            continue
        break
    if err in (errno.EINPROGRESS, errno.EAGAIN):
        s.note_peer((af, host, port))
        s.set_state("connecting")
        if s.nonblock or err == errno.EAGAIN:
            raise WasiError(Errno.INPROGRESS if err == errno.EINPROGRESS else Errno.AGAIN)
        if not h.wait_fd(s.fd_no, True, s.connect_timeout):
            s.set_state("error")
            raise WasiError(Errno.TIMEDOUT)
        if s.finish_connect():
            s.take_error()
        return 0, (text,)
    if err == errno.EISCONN and s.state == "connecting":
        s.finish_connect()
        s.take_error()
        return 0, (text,)
    if err:
        werr = from_os(err)
        if werr in _CONNECT_FAILED:
            s.set_state("error")
        raise WasiError(werr)
    s.note_peer((af, host, port))
    s.note_local()
    s.set_state("connected")
    return 0, (text,)


# -- state and addresses ---------------------------------------------------------------------------------
_STATUS = {"connecting": int(SockStatus.OPENING), "closed": int(SockStatus.CLOSED), "error": int(SockStatus.FAILED)}


@syscall("sock_status", "fd:fd ro_status:ptr", outs="status")
def sock_status(h, fd, ro_status):
    s = get_socket(h, fd)
    h.mem.check(ro_status, 1)
    if s.state == "connecting":
        s.check_connecting_quietly()
    st = _STATUS.get(s.state, int(SockStatus.OPENED))
    h.mem.set_u8(ro_status, st)
    return 0, (SockStatus(st).name.lower(),)


@syscall("sock_addr_local", "fd:fd ro_addr:addr", outs="addr")
def sock_addr_local(h, fd, ro_addr):
    s = get_socket(h, fd)
    h.mem.check(ro_addr, addr_size(s))
    af, host, port = s.local_addr()
    h.mem.write_addr(ro_addr, af, host, port)
    return 0, (addr_text(af, host, port),)


@syscall("sock_addr_peer", "fd:fd ro_addr:addr", outs="addr")
def sock_addr_peer(h, fd, ro_addr):
    s = get_socket(h, fd)
    h.mem.check(ro_addr, addr_size(s))
    if s.state == "connecting":
        s.check_connecting_quietly()
    try:
        peer = s.decode(s.os.getpeername())
    except OSError as e:
        raise WasiError(from_os(e)) from None
    if s.af == _LOCAL and s.peer_addr is not None:
        peer = s.peer_addr  # the path the program connected to, as it named it
    h.mem.write_addr(ro_addr, *peer)
    return 0, (addr_text(*peer),)


_SHUT = {1: socket.SHUT_RD, 2: socket.SHUT_WR, 3: socket.SHUT_RDWR}


@syscall("sock_shutdown", "fd:fd how:how")
def sock_shutdown(h, fd, how):
    s = get_socket(h, fd)
    if how not in _SHUT:
        return _INVAL
    try:
        s.os.shutdown(_SHUT[how])
    except OSError as e:
        raise WasiError(from_os(e)) from None
    st = s.state
    if how == 3 or (how == 1 and st == "shut_wr") or (how == 2 and st == "shut_rd"):
        s.set_state("shut_rdwr")
    elif st != "shut_rdwr":
        s.set_state("shut_rd" if how == 1 else "shut_wr")
    return 0
