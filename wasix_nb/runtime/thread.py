"""One wasm thread: its own Store and instance over the process's memory, its entry call, its end.

A thread never raises for how it ended: `run()` returns an `End` (returned, exited, trapped, stopped…).
Instantiation is part of the run (issue 9, B1): a module's start function runs under the same epoch
deadline, cancellation and exception rules as the entry, so a spinning or exiting start function ends
as a Result like any other code.
"""

import collections
import threading
import time

import wasmtime

from .. import _raw_calls
from ..errors import NoEntry
from ..host import registry
from ..host.calls.threads import ThreadExit
from ..host.host import Cancelled, ProcExit
from . import asyncify, epoch
from .procs import Exec
from .traps import describe_trap


class End:
    """How a thread ended. kind: returned | exited | thread-exit | trapped | stopped."""

    __slots__ = ("kind", "code", "message", "error", "reason")

    def __init__(self, kind, code=None, message="", error=None, reason=None):
        self.kind, self.code, self.message, self.error, self.reason = kind, code, message, error, reason

    def __repr__(self):
        return f"<End {self.kind} {self.code} {self.message!r}>"


class HandlerTrapped(BaseException):
    """A signal handler trapped inside a host call (raise(), a wait it ended): the trap ends the thread
    as a trap, not as a host error of that call.  `args[0]` is the wasmtime Trap or error."""


class WasmThread:
    """`proc.wasm_threads[tid]`; `proc.threads` is the DataFrame of all of them (views)."""

    sig_r = sig_w = -1  # its signal wake pipe, made on its first descriptor wait (runtime/signals.py)
    handling = frozenset()  # signals whose handler runs on it now (blocked until it returns)
    reported = False  # its end was handed to the process (Process._thread_ended)

    def __init__(self, proc, tid: int, entry: str, args=(), store=None, started_by=None):
        self.proc = proc
        self.tid = tid
        self.entry = entry
        self.args = tuple(args)
        self.store = store if store is not None else proc.new_store()
        self.instance = None
        self.stack = None  # asyncify.Stack when the module has the asyncify exports
        self.started_by = started_by  # (tid, call name) that spawned it; None for the main thread
        self.signals = collections.deque()  # signals queued for this thread, run at its next safe point
        self.wake = threading.Event()  # ends a thread_sleep early (a signal, the process ending)
        self.ident = None  # the Python thread's ident while it runs
        self.state = "created"
        self.end = None
        self.started = self.ended = None
        self.started_ns = self.ended_ns = None
        self.py_thread = None

    def instantiate(self):
        """Make this thread's instance (runs the module's start function, if any). Raises on failure."""
        if self.instance is None:
            linked = self.proc.linked
            if linked.pre is not None:
                self.instance = _raw_calls.instantiate(linked.pre, self.store)
            else:
                self.instance = _raw_calls.instantiate(linked.linker, self.store, self.proc.module)
            self.proc.on_instance(self)
            self.stack = asyncify.Stack.of(self.store, self.instance, self.proc.module, self.proc.host.mem)
        return self.instance

    def run(self) -> End:
        """Instantiate, call the entry, and say how it ended (never raises for the program's doing)."""
        registry.THREAD.tid = self.tid
        epoch.CURRENT.thread = self
        self.ident = threading.get_ident()
        registry.THREAD.host = self.proc.host
        self.state = "running"
        self.started = time.time()
        self.started_ns = time.perf_counter_ns()  # the trace's clock (timeline lanes)
        try:
            self.end = self._run()
        finally:
            registry.THREAD.host = None
            self.ended = time.time()
            self.state = "ended"
            epoch.CURRENT.thread = None
        return self.end

    def _run(self) -> End:
        proc = self.proc
        try:
            self.instantiate()
            func = self.instance.exports(self.store).get(self.entry)
            if not isinstance(func, wasmtime.Func) or len(func.type(self.store).params) != len(self.args):
                msg = _no_entry(proc.module, self.entry, func, self.store, len(self.args))
                return End("trapped", None, msg, NoEntry(msg))
            self.call_entry(func)
            return End("returned", 0, "returned from " + self.entry)
        except Exec as e:  # proc_exec: the process goes on with another program
            return End("exec", error=e)
        except ProcExit as e:
            killed = getattr(proc.host, "killed_by", None)
            return End("exited", e.code, f"exited with code {e.code}" + (f" (killed by {killed})" if killed else ""))
        except ThreadExit as e:
            return End("thread-exit", e.code, f"thread {self.tid} exited with code {e.code}")
        except Cancelled as e:
            return End("stopped", reason=str(e.args[0] if e.args else proc.host.cancel_reason))
        except HandlerTrapped as e:
            err = e.args[0]
            if isinstance(err, wasmtime.Trap):
                return End("trapped", None, describe_trap(err, proc.source), err)
            return End("trapped", None, str(err).split("\nStack backtrace:")[0], err)
        except wasmtime.Trap as trap:
            if proc.host.cancel_reason and (
                trap.trap_code == wasmtime.TrapCode.INTERRUPT or "process is stopping" in trap.message
            ):
                return End("stopped", reason=proc.host.cancel_reason)
            return End("trapped", None, describe_trap(trap, proc.source), trap)
        except KeyboardInterrupt:
            return End("stopped", reason="interrupted")
        except wasmtime.WasmtimeError as e:
            if proc.host.cancel_reason:
                return End("stopped", reason=proc.host.cancel_reason)
            return End("trapped", None, str(e).split("\nStack backtrace:")[0], e)

    def release(self):
        """Drop the Store and instance of an ended thread (its row stays)."""
        self.instance = self.stack = None
        self.store = None

    def call_entry(self, func):
        """The one call into the entry export, inside asyncify's unwind/rewind loop (fork, setjmp)."""

        def enter(store, *args):
            return _raw_calls.call(func, store, *args)

        asyncify.call(enter, self.store, self.args, self.stack)

    def __repr__(self):
        return f"<WasmThread {self.tid} {self.state} {self.end!r}>"


def _no_entry(module, entry, func, store, nargs):
    if isinstance(func, wasmtime.Func):
        return f"the export {entry!r} takes {len(func.type(store).params)} argument(s); wasix_nb calls it with {nargs}"
    names = ", ".join(e.name for e in module.exports if isinstance(e.type, wasmtime.FuncType))
    return f"the program exports no function {entry!r} (it exports: {names or 'nothing'})"
