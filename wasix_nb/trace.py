"""The syscall trace: an append-only list of events, strace-style text, a summary, and fault injection.

An event is a plain tuple, so that recording one costs a single `list.append`:

    (start_ns, duration_ns, syscall, args, errno, outs, mark, pid, tid, cap)

`syscall` is the `Syscall` declaration (name, parameter names and kinds), `args` the raw wasm arguments,
`outs` a tuple of values matching `syscall.outs` (or None), `mark` None or a short note such as
"injected", "nosys" or "host error: …", `pid`/`tid` the process and thread that made the call, `cap`
None or the raw input bytes copied at call time (see capture.py).  A call that never returned (the
program was killed, timed out or interrupted while it blocked, or it was proc_exit) has errno None and
its state in `mark` ("killed", "timeout", "interrupted", "unfinished", "exit").  Decoding into names
happens only when a view asks.
"""

import base64
import json
import re
import time
from collections import namedtuple

from . import capture as _cap
from .abi import errno as _errno
from .abi import types as T
from .eventlog import EventLog

START, DUR, CALL, ARGS, ERRNO, OUTS, MARK, PID, TID, CAP = range(10)

#: the states of a call that did not return an errno (errno None); "exit" is proc_exit's `= ?`
UNFINISHED = ("killed", "timeout", "interrupted", "unfinished")
NORETURN = "exit"

Event = namedtuple("Event", "seq start_ns duration_ns name args errno outs mark pid tid state")

DEFAULT_STRSIZE = 32  # bytes of each string a trace line shows (strace -s)
MARK_CAP = 512  # characters of a note kept per event


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
    "fd": str,
    "int": str,
    "u32": _u32,
    "len": _u32,
    "ptr": _hex,
    "addr": _hex,
    "u64": lambda v: str(v & (2**64 - 1)),
    "i64": str,
    "ns": lambda v: str(v & (2**64 - 1)),
    "af": _enum(T.AddressFamily),
    "socktype": T.socktype_name,
    "proto": lambda v: T.enum_name(T.SockProto, v) if v else "0",
    "sockopt": _enum(T.SockOption),
    "fdflags": _flags(T.FdFlags),
    "fdflagsext": _flags(T.FdFlagsExt),
    "riflags": _flags(T.RiFlags),
    "siflags": _flags(T.SiFlags),
    "how": _enum(T.SdFlags),
    "clockid": _enum(T.ClockId),
    "whence": _enum(T.Whence),
    "bool": str,
    # files (host/fs): flags by name; whence0 is snapshot 0's numbering
    "oflags": _flags(T.OFlags),
    "lookupflags": _flags(T.LookupFlags),
    "fstflags": _flags(T.FstFlags),
    "advice": _enum(T.Advice),
    "whence0": _enum(T.Whence0),
    "rights": T.rights_name,
}
#: kinds whose DataFrame value is a name (str) rather than an int
NAMED = {
    "af",
    "socktype",
    "proto",
    "sockopt",
    "fdflags",
    "fdflagsext",
    "riflags",
    "siflags",
    "how",
    "clockid",
    "whence",
}
_UNSIGNED = {
    "u32": 0xFFFFFFFF,
    "len": 0xFFFFFFFF,
    "ptr": 0xFFFFFFFF,
    "addr": 0xFFFFFFFF,
    "u64": 2**64 - 1,
    "ns": 2**64 - 1,
}


def plan_of(call):
    """The capture plan of a declaration (computed once, kept on it)."""
    try:
        return call.plan
    except AttributeError:
        return None


def state_of(ev) -> str:
    """ok | error | exit | killed | timeout | interrupted | unfinished."""
    err = ev[ERRNO]
    if err is None:
        return ev[MARK] or NORETURN
    return "error" if err else "ok"


def _nbytes(call, ev):
    """Bytes a payload call moved (its first out), or None when it did not succeed."""
    outs = ev[OUTS]
    if ev[ERRNO] == 0 and outs:
        return outs[0]
    return None


def format_args(call, args, cap=None, strsize=DEFAULT_STRSIZE, ev=None) -> str:
    plan = plan_of(call) if cap else None
    if plan is None:
        return ", ".join(f"{n}={FORMAT[k](v)}" for (n, k), v in zip(call.params, args))
    by_arg, items = plan.by_arg, plan.items
    nb = _nbytes(call, ev) if ev is not None and plan.io == "in" else None
    out = []
    for i, ((n, k), v) in enumerate(zip(call.params, args)):
        j = by_arg.get(i)
        if j is None or j >= len(cap):
            out.append(f"{n}={FORMAT[k](v)}")
        elif plan.io == "in" and j == plan.iov and nb is None:
            out.append(f"{n}={_hex(v)}")  # a failed read: nothing to show
        else:
            kind, _, aux = items[j]
            out.append(f"{n}={_cap.show(kind, cap[j], args, aux, strsize, nb)}")
    return ", ".join(out)


def format_outs(call, outs, strsize=None) -> str:
    if not outs:
        return ""
    return " ".join(f"{n}={_cap.escape_text(v, strsize) if v.__class__ is str else v}" for n, v in zip(call.outs, outs))


def format_event(seq: int, ev, t0: int = 0, strsize=DEFAULT_STRSIZE, who: str = "") -> str:
    """One strace-style line: `   3 +0.000120 sock_open(af=INET, ...) = 0 fd=3`; `who` ("[pid 2] ")
    goes before the call when a trace holds several processes or threads."""
    call, err = ev[CALL], ev[ERRNO]
    cap = ev[CAP] if len(ev) > CAP else None
    mark = ev[MARK]
    if call.name == "signal":  # a delivery (runtime/signals.py), not a call: strace's --- SIG... --- line
        return f"{seq:>5} {(ev[START] - t0) / 1e9:+.6f} {who}--- {_cap.escape_text(mark or '')} ---"
    if err is None:
        state = mark or NORETURN
        res = "?" if state == NORETURN else "? <unfinished ...>" if state == "unfinished" else f"? <{state}>"
        mark = None
    elif call.result is None:
        res = "?"
    else:
        res = "0" if err == 0 else f"{err} {_errno.name(err)}"
    name = call.name if call.name.isidentifier() else _cap.escape_text(call.name)
    line = (
        f"{seq:>5} {(ev[START] - t0) / 1e9:+.6f} {who}{name}({format_args(call, ev[ARGS], cap, strsize, ev)}) = {res}"
    )
    outs = format_outs(call, ev[OUTS], strsize)
    if outs:
        line += " " + outs
    if ev[DUR] >= 1_000_000:
        line += f" <{ev[DUR] / 1e9:.6f}>"
    if mark:
        line += f" ({_cap.escape_text(mark)})"
    return line


EVENT_BYTES = 256  # what one event costs in memory, as the byte budget counts it (estimate)
DEFAULT_LIMIT = 1_000_000  # events kept per process; later calls are only counted
DEFAULT_BYTES = 256 << 20  # bytes a trace may hold: events at EVENT_BYTES each plus captured data


class Trace:
    """Append-only event log of one process.

    It keeps the first `limit` events and at most `max_bytes` bytes (each event counts EVENT_BYTES,
    captured payloads and strings their length); later calls are only counted per function
    (`unrecorded`), so a long-running server cannot exhaust the kernel's memory and the summary still
    counts every call.  `strsize` is how many bytes of each string the text shows (strace -s);
    `capture` how many payload bytes a data call keeps (see `io_rows`).
    """

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        max_bytes: int = DEFAULT_BYTES,
        strsize: int = DEFAULT_STRSIZE,
        capture: int = _cap.DEFAULT_CAPTURE,
    ):
        self.events = EventLog()
        self.max_limit = limit
        self.max_bytes = max_bytes
        self.limit = max(0, min(limit, max_bytes // EVENT_BYTES))  # lowered as captured bytes are kept
        self.strsize = strsize
        self.capture = capture
        self.captured_bytes = 0
        self.unrecorded = {}  # name -> [calls, errors, total_ns] of calls past the limit
        self.unrecorded_unfinished = {}
        self.unrecorded_calls = 0
        self.t0 = time.perf_counter_ns()
        self.wall0 = time.time()
        self._io = ([], 0)  # io rows found so far, events scanned
        self._who = (0, set(), set())

    @property
    def limit(self) -> int:
        """Events kept at most (the byte budget lowers it as captured data is kept)."""
        return self.events.cap

    @limit.setter
    def limit(self, n):
        self.events.cap = n

    def configure(self, max_bytes=None, strsize=None, capture=None):
        """Set the byte budget, the strings' display size and the payload bytes kept (before the run)."""
        if max_bytes is not None:
            self.max_bytes = max_bytes
            self.limit = max(len(self.events), min(self.max_limit, (max_bytes - self.captured_bytes) // EVENT_BYTES))
        if strsize is not None:
            self.strsize = strsize
        if capture is not None:
            self.capture = capture

    def __len__(self):
        """Recorded events (what the indexes and `seq` numbers refer to); see `calls` for all calls."""
        return len(self.events)

    @property
    def calls(self) -> int:
        """Every host call made, recorded or only counted."""
        return len(self.events) + self.unrecorded_calls

    def add(self, ev):
        """Record `ev`, or only count it once the trace is full.  A 7-field event (older callers) gets
        pid 1, tid 1 and no capture."""
        if len(ev) == 7:
            ev = ev + (1, 1, None)
        if not self.events.append(ev):
            self.overflow(ev)

    def spend(self, n: int, at=None) -> bool:
        """Take `n` bytes of the budget for captured data (True), or refuse when the rest of the budget
        would hold fewer than one more event; `at` is the slot of the event asking (else the count)."""
        cost = -(-n // EVENT_BYTES)
        log = self.events
        if log.cap - cost <= (len(log) if at is None else at):
            return False
        log.cap -= cost
        self.captured_bytes += n
        return True

    def overflow(self, ev):
        name = ev[CALL].name
        if ev[ERRNO] is None and ev[MARK] in UNFINISHED:
            self.unrecorded_unfinished[name] = self.unrecorded_unfinished.get(name, 0) + 1
        row = self.unrecorded.get(name)
        if row is None:
            row = self.unrecorded[name] = [0, 0, 0]
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
        return Event(
            seq,
            ev[START] - self.t0,
            ev[DUR],
            ev[CALL].name,
            ev[ARGS],
            ev[ERRNO],
            ev[OUTS],
            ev[MARK],
            ev[PID],
            ev[TID],
            state_of(ev),
        )

    def line(self, seq, strsize=None) -> str:
        """The full text of one call (every argument; `strsize` None: strings up to what was kept)."""
        return format_event(seq, self.events[seq], self.t0, strsize)

    def who(self):
        """How lines name their caller: '' (one process, one thread), 'tid' or 'pid' (strace -f);
        counted incrementally (the event list only grows)."""
        upto, pids, tids = self._who
        n = len(self.events)
        if upto < n and len(pids) < 2:
            for b in self.events.brief(upto, n):
                pids.add(b[4])
                tids.add(b[5])
            self._who = (n, pids, tids)
        return "pid" if len(pids) > 1 else "tid" if len(tids) > 1 else ""

    def lines(self, start: int = 0, stop=None, strsize=None):
        strsize = self.strsize if strsize is None else strsize
        evs = self.events[start:stop]
        who = self.who()
        out = []
        for i, ev in enumerate(evs):
            w = (
                ""
                if not who
                else (
                    f"[pid {ev[PID]}] "
                    if who == "pid" and ev[TID] == 1
                    else f"[pid {ev[PID]} tid {ev[TID]}] "
                    if who == "pid"
                    else f"[tid {ev[TID]}] "
                )
            )
            out.append(format_event(start + i, ev, self.t0, strsize, w))
        if self.unrecorded_calls and stop is None:
            out.append(
                f"  ... {self.unrecorded_calls} more calls counted, not recorded "
                f"(the trace keeps the first {len(self.events)} within {self.max_bytes} bytes; "
                "see the summary)"
            )
        return out

    def text(self, start: int = 0, stop=None, strsize=None) -> str:
        return "\n".join(self.lines(start, stop, strsize))

    def errors(self) -> int:
        return sum(1 for b in self.events.brief() if b[1]) + sum(r[1] for r in list(self.unrecorded.values()))

    def unfinished(self) -> int:
        """Calls cut short (killed, timed out, interrupted while they blocked)."""
        return sum(1 for b in self.events.brief() if b[1] is None and b[2] in UNFINISHED) + sum(
            self.unrecorded_unfinished.values()
        )

    def summary_rows(self):
        """Per-function rows like `strace -c`: name, calls, errors, total_ns, mean_ns, unfinished (every
        call, recorded or only counted; an unfinished call is neither an error nor a success)."""
        acc = {
            name: list(row) + [self.unrecorded_unfinished.get(name, 0)] for name, row in list(self.unrecorded.items())
        }
        for call, err, mark, dur, _pid, _tid in self.events.brief():
            row = acc.get(call.name)
            if row is None:
                row = acc[call.name] = [0, 0, 0, 0]
            row[0] += 1
            if err:
                row[1] += 1
            elif err is None and mark in UNFINISHED:
                row[3] += 1
            row[2] += dur
        rows = [
            {"syscall": name, "calls": c, "errors": e, "total_ns": t, "mean_ns": t // c, "unfinished": u}
            for name, (c, e, t, u) in acc.items()
        ]
        rows.sort(key=lambda r: -r["total_ns"])
        return rows

    def summary_text(self) -> str:
        rows = self.summary_rows()
        total = sum(r["total_ns"] for r in rows) or 1
        unf = any(r["unfinished"] for r in rows)
        extra, rule = (f" {'unfinished':>10}", " ----------") if unf else ("", "")
        out = [
            f"{'% time':>7} {'seconds':>11} {'usecs/call':>11} {'calls':>9} {'errors':>9}{extra} syscall",
            f"------- ----------- ----------- --------- ---------{rule} ----------------",
        ]
        for r in rows:
            u = f" {r['unfinished'] or '':>10}" if unf else ""
            out.append(
                f"{100 * r['total_ns'] / total:7.2f} {r['total_ns'] / 1e9:11.6f} "
                f"{r['mean_ns'] // 1000:11d} {r['calls']:9d} {r['errors'] or '':>9}{u} "
                f"{_cap.escape_text(r['syscall'])}"
            )
        out.append(f"------- ----------- ----------- --------- ---------{rule} ----------------")
        u = f" {sum(r['unfinished'] for r in rows) or '':>10}" if unf else ""
        out.append(
            f"100.00 {total / 1e9:11.6f} {'':>11} {sum(r['calls'] for r in rows):9d} "
            f"{sum(r['errors'] for r in rows) or '':>9}{u} total"
        )
        return "\n".join(out)

    # -- the payloads, in order --------------------------------------------------------------------
    def io_rows(self):
        """(seq, t_ns, pid, tid, fd, direction, nbytes, data, peer) of every successful data call, in
        order; scanned incrementally (the event list only grows)."""
        rows, upto = self._io
        events = self.events
        n = len(events)
        if upto < n:
            rows = list(rows)
            t0 = self.t0
            side = events.side  # payload calls are captured: their events are kept whole
            for seq in sorted(k for k in list(side) if upto <= k < n):
                ev = events[seq]
                call = ev[CALL]
                plan = plan_of(call)
                if plan is None or plan.io is None or ev[ERRNO] != 0 or not ev[OUTS] or not ev[OUTS][0]:
                    continue
                cap = ev[CAP]
                nbytes = ev[OUTS][0]
                iov = cap[plan.iov] if cap and plan.iov is not None and plan.iov < len(cap) else None
                data = iov[2][:nbytes] if iov else b""
                peer = ""
                if call.name == "sock_recv_from" and len(ev[OUTS]) > 2:
                    peer = ev[OUTS][2]
                elif call.name == "sock_send_to" and cap and cap[0] is not None:
                    peer = _cap.addr_text(cap[plan.by_arg[4]]) if 4 in plan.by_arg else ""
                if not peer and cap and len(cap) > len(plan.items):
                    peer = cap[-1] or ""
                rows.append((seq, ev[START] - t0, ev[PID], ev[TID], ev[ARGS][0], plan.io, nbytes, data, peer))
            self._io = (rows, n)
        return rows

    # -- saved traces ------------------------------------------------------------------------------
    def to_jsonl(self, fp) -> None:
        """Write one JSON object per event (read back by `load_jsonl`)."""
        for seq, ev in enumerate(list(self.events)):
            call = ev[CALL]
            plan = plan_of(call)
            fp.write(
                json.dumps(
                    {
                        "seq": seq,
                        "t_ns": ev[START] - self.t0,
                        "dur_ns": ev[DUR],
                        "name": call.name,
                        "params": [list(p) for p in call.params],
                        "args": list(ev[ARGS]),
                        "errno": ev[ERRNO],
                        "outs": dict(zip(call.outs, ev[OUTS])) if ev[OUTS] else {},
                        "mark": ev[MARK],
                        "result": call.result,
                        "pid": ev[PID],
                        "tid": ev[TID],
                        "cap": _to_json(ev[CAP]) if ev[CAP] is not None else None,
                        "plan": [list(p) for p in plan.items] if plan is not None else None,
                        "io": plan.io if plan is not None else None,
                    },
                    default=str,
                )
                + "\n"
            )


def _to_json(v):
    if isinstance(v, (bytes, bytearray)):
        return {"b64": base64.b64encode(v).decode()}
    if isinstance(v, (tuple, list)):
        return [_to_json(x) for x in v]
    return v


def _from_json(v):
    if isinstance(v, dict) and "b64" in v:
        return base64.b64decode(v["b64"])
    if isinstance(v, list):
        return tuple(_from_json(x) for x in v)
    return v


class _Loaded:
    """Stand-in declaration for events read back from JSON."""

    def __init__(self, name, params, outs, result, plan=None, io=None):
        self.name, self.params, self.outs, self.result = name, tuple(map(tuple, params)), tuple(outs), result
        self.plan = None
        if plan is not None:
            self.plan = _cap.Plan([tuple(p) for p in plan], io, False)


def load_jsonl(fp) -> Trace:
    tr = Trace(max_bytes=1 << 62)
    tr.t0 = 0
    decls = {}
    for line in fp:
        if not line.strip():
            continue
        d = json.loads(line)
        key = (
            d["name"],
            json.dumps(d["params"]),
            tuple(d["outs"]),
            d.get("result", "errno"),
            json.dumps(d.get("plan")),
            d.get("io"),
        )
        call = decls.get(key)
        if call is None:
            call = decls[key] = _Loaded(
                d["name"], d["params"], list(d["outs"]), d.get("result", "errno"), d.get("plan"), d.get("io")
            )
        outs = tuple(d["outs"].values()) or None
        cap = d.get("cap")
        tr.events.append(
            (
                d["t_ns"],
                d["dur_ns"],
                call,
                tuple(d["args"]),
                d["errno"],
                outs,
                d["mark"],
                d.get("pid", 1),
                d.get("tid", 1),
                _from_json(cap) if cap is not None else None,
            )
        )
    return tr


# -- fault injection --------------------------------------------------------------------------------
_RULE = re.compile(
    r"^\s*(?P<name>[a-z_0-9]+)(?:#(?P<nth>\d+))?(?::(?P<cond>[^=]+=[^=,]+(?:,[^=]+=[^=,]+)*))?"
    r"\s*=\s*(?P<err>[A-Za-z0-9_]+)\s*$"
)


class InjectionRule:
    """`sock_open#3=MFILE` (3rd call), `sock_open:af=INET6=AFNOSUPPORT` (calls whose af is INET6),
    `fd_write=IO` (every call).  The matched call is not performed; its errno is returned instead."""

    def __init__(self, text: str):
        m = _RULE.match(text)
        if not m:
            raise ValueError(
                f"bad injection rule {text!r}: expected NAME[#N][:ARG=VALUE[,…]]=ERRNO, "
                "e.g. sock_open#3=MFILE or sock_open:af=INET6=AFNOSUPPORT"
            )
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
                raise ValueError(
                    f"injection rule {self.text!r}: {call.name} has no argument {k!r} (it has {', '.join(names)})"
                )
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
