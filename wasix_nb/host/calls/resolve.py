"""`resolve`: host name -> addresses (18-byte addr_ip records).

Numeric addresses and `localhost` are answered without the OS resolver.  Other names need the OS
resolver, which may ask a DNS server, so they go to it only when the network policy allows that name
("any", or the name is on the allow-list; otherwise ACCES, marked "denied by policy").

The OS resolver cannot be interrupted, so it runs on a daemon thread while the program's thread waits
cancellably (kill, timeout and SIGINT end the wait at once) for at most RESOLVE_TIMEOUT seconds (then
AGAIN, as getaddrinfo's EAI_AGAIN).  At most RESOLVERS_MAX lookups run at a time in one kernel: a
lookup stuck in the OS keeps its thread until the OS gives up, and more than that answer AGAIN.
"""

import ipaddress
import socket
import threading

from ...abi.errno import Errno, WasiError
from ..policy import Denied
from ..registry import syscall

RESOLVE_TIMEOUT = 10.0  # seconds the program waits for the system resolver
RESOLVERS_MAX = 8  # lookups in flight per kernel (threads a stuck resolver can hold)
_LOCALHOST = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_slots = threading.BoundedSemaphore(RESOLVERS_MAX)


def _lookup(h, name):
    try:
        return [ipaddress.ip_address(name)]
    except ValueError:
        pass
    low = name.lower().rstrip(".")
    if low == "localhost" or low.endswith(".localhost"):
        return list(_LOCALHOST)
    if not h.policy.may_resolve(name):
        raise Denied(f"resolve {name}" + ("" if h.policy.loopback_only else " (not on the allow-list)"))
    out = []
    for fam, _, _, _, sa in _system(h, name):
        ip = ipaddress.ip_address(sa[0].split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    h.policy.learn(name, out)
    return out


def _system(h, name):
    """socket.getaddrinfo on a worker thread, waited for cancellably and at most RESOLVE_TIMEOUT."""
    if not _slots.acquire(blocking=False):
        raise WasiError(Errno.AGAIN, f"resolver busy: {RESOLVERS_MAX} lookups in flight")
    box, done = {}, threading.Event()

    def work():
        try:
            box["infos"] = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except Exception as e:  # noqa: BLE001 - handed to the waiting call
            box["error"] = e
        finally:
            _slots.release()
            done.set()

    threading.Thread(target=work, name="wasix-resolve", daemon=True).start()
    if not h.wait_event(done, RESOLVE_TIMEOUT):
        raise WasiError(Errno.AGAIN, f"no answer from the resolver within {RESOLVE_TIMEOUT:g} s")
    err = box.get("error")
    if isinstance(err, socket.gaierror):
        raise WasiError(Errno.AGAIN if err.errno == socket.EAI_AGAIN else Errno.NOENT) from None
    if err is not None:
        raise err
    return box["infos"]


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
        out[18 * i + 2 : 18 * i + 2 + len(ip.packed)] = ip.packed
    mem.write(addrs, out)
    mem.set_u32(ro_count, len(found))
    return 0, (len(found), ",".join(map(str, found)))
