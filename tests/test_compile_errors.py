"""A cell whose WAT parses but is not valid WebAssembly: a short message at the user's function line."""

import pytest

import wasix_nb
from wasix_nb.errors import CompileError

BAD = """(module
  (import "wasix_32v1" "sched_yield" (func $y (result i32)))
  (func $ok (export "_start") nop)
  (func $main
    (i32.add (i32.const 1))
    drop))"""


def test_validation_error_names_the_function_and_its_line():
    with pytest.raises(CompileError) as e:
        wasix_nb.run(BAD)
    text = str(e.value)
    assert text.startswith("invalid WebAssembly: type mismatch: expected i32 but nothing on stack (in $main, byte ")
    assert text.splitlines()[1] == "  at <cell> line 4: (func $main"
    assert "Caused by" not in text and "Stack backtrace" not in text


def test_validation_error_in_an_unnamed_function_counts_past_imports():
    src = BAD.replace("(func $main", "(func")
    with pytest.raises(CompileError) as e:
        wasix_nb.run(src)
    assert "(in function 2, byte " in str(e.value)
    assert str(e.value).splitlines()[1] == "  at <cell> line 4: (func"
