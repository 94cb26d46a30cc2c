"""What a thread does when the engine's epoch ticks: stop (the process is ending) or run its pending
signals and continue.

Without a callback an epoch tick traps every store of the engine, which is how a process stops.  With
this callback installed on each thread's store, a tick is also how a signal reaches a thread busy in pure
wasm: the callback runs on that thread, between two wasm instructions, calls the program's signal handler
and lets the thread continue.
"""

import ctypes
import threading

from wasmtime import _ffi as ffi

from .. import _raw_calls

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
            t.store.set_epoch_deadline(1)  # the handler's own wasm runs under a fresh deadline
            t.proc.run_signals()
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
