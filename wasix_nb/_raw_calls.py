"""Host functions linked through wasmtime's *unchecked* callback API: about 10x cheaper per call.

wasmtime-py's `Linker.define_func` trampoline builds a `Caller` and one `Val` object per argument and
per result on every call (about 8 us per host call here).  `wasmtime_linker_define_func_unchecked`
hands over the raw argument array instead; one precompiled `struct` unpacks it (under 1 us).  An
exception raised by the host function (ProcExit, Cancelled, ...) travels the way wasmtime-py's own
trampoline sends it: stored in `wasmtime._func.LAST_EXCEPTION` and re-raised by the caller of the
wasm function, with a trap to unwind the wasm stack.  Tested in tests/test_raw_calls.py.
"""
import ctypes
import struct

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import _func

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_define = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                           ctypes.c_size_t, ctypes.c_void_p, _CALLBACK, ctypes.c_void_p, ctypes.c_void_p)(
    ("wasmtime_linker_define_func_unchecked", ffi.dll))
_RAW = 16                                   # sizeof(wasmtime_val_raw_t)
# One view of the whole user address space: unpacking the argument array at its address then needs no
# per-call ctypes object (user-space pointers on 64-bit Linux, x86-64 or arm64, are below 2**56).
_SPACE = memoryview((ctypes.c_char * (1 << 56)).from_address(0)).cast("B")
_FIELD = {"i32": "i12x", "i64": "q8x"}
_RESULT = {"i32": struct.Struct("<i"), "i64": struct.Struct("<q")}


def supported(ty: wasmtime.FuncType) -> bool:
    params, results = [str(p) for p in ty.params], [str(r) for r in ty.results]
    return all(p in _FIELD for p in params) and len(results) <= 1 and all(r in _RESULT for r in results)


def define(linker: wasmtime.Linker, module: str, name: str, ty: wasmtime.FuncType, fn, keep: list):
    """Link `fn(*ints)` (returning an int, or None when `ty` has no result) as module.name.
    The callback object is appended to `keep`, which must live as long as the store."""
    params, results = [str(p) for p in ty.params], [str(r) for r in ty.results]
    args_st = struct.Struct("<" + "".join(_FIELD[p] for p in params))
    res_st = _RESULT[results[0]] if results else None
    unpack, space = args_st.unpack_from, _SPACE
    last_exc = _func

    if res_st is not None:
        pack = res_st.pack_into

        def callback(env, caller, raw, n):
            try:
                pack(space, raw, fn(*unpack(space, raw)))
                return 0
            except BaseException as e:      # noqa: BLE001 - handed to the caller of the wasm function
                return _trap(last_exc, e)
    else:
        def callback(env, caller, raw, n):
            try:
                fn(*unpack(space, raw)) if raw else fn()
                return 0
            except BaseException as e:      # noqa: BLE001
                return _trap(last_exc, e)

    cb = _CALLBACK(callback)
    keep.append(cb)
    m, nm = module.encode(), name.encode()
    err = _define(ctypes.cast(linker.ptr(), ctypes.c_void_p), m, len(m), nm, len(nm),
                  ctypes.cast(ty.ptr(), ctypes.c_void_p), cb, None, None)
    if err:
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))


def _trap(mod, exc) -> int:
    mod.LAST_EXCEPTION = exc
    trap = wasmtime.Trap("python exception")._consume()
    return ctypes.cast(trap, ctypes.c_void_p).value
