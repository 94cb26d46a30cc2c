"""Socket options (flag, time, size) and multicast membership."""

import ipaddress
import socket
import struct

from ...abi.errno import Errno, WasiError, from_os
from ...abi.types import AddressFamily, SockOption as O
from ..policy import Denied
from ..registry import syscall
from .sock import get_socket

_INVAL = int(Errno.INVAL)
_INT_MAX = 2**31 - 1
_S, _TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP
_IP, _IP6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
_TIMESTAMP = struct.Struct("<B7xQ")  # option_timestamp: tag @0, ns @8

_FLAGS = {
    O.REUSE_PORT: (_S, getattr(socket, "SO_REUSEPORT", 15)),
    O.REUSE_ADDR: (_S, socket.SO_REUSEADDR),
    O.NO_DELAY: (_TCP, socket.TCP_NODELAY),
    O.DONT_ROUTE: (_S, socket.SO_DONTROUTE),
    O.ONLY_V6: (_IP6, socket.IPV6_V6ONLY),
    O.BROADCAST: (_S, socket.SO_BROADCAST),
    O.MULTICAST_LOOP_V4: (_IP, socket.IP_MULTICAST_LOOP),
    O.MULTICAST_LOOP_V6: (_IP6, socket.IPV6_MULTICAST_LOOP),
    O.KEEP_ALIVE: (_S, socket.SO_KEEPALIVE),
    O.OOB_INLINE: (_S, socket.SO_OOBINLINE),
}
_SIZES = {
    O.RECV_BUF_SIZE: (_S, socket.SO_RCVBUF),
    O.SEND_BUF_SIZE: (_S, socket.SO_SNDBUF),
    O.RECV_LOWAT: (_S, socket.SO_RCVLOWAT),
    O.SEND_LOWAT: (_S, socket.SO_SNDLOWAT),
    O.MULTICAST_TTL_V4: (_IP, socket.IP_MULTICAST_TTL),
}
# timeouts the host applies itself while it waits (the OS socket never blocks)
_TIMES = {
    O.RECV_TIMEOUT: "recv_timeout",
    O.SEND_TIMEOUT: "send_timeout",
    O.CONNECT_TIMEOUT: "connect_timeout",
    O.ACCEPT_TIMEOUT: "accept_timeout",
}


def _os(call, *args):
    try:
        return call(*args)
    except OSError as e:
        raise WasiError(from_os(e)) from None


def _level(s, opt):
    if opt == O.TTL:
        return (_IP6, socket.IPV6_UNICAST_HOPS) if s.af == AddressFamily.INET6 else (_IP, socket.IP_TTL)
    return _SIZES.get(opt)


@syscall("sock_set_opt_flag", "fd:fd opt:sockopt flag:bool")
def sock_set_opt_flag(h, fd, opt, flag):
    s = get_socket(h, fd)
    if opt == O.PROMISCUOUS:
        return int(Errno.NOTSUP)
    where = _FLAGS.get(opt)
    if where is None or flag not in (0, 1):
        return _INVAL  # LISTENING and LAST_ERROR are read-only
    if opt == O.REUSE_PORT and flag and not h.policy.shares_ports:
        raise Denied("SO_REUSEPORT (sharing a port with host services)")
    _os(s.os.setsockopt, where[0], where[1], flag)
    return 0


@syscall("sock_get_opt_flag", "fd:fd opt:sockopt ro_flag:ptr", outs="flag")
def sock_get_opt_flag(h, fd, opt, ro_flag):
    s = get_socket(h, fd)
    h.mem.check(ro_flag, 1)
    if opt == O.LISTENING:
        v = s.state == "listening"
    elif opt == O.LAST_ERROR:
        v = bool(s.pending_error) or bool(_os(s.os.getsockopt, _S, socket.SO_ERROR))
    elif opt == O.PROMISCUOUS:
        v = False
    else:
        where = _FLAGS.get(opt)
        if where is None:
            return _INVAL
        v = bool(_os(s.os.getsockopt, where[0], where[1]))
    h.mem.set_u8(ro_flag, int(v))
    return 0, (int(v),)


@syscall("sock_set_opt_time", "fd:fd opt:sockopt time:ptr")
def sock_set_opt_time(h, fd, opt, time_ptr):
    s = get_socket(h, fd)
    tag, ns = h.mem.unpack(_TIMESTAMP, time_ptr)
    if tag not in (0, 1):
        return _INVAL
    if opt == O.LINGER:
        secs = min(ns // 1_000_000_000, _INT_MAX) if tag else 0  # l_linger is an int: clamp, as Linux
        _os(s.os.setsockopt, _S, socket.SO_LINGER, struct.pack("ii", tag, secs))
        return 0
    attr = _TIMES.get(opt)
    if attr is None:
        return _INVAL
    setattr(s, attr, ns / 1e9 if tag and ns else None)  # Some(0) means no timeout, as SO_RCVTIMEO 0
    return 0


@syscall("sock_get_opt_time", "fd:fd opt:sockopt ro_time:ptr", outs="ns")
def sock_get_opt_time(h, fd, opt, ro_time):
    s = get_socket(h, fd)
    h.mem.check(ro_time, _TIMESTAMP.size)
    if opt == O.LINGER:
        on, secs = struct.unpack("ii", _os(s.os.getsockopt, _S, socket.SO_LINGER, 8))
        value = secs * 1_000_000_000 if on else None
    else:
        attr = _TIMES.get(opt)
        if attr is None:
            return _INVAL
        t = getattr(s, attr)
        value = None if t is None else int(round(t * 1e9))
    h.mem.pack(_TIMESTAMP, ro_time, 0 if value is None else 1, value or 0)
    return 0, ("none" if value is None else value,)


@syscall("sock_set_opt_size", "fd:fd opt:sockopt size:u64")
def sock_set_opt_size(h, fd, opt, size):
    s = get_socket(h, fd)
    where = _level(s, opt)
    if where is None or not 0 <= size <= 0x7FFFFFFF:
        return _INVAL  # TYPE and PROTO are read-only
    _os(s.os.setsockopt, where[0], where[1], size)
    return 0


@syscall("sock_get_opt_size", "fd:fd opt:sockopt ro_size:ptr", outs="size")
def sock_get_opt_size(h, fd, opt, ro_size):
    s = get_socket(h, fd)
    h.mem.check(ro_size, 8)
    if opt == O.TYPE:
        v = int(s.stype)
    elif opt == O.PROTO:
        v = s.proto
    else:
        where = _level(s, opt)
        if where is None:
            return _INVAL
        v = _os(s.os.getsockopt, where[0], where[1])
    h.mem.set_u64(ro_size, v)
    return 0, (v,)


# -- multicast --------------------------------------------------------------------------------------------
def _v4(h, fd, multiaddr, iface, join):
    s = get_socket(h, fd)
    mreq = h.mem.read(multiaddr, 4) + h.mem.read(iface, 4)  # struct ip_mreq
    group = ipaddress.IPv4Address(mreq[:4])
    if join and group.is_multicast and not h.policy.allows_group(group, mreq[4] == 127):
        raise Denied(f"join {group} on {ipaddress.IPv4Address(mreq[4:])} (only on 127.0.0.1 by default)")
    _os(s.os.setsockopt, _IP, socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP, mreq)
    return 0


def _v6(h, fd, multiaddr, iface, join):
    s = get_socket(h, fd)
    raw = h.mem.read(multiaddr, 16)
    iface &= 0xFFFFFFFF
    group = ipaddress.IPv6Address(raw)
    if join and group.is_multicast and not h.policy.allows_group(group, iface != 0 and iface == _lo_index()):
        raise Denied(f"join {group} on interface {iface} (only on lo or ff01::/16 by default)")
    mreq = raw + struct.pack("@I", iface)  # struct ipv6_mreq
    _os(s.os.setsockopt, _IP6, socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP, mreq)
    return 0


def _lo_index():
    try:
        return socket.if_nametoindex("lo")
    except OSError:
        return -1


@syscall("sock_join_multicast_v4", "fd:fd multiaddr:ptr iface:ptr")
def sock_join_multicast_v4(h, fd, multiaddr, iface):
    return _v4(h, fd, multiaddr, iface, True)


@syscall("sock_leave_multicast_v4", "fd:fd multiaddr:ptr iface:ptr")
def sock_leave_multicast_v4(h, fd, multiaddr, iface):
    return _v4(h, fd, multiaddr, iface, False)


@syscall("sock_join_multicast_v6", "fd:fd multiaddr:ptr iface:u32")
def sock_join_multicast_v6(h, fd, multiaddr, iface):
    return _v6(h, fd, multiaddr, iface, True)


@syscall("sock_leave_multicast_v6", "fd:fd multiaddr:ptr iface:u32")
def sock_leave_multicast_v6(h, fd, multiaddr, iface):
    return _v6(h, fd, multiaddr, iface, False)
