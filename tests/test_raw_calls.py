"""The unchecked (raw) host-call path: arguments, i64 values, results and exceptions."""

import wasmtime

from wasix_nb import _raw_calls
from wasix_nb.process import Process

I32, I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()


def _instance(fn, params, results, wat_body):
    eng = wasmtime.Engine()
    store = wasmtime.Store(eng)
    linker = wasmtime.Linker(eng)
    keep = []
    ty = wasmtime.FuncType(params, results)
    assert _raw_calls.supported(ty)
    _raw_calls.define(linker, "m", "f", ty, fn, keep)
    mod = wasmtime.Module(eng, wat_body)
    return store, linker.instantiate(store, mod).exports(store), keep


def test_arguments_results_and_signs():
    seen = []

    def f(a, b, c):
        seen.append((a, b, c))
        return a + c

    store, ex, keep = _instance(
        f,
        [I32, I64, I32],
        [I32],
        """(module
      (import "m" "f" (func $f (param i32 i64 i32) (result i32)))
      (func (export "go") (result i32) (call $f (i32.const -2) (i64.const -9000000000) (i32.const 7))))""",
    )
    assert ex["go"](store) == 5
    assert seen == [(-2, -9000000000, 7)]


def test_no_params_no_results_and_i64_result():
    calls = []
    store, ex, keep = _instance(
        lambda: calls.append(1),
        [],
        [],
        """(module
      (import "m" "f" (func $f))
      (func (export "go") (call $f) (call $f)))""",
    )
    ex["go"](store)
    assert calls == [1, 1]
    store, ex, keep = _instance(
        lambda x: x * 2,
        [I64],
        [I64],
        """(module
      (import "m" "f" (func $f (param i64) (result i64)))
      (func (export "go") (result i64) (call $f (i64.const 1099511627776))))""",
    )
    assert ex["go"](store) == 2199023255552


def test_exception_reaches_the_caller_of_wasm():
    class Boom(BaseException):
        pass

    def f(x):
        raise Boom(x)

    store, ex, keep = _instance(
        f,
        [I32],
        [I32],
        """(module
      (import "m" "f" (func $f (param i32) (result i32)))
      (func (export "go") (result i32) (call $f (i32.const 3))))""",
    )
    try:
        _raw_calls.call(ex["go"], store)  # where the runtime enters wasm: the exception comes back
    except Boom as e:
        assert e.args == (3,)
    else:
        raise AssertionError("the exception was lost")
    # the store is still usable afterwards
    try:
        _raw_calls.call(ex["go"], store)
    except Boom:
        pass
    # wasmtime-py's module global is never used: another thread cannot pick the exception up
    from wasmtime import _func

    assert _func.LAST_EXCEPTION is None


def test_process_uses_raw_calls_and_proc_exit_still_works():
    res = Process("""(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (i32.const 42))))""").run()
    assert res.outcome == "exited" and res.exit_code == 42
