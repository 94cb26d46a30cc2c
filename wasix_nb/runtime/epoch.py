"""What a thread does when the engine's epoch ticks: stop (the process is ending) or run its pending
signals and continue.

Without a callback an epoch tick traps every store of the engine, which is how a process stops.  With
this callback installed on each thread's store, a tick is also how a signal reaches a thread busy in pure
wasm: the callback runs on that thread, between two wasm instructions, calls the program's signal handler
and lets the thread continue.

Three rules make that safe (issue 11: a handler run from here "sometimes trapped"):
- wasmtime takes the callback out of the store while it runs, so a second tick while the handler runs
  is a bare `wasm trap: interrupt`.  The process holds its signal ticks until the handler returns
  (`Process.tick`); only a stop ticks at once, and trapping the handler is then what it wants.
- A thread whose asyncify stack is being unwound or rewound (fork, setjmp, longjmp in progress) is not
  a place to run anything: half of its frames are saved bytes, and the handler's own instrumented code
  would take the rewind for itself.  The callback asks to be called again at the next check (deadline
  0 ticks away) and runs the handler once the stack is back.
- A handler that longjmps (a shell's SIGINT handler does: back to its prompt loop) unwinds only its
  own frames up to here; the interrupted frames cannot unwind from the middle of a function.  They are
  dropped instead (what longjmp does with them anyway): the callback traps out with `HandlerUnwound`
  and the entry loop (runtime/asyncify.py) rewinds to the checkpoint.
"""

import ctypes
import threading

import wasmtime
from wasmtime import _ffi as ffi

from .. import _raw_calls
from .asyncify import HandlerUnwound

_CONTINUE = 0


class _Current(threading.local):
    thread = None  # the WasmThread running on this OS thread


CURRENT = _Current()

_CB_TYPE = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_FIN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _stop_error() -> int:
    err = ffi.wasmtime_error_new(b"wasix_nb: the process is stopping")
    return ctypes.cast(err, ctypes.c_void_p).value


@_CB_TYPE
def _on_tick(ctx, data, delta, kind):
    try:
        t = CURRENT.thread
        if t is None or t.proc.host.cancelled.is_set():
            return _stop_error()
        delta[0] = 1
        kind[0] = _CONTINUE
        if t.signals:
            st = t.stack
            if st is not None and st.moving:
                delta[0] = 0  # mid unwind/rewind: come back at the next check
                return 0
            t.proc.run_signals_at_tick(t)
            if st is not None and st.pending is not None:  # the handler longjmp'd (or forked)
                if not st.drops:
                    raise wasmtime.Trap(
                        "setjmp or fork inside a signal handler that interrupted pure wasm is not supported "
                        "(the interrupted frames cannot be saved from the middle of a function)"
                    )
                raise HandlerUnwound()
        return 0
    except BaseException as e:  # noqa: BLE001 - e.g. proc_exit inside the handler
        _raw_calls._SLOT.exc = e
        return _stop_error()


@_FIN_TYPE
def _no_finalizer(data):
    pass


def install(store):
    """Make epoch ticks on `store` call `_on_tick` instead of trapping."""
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_tick, None, _no_finalizer)
