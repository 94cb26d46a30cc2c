"""`resolve`: host name -> addresses (18-byte addr_ip records).

Numeric addresses and `localhost` are answered without the OS resolver.  Other names need the OS
resolver, which may ask a DNS server, so they are allowed only when the network policy is opened
beyond loopback (otherwise ACCES, marked "denied by policy").
"""
import ipaddress
import socket

from ...abi.errno import Errno, WasiError
from ..policy import Denied
from ..registry import syscall

_LOCALHOST = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def _lookup(h, name):
    try:
        return [ipaddress.ip_address(name)]
    except ValueError:
        pass
    low = name.lower().rstrip(".")
    if low == "localhost" or low.endswith(".localhost"):
        return list(_LOCALHOST)
    if h.policy.loopback_only:
        raise Denied(f"resolve {name}")
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise WasiError(Errno.NOENT) from None
    out = []
    for fam, _, _, _, sa in infos:
        ip = ipaddress.ip_address(sa[0].split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


@syscall("resolve", "host:ptr host_len:len port:u32 addrs:ptr naddrs:len ro_count:ptr", outs="count addrs")
def resolve(h, host, host_len, port, addrs, naddrs, ro_count):
    mem = h.mem
    naddrs &= 0xFFFFFFFF
    raw = mem.read(host, host_len & 0xFFFFFFFF)
    mem.check(addrs, 18 * naddrs)
    mem.check(ro_count, 4)
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return int(Errno.INVAL)
    if not name or "\0" in name:
        return int(Errno.INVAL)
    found = _lookup(h, name)[:naddrs]
    out = bytearray(18 * len(found))
    for i, ip in enumerate(found):
        out[18 * i] = 1 if ip.version == 4 else 2
        out[18 * i + 2:18 * i + 2 + len(ip.packed)] = ip.packed
    mem.write(addrs, out)
    mem.set_u32(ro_count, len(found))
    return 0, (len(found), ",".join(map(str, found)))
