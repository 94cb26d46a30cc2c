"""The single-thread, signal, process and no-filesystem calls, driven from small WAT programs.

Each program makes its calls and drops the results; the checks read the trace (errno, outs, notes).
"""

import os
import time

import wasix_nb

X = "wasix_32v1"
P1 = "wasi_snapshot_preview1"


def run(imports, body, data="", **opts):
    """`imports`: [(module, name, '(param ...) (result ...)')]; `body`: the _start instructions."""
    decls = "\n".join(f'  (import "{m}" "{n}" (func ${n} {sig}))' for m, n, sig in imports)
    wat = f"""(module
{decls}
  (memory (export "memory") 1)
  (data (i32.const 1024) "{data}")
  (func (export "_start")
{body}))"""
    return wasix_nb.run(wat, **opts)


def events(r, name):
    return [e for e in r.log if e.name == name]


def test_thread_id_parallelism_and_spawn_needs_a_shared_memory():
    r = run(
        [
            (X, "thread_id", "(param i32) (result i32)"),
            (X, "thread_parallelism", "(param i32) (result i32)"),
            (X, "thread_spawn_v2", "(param i32 i32) (result i32)"),
        ],
        """    (drop (call $thread_id (i32.const 0)))
    (drop (call $thread_parallelism (i32.const 4)))
    (drop (call $thread_spawn_v2 (i32.const 64) (i32.const 8)))""",
    )
    assert r.ok, r.message
    assert events(r, "thread_id")[0].outs == (1,)
    assert events(r, "thread_parallelism")[0].outs == (len(os.sched_getaffinity(0)),)  # the machine's cores
    (spawn,) = events(r, "thread_spawn_v2")
    assert spawn.errno == 58 and "shared memory" in spawn.mark  # NOTSUP, said why


def test_thread_exit_of_the_last_thread_ends_the_process_with_0():
    # as Wasmer: thread_exit's code is unused; the process exits 0 when its last thread has exited
    r = run([(X, "thread_exit", "(param i32)")], "    (call $thread_exit (i32.const 5))")
    assert (r.outcome, r.exit_code) == ("exited", 0)


def test_futex_wait_without_timeout_blocks_until_stopped():
    # the value matches and nobody else can wake us: a deadlock, which the process timeout ends
    r = run(
        [(X, "futex_wait", "(param i32 i32 i32 i32) (result i32)")],
        "    (drop (call $futex_wait (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 8)))",
        timeout=0.3,
    )
    assert r.outcome == "timeout"


def test_futex_wait_bad_pointer_is_fault():
    r = run(
        [(X, "futex_wait", "(param i32 i32 i32 i32) (result i32)")],
        "    (drop (call $futex_wait (i32.const 0) (i32.const 0) (i32.const 70000) (i32.const 8)))",
    )
    assert events(r, "futex_wait")[0].errno == 21


def test_thread_sleep_sleeps():
    t0 = time.perf_counter()
    r = run([(X, "thread_sleep", "(param i64) (result i32)")], "    (drop (call $thread_sleep (i64.const 30000000)))")
    assert r.ok and time.perf_counter() - t0 >= 0.03


def test_thread_join_and_signal_other_threads():
    r = run(
        [(X, "thread_join", "(param i32) (result i32)"), (X, "thread_signal", "(param i32 i32) (result i32)")],
        """    (drop (call $thread_join (i32.const 1)))
    (drop (call $thread_join (i32.const 2)))
    (drop (call $thread_signal (i32.const 2) (i32.const 15)))""",
    )
    assert [e.errno for e in r.log] == [16, 0, 71]  # DEADLK, an unknown thread at once (Wasmer), SRCH


def test_proc_raise_default_actions():
    ignored = run(
        [(P1, "proc_raise", "(param i32) (result i32)")], "    (drop (call $proc_raise (i32.const 16)))"
    )  # SIGCHLD: ignored
    assert ignored.ok and "SIGCHLD ignored" in events(ignored, "proc_raise")[0].mark
    term = run(
        [(X, "proc_raise", "(param i32) (result i32)")], "    (drop (call $proc_raise (i32.const 15)))"
    )  # SIGTERM: ends the process
    assert (term.outcome, term.exit_code) == ("exited", 143)


def test_callback_signal_without_such_export_keeps_defaults():
    r = run(
        [(X, "callback_signal", "(param i32 i32)")],
        "    (call $callback_signal (i32.const 1024) (i32.const 12))",
        data="__wasm_sig\\00\\00",
    )
    assert r.process.signal_handler is None
    assert "no export named" in events(r, "callback_signal")[0].mark


def test_proc_id_parent_and_tty():
    r = run(
        [
            (X, "proc_id", "(param i32) (result i32)"),
            (X, "proc_parent", "(param i32 i32) (result i32)"),
            (X, "tty_get", "(param i32) (result i32)"),
            (X, "tty_set", "(param i32) (result i32)"),
        ],
        """    (drop (call $proc_id (i32.const 0)))
    (drop (call $proc_parent (i32.const 1) (i32.const 4)))
    (drop (call $proc_parent (i32.const 9) (i32.const 4)))
    (drop (call $tty_get (i32.const 64)))
    (i32.store (i32.const 64) (i32.const 132))
    (drop (call $tty_set (i32.const 64)))
    (drop (call $tty_get (i32.const 128)))""",
    )
    assert r.ok
    assert events(r, "proc_id")[0].outs == (1,)
    assert [e.errno for e in events(r, "proc_parent")] == [0, 71]
    assert r.process.host.tty[0] == 132  # the program's own setting is kept


def test_getcwd_and_chdir():
    r = run(
        [(X, "getcwd", "(param i32 i32) (result i32)"), (X, "chdir", "(param i32 i32) (result i32)")],
        """    (i32.store (i32.const 0) (i32.const 16))
    (drop (call $getcwd (i32.const 0) (i32.const 0)))
    (drop (call $chdir (i32.const 1024) (i32.const 1)))
    (drop (call $chdir (i32.const 1024) (i32.const 4)))""",
        data="/tmp",
    )
    cwd, root, tmp = r.log
    assert (cwd.errno, cwd.outs) == (28, None)  # null buffer: INVAL
    assert (root.errno, tmp.errno) == (0, 44)  # "/" is fine, "/tmp" does not exist


def test_path_calls_refused_without_preopens():
    r = run(
        [
            (P1, "path_open", "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)"),
            (X, "path_unlink_file", "(param i32 i32 i32) (result i32)"),
            (P1, "fd_filestat_get", "(param i32 i32) (result i32)"),
        ],
        """    (drop (call $path_open (i32.const 1) (i32.const 0) (i32.const 1024) (i32.const 8)
                      (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $path_open (i32.const 9) (i32.const 0) (i32.const 1024) (i32.const 8)
                      (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $path_unlink_file (i32.const 2) (i32.const 1024) (i32.const 8)))
    (drop (call $fd_filestat_get (i32.const 1) (i32.const 64)))""",
        data="data.txt",
    )
    opened, badf, unlink, stat = r.log
    assert (opened.errno, opened.outs) == (76, None)  # NOTCAPABLE
    assert badf.errno == 8
    assert unlink.errno == 76
    assert (stat.errno, stat.outs) == (0, (2,))  # stdout: character device
    assert 'path="data.txt"' in r.log.text()  # the path, as the program sent it


def test_join_signals_and_clock_set_without_children():
    # fork itself: tests/test_fork.py
    r = run(
        [
            (X, "proc_join", "(param i32 i32 i32) (result i32)"),
            (X, "proc_signals_sizes_get", "(param i32) (result i32)"),
            (X, "proc_signal", "(param i32 i32) (result i32)"),
            (X, "clock_time_set", "(param i32 i64) (result i32)"),
        ],
        """    (drop (call $proc_join (i32.const 0) (i32.const 0) (i32.const 16)))
    (drop (call $proc_signals_sizes_get (i32.const 0)))
    (drop (call $proc_signal (i32.const 2) (i32.const 9)))
    (drop (call $clock_time_set (i32.const 0) (i64.const 0)))""",
    )
    join, sizes, sig, clock = r.log
    assert join.errno == 12  # CHILD: no children
    assert (sizes.errno, sizes.outs) == (0, (0,))
    assert sig.errno == 71  # SRCH: no such process
    assert clock.errno == 63  # PERM
