"""Syscall declarations and the one place where wasm calls become Python calls.

A syscall is declared once:

    @syscall("sock_open", "af:af socktype:socktype proto:proto ro_fd:ptr", outs="fd")
    def sock_open(host, af, socktype, proto, ro_fd): ...

and returns an errno (int), `(errno, (out, ...))` or `(errno, (out, ...), "trace note")`.  It may raise `WasiError(errno)`, or `Fault` for a bad
pointer.  `wrap()` adds the tracing, the error mapping and the fault injection around it, and `link()`
defines it under every import module that names it (`wasi_snapshot_preview1` and `wasix_32v1` by default).
"""
import threading
import time
import traceback

import wasmtime

from ..abi.errno import Errno, WasiError
from ..abi.memory import Fault

P1 = "wasi_snapshot_preview1"
WASIX = "wasix_32v1"
BOTH = (P1, WASIX)
_I64_KINDS = {"u64", "i64", "ns"}

#: (module, import name) -> Syscall
TABLE = {}


class _Thread(threading.local):
    """Which wasm thread the current Python thread runs: the runtime sets `THREAD.tid` when a wasm
    thread starts (the trace records it per event); 1 is the main thread."""
    tid = 1


THREAD = _Thread()


class Control(BaseException):
    """Ends the program from inside a host call (exit, kill); passes through wasm untouched."""


class Syscall:
    __slots__ = ("name", "params", "outs", "result", "fn", "imports", "wasm_type", "family")

    def __init__(self, name, params, outs, result, fn, imports, family):
        self.name = name
        self.params = tuple(tuple(p.split(":")) for p in params.split()) if params else ()
        self.outs = tuple(outs.split()) if outs else ()
        self.result = result
        self.fn = fn
        self.imports = imports
        self.family = family
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        self.wasm_type = (tuple("i64" if k in _I64_KINDS else "i32" for _, k in self.params),
                          ("i32",) if result else ())

    def func_type(self) -> wasmtime.FuncType:
        vt = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
        return wasmtime.FuncType([vt[t] for t in self.wasm_type[0]], [vt[t] for t in self.wasm_type[1]])

    def __repr__(self):
        return f"<syscall {self.name}{self.wasm_type}>"


def syscall(name, params="", outs="", result="errno", modules=BOTH, names=None):
    """Declare a host function; `names` maps module -> import name where it differs from `name`."""
    def deco(fn):
        imports = {m: (names or {}).get(m, name) for m in modules}
        for m, extra in (names or {}).items():
            imports.setdefault(m, extra)
        sc = Syscall(name, params, outs, result, fn, imports, fn.__module__.rsplit(".", 1)[-1])
        for module, imp in imports.items():
            TABLE[(module, imp)] = sc
        fn.syscall = sc
        return fn
    return deco


def lookup(module: str, name: str):
    return TABLE.get((module, name))


def wrap(call: Syscall, host, rules=()):
    """The callable wasmtime invokes: run `call.fn`, map errors, append one trace event (or, once the
    trace holds its limit of events, only count the call: the summary stays exact, memory bounded)."""
    fn = call.fn
    trace = host.trace
    events = trace.events
    append, overflow, limit = events.append, trace.overflow, trace.limit
    clock = time.perf_counter_ns
    on_error = host.on_host_error
    IO, FAULT = int(Errno.IO), int(Errno.FAULT)

    def record(ev):
        if len(events) < limit:
            append(ev)
        else:
            overflow(ev)

    # the common case, kept to a single Python frame around fn
    def plain(*args):
        t0 = clock()
        outs = mark = None
        try:
            r = fn(host, *args)
            if r.__class__ is int:
                err = r
            else:   # (errno, outs) or (errno, outs, mark): the mark is a short note for the trace
                err, outs = r[0], r[1]
                if len(r) > 2:
                    mark = r[2]
        except WasiError as e:
            err, mark = e.errno, e.mark
        except Fault:
            err = FAULT
        except Control:
            record((t0, clock() - t0, call, args, 0, None, None))
            raise
        except Exception as e:  # noqa: BLE001 - a host bug must not reach the program as an exception
            err, mark = IO, f"host error: {type(e).__name__}: {e}"
            on_error(call, args, traceback.format_exc())
        ev = (t0, clock() - t0, call, args, err, outs, mark)
        if len(events) < limit:
            append(ev)
        else:
            overflow(ev)
        return err

    if rules:
        bound = [(r, r.bind(call)) for r in rules]

        def injected(*args):
            for rule, b in bound:
                if rule.matches(b, args):
                    record((clock(), 0, call, args, rule.errno, None, f"injected by {rule.text}"))
                    return rule.errno
            return plain(*args)
        return injected

    if call.result is None:
        def noresult(*args):
            plain(*args)
        return noresult
    return plain


def nosys_stub(module, name, ty, host):
    """A stand-in for an import the host lacks: returns NOSYS (or zeros) and is traced.
    `ty` is a FuncType or a (params, results) pair of type names; numbers only (see _raw_calls.supported)."""
    params, res = _sig(ty)
    kinds = " ".join(f"a{i}:{'i64' if p == 'i64' else 'int'}" for i, p in enumerate(params))
    call = Syscall(f"{module}.{name}", kinds, "", "errno" if res else None, None, {}, "stub")
    trace, clock = host.trace, time.perf_counter_ns
    zero = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0}

    def stub(*args):
        trace.add((clock(), 0, call, args, int(Errno.NOSYS), None, "nosys"))
        if not res:
            return None
        vals = [int(Errno.NOSYS) if i == 0 and t == "i32" else zero.get(t, 0) for i, t in enumerate(res)]
        return vals[0] if len(vals) == 1 else vals
    return stub


def _sig(ty):
    """(params, results) as type names, from a FuncType or an already-read pair."""
    if isinstance(ty, tuple):
        return ty
    return tuple(map(str, ty.params)), tuple(map(str, ty.results))


def describe_type(ty) -> str:
    if isinstance(ty, (wasmtime.FuncType, tuple)):
        params, results = _sig(ty)
        return f"func ({' '.join(params)}) -> ({' '.join(results)})"
    return type(ty).__name__


def same_type(ty, call: Syscall) -> bool:
    return _sig(ty) == call.wasm_type
