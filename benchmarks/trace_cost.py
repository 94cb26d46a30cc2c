"""What tracing costs per host call: wasix_nb (trace on) vs the same calls linked bare, side by side.

    python benchmarks/trace_cost.py [--quick]

Both sides link through wasix_nb's raw-call layer (`_raw_calls.define`), so the ratio is the cost of
the tracing (and of wasix_nb's own host function) alone.  Each figure is CPU time of this thread per
call, from two runs of N1 and N2 calls (the difference cancels a run's fixed costs: compile, link,
instantiate, the Result), best of several rounds: on a busy machine CPU time is steadier than wall time.
Higher is better; the aim of issue 14 is >= 0.9 (sock_open+fd_close) and >= 0.5 (a trivial call).

1. sock_open+fd_close pairs: wasix_nb vs a bare host that opens a real UDP socket and closes it
2. clock_time_get: wasix_nb vs a no-op import
3. sock_send+sock_recv of 17 bytes on a connected UDP socket (payload calls: the trace copies what was
   sent and what was received): wasix_nb as users run it vs the same host functions behind a bare
   one-frame wrapper (no trace): the trace's own cost on the calls a server makes per request
"""

import socket
import statistics
import sys
import time

import wasmtime

from wasix_nb import _raw_calls
from wasix_nb import compile as wcompile
from wasix_nb.abi.errno import WasiError
from wasix_nb.abi.memory import Fault
from wasix_nb.host import registry
from wasix_nb.process import Process

QUICK = "--quick" in sys.argv
N1, N2 = (2_000, 10_000) if QUICK else (5_000, 45_000)
ROUNDS = 3 if QUICK else 7
I32, I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

OPEN_CLOSE = """(module
  (import "wasix_32v1" "sock_open" (func $open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 64)))
      (drop (call $close (i32.load (i32.const 64))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const COUNT))))))"""

CLOCK = """(module
  (import "wasix_32v1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 64)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const COUNT))))))"""


PAYLOAD = """(module
  (import "wasix_32v1" "sock_open" (func $open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_addr_local" (func $local (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_connect" (func $connect (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_send" (func $send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_recv" (func $recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\01\\00\\00\\00\\7f\\00\\00\\01")
  (data (i32.const 256) "HTTP/1.1 200 OK\\0d\\0a")
  (func (export "_start") (local $i i32) (local $fd i32)
    (drop (call $open (i32.const 1) (i32.const 2) (i32.const 0) (i32.const 64)))
    (local.set $fd (i32.load (i32.const 64)))
    (drop (call $bind (local.get $fd) (i32.const 0)))
    (drop (call $local (local.get $fd) (i32.const 128)))
    (drop (call $connect (local.get $fd) (i32.const 128)))
    (i32.store (i32.const 512) (i32.const 256)) (i32.store (i32.const 516) (i32.const 17))
    (i32.store (i32.const 520) (i32.const 1024)) (i32.store (i32.const 524) (i32.const 1024))
    (loop $l
      (drop (call $send (local.get $fd) (i32.const 512) (i32.const 1) (i32.const 0) (i32.const 600)))
      (drop (call $recv (local.get $fd) (i32.const 520) (i32.const 1) (i32.const 0) (i32.const 604) (i32.const 608)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const COUNT))))))"""


def bare_wrap(call, host, rules=(), name=None):
    """registry.wrap without the trace: the host function behind one raw callback frame (what the
    traced path costs more than this is the trace)."""
    fn = call.fn

    def factory(unpack, pack, space, trap):
        def callback(env, caller, raw, n):
            try:
                try:
                    r = fn(host, *unpack(space, raw))
                    err = r if r.__class__ is int else r[0]
                except WasiError as e:
                    err = e.errno
                except Fault:
                    err = 21
                if pack is not None:
                    pack(space, raw, err)
                return 0
            except BaseException as e:  # noqa: BLE001
                return trap(e)

        return callback

    def plain(*args):
        raise AssertionError("bare_wrap is only linked through its raw callback")

    plain.raw = factory
    return plain


def untraced(wat, n):
    real = registry.wrap
    registry.wrap = bare_wrap
    try:
        return ours(wat, n)
    finally:
        registry.wrap = real


def ours(wat, n):
    p = Process(wat.replace("COUNT", str(n)))
    t = time.thread_time()
    r = p.run()
    dt = time.thread_time() - t
    assert r.outcome == "returned", r.message
    return dt


def bare(wat, n, funcs):
    """`funcs(state)` -> {(module, name): (FuncType, fn)}; state gets the store and memory."""
    engine = wcompile.POOL.checkout()
    try:
        module = wcompile.POOL.module(engine, wcompile.Source.load(wat.replace("COUNT", str(n))))
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1 << 30)
        linker = wasmtime.Linker(engine)
        keep, state = [], {}
        for (mod, name), (ty, fn) in funcs(state).items():
            _raw_calls.define(linker, mod, name, ty, fn, keep)
        inst = linker.instantiate(store, module)
        state["mem"], state["store"] = inst.exports(store)["memory"], store
        t = time.thread_time()
        inst.exports(store)["_start"](store)
        return time.thread_time() - t
    finally:
        wcompile.POOL.give_back(engine)


def bare_sockets(state):
    table = {}

    def sock_open(af, ty, proto, out):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fd = 3
        while fd in table:
            fd += 1
        table[fd] = s
        state["mem"].write(state["store"], fd.to_bytes(4, "little"), out)
        return 0

    def fd_close(fd):
        s = table.pop(fd, None)
        if s is None:
            return 8
        s.close()
        return 0

    return {
        ("wasix_32v1", "sock_open"): (wasmtime.FuncType([I32] * 4, [I32]), sock_open),
        ("wasix_32v1", "fd_close"): (wasmtime.FuncType([I32], [I32]), fd_close),
    }


def noop(state):
    return {("wasix_32v1", "clock_time_get"): (wasmtime.FuncType([I32, I64, I32], [I32]), lambda a, b, c: 0)}


def per_call(fn, *a):
    """CPU seconds per call: best of a few runs at N2 minus best at N1, over N2 - N1."""
    hi = min(fn(*a[:1], N2, *a[1:]) for _ in range(3))
    lo = min(fn(*a[:1], N1, *a[1:]) for _ in range(3))
    return max(hi - lo, 1e-9) / (N2 - N1)


def main():
    ours(CLOCK, 10), bare(CLOCK, 10, noop), ours(OPEN_CLOSE, 10)  # compile caches, engines
    untraced(PAYLOAD, 10), ours(PAYLOAD, 10)
    rows = {"open_close": [], "clock": [], "payload": []}
    for _ in range(ROUNDS):
        o, b = per_call(ours, OPEN_CLOSE), per_call(bare, OPEN_CLOSE, bare_sockets)
        rows["open_close"].append((b / o, o, b))
        o, b = per_call(ours, CLOCK), per_call(bare, CLOCK, noop)
        rows["clock"].append((b / o, o, b))
        o, b = per_call(ours, PAYLOAD), per_call(untraced, PAYLOAD)
        rows["payload"].append((b / o, o / 2, b / 2))
    for name, target, what in (
        ("open_close", 0.9, "sock_open+fd_close vs bare host"),
        ("clock", 0.5, "clock_time_get vs no-op import"),
        ("payload", None, "sock_send+sock_recv traced vs the same host untraced"),
    ):
        r = rows[name]
        med = statistics.median(x[0] for x in r)
        print(
            f"trace_cost_{name} {med:.2f} ({f'aim >= {target}' if target else 'report'}; {what}; median of {len(r)}: "
            f"{' '.join(f'{x[0]:.2f}' for x in r)}; wasix_nb {statistics.median(x[1] for x in r) * 1e9:.0f} ns, "
            f"bare {statistics.median(x[2] for x in r) * 1e9:.0f} ns CPU per call)"
        )


if __name__ == "__main__":
    main()
