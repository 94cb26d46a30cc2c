"""Threads from WAT programs: spawning, futexes, the endings (proc_exit, trap, main returning, the last
thread_exit), and timeout / kill / interrupt with several threads blocked in different calls."""

import os
import subprocess
import sys
import threading
import time

import pytest

import wasix_nb
from conftest import wait_for
from threadprogs import KINDS, program, spawn
from wasix_nb.errors import MissingImports, WasixError
from wasix_nb.runtime import Process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCKERS = ("spin", "futex", "sleep", "pipe_read", "poll", "event_read", "accept")


def wasm_threads():
    return [t for t in threading.enumerate() if t.name.startswith("wasix:") and t.name.count(":") >= 2]


def all_started(p, n):
    rows = p.thread_rows()
    return len(rows) == n and all(r["state"] not in ("starting",) for r in rows) and rows


def test_spawned_threads_count_with_atomics_and_futexes():
    n = 8
    body = (
        spawn(*["count"] * n)
        + f"""
    (loop $w (if (i32.lt_u (i32.atomic.load (i32.const 68)) (i32.const {n})) (then
      (drop (call $futex_wait (i32.const 68) (i32.atomic.load (i32.const 68)) (i32.const 80) (i32.const 100)))
      (br $w))))
    (call $proc_exit (i32.atomic.load (i32.const 68)))"""
    )
    r = wasix_nb.run(program(body), timeout=20)
    assert (r.outcome, r.exit_code) == ("exited", n), r.message
    assert sorted({e.tid for e in r.log}) == list(range(1, n + 2))  # the trace names every thread
    rows = r.process.thread_rows()
    assert [row["started_by"] for row in rows[1:]] == ["thread 1: thread_spawn"] * n


@pytest.mark.parametrize("ending", ["exit", "trap"])
def test_proc_exit_or_trap_in_a_worker_ends_every_thread(ending, no_leak):
    body = (
        spawn(*BLOCKERS)
        + """
    (drop (call $thread_sleep (i64.const 200000000)))
    (drop (call $start (i32.const %d)))
    (call $go (i32.const 2))"""
        % KINDS["exit7" if ending == "exit" else "trap"]
    )
    t0 = time.monotonic()
    r = wasix_nb.run(program(body), timeout=20)
    if ending == "exit":
        assert (r.outcome, r.exit_code) == ("exited", 7), r.message
    else:
        assert r.outcome == "trapped" and r.exit_code == 129 and r.returncode == 129
        assert r.message.startswith("thread 9 trapped: wasm trap: unreachable"), r.message
    assert time.monotonic() - t0 < 10
    assert not wasm_threads()


def test_main_returning_ends_the_process_and_its_threads(no_leak):
    r = wasix_nb.run(program(spawn(*BLOCKERS) + "\n    (drop (call $thread_sleep (i64.const 100000000)))"), timeout=20)
    assert (r.outcome, r.exit_code) == ("returned", 0), r.message
    assert not wasm_threads()


def test_last_thread_exit_ends_the_process_with_0():
    body = (
        spawn("wait_go")
        + """
    (local.set $t (i32.load (i32.const 96)))
    (i32.atomic.store (i32.const 72) (i32.const 1))
    (drop (call $futex_wake_all (i32.const 72) (i32.const 100)))
    (call $thread_exit (i32.const 3))"""
    )
    r = wasix_nb.run(program(body), timeout=20)
    assert (r.outcome, r.exit_code) == ("exited", 0), r.message


def test_thread_join_waits_for_the_thread():
    body = (
        spawn("wait_go")
        + """
    (local.set $t (i32.load (i32.const 96)))
    (i32.atomic.store (i32.const 72) (i32.const 1))
    (drop (call $futex_wake_all (i32.const 72) (i32.const 100)))
    (drop (call $thread_join (local.get $t)))
    (call $proc_exit (i32.add (i32.const 40) (local.get $t)))"""
    )
    r = wasix_nb.run(program(body), timeout=20)
    assert (r.outcome, r.exit_code) == ("exited", 42), r.message


@pytest.mark.parametrize("how", ["kill", "timeout"])
def test_kill_and_timeout_stop_every_thread_within_a_second(how, no_leak):
    # the timeout leaves room for every thread to reach its call on a loaded machine
    p = Process(
        program(spawn(*BLOCKERS) + "\n    (call $go (i32.const 2))"), timeout=12.0 if how == "timeout" else None
    ).start()
    wait_for(lambda: all_started(p, len(BLOCKERS) + 1), timeout=15)

    def settled(states):
        return (
            states.get(1) == "blocked in futex_wait on 0x40"
            and states.get(2) == "running wasm"
            and states.get(3) == "blocked in futex_wait on 0x40"
            and states.get(4, "").startswith("blocked in thread_sleep")
            and states.get(5, "").startswith("blocked in fd_read on fd ")
            and "poll_oneoff" in states.get(6, "")
            and "fd_read on fd " in states.get(7, "")
            and states.get(8, "").startswith("blocked in sock_accept")
        )

    # a thread still starting shows "in thread_spawn" for a moment: wait for every state, bounded
    states = {}
    end = time.monotonic() + 10
    while time.monotonic() < end and not settled(states):
        states = {r["tid"]: r["state"] for r in p.thread_rows()}
        time.sleep(0.01)
    assert settled(states), states
    if how == "kill":
        t0 = time.monotonic()
        r = p.kill(timeout=5)
        assert r is not None and r.outcome == "killed"
        assert time.monotonic() - t0 < 1.0
    else:
        r = p.wait(15)
        assert r is not None and r.outcome == "timeout"
    assert not wasm_threads()
    assert all(row["state"].startswith("stopped") for row in r.process.thread_rows())


def test_sigint_interrupts_every_thread():
    code = f"""
import os, signal, threading, time, sys
sys.path.insert(0, {os.path.join(ROOT, "tests")!r})
from threadprogs import program, spawn
from wasix_nb.runtime import Process
p = Process(program(spawn("spin", "futex", "sleep", "event_read") + "\\n    (call $go (i32.const 1))"))
def later():
    while len(p.thread_rows()) < 5:
        time.sleep(0.01)
    time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=later, daemon=True).start()
t0 = time.monotonic()
r = p.run()
left = [t for t in threading.enumerate() if t.name.count(":") >= 2]
print(r.outcome, len(left))
"""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["interrupted", "0"], out.stderr[-2000:]


# -- signals -----------------------------------------------------------------------------------------------
REGISTER = "    (call $callback_signal (i32.const 400) (i32.const 13))\n"


def test_a_signal_to_itself_runs_the_handler_at_once():
    body = (
        REGISTER
        + """
    (drop (call $thread_signal (i32.const 1) (i32.const 10)))
    (call $proc_exit (i32.atomic.load (i32.const 76)))"""
    )
    r = wasix_nb.run(program(body), timeout=20)
    assert (r.outcome, r.exit_code) == ("exited", 10), r.message
    ev = [e for e in r.log if e.name == "signal"]
    assert ev and ev[0].mark == "SIGUSR1 -> __wasm_signal"


def test_a_signal_reaches_a_thread_busy_in_pure_wasm():
    # the worker spins until the handler (run on the worker, via an epoch tick) writes 76
    body = (
        REGISTER
        + spawn("signal_spin")
        + """
    (local.set $t (i32.load (i32.const 96)))
    (drop (call $thread_sleep (i64.const 50000000)))
    (drop (call $thread_signal (local.get $t) (i32.const 12)))
    (drop (call $thread_join (local.get $t)))
    (call $proc_exit (i32.atomic.load (i32.const 76)))"""
    )
    r = wasix_nb.run(program(body), timeout=20)
    assert (r.outcome, r.exit_code) == ("exited", 12), r.message
    (ev,) = [e for e in r.log if e.name == "signal"]
    assert ev.tid == 2


def test_proc_raise_interval_repeats_until_cancelled():
    body = (
        REGISTER
        + """
    (drop (call $proc_raise_interval (i32.const 14) (i64.const 20000000) (i32.const 1)))
    (loop $w (br_if $w (i32.lt_u (i32.atomic.load (i32.const 76)) (i32.const 42))))
    (drop (call $proc_raise_interval (i32.const 14) (i64.const 0) (i32.const 0)))
    (call $proc_exit (i32.const 0))"""
    )
    r = wasix_nb.run(program(body), timeout=20)
    assert (r.outcome, r.exit_code) == ("exited", 0), r.message
    assert len([e for e in r.log if e.name == "signal"]) >= 3


def test_without_a_handler_signals_take_their_default_action():
    r = wasix_nb.run(
        program(
            "    (drop (call $thread_signal (i32.const 1) (i32.const 17)))\n"
            "    (drop (call $thread_signal (i32.const 1) (i32.const 15)))"
        ),
        timeout=20,
    )
    assert (r.outcome, r.exit_code) == ("exited", 143) and "SIGTERM" in r.message


# -- what cannot run ---------------------------------------------------------------------------------------
def test_old_wasix_abi_is_one_clear_error():
    wat = """(module (import "wasix_32v1" "thread_spawn" (func (param i32 i32 i32 i32 i32) (result i32)))
      (import "wasix_32v1" "thread_local_create" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "_start")))"""
    for stub in (False, True):
        with pytest.raises(WasixError, match="old WASIX ABI") as ei:
            Process(wat, stub_missing=stub)
        assert "thread_local_create" in str(ei.value)


def test_stub_missing_never_stubs_a_spawn():
    wat = """(module (import "wasi" "thread-spawn" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "_start")))"""
    with pytest.raises(MissingImports, match="spawn cannot be stubbed"):
        Process(wat, stub_missing=True)


def test_spawn_without_wasi_thread_start_is_refused():
    wat = """(module (import "env" "memory" (memory 1 1 shared))
      (import "wasi" "thread-spawn" (func $s (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
      (func (export "_start") (call $e (i32.sub (i32.const 0) (call $s (i32.const 0))))))"""
    r = wasix_nb.run(wat, timeout=10)
    assert (r.outcome, r.exit_code) == ("exited", 58)  # -NOTSUP from wasi-threads


def test_two_threads_can_wait_on_one_descriptor():
    # one poll object per descriptor is reused on the hot path; a second waiter must get its own
    import socket
    from wasix_nb.host.host import Host

    h = Host()
    a, b = socket.socketpair()
    errors, ready = [], []

    def wait():
        try:
            ready.append(h.wait_fd(a.fileno(), False, 5.0))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=wait) for _ in range(2)]
    for t in ts:
        t.start()
    time.sleep(0.2)
    b.send(b"x")
    for t in ts:
        t.join()
    h.close()
    a.close()
    b.close()
    assert errors == [] and ready == [True, True]


def test_many_short_threads_keep_the_thread_table_bounded():
    # a server spawning a thread per request for hours: ended threads give back their stores, and only
    # the most recent ones stay in the table (the rest are counted)
    from wasix_nb.runtime import process as rprocess

    n = rprocess.KEPT_ENDED + 150
    body = f"""
    (loop $l
      (drop (call $start (i32.const 9)))
      (drop (call $thread_join (i32.load (i32.const 96))))
      (br_if $l (i32.lt_u (i32.atomic.load (i32.const 68)) (i32.const {n}))))
    (call $proc_exit (i32.atomic.load (i32.const 68)))"""
    r = wasix_nb.run(program(body), timeout=60)
    assert (r.outcome, r.exit_code) == ("exited", n), r.message
    p = r.process
    assert len(p.wasm_threads) <= rprocess.KEPT_ENDED + 1 and p.threads_forgotten >= n - rprocess.KEPT_ENDED
    assert all(t.store is None for tid, t in p.wasm_threads.items() if tid != 1)
