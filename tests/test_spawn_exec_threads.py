"""exec in a multi-threaded process ends every other thread first (POSIX execve), from the main thread
or from a worker: threads blocked in futex_wait, accept or sleep are woken through the cancellation
machinery, the new image runs alone, the descriptors stay (the listening socket), nothing leaks."""

import threading

import pytest

import wasix_nb
from threadprogs import IMPORTS, KINDS, WORKER
from watlib import addr_v4, imports, module, subscription, wat_bytes

# the new image: prints its argc
HELLO = module(
    imports("fd_write", "args_sizes_get"),
    """
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 500) (i32.const 504)))
    (i32.store8 (i32.const 300) (i32.add (i32.const 48) (i32.load (i32.const 500))))
    (i32.store (i32.const 200) (i32.const 300))
    (i32.store (i32.const 204) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))""",
)

EXEC = "(call $proc_exec (i32.const 2000) (i32.const 9) (i32.const 2100) (i32.const 8))"  # /bin/echo echo a b
EXEC_KIND = 99  # a worker that sleeps 0.2 s, then execs


def program(start_body: str, name: bytes = b"/bin/echo") -> str:
    """threadprogs' module plus proc_exec, and a worker kind that execs."""
    worker = WORKER.replace(
        "(call $go (local.get $kind)))",
        f"(if (i32.eq (local.get $kind) (i32.const {EXEC_KIND})) (then "
        f"(drop (call $thread_sleep (i64.const 200000000))) {EXEC})) (call $go (local.get $kind)))",
        1,
    )
    data = [
        (80, bytes(16)),
        (160, subscription(1, 0, 1, 3600 * 10**9)),
        (320, addr_v4("127.0.0.1", 0)),
        (128, (1024).to_bytes(4, "little") + (64).to_bytes(4, "little")),
        (2000, name),  # 9 bytes
        (2100, b"echo\na\nb"),
    ]
    segs = "\n".join(f'  (data (i32.const {off}) "{wat_bytes(b)}")' for off, b in data)
    exec_import = '\n  (import "wasix_32v1" "proc_exec" (func $proc_exec (param i32 i32 i32 i32)))'
    return f"""(module{IMPORTS}{exec_import}
{segs}
{worker}
  (func (export "_start") (local $t i32)
{start_body}))"""


BLOCKED = "\n".join(f"    (drop (call $start (i32.const {KINDS[k]})))" for k in ("futex", "accept", "sleep"))
FROM_MAIN = program(BLOCKED + f"\n    (drop (call $thread_sleep (i64.const 300000000)))\n    {EXEC}")
FROM_WORKER = program(
    BLOCKED + f"\n    (drop (call $start (i32.const {EXEC_KIND})))\n    (drop (call $thread_sleep (i64.const -1)))"
)


@pytest.mark.parametrize("src", [FROM_MAIN, FROM_WORKER], ids=["from-main", "from-worker"])
def test_exec_ends_the_other_threads_and_keeps_the_descriptors(src, no_leak):
    before = threading.active_count()
    p = wasix_nb.Process(src, timeout=30, commands={"echo": HELLO})
    r = p.run()
    assert (r.outcome, r.stdout) == ("returned", b"3"), r.message  # the new image, argc 3
    assert list(p.wasm_threads) == [1] and len(r.threads) == 1  # the workers are gone
    assert p._stragglers == 0  # every thread ended within the grace
    t = r.trace
    stopped = t[t.syscall.isin(["futex_wait", "sock_accept_v2", "thread_sleep"]) & t.errno.isna()]
    assert len(stopped) >= 3  # the blocked calls were cut, not answered
    exec_at = t[t.syscall == "proc_exec"].t_ns.iloc[0]
    first_new = t[t.syscall == "args_sizes_get"].t_ns.iloc[0]
    assert 0 < first_new - exec_at < 1e9  # the other threads were unblocked within 1 s
    kinds = dict(zip(r.fds.fd, r.fds.kind))
    assert "socket" in kinds.values()  # the worker's listening socket stayed open across exec
    assert threading.active_count() <= before


def test_exec_of_an_unknown_program_with_threads_running_ends_the_process_with_noent(no_leak):
    src = program(BLOCKED + f"\n    (drop (call $thread_sleep (i64.const 300000000)))\n    {EXEC}", b"/bin/nosu")
    r = wasix_nb.run(src, timeout=30, commands={"echo": HELLO})
    assert (r.outcome, r.exit_code) == ("exited", 44), r.message


def test_a_kill_while_exec_stops_the_threads_wins(monkeypatch, no_leak):
    # the kill lands while exec waits for the other threads: the run ends killed, the new image never runs
    from wasix_nb.runtime import procs

    real = procs.stop_other_threads

    def killed_meanwhile(proc, *a, **kw):
        proc.stop("killed")
        return real(proc, *a, **kw)

    monkeypatch.setattr(procs, "stop_other_threads", killed_meanwhile)
    r = wasix_nb.run(FROM_MAIN, timeout=30, commands={"echo": HELLO})
    assert (r.outcome, r.stdout) == ("killed", b""), r.message
    assert "args_sizes_get" not in set(r.trace.syscall)
