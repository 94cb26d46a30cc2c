"""Multi-threaded WAT programs for the thread tests: one shared memory, `wasi_thread_start(tid, kind)`
running one of the KINDS below, and a `_start` written by the test.

Memory (one shared page):
  64 a futex word that stays 0 (waits on it last for ever)     68 counter (atomic adds)
  72 "go" word (workers wait on it)    80 option_timestamp "none"    96 spawn's tid out
  100.. outs: 100 woken, 104/108 pipe fds, 112 eventfd, 116 nread, 120 nevents, 124 fd
  128 iovec {1024, 64}    160 a poll subscription (clock, 1 hour)    256 poll event out
  320 addr_port 127.0.0.1:0 (past the subscription, 160..208)   1024 buffer
"""

from watlib import addr_v4, subscription, wat_bytes

KINDS = {
    "spin": 1,
    "futex": 2,
    "sleep": 3,
    "pipe_read": 4,
    "poll": 5,
    "event_read": 6,
    "exit7": 7,
    "trap": 8,
    "count": 9,
    "wait_go": 10,
    "accept": 11,
    "signal_spin": 12,
}

IMPORTS = """
  (import "env" "memory" (memory 1 1 shared))
  (import "wasix_32v1" "thread_spawn" (func $spawn (param i32 i32) (result i32)))
  (import "wasix_32v1" "futex_wait" (func $futex_wait (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "futex_wake_all" (func $futex_wake_all (param i32 i32) (result i32)))
  (import "wasix_32v1" "thread_sleep" (func $thread_sleep (param i64) (result i32)))
  (import "wasix_32v1" "thread_join" (func $thread_join (param i32) (result i32)))
  (import "wasix_32v1" "thread_exit" (func $thread_exit (param i32)))
  (import "wasix_32v1" "thread_signal" (func $thread_signal (param i32 i32) (result i32)))
  (import "wasix_32v1" "callback_signal" (func $callback_signal (param i32 i32)))
  (import "wasix_32v1" "proc_raise_interval" (func $proc_raise_interval (param i32 i64 i32) (result i32)))
  (import "wasix_32v1" "fd_pipe" (func $fd_pipe (param i32 i32) (result i32)))
  (import "wasix_32v1" "fd_event" (func $fd_event (param i64 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_accept_v2" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))"""

WORKER = """
  (func $go (param $kind i32) (local $fd i32)
    (if (i32.eq (local.get $kind) (i32.const 1)) (then (loop $l (br $l))))
    (if (i32.eq (local.get $kind) (i32.const 2)) (then
      (drop (call $futex_wait (i32.const 64) (i32.const 0) (i32.const 80) (i32.const 100)))))
    (if (i32.eq (local.get $kind) (i32.const 3)) (then (drop (call $thread_sleep (i64.const -1)))))
    (if (i32.eq (local.get $kind) (i32.const 4)) (then
      (drop (call $fd_pipe (i32.const 104) (i32.const 108)))
      (drop (call $fd_read (i32.load (i32.const 104)) (i32.const 128) (i32.const 1) (i32.const 116)))))
    (if (i32.eq (local.get $kind) (i32.const 5)) (then
      (drop (call $poll (i32.const 160) (i32.const 256) (i32.const 1) (i32.const 120)))))
    (if (i32.eq (local.get $kind) (i32.const 6)) (then
      (drop (call $fd_event (i64.const 0) (i32.const 0) (i32.const 112)))
      (drop (call $fd_read (i32.load (i32.const 112)) (i32.const 128) (i32.const 1) (i32.const 116)))))
    (if (i32.eq (local.get $kind) (i32.const 7)) (then (call $proc_exit (i32.const 7))))
    (if (i32.eq (local.get $kind) (i32.const 8)) (then unreachable))
    (if (i32.eq (local.get $kind) (i32.const 9)) (then
      (drop (i32.atomic.rmw.add (i32.const 68) (i32.const 1)))
      (drop (call $futex_wake_all (i32.const 68) (i32.const 100)))))
    (if (i32.eq (local.get $kind) (i32.const 10)) (then
      (loop $w (if (i32.eqz (i32.atomic.load (i32.const 72))) (then
        (drop (call $futex_wait (i32.const 72) (i32.const 0) (i32.const 80) (i32.const 100))) (br $w))))))
    (if (i32.eq (local.get $kind) (i32.const 11)) (then
      (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 124)))
      (local.set $fd (i32.load (i32.const 124)))
      (drop (call $sock_bind (local.get $fd) (i32.const 320)))
      (drop (call $sock_listen (local.get $fd) (i32.const 8)))
      (drop (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 124) (i32.const 300)))))
    (if (i32.eq (local.get $kind) (i32.const 12)) (then
      (loop $l (br_if $l (i32.eqz (i32.atomic.load (i32.const 76))))))))
  (func (export "wasi_thread_start") (param $tid i32) (param $kind i32) (call $go (local.get $kind)))
  ;; signals: the handler adds the signal number to 76 (so a spinner sees it)
  (func (export "__wasm_signal") (param $sig i32) (drop (i32.atomic.rmw.add (i32.const 76) (local.get $sig))))
  (func $start (param $kind i32) (result i32)
    (drop (call $spawn (local.get $kind) (i32.const 96))) (i32.load (i32.const 96)))"""


def program(start_body: str) -> str:
    """The module; `start_body` is _start's code (`(call $start (i32.const KIND))` spawns a worker and
    leaves its tid; `(call $go (i32.const KIND))` runs a kind on the main thread)."""
    data = [
        (80, bytes(16)),
        (160, subscription(1, 0, 1, 3600 * 10**9)),
        (320, addr_v4("127.0.0.1", 0)),
        (128, (1024).to_bytes(4, "little") + (64).to_bytes(4, "little")),
        (400, b"__wasm_signal"),
    ]
    segs = "\n".join(f'  (data (i32.const {off}) "{wat_bytes(b)}")' for off, b in data)
    return f"""(module{IMPORTS}
{segs}
{WORKER}
  (func (export "_start") (local $t i32)
{start_body}))"""


def spawn(*kinds) -> str:
    return "\n".join(f"    (drop (call $start (i32.const {KINDS[k]})))" for k in kinds)
