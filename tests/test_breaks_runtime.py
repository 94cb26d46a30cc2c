"""Issue 9, the runtime's breaks: B1 (start function), B2 (unstubbable imports), B8 (kept stdout),
B11 (per-thread host exceptions), B17 (one memory budget), B19 (malformed modules)."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import wasmtime

import wasix_nb
from wasix_nb import _raw_calls
from wasix_nb.errors import MissingImports, WasixError
from wasix_nb.options import Options
from wasix_nb.runtime import Process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT = '(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))'


def peak_rss_mib(code: str) -> float:
    """Peak RSS (MiB) of a fresh Python child running `code`, read with RUSAGE_CHILDREN by a launcher
    that has no other children (so nothing else of the test session counts)."""
    launcher = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-c', sys.argv[1]])\n"
        "assert r.returncode == 0, r.returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", launcher, textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip().splitlines()[-1])


# -- B11 -------------------------------------------------------------------------------------------
def test_b11_concurrent_processes_keep_their_exit_status():
    wat = '(module %s (memory (export "memory") 1) (func (export "_start") (call $exit (i32.const %d))))'
    runs, wrong = 150, []

    def worker(code):
        for _ in range(runs):
            r = wasix_nb.run(wat % (EXIT, code))
            if (r.outcome, r.exit_code) != ("exited", code):
                wrong.append((code, r.outcome, r.exit_code, r.message))

    ts = [threading.Thread(target=worker, args=(c,)) for c in (23, 42)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"B11: {len(wrong)} wrong exit statuses of {2 * runs} concurrent runs")
    assert wrong == []


def test_b11_raw_calls_keep_exceptions_per_thread():
    """The mechanism under B11, at full speed: two threads whose host functions raise their own exception."""
    I32 = wasmtime.ValType.i32()

    class Mine(BaseException):
        pass

    eng = wasmtime.Engine()
    mod = wasmtime.Module(
        eng,
        """(module (import "m" "f" (func $f (param i32)))
      (func (export "go") (param i32) (call $f (local.get 0))))""",
    )
    wrong, n = [], 3000

    def worker(code):
        store, linker, keep = wasmtime.Store(eng), wasmtime.Linker(eng), []

        def f(x):
            raise Mine(x)

        _raw_calls.define(linker, "m", "f", wasmtime.FuncType([I32], []), f, keep)
        go = linker.instantiate(store, mod).exports(store)["go"]
        for _ in range(n):
            try:
                _raw_calls.call(go, store, code)
            except Mine as e:
                if e.args != (code,):
                    wrong.append(e.args)
            except BaseException as e:  # noqa: BLE001
                wrong.append(type(e).__name__)

    ts = [threading.Thread(target=worker, args=(c,)) for c in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"B11 raw: {len(wrong)} wrong of {2 * n}")
    assert wrong == []


# -- B1 --------------------------------------------------------------------------------------------
SPIN_START = (
    '(module (memory (export "memory") 1) (func $spin (loop $l (br $l))) (start $spin) (func (export "_start")))'
)


def test_b1_start_function_spin_times_out():
    t0 = time.monotonic()
    r = wasix_nb.run(SPIN_START, timeout=0.5)
    assert r.outcome == "timeout" and r.returncode == 124
    assert time.monotonic() - t0 < 10


def test_b1_start_function_spin_is_killed_in_the_background():
    p = Process(SPIN_START).start()
    time.sleep(0.2)
    t0 = time.monotonic()
    r = p.kill(timeout=5)
    assert r is not None and r.outcome == "killed"
    assert time.monotonic() - t0 < 1.0


def test_b1_start_function_exit_and_trap_end_as_results():
    r = wasix_nb.run(
        '(module %s (memory (export "memory") 1) (func $s (call $exit (i32.const 7))) (start $s)'
        ' (func (export "_start") unreachable))' % EXIT
    )
    assert (r.outcome, r.exit_code) == ("exited", 7)
    r = wasix_nb.run('(module (memory (export "memory") 1) (data (i32.const 70000) "x") (func (export "_start")))')
    assert r.outcome == "trapped" and "out of bounds" in r.message
    r = wasix_nb.run('(module (memory (export "memory") 1) (func $s unreachable) (start $s) (func (export "_start")))')
    assert r.outcome == "trapped" and "unreachable" in r.message


def test_b1_start_function_sigint_interrupts():
    code = f"""
import os, signal, threading, time
from wasix_nb.runtime import Process
from wasix_nb.runtime.sigint import SigintToEpoch
p = Process({SPIN_START!r})
def later():
    # SIGINT once it is the run's (its handler installed: the first run also starts the watcher
    # thread) and the main thread runs: its instantiation runs the start function, which spins forever
    while not (isinstance(getattr(signal.getsignal(signal.SIGINT), "__self__", None), SigintToEpoch)
               and p.wasm_threads[1].state == "running"):
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=later, daemon=True).start()
print(p.run().outcome)
"""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "interrupted", out.stderr[-1000:]


# -- B2 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", ["(param v128)", "(result v128)", "(result funcref)", "(param externref)"])
def test_b2_stub_missing_refuses_types_the_host_cannot_represent(sig):
    # in a child: on the old host a v128 stub aborted the whole interpreter (SIGABRT)
    code = f"""
import wasix_nb
from wasix_nb.errors import MissingImports
try:
    wasix_nb.run('(module (import "x" "f" (func {sig})) (func (export "_start")))', stub_missing=True)
    print("ran")
except MissingImports as e:
    print("refused:", str(e).splitlines()[0])
"""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.startswith("refused: "), out.stdout


def test_b2_numbers_still_stub():
    r = wasix_nb.run(
        """(module (import "x" "f" (func $f (param f32 f64 i64) (result f64 i32)))
      (func (export "_start") (drop (drop (call $f (f32.const 1) (f64.const 2) (i64.const 3))))))""",
        stub_missing=True,
    )
    assert r.outcome == "returned"
    with pytest.raises(MissingImports) as ei:
        Process('(module (import "x" "f" (func (param v128))) (func (export "_start")))', stub_missing=True)
    assert "x.f" in str(ei.value) and "v128" in str(ei.value)


# -- B19 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wat, words",
    [
        ('(module (func (export "memory")) (func (export "_start")))', "function"),
        ('(module (global (export "memory") i32 (i32.const 0)) (func (export "_start")))', "global"),
        ('(module (table (export "memory") 1 funcref) (func (export "_start")))', "table"),
        ('(module (import "env" "memory" (memory i64 1)) (func (export "_start")))', "memory64"),
        ('(module (memory (export "memory") i64 1) (func (export "_start")))', "memory64"),
        ('(module (memory i64 1) (func (export "_start")))', "memory64"),
    ],
)
def test_b19_malformed_modules_get_a_short_wasix_error(wat, words):
    with pytest.raises(WasixError) as ei:
        Process(wat)
    msg = str(ei.value)
    assert words in msg and len(msg) < 300 and "Traceback" not in msg and "backtrace" not in msg


def test_b19_entry_with_parameters_is_a_clear_end():
    r = wasix_nb.run('(module (memory (export "memory") 1) (func (export "_start") (param i32)))')
    assert r.outcome == "trapped" and "takes 1 argument" in r.message


# -- B17 -------------------------------------------------------------------------------------------
MANY_MEMORIES = """(module
  (memory $a (export "memory") 1) (memory $b 1) (memory $c 1)
  (table $t 1 funcref)
  (func $fill (param $i i32)
    (loop $l
      (if (i32.ne (memory.grow $a (i32.const 64)) (i32.const -1)) (then
        (memory.fill $a (i32.const 0) (i32.const 1) (i32.mul (memory.size $a) (i32.const 65536))) (br $l)))))
  (func (export "_start")
    (call $fill (i32.const 0))
    (loop $l (if (i32.ne (memory.grow $b (i32.const 64)) (i32.const -1)) (then
        (memory.fill $b (i32.const 0) (i32.const 1) (i32.mul (memory.size $b) (i32.const 65536))) (br $l))))
    (loop $l (if (i32.ne (memory.grow $c (i32.const 64)) (i32.const -1)) (then
        (memory.fill $c (i32.const 0) (i32.const 1) (i32.mul (memory.size $c) (i32.const 65536))) (br $l))))
    (loop $l (br_if $l (i32.ne (table.grow $t (ref.null func) (i32.const 1048576)) (i32.const -1))))))"""


def test_b17_memory_limit_covers_all_memories_and_tables():
    base = peak_rss_mib(
        'import wasix_nb; wasix_nb.run(\'(module (memory (export "memory") 1) (func (export "_start")))\')'
    )
    peak = peak_rss_mib(f"""
import wasix_nb
r = wasix_nb.run({MANY_MEMORIES!r}, memory_limit="256M")
assert r.outcome == "returned", r.message
""")
    print(f"B17: peak RSS {peak:.0f} MiB, baseline {base:.0f} MiB, limit 256 MiB")
    assert peak - base < 256 + 64


def test_b17_default_limit_is_one_gib_and_reported():
    assert Options().memory_limit == 1 << 30
    wat = """(module (memory (export "memory") 1)
      (func (export "_start") (if (i32.ne (memory.grow (i32.const 16384)) (i32.const -1)) (then unreachable))))"""
    r = wasix_nb.run(wat)
    assert r.outcome == "returned" and r.memory_limit == 1 << 30 and r.memory_bytes == 65536
    assert "memory=65536/1073741824B" in repr(r)
    assert wasix_nb.run(wat, memory_limit="2G").outcome == "trapped"
    with pytest.raises(WasixError, match="memory_limit"):
        Process('(module (memory (export "memory") 100) (func (export "_start")))', memory_limit="1M")


# -- B8 --------------------------------------------------------------------------------------------
WRITE_128M = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 1048576))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 128))))))"""


def test_b8_stdout_is_kept_once_and_bounded():
    base = peak_rss_mib(
        'import wasix_nb; wasix_nb.run(\'(module (memory (export "memory") 1) (func (export "_start")))\')'
    )
    peak = peak_rss_mib(f"""
import wasix_nb
seen = [0]
def sink(b):
    seen[0] += len(b)
r = wasix_nb.run({WRITE_128M!r}, stdout=sink)
assert r.outcome == "returned", r.message
assert len(r.stdout) == 16 << 20 and r.stdout_total == 128 << 20 and seen[0] == 128 << 20, (len(r.stdout), r.stdout_total)
assert r.process.stdout is r.stdout
""")
    print(f"B8: peak RSS {peak:.0f} MiB for 128 MiB written, baseline {base:.0f} MiB")
    assert peak - base < 80


def test_b8_capture_limit_is_an_option():
    r = wasix_nb.run(WRITE_128M.replace("(i32.const 128)", "(i32.const 2)"), capture_limit="1M")
    assert len(r.stdout) == 1 << 20 and r.stdout_total == 2 << 20
