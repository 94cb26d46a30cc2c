"""Network policy: where a program may connect or send.

Default: loopback (127.0.0.0/8, ::1) and LOCAL sockets only.  `Policy("any")` allows everything; an
allow-list such as `"10.0.0.0/8,192.168.1.5:80,[fd00::1]:443,*:53"` adds networks, hosts and ports to
the default.  A denied call fails with ACCES before any OS call, and its trace event is marked.
Binding (servers) is not restricted: a program may listen on loopback or the unspecified address.
"""
import ipaddress

from ..abi.errno import Errno, WasiError
from ..abi.types import AddressFamily

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class Denied(WasiError):
    """ACCES from the policy; `mark` is what the trace event shows."""

    def __init__(self, what: str):
        super().__init__(Errno.ACCES, f"denied by policy: {what}")


class Policy:
    def __init__(self, spec=None):
        self.any = False
        self.rules = []             # (network or None, port or None)
        if isinstance(spec, Policy):
            self.any, self.rules = spec.any, list(spec.rules)
            return
        if spec in (None, "", "loopback", "local"):
            return
        if spec in ("any", "all", "*"):
            self.any = True
            return
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        for item in items:
            item = item.strip()
            if item:
                self.rules.append(_parse(item))

    @property
    def loopback_only(self) -> bool:
        return not self.any and not self.rules

    def allows(self, af: int, host, port: int) -> bool:
        if self.any or af == AddressFamily.LOCAL:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in _LOOPBACK[0] or ip in _LOOPBACK[1]:
            return True
        for net, p in self.rules:
            if (net is None or (ip.version == net.version and ip in net)) and (p is None or p == port):
                return True
        return False

    def check(self, af: int, host, port: int, text: str):
        """Raise Denied unless the destination is allowed."""
        if not self.allows(af, host, port):
            raise Denied(text)

    def __repr__(self):
        if self.any:
            return "Policy('any')"
        rules = ",".join(f"{n or '*'}{'' if p is None else f':{p}'}" for n, p in self.rules)
        return f"Policy({rules!r})" if rules else "Policy('loopback')"


def _parse(item: str):
    """'10.0.0.0/8', '1.2.3.4', '1.2.3.4:80', '[::1]:80', '::1', '*:53' -> (network|None, port|None)."""
    port = None
    host = item
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif item.count(":") == 1:
        host, p = item.split(":")
        port = int(p)
    if not 0 <= (port or 0) <= 65535:
        raise ValueError(f"bad port in network rule {item!r}")
    if host in ("*", ""):
        return None, port
    try:
        return ipaddress.ip_network(host, strict=False), port
    except ValueError:
        raise ValueError(f"bad network rule {item!r}: expected an address, a CIDR, addr:port or *:port") from None
