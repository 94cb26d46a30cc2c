"""A process: one program with its pid, host (descriptor table, trace, stdio), memory, threads and exit
status, run to one of six ends:

    returned | exited (proc_exit) | trapped | timeout | interrupted | killed

Linking happens at construction (a malformed module or a missing import raises a WasixError before
anything runs); instantiation is part of the run.  Whatever the end, every descriptor (and so every OS
socket) is closed afterwards.
"""
import os
import threading
import time

import wasmtime

from .. import compile as _compile
from ..abi.memory import GuestMemory
from ..errors import WasixError
from ..host.host import Host
from ..host.policy import Policy
from ..options import Options
from ..trace import parse_rules
from . import link as _link
from .capture import Capture
from .run import Result, Views
from .sigint import SigintToEpoch
from .thread import WasmThread

MAIN_TID = 1


class Process(Views):
    """Compile `source` (WAT text, wasm bytes or a path), link it against a fresh host, and run it
    (`run()`, or `start()` in a background thread; `kill()`, `wait()`).

    Options are the fields of `wasix_nb.options.Options` (pass them as keywords, or `options=`):
    `args`, `env`, `stdin`, `stdout`/`stderr` (callables receiving bytes as written), `timeout` (s),
    `fuel`, `memory_limit` (all memories and tables together; default 1 GiB), `capture_limit` (stdout
    and stderr bytes kept, default 16 MiB each), `fd_limit`, `trace_limit`, `inject` (fault-injection
    rules), `stub_missing`, `entry`, `name`, `argv0`, `net` (network policy), `policy`.
    """

    def __init__(self, source, options=None, **kwargs):
        opts = self.options = Options.build(options, **kwargs)
        self.source = _compile.Source.load(source)
        self.name = opts.name or os.path.basename(self.source.name)
        self.entry = opts.entry
        self.timeout = opts.timeout
        self.fuel = opts.fuel
        self.memory_limit = opts.memory_limit
        self.rules = parse_rules(opts.inject)
        self.stub_missing = opts.stub_missing
        self.pid = 1
        self.out = Capture(opts.capture_limit, opts.stdout)
        self.err = Capture(opts.capture_limit, opts.stderr)
        argv = [opts.argv0 or self.name] + list(opts.args)
        self.host = Host(argv, opts.env, opts.stdin, self.out.write, self.err.write, opts.fd_limit,
                         policy=opts.policy if opts.policy is not None else Policy(opts.net),
                         trace_limit=opts.trace_limit, dirs=opts.dirs)
        self.host.pid = self.pid
        self.host.process = self
        self.host.mem = GuestMemory.of_bytearray(bytearray())   # until the instance exists: FAULT
        self.status = "created"
        self.exit_code = None
        self.message = ""
        self.started = self.duration = None
        self.error = None
        self.thread = None                  # the Python thread of start()
        self.threads = {}                   # tid -> WasmThread
        self.done = threading.Event()
        self._engine = None
        self._stop_lock = threading.Lock()
        self._result = None
        self.final_rows = None              # the descriptor table as the program left it (before teardown)
        self.shared_memory = None
        self.linked = None
        try:
            self._engine = _compile.POOL.checkout(opts.fuel is not None)
            self.module = _compile.POOL.module(self._engine, self.source)
            main = WasmThread(self, MAIN_TID, self.entry, store=self.new_store(budget=False))
            self.linked = _link.link(self._engine, self.module, self.source, self.host, opts, self._rules_for,
                                     main.store)
            self.shared_memory = self.linked.shared
            if self.shared_memory is not None:
                self.host.mem = GuestMemory.of_shared(self.shared_memory)
            self.threads[MAIN_TID] = main
            self._check_rules()
        except BaseException:
            self._release()
            raise

    # -- stores, instances, memory -------------------------------------------------------------
    def new_store(self, budget=True) -> wasmtime.Store:
        """A store for one thread: stoppable by the engine's epoch, with the process's fuel and limits."""
        store = wasmtime.Store(self._engine)
        store.set_epoch_deadline(1)
        if self.fuel is not None:
            store.set_fuel(self.fuel)
        if budget:
            self.linked.budget.apply(store)
        return store

    def on_instance(self, thread):
        """A thread's instance exists: the main thread's gives the host its memory view."""
        if thread.tid != MAIN_TID or self.shared_memory is not None:
            return
        name = self.linked.memory_export
        if name is None:
            return
        mem = thread.instance.exports(thread.store).get(name)
        if isinstance(mem, wasmtime.Memory):
            self.host.mem = GuestMemory.of_memory(thread.store, mem)
        elif isinstance(mem, wasmtime.SharedMemory):
            self.host.mem = GuestMemory.of_shared(mem)

    def instantiate(self):
        """Instantiate the main thread now, without running its entry (test drivers call exports
        directly). A start function then runs here, outside the run's stop mechanisms."""
        return self.threads[MAIN_TID].instantiate()

    @property
    def store(self):
        return self.threads[MAIN_TID].store

    @property
    def instance(self):
        return self.threads[MAIN_TID].instance

    def memory_bytes(self) -> int:
        """Current size of the memory the host sees (0 before instantiation)."""
        try:
            return self.host.mem.size if self.host.mem is not None else 0
        except Exception:  # noqa: BLE001 - a view over a released store
            return 0

    def _rules_for(self, call):
        # a rule may name the syscall (sock_accept_v2) or an import name of it (sock_accept)
        return [r for r in self.rules if r.name == call.name or r.name in call.imports.values()]

    def _check_rules(self):
        known = set()
        for c in self.linked.calls:
            known.add(c.name)
            known.update(c.imports.values())
        unused = {r.name for r in self.rules} - known
        if unused:
            raise WasixError(f"--inject names {', '.join(sorted(unused))}, which the program does not import")

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
            with SigintToEpoch(self):
                end = self.threads[MAIN_TID].run()
            self._ended(end)
        finally:
            if timer is not None:
                timer.cancel()
            self.duration = time.perf_counter() - t0
            self.final_rows = self.host.fds.rows()
            self._release()
            self.done.set()
        self._result = Result(self)
        return self._result

    def _ended(self, end):
        """The process status from the end of the thread that ended it."""
        if end.kind == "stopped":
            self._stopped(end.reason)
            return
        self.error = end.error
        if end.kind == "returned":
            self.status, self.exit_code = "returned", 0
        elif end.kind in ("exited", "thread-exit"):
            self.status, self.exit_code = "exited", end.code
        else:
            self.status, self.exit_code = "trapped", None
        self.message = end.message if end.kind != "thread-exit" else f"exited with code {end.code}"

    def _stopped(self, reason):
        self.status = {"timeout": "timeout", "interrupted": "interrupted"}.get(reason, "killed")
        self.exit_code = None
        self.message = {"timeout": f"timed out after {self.timeout} s", "interrupted": "interrupted",
                        }.get(self.status, "killed")

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
        """What the program wrote to fd 1 so far (the first `capture_limit` bytes; safe while it runs)."""
        return self.out.value()

    @property
    def stderr(self) -> bytes:
        return self.err.value()

    stdout_bytes = stdout       # the older names
    stderr_bytes = stderr

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
