"""Threads, measured side by side in one run; prints ratios.

    python benchmarks/threads.py [--quick]

1. a CPU-bound WAT program, the same work on 2 threads vs 1: wall ratio          target <= 0.6 (2 free cores)
2. uncontended futex_wake calls/s vs a no-op host call (sched_yield's cost without the yield)     report
3. example-multi-threading (a real WASIX binary): wasix_nb wall vs wasmer-sdk wall  report (skipped
   when wasmer-sdk is not installed: pip install 'wasix_nb[compare]')
"""

import os
import statistics
import subprocess
import sys
import time

import wasix_nb

QUICK = "--quick" in sys.argv
REPEAT = 3 if QUICK else 7
WORK = 60_000_000 if QUICK else 300_000_000  # loop iterations in total, split over the threads
CALLS = 20_000 if QUICK else 100_000

CPU = """(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasix_32v1" "thread_spawn" (func $spawn (param i32 i32) (result i32)))
  (import "wasix_32v1" "futex_wait" (func $wait (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "futex_wake_all" (func $wake (param i32 i32) (result i32)))
  (func $work (param $n i32) (result i32) (local $x i32)
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1664525)) (i32.const 1013904223)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (local.get $x))
  (func (export "wasi_thread_start") (param $tid i32) (param $n i32)
    (i32.store (i32.const 128) (call $work (local.get $n)))
    (drop (i32.atomic.rmw.add (i32.const 64) (i32.const 1)))
    (drop (call $wake (i32.const 64) (i32.const 100))))
  (func (export "_start") (local $k i32)
    (loop $s
      (drop (call $spawn (i32.const PER) (i32.const 96)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $s (i32.lt_u (local.get $k) (i32.const THREADS))))
    (loop $w (if (i32.lt_u (i32.atomic.load (i32.const 64)) (i32.const THREADS)) (then
      (drop (call $wait (i32.const 64) (i32.atomic.load (i32.const 64)) (i32.const 80) (i32.const 100)))
      (br $w))))))"""

CALL_LOOP = """(module
  (import "env" "memory" (memory 1 1 shared))
  (import "wasix_32v1" "IMPORT" (func $f SIG))
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $f ARGS))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const N))))))"""


CPU_SEEN = []  # (cpu seconds, wall seconds) of each run: cpu/wall > 1 means threads ran at once


def wall(wat, **opts):
    c0, t0 = time.process_time(), time.perf_counter()
    r = wasix_nb.run(wat, timeout=600, **opts)
    dt = time.perf_counter() - t0
    CPU_SEEN.append((time.process_time() - c0, dt))
    assert r.ok, r.message
    return dt


def cpu_ratio():
    progs = {k: CPU.replace("PER", str(WORK // k)).replace("THREADS", str(k)) for k in (1, 2)}
    for w in progs.values():
        wall(w)  # compile once, outside the figures
    ones, twos, busy = [], [], []
    for _ in range(REPEAT):  # interleaved: both see the same machine load
        ones.append(wall(progs[1]))
        twos.append(wall(progs[2]))
        busy.append(CPU_SEEN[-1][0] / CPU_SEEN[-1][1])
    ratios = [b / a for a, b in zip(ones, twos)]
    print(
        f"cpu_2_threads_vs_1 wall ratio (target <= 0.6) median {statistics.median(ratios):.2f} "
        f"worst {max(ratios):.2f}; 1 thread {statistics.median(ones):.3f} s, 2 threads "
        f"{statistics.median(twos):.3f} s, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
        f"2-thread run cpu/wall {statistics.median(busy):.2f} (2.0 = both threads always on a core)"
    )


def futex_wake_rate():
    wake = (
        CALL_LOOP.replace("IMPORT", "futex_wake")
        .replace("SIG", "(param i32 i32) (result i32)")
        .replace("ARGS", "(i32.const 64) (i32.const 100)")
        .replace("N)", f"{CALLS})")
    )
    noop = (
        CALL_LOOP.replace("IMPORT", "thread_id")
        .replace("SIG", "(param i32) (result i32)")
        .replace("ARGS", "(i32.const 100)")
        .replace("N)", f"{CALLS})")
    )
    wall(wake)
    wall(noop)
    ratios, rates = [], []
    for _ in range(REPEAT):
        a, b = wall(noop), wall(wake)
        ratios.append(a / b)
        rates.append(CALLS / b)
    print(
        f"futex_wake_vs_noop_call calls/s ratio (report) median {statistics.median(ratios):.2f} "
        f"worst {min(ratios):.2f}; futex_wake {statistics.median(rates):,.0f} calls/s (traced), "
        f"no-op: thread_id"
    )


def realwasix():
    d = os.environ.get("WASIX_NB_REALWASIX") or os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "realwasix"
    )
    path = os.path.join(d, "example-multi-threading.wasm")
    return path if os.path.isfile(path) else None


WASMER_CHILD = """
import asyncio, os, sys, time
from pathlib import Path
from wasmer_sdk import Wasmer
async def main():
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wasmer-sdk")
    async with Wasmer(cache_root=cache) as w:
        pkg = await w.packages.load(Path(sys.argv[1]).read_bytes())
        async with await w.sandboxes.create(packages=[pkg]) as sb:
            for _ in range(int(sys.argv[2])):
                t0 = time.perf_counter()
                p = await sb.command(pkg, []).spawn(stdout="discard", stderr="discard")
                await p.wait()
                print(time.perf_counter() - t0, flush=True)
asyncio.run(main())
"""


def multi_threading_vs_wasmer():
    path = realwasix()
    if path is None:
        print("multi_threading_vs_wasmer: skipped (no real WASIX binaries: set WASIX_NB_REALWASIX)")
        return
    try:
        import wasmer_sdk  # noqa: F401
    except ImportError:
        print("multi_threading_vs_wasmer: skipped (wasmer-sdk not installed: pip install 'wasix_nb[compare]')")
        return
    n = 2 if QUICK else 5
    wall(path)
    ours = [wall(path) for _ in range(n)]
    out = subprocess.run(
        [sys.executable, "-c", WASMER_CHILD, path, str(n + 1)], capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        print(f"multi_threading_vs_wasmer: wasmer-sdk failed: {out.stderr.strip()[-300:]}")
        return
    theirs = [float(x) for x in out.stdout.split()][1:]  # the first run warms its cache
    print(
        f"multi_threading wall ratio wasix_nb/wasmer-sdk (report) {statistics.median(ours) / statistics.median(theirs):.2f}; "
        f"wasix_nb {statistics.median(ours):.3f} s, wasmer-sdk {statistics.median(theirs):.3f} s"
    )


if __name__ == "__main__":
    cpu_ratio()
    futex_wake_rate()
    multi_threading_vs_wasmer()
