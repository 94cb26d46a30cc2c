"""fork/vfork, join, exec and the process table, with WAT programs (made forkable by the automatic
`wasm-opt --asyncify`): memory is copied, descriptors are inherited and closed once by their last
holder, a child's end never ends its parent, the limit answers EAGAIN, and the tree ends as one."""

import threading
import time

import pytest

import wasix_nb
from wasix_nb import wasmopt
from watlib import imports, module

pytestmark = pytest.mark.skipif(wasmopt.wasm_opt() is None, reason="wasm-opt not found (apt-get install binaryen)")

PRINT = """
  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 200) (local.get $p))
    (i32.store (i32.const 204) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))"""

# fork at 0 (pid); the child overwrites the byte at 300 and exits 7; the parent joins any child
# (OptionPid at 16, JoinStatus at 32), prints its own byte 300 and exits with code + 10 * pid
FORK = module(
    imports("proc_fork", "proc_join", "proc_exit", "fd_write"),
    PRINT
    + """
  (func (export "_start")
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (i32.store8 (i32.const 300) (i32.const 67))
            (call $print (i32.const 300) (i32.const 1))
            (call $proc_exit (i32.const 7))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32)))
    (call $print (i32.const 300) (i32.const 1))
    (call $proc_exit (i32.add (i32.load16_u (i32.const 34)) (i32.mul (i32.const 10) (i32.load (i32.const 20))))))""",
    data=[(300, b"P")],
)


def test_fork_copies_memory_and_join_reports_the_child(no_leak):
    r = wasix_nb.run(FORK, timeout=30)
    assert (r.outcome, r.stdout) == ("exited", b"CP"), r.message
    assert r.exit_code == 7 + 10 * 2  # child's code, child's pid 2
    forks = [e for e in r.log if e.name == "proc_fork" and e.mark != "unwinding"]
    assert sorted(e.outs[0] for e in forks) == [0, 2]  # child sees 0, the parent 2


def test_vfork_parent_waits_until_the_child_ends(no_leak):
    src = FORK.replace("(call $proc_fork (i32.const 1)", "(call $proc_fork (i32.const 0)")
    r = wasix_nb.run(src, timeout=30)
    assert (r.stdout, r.exit_code) == (b"CP", 27), r.message


# a pipe (r at 100, w at 104) made before the fork: the child writes "hi" and exits; the parent closes
# its write end and reads to EOF, which comes only once the child's copy of the write end is closed too
PIPE = module(
    imports("fd_pipe", "proc_fork", "proc_join", "proc_exit", "fd_write", "fd_read", "fd_close"),
    PRINT
    + """
  (func (export "_start")
    (local $n i32) (local $total i32)
    (drop (call $fd_pipe (i32.const 100) (i32.const 104)))
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (drop (call $fd_close (i32.load (i32.const 100))))
            (i32.store (i32.const 120) (i32.const 300))
            (i32.store (i32.const 124) (i32.const 2))
            (drop (call $fd_write (i32.load (i32.const 104)) (i32.const 120) (i32.const 1) (i32.const 128)))
            (call $proc_exit (i32.const 0))))
    (drop (call $fd_close (i32.load (i32.const 104))))
    (block $eof (loop $more
      (i32.store (i32.const 120) (i32.add (i32.const 400) (local.get $total)))
      (i32.store (i32.const 124) (i32.const 16))
      (drop (call $fd_read (i32.load (i32.const 100)) (i32.const 120) (i32.const 1) (i32.const 128)))
      (local.set $n (i32.load (i32.const 128)))
      (br_if $eof (i32.eqz (local.get $n)))
      (local.set $total (i32.add (local.get $total) (local.get $n)))
      (br $more)))
    (call $print (i32.const 400) (local.get $total))
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32))))""",
    data=[(300, b"hi")],
)


def test_inherited_pipe_end_closes_once_when_its_last_holder_closes(no_leak):
    r = wasix_nb.run(PIPE, timeout=30)
    assert (r.outcome, r.stdout) == ("returned", b"hi"), r.message


# the child traps; the parent joins and exits with the signal the status reports (SIGABRT: 6)
TRAP = module(
    imports("proc_fork", "proc_join", "proc_exit"),
    """
  (func (export "_start")
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0))) (then unreachable))
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32)))
    (call $proc_exit (i32.add (i32.mul (i32.load8_u (i32.const 32)) (i32.const 100)) (i32.load8_u (i32.const 36)))))""",
)


def test_a_child_trap_never_ends_the_parent(no_leak):
    r = wasix_nb.run(TRAP, timeout=30)
    assert (r.outcome, r.exit_code) == ("exited", 2 * 100 + 6), r.message  # tag 2 (signal), SIGABRT


# fork until fork fails; each child blocks reading a pipe nobody writes; the parent exits with
# errno * 100 + children made (the children are killed when pid 1 ends)
BOMB = module(
    imports("fd_pipe", "proc_fork", "proc_exit", "fd_read"),
    """
  (func (export "_start")
    (local $err i32) (local $kids i32)
    (drop (call $fd_pipe (i32.const 100) (i32.const 104)))
    (block $done (loop $again
      (local.set $err (call $proc_fork (i32.const 1) (i32.const 0)))
      (br_if $done (local.get $err))
      (if (i32.eqz (i32.load (i32.const 0)))
        (then (i32.store (i32.const 120) (i32.const 400))
              (i32.store (i32.const 124) (i32.const 4))
              (drop (call $fd_read (i32.load (i32.const 100)) (i32.const 120) (i32.const 1) (i32.const 128)))
              (call $proc_exit (i32.const 0))))
      (local.set $kids (i32.add (local.get $kids) (i32.const 1)))
      (br $again)))
    (call $proc_exit (i32.add (i32.mul (local.get $err) (i32.const 100)) (local.get $kids))))""",
)


def test_fork_bomb_meets_the_process_limit_with_eagain(no_leak):
    before = threading.active_count()
    r = wasix_nb.run(BOMB, timeout=60, max_procs=5)
    assert (r.outcome, r.exit_code) == ("exited", 6 * 100 + 4), r.message  # AGAIN after 4 children
    assert threading.active_count() <= before


# pid 1 forks a child that blocks in a read; pid 1 blocks in join: kill() ends both within 1 s
HANG = module(
    imports("fd_pipe", "proc_fork", "proc_join", "fd_read"),
    """
  (func (export "_start")
    (drop (call $fd_pipe (i32.const 100) (i32.const 104)))
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (i32.store (i32.const 120) (i32.const 400))
            (i32.store (i32.const 124) (i32.const 4))
            (drop (call $fd_read (i32.load (i32.const 100)) (i32.const 120) (i32.const 1) (i32.const 128)))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32))))""",
)


@pytest.mark.parametrize("how", ["kill", "timeout"])
def test_kill_or_timeout_ends_the_whole_tree_within_a_second(no_leak, how):
    from conftest import wait_for

    before = threading.active_count()
    p = wasix_nb.Process(HANG, timeout=1.5 if how == "timeout" else None).start()
    wait_for(
        lambda: (
            p.procs is not None
            and len(p.procs.processes()) == 2
            and all(q.status == "running" for q in p.procs.processes())
        ),
        timeout=30,
    )
    child = p.procs.processes()[1]
    time.sleep(0.2)
    t0 = time.monotonic()
    r = p.kill() if how == "kill" else p.wait(30)
    if how == "kill":
        assert time.monotonic() - t0 < 1.0
    assert r.outcome == ("killed" if how == "kill" else "timeout")
    assert child.done.is_set() and child.status == "killed"
    wait_for(lambda: threading.active_count() <= before, timeout=2)


# exec: the child runs another program from the command map, with the descriptors it inherited
HELLO = module(
    imports("fd_write", "args_sizes_get"),
    PRINT
    + """
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 500) (i32.const 504)))
    (i32.store8 (i32.const 300) (i32.add (i32.const 48) (i32.load (i32.const 500))))
    (call $print (i32.const 300) (i32.const 1)))""",
)

EXEC = module(
    imports("proc_fork", "proc_exec", "proc_join", "proc_exit"),
    """
  (func (export "_start")
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (call $proc_exec (i32.const 300) (i32.const 9) (i32.const 320) (i32.const 11))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32)))
    (call $proc_exit (i32.load16_u (i32.const 34))))""",
    data=[(300, b"/bin/echo"), (320, b"echo\na\nb\nc")],
)


def test_exec_runs_a_mapped_program_and_an_unknown_one_fails_with_noent(no_leak):
    r = wasix_nb.run(EXEC, timeout=30, commands={"echo": HELLO})
    assert (r.outcome, r.exit_code, r.stdout) == ("exited", 0, b"4"), r.message  # argc 4 in the new image
    r = wasix_nb.run(EXEC, timeout=30)
    assert (r.outcome, r.exit_code, r.stdout) == ("exited", 44, b""), r.message  # NOENT


def test_process_tree_and_lsof_views(no_leak):
    from conftest import wait_for

    p = wasix_nb.Process(HANG).start()
    wait_for(
        lambda: (
            p.procs is not None
            and len(p.processes) == 2
            and "fd_read" in p.processes.state.iloc[1]
            and "proc_join" in p.processes.state.iloc[0]
        ),
        timeout=30,
    )
    tree = p.processes
    assert list(tree.pid) == [1, 2] and list(tree.parent) == [0, 1]
    assert tree.state.iloc[0] == "blocked in proc_join"
    assert tree.state.iloc[1] == "blocked in fd_read on fd 3"
    lsof = p.lsof()
    assert list(lsof.kind) == ["pipe", "pipe"]
    assert list(lsof.holders) == ["pid 1 fd 3, pid 2 fd 3", "pid 1 fd 4, pid 2 fd 4"]
    r = p.kill()
    assert list(r.processes.state) == ["killed", "killed"]
    assert r.lsof().empty  # nothing open once the run is over


def test_trace_names_each_process():
    r = wasix_nb.run(FORK, timeout=30)
    by_pid = {pid: list(g.syscall) for pid, g in r.trace.groupby("pid")}
    assert by_pid[2] == ["proc_fork", "fd_write", "proc_exit"]
    assert "proc_join" in by_pid[1]


# the parent ends its blocked child with proc_signal(SIGTERM) and joins it: exit tag * 100 + signal
SIGNAL = module(
    imports("fd_pipe", "proc_fork", "proc_join", "proc_signal", "proc_exit", "fd_read"),
    """
  (func (export "_start")
    (drop (call $fd_pipe (i32.const 100) (i32.const 104)))
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (i32.store (i32.const 120) (i32.const 400))
            (i32.store (i32.const 124) (i32.const 4))
            (drop (call $fd_read (i32.load (i32.const 100)) (i32.const 120) (i32.const 1) (i32.const 128)))
            (call $proc_exit (i32.const 1))))
    (drop (call $proc_signal (i32.load (i32.const 0)) (i32.const 15)))
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32)))
    (call $proc_exit (i32.add (i32.mul (i32.load8_u (i32.const 32)) (i32.const 100)) (i32.load8_u (i32.const 36)))))""",
)


def test_proc_signal_sigterm_ends_the_child_and_join_reports_the_signal(no_leak):
    r = wasix_nb.run(SIGNAL, timeout=30)
    assert (r.outcome, r.exit_code) == ("exited", 2 * 100 + 15), r.message
    sig = [e for e in r.log if e.name == "proc_signal"][0]
    assert sig.errno == 0 and "SIGTERM" in sig.mark


def test_live_panel_has_a_processes_section_with_shared_descriptors(no_leak):
    pytest.importorskip("ipywidgets")
    from conftest import wait_for
    from wasix_nb.views.panel import LivePanel

    p = wasix_nb.Process(HANG).start()
    panel = LivePanel(p)
    try:
        wait_for(
            lambda: p.procs is not None and len(p.processes) == 2 and "fd_read" in p.processes.state.iloc[1], timeout=30
        )
        panel.update()
        top = panel.top.value
        assert "<h4>processes</h4>" in top and "blocked in fd_read on fd 3" in top
        assert "<h4>shared by several processes</h4>" in top and "pid 1 fd 3, pid 2 fd 3" in top
    finally:
        p.kill()
        panel.close()


# the child exits with its pid * 10 + its parent's pid (proc_id, proc_parent); the parent with that code
IDS = module(
    imports("proc_fork", "proc_join", "proc_exit", "proc_id", "proc_parent"),
    """
  (func (export "_start")
    (drop (call $proc_fork (i32.const 1) (i32.const 0)))
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (drop (call $proc_id (i32.const 40)))
            (drop (call $proc_parent (i32.load (i32.const 40)) (i32.const 44)))
            (call $proc_exit (i32.add (i32.mul (i32.load (i32.const 40)) (i32.const 10)) (i32.load (i32.const 44))))))
    (i32.store8 (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (i32.load (i32.const 0)))                 ;; join that very pid
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32)))
    (drop (call $proc_parent (i32.const 1) (i32.const 48)))              ;; pid 1's parent: 0 (the host)
    (call $proc_exit (i32.add (i32.load16_u (i32.const 34)) (i32.mul (i32.load (i32.const 48)) (i32.const 1000)))))""",
)


def test_proc_id_and_proc_parent_in_the_child_and_join_by_pid():
    r = wasix_nb.run(IDS, timeout=30)
    assert (r.outcome, r.exit_code) == ("exited", 2 * 10 + 1), r.message
