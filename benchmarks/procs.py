"""Processes, measured side by side in one run; prints ratios.

    python benchmarks/procs.py [--quick]

1. fork + exit + join round trips per second, a program with 64 KiB of memory vs one with 16 MiB
   untouched vs 16 MiB it has written (the copy of memory a fork makes): rate ratio          report
3. an accept-and-fork echo server vs the same server with a thread per connection: connections
   served per second (connect, 5 bytes there and back, close; one client at a time)          report
2. the same programs under wasmer-sdk (the reference runtime), when installed: rate ratio
   wasix_nb / wasmer-sdk                                                                   report
   (pip install 'wasix_nb[compare]'; the program is the same asyncified wasm for both)

A rate is (N - 0) forks over the wall time of a run with N forks minus a run with none, so compiling,
instantiating and starting are not counted.
"""

import os
import statistics
import subprocess
import sys
import time

import wasmtime

import wasix_nb
from wasix_nb import wasmopt

QUICK = "--quick" in sys.argv
REPEAT = 3 if QUICK else 5
FORKS = 20 if QUICK else 100

# fork N times; the child exits at once, the parent joins it
FORK_LOOP = """(module
  (import "wasix_32v1" "proc_fork" (func $fork (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_join" (func $join (param i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (import "env" "memory" (memory PAGES 65536 shared))       ;; as real WASIX programs have it
  (global (export "__stack_pointer") (mut i32) (i32.const 65536))   ;; a C stack: 2048..65536
  (global (export "__data_end") i32 (i32.const 2048))
  (global (export "__heap_base") i32 (i32.const 65536))
  (func (export "_start") (local $i i32)
    FILL
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const N)))
      (drop (call $fork (i32.const 1) (i32.const 0)))
      (if (i32.eqz (i32.load (i32.const 0))) (then (call $exit (i32.const 0))))
      (i32.store8 (i32.const 16) (i32.const 0))
      (drop (call $join (i32.const 16) (i32.const 0) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))))"""

# pages, and whether the program first writes all of it (a fork copies only what differs from a fresh
# memory, so an untouched 16 MiB costs little; a written one is the real copy cost)
SIZES = {"64KiB": (1, False), "16MiB": (256, False), "16MiB-written": (256, True)}
FILL_ALL = "(memory.fill (i32.const 65536) (i32.const 7) (i32.const 16711680))"


def program(size, n):
    pages, written = size
    return (
        FORK_LOOP.replace("PAGES", str(pages))
        .replace("(i32.const N)", f"(i32.const {n})")
        .replace("FILL", FILL_ALL if written else "")
    )


def wall(src):
    t0 = time.perf_counter()
    r = wasix_nb.run(src, timeout=600, max_procs=8)
    dt = time.perf_counter() - t0
    assert r.ok, r.message
    return dt


def ours():
    rates = {}
    progs = {k: (program(size, 0), program(size, FORKS)) for k, size in SIZES.items()}
    for zero, many in progs.values():
        wall(zero), wall(many)  # compile and asyncify once, outside the figures
    samples = {k: [] for k in SIZES}
    for _ in range(REPEAT):  # interleaved: both sizes see the same machine load
        for k, (zero, many) in progs.items():
            samples[k].append(FORKS / max(1e-9, wall(many) - wall(zero)))
    for k in SIZES:
        rates[k] = statistics.median(samples[k])
    print(
        f"fork_exit_join round trips/s: 64 KiB {rates['64KiB']:,.0f}, 16 MiB {rates['16MiB']:,.0f}, "
        f"16 MiB written {rates['16MiB-written']:,.0f}; ratio 16MiB-written/64KiB (report) "
        f"{rates['16MiB-written'] / rates['64KiB']:.2f}"
    )
    return rates


WASMER_CHILD = """
import asyncio, os, sys, time
from wasmer_sdk import Wasmer
async def main():
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wasmer-sdk")
    async with Wasmer(cache_root=cache) as w:
        pkgs = [await w.packages.load(open(p, "rb").read()) for p in sys.argv[2:]]
        async with await w.sandboxes.create(packages=pkgs) as sb:
            for _ in range(int(sys.argv[1])):
                for pkg in pkgs:
                    t0 = time.perf_counter()
                    p = await sb.command(pkg, []).spawn(stdout="discard", stderr="discard")
                    await p.wait()
                    print(time.perf_counter() - t0, end=" ", flush=True)
                print(flush=True)
asyncio.run(main())
"""


def versus_wasmer(rates, tmp):
    try:
        import wasmer_sdk  # noqa: F401
    except ImportError:
        print("fork_vs_wasmer: skipped (wasmer-sdk not installed: pip install 'wasix_nb[compare]')")
        return
    if wasmopt.wasm_opt() is None:
        print("fork_vs_wasmer: skipped (wasm-opt not found)")
        return
    paths = []
    for k, size in SIZES.items():
        for n in (0, FORKS):
            p = os.path.join(tmp, f"fork-{k}-{n}.wasm")
            with open(p, "wb") as fp:
                fp.write(wasmopt.prepare(wasmtime.wat2wasm(program(size, n))))
            paths.append(p)
    out = subprocess.run(
        [sys.executable, "-c", WASMER_CHILD, str(REPEAT + 1), *paths], capture_output=True, text=True, timeout=900
    )
    rows = [[float(x) for x in line.split()] for line in out.stdout.splitlines() if len(line.split()) == len(paths)]
    rows = rows[1:]  # the first round warms wasmer's cache
    if not rows:  # (wasmer-sdk may abort at interpreter exit after printing: only the rows count)
        print(f"fork_vs_wasmer: wasmer-sdk failed: {out.stderr.strip()[-300:]}")
        return
    for i, k in enumerate(SIZES):
        theirs = statistics.median(FORKS / max(1e-9, r[2 * i + 1] - r[2 * i]) for r in rows)
        print(
            f"fork_exit_join {k}: wasix_nb {rates[k]:,.0f}/s, wasmer-sdk {theirs:,.0f}/s; "
            f"ratio wasix_nb/wasmer-sdk (report) {rates[k] / theirs:.2f}"
        )


ECHO_BODY = """
  (func $serve (param $c i32)
    (local $n i32) (local $at i32)
    (local.set $at (i32.add (i32.const 4096) (i32.mul (local.get $c) (i32.const 1024))))
    (block $eof (loop $more
      (i32.store (local.get $at) (i32.add (local.get $at) (i32.const 32)))
      (i32.store offset=4 (local.get $at) (i32.const 992))
      (br_if $eof (call $fd_read (local.get $c) (local.get $at) (i32.const 1) (i32.add (local.get $at) (i32.const 8))))
      (local.set $n (i32.load offset=8 (local.get $at)))
      (br_if $eof (i32.eqz (local.get $n)))
      (i32.store offset=4 (local.get $at) (local.get $n))
      (drop (call $fd_write (local.get $c) (local.get $at) (i32.const 1) (i32.add (local.get $at) (i32.const 8))))
      (br $more)))
    (drop (call $fd_close (local.get $c))))"""
SERVER_IMPORTS = """
  (import "env" "memory" (memory 4 4 shared))
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_accept" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $fd_close (param i32) (result i32)))
  (data (i32.const 32) "\\01\\00\\00\\00\\7f\\00\\00\\01")"""
LISTEN = """
    (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
    (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
    (drop (call $sock_listen (i32.load (i32.const 0)) (i32.const 64)))"""
FORK_SERVER = f"""(module {SERVER_IMPORTS}
  (import "wasix_32v1" "proc_fork" (func $fork (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_join" (func $join (param i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (global (export "__stack_pointer") (mut i32) (i32.const 4096))
  (global (export "__data_end") i32 (i32.const 1024))
  {ECHO_BODY}
  (func (export "_start") {LISTEN}
    (loop $accept
      (drop (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 64)))
      (drop (call $fork (i32.const 1) (i32.const 8)))
      (if (i32.eqz (i32.load (i32.const 8)))
        (then (drop (call $fd_close (i32.load (i32.const 0))))
              (call $serve (i32.load (i32.const 4)))
              (call $exit (i32.const 0))))
      (drop (call $fd_close (i32.load (i32.const 4))))
      (block $reaped (loop $reap
        (i32.store8 (i32.const 16) (i32.const 0))
        (drop (call $join (i32.const 16) (i32.const 1) (i32.const 24)))
        (br_if $reaped (i32.ne (i32.load8_u (i32.const 24)) (i32.const 1)))
        (br $reap)))
      (br $accept))))"""
THREAD_SERVER = f"""(module {SERVER_IMPORTS}
  (import "wasix_32v1" "thread_spawn" (func $spawn (param i32 i32) (result i32)))
  {ECHO_BODY}
  (func (export "wasi_thread_start") (param $tid i32) (param $fd i32) (call $serve (local.get $fd)))
  (func (export "_start") {LISTEN}
    (loop $accept
      (drop (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 64)))
      (drop (call $spawn (i32.load (i32.const 4)) (i32.const 8)))
      (br $accept))))"""
CONNECTIONS = 30 if QUICK else 200


def served_per_second(src):
    import socket

    p = wasix_nb.Process(src, max_procs=256).start()
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline:
            rows = [r for r in p.host.fds.rows() if r["state"] == "listening"]
            port = int(rows[0]["local"].rsplit(":", 1)[1]) if rows else None
            time.sleep(0.01)
        t0 = time.perf_counter()
        for _ in range(CONNECTIONS):
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"hello")
                assert c.recv(100) == b"hello"
        return CONNECTIONS / (time.perf_counter() - t0)
    finally:
        p.kill()


def servers():
    served_per_second(FORK_SERVER)  # compile and asyncify once
    forks, threads = [], []
    for _ in range(REPEAT):
        forks.append(served_per_second(FORK_SERVER))
        threads.append(served_per_second(THREAD_SERVER))
    f, t = statistics.median(forks), statistics.median(threads)
    print(
        f"echo server connections/s: fork per connection {f:,.0f}, thread per connection {t:,.0f}; "
        f"ratio fork/thread (report) {f / t:.2f}"
    )


if __name__ == "__main__":
    import tempfile

    if wasmopt.wasm_opt() is None:
        print("procs: skipped (wasm-opt not found: apt-get install binaryen)")
        sys.exit(0)
    r = ours()
    servers()
    with tempfile.TemporaryDirectory() as d:
        versus_wasmer(r, d)
