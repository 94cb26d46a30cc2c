"""Building blocks for WAT test programs (and a shim to call host functions one at a time).

    wat = module(imports("sock_open", "fd_close", "proc_exit"), CHECK + '''
        (func (export "_start") ...)''', data=[(0, addr_v4("127.0.0.1", 8080))])

Import signatures come from the host's own declarations, so they always match.  Every import is named
`$<syscall name>` (e.g. `$sock_accept_v2`, `$sock_recv`).  `CHECK` defines `$check (errno)`, which
exits with status 100 + errno when errno is not 0.
"""
import ipaddress
import struct

from wasix_nb.host import calls  # noqa: F401  (registers every syscall)
from wasix_nb.host import registry

AF_INET, AF_INET6, AF_LOCAL = 1, 2, 3
STREAM, DGRAM = 1, 2


def _find(name):
    """(module, import name, Syscall) for a syscall name; preview1 names win when both exist."""
    for (mod, imp), call in sorted(registry.TABLE.items()):
        if call.name == name and mod == registry.P1:
            return mod, imp, call
    for (mod, imp), call in sorted(registry.TABLE.items()):
        if call.name == name:
            return mod, imp, call
    raise KeyError(f"no host function {name!r}")


def import_line(name: str) -> str:
    mod, imp, call = _find(name)
    params, results = call.wasm_type
    p = f" (param {' '.join(params)})" if params else ""
    r = f" (result {' '.join(results)})" if results else ""
    return f'  (import "{mod}" "{imp}" (func ${name}{p}{r}))'


def imports(*names) -> str:
    return "\n".join(import_line(n) for n in names)


def wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


def module(imports_text: str, body: str, data=(), pages: int = 2) -> str:
    """A module exporting `memory`; `data` is [(offset, bytes)]."""
    segs = "\n".join(f'  (data (i32.const {off}) "{wat_bytes(b)}")' for off, b in data)
    return f'(module\n{imports_text}\n  (memory (export "memory") {pages})\n{segs}\n{body}\n)'


CHECK = '''
  (func $check (param $e i32)
    (if (local.get $e) (then (call $proc_exit (i32.add (i32.const 100) (local.get $e))))))'''


# -- addresses (addr_port) ---------------------------------------------------------------------------------
def addr_v4(ip: str = "127.0.0.1", port: int = 0) -> bytes:
    return struct.pack("<BxH", AF_INET, port) + ipaddress.IPv4Address(ip).packed + bytes(20)


def addr_v6(ip: str = "::1", port: int = 0) -> bytes:
    return struct.pack("<BxH", AF_INET6, port) + ipaddress.IPv6Address(ip).packed + bytes(8)


def addr_local(path: str) -> bytes:
    raw = path.encode()
    return bytes([AF_LOCAL, 0]) + raw + bytes(108 - len(raw))


def decode_addr(raw: bytes):
    """(af, host, port) of an addr_port read back from guest memory."""
    af = raw[0]
    port = struct.unpack_from("<H", raw, 2)[0]
    if af == AF_INET:
        return af, str(ipaddress.IPv4Address(raw[4:8])), port
    if af == AF_INET6:
        return af, str(ipaddress.IPv6Address(raw[4:20])), port
    return af, raw[2:110].split(b"\0", 1)[0].decode(), 0


# -- the shim: every host function re-exported, called from Python -----------------------------------------
def shim_wat() -> str:
    names = sorted({c.name for c in registry.TABLE.values()})
    funcs = []
    for n in names:
        call = _find(n)[2]
        params, results = call.wasm_type
        p = f" (param {' '.join(params)})" if params else ""
        r = f" (result {' '.join(results)})" if results else ""
        gets = " ".join(f"(local.get {i})" for i in range(len(params)))
        funcs.append(f'  (func (export "{n}"){p}{r} (call ${n} {gets}))')
    body = "\n".join(funcs) + '\n  (func (export "_start"))'
    return module(imports(*names), body, pages=1)


def _i32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


class Shim:
    """A linked (never started) process whose host functions tests call directly:

        with Shim() as k:
            assert k.sock_open(1, 1, 0, 0x100) == 0
            fd = k.mem.u32(0x100)
    """

    def __init__(self, **options):
        from wasix_nb.process import Process
        self.proc = Process(shim_wat(), name="shim", **options)
        self.host = self.proc.host
        self.mem = self.host.mem
        self._exports = self.proc.instance.exports(self.proc.store)

    def __getattr__(self, name):
        func = self._exports[name]
        store = self.proc.store
        call = _find(name)[2]
        kinds = call.wasm_type[0]

        def invoke(*args):
            return func(store, *[_i32(a) if k == "i32" else a for a, k in zip(args, kinds)])
        return invoke

    def last(self):
        """(name, errno, outs, mark) of the last traced call."""
        ev = self.host.trace.events[-1]
        return ev[2].name, ev[4], ev[5], ev[6]

    def close(self):
        self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
