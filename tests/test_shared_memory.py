"""wasmtime-py 50 cannot link a SharedMemory (issue #318); wasix_nb._shared_memory works around it.

The first test asserts the upstream bug is still there: when it fails, wasmtime-py has been fixed and
the workaround (and this file) can go.
"""

import pytest
import wasmtime

from wasix_nb._shared_memory import LinkableSharedMemory
from wasix_nb.abi.memory import GuestMemory

WAT = """(module
  (import "env" "memory" (memory 1 4 shared))
  (func (export "load") (param i32) (result i32) local.get 0 i32.atomic.load)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.atomic.store)
  (func (export "grow") (result i32) i32.const 1 memory.grow))"""


def _engine():
    cfg = wasmtime.Config()
    cfg.wasm_threads = True
    cfg.shared_memory = True
    return wasmtime.Engine(cfg)


def _shared_type():
    return wasmtime.MemoryType(wasmtime.Limits(1, 4), shared=True)


def test_upstream_shared_memory_still_cannot_be_linked():
    engine = _engine()
    store = wasmtime.Store(engine)
    plain = wasmtime.SharedMemory(engine, _shared_type())
    with pytest.raises(TypeError, match="LP_LP_wasmtime_sharedmemory"):
        wasmtime.Linker(engine).define(store, "env", "memory", plain)


def test_linkable_shared_memory_is_the_programs_memory():
    engine = _engine()
    store = wasmtime.Store(engine)
    shared = LinkableSharedMemory(engine, _shared_type())
    linker = wasmtime.Linker(engine)
    linker.define(store, "env", "memory", shared)
    inst = linker.instantiate(store, wasmtime.Module(engine, WAT))
    ex = inst.exports(store)

    host = GuestMemory.of_shared(shared)
    host.set_u32(64, 0xDEADBEEF)
    assert ex["load"](store, 64) == 0xDEADBEEF - 2**32  # the program sees the host's write
    ex["store"](store, 128, 12345)
    assert host.u32(128) == 12345  # and the host sees the program's

    assert ex["grow"](store) == 1  # grown from inside the program
    assert host.size == 2 * 65536
    host.set_u32(65536 + 8, 7)  # the new page is reachable at once
    assert ex["load"](store, 65536 + 8) == 7


def test_process_links_a_shared_memory_import():
    import wasix_nb

    wat = WAT.replace(
        '(func (export "grow")',
        '(func (export "_start") i32.const 0 i32.const 1 i32.atomic.store)\n  (func (export "grow")',
    )
    r = wasix_nb.run(wat, check=True)
    assert r.process.shared_memory is not None
    assert r.outcome == "returned"
