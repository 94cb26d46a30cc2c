"""Network policy: where a program may connect or send, and which names it may look up.

Default: loopback (127.0.0.0/8, ::1) and LOCAL sockets only.  `Policy("any")` allows everything; an
allow-list such as `"10.0.0.0/8,192.168.1.5:80,[fd00::1]:443,*:53,example.org:443"` adds networks,
hosts, ports and host names to the default.  A denied call fails with ACCES before any OS call, and its
trace event is marked "denied by policy".

Names: `resolve` answers numeric addresses and `localhost` itself.  Any other name goes to the system
resolver (which may ask a DNS server) only if the policy is "any" or the allow-list names it; then the
addresses it resolved to are allowed too (with the name's port, if given), for this process only.

Binding (servers) is not restricted: a program may listen on loopback or the unspecified address, but
not share a port with a host service (SO_REUSEPORT is refused unless the policy is "any").

Multicast: joining a group makes the OS announce it (IGMP/MLD reports) on the chosen interface's
network, so under the default a join is allowed only on the loopback interface (IPv4 interface address
127.x, IPv6 interface index of `lo`) or for IPv6 interface-local groups (ff01::/16, never announced).
A group the allow-list names (e.g. "239.0.0.0/8", ports ignored) may be joined on any interface.
"""

import ipaddress
import re

from ..abi.errno import Errno, WasiError
from ..abi.types import AddressFamily

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_IFACE_LOCAL = ipaddress.ip_network("ff01::/16")  # IPv6 interface-local multicast: no MLD report
_NAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?\.?")


class Denied(WasiError):
    """ACCES from the policy; `mark` is what the trace event shows."""

    def __init__(self, what: str):
        super().__init__(Errno.ACCES, f"denied by policy: {what}")


def name_key(name: str) -> str:
    return name.lower().rstrip(".")


class Policy:
    def __init__(self, spec=None):
        self.any = False
        self.rules = []  # (network or None, port or None)
        self.names = {}  # host name (lower case, no final dot) -> port or None
        if isinstance(spec, Policy):
            self.any, self.rules, self.names = spec.any, list(spec.rules), dict(spec.names)
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
                target, port = _parse(item)
                if isinstance(target, str):
                    self.names[name_key(target)] = port
                else:
                    self.rules.append((target, port))

    @property
    def loopback_only(self) -> bool:
        return not self.any and not self.rules and not self.names

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

    def may_resolve(self, name: str) -> bool:
        """May `name` be sent to the system resolver? ("any", or the allow-list names it)"""
        return self.any or name_key(name) in self.names

    def learn(self, name: str, ips):
        """Allow the addresses a listed name resolved to (with the name's port)."""
        if self.any:
            return
        port = self.names.get(name_key(name))
        for ip in ips:
            rule = (ipaddress.ip_network(ip), port)
            if rule not in self.rules:
                self.rules.append(rule)

    def allows_group(self, group, on_loopback: bool) -> bool:
        """May a program join multicast `group` (an ip_address) on an interface (loopback or not)?"""
        if self.any or on_loopback or group in _IFACE_LOCAL:
            return True
        return any(net is None or (group.version == net.version and group in net) for net, _ in self.rules)

    @property
    def shares_ports(self) -> bool:
        """SO_REUSEPORT: only with the policy opened to "any" (it lets a socket take connections meant
        for a host service bound to the same port)."""
        return self.any

    def check(self, af: int, host, port: int, text: str):
        """Raise Denied unless the destination is allowed."""
        if not self.allows(af, host, port):
            raise Denied(text)

    def __repr__(self):
        if self.any:
            return "Policy('any')"
        items = [f"{n or '*'}{'' if p is None else f':{p}'}" for n, p in self.rules]
        items += [f"{n}{'' if p is None else f':{p}'}" for n, p in self.names.items()]
        return f"Policy({','.join(items)!r})" if items else "Policy('loopback')"


def _parse(item: str):
    """'10.0.0.0/8', '1.2.3.4', '1.2.3.4:80', '[::1]:80', '::1', '*:53', 'example.org', 'example.org:443'
    -> (network | host name | None, port | None)."""
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
        if _NAME.fullmatch(host) and ".." not in host:
            return host, port
        raise ValueError(
            f"bad network rule {item!r}: expected an address, a CIDR, addr:port, *:port, or a host name"
        ) from None
