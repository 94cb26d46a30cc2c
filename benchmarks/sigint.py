"""The kernel's interrupt, measured side by side in one run; prints medians and ratios.

    python benchmarks/sigint.py [--quick]

Time from `Process.interrupt()` to the end of the run, for a program that handles SIGINT itself (its
handler runs, the program ends with its own code) vs the same program without a handler (stopped as
`interrupted`), in pure wasm (the handler runs at an epoch tick) and blocked in poll_oneoff (the wait
ends with INTR).  Both stay far below the 1 s the kernel promises (docs/threads.md).
"""

import statistics
import sys
import time

from wasix_nb.runtime import Process

QUICK = "--quick" in sys.argv
N = 5 if QUICK else 25

# 160: a poll_oneoff clock subscription of one hour; 400: the handler's name
SUB = (1).to_bytes(8, "little") + bytes(8) + (1).to_bytes(4, "little") + bytes(4) + (3600 * 10**9).to_bytes(8, "little")
SUB += bytes(48 - len(SUB))


def program(handler: bool, wait: str) -> str:
    sub = "".join(f"\\{b:02x}" for b in SUB)
    body = {
        "spin": "(loop $l (br_if $l (i32.eqz (i32.load (i32.const 76)))))",
        "poll": "(drop (call $poll (i32.const 160) (i32.const 256) (i32.const 1) (i32.const 120)))",
    }[wait]
    return f"""(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 160) "{sub}")
  (data (i32.const 400) "__wasm_signal")
  (func (export "__wasm_signal") (param $sig i32) (i32.store (i32.const 76) (local.get $sig)))
  (func (export "_start")
    {"(call $cb (i32.const 400) (i32.const 13))" if handler else ""}
    {body}))"""


def latency(src, handler):
    xs, outcome = [], None
    for _ in range(N):
        p = Process(src, timeout=30).start()
        end = time.monotonic() + 10
        while not (p.status == "running" and (p.signal_handler is not None or not handler)):
            if time.monotonic() > end:
                raise RuntimeError("the program did not start")
            time.sleep(0.005)
        time.sleep(0.05)  # into its loop or its wait
        t0 = time.perf_counter()
        p.interrupt()
        r = p.wait(10)
        xs.append(time.perf_counter() - t0)
        outcome = r.outcome
    return statistics.median(xs), max(xs), outcome


def main():
    for wait in ("spin", "poll"):
        h, hmax, ho = latency(program(True, wait), True)
        s, smax, so = latency(program(False, wait), False)
        print(
            f"{wait:4s}: handler -> {ho}: median {h * 1e3:.2f} ms (max {hmax * 1e3:.2f}); "
            f"no handler -> {so}: median {s * 1e3:.2f} ms (max {smax * 1e3:.2f}); ratio {h / s:.2f}"
        )


if __name__ == "__main__":
    main()
