"""Workaround for wasmtime-py 50: `Linker.define` cannot take a `SharedMemory`.

Upstream (`SharedMemory._as_extern`, wasmtime-py issue #318) wraps the already-pointer `self.ptr()` in a
second `ctypes.pointer`, so the linker receives a pointer to a pointer.  This subclass builds the extern
from the pointer itself.  `tests/test_shared_memory.py` checks that the upstream bug is still there, so
the workaround is noticed and dropped when wasmtime-py fixes it.
"""

import wasmtime
from wasmtime import _ffi as ffi


class LinkableSharedMemory(wasmtime.SharedMemory):
    def _as_extern(self):
        union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
        return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)
