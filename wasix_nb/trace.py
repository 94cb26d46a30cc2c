"""The syscall trace: an append-only list of events, strace-style text, a summary, and fault injection.

An event is a plain tuple, so that recording one costs a single `list.append`:

    (start_ns, duration_ns, syscall, args, errno, outs, mark)

`syscall` is the `Syscall` declaration (name, parameter names and kinds), `args` the raw wasm arguments,
`outs` a tuple of values matching `syscall.outs` (or None), `mark` None or a short note such as
"injected", "nosys" or "host error: …".  Decoding into names happens only when a view asks.
"""
import json
import re
import time
from collections import namedtuple

from .abi import errno as _errno
from .abi import types as T

START, DUR, CALL, ARGS, ERRNO, OUTS, MARK = range(7)

Event = namedtuple("Event", "seq start_ns duration_ns name args errno outs mark")


def _u32(v):
    return str(v & 0xFFFFFFFF)


def _hex(v):
    return hex(v & 0xFFFFFFFF)


def _enum(enum):
    return lambda v: T.enum_name(enum, v)


def _flags(enum):
    return lambda v: T.flags_name(enum, v & 0xFFFFFFFF)


#: how each parameter kind is shown; every kind a declaration may use is listed here
FORMAT = {
    "fd": str, "int": str, "u32": _u32, "len": _u32, "ptr": _hex, "addr": _hex, "u64": lambda v: str(v & (2**64 - 1)),
    "i64": str, "ns": lambda v: str(v & (2**64 - 1)),
    "af": _enum(T.AddressFamily), "socktype": T.socktype_name, "proto": lambda v: T.enum_name(T.SockProto, v) if v else "0",
    "sockopt": _enum(T.SockOption), "fdflags": _flags(T.FdFlags), "fdflagsext": _flags(T.FdFlagsExt),
    "riflags": _flags(T.RiFlags), "siflags": _flags(T.SiFlags), "how": _enum(T.SdFlags),
    "clockid": _enum(T.ClockId), "whence": _enum(T.Whence), "bool": str,
}


def format_args(call, args) -> str:
    return ", ".join(f"{n}={FORMAT[k](v)}" for (n, k), v in zip(call.params, args))


def format_outs(call, outs) -> str:
    if not outs:
        return ""
    return " ".join(f"{n}={v}" for n, v in zip(call.outs, outs))


def format_event(seq: int, ev, t0: int = 0) -> str:
    """One strace-style line: `   3 +0.000120 sock_open(af=INET, ...) = 0 fd=3`."""
    call, err = ev[CALL], ev[ERRNO]
    res = "0" if err == 0 else f"{err} {_errno.name(err)}"
    if call.result is None:
        res = "?"
    line = f"{seq:>5} {(ev[START] - t0) / 1e9:+.6f} {call.name}({format_args(call, ev[ARGS])}) = {res}"
    outs = format_outs(call, ev[OUTS])
    if outs:
        line += " " + outs
    if ev[DUR] >= 1_000_000:
        line += f" <{ev[DUR] / 1e9:.6f}>"
    if ev[MARK]:
        line += f" ({ev[MARK]})"
    return line


DEFAULT_LIMIT = 1_000_000     # events kept per process (~300 bytes each); later calls are only counted


class Trace:
    """Append-only event log of one process.

    It keeps the first `limit` events; later calls are only counted per function (`unrecorded`), so a
    long-running server cannot exhaust the kernel's memory and the summary still counts every call.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.events = []
        self.limit = limit
        self.unrecorded = {}        # name -> [calls, errors, total_ns] of calls past the limit
        self.unrecorded_calls = 0
        self.t0 = time.perf_counter_ns()
        self.wall0 = time.time()

    def __len__(self):
        """Recorded events (what the indexes and `seq` numbers refer to); see `calls` for all calls."""
        return len(self.events)

    @property
    def calls(self) -> int:
        """Every host call made, recorded or only counted."""
        return len(self.events) + self.unrecorded_calls

    def add(self, ev):
        """Record `ev`, or only count it once the trace is full."""
        if len(self.events) < self.limit:
            self.events.append(ev)
        else:
            self.overflow(ev)

    def overflow(self, ev):
        row = self.unrecorded.get(ev[CALL].name)
        if row is None:
            row = self.unrecorded[ev[CALL].name] = [0, 0, 0]
        row[0] += 1
        row[1] += 1 if ev[ERRNO] else 0
        row[2] += ev[DUR]
        self.unrecorded_calls += 1

    def restart(self):
        """Make time zero now (the program starts); events already recorded keep their times."""
        self.t0 = time.perf_counter_ns()
        self.wall0 = time.time()

    def __iter__(self):
        for i, ev in enumerate(list(self.events)):
            yield self.event(i, ev)

    def event(self, seq, ev=None) -> Event:
        ev = ev or self.events[seq]
        return Event(seq, ev[START] - self.t0, ev[DUR], ev[CALL].name, ev[ARGS], ev[ERRNO], ev[OUTS], ev[MARK])

    def lines(self, start: int = 0, stop=None):
        evs = self.events[start:stop]
        out = [format_event(start + i, ev, self.t0) for i, ev in enumerate(evs)]
        if self.unrecorded_calls and stop is None:
            out.append(f"  ... {self.unrecorded_calls} more calls counted, not recorded "
                       f"(the trace keeps the first {self.limit}; see the summary)")
        return out

    def text(self, start: int = 0, stop=None) -> str:
        return "\n".join(self.lines(start, stop))

    def errors(self) -> int:
        return sum(1 for ev in list(self.events) if ev[ERRNO]) + sum(r[1] for r in list(self.unrecorded.values()))

    def summary_rows(self):
        """Per-function rows like `strace -c`: name, calls, errors, total_ns, mean_ns (every call,
        recorded or only counted)."""
        acc = {name: list(row) for name, row in list(self.unrecorded.items())}
        for ev in list(self.events):
            row = acc.setdefault(ev[CALL].name, [0, 0, 0])
            row[0] += 1
            row[1] += 1 if ev[ERRNO] else 0
            row[2] += ev[DUR]
        rows = [
            {"syscall": name, "calls": c, "errors": e, "total_ns": t, "mean_ns": t // c}
            for name, (c, e, t) in acc.items()
        ]
        rows.sort(key=lambda r: -r["total_ns"])
        return rows

    def summary_text(self) -> str:
        rows = self.summary_rows()
        total = sum(r["total_ns"] for r in rows) or 1
        out = [f"{'% time':>7} {'seconds':>11} {'usecs/call':>11} {'calls':>9} {'errors':>9} syscall",
               "------- ----------- ----------- --------- --------- ----------------"]
        for r in rows:
            out.append(f"{100 * r['total_ns'] / total:7.2f} {r['total_ns'] / 1e9:11.6f} "
                       f"{r['mean_ns'] // 1000:11d} {r['calls']:9d} {r['errors'] or '':>9} {r['syscall']}")
        out.append("------- ----------- ----------- --------- --------- ----------------")
        out.append(f"100.00 {total / 1e9:11.6f} {'':>11} {sum(r['calls'] for r in rows):9d} "
                   f"{sum(r['errors'] for r in rows) or '':>9} total")
        return "\n".join(out)

    def to_jsonl(self, fp) -> None:
        """Write one JSON object per event (read back by `load_jsonl`)."""
        for seq, ev in enumerate(list(self.events)):
            call = ev[CALL]
            fp.write(json.dumps({
                "seq": seq, "t_ns": ev[START] - self.t0, "dur_ns": ev[DUR], "name": call.name,
                "params": [list(p) for p in call.params], "args": list(ev[ARGS]), "errno": ev[ERRNO],
                "outs": dict(zip(call.outs, ev[OUTS])) if ev[OUTS] else {}, "mark": ev[MARK],
                "result": call.result,
            }, default=str) + "\n")


class _Loaded:
    """Stand-in declaration for events read back from JSON."""

    def __init__(self, name, params, outs, result):
        self.name, self.params, self.outs, self.result = name, tuple(map(tuple, params)), tuple(outs), result


def load_jsonl(fp) -> Trace:
    tr = Trace()
    tr.t0 = 0
    for line in fp:
        if not line.strip():
            continue
        d = json.loads(line)
        call = _Loaded(d["name"], d["params"], list(d["outs"]), d.get("result", "errno"))
        outs = tuple(d["outs"].values()) or None
        tr.events.append((d["t_ns"], d["dur_ns"], call, tuple(d["args"]), d["errno"], outs, d["mark"]))
    return tr


# -- fault injection --------------------------------------------------------------------------------
_RULE = re.compile(r"^\s*(?P<name>[a-z_0-9]+)(?:#(?P<nth>\d+))?(?::(?P<cond>[^=]+=[^=,]+(?:,[^=]+=[^=,]+)*))?"
                   r"\s*=\s*(?P<err>[A-Za-z0-9_]+)\s*$")


class InjectionRule:
    """`sock_open#3=MFILE` (3rd call), `sock_open:af=INET6=AFNOSUPPORT` (calls whose af is INET6),
    `fd_write=IO` (every call).  The matched call is not performed; its errno is returned instead."""

    def __init__(self, text: str):
        m = _RULE.match(text)
        if not m:
            raise ValueError(f"bad injection rule {text!r}: expected NAME[#N][:ARG=VALUE[,…]]=ERRNO, "
                             "e.g. sock_open#3=MFILE or sock_open:af=INET6=AFNOSUPPORT")
        self.text = text.strip()
        self.name = m["name"]
        self.nth = int(m["nth"]) if m["nth"] else None
        self.cond = []
        if m["cond"]:
            for part in m["cond"].split(","):
                k, v = part.split("=", 1)
                self.cond.append((k.strip(), v.strip()))
        err = m["err"].upper()
        if err.isdigit():
            self.errno = int(err)
        elif err in _errno.Errno.__members__ or err == "2BIG":
            self.errno = 1 if err == "2BIG" else int(_errno.Errno[err])
        else:
            raise ValueError(f"bad injection rule {text!r}: unknown errno {m['err']!r}")
        self.count = 0

    def bind(self, call):
        """Resolve conditions against the declaration; returns [(arg index, formatter, wanted)]."""
        names = [p[0] for p in call.params]
        alias = {"type": "socktype"}
        out = []
        for k, v in self.cond:
            k2 = k if k in names else alias.get(k, k)
            if k2 not in names:
                raise ValueError(f"injection rule {self.text!r}: {call.name} has no argument {k!r} "
                                 f"(it has {', '.join(names)})")
            i = names.index(k2)
            out.append((i, FORMAT[call.params[i][1]], v))
        return out

    def matches(self, bound, args) -> bool:
        for i, fmt, want in bound:
            v = args[i]
            if fmt(v) != want and str(v) != want:
                return False
        self.count += 1
        return self.nth is None or self.count == self.nth


def parse_rules(rules):
    if not rules:
        return []
    if isinstance(rules, str):
        rules = [r for r in re.split(r"[;\s]+", rules) if r]
    return [r if isinstance(r, InjectionRule) else InjectionRule(r) for r in rules]
