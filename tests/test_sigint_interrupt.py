"""The kernel's interrupt (SIGINT to the kernel, Ctrl-C in the CLI, `Process.interrupt()`) is SIGINT to
the program's handler when it registered one: a blocking call ends with INTR, a pure-wasm loop takes it
at the next epoch tick, the program ends by itself with its own code.  Without a handler, for a second
interrupt, or a handler that never starts within the grace period, the run stops as `interrupted`."""

import os
import signal
import threading
import time

import pytest

import cbuild
from conftest import cell, wait_for
from wasix_nb.errors import ProgramInterrupted
from wasix_nb.runtime import Process, sigint
from realwasix import folder
from watlib import addr_v4, subscription, wat_bytes

INTR = 27

HANDLERS = {
    "note": "(i32.store (i32.const 76) (local.get $sig))",  # remembers the signal, returns
    "exit": "(call $exit (i32.add (i32.const 40) (local.get $sig)))",  # ends the program: exit 42
    "abort": "unreachable",  # what wasix-libc's default action for SIGINT ends in (abort)
}
BODIES = {
    # an hour in poll_oneoff, then exit 4 * errno + the signal the handler saw (INTR: 110)
    "poll": """(local.set $e (call $poll (i32.const 160) (i32.const 256) (i32.const 1) (i32.const 120)))
    (call $exit (i32.add (i32.mul (local.get $e) (i32.const 4)) (i32.load (i32.const 76))))""",
    # accept on a listening socket nobody connects to, then the same
    "accept": """(drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 124)))
    (local.set $fd (i32.load (i32.const 124)))
    (drop (call $sock_bind (local.get $fd) (i32.const 320)))
    (drop (call $sock_listen (local.get $fd) (i32.const 8)))
    (local.set $e (call $accept (local.get $fd) (i32.const 0) (i32.const 124) (i32.const 360)))
    (call $exit (i32.add (i32.mul (local.get $e) (i32.const 4)) (i32.load (i32.const 76))))""",
    # pure wasm until the handler ran, then exit 40 + the signal (42)
    "spin": """(loop $l (br_if $l (i32.eqz (i32.load (i32.const 76)))))
    (call $exit (i32.add (i32.const 40) (i32.load (i32.const 76))))""",
    "forever": "(loop $l (br $l))",  # the handler ran, the program goes on
}


def program(handler="note", body="spin", register=True):
    data = [(160, subscription(1, 0, 1, 3600 * 10**9)), (320, addr_v4("127.0.0.1", 0)), (400, b"__wasm_signal")]
    segs = "\n".join(f'  (data (i32.const {off}) "{wat_bytes(b)}")' for off, b in data)
    reg = "(call $cb (i32.const 400) (i32.const 13))" if register else ""
    return f"""(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_accept_v2" (func $accept (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
{segs}
  (func (export "__wasm_signal") (param $sig i32) {HANDLERS[handler]})
  (func (export "_start") (local $e i32) (local $fd i32)
    {reg}
    {BODIES[body]}))"""


def started(p, registered=True):
    """Start `p` and wait until it runs (with its handler registered)."""
    p.start()
    wait_for(lambda: p.status == "running" and (p.signal_handler is not None or not registered))
    time.sleep(0.1)  # into its blocking call or loop
    return p


def signal_events(r):
    return [e.mark for e in r.log if e.name == "signal"]


@pytest.mark.parametrize("body,code", [("poll", 4 * INTR + 2), ("accept", 4 * INTR + 2), ("spin", 42)])
def test_the_handler_runs_and_the_program_ends_by_itself(body, code, no_leak):
    p = started(Process(program("note", body), timeout=20))
    t0 = time.monotonic()
    p.interrupt()
    r = p.wait(10)
    assert (r.outcome, r.exit_code) == ("exited", code), r.message
    assert time.monotonic() - t0 < 1.0
    assert signal_events(r) == ["SIGINT -> __wasm_signal (the kernel's interrupt)"]
    assert "after the kernel's interrupt, delivered as SIGINT to __wasm_signal" in r.message
    assert "--- SIGINT -> __wasm_signal (the kernel's interrupt) ---" in r.log.text()  # strace's line
    if body != "spin":  # the blocking call failed with INTR, after the handler ran
        (blocked,) = [e for e in r.log if e.name in ("poll_oneoff", "sock_accept_v2")]
        assert blocked.errno == INTR


def test_a_handler_that_exits_gives_its_own_code():
    p = started(Process(program("exit", "poll"), timeout=20))
    p.interrupt()
    r = p.wait(10)
    assert (r.outcome, r.exit_code) == ("exited", 42), r.message


def test_without_a_handler_the_run_is_interrupted_as_before(no_leak):
    p = started(Process(program("note", "poll", register=False), timeout=20), registered=False)
    t0 = time.monotonic()
    p.interrupt()
    r = p.wait(5)
    assert (r.outcome, r.returncode) == ("interrupted", 130)
    assert time.monotonic() - t0 < 1.0
    assert signal_events(r) == []


def test_a_handler_that_ignores_it_is_stopped_by_the_second_interrupt(no_leak):
    p = started(Process(program("note", "forever"), timeout=20))
    p.interrupt()
    wait_for(lambda: p._sigint_ran)
    assert p.wait(0.3) is None  # the program goes on: its handler only noted it
    t0 = time.monotonic()
    p.interrupt()
    r = p.wait(5)
    assert r.outcome == "interrupted" and time.monotonic() - t0 < 1.0
    assert len(signal_events(r)) == 1


def test_the_default_action_of_sigint_is_interrupted_not_trapped():
    # wasix-libc's handler for a program that set no SIGINT disposition prints and aborts (a trap)
    p = started(Process(program("abort", "spin"), timeout=20))
    p.interrupt()
    r = p.wait(5)
    assert (r.outcome, r.returncode) == ("interrupted", 130), r.message


def test_a_handler_that_does_not_start_within_the_grace_period_is_stopped(monkeypatch):
    monkeypatch.setattr(sigint, "GRACE", 0.2)
    p = started(Process(program("note", "forever"), timeout=20))
    monkeypatch.setattr(p, "signal", lambda *a: "lost")  # as if no thread could take it
    t0 = time.monotonic()
    p.interrupt()
    r = p.wait(5)
    assert r.outcome == "interrupted" and 0.15 < time.monotonic() - t0 < 1.0


def kill_when_registered(get_proc):
    def later():
        wait_for(lambda: (p := get_proc()) is not None and p.signal_handler is not None, timeout=20)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=later, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("body,code", [("poll", 4 * INTR + 2), ("spin", 42)])
def test_sigint_to_the_interpreter_goes_to_the_handler(body, code):
    assert threading.current_thread() is threading.main_thread()
    old = signal.getsignal(signal.SIGINT)
    p = Process(program("note", body), timeout=20)
    kill_when_registered(lambda: p)
    r = p.run()
    assert (r.outcome, r.exit_code) == ("exited", code), r.message
    assert signal.getsignal(signal.SIGINT) is old


def test_sigint_without_a_handler_still_interrupts():
    p = Process(program("note", "poll", register=False), timeout=20)

    def later():
        wait_for(lambda: p.status == "running", timeout=20)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=later, daemon=True).start()
    r = p.run()
    assert r.outcome == "interrupted"


# -- %%wasix in an in-process IPython shell ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ip():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "wasix_nb")
    yield shell
    shell.run_line_magic("unload_ext", "wasix_nb")


def test_magic_interrupt_runs_the_programs_handler(ip):
    src = program("note", "spin").replace("(i32.add (i32.const 40) (i32.load (i32.const 76)))", "(i32.const 0)")
    kill_when_registered(lambda: ip.user_ns.get("sigcell"))
    cap = cell(ip, "-n sigcell --no-live", src)
    proc = ip.user_ns["sigcell"]
    assert (proc.status, proc.exit_code) == ("exited", 0), proc.message
    assert "delivered as SIGINT to __wasm_signal" in proc.message
    assert cap.outputs[-1].data["text/plain"].startswith("sigcell: exited 0")


def test_magic_interrupt_without_a_handler_fails_the_cell(ip):
    ip.user_ns.pop("nosig", None)

    def later():
        wait_for(lambda: (p := ip.user_ns.get("nosig")) is not None and p.status == "running", timeout=20)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=later, daemon=True).start()
    with pytest.raises(ProgramInterrupted):
        cell(ip, "-n nosig --no-live", program("note", "forever", register=False))


# -- a real C program (clang, wasi-libc) -------------------------------------------------------------------
def test_c_program_poll_ends_with_eintr_after_its_handler(tmp_path_factory):
    reason = cbuild.missing()
    if reason:
        pytest.skip(reason)
    path = cbuild.build("sigint", tmp_path_factory.mktemp("wasm-c"))
    p = started(Process(str(path), timeout=20))
    p.interrupt()
    r = p.wait(10)
    assert (r.outcome, r.exit_code) == ("exited", 3), (r.message, r.stdout)
    assert r.stdout == b"sleeping\npoll=-1 errno=Interrupted system call handler saw 2\n"


# -- a real WASIX binary: dash's own SIGINT handling -------------------------------------------------------
def dash():
    where = folder()
    if where is None:
        pytest.skip("real WASIX binaries not found: set $WASIX_NB_REALWASIX or put them in ../shared/realwasix")
    return os.path.join(where, "dash.wasm")


@pytest.mark.parametrize(
    "script,outcome,code,out",
    [
        ("trap 'echo caught; exit 3' INT; while :; do :; done", "exited", 3, b"caught\n"),
        ("while :; do :; done", "exited", 130, b""),  # dash ends itself with 128 + SIGINT
    ],
)
def test_dash_takes_the_interrupt_in_its_own_handler(script, outcome, code, out):
    path = dash()
    p = started(Process(path, args=["-c", script], timeout=20))
    p.interrupt()
    r = p.wait(10)
    assert (r.outcome, r.exit_code, r.stdout) == (outcome, code, out), r.message
    assert signal_events(r) == ["SIGINT -> __wasm_signal (the kernel's interrupt)"]


def test_dash_trap_that_keeps_looping_is_stopped_by_the_second_interrupt():
    p = started(Process(dash(), args=["-c", "trap 'echo caught' INT; while :; do :; done"], timeout=20))
    p.interrupt()
    wait_for(lambda: b"caught" in p.stdout)
    p.interrupt()
    r = p.wait(5)
    assert r.outcome == "interrupted", r.message


@pytest.mark.parametrize(
    "script,outcome,code,out",
    [
        # dash waits for its child in proc_join: the wait ends with INTR, its trap runs
        ("trap 'echo caught; exit 3' INT; dash -c 'while :; do :; done'; echo after", "exited", 3, b"caught\n"),
        # no trap: dash re-raises SIGINT with the default action, which wasix-libc carries out as abort()
        ("dash -c 'while :; do :; done'; echo after", "interrupted", None, b""),
    ],
)
def test_dash_waiting_for_its_child_takes_the_interrupt(script, outcome, code, out):
    d = dash()
    p = started(Process(d, args=["-c", script], commands={"dash": d}, timeout=20))
    wait_for(lambda: p.procs is not None and len(p.procs.processes()) == 2)
    time.sleep(0.2)
    t0 = time.monotonic()
    p.interrupt()
    r = p.wait(10)
    assert (r.outcome, r.exit_code, r.stdout) == (outcome, code, out), r.message
    assert time.monotonic() - t0 < 1.0
    joins = [e for e in r.log if e.name == "proc_join" and e.pid == 1]
    assert joins[-1].errno == INTR


def test_abort_in_the_handler_of_the_kernels_sigint_is_interrupted():
    src = (
        program("note", "spin")
        .replace(
            '(func (export "__wasm_signal") (param $sig i32) (i32.store (i32.const 76) (local.get $sig)))',
            """(func (export "__wasm_signal") (param $sig i32)
    (if (i32.eq (local.get $sig) (i32.const 2)) (then (drop (call $raise (i32.const 1) (i32.const 6)))))
    (call $exit (i32.const 127)))""",
        )
        .replace(
            '(import "wasix_32v1" "callback_signal"',
            '(import "wasix_32v1" "thread_signal" (func $raise (param i32 i32) (result i32)))\n  (import "wasix_32v1" "callback_signal"',
        )
    )
    p = started(Process(src, timeout=20))
    p.interrupt()
    r = p.wait(5)
    assert (r.outcome, r.returncode) == ("interrupted", 130), r.message


# fd_pipe (fds at 104/108), then one fd_write of 192 KiB to it nobody reads: the pipe takes 64 KiB and
# the write blocks; SIGINT's handler runs and the write answers what it wrote (errno 0, count at 116)
PARTIAL_WRITE = """(module
  (import "wasix_32v1" "callback_signal" (func $cb (param i32 i32)))
  (import "wasix_32v1" "fd_pipe" (func $fd_pipe (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 4)
  (data (i32.const 400) "__wasm_signal")
  (func (export "__wasm_signal") (param $sig i32) (i32.store (i32.const 76) (local.get $sig)))
  (func (export "_start") (local $e i32)
    (call $cb (i32.const 400) (i32.const 13))
    (drop (call $fd_pipe (i32.const 104) (i32.const 108)))
    (i32.store (i32.const 128) (i32.const 65536)) (i32.store (i32.const 132) (i32.const 196608))
    (local.set $e (call $fd_write (i32.load (i32.const 108)) (i32.const 128) (i32.const 1) (i32.const 116)))
    (call $exit (i32.add (i32.mul (local.get $e) (i32.const 4)) (i32.load (i32.const 76))))))"""


def test_a_blocked_partial_write_answers_what_it_wrote():
    p = started(Process(PARTIAL_WRITE, timeout=20))
    p.interrupt()
    r = p.wait(10)
    assert (r.outcome, r.exit_code) == ("exited", 2), r.message  # errno 0, the handler saw SIGINT
    (w,) = [e for e in r.log if e.name == "fd_write"]
    assert 0 < w.outs[0] < 196608
