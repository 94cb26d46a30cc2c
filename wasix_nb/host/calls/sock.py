"""Socket calls. `sock_open` follows shared/wasix-abi.md section 5 check by check."""
from ...abi.errno import Errno, WasiError, from_os
from ...abi.memory import MASK32
from ...abi.types import SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_TYPE_FLAGS, AddressFamily, SockType
from ..registry import syscall
from ..sockets import Socket

_TCP, _UDP = 6, 17
_DEFAULT_PROTO = {SockType.STREAM: _TCP, SockType.DGRAM: _UDP}


@syscall("sock_open", "af:af type:socktype proto:proto ro_fd:ptr", outs="fd")
def sock_open(h, af, socktype, proto, ro_fd):
    if af not in (1, 2, 3):
        return int(Errno.AFNOSUPPORT)
    socktype &= MASK32
    base = socktype & ~SOCK_TYPE_FLAGS
    if base not in (1, 2, 3, 4):
        return int(Errno.INVAL)
    if base in (3, 4):
        return int(Errno.NOTSUP)
    if af == AddressFamily.LOCAL:
        if proto != 0:
            return int(Errno.PROTONOSUPPORT)
    elif proto == 0:
        proto = _DEFAULT_PROTO[base]
    elif proto != _DEFAULT_PROTO[base]:
        return int(Errno.PROTONOSUPPORT)
    h.mem.check(ro_fd, 4)
    h.fds.check_room()
    try:
        sock = Socket(af, base, proto, nonblock=bool(socktype & SOCK_NONBLOCK))
    except OSError as e:
        raise WasiError(from_os(e)) from None
    try:
        fd = h.fds.add(sock, cloexec=bool(socktype & SOCK_CLOEXEC))
    except BaseException:
        sock.release()
        raise
    h.mem.set_u32(ro_fd, fd)
    return 0, (fd,)
