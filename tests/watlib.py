"""Building blocks for WAT test programs (and a shim to call host functions one at a time).

    wat = module(imports("sock_open", "fd_close", "proc_exit"), CHECK + '''
        (func (export "_start") ...)''', data=[(0, addr_v4("127.0.0.1", 8080))])

Import signatures come from the host's own declarations, so they always match.  Every import is named
`$<syscall name>` (e.g. `$sock_accept_v2`, `$sock_recv`).  `CHECK` defines `$check (errno)`, which
exits with status 100 + errno when errno is not 0.
"""

import ipaddress
import struct

from wasix_nb import _raw_calls
import wasix_nb.host.calls  # noqa: F401  (registers every syscall)
from wasix_nb.host import registry

AF_INET, AF_INET6, AF_LOCAL = 1, 2, 3
STREAM, DGRAM = 1, 2


def _find(name):
    """(module, import name, Syscall) for a syscall name; preview1 names win when both exist."""
    for (mod, imp), call in sorted(registry.TABLE.items()):
        if call.name == name and mod == registry.P1:
            return mod, imp, call
    for (mod, imp), call in sorted(registry.TABLE.items(), key=lambda kv: (kv[0][1] != name, kv[0])):
        if call.name == name:  # the import named like the call first: the trace shows import names
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


CHECK = """
  (func $check (param $e i32)
    (if (local.get $e) (then (call $proc_exit (i32.add (i32.const 100) (local.get $e))))))"""


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
def forwarders(calls) -> str:
    """An export per (name, Syscall) that passes its arguments to the import `$name`."""
    funcs = []
    for n, call in calls:
        params, results = call.wasm_type
        p = f" (param {' '.join(params)})" if params else ""
        r = f" (result {' '.join(results)})" if results else ""
        gets = " ".join(f"(local.get {i})" for i in range(len(params)))
        funcs.append(f'  (func (export "{n}"){p}{r} (call ${n} {gets}))')
    return "\n".join(funcs) + '\n  (func (export "_start"))'


def shim_wat() -> str:
    names = sorted({c.name for c in registry.TABLE.values()})
    return module(imports(*names), forwarders((n, _find(n)[2]) for n in names), pages=1)


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
        self.proc.instantiate()
        self.host = self.proc.host
        self.mem = self.host.mem
        self._exports = self.proc.instance.exports(self.proc.store)

    def __getattr__(self, name):
        func = self._exports[name]
        store = self.proc.store
        call = _find(name)[2]
        kinds = call.wasm_type[0]

        def invoke(*args):
            return _raw_calls.call(func, store, *[_i32(a) if k == "i32" else a for a, k in zip(args, kinds)])

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


# -- whole programs ----------------------------------------------------------------------------------------
# memory map shared by the programs below
#   0    address to bind/connect (110 B)        128  fd out     132  second fd out
#   136  nread   140 roflags   144 nwritten     160  iovec {4096, 65536}    168 ciovec {4096, n}
#   256  peer address out (110 B)               512  message    4096 buffer (64 KiB)
_SETUP_IOV = """
    (i32.store (i32.const 160) (i32.const 4096)) (i32.store (i32.const 164) (i32.const 65536))
    (i32.store (i32.const 168) (i32.const 4096))"""


def echo_server(addr: bytes, conns: int = 1) -> str:
    """Stream echo server: bind `addr` (any family), listen, then for `conns` connections (-1: for
    ever) accept and echo until the peer closes."""
    af = addr[0]
    body = (
        CHECK
        + f"""
  (func (export "_start")
    (local $ls i32) (local $c i32) (local $n i32) (local $k i32)
    {_SETUP_IOV}
    (call $check (call $sock_open (i32.const {af}) (i32.const 1) (i32.const 0) (i32.const 128)))
    (local.set $ls (i32.load (i32.const 128)))
    (call $check (call $sock_bind (local.get $ls) (i32.const 0)))
    (call $check (call $sock_listen (local.get $ls) (i32.const 128)))
    (block $end (loop $conns
      (br_if $end (i32.eq (local.get $k) (i32.const {conns})))
      (call $check (call $sock_accept_v2 (local.get $ls) (i32.const 0) (i32.const 132) (i32.const 256)))
      (local.set $c (i32.load (i32.const 132)))
      (block $done (loop $echo
        (call $check (call $sock_recv (local.get $c) (i32.const 160) (i32.const 1) (i32.const 0)
                                      (i32.const 136) (i32.const 140)))
        (local.set $n (i32.load (i32.const 136)))
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store (i32.const 172) (local.get $n))
        (call $check (call $sock_send (local.get $c) (i32.const 168) (i32.const 1) (i32.const 0) (i32.const 144)))
        (br $echo)))
      (call $check (call $fd_close (local.get $c)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $conns)))
    (call $check (call $fd_close (local.get $ls))))"""
    )
    return module(
        imports(
            "sock_open", "sock_bind", "sock_listen", "sock_accept_v2", "sock_recv", "sock_send", "fd_close", "proc_exit"
        ),
        body,
        data=[(0, addr)],
    )


def accept_loop(addr: bytes, conns: int) -> str:
    """Accept `conns` connections on `addr`, closing each at once (the preview1 sock_accept)."""
    af = addr[0]
    body = (
        CHECK
        + f"""
  (func (export "_start")
    (local $ls i32) (local $k i32)
    (call $check (call $sock_open (i32.const {af}) (i32.const 1) (i32.const 0) (i32.const 128)))
    (local.set $ls (i32.load (i32.const 128)))
    (call $check (call $sock_bind (local.get $ls) (i32.const 0)))
    (call $check (call $sock_listen (local.get $ls) (i32.const 128)))
    (block $end (loop $conns
      (br_if $end (i32.eq (local.get $k) (i32.const {conns})))
      (call $check (call $sock_accept (local.get $ls) (i32.const 0) (i32.const 132)))
      (call $check (call $fd_close (i32.load (i32.const 132))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $conns)))
    (call $check (call $fd_close (local.get $ls))))"""
    )
    return module(
        imports("sock_open", "sock_bind", "sock_listen", "sock_accept", "fd_close", "proc_exit"), body, data=[(0, addr)]
    )


def stream_client(addr: bytes, message: bytes) -> str:
    """Connect to `addr`, send `message`, shut down writing, copy everything received to stdout."""
    af = addr[0]
    body = (
        CHECK
        + f"""
  (func (export "_start")
    (local $s i32) (local $n i32)
    {_SETUP_IOV}
    (i32.store (i32.const 176) (i32.const 512)) (i32.store (i32.const 180) (i32.const {len(message)}))
    (call $check (call $sock_open (i32.const {af}) (i32.const 1) (i32.const 0) (i32.const 128)))
    (local.set $s (i32.load (i32.const 128)))
    (call $check (call $sock_connect (local.get $s) (i32.const 0)))
    (call $check (call $sock_send (local.get $s) (i32.const 176) (i32.const 1) (i32.const 0) (i32.const 144)))
    (call $check (call $sock_shutdown (local.get $s) (i32.const 2)))
    (block $done (loop $rd
      (call $check (call $sock_recv (local.get $s) (i32.const 160) (i32.const 1) (i32.const 0)
                                    (i32.const 136) (i32.const 140)))
      (local.set $n (i32.load (i32.const 136)))
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store (i32.const 172) (local.get $n))
      (call $check (call $fd_write (i32.const 1) (i32.const 168) (i32.const 1) (i32.const 144)))
      (br $rd)))
    (call $check (call $fd_close (local.get $s))))"""
    )
    return module(
        imports(
            "sock_open", "sock_connect", "sock_send", "sock_shutdown", "sock_recv", "fd_write", "fd_close", "proc_exit"
        ),
        body,
        data=[(0, addr), (512, message)],
    )


def subscription(userdata: int, tag: int, fd_or_clock: int = 0, timeout_ns: int = 0, flags: int = 0) -> bytes:
    """A 48-byte poll_oneoff subscription (tag 0 clock, 1 fd_read, 2 fd_write)."""
    return struct.pack("<QB7xI4xQQH6x", userdata, tag, fd_or_clock, timeout_ns, 0, flags)


def events(raw: bytes, n: int):
    """[(userdata, error, type, nbytes, flags)] from poll_oneoff's output."""
    return [struct.unpack_from("<QHB5xQH6x", raw, 32 * i) for i in range(n)]
