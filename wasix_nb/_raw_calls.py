"""Host functions linked through wasmtime's *unchecked* callback API: about 10x cheaper per call.

wasmtime-py's `Linker.define_func` trampoline builds a `Caller` and one `Val` object per argument and
per result on every call (about 8 us per host call here).  `wasmtime_linker_define_func_unchecked`
hands over the raw argument array instead; one precompiled `struct` unpacks it (under 1 us).  An
exception raised by the host function (ProcExit, Cancelled, ...) unwinds the wasm stack as a trap and
is kept in *this thread's* slot, then re-raised by `call()`/`instantiate()`, the only places the
runtime enters wasm.  wasmtime-py's own trampoline keeps it in one module global
(`wasmtime._func.LAST_EXCEPTION`): with two threads (or two processes) calling into wasm at once, an
exit status surfaced in the other thread or became a bare WasmtimeError (issue 9, B11).  Every host
function the runtime links, NOSYS stubs included, goes through here, so that global is never used.
Tested in tests/test_raw_calls.py and tests/test_breaks_runtime.py.
"""

import ctypes
import struct
import threading

import wasmtime
from wasmtime import _ffi as ffi

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_define = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_size_t,
    ctypes.c_char_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
    _CALLBACK,
    ctypes.c_void_p,
    ctypes.c_void_p,
)(("wasmtime_linker_define_func_unchecked", ffi.dll))
_RAW = 16  # sizeof(wasmtime_val_raw_t)
# One view of the whole user address space: unpacking the argument array at its address then needs no
# per-call ctypes object (user-space pointers on 64-bit Linux, x86-64 or arm64, are below 2**56).
_SPACE = memoryview((ctypes.c_char * (1 << 56)).from_address(0)).cast("B")
_FIELD = {"i32": "i12x", "i64": "q8x", "f32": "f12x", "f64": "d8x"}
_RESULT = {
    "i32": struct.Struct("<i"),
    "i64": struct.Struct("<q"),
    "f32": struct.Struct("<f"),
    "f64": struct.Struct("<d"),
}


class _Slot(threading.local):
    exc = None  # the exception a host function of this thread raised, until re-raised


_SLOT = _Slot()


def _sig(ty):
    if isinstance(ty, tuple):
        return ty
    return [str(p) for p in ty.params], [str(r) for r in ty.results]


def supported(ty) -> bool:
    """Types the host can represent: numbers only (no v128, funcref, externref).  `ty`: a FuncType, or
    (params, results) type names (needed for v128: asking wasmtime-py its kind aborts the interpreter)."""
    params, results = _sig(ty)
    return all(p in _FIELD for p in params) and all(r in _RESULT for r in results)


def call(func: wasmtime.Func, store, *args):
    """Call into wasm; an exception a host function raised on the way comes out as itself."""
    _SLOT.exc = None
    try:
        return func(store, *args)
    except (wasmtime.Trap, wasmtime.WasmtimeError):
        _reraise()
        raise


def instantiate(pre_or_linker, store, module=None):
    """Instantiate (running the module's start function, if any) with the same exception rule."""
    _SLOT.exc = None
    try:
        if module is None:
            return pre_or_linker.instantiate(store)
        return pre_or_linker.instantiate(store, module)
    except (wasmtime.Trap, wasmtime.WasmtimeError):
        _reraise()
        raise


def _reraise():
    exc, _SLOT.exc = _SLOT.exc, None
    if exc is not None:
        raise exc.with_traceback(None) from None


def define(linker: wasmtime.Linker, module: str, name: str, ty: wasmtime.FuncType, fn, keep: list, sig=None):
    """Link `fn(*numbers)` (returning a number, a list of them, or None when `ty` has no result) as
    module.name.  The callback object is appended to `keep`, which must live as long as the store."""
    params, results = _sig(sig if sig is not None else ty)
    args_st = struct.Struct("<" + "".join(_FIELD[p] for p in params))
    res_st = _RESULT[results[0]] if len(results) == 1 else None
    unpack, space = args_st.unpack_from, _SPACE
    last_exc = _SLOT

    fused = getattr(fn, "raw", None)  # registry.wrap's per-call path as the callback itself
    if fused is not None and len(results) <= 1:
        callback = fused(unpack, res_st.pack_into if res_st is not None else None, space, lambda e: _trap(last_exc, e))
    elif len(results) > 1:
        packs = [(_RESULT[r].pack_into, i * _RAW) for i, r in enumerate(results)]

        def callback(env, caller, raw, n):
            try:
                for (pk, off), v in zip(packs, fn(*unpack(space, raw))):
                    pk(space, raw + off, v)
                return 0
            except BaseException as e:  # noqa: BLE001
                return _trap(last_exc, e)
    elif res_st is not None:
        pack = res_st.pack_into

        def callback(env, caller, raw, n):
            try:
                pack(space, raw, fn(*unpack(space, raw)))
                return 0
            except BaseException as e:  # noqa: BLE001 - handed to the caller of the wasm function
                return _trap(last_exc, e)
    else:

        def callback(env, caller, raw, n):
            try:
                fn(*unpack(space, raw)) if raw else fn()
                return 0
            except BaseException as e:  # noqa: BLE001
                return _trap(last_exc, e)

    cb = _CALLBACK(callback)
    keep.append(cb)
    m, nm = module.encode(), name.encode()
    err = _define(
        ctypes.cast(linker.ptr(), ctypes.c_void_p),
        m,
        len(m),
        nm,
        len(nm),
        ctypes.cast(ty.ptr(), ctypes.c_void_p),
        cb,
        None,
        None,
    )
    if err:
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))


def _trap(slot, exc) -> int:
    slot.exc = exc
    trap = wasmtime.Trap("python exception")._consume()
    return ctypes.cast(trap, ctypes.c_void_p).value
