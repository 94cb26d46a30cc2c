"""posix_spawn vs fork, measured side by side in one run; prints rates and their ratio.

    python benchmarks/spawn.py [--quick]

spawn + exit + join round trips per second (`proc_spawn2` of a mapped program that returns at once,
then `proc_join`) vs fork + exit + join of a 64 KiB program (benchmarks/procs.py's loop): the ratio
spawn/fork is a report, not a bound.  A rate is N round trips over the wall time of a run with N minus
a run with none, so compiling, instantiating and starting the parent are not counted.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wasix_nb  # noqa: E402
from procs import SIZES, program  # noqa: E402

QUICK = "--quick" in sys.argv
REPEAT = 3 if QUICK else 5
N = 20 if QUICK else 100

CHILD = '(module (memory (export "memory") 1) (func (export "_start")))'
SPAWN_LOOP = """(module
  (import "wasix_32v1" "proc_spawn2" (func $spawn (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_join" (func $join (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "child")
  (func (export "_start") (local $i i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const N)))
      (drop (call $spawn (i32.const 100) (i32.const 5) (i32.const 100) (i32.const 5) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (i32.store8 (i32.const 16) (i32.const 0))
      (drop (call $join (i32.const 16) (i32.const 0) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))))"""


def wall(src):
    t0 = time.perf_counter()
    r = wasix_nb.run(src, timeout=600, max_procs=8, commands={"child": CHILD}, dirs=[])
    dt = time.perf_counter() - t0
    assert r.ok, r.message
    return dt


def main():
    progs = {
        "spawn": (
            SPAWN_LOOP.replace("(i32.const N)", "(i32.const 0)"),
            SPAWN_LOOP.replace("(i32.const N)", f"(i32.const {N})"),
        ),
        "fork": (program(SIZES["64KiB"], 0), program(SIZES["64KiB"], N)),
    }
    for zero, many in progs.values():
        wall(zero), wall(many)  # compile (and asyncify) once, outside the figures
    samples = {k: [] for k in progs}
    for _ in range(REPEAT):  # interleaved: both see the same machine load
        for k, (zero, many) in progs.items():
            samples[k].append(N / max(1e-9, wall(many) - wall(zero)))
    rate = {k: statistics.median(v) for k, v in samples.items()}
    print(
        f"spawn_exit_join {rate['spawn']:,.0f}/s, fork_exit_join (64 KiB) {rate['fork']:,.0f}/s; "
        f"ratio spawn/fork (report) {rate['spawn'] / rate['fork']:.2f}"
    )


if __name__ == "__main__":
    main()
