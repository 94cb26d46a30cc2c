"""WAT programs shared by the view tests and the benchmark."""

from wasix_nb.host import registry

# ONE-LINE SWITCH: None = wait with poll_oneoff when the host has it (branch `sock`), else busy-wait on
# clock_time_get; False = always busy-wait; True = always poll_oneoff.
USE_POLL_ONEOFF = None


def clock_loop(n: int) -> str:
    """A loop making `n` clock_time_get calls and nothing else."""
    return f"""(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $ct (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $ct (i32.const 1) (i64.const 0) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))))"""


_BUSY_WAIT = """
  (func $wait_ms (param $ms i64) (local $start i64) (local $k i32)
    (drop (call $ct (i32.const 1) (i64.const 0) (i32.const 16)))
    (local.set $start (i64.load (i32.const 16)))
    (loop $l
      ;; spin in wasm between clock reads, so the trace gets a few thousand calls, not millions
      (local.set $k (i32.const 0))
      (loop $s (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $s (i32.lt_u (local.get $k) (i32.const 300000))))
      (drop (call $ct (i32.const 1) (i64.const 0) (i32.const 16)))
      (br_if $l (i64.lt_u (i64.sub (i64.load (i32.const 16)) (local.get $start))
                          (i64.mul (local.get $ms) (i64.const 1000000))))))"""

_POLL_WAIT = """
  (func $wait_ms (param $ms i64)
    ;; one clock subscription (48 bytes at 64): userdata, tag=clock, id=MONOTONIC, timeout, precision, flags
    (i64.store (i32.const 64) (i64.const 0))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.mul (local.get $ms) (i64.const 1000000)))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 120))))"""


def use_poll() -> bool:
    if USE_POLL_ONEOFF is None:
        return registry.lookup("wasi_snapshot_preview1", "poll_oneoff") is not None
    return USE_POLL_ONEOFF


def sockets(count: int = 8, wait_ms: int = 200, gate: bool = False) -> str:
    """Open an INET stream socket, wait `wait_ms`, `count` times; then close fd 5 and open a UDP6 socket
    (which takes number 5 again: the lowest free one), and fail one close (BADF).  With `gate`, the
    program also reads one byte of stdin before each socket and after the last one (count + 1 reads): a
    test's stdin callable holds it until the view under test has shown the state reached so far."""
    poll = use_poll()
    imp = (
        '(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))'
        if poll
        else ""
    )
    if gate:  # fd_read(0, one iovec {buf 208, len 1} at 200, nread at 216)
        imp += '\n  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))'
    step = (
        "(i32.store (i32.const 200) (i32.const 208)) (i32.store (i32.const 204) (i32.const 1))\n"
        "      (drop (call $read (i32.const 0) (i32.const 200) (i32.const 1) (i32.const 216)))"
        if gate
        else ""
    )
    return f"""(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $ct (param i32 i64 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $so (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  {imp}
  (memory (export "memory") 1)
  {_POLL_WAIT if poll else _BUSY_WAIT}
  (func (export "_start") (local $i i32)
    (loop $l
      {step}
      (drop (call $so (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 32)))
      (call $wait_ms (i64.const {wait_ms}))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {count}))))
    {step}
    (drop (call $close (i32.const 5)))
    (drop (call $so (i32.const 2) (i32.const 2) (i32.const 0) (i32.const 32)))
    (drop (call $close (i32.const 99)))))"""
