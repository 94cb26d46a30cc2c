"""setjmp/longjmp (stack_checkpoint/stack_restore) on asyncify, and the automatic `wasm-opt --asyncify`
for programs that need it but were not transformed (WAT cells, clang builds)."""

import pytest

import wasix_nb
from wasix_nb import compile as _compile
from wasix_nb import wasmopt
from wasix_nb.errors import CompileError

needs_wasm_opt = pytest.mark.skipif(wasmopt.wasm_opt() is None, reason="wasm-opt not found (apt-get install binaryen)")

# setjmp at 0 (jmp_buf) / 32 (value); a longjmp from a deeper function delivers v+1 until 3; a mutable
# global counts the arrivals (globals are not rolled back by longjmp)
SETJMP = """(module
  (import "wasix_32v1" "stack_checkpoint" (func $cp (param i32 i32) (result i32)))
  (import "wasix_32v1" "stack_restore" (func $rs (param i32 i64)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func $print (param $c i32)
    (i32.store8 (i32.const 100) (local.get $c))
    (i32.store (i32.const 200) (i32.const 100))
    (i32.store (i32.const 204) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))
  (func $deep (param $v i64)
    (call $rs (i32.const 0) (i64.add (local.get $v) (i64.const 1))))
  (func (export "_start")
    (local $v i64)
    (drop (call $cp (i32.const 0) (i32.const 32)))
    (local.set $v (i64.load (i32.const 32)))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (call $print (i32.add (i32.const 48) (i32.wrap_i64 (local.get $v))))
    (if (i64.lt_u (local.get $v) (i64.const 3)) (then (call $deep (local.get $v))))
    (call $print (i32.add (i32.const 48) (global.get $count)))))
"""


@needs_wasm_opt
def test_wat_cell_setjmp_longjmp_is_asyncified_automatically():
    r = wasix_nb.run(SETJMP)
    assert r.ok, r.message
    assert r.stdout == b"01234"
    calls = [(c, m or "") for c, m in zip(r.trace.syscall, r.trace.mark) if c != "fd_write"]
    assert (
        calls
        == [("stack_checkpoint", "unwinding"), ("stack_checkpoint", "")]
        + [("stack_restore", "unwinding"), ("stack_checkpoint", "longjmp arrived")] * 3
    )


@needs_wasm_opt
def test_asyncified_module_is_cached(monkeypatch):
    calls = []
    real = wasmopt.prepare
    monkeypatch.setattr(_compile, "_prepare", lambda w, n: calls.append(n) or real(w, n))
    src = SETJMP.replace("(memory", ";; cached\n  (memory")
    assert wasix_nb.run(src).stdout == b"01234"
    assert wasix_nb.run(src).stdout == b"01234"
    assert len(calls) <= 1


def test_without_wasm_opt_the_error_says_why(monkeypatch):
    monkeypatch.setattr(wasmopt, "wasm_opt", lambda: None)
    with pytest.raises(CompileError) as e:
        wasix_nb.run(SETJMP.replace("(memory", ";; no tool\n  (memory"))
    msg = str(e.value)
    assert "wasix_32v1.stack_checkpoint" in msg and "asyncify" in msg and "binaryen" in msg


def test_module_with_asyncify_exports_or_no_unwinding_import_is_left_alone():
    plain = wasix_nb.compile.Source.load('(module (func (export "_start")))')
    import wasmtime

    wasm = wasmtime.wat2wasm(plain.wat)
    assert wasmopt.prepare(wasm) is wasm
    assert wasmopt.needs_asyncify(wasmtime.wat2wasm(SETJMP)) == [
        "wasix_32v1.stack_checkpoint",
        "wasix_32v1.stack_restore",
    ]


@needs_wasm_opt
def test_mutable_globals_are_exported_for_fork():
    import wasmtime

    out = wasmopt.prepare(wasmtime.wat2wasm(SETJMP))
    m = wasmtime.Module(wasmtime.Engine(), out)
    names = {e.name for e in m.exports}
    assert "asyncify_start_unwind" in names and any(n.startswith("__wasix_global_") for n in names)


@needs_wasm_opt
def test_longjmp_to_a_jmp_buf_no_setjmp_filled_ends_the_process():
    src = SETJMP.replace("(drop (call $cp (i32.const 0) (i32.const 32)))", "(call $rs (i32.const 64) (i64.const 1))")
    r = wasix_nb.run(src)
    assert r.outcome == "exited" and r.exit_code == 79  # UNKNOWN, as the reference
