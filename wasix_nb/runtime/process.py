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
from ..abi.errno import Errno, WasiError
from ..host import registry
from ..host.futex import Futexes
from ..host.host import Cancelled, Host
from ..host.policy import Policy
from ..options import Options
from ..trace import parse_rules
from . import epoch
from . import link as _link
from . import procs as _procs
from . import signals as _signals
from .capture import Capture
from .deadlines import DEADLINES
from .run import Result, Views
from . import sigint as _sigint
from .sigint import SigintToEpoch
from .thread import End, WasmThread

MAIN_TID = 1
MAX_THREADS = 1024  # live threads per process; thread_spawn answers AGAIN past it
KEPT_ENDED = 256  # ended threads kept in the thread table (views); older ones are only counted
STOP_GRACE = 1.0  # seconds every thread gets to stop when the process ends
THREAD_TRAP_EXIT = 129  # the exit code of a process whose (non-main) thread trapped, as Wasmer


class Process(Views):
    """Compile `source` (WAT text, wasm bytes or a path), link it against a fresh host, and run it
    (`run()`, or `start()` in a background thread; `kill()`, `wait()`).

    Options are the fields of `wasix_nb.options.Options` (pass them as keywords, or `options=`):
    `args`, `env`, `stdin`, `stdout`/`stderr` (callables receiving bytes as written), `timeout` (s),
    `fuel`, `memory_limit` (all memories and tables together; default 1 GiB), `capture_limit` (stdout
    and stderr bytes kept, default 16 MiB each), `fd_limit`, `trace_limit`, `inject` (fault-injection
    rules), `stub_missing`, `entry`, `name`, `argv0`, `net` (network policy), `policy`.
    """

    _PUBLIC = (
        "name",
        "pid",
        "status",
        "exit_code",
        "message",
        "stdout",
        "stderr",
        "duration",
        "started",
        "result",
        "options",
        "memory_bytes",
        "run",
        "start",
        "wait",
        "stop",
        "kill",
        "close",
        "signal",
        "interrupt",
    )
    # signals (runtime/signals.py, runtime/sigint.py): class-level defaults, nothing to set up per run
    _ticks_held = 0  # handlers running inside an epoch callback
    _tick_owed = False  # a signal tick asked for meanwhile
    _sigint_at = None  # when the kernel's interrupt was delivered as SIGINT (None: not yet)
    _sigint_ran = False  # its handler started

    def __init__(self, source, options=None, *, parent=None, pid=None, **kwargs):
        opts = self.options = Options.build(options, **kwargs)
        self.source = _compile.Source.load(source)
        self.name = opts.name or os.path.basename(self.source.name)
        self.entry = opts.entry
        self.timeout = opts.timeout
        self.fuel = opts.fuel
        self.memory_limit = opts.memory_limit
        self.rules = parse_rules(opts.inject)
        self.stub_missing = opts.stub_missing
        self.pid = 1 if pid is None else pid
        self.parent = parent  # the Process that forked this one (None: pid 1)
        self.procs = parent.procs if parent is not None else None  # procs.ProcTable, made on first fork
        self.children = []  # pids of children not yet joined
        self.retired = []  # linked images replaced by exec (their callbacks live on)
        self.execs = 0
        self.execing = False  # exec is stopping the other threads: their ends do not end the process
        self.exec_pending = None  # a worker thread's exec, for run() to carry out
        if parent is not None:
            self.timeout = None  # the run's timeout is pid 1's: it ends the whole tree
        self.out = Capture(opts.capture_limit, opts.stdout)
        self.err = Capture(opts.capture_limit, opts.stderr)
        argv = [opts.argv0 or self.name] + list(opts.args)
        dirs, self.command_root = opts.dirs if parent is None else None, None
        if parent is None and dirs is None and opts.commands:
            self.command_root = dirs = _procs.command_root(opts.commands)  # /bin/NAME for a shell's PATH
        self.host = Host(
            argv,
            opts.env,
            opts.stdin,
            self.out.write,
            self.err.write,
            opts.fd_limit,
            policy=opts.policy if opts.policy is not None else Policy(opts.net),
            trace_limit=opts.trace_limit,
            dirs=dirs,
        )
        self.host.trace.configure(opts.trace_bytes, opts.strsize, opts.payload_limit)
        self.host.pid = self.pid
        self.host.process = self
        if parent is not None:
            _procs.inherit_host(self.host, parent.host)
        self.host.mem = GuestMemory.of_bytearray(bytearray())  # until the instance exists: FAULT
        self.status = "created"
        self.exit_code = None
        self.message = ""
        self.started = self.duration = None
        self.error = None
        self.thread = None  # the Python thread of start()
        self.wasm_threads = {}  # tid -> WasmThread (`.threads` is their DataFrame)
        self.done = threading.Event()
        self._engine = None
        self._stop_lock = threading.Lock()
        self._result = None
        self.final_rows = None  # the descriptor table as the program left it (before teardown)
        self.shared_memory = None
        self.linked = None
        self.futexes = self.host.futexes = Futexes()
        self.signal_handler = None  # the export named by callback_signal
        self._lock = threading.RLock()
        self._next_tid = MAIN_TID + 1
        self._end = None  # (End, WasmThread) that ends the process: the first one wins
        self._decided = threading.Event()
        self.signal_timers = {}  # sig -> threading.Timer (proc_raise_interval)
        self._stragglers = 0  # threads that did not stop in time (engine not reused)
        self.threads_forgotten = 0  # ended threads dropped from the table (KEPT_ENDED)
        self._thread_rows = None  # thread_rows() once the process ended
        try:
            self._engine = _compile.POOL.checkout(opts.fuel is not None)
            self.module = _compile.POOL.module(self._engine, self.source)
            main = WasmThread(self, MAIN_TID, self.entry, store=self.new_store(budget=False))
            self.linked = _link.link(
                self._engine, self.module, self.source, self.host, opts, self._rules_for, main.store
            )
            self.shared_memory = self.linked.shared
            if self.shared_memory is not None:
                self.host.mem = GuestMemory.of_shared(self.shared_memory)
            self.wasm_threads[MAIN_TID] = main
            self._check_rules()
        except BaseException:
            self._release()
            raise

    # -- stores, instances, memory -------------------------------------------------------------
    def new_store(self, budget=True) -> wasmtime.Store:
        """A store for one thread: stoppable by the engine's epoch, with the process's fuel and limits."""
        store = wasmtime.Store(self._engine)
        store.set_epoch_deadline(1)
        epoch.install(store)
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
        return self.wasm_threads[MAIN_TID].instantiate()

    @property
    def store(self):
        return self.wasm_threads[MAIN_TID].store

    @property
    def instance(self):
        return self.wasm_threads[MAIN_TID].instance

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
        if not self.rules:
            return
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
        if self.parent is None:
            self.host.trace.restart()
        t0 = time.perf_counter()
        timer = None
        if self.timeout is not None:  # one thread for every run's timeout (deadlines.py), not one per run
            timer = DEADLINES.after(self.timeout, self.stop, "timeout")
        main = self.wasm_threads[MAIN_TID]
        try:
            with SigintToEpoch(self):
                end = _procs.pending_exec(self, main.run())
                while end.kind == "exec":  # proc_exec (from any thread): same process, another program
                    end = _procs.pending_exec(self, _procs.exec_image(self, end.error))
                    main = self.wasm_threads[MAIN_TID]
                self._thread_ended(main, end)
                while not self._decided.wait(0.25):  # other threads may still run (thread_exit)
                    pass
            if any(t.state != "ended" for t in list(self.wasm_threads.values())):
                self._halt()  # again: a thread may have made its store after the first time
            self._join_threads()
            self._ended(*self._end)
        finally:
            if timer is not None:
                timer.cancel()
            for t in list(self.signal_timers.values()):
                t.cancel()
            if self.procs is not None and self.parent is None:
                self.procs.end_tree()  # pid 1 ended: so does every other process
            self.duration = time.perf_counter() - t0
            self.final_rows = self.host.fds.rows()
            self._release()
            self.done.set()
            if self.procs is not None and self.parent is not None:
                self.procs.ended(self)  # a zombie until its parent joins it
        self._result = Result(self)
        if self.parent is not None:
            _procs.release(self)  # a zombie keeps its status, not its memory
        return self._result

    # -- threads --------------------------------------------------------------------------------
    def spawn(self, start_arg: int, call: str) -> int:
        """A new thread running `wasi_thread_start(tid, start_arg)`; returns its tid (thread_spawn)."""
        if self.host.cancelled.is_set():
            raise Cancelled(self.host.cancel_reason)
        if self.shared_memory is None:
            raise WasiError(Errno.NOTSUP, "threads need a shared memory: the program's memory is not shared")
        if self.linked.thread_start is None:
            raise WasiError(Errno.NOTSUP, "the program exports no wasi_thread_start(tid, arg)")
        with self._lock:
            live = sum(1 for t in self.wasm_threads.values() if t.state != "ended")
            if live >= MAX_THREADS:
                raise WasiError(Errno.AGAIN, f"{MAX_THREADS} threads already run")
            tid = self._next_tid
            self._next_tid += 1
            arg = start_arg - (1 << 32) if start_arg >= 1 << 31 else start_arg
            t = WasmThread(self, tid, self.linked.thread_start, args=(tid, arg), started_by=(registry.THREAD.tid, call))
            self.wasm_threads[tid] = t
        t.py_thread = threading.Thread(target=self._run_thread, args=(t,), daemon=True, name=f"wasix:{self.name}:{tid}")
        t.py_thread.start()
        return tid

    def _run_thread(self, t):
        self._thread_ended(t, t.run())
        t.release()  # its Store and instance: a server may spawn threads for hours
        _signals.close_wake(t)
        self._forget_ended()

    def _forget_ended(self):
        """Keep at most KEPT_ENDED ended threads in the table (the oldest go; counted)."""
        with self._lock:
            ended = [tid for tid, x in self.wasm_threads.items() if x.state == "ended" and tid != MAIN_TID]
            for tid in ended[: max(0, len(ended) - KEPT_ENDED)]:
                del self.wasm_threads[tid]
                self.threads_forgotten += 1

    def _thread_ended(self, t, end):
        """Decide whether `t` ending ends the process: proc_exit, a trap or a stop from any thread, the
        main thread returning, or the last thread leaving with thread_exit."""
        if end.kind == "exec" and t.tid != MAIN_TID:  # exec from a worker: run() goes on with the new image
            _procs.exec_from_thread(self, t, end)
            return
        with self._lock:
            t.reported = True  # counted as gone only now: its state says "ended" a little earlier
            if self._end is not None or self.wasm_threads.get(t.tid) is not t:
                return  # decided already, or a thread of an image exec replaced
            if self.execing and t.tid != MAIN_TID:
                return  # stopped by exec (procs.stop_other_threads)
            decide = None
            if end.kind in ("exited", "stopped"):
                decide = end
            elif end.kind == "trapped":
                decide = end
                if t.tid != MAIN_TID:
                    decide = End("trapped", THREAD_TRAP_EXIT, f"thread {t.tid} trapped: {end.message}", end.error)
            elif t.tid == MAIN_TID and end.kind == "returned":
                decide = end
            elif all(x.reported for x in self.wasm_threads.values()):  # (not state: the main thread
                # would look ended to a worker's thread_exit before its own proc_exit is decided)
                decide = End("exited", 0, "exited with code 0 (its last thread exited)")
            if decide is None:
                return
            self._end = (decide, t)
        self._decided.set()
        self._halt()

    def end_with(self, end):
        """End the process from outside its threads (a signal from the host or a timer)."""
        with self._lock:
            if self._end is not None:
                return
            self._end = (end, None)
        self._decided.set()
        self._halt()

    def _halt(self, reason="ended"):
        """Make every thread stop: wake blocking calls and futex waits, trap running wasm."""
        self.host.cancel(reason)
        self.futexes.cancel_all()
        for t in list(self.wasm_threads.values()):
            t.wake.set()
        eng = self._engine
        if eng is not None:
            eng.increment_epoch()

    def _join_threads(self):
        deadline = time.monotonic() + STOP_GRACE
        for t in list(self.wasm_threads.values()):
            th = t.py_thread
            while th is not None and th.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    self._stragglers += 1
                    break
                self._halt()  # again: a thread may have made its store after the first tick
                th.join(min(left, 0.05))

    def join_thread(self, tid):
        """thread_join: wait (cancellably) until thread `tid` ended; at once if unknown or ended."""
        t = self.wasm_threads.get(tid)
        th = t.py_thread if t is not None else None
        while th is not None and th.is_alive():
            if self.host.cancelled.is_set():
                raise Cancelled(self.host.cancel_reason)
            th.join(0.05)
            self.run_signals()

    def current_thread(self):
        """The WasmThread of this process running on the calling OS thread, or None (the host, a timer)."""
        t = epoch.CURRENT.thread
        return t if t is not None and t.proc is self else None

    def sleep(self, seconds):
        """Cancellable sleep of the calling thread; a signal for it ends the sleep (its handler runs)."""
        t = self.current_thread()
        if t is None:
            self.host.sleep(seconds)
            return
        t.wake.clear()
        if self.host.cancelled.is_set():
            raise Cancelled(self.host.cancel_reason)
        if t.signals:
            self.run_signals()
            return
        t.wake.wait(seconds)
        if self.host.cancelled.is_set():
            raise Cancelled(self.host.cancel_reason)
        self.run_signals()

    def thread_rows(self):
        """One dict per thread, for views (`proc.wasm_threads` DataFrame, the panel's threads section);
        computed once when the process has ended (the Result, the final tables and the timeline ask)."""
        rows = self._thread_rows
        if rows is None:
            rows = _signals.thread_rows(self)
            if self.done.is_set():
                self._thread_rows = rows
        return list(rows)

    # -- signals --------------------------------------------------------------------------------
    def signal(self, sig: int, tid=None, source="host"):
        """Deliver `sig` to thread `tid` (None: the process) - see runtime/signals.py."""
        return _signals.deliver(self, sig, tid, source)

    def run_signals(self):
        """Run the calling thread's pending signals (at a safe point: in a host call, an epoch tick)."""
        t = self.current_thread()
        if t is not None and t.signals:
            _signals.run_pending(self, t)

    def run_signals_at_tick(self, t):
        """From thread `t`'s epoch callback (runtime/epoch.py): its signals, this process's ticks held."""
        _signals.run_at_tick(self, t)

    def tick(self):
        """Tick the engine so threads busy in pure wasm take their signals (held while a handler runs
        inside an epoch callback)."""
        _signals.tick(self)

    def signal_fd(self) -> int:
        """For a blocking descriptor wait of the calling thread: its signal wake pipe, or -1."""
        return _signals.wake_fd(self) if self.signal_handler is not None else -1

    def take_signals(self) -> bool:
        """A blocking wait woke on the wake pipe: run the calling thread's signals (False: none)."""
        return _signals.take(self)

    def interrupt(self):
        """What the kernel's interrupt button (and Ctrl-C in the CLI) does to this process: SIGINT to
        the program's handler when it registered one (`callback_signal`); otherwise, for a second
        interrupt, or when the handler has not started within `sigint.GRACE` s, `stop("interrupted")`.
        See runtime/sigint.py."""
        _sigint.interrupt(self)

    def _ended(self, end, thread=None):
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
            self.status, self.exit_code = "trapped", end.code
        self.message = end.message
        if self._sigint_ran:
            self.message += f" (after the kernel's interrupt, delivered as SIGINT to {self.signal_handler})"

    def _stopped(self, reason):
        self.status = {"timeout": "timeout", "interrupted": "interrupted"}.get(reason, "killed")
        self.exit_code = None
        self.message = {"timeout": f"timed out after {self.timeout} s", "interrupted": "interrupted"}.get(
            self.status, "killed"
        )

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
        """Stop the program from any thread: wakes blocking calls and traps running wasm, in every thread."""
        with self._stop_lock:
            if self.done.is_set():
                return
            self._halt(reason)

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

    stdout_bytes = stdout  # the older names
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
            self.futexes.cancel_all()
            for t in list(self.wasm_threads.values()):
                _signals.close_wake(t)
            self.host.close()
            _procs.drop_command_root(self)
        finally:
            eng, self._engine = self._engine, None
            if eng is not None and not self._stragglers:  # a thread still in wasm keeps its engine
                _compile.POOL.give_back(eng)

    def __repr__(self):
        return f"<Process {self.name} {self.status} fds={len(self.host.fds)} calls={len(self.host.trace)}>"
