"""Syscall declarations and the one place where wasm calls become Python calls.

A syscall is declared once:

    @syscall("sock_open", "af:af socktype:socktype proto:proto ro_fd:ptr", outs="fd")
    def sock_open(host, af, socktype, proto, ro_fd): ...

and returns an errno (int), `(errno, (out, ...))` or `(errno, (out, ...), "trace note")`.  It may raise `WasiError(errno)`, or `Fault` for a bad
pointer.  `wrap()` adds the tracing, the error mapping and the fault injection around it, and `link()`
defines it under every import module that names it (`wasi_snapshot_preview1` and `wasix_32v1` by default).

`wasi_unstable` (WASI snapshot 0) is an alias of preview1: `lookup` answers its imports with the preview1
declarations, except for the few calls whose memory layouts differ there, which declare a `variant`.
"""

import struct  # noqa: F401 - used by the per-call template (_FUSED)
import threading
import time
import traceback

import wasmtime

from .. import capture as _cap
from .. import eventlog as _eventlog
from ..abi.errno import Errno, WasiError
from ..abi.memory import Fault

P1 = "wasi_snapshot_preview1"
WASIX = "wasix_32v1"
UNSTABLE = "wasi_unstable"
BOTH = (P1, WASIX)
#: import modules answered by another module's declarations (unless a variant is registered)
ALIASES = {UNSTABLE: P1}
_I64_KINDS = {"u64", "i64", "ns", "rights"}

#: (module, import name) -> Syscall
TABLE = {}


class Control(BaseException):
    """Ends the program from inside a host call (exit, kill); passes through wasm untouched."""


_THREADED = False  # set once any thread takes a tid other than 1: only then is THREAD read per call


class _Thread(threading.local):
    """Which wasm thread the current Python thread runs: the runtime sets `THREAD.tid` when a wasm
    thread starts (the trace records it per event, with its host's `pid`); 1 is the main thread.
    `host` is the Host of the process the thread belongs to (an open file that several processes hold
    waits on the caller's)."""

    tid = 1
    host = None

    def __setattr__(self, name, value):
        global _THREADED
        if name == "tid" and value != 1:
            _THREADED = True
        super().__setattr__(name, value)


THREAD = _Thread()
HOST_ERRORS_KEPT = 20  # host-error tracebacks kept per process; later ones only counted
_TB_CAP = 16384  # characters of each kept traceback
_UNFINISHED = {"killed", "timeout", "interrupted"}


class Syscall:
    __slots__ = ("name", "params", "outs", "result", "fn", "imports", "wasm_type", "family", "plan")

    def __init__(self, name, params, outs, result, fn, imports, family):
        self.name = name
        self.params = tuple(tuple(p.split(":")) for p in params.split()) if params else ()
        self.outs = tuple(outs.split()) if outs else ()
        self.result = result
        self.fn = fn
        self.imports = imports
        self.family = family
        self.wasm_type = (
            tuple("i64" if k in _I64_KINDS else "i32" for _, k in self.params),
            ("i32",) if result else (),
        )
        self.plan = _cap.plan_for(name, self.params, self.outs)  # what the trace copies per call

    def renamed(self, name):
        """The same call under another name (the trace names a call as the program imported it)."""
        other = Syscall.__new__(Syscall)
        for slot in Syscall.__slots__:
            setattr(other, slot, getattr(self, slot))
        other.name = name
        return other

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


def variant(of, module, params=None, outs=None):
    """Declare `fn` as `of`'s syscall under `module` where that module lays out memory differently
    (snapshot 0's filestat, whence, subscription): same name in the trace, its own parameter kinds."""
    base = of.syscall

    def deco(fn):
        sc = Syscall(
            base.name,
            params if params is not None else " ".join(":".join(p) for p in base.params),
            outs if outs is not None else " ".join(base.outs),
            base.result,
            fn,
            {module: base.imports.get(ALIASES.get(module), base.name)},
            base.family,
        )
        TABLE[(module, sc.imports[module])] = sc
        fn.syscall = sc
        return fn

    return deco


def lookup(module: str, name: str):
    call = TABLE.get((module, name))
    if call is None and module in ALIASES:
        call = TABLE.get((ALIASES[module], name))
    return call


def wrap(call: Syscall, host, rules=(), name=None):
    """The callable wasmtime invokes: run `call.fn`, map errors, append one trace event (or, once the
    trace holds its limit of events or bytes, only count the call: the summary stays exact, memory
    bounded).  `name` is the import name the program used, when it differs from the declaration's.

    Per call it records ints and the objects the call returned (no decoding); calls with input structs
    or payloads (capture.py) also copy those bytes.  A call a Control exception or an interrupt cuts
    short is recorded with errno None and its state (killed, timeout, interrupted; exit for proc_exit)."""
    if name is not None and name != call.name:
        call = call.renamed(name)
    fn = call.fn
    trace = host.trace
    add, overflow = trace.add, trace.overflow
    clock = time.perf_counter_ns
    IO, FAULT = int(Errno.IO), int(Errno.FAULT)
    MARK_CAP = 512
    plan = call.plan
    record = add

    def cut(t0, args, e, cap):
        """A call that did not return: killed, timed out or interrupted while it ran, or proc_exit."""
        a = e.args
        if isinstance(e, KeyboardInterrupt):
            state = "interrupted"
        elif a and a[0].__class__ is str and a[0] in _UNFINISHED:
            state = a[0]
        else:
            state = "exit" if call.result is None else "unfinished"
        record((t0, clock() - t0, call, args, None, None, state, host.pid, THREAD.tid if _THREADED else 1, cap))

    def host_error(args, e):
        """A host bug: IO for the program, a short note in the trace, the first tracebacks kept."""
        if len(host.host_errors) < HOST_ERRORS_KEPT:
            host.on_host_error(call, args, traceback.format_exc()[-_TB_CAP:])
        else:
            host.host_errors_more = getattr(host, "host_errors_more", 0) + 1
        return _cap.escape_text(f"host error: {type(e).__name__}: {e}", MARK_CAP)

    if plan is None:
        # the common case, kept to a single Python frame around fn
        def traced(*args):
            t0 = clock()
            outs = mark = None
            try:
                r = fn(host, *args)
                if r.__class__ is int:
                    err = r
                else:  # (errno, outs) or (errno, outs, mark): the mark is a short note for the trace
                    err, outs = r[0], r[1]
                    if len(r) > 2:
                        mark = r[2]
                        if mark and len(mark) > MARK_CAP:
                            mark = mark[:MARK_CAP] + "..."
            except WasiError as e:
                err, mark = e.errno, e.mark
                if mark is not None and len(mark) > MARK_CAP:
                    mark = mark[:MARK_CAP] + "..."
            except Fault:
                err = FAULT
            except Exception as e:  # noqa: BLE001 - a host bug must not reach the program as an exception
                err, mark = IO, host_error(args, e)
            except BaseException as e:
                cut(t0, args, e, None)
                raise
            add((t0, clock() - t0, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, None))
            return err

        if len(call.params) <= _eventlog.MAX_ARGS:
            # the raw callback itself (_raw_calls.define uses it): one Python frame per host call around
            # fn, arguments unpacked straight from wasmtime's array, the event packed into the log
            log = trace.events
            traced.raw = _fused(len(call.params), call.result is not None, len(call.outs))(
                fn, host, call, clock, log, log.decl_id(call), overflow, cut, host_error, IO, FAULT, MARK_CAP
            )
    else:
        traced = _captured(call, host, plan, record, cut, host_error, MARK_CAP)

    if rules:
        bound = [(r, r.bind(call)) for r in rules]

        def injected(*args):
            for rule, b in bound:
                if rule.matches(b, args):
                    cap = _cap.capture_inputs(plan, host.mem, args, 0) if plan is not None else None
                    record(
                        (
                            clock(),
                            0,
                            call,
                            args,
                            rule.errno,
                            None,
                            f"injected by {rule.text}",
                            host.pid,
                            THREAD.tid if _THREADED else 1,
                            tuple(cap) if cap else None,
                        )
                    )
                    return rule.errno
            return traced(*args)

        return injected

    if call.result is None:

        def noresult(*args):
            traced(*args)

        return noresult
    return traced


_FUSED = """
def build(fn, host, call, clock, log, cid, overflow, cut, host_error, IO, FAULT, MARK_CAP):
    chunks, put, claim = log.chunks, log.put, log.claim
    SHIFT, SIZE = _eventlog.SHIFT, _eventlog.SIZE
    MASK = (1 << SHIFT) - 1
    pk = _eventlog.packer(NARGS)

    def factory(unpack, pack, space, trap):
        def callback(env, caller, raw, n):
            try:
                args = unpack(space, raw)
                NAMESargs
                t0 = clock()
                outs = mark = None
                try:
                    r = fn(hostCALL_ARGS)
                    if r.__class__ is int:
                        err = r
                    else:
                        err, outs = r[0], r[1]
                        if len(r) > 2:
                            mark = r[2]
                            if mark and len(mark) > MARK_CAP:
                                mark = mark[:MARK_CAP] + "..."
                except WasiError as e:
                    err, mark = e.errno, e.mark
                    if mark is not None and len(mark) > MARK_CAP:
                        mark = mark[:MARK_CAP] + "..."
                except Fault:
                    err = FAULT
                except Exception as e:  # noqa: BLE001
                    err, mark = IO, host_error(args, e)
                except BaseException as e:
                    cut(t0, args, e, None)
                    raise
                d = clock() - t0
                i = claim()
                if i < log.cap:
                    try:
                        if mark is not None:
                            raise TypeError
                        if outs is None:
                            pk(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                               THREAD.tid if _THREADED else 1, -1, NARGS, 0, 0, 0CALL_ARGS, cid)
                        elif len(outs) == NOUTS:
                            pk(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                               THREAD.tid if _THREADED else 1, NOUTS, NARGS, OUTS_FIELDSCALL_ARGS, cid)
                        else:
                            raise TypeError
                    except (TypeError, IndexError, OverflowError, struct.error):
                        # a note, string results, a new chunk: the event kept whole
                        put(i, (t0, d, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, None))
                else:
                    overflow((t0, d, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, None))
                PACK
                return 0
            except BaseException as e:  # noqa: BLE001 - handed to the caller of the wasm function
                return trap(e)
        return callback
    return factory
"""
_FUSED_CACHE = {}


def _fused(nparams, has_result, nouts):
    """`build(...)` -> `factory(unpack, pack, space, trap)` -> the raw wasmtime callback of a traced call
    without captures: wrap's per-call path with the arguments as locals (no *args tuples) and the event
    packed into the log's binary records (no objects kept: see eventlog.py).  Compiled once per
    (arity, result, outs) under this file's name (runtime/signals.py finds the call in the frame)."""
    key = (nparams, has_result, nouts)
    build = _FUSED_CACHE.get(key)
    if build is None:
        names = ", ".join(f"a{i}" for i in range(nparams))
        k = nouts if nouts <= _eventlog.MAX_OUTS else -99  # more outs than slots: kept whole
        fields = [f"outs[{j}]" for j in range(max(k, 0))] + ["0"] * (_eventlog.MAX_OUTS - max(k, 0))
        src = (
            _FUSED.replace("NAMES", f"{names}, = " if nparams else "")
            .replace("CALL_ARGS", "".join(f", a{i}" for i in range(nparams)))
            .replace("OUTS_FIELDS", ", ".join(fields))
            .replace("NOUTS", str(k))
            .replace("NARGS", str(nparams))
            .replace("PACK", "pack(space, raw, err)" if has_result else "")
        )
        ns = {}
        exec(compile(src, __file__, "exec"), globals(), ns)  # noqa: S102 - our own template, no input
        build = _FUSED_CACHE[key] = ns["build"]
    return build


def _captured(call, host, plan, record, cut, host_error, MARK_CAP):
    """The per-call path of a call with inputs or payloads to copy (capture.py): inputs before the
    call (so a failed call still shows them), read payloads after it, all within the byte budget."""
    fn = call.fn
    trace = host.trace
    clock = time.perf_counter_ns
    IO, FAULT = int(Errno.IO), int(Errno.FAULT)
    capture_inputs, iov_one, clip = _cap.capture_inputs, _cap.iov_one, _cap.clip_outs
    items, io, iov, clip_outs = plan.items, plan.io, plan.iov, plan.clip_outs
    iov_arg, iov_len_arg = (items[iov][1], items[iov][2]) if iov is not None else (None, None)
    log = trace.events
    cid = log.decl_id(call)
    claim, put, overflow, spend = log.claim, log.put, trace.overflow, trace.spend
    entries = host.fds.entries

    def traced(*args):
        t0 = clock()
        cap = capture_inputs(plan, host.mem, args, trace.capture) if items else None
        outs = mark = None
        try:
            r = fn(host, *args)
            if r.__class__ is int:
                err = r
            else:
                err, outs = r[0], r[1]
                if len(r) > 2:
                    mark = r[2]
                    if mark and len(mark) > MARK_CAP:
                        mark = mark[:MARK_CAP] + "..."
        except WasiError as e:
            err, mark = e.errno, e.mark
            if mark is not None and len(mark) > MARK_CAP:
                mark = mark[:MARK_CAP] + "..."
        except Fault:
            err = FAULT
        except Exception as e:  # noqa: BLE001
            err, mark = IO, host_error(args, e)
        except BaseException as e:
            cut(t0, args, e, tuple(cap) if cap else None)
            raise
        dur = clock() - t0
        if outs and clip_outs:
            outs = clip(outs)
        size = 0
        if cap is not None:
            if io is not None:
                if err == 0 and outs:
                    if io == "in":  # what was read: only now in memory
                        cap[iov] = v = iov_one(host.mem, args[iov_arg], args[iov_len_arg], min(outs[0], trace.capture))
                    e = entries.get(args[0])
                    f = e.file if e is not None else None
                    cap.append("" if f is None else f.peer or ("" if f.kind == "socket" else f.kind))
                v = cap[iov]
                if v is not None:
                    size = len(v[2])
            else:
                for v in cap:
                    if v.__class__ is bytes:
                        size += len(v)
                    elif v.__class__ is tuple:
                        size += len(v[0])
        ev = (t0, dur, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, None)
        i = claim()
        if i < log.cap:
            if cap is not None:
                ev = ev[:9] + ((tuple(cap) if not size or spend(size, i) else None),)
            put(i, ev, cid)
        else:
            overflow(ev)
        return err

    return traced


def nosys_stub(module, name, ty, host):
    """A stand-in for an import the host lacks: returns NOSYS (or zeros) and is traced.
    `ty` is a FuncType or a (params, results) pair of type names; numbers only (see _raw_calls.supported)."""
    params, res = _sig(ty)
    kinds = " ".join(f"a{i}:{'i64' if p == 'i64' else 'int'}" for i, p in enumerate(params))
    call = Syscall(f"{module}.{name}", kinds, "", "errno" if res else None, None, {}, "stub")
    trace, clock = host.trace, time.perf_counter_ns
    zero = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0}

    def stub(*args):
        trace.add(
            (clock(), 0, call, args, int(Errno.NOSYS), None, "nosys", host.pid, THREAD.tid if _THREADED else 1, None)
        )
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
