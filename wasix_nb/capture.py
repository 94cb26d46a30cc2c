"""What the trace copies out of guest memory for a call, and how it shows it later.

strace decodes a call's input structs when the call is made, so a failed `bind` still says which
address.  Here a call's *plan* is derived once from its declaration; at call time the few input bytes
are copied raw (cheap: a socket address is 28 bytes), and decoding into text happens only when a view
asks.  Calls with nothing to capture get no plan and pay nothing.

A plan item is `(kind, arg index, aux)`; the event's capture (`ev[CAP]`) is a tuple with one raw value
per item (None when the pointer was out of range):

    addr   an input socket address (28 bytes, or 110 for LOCAL)     -> bytes
    str    a program string (path, host name, signal handler name)  -> (bytes up to STR_CAP, full length)
    iov    an iovec array and the payload it carries                 -> (count, (len, ...), data prefix)
    subs   poll_oneoff subscriptions (the first SUBS_SHOWN)          -> bytes
    ts     an option<timestamp> (socket timeouts, futex deadlines)   -> bytes (16)
    ip4 / ip6   a multicast group address                            -> bytes (4 / 16)

The payload calls (fd_write, fd_read, sock_send, sock_recv, sock_send_to, sock_recv_from) carry an `iov`
item: written data is copied before the call, read data after it (only what was read); either way at
most `capture` bytes per call, charged to the trace's byte budget.
"""

import ipaddress
import struct

from .abi import types as T
from .abi.memory import ADDR_PORT_SIZE, LOCAL_PATH_MAX, MASK32, Fault

STR_CAP = 4096  # bytes of a program string kept per argument (strace's -s, for storage)
IOV_SHOWN = 16  # iovec entries kept per call (their lengths; the count is always exact)
SUBS_SHOWN = 8  # poll subscriptions kept per call
DEFAULT_CAPTURE = 4096  # payload bytes kept per call (the `capture` option)

_IOVEC = struct.Struct("<II")
_SUB = struct.Struct("<QB7xI4xQQH6x")
_TS = struct.Struct("<B7xQ")

#: payload calls: name -> (direction, iovs param, iovs_len param)
IO_CALLS = {
    "fd_write": "out",
    "sock_send": "out",
    "sock_send_to": "out",
    "fd_read": "in",
    "sock_recv": "in",
    "sock_recv_from": "in",
}
#: program strings: a pointer parameter of this name, followed by its length parameter
_STRINGS = {"path", "old_path", "new_path", "host", "name"}
_OUT_STRINGS = {("fd_prestat_dir_name", "path")}  # a buffer the call fills, not an input
#: pointers to small input structs, by (syscall, parameter)
_FIXED = {
    ("poll_oneoff", "in"): "subs",
    ("sock_set_opt_time", "time"): "ts",
    ("futex_wait", "timeout"): "ts",
    ("sock_join_multicast_v4", "multiaddr"): "ip4",
    ("sock_leave_multicast_v4", "multiaddr"): "ip4",
    ("sock_join_multicast_v4", "iface"): "ip4",
    ("sock_leave_multicast_v4", "iface"): "ip4",
    ("sock_join_multicast_v6", "multiaddr"): "ip6",
    ("sock_leave_multicast_v6", "multiaddr"): "ip6",
}
#: outs that may hold program-sized strings: clipped to STR_CAP when stored
STR_OUTS = {"path", "addr", "peer", "addrs", "name", "cwd"}


class Plan:
    """How one syscall is captured: `items` (kind, arg index, aux), `io` ('in'/'out'/None), the index of
    the payload item in the capture (`iov`), and whether its outs need clipping."""

    __slots__ = ("items", "io", "iov", "clip_outs", "by_arg")

    def __init__(self, items, io, clip_outs):
        self.items = tuple(items)
        self.io = io
        self.iov = next((i for i, it in enumerate(self.items) if it[0] == "iov"), None)
        self.clip_outs = clip_outs
        self.by_arg = {it[1]: i for i, it in enumerate(self.items)}


def plan_for(name, params, outs):
    """The Plan of a declaration (name, params [(name, kind)], outs names), or None: nothing to capture."""
    items = []
    pnames = [p[0] for p in params]
    io = IO_CALLS.get(name)
    for i, (pname, kind) in enumerate(params):
        if kind == "addr" and not pname.startswith("ro_"):
            items.append(("addr", i, None))
        elif pname == "iovs" and io and "iovs_len" in pnames:
            items.append(("iov", i, pnames.index("iovs_len")))
        elif (
            pname in _STRINGS
            and kind == "ptr"
            and i + 1 < len(params)
            and params[i + 1][1] == "len"
            and (name, pname) not in _OUT_STRINGS
        ):
            items.append(("str", i, i + 1))
        elif (name, pname) in _FIXED:
            kind2 = _FIXED[(name, pname)]
            items.append((kind2, i, pnames.index("nsubscriptions") if kind2 == "subs" else None))
    clip = any(o in STR_OUTS for o in outs)
    if not items and not clip:
        return None
    return Plan(items, io, clip)


# -- at call time (hot only for the calls that have a plan) ---------------------------------------
def _read(mem, ptr, n):
    try:
        return mem.read(ptr, n)
    except Fault:
        return None


def _addr(mem, ptr):
    raw = _read(mem, ptr, ADDR_PORT_SIZE)
    if raw and raw[0] == T.AddressFamily.LOCAL:
        raw = _read(mem, ptr, 2 + LOCAL_PATH_MAX) or raw
    return raw


def iov_prefix(mem, iovs, count, limit):
    """(count, lengths of the first IOV_SHOWN entries, the first `limit` bytes they hold), or None."""
    count &= MASK32
    raw = _read(mem, iovs, 8 * min(count, IOV_SHOWN))
    if raw is None:
        return None
    lens, chunks = [], []
    for buf, ln in _IOVEC.iter_unpack(raw):
        lens.append(ln)
        if limit > 0 and ln:
            take = min(ln, limit)
            data = _read(mem, buf, take)
            if data is None:
                limit = 0
                continue
            chunks.append(data)
            limit -= take
    return count, tuple(lens), b"".join(chunks)


def iov_one(mem, iovs, count, limit):
    """iov_prefix for the common single-buffer call, straight from the memory view (no bounds
    surprises: anything unusual takes iov_prefix's checked path)."""
    if count == 1:
        mv = mem._mv  # noqa: SLF001 - read-only peek; a stale or short view falls back below
        try:
            buf, ln = _IOVEC.unpack_from(mv, iovs & MASK32)
        except struct.error:
            return iov_prefix(mem, iovs, count, limit)
        take = ln if ln < limit else limit
        data = mv[buf : buf + take]
        if len(data) == take:
            return 1, (ln,), bytes(data)
    return iov_prefix(mem, iovs, count, limit)


def capture_inputs(plan, mem, args, limit):
    """The raw inputs of a call, copied before it runs (the `in` payload is filled after it)."""
    out = []
    for kind, i, aux in plan.items:
        p = args[i]
        if kind == "addr":
            out.append(_addr(mem, p))
        elif kind == "iov":
            out.append(iov_one(mem, p, args[aux], limit) if plan.io == "out" else None)
        elif kind == "str":
            n = args[aux] & MASK32
            raw = _read(mem, p, min(n, STR_CAP))
            out.append(None if raw is None else (raw, n))
        elif kind == "subs":
            out.append(_read(mem, p, _SUB.size * min(args[aux] & MASK32, SUBS_SHOWN)))
        elif kind == "ts":
            out.append(_read(mem, p, _TS.size))
        elif kind == "ip4":
            out.append(_read(mem, p, 4))
        elif kind == "ip6":
            out.append(_read(mem, p, 16))
    return out


def capturer(plan):
    """`capin(mem, args, limit)` -> the list capture_inputs makes, with the common payload call (one
    written iovec array and nothing else) taken without the general loop."""
    items = plan.items
    if len(items) == 1 and items[0][0] == "iov":
        _, i, aux = items[0]
        if plan.io == "out":
            return lambda mem, args, limit: [iov_one(mem, args[i], args[aux], limit)]
        return lambda mem, args, limit: [None]
    return lambda mem, args, limit: capture_inputs(plan, mem, args, limit)


def clip_outs(outs):
    """Outs with every string cut to STR_CAP characters (B5: nothing program-sized is stored)."""
    for v in outs or ():  # a plain loop: accept's (fd, peer) on every connection
        if v.__class__ is str and len(v) > STR_CAP:
            return tuple(v[:STR_CAP] if v.__class__ is str else v for v in outs)
    return outs


# -- at view time -------------------------------------------------------------------------------
_ESC = {i: f"\\x{i:02x}" for i in list(range(0x20)) + list(range(0x7F, 0x100))}
_ESC.update(
    {
        ord("\n"): "\\n",
        ord("\t"): "\\t",
        ord("\r"): "\\r",
        ord("\v"): "\\v",
        ord("\f"): "\\f",
        ord('"'): '\\"',
        ord("\\"): "\\\\",
    }
)


def escape(data, limit=None) -> str:
    """strace's quoting: `"text\\n"`, non-printable bytes as \\xNN, and `...` after `limit` bytes."""
    if data is None:
        return "?"
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    more = limit is not None and len(data) > limit
    if more:
        data = data[:limit]
    return '"' + data.decode("latin-1").translate(_ESC) + '"' + ("..." if more else "")


def escape_text(s, limit=None) -> str:
    """A program-supplied string inside a line (a note, a name): unquoted, but every character that is
    not printable escaped (`\\n`, `\\x1b`, `\\u2028`), so it can neither start a new line nor reach a
    terminal as a control sequence; cut to `limit` characters with `...`."""
    if limit is not None and len(s) > limit:
        return escape_text(s[:limit]) + "..."
    if s.isprintable():
        return s
    return "".join(
        c
        if c.isprintable()
        else _CHAR_ESC.get(c)
        or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        for c in s
    )


_CHAR_ESC = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\v": "\\v", "\f": "\\f"}


def addr_text(raw) -> str:
    """`127.0.0.1:80`, `[::1]:80`, `/path` (LOCAL), or `{af=N}` from the raw addr_port bytes."""
    if raw is None:
        return "?"
    if len(raw) < 4:
        return "{?}"
    af, port = raw[0], int.from_bytes(raw[2:4], "little")
    if af == T.AddressFamily.INET and len(raw) >= 8:
        return f"{ipaddress.IPv4Address(raw[4:8])}:{port}"
    if af == T.AddressFamily.INET6 and len(raw) >= 20:
        return f"[{ipaddress.IPv6Address(raw[4:20])}]:{port}"
    if af == T.AddressFamily.LOCAL:
        return raw[2:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return f"{{af={af}}}"


def _subs_text(raw, count) -> str:
    parts = []
    for ud, tag, which, timeout, _prec, flags in _SUB.iter_unpack(raw[: len(raw) - len(raw) % _SUB.size]):
        if tag == 0:
            clock = T.enum_name(T.ClockId, which)
            parts.append(f"{{{ud}, CLOCK {clock} {timeout}ns{' ABSTIME' if flags & 1 else ''}}}")
        elif tag in (1, 2):
            parts.append(f"{{{ud}, {'FD_READ' if tag == 1 else 'FD_WRITE'} fd={which}}}")
        else:
            parts.append(f"{{{ud}, tag={tag}}}")
    if count > len(parts):
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def _ts_text(raw) -> str:
    tag, ns = _TS.unpack(raw)
    return "{none}" if tag == 0 else f"{{{ns}ns}}" if tag == 1 else f"{{tag={tag}}}"


def iov_text(value, strsize, nbytes=None) -> str:
    """strace's `[{"data", len}, ...]`; `nbytes` (read calls) limits the data to what was transferred."""
    if value is None:
        return "?"
    count, lens, data = value
    parts, off = [], 0
    for ln in lens:
        want = ln if nbytes is None else max(0, min(ln, nbytes - off))  # bytes that belong here
        chunk = data[off : off + want]
        text = escape(chunk, strsize)
        if len(chunk) < want and not text.endswith("..."):
            text += "..."  # past the capture limit: more was transferred than kept
        parts.append(f"{{{text}, {ln}}}")
        off += ln
    if count > len(lens):
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def show(kind, value, args, aux, strsize, nbytes=None) -> str:
    """The text of one captured input, as the trace line shows it in place of the pointer."""
    if value is None:
        return "?"
    if kind == "addr":
        return "{" + escape_text(addr_text(value)) + "}"
    if kind == "str":
        raw, n = value
        text = escape(raw, strsize)
        return text + "..." if n > len(raw) and not text.endswith("...") else text
    if kind == "iov":
        return iov_text(value, strsize, nbytes)
    if kind == "subs":
        return _subs_text(value, args[aux] & MASK32)
    if kind == "ts":
        return _ts_text(value) if len(value) == _TS.size else "?"
    if kind == "ip4":
        return "{" + str(ipaddress.IPv4Address(value)) + "}"
    if kind == "ip6":
        return "{" + str(ipaddress.IPv6Address(value)) + "}"
    return "?"


def typed(kind, value, args, aux, nbytes=None):
    """The same input as a Python value for the DataFrame: address and path strings, bytes, lists."""
    if value is None:
        return None
    if kind == "addr":
        return addr_text(value)
    if kind == "str":
        return value[0].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if kind == "iov":
        count, lens, data = value
        return {"count": count, "lens": list(lens), "data": data if nbytes is None else data[:nbytes]}
    if kind == "subs":
        return _subs_text(value, args[aux] & MASK32)
    if kind == "ts":
        tag, ns = _TS.unpack(value)
        return None if tag == 0 else ns
    if kind == "ip4":
        return str(ipaddress.IPv4Address(value))
    if kind == "ip6":
        return str(ipaddress.IPv6Address(value))
    return value
