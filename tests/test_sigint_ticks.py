"""Signal handlers run from the epoch callback (a thread busy in pure wasm), issue 11's "an epoch-tick
signal inside an asyncified program sometimes trapped".  Root causes, each with a test that reproduced it:

- a tick while a handler runs inside the callback: wasmtime has taken the callback out of the store, so
  the tick is a bare `wasm trap: interrupt` (8 runs in 10 trapped before the fix);
- a handler run while the asyncify stack is being rewound (setjmp/longjmp, fork) takes the rewind for
  itself: wrong results or traps (~1 run in 4 before the fix);
- a handler that longjmps out of the frames it interrupted (a shell's SIGINT handler does);
- wasix-libc's abort() raising SIGABRT from SIGABRT's own default handler recursed without end.
"""

import time

import pytest

import wasix_nb
from conftest import wait_for
from wasix_nb import wasmopt
from wasix_nb.runtime import Process, asyncify, epoch
from watlib import imports, module

needs_wasm_opt = pytest.mark.skipif(wasmopt.wasm_opt() is None, reason="wasm-opt not found (apt-get install binaryen)")

NAME = [(400, b"__wasm_signal")]
REGISTER = "(call $callback_signal (i32.const 400) (i32.const 13))"


def signals(r):
    return [e for e in r.log if e.name == "signal"]


# SIGALRM every 2 ms; the handler spins ~0.5 ms (ticks come while it runs) and counts at 76
SLOW_HANDLER = module(
    imports("callback_signal", "proc_raise_interval", "proc_exit"),
    """
  (func (export "__wasm_signal") (param $sig i32) (local $i i32)
    (local.set $i (i32.const 500000))
    (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))
    (i32.store (i32.const 76) (i32.add (i32.load (i32.const 76)) (i32.const 1))))
  (func (export "_start")
    """
    + REGISTER
    + """
    (drop (call $proc_raise_interval (i32.const 14) (i64.const 2000000) (i32.const 1)))
    (loop $w (br_if $w (i32.lt_u (i32.load (i32.const 76)) (i32.const 100))))
    (drop (call $proc_raise_interval (i32.const 14) (i64.const 0) (i32.const 0)))
    (call $proc_exit (i32.const 0)))""",
    data=NAME,
)


def test_ticks_while_a_handler_runs_in_the_epoch_callback_do_not_trap_it():
    for _ in range(3):
        r = wasix_nb.run(SLOW_HANDLER, timeout=30)
        assert (r.outcome, r.exit_code) == ("exited", 0), r.message
        assert len(signals(r)) >= 100


# longjmp out of a recursion of depth 40, 2000 times, while SIGALRM arrives every 0.3 ms; the handler
# calls an import, so asyncify instruments it (it would take a rewind in progress for its own)
LONGJMP_LOOP = module(
    imports("stack_checkpoint", "stack_restore", "callback_signal", "proc_raise_interval", "thread_id", "proc_exit"),
    """
  (func (export "__wasm_signal") (param $sig i32)
    (drop (call $thread_id (i32.const 80)))
    (i32.store (i32.const 76) (i32.add (i32.load (i32.const 76)) (i32.const 1))))
  (func $deep (param $d i32) (param $v i64)
    (if (i32.eqz (local.get $d))
      (then (call $stack_restore (i32.const 0) (i64.add (local.get $v) (i64.const 1))))
      (else (call $deep (i32.sub (local.get $d) (i32.const 1)) (local.get $v)))))
  (func (export "_start") (local $v i64)
    """
    + REGISTER
    + """
    (drop (call $proc_raise_interval (i32.const 14) (i64.const 300000) (i32.const 1)))
    (drop (call $stack_checkpoint (i32.const 0) (i32.const 32)))
    (local.set $v (i64.load (i32.const 32)))
    (if (i64.lt_u (local.get $v) (i64.const 2000)) (then (call $deep (i32.const 40) (local.get $v))))
    (drop (call $proc_raise_interval (i32.const 14) (i64.const 0) (i32.const 0)))
    (call $proc_exit (i32.const 0)))""",
    data=NAME,
)


@needs_wasm_opt
def test_ticks_during_longjmp_rewinds_wait_until_the_stack_is_back():
    for _ in range(3):
        r = wasix_nb.run(LONGJMP_LOOP, timeout=60, trace_limit=100_000)
        assert (r.outcome, r.exit_code) == ("exited", 0), r.message
        assert len(signals(r)) > 0


@needs_wasm_opt
def test_a_signal_arriving_mid_rewind_runs_after_it(monkeypatch):
    # deterministic: every rewind queues a signal and ticks, as another thread would at that moment
    real = asyncify.Stack.rewind

    def rewind(self, frozen, value, restore=("__stack_pointer",)):
        real(self, frozen, value, restore)
        t = epoch.CURRENT.thread
        if t is not None and t.proc.signal_handler is not None:
            t.signals.append(10)
            t.proc.tick()

    monkeypatch.setattr(asyncify.Stack, "rewind", rewind)
    src = LONGJMP_LOOP.replace("(i64.const 2000)", "(i64.const 50)")
    r = wasix_nb.run(src, timeout=60)
    assert (r.outcome, r.exit_code) == ("exited", 0), r.message
    assert len(signals(r)) >= 50


# setjmp at start; the handler (run at a tick: _start spins in pure wasm) longjmps back with 5
LONGJMP_OUT_OF_HANDLER = module(
    imports("stack_checkpoint", "stack_restore", "callback_signal", "proc_exit"),
    """
  (func (export "__wasm_signal") (param $sig i32)
    (call $stack_restore (i32.const 0) (i64.extend_i32_u (i32.add (i32.const 3) (local.get $sig)))))
  (func (export "_start")
    (drop (call $stack_checkpoint (i32.const 0) (i32.const 32)))
    (if (i64.ne (i64.load (i32.const 32)) (i64.const 0))
      (then (call $proc_exit (i32.wrap_i64 (i64.load (i32.const 32))))))
    """
    + REGISTER
    + """
    (loop $spin (br $spin)))""",
    data=NAME,
)


@needs_wasm_opt
def test_a_handler_run_at_a_tick_can_longjmp_out():
    p = Process(LONGJMP_OUT_OF_HANDLER, timeout=20).start()
    wait_for(lambda: p.signal_handler is not None)
    time.sleep(0.05)
    p.signal(2)
    r = p.wait(10)
    assert (r.outcome, r.exit_code) == ("exited", 5), r.message
    assert r.log.events[-1][2].name == "proc_exit"


# SIGABRT's handler raises SIGABRT (as wasix-libc's abort() does from the default handler) and traps
ABORT_IN_ABORT = module(
    imports("callback_signal", "thread_signal", "proc_exit"),
    """
  (func (export "__wasm_signal") (param $sig i32)
    (i32.store (i32.const 76) (i32.add (i32.load (i32.const 76)) (i32.const 1)))
    (if (i32.eq (local.get $sig) (i32.const 6))
      (then (drop (call $thread_signal (i32.const 1) (i32.const 6))) unreachable))
    ;; USR1: raise it once more from its own handler; it runs after this one returns
    (if (i32.lt_u (i32.load (i32.const 76)) (i32.const 2))
      (then (drop (call $thread_signal (i32.const 1) (i32.const 10))))))
  (func (export "_start")
    """
    + REGISTER
    + """
    (drop (call $thread_signal (i32.const 1) (i32.const 10)))
    (if (i32.ne (i32.load (i32.const 76)) (i32.const 2)) (then (call $proc_exit (i32.const 1))))
    (drop (call $thread_signal (i32.const 1) (i32.const 6)))
    (call $proc_exit (i32.const 0)))""",
    data=NAME,
)


def test_a_signal_raised_in_its_own_handler_waits_until_it_returns():
    r = wasix_nb.run(ABORT_IN_ABORT, timeout=20)
    assert r.outcome == "trapped" and "unreachable" in r.message, r.message
    marks = [e.mark for e in r.log if e.name == "thread_signal"]
    assert marks[:2] == ["SIGUSR1 pending (its handler is running)", "SIGUSR1 handled by __wasm_signal"]
    assert "SIGABRT pending (its handler is running)" in marks
    assert [e.args[0] for e in signals(r)] == [10, 10, 6]
