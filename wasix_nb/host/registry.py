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

import marshal  # noqa: F401 - used by the per-call template (_BODY)
import struct  # noqa: F401 - used by the per-call template (_BODY)
import threading
import time
import traceback

import wasmtime

from .. import capture as _cap
from .. import eventlog as _eventlog
from ..capture import clip_outs  # noqa: F401 - used by the per-call template
from ..trace import EVENT_BYTES  # noqa: F401 - used by the per-call template
from ..abi.errno import Errno, WasiError  # noqa: F401 - WasiError: used by the per-call template
from ..abi.memory import Fault  # noqa: F401 - used by the per-call template

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

    log = trace.events
    build = _template(len(call.params), call.result is not None, len(call.outs), plan)
    capin = after = None
    if plan is not None:
        capin = _cap.capturer(plan)
        after = _after(plan, host)
    factory, traced = build(
        fn, host, call, clock, log, log.decl_id(call), overflow, cut, host_error, IO, FAULT, MARK_CAP, capin, after
    )
    traced.raw = factory  # the raw wasmtime callback itself (_raw_calls.define uses it)

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

        noresult.raw = traced.raw
        return noresult
    return traced


_BODY = """
        t0 = clock()
        CAPIN
        outs = mark = None
        try:
            r = fn(hostCALL_ARGS)
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
            cut(t0, args, e, CUTCAP)
            raise
        d = clock() - t0
        i = claim()
        if i < log.cap:
            RECORD
        else:
            overflow((t0, d, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, None))
"""
_PACKED = """KEEP
            try:
                if mark is not None:
                    raise TypeError
                SIDE
                if outs is None:
                    pk(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                       THREAD.tid if _THREADED else 1, NONE, NARGS, 0, 0, 0CALL_ARGS, cid)
                elif len(outs) == NOUTS:
                    pk(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                       THREAD.tid if _THREADED else 1, NOUTS + FLAG, NARGS, OUTS_FIELDSCALL_ARGS, cid)
                else:
                    raise TypeError
            except (ValueError, TypeError, IndexError, OverflowError, struct.error):
                # a note, string results, a new chunk: the event kept whole
                put(i, (t0, d, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, kept), cid)"""
_WHOLE = """KEEP
            try:  # the header packed, the rest marshalled into one bytes (eventlog.put, inlined)
                side[i] = dumps((args, err, CLIPPED, mark, kept), 2)
                pk0(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                    THREAD.tid if _THREADED else 1, -2, 0, 0, 0, 0, cid)
            except (ValueError, TypeError, IndexError, OverflowError, struct.error):
                put(i, (t0, d, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, kept), cid)"""
_PACKED_STR = """
            try:
                if mark is not None:
                    raise TypeError
                if outs is None:
                    pk(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                       THREAD.tid if _THREADED else 1, -1, NARGS, 0, 0, 0CALL_ARGS, cid)
                else:
                    side[i] = clip_outs(outs)
                    pk(chunks[i >> SHIFT], (i & MASK) * SIZE, t0, d, cid, err, host.pid,
                       THREAD.tid if _THREADED else 1, OUTS_IN_SIDE, NARGS, 0, 0, 0CALL_ARGS, cid)
            except (TypeError, IndexError, OverflowError, struct.error):
                put(i, (t0, d, call, args, err, outs, mark, host.pid, THREAD.tid if _THREADED else 1, None), cid)"""
# what a captured call keeps (`kept`): a payload call with one iovec array and nothing else (the common
# case: fd_write/fd_read/sock_send/sock_recv) inline, its bytes charged to the budget (Trace.spend);
# any other plan through after()
_KEEP_IO = """
            if err == 0 and outs:
                READ
                e = entries.get(args[0])
                f = e.file if e is not None else None
                kept = (cap, "" if f is None else f.peer or ("" if f.kind == "socket" else f.kind))
            else:
                kept = (cap,)
            if cap is not None:
                nb = len(cap[2])
                if nb:
                    nb_events = -(-nb // EVENT_BYTES)
                    if log.cap - nb_events > i:
                        log.cap -= nb_events
                        trace.captured_bytes += nb
                    else:
                        kept = None"""
_READ = "cap = iov_one(host.mem, args[IOV], args[IOVLEN], min(outs[0], trace.capture))"
_BUILD = """
def build(fn, host, call, clock, log, cid, overflow, cut, host_error, IO, FAULT, MARK_CAP, capin, after):
    chunks, put, claim = log.chunks, log.put, log.claim
    SHIFT, SIZE = _eventlog.SHIFT, _eventlog.SIZE
    MASK = (1 << SHIFT) - 1
    pk = _eventlog.packer(NARGS) if NARGS <= _eventlog.MAX_ARGS else None
    pk0, side, dumps = _eventlog.packer(0), log.side, marshal.dumps
    trace = host.trace
    entries, iov_one = host.fds.entries, _cap.iov_one

    def factory(unpack, pack, space, trap):
        def callback(env, caller, raw, n):
            try:
                args = unpack(space, raw)
                NAMESargs
BODY_RAW
                PACK
                return 0
            except BaseException as e:  # noqa: BLE001 - handed to the caller of the wasm function
                return trap(e)
        return callback

    def traced(PARAMS):
        args = (PARAMS)
BODY
        return err

    return factory, traced
"""
_TEMPLATES = {}


def _template(nparams, has_result, nouts, plan):
    """`build(...)` -> (`factory(unpack, pack, space, trap)` -> the raw wasmtime callback, `traced(*args)`):
    the per-call path of one kind of call, written once (_BODY) and compiled in two forms from the same
    text: the raw callback (arguments unpacked straight from wasmtime's array into locals, one Python
    frame around fn), and a plain function of the arguments (fault-injection rules, calls without a
    result).  A call without captures packs its event into the log's binary records (eventlog.py); a
    call with captures (capture.py) copies its inputs before the call, its read payload after it, and
    keeps the event whole.  Compiled once per shape under this file's name (runtime/signals.py finds
    the call, `call` and `args`, in the frame)."""
    items = plan.items if plan is not None else ()
    clip = bool(plan is not None and plan.clip_outs)
    io1 = len(items) == 1 and items[0][0] == "iov"  # one iovec array, nothing else
    key = (nparams, has_result, nouts, items if io1 else bool(items), plan.io if io1 else None, clip)
    build = _TEMPLATES.get(key)
    if build is None:
        names = ", ".join(f"a{i}" for i in range(nparams))
        k = nouts if nouts <= _eventlog.MAX_OUTS else -99  # more outs than slots: kept whole
        fields = [f"outs[{j}]" for j in range(max(k, 0))] + ["0"] * (_eventlog.MAX_OUTS - max(k, 0))
        if io1:
            _, iov, iovlen = items[0]
            capin = f"cap = iov_one(host.mem, a{iov}, a{iovlen}, trace.capture)" if plan.io == "out" else "cap = None"
            keep = _KEEP_IO.replace("READ", _READ if plan.io == "in" else "pass")
            keep = keep.replace("IOVLEN", str(iovlen)).replace("IOV", str(iov))
            cutcap = "(cap,)"
        elif items:
            capin = "cap = capin(host.mem, args, trace.capture)"
            keep = "\n            kept = after(cap, args, err, outs, i)"
            cutcap = "tuple(cap) if cap else None"
        else:
            capin, keep, cutcap = "", "\n            kept = None", "None"
        if clip and not items and nparams <= _eventlog.MAX_ARGS:  # string results (accept's peer):
            record = _PACKED_STR  # packed, the results' tuple beside (str and int: nothing for the GC)
        elif clip or nparams > _eventlog.MAX_ARGS:  # strings and captures, many arguments: kept whole
            record = _WHOLE.replace("KEEP", keep).replace(
                "CLIPPED", "clip_outs(outs) if outs else outs" if clip else "outs"
            )
        elif items:  # packed, with what was captured marshalled beside it
            record = _PACKED.replace("KEEP", keep).replace("SIDE", "side[i] = dumps(kept, 2)")
            record = record.replace("NONE", str(_eventlog.CAPTURED - 1)).replace("FLAG", str(_eventlog.CAPTURED))
        else:
            record = _PACKED.replace("KEEP", "\n            kept = None").replace("SIDE", "")
            record = record.replace("NONE", "-1").replace(" + FLAG", "")
        body = _BODY.replace("RECORD", record).replace("CAPIN", capin).replace("CUTCAP", cutcap)
        src = (
            _BUILD.replace("BODY_RAW", _indent(body, 8))
            .replace("BODY", body)
            .replace("NAMES", f"{names}, = " if nparams else "")
            .replace("PARAMS", names + ("," if nparams == 1 else ""))
            .replace("CALL_ARGS", "".join(f", a{i}" for i in range(nparams)))
            .replace("OUTS_FIELDS", ", ".join(fields))
            .replace("NOUTS", str(k))
            .replace("NARGS", str(nparams))
            .replace("OUTS_IN_SIDE", str(_eventlog.OUTS_IN_SIDE))
            .replace("PACK", "pack(space, raw, err)" if has_result else "")
        )
        ns = {}
        exec(compile(src, __file__, "exec"), globals(), ns)  # noqa: S102 - our own template, no input
        build = _TEMPLATES[key] = ns["build"]
    return build


def _indent(text, n):
    return "\n".join((" " * n + line) if line.strip() else line for line in text.split("\n"))


def _after(plan, host):
    """`after(cap, args, err, outs, slot)`: a captured call's inputs completed once it returned (what a
    read call read, the peer of a payload) and charged to the trace's byte budget; the tuple to keep,
    or None when the budget has no room for it.  The payload calls with one iovec array and nothing
    else to capture take the same steps inline (_KEEP_IO): a function call less on a server's path."""
    trace = host.trace
    iov_one = _cap.iov_one
    items, io, iov = plan.items, plan.io, plan.iov
    iov_arg, iov_len_arg = (items[iov][1], items[iov][2]) if iov is not None else (None, None)
    entries = host.fds.entries
    spend = trace.spend

    def after(cap, args, err, outs, i):
        size = 0
        if io is not None:
            if err == 0 and outs:
                if io == "in":  # what was read: only now in memory
                    cap[iov] = iov_one(host.mem, args[iov_arg], args[iov_len_arg], min(outs[0], trace.capture))
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
        return tuple(cap) if not size or spend(size, i) else None

    return after


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
