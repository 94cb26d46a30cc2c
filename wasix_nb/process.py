"""A process: one program instance with its store, linker, host and trace, run to one of five ends.

    returned | exited (proc_exit) | trapped | timeout | interrupted | killed

Whatever the end, every descriptor (and so every OS socket) is closed afterwards.
"""
import os
import re
import select
import signal
import threading
import time

import wasmtime

from . import _raw_calls
from . import compile as _compile
from ._shared_memory import LinkableSharedMemory
from .abi.memory import GuestMemory
from .errors import (MissingImports, NoEntry, ProgramExit, ProgramInterrupted, ProgramKilled,
                     ProgramTimeout, ProgramTrapped, WasixError)
from .host import calls as _calls  # noqa: F401  (registers every syscall)
from .host import registry
from .host.fdtable import DEFAULT_LIMIT
from .host.host import Cancelled, Host, ProcExit
from .host.policy import Policy
from .runtime import asyncify
from .trace import parse_rules

_EXIT_STATUS = {"trapped": 134, "timeout": 124, "interrupted": 130, "killed": 137}


class _Views:
    """DataFrames, the timeline and trace export (pandas loads on first use); see wasix_nb.views."""

    @property
    def fds(self):
        from .views import tables
        return tables.fds(self)

    @property
    def history(self):
        from .views import tables
        return tables.history(self)

    @property
    def trace(self):
        """One row per host call (a DataFrame); the raw event log is `.host.trace` / `Result.log`."""
        from .views import tables
        return tables.calls(self)

    @property
    def summary(self):
        from .views import tables
        return tables.summary(self)

    def timeline(self):
        from .views.timeline import timeline
        return timeline(self)

    def save_trace(self, path):
        from .views.text import save_trace
        return save_trace(self, path)


class Result(_Views):
    """How a run ended, with its output, trace and descriptor tables."""

    def __init__(self, proc):
        self.process = proc
        self.outcome = proc.status
        self.exit_code = proc.exit_code
        self.message = proc.message
        self.stdout = bytes(proc.stdout_bytes)
        self.stderr = bytes(proc.stderr_bytes)
        self.log = proc.host.trace  # the Trace (event log); .trace is its DataFrame
        self.fd_rows = proc.final_rows if proc.final_rows is not None else proc.host.fds.rows()
        self.history_rows = proc.host.fds.history_rows()
        self.duration = proc.duration

    @property
    def ok(self) -> bool:
        return self.outcome in ("returned", "exited") and self.exit_code == 0

    @property
    def returncode(self) -> int:
        """Shell-style status: the exit code, or 124 timeout, 130 interrupt, 134 trap, 137 killed."""
        return _EXIT_STATUS.get(self.outcome, self.exit_code or 0)

    def check(self) -> "Result":
        """Raise the matching ProgramError unless the program returned or exited 0."""
        if self.ok:
            return self
        cls = {"trapped": ProgramTrapped, "timeout": ProgramTimeout, "interrupted": ProgramInterrupted,
               "killed": ProgramKilled}.get(self.outcome, ProgramExit)
        raise cls(self.message, self)

    def __repr__(self):
        return (f"<Result {self.outcome} exit={self.exit_code} calls={len(self.log)} "
                f"stdout={len(self.stdout)}B>")


class Process(_Views):
    """Compile `source`, link it against a fresh host, and run it (`run()`, or `start()` in a thread).

    Options: `args` (argv, argv[0] included or not: see `argv0`), `env` (dict), `stdin` (bytes, str,
    file or callable), `stdout`/`stderr` (callables receiving bytes as they are written), `timeout`
    (seconds), `fuel`, `memory_limit` (bytes), `fd_limit`, `inject` (fault-injection rules),
    `stub_missing` (link unknown imports as NOSYS stubs), `entry` (export to call), `name`,
    `net` (network policy: None = loopback and LOCAL only, "any", or an allow-list such as
    "10.0.0.0/8,192.168.1.5:80"; see host/policy.py), `policy` (a ready `Policy`, overrides `net`),
    `trace_limit` (events kept, default 1,000,000; later calls are counted in the summary only).
    """

    def __init__(self, source, *, args=(), env=None, stdin=None, stdout=None, stderr=None, timeout=None,
                 fuel=None, memory_limit=None, fd_limit=DEFAULT_LIMIT, inject=None, stub_missing=False,
                 entry="_start", name=None, argv0=None, policy=None, trace_limit=None, net=None):
        self.source = _compile.Source.load(source)
        self.name = name or os.path.basename(self.source.name)
        self.entry = entry
        self.timeout = timeout
        self.fuel = fuel
        self.memory_limit = memory_limit
        self.rules = parse_rules(inject)
        self.stub_missing = stub_missing
        self.stdout_bytes = bytearray()
        self.stderr_bytes = bytearray()
        out_sink, err_sink = _tee(self.stdout_bytes, stdout), _tee(self.stderr_bytes, stderr)
        argv = [argv0 or self.name] + [str(a) for a in args]
        self.host = Host(argv, env, stdin, out_sink, err_sink, fd_limit,
                         policy=policy if policy is not None else Policy(net), trace_limit=trace_limit)
        self.status = "created"
        self.exit_code = None
        self.message = ""
        self.started = self.duration = None
        self.error = None
        self.thread = None
        self.done = threading.Event()
        self._engine = None
        self._stop_lock = threading.Lock()
        self._result = None
        self.final_rows = None      # the descriptor table as the program left it (before teardown)
        try:
            self._engine = _compile.POOL.checkout(fuel is not None)
            self.module = _compile.POOL.module(self._engine, self.source)
            self.store, self.instance, self.shared_memory = self._link()
        except BaseException:
            self._release()
            raise

    # -- linking ------------------------------------------------------------------------------
    def _link(self):
        engine, host = self._engine, self.host
        store = wasmtime.Store(engine)
        store._wasix_callbacks = []     # raw host-call callbacks live as long as the store
        store.set_epoch_deadline(1)
        if self.fuel is not None:
            store.set_fuel(self.fuel)
        if self.memory_limit is not None:
            store.set_limits(memory_size=self.memory_limit)
        linker = wasmtime.Linker(engine)
        missing, shared = [], None
        for imp in self.module.imports:
            mod, name, ty = imp.module, imp.name, imp.type
            if isinstance(ty, wasmtime.FuncType):
                call = registry.lookup(mod, name)
                if call is not None and registry.same_type(ty, call):
                    fn = registry.wrap(call, host, self._rules_for(call))
                    if _raw_calls.supported(ty):
                        _raw_calls.define(linker, mod, name, ty, fn, store._wasix_callbacks)
                    else:
                        linker.define_func(mod, name, ty, fn)
                elif self.stub_missing:
                    linker.define_func(mod, name, ty, registry.nosys_stub(mod, name, ty, host))
                else:
                    why = registry.describe_type(ty)
                    if call is not None:
                        why += f" (the host's {name} is {registry.describe_type(call.func_type())})"
                    missing.append((mod, name, why))
            elif isinstance(ty, wasmtime.MemoryType) and (mod, name) == ("env", "memory"):
                lim = ty.limits
                if ty.is_shared:
                    shared = LinkableSharedMemory(engine, wasmtime.MemoryType(
                        wasmtime.Limits(lim.min, lim.max), shared=True))
                    linker.define(store, mod, name, shared)
                else:
                    linker.define(store, mod, name, wasmtime.Memory(store, wasmtime.MemoryType(
                        wasmtime.Limits(lim.min, lim.max))))
            else:
                missing.append((mod, name, registry.describe_type(ty)))
        if missing:
            raise MissingImports(missing)
        known = set()
        for c in self._linked_calls():
            known.add(c.name)
            known.update(c.imports.values())
        unused = {r.name for r in self.rules} - known
        if unused:
            raise WasixError(f"--inject names {', '.join(sorted(unused))}, which the program does not import")
        instance = linker.instantiate(store, self.module)
        exports = instance.exports(store)
        if shared is not None:
            host.mem = GuestMemory.of_shared(shared)
        else:
            mem = exports.get("memory") or _first_memory(self.module, exports)
            if isinstance(mem, wasmtime.Memory):
                host.mem = GuestMemory.of_memory(store, mem)
            elif mem is not None:
                host.mem = GuestMemory.of_shared(mem)
        if host.mem is None:
            host.mem = GuestMemory.of_bytearray(bytearray())  # every pointer is then out of range: FAULT
        self.stack = asyncify.Stack.of(store, instance, self.module, host.mem)
        return store, instance, shared

    def _linked_calls(self):
        for imp in self.module.imports:
            call = registry.lookup(imp.module, imp.name)
            if call is not None:
                yield call

    def _rules_for(self, call):
        # a rule may name the syscall (sock_accept_v2) or an import name of it (sock_accept)
        return [r for r in self.rules if r.name == call.name or r.name in call.imports.values()]

    # -- running --------------------------------------------------------------------------------
    def run(self) -> Result:
        """Run to the end in this thread and return the Result (never raises for how the program ended)."""
        if self.status != "created":
            raise WasixError(f"process {self.name} was already started")
        self.status = "running"
        self.started = time.time()
        self.host.trace.restart()
        t0 = time.perf_counter()
        timer = None
        if self.timeout is not None:
            timer = threading.Timer(self.timeout, self.stop, args=("timeout",))
            timer.daemon = True
            timer.start()
        try:
            with _SigintToEpoch(self):
                self._call_entry()
        finally:
            if timer is not None:
                timer.cancel()
            self.duration = time.perf_counter() - t0
            self.final_rows = self.host.fds.rows()
            self._release()
            self.done.set()
        self._result = Result(self)
        return self._result

    def start(self) -> "Process":
        """Run in a background thread; returns at once. See `wait()`, `kill()`."""
        self.thread = threading.Thread(target=self.run, name=f"wasix:{self.name}", daemon=True)
        self.thread.start()
        return self

    def wait(self, timeout=None):
        """Wait for the end; returns the Result, or None if `timeout` passed first."""
        if not self.done.wait(timeout):
            return None
        if self.thread is not None:
            self.thread.join()
        return self._result

    def stop(self, reason="killed"):
        """Stop the program from any thread: wakes blocking calls and traps running wasm."""
        with self._stop_lock:
            if self.done.is_set():
                return
            self.host.cancel(reason)
            if self._engine is not None:
                self._engine.increment_epoch()

    def kill(self, timeout=5.0):
        """Stop the program and wait for it to end (its sockets are closed when this returns)."""
        if self.status == "created":
            self.status, self.message = "killed", "killed before it started"
            self._release()
            self.done.set()
            self._result = Result(self)
            return self._result
        self.stop("killed")
        return self.wait(timeout)

    @property
    def stdout(self) -> bytes:
        """What the program wrote to fd 1 so far (safe to read while it runs)."""
        return bytes(self.stdout_bytes)

    @property
    def stderr(self) -> bytes:
        return bytes(self.stderr_bytes)

    def close(self):
        """Release a process that was linked but never run (its descriptors and engine)."""
        if self.status == "created":
            self.status, self.message = "killed", "closed before it ran"
            self.final_rows = self.host.fds.rows()
            self._release()
            self.done.set()

    @property
    def result(self):
        return self._result

    def _call_entry(self):
        func = self.instance.exports(self.store).get(self.entry)
        if not isinstance(func, wasmtime.Func):
            names = ", ".join(e.name for e in self.module.exports if isinstance(e.type, wasmtime.FuncType))
            self.status, self.exit_code = "trapped", None
            self.message = f"the program exports no function {self.entry!r} (it exports: {names or 'nothing'})"
            self.error = NoEntry(self.message)
            return
        try:
            asyncify.call(func, self.store, (), self.stack)
            self.status, self.exit_code = "returned", 0
            self.message = "returned from " + self.entry
        except ProcExit as e:
            self.status, self.exit_code = "exited", e.code
            self.message = f"exited with code {e.code}"
        except Cancelled as e:
            self._stopped(str(e.args[0] if e.args else self.host.cancel_reason))
        except wasmtime.Trap as trap:
            if trap.trap_code == wasmtime.TrapCode.INTERRUPT and self.host.cancel_reason:
                self._stopped(self.host.cancel_reason)
            else:
                self.status, self.exit_code = "trapped", None
                self.message = describe_trap(trap, self.source)
                self.error = trap
        except KeyboardInterrupt:
            self._stopped("interrupted")
        except wasmtime.WasmtimeError as e:
            self.status, self.exit_code = "trapped", None
            self.message = str(e).split("\nStack backtrace:")[0]
            self.error = e

    def _stopped(self, reason):
        self.status = {"timeout": "timeout", "interrupted": "interrupted"}.get(reason, "killed")
        self.exit_code = None
        self.message = {"timeout": f"timed out after {self.timeout} s", "interrupted": "interrupted",
                        }.get(self.status, "killed")

    def _release(self):
        """Close every descriptor and give the engine back. Safe to call twice."""
        try:
            self.host.close()
        finally:
            eng, self._engine = self._engine, None
            if eng is not None:
                _compile.POOL.give_back(eng)

    def __repr__(self):
        return f"<Process {self.name} {self.status} fds={len(self.host.fds)} calls={len(self.host.trace)}>"


def _first_memory(module, exports):
    for e in module.exports:
        if isinstance(e.type, wasmtime.MemoryType):
            return exports.get(e.name)
    return None


def _tee(buf: bytearray, sink):
    if sink is None:
        return buf.extend

    def both(data):
        buf.extend(data)
        sink(data)
    return both


# -- traps ------------------------------------------------------------------------------------------
_TRAP_WORDS = {
    wasmtime.TrapCode.UNREACHABLE: ("unreachable",),
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: (".div_", ".rem_"),
    wasmtime.TrapCode.INTEGER_OVERFLOW: (".div_s", ".trunc"),
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: ("call_indirect",),
    wasmtime.TrapCode.BAD_SIGNATURE: ("call_indirect",),
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: (".load", ".store"),
}


def describe_trap(trap: wasmtime.Trap, source) -> str:
    """Reason, the wasm backtrace by function name, and the WAT line when the text is known."""
    reason = trap.message.split("\n")[0]
    reason = re.sub(r"^(error while executing at wasm backtrace:.*)$", "", reason).strip() or trap.message
    code = trap.trap_code
    lines = [f"wasm trap: {code.name.lower().replace('_', ' ') if code else reason}"]
    frames = trap.frames
    for i, f in enumerate(frames):
        name = f.func_name or f"func[{f.func_index}]"
        lines.append(f"  #{i} {name} (module offset {f.module_offset:#x})")
    if source.wat is not None and frames:
        where = _wat_line(source.wat, frames[0], code)
        if where:
            lineno, text = where
            lines.append(f"  at {source.name} line {lineno}: {text.strip()}")
    return "\n".join(lines)


def _wat_line(wat: str, frame, code):
    """Best-effort line of the trapping function (and instruction, when it is the only candidate)."""
    src_lines = wat.splitlines()
    starts = [i for i, l in enumerate(src_lines) if re.search(r"\(func\b", l) and "(import" not in l]
    name = frame.func_name
    start = None
    if name:
        for i in starts:
            if re.search(r"\(func\s+\$" + re.escape(name) + r"(?![\w.$])", src_lines[i]):
                start = i
                break
    if start is None:
        n_imports = len(re.findall(r"\(import\s+\"[^\"]*\"\s+\"[^\"]*\"\s+\(func\b", wat))
        idx = frame.func_index - n_imports
        if 0 <= idx < len(starts):
            start = starts[idx]
    if start is None:
        return None
    nxt = [i for i in starts if i > start]
    end = nxt[0] if nxt else len(src_lines)
    words = _TRAP_WORDS.get(code, ())
    hits = [i for i in range(start, end) if any(w in src_lines[i] for w in words)]
    i = hits[0] if len(hits) == 1 else start
    return i + 1, src_lines[i]


# -- SIGINT -> epoch ------------------------------------------------------------------------------
class _Watcher:
    """One daemon thread for the whole interpreter, reading the signal wakeup pipe.

    Python runs signal handlers only between bytecodes, never while wasm runs; the C-level handler still
    writes the signal number to the wakeup fd at once, so this thread stops the current process (epoch
    increment + wake of blocking calls) without waiting for wasm to call back.  Bytes are forwarded to
    the wakeup fd that was set before (asyncio's).  One thread, started once: runs stay cheap.
    """

    def __init__(self):
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self.target = None
        self.forward_fd = -1
        threading.Thread(target=self._loop, daemon=True, name="wasix-sigint").start()

    def _loop(self):
        while True:
            select.select([self.r], [], [])
            try:
                data = os.read(self.r, 512)
            except OSError:
                continue
            fwd, target = self.forward_fd, self.target
            if data and fwd != -1:
                try:
                    os.write(fwd, data)
                except OSError:
                    pass
            if target is not None and signal.SIGINT in data:
                target.stop("interrupted")


_WATCHER = None


class _SigintToEpoch:
    """While a process runs on the main thread, SIGINT means `Process.stop("interrupted")`; the previous
    handler and wakeup fd come back afterwards."""

    def __init__(self, proc):
        self.proc = proc
        self.active = False

    def __enter__(self):
        global _WATCHER
        if threading.current_thread() is not threading.main_thread():
            return self
        if _WATCHER is None:
            _WATCHER = _Watcher()
        try:
            self._old_fd = signal.set_wakeup_fd(_WATCHER.w, warn_on_full_buffer=False)
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except (ValueError, OSError):
            return self
        _WATCHER.forward_fd = self._old_fd
        _WATCHER.target = self.proc
        self.active = True
        return self

    def _on_sigint(self, signum, frame):
        self.proc.stop("interrupted")

    def __exit__(self, *exc):
        if not self.active:
            return False
        _WATCHER.target = None
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_fd)
        _WATCHER.forward_fd = -1
        return False
