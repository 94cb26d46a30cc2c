"""The host-call fuzzer: every registered host function called with random and boundary arguments.

    python tests/fuzz_host.py --calls 3000 --seed 1 [--memory exported|shared]

Every import in `registry.TABLE` (so calls other modules add later are fuzzed too) is imported by one
module and re-exported; the fuzzer calls them from Python with arguments drawn per parameter kind: 0,
-1, 2^31, the end of memory, huge counts, random values, pointers into a memory pre-filled with plausible
iovecs, addresses, subscriptions and strings, and out-pointers that overlap each other.  Checked after
every call: no exception other than a program-ending one (exit, cancel) escapes, and no call succeeds
with a pointer that lies wholly outside memory; at the end: no host error (IO from a Python exception),
no OS descriptor left open, the kernel's descriptor budget given back.  Blocking calls are bounded
generically: a watchdog cancels the host when one call takes longer than WATCHDOG seconds, as a kill
would, and the host is then made runnable again; when something ends the process for good (a spawned
thread's trap, a signal), the next call goes to a fresh process.  Prints one JSON line; exit status 1 on any failure.
"""

import argparse
import json
import os
import random
import resource
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wasix_nb import _raw_calls  # noqa: E402
from wasix_nb.host import calls as _calls  # noqa: E402,F401  (registers every syscall)
from wasix_nb.host import registry  # noqa: E402
from wasix_nb.host.registry import Control  # noqa: E402

WATCHDOG = 0.01  # seconds one call may block before the host is cancelled
PAGES = 2
_PTR_KINDS = {"ptr", "addr"}
_MASK32 = 0xFFFFFFFF


def fuzz_wat(shared: bool):
    """(wat, [(export name, module, import name, Syscall)]) importing every TABLE entry once."""
    entries, lines, funcs = [], [], []
    for i, ((mod, imp), call) in enumerate(sorted(registry.TABLE.items())):
        params, results = call.wasm_type
        p = f" (param {' '.join(params)})" if params else ""
        r = f" (result {' '.join(results)})" if results else ""
        lines.append(f'  (import "{mod}" "{imp}" (func $f{i}{p}{r}))')
        gets = " ".join(f"(local.get {j})" for j in range(len(params)))
        funcs.append(f'  (func (export "f{i}"){p}{r} (call $f{i} {gets}))')
        entries.append((f"f{i}", mod, imp, call))
    memory = (
        f'  (import "env" "memory" (memory {PAGES} {PAGES} shared))'
        if shared
        else f'  (memory (export "memory") {PAGES})'
    )
    wat = "(module\n" + "\n".join(lines) + "\n" + memory + "\n" + "\n".join(funcs) + '\n  (func (export "_start")))'
    return wat, entries


def open_os_fds():
    n = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if "wasm-memory-image" in os.readlink(f"/proc/self/fd/{name}"):
                continue
        except OSError:
            continue
        n += 1
    return n


class Watchdog:
    """One thread: cancels `host` when an armed call outlives its deadline."""

    def __init__(self, seconds):
        self.seconds, self.fired = seconds, 0
        self.cv = threading.Condition()
        self.deadline = self.host = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True, name="fuzz-watchdog")
        self.thread.start()

    def arm(self, host):
        with self.cv:
            self.host, self.deadline = host, time.monotonic() + self.seconds
            self.cv.notify()

    def disarm(self):
        with self.cv:
            self.deadline = None

    def stop(self):
        with self.cv:
            self.stopped = True
            self.cv.notify()
        self.thread.join()

    def _run(self):
        with self.cv:
            while not self.stopped:
                if self.deadline is None:
                    self.cv.wait()
                    continue
                left = self.deadline - time.monotonic()
                if left > 0:
                    self.cv.wait(left)
                    continue
                self.deadline = None
                self.fired += 1
                self.host.cancel("fuzz watchdog")


def uncancel(host):
    """Make a cancelled host runnable again (fuzz only: a real run ends when cancelled)."""
    host.cancelled.clear()
    host.cancel_reason = None
    try:
        while os.read(host.wake_fd, 4096):
            pass
    except OSError:
        pass


class Fuzzer:
    def __init__(self, rng, entries):
        self.rng, self.entries = rng, entries
        self.last_ptr = 0

    def attach(self, shim):
        """Fuzz this (fresh) process from now on."""
        self.k, self.host, self.mem = shim, shim.host, shim.mem
        self.exports, self.store = shim._exports, shim.proc.store
        self.size = self.mem.size
        self.seed_memory()

    # -- memory full of plausible structures -------------------------------------------------------------
    def seed_memory(self):
        r, m, size = self.rng, self.mem, self.size
        buf = bytearray(size)
        for i in range(16):  # iovecs at 0: small buffers from 8192 on
            struct.pack_into("<II", buf, 8 * i, 8192 + 512 * i, r.choice((0, 1, 16, 256, 512)))
        struct.pack_into("<BxH4s20x", buf, 512, 1, r.randrange(65536), bytes([127, 0, 0, 1]))
        struct.pack_into("<BxH16s8x", buf, 768, 2, r.randrange(65536), bytes(15) + b"\x01")
        buf[640:642] = bytes([3, 0])
        buf[642:650] = b"/f.sock\0"
        for i, (tag, which, t) in enumerate(((0, 1, 1_000_000), (1, 3, 0), (2, 4, 0), (0, 0, 2**63))):
            struct.pack_into("<QB7xI4xQQH6x", buf, 1024 + 48 * i, i, tag, which, t, 0, 0)
        struct.pack_into("<B7xQ", buf, 1536, 1, 1_000_000)
        buf[2048:2058] = b"localhost\0"
        buf[2064:2068] = b"a/b\0"
        buf[3000:3100] = r.randbytes(100)
        buf[size - 64 :] = r.randbytes(64)
        m.write(0, bytes(buf))

    def scramble(self):
        """Random bytes over a random small region (new random structures)."""
        r = self.rng
        n = r.choice((4, 8, 16, 48, 110))
        at = r.randrange(0, self.size - n)
        self.mem.write(at, r.randbytes(n))

    # -- arguments ---------------------------------------------------------------------------------------
    def arg(self, kind, wasm):
        r = self.rng
        size = self.size
        if wasm == "i64":
            return r.choice(
                (0, 1, 1000, 10**6, 10**9, 2**31, 2**32, 2**63 - 1, -1, -(2**63), r.getrandbits(64) - 2**63)
            )
        if kind == "fd":
            fds = list(self.host.fds.entries) or [0]
            return r.choice((r.choice(fds), r.choice(fds), r.randrange(0, 12), -1, 2**31 - 1, 1024, 65536))
        if kind in _PTR_KINDS:
            p = r.choice(
                (
                    0,
                    8,
                    512,
                    640,
                    768,
                    1024,
                    1536,
                    2048,
                    3000,
                    r.randrange(size),
                    size - 1,
                    size - 2,
                    size - 4,
                    size - 8,
                    size - 16,
                    size,
                    size + 1,
                    2**31,
                    -1,
                    -8,
                    self.last_ptr,
                    self.last_ptr + r.choice((0, 1, 2, 4)),
                )
            )
            self.last_ptr = p & _MASK32
            return p
        if kind == "len":
            return r.choice((0, 1, 2, 4, 8, 16, 17, 100, 1024, 1025, 65536, 2**24, 2**31, -1, r.getrandbits(32)))
        return r.choice(
            (0, 1, 2, 3, 4, 5, 6, 8, 13, 16, 17, 19, 23, 24, 26, 255, 0x2001, 0x4002, 2**31, -1, r.getrandbits(32))
        )

    # -- one call ------------------------------------------------------------------------------------------
    def call(self, entry, watchdog, failures):
        name, mod, imp, sc = entry
        kinds = [k for _, k in sc.params]
        wasm = sc.wasm_type[0]
        args = [self.arg(k, w) for k, w in zip(kinds, wasm)]
        args = [
            (a & _MASK32) - (1 << 32)
            if w == "i32" and a & _MASK32 >= 1 << 31
            else (a & _MASK32 if w == "i32" else ((a + 2**63) % 2**64) - 2**63)
            for a, w in zip(args, wasm)
        ]
        host = self.host
        errors_before = len(host.host_errors)
        watchdog.arm(host)
        self.ended = False
        try:
            rc = _raw_calls.call(self.exports[name], self.store, *args)
        except Control:  # exit, a signal's default action, or the watchdog's cancel
            rc = None
        except BaseException as e:  # noqa: BLE001 - the finding, unless the process was ending anyway
            rc = None
            if "process is stopping" in str(e) and (host.cancelled.is_set() or self.k.proc._decided.is_set()):
                self.ended = True  # stopped from elsewhere (a spawned thread's trap, a signal)
            else:
                failures.append(f"{mod}.{imp}{tuple(args)} raised {type(e).__name__}: {e}"[:500])
        finally:
            watchdog.disarm()
        if self.k.proc._decided.is_set():
            self.ended = True
        elif host.cancelled.is_set():
            uncancel(host)  # what a kill would have ended: make the process runnable again
        if len(host.host_errors) > errors_before:
            failures.append(f"{mod}.{imp}{tuple(args)} host error: {host.host_errors[-1][2][-400:]}")
        if rc == 0:
            size = self.mem.size
            for (pname, k), a in zip(sc.params, args):
                if k in _PTR_KINDS and a & _MASK32 > size:
                    failures.append(
                        f"{mod}.{imp}{tuple(args)} succeeded with {pname}={a & _MASK32:#x} "
                        f"past the end of memory ({size:#x})"
                    )
        return rc


def run(calls, seed, memory):
    from watlib import Shim
    from wasix_nb.host.fdtable import BUDGET

    wat, entries = fuzz_wat(memory == "shared")

    class FuzzShim(Shim):
        def __init__(self):
            from wasix_nb.process import Process

            self.proc = Process(wat, name="fuzz")
            self.proc.instantiate()
            self.host = self.proc.host
            self.mem = self.host.mem
            self._exports = self.proc.instance.exports(self.proc.store)

    FuzzShim().close()  # warm up: the compiled module, the engine pool
    fds_before, budget_before = open_os_fds(), BUDGET.used
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    rng = random.Random(seed)
    failures, errnos, watchdog = [], {}, Watchdog(WATCHDOG)
    t0 = time.monotonic()
    f = Fuzzer(rng, entries)
    k, processes = None, 0
    try:
        for i in range(calls):
            if k is None:  # a fresh process after one ended (exit, signal, watchdog)
                k = FuzzShim()
                processes += 1
                f.attach(k)
            if i % 50 == 0:
                f.scramble()
            if i % 500 == 499:
                f.seed_memory()
            rc = f.call(rng.choice(entries), watchdog, failures)
            errnos[rc] = errnos.get(rc, 0) + 1
            if f.ended:
                k.close()
                k = None
            if len(failures) > 20:
                break
    finally:
        if k is not None:
            k.close()
        watchdog.stop()
    fds_after = open_os_fds()
    if fds_after != fds_before:
        failures.append(f"OS descriptors: {fds_before} before, {fds_after} after")
    if BUDGET.used != budget_before:
        failures.append(f"descriptor budget: {budget_before} used before, {BUDGET.used} after")
    return {
        "memory": memory,
        "seed": seed,
        "calls": calls,
        "functions": len(entries),
        "watchdog_cancels": watchdog.fired,
        "processes": processes,
        "rss_before_mib": rss_before,
        "seconds": round(time.monotonic() - t0, 2),
        "errnos": {str(k): v for k, v in sorted(errnos.items(), key=lambda kv: str(kv[0]))},
        "failures": failures,
    }


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--memory", choices=("exported", "shared", "both"), default="both")
    a = p.parse_args(argv)
    kinds = ("exported", "shared") if a.memory == "both" else (a.memory,)
    reports = [run(a.calls, a.seed + i, m) for i, m in enumerate(kinds)]
    print(json.dumps(reports))
    return 1 if any(r["failures"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
