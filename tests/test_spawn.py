"""proc_spawn / proc_spawn2 (posix_spawn) with WAT programs: the child comes from the command map, gets
its stdio wiring or file actions, args, environment and signal dispositions; it is a process like a
forked one (trace, views, join, limit, killed with the tree); every bad argument is an errno."""

import struct
import threading
import time

import pytest

import wasix_nb
from conftest import wait_for
from watlib import imports, module

PRINT = """
  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 200) (local.get $p))
    (i32.store (i32.const 204) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))"""

# prints its argc as a digit, then its environment count as a digit
ECHO = module(
    imports("fd_write", "args_sizes_get", "environ_sizes_get"),
    PRINT
    + """
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 500) (i32.const 504)))
    (drop (call $environ_sizes_get (i32.const 508) (i32.const 512)))
    (i32.store8 (i32.const 300) (i32.add (i32.const 48) (i32.load (i32.const 500))))
    (i32.store8 (i32.const 301) (i32.add (i32.const 48) (i32.load (i32.const 508))))
    (call $print (i32.const 300) (i32.const 2)))""",
)

# reads stdin until EOF (blocks while nobody writes); exits with the bytes read
CAT = module(
    imports("fd_read", "proc_exit"),
    """
  (func (export "_start")
    (local $n i32) (local $total i32)
    (block $eof (loop $more
      (i32.store (i32.const 120) (i32.const 400))
      (i32.store (i32.const 124) (i32.const 16))
      (drop (call $fd_read (i32.const 0) (i32.const 120) (i32.const 1) (i32.const 128)))
      (local.set $n (i32.load (i32.const 128)))
      (br_if $eof (i32.eqz (local.get $n)))
      (local.set $total (i32.add (local.get $total) (local.get $n)))
      (br $more)))
    (call $proc_exit (local.get $total)))""",
)

COMMANDS = {"echo": ECHO, "cat": CAT}
RUN = dict(commands=COMMANDS, dirs=[])  # no /bin preopen: the first pipe is fds 3 and 4

# read fd (i32 at 900) to EOF into 600.., print it
READ_ALL = """
  (func $read_all (param $fd i32) (result i32)
    (local $n i32) (local $total i32)
    (block $eof (loop $more
      (i32.store (i32.const 120) (i32.add (i32.const 600) (local.get $total)))
      (i32.store (i32.const 124) (i32.const 16))
      (drop (call $fd_read (local.get $fd) (i32.const 120) (i32.const 1) (i32.const 128)))
      (local.set $n (i32.load (i32.const 128)))
      (br_if $eof (i32.eqz (local.get $n)))
      (local.set $total (i32.add (local.get $total) (local.get $n)))
      (br $more)))
    (call $print (i32.const 600) (local.get $total))
    (local.get $total))
  (func $join_any (result i32)   ;; the exit code of any child, + 100 * its pid
    (i32.store8 (i32.const 16) (i32.const 0))
    (drop (call $proc_join (i32.const 16) (i32.const 0) (i32.const 32)))
    (i32.add (i32.load16_u (i32.const 34)) (i32.mul (i32.const 100) (i32.load (i32.const 20)))))
  (func $check (param $e i32)
    (if (local.get $e) (then (call $proc_exit (i32.add (i32.const 200) (local.get $e))))))"""


def spawn1(name: bytes, args: bytes, modes=(1, 0, 1), wd=b".", chroot=0, ret=400, extra=""):
    """A parent calling proc_spawn(name, args, modes, wd) -> handles at `ret` (errno: exit 200 + e);
    then `extra` (WAT), then it reads the child's stdout pipe to EOF, prints it and exits with the join."""
    sin, sout, serr = modes
    return module(
        imports("proc_spawn", "proc_join", "proc_exit", "fd_read", "fd_write", "fd_close"),
        PRINT
        + READ_ALL
        + f"""
  (func (export "_start")
    (call $check (call $proc_spawn (i32.const 1000) (i32.const {len(name)}) (i32.const {chroot})
        (i32.const 1100) (i32.const {len(args)}) (i32.const 0) (i32.const 0)
        (i32.const {sin}) (i32.const {sout}) (i32.const {serr}) (i32.const 1200) (i32.const {len(wd)}) (i32.const {ret})))
    {extra}
    (if (i32.load8_u (i32.const 412)) (then (drop (call $read_all (i32.load (i32.const 416))))))
    (call $proc_exit (call $join_any)))""",
        data=[(1000, name), (1100, args), (1200, wd)],
    )


def test_proc_spawn_pipes_the_childs_stdout_back_and_joins_it(no_leak):
    r = wasix_nb.run(spawn1(b"echo", b"echo\na\nb"), timeout=30, **RUN)
    assert (r.outcome, r.stdout, r.exit_code) == ("exited", b"30", 200), r.message  # argc 3, env 0; pid 2
    call = [e for e in r.log if e.name == "proc_spawn"][0]
    assert call.errno == 0 and call.outs == (2,) and "stdout fd" in call.mark
    by_pid = {pid: list(g.syscall) for pid, g in r.trace.groupby("pid")}
    assert by_pid[2] == ["args_sizes_get", "environ_sizes_get", "fd_write"]
    tree = r.processes
    assert list(tree.pid) == [1, 2] and list(tree.parent) == [0, 1] and tree.program.iloc[1] == "echo"


def test_proc_spawn_handles_layout_and_a_piped_stdin():
    # stdin piped (mode 0), stdout inherited: the parent writes "hey", closes its end; cat exits 3
    extra = """
    (i32.store (i32.const 120) (i32.const 1300))
    (i32.store (i32.const 124) (i32.const 3))
    (drop (call $fd_write (i32.load (i32.const 408)) (i32.const 120) (i32.const 1) (i32.const 128)))
    (drop (call $fd_close (i32.load (i32.const 408))))"""
    src = spawn1(b"cat", b"cat", modes=(0, 1, 1), extra=extra).replace(
        '(data (i32.const 1200) "\\2e")', '(data (i32.const 1200) "\\2e")\n  (data (i32.const 1300) "hey")'
    )
    p = wasix_nb.Process(src, timeout=30, **RUN)
    r = p.run()
    assert (r.outcome, r.exit_code) == ("exited", 203), r.message
    raw = bytes(p.host.mem.read(400, 28)) if p.host.mem.size else None
    call = [e for e in r.log if e.name == "proc_spawn"][0]
    assert "stdin fd" in call.mark
    if raw is not None:  # pid 2, stdin Some(fd), stdout None, stderr None
        pid, t0, fd0, t1, fd1, t2, fd2 = struct.unpack("<IB3xIB3xIB3xI", raw)
        assert (pid, t0, t1, t2) == (2, 1, 0, 0) and fd0 >= 3


def test_proc_spawn_null_stdout_and_working_directory(tmp_path, no_leak):
    (tmp_path / "sub").mkdir()
    r = wasix_nb.run(
        spawn1(b"echo", b"echo", modes=(1, 2, 1), wd=b"/sub"), timeout=30, commands=COMMANDS, dirs=[f"{tmp_path}::/"]
    )
    assert (r.outcome, r.stdout, r.exit_code) == ("exited", b"", 200), r.message  # /dev/null swallowed it
    r = wasix_nb.run(spawn1(b"echo", b"echo", wd=b"/nowhere"), timeout=30, commands=COMMANDS, dirs=[f"{tmp_path}::/"])
    assert r.exit_code == 200 + 44 and len(r.processes) == 1  # NOENT, no child


@pytest.mark.parametrize(
    "kw, errno",
    [
        (dict(name=b"nosuch"), 44),  # NOENT, as Wasmer's proc_spawn
        (dict(modes=(1, 9, 1)), 28),  # INVAL: no such stdio mode
        (dict(chroot=1), 58),  # NOTSUP, as Wasmer
        (dict(ret=0x7FFFFFF0), 21),  # FAULT: handles outside memory
    ],
)
def test_proc_spawn_errors(kw, errno, no_leak):
    args = dict(name=b"echo", args=b"echo")
    args.update(kw)
    r = wasix_nb.run(spawn1(**args), timeout=30, **RUN)
    assert (r.outcome, r.exit_code) == ("exited", 200 + errno), r.message
    assert len(r.processes) == 1


# -- proc_spawn2 ----------------------------------------------------------------------------------------
def fd_op(cmd, fd=0, src=0, path_ptr=0, path_len=0, oflags=0, rights=0, fdflags=0, ext=0, dirflags=1) -> bytes:
    return struct.pack(
        "<B3xIIIIIH6xQQHB5x", cmd, fd, src, path_ptr, path_len, dirflags, oflags, rights, rights, fdflags, ext
    )


CLOSE, DUP2, OPEN, CHDIR = 0, 1, 2, 3


def spawn2(name: bytes, args: bytes, ops=b"", nops=None, envs=None, sigs=b"", before="", after="", ret=400):
    """A parent: `before` (WAT), proc_spawn2(name, args, envs, ops @2000, sigs @1400) -> pid at `ret`
    (errno: exit 200 + e), then `after`, then exit with the join (code + 100 * pid)."""
    nops = len(ops) // 56 if nops is None else nops
    env_ptr, env_len = (0, 0) if envs is None else (1300, len(envs))
    return module(
        imports("proc_spawn2", "proc_join", "proc_exit", "fd_read", "fd_write", "fd_close", "fd_pipe", "proc_signal"),
        PRINT
        + READ_ALL
        + f"""
  (func (export "_start")
    {before}
    (call $check (call $proc_spawn2 (i32.const 1000) (i32.const {len(name)}) (i32.const 1100) (i32.const {len(args)})
        (i32.const {env_ptr}) (i32.const {env_len}) (i32.const {2000 if ops or nops else 0}) (i32.const {nops})
        (i32.const {1400 if sigs else 0}) (i32.const {len(sigs) // 2}) (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const {ret})))
    {after}
    (call $proc_exit (call $join_any)))""",
        data=[(1000, name), (1100, args), (1300, envs or b""), (1400, sigs or b"\0"), (2000, ops or b"\0")],
    )


PIPE_AT_100 = "(call $check (call $fd_pipe (i32.const 100) (i32.const 104)))"  # fds 3 (r) and 4 (w)
READ_PIPE = "(drop (call $fd_close (i32.const 4))) (drop (call $read_all (i32.const 3)))"


def test_proc_spawn2_dup2_file_action_wires_stdout_to_a_pipe(no_leak):
    ops = fd_op(DUP2, fd=1, src=4) + fd_op(CLOSE, fd=4) + fd_op(CLOSE, fd=3)
    src = spawn2(b"echo", b"echo\nx", ops, envs=b"A=1\nB=2\nC=3", before=PIPE_AT_100, after=READ_PIPE)
    p = wasix_nb.Process(src, timeout=30, **RUN)
    r = p.run()
    assert (r.outcome, r.stdout, r.exit_code) == ("exited", b"23", 200), r.message  # argc 2, 3 env vars
    child = p.procs.every()[1]
    assert [row["fd"] for row in child.final_rows] == [0, 1, 2]  # 3 and 4 closed, 1 is the pipe
    assert child.final_rows[1]["kind"] == "pipe"
    call = [e for e in r.log if e.name == "proc_spawn2"][0]
    assert "dup2(4, 1)" in call.mark and call.outs == (2,)


def test_proc_spawn2_inherits_the_environment_and_closes_cloexec_descriptors(no_leak):
    from wasix_nb.host.fdtable import FdTable  # noqa: F401 - the flag is set through the host below

    src = spawn2(b"echo", b"echo", before=PIPE_AT_100)
    p = wasix_nb.Process(src, timeout=30, **RUN, env={"X": "1"})
    orig = p.host.fds.add

    def add(file, cloexec=False):  # the pipe's write end (fd 4) is made CLOEXEC
        return orig(file, cloexec or len(p.host.fds.entries) == 4)

    p.host.fds.add = add
    r = p.run()
    assert (r.outcome, r.stdout, r.exit_code) == ("exited", b"11", 200), r.message  # argc 1, env 1 (X)
    child = p.procs.every()[1]
    assert 3 in [row["fd"] for row in child.final_rows] and 4 not in [row["fd"] for row in child.final_rows]


def test_proc_spawn2_open_and_chdir_file_actions(tmp_path, no_leak):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "in.txt").write_bytes(b"12345")
    # chdir /d, then open in.txt (relative to the new directory) as fd 0: cat exits with 5
    ops = fd_op(CHDIR, path_ptr=1500, path_len=2) + fd_op(OPEN, fd=0, path_ptr=1510, path_len=6, rights=0x2)
    src = spawn2(b"cat", b"cat", ops).replace(
        "(data (i32.const 2000)",
        '(data (i32.const 1500) "/d")\n  (data (i32.const 1510) "in.txt")\n  (data (i32.const 2000)',
    )
    r = wasix_nb.run(src, timeout=30, commands=COMMANDS, dirs=[f"{tmp_path}::/"])
    assert (r.outcome, r.exit_code) == ("exited", 205), r.message


def test_proc_spawn2_unknown_program_is_noent_and_nothing_is_left(no_leak):
    r = wasix_nb.run(spawn2(b"/bin/nosuch", b"nosuch"), timeout=30, **RUN)
    assert (r.outcome, r.exit_code) == ("exited", 200 + 44), r.message
    assert len(r.processes) == 1
    assert [e.errno for e in r.log if e.name == "proc_spawn2"] == [44]


@pytest.mark.parametrize(
    "kw, errno",
    [
        (dict(ops=fd_op(9)), 28),  # INVAL: no such file action
        (dict(ops=fd_op(DUP2, fd=1, src=77)), 8),  # BADF: dup2 from a closed descriptor
        (dict(ops=fd_op(DUP2, fd=65536, src=1)), 8),  # BADF: beyond the descriptor limit (Wasmer's test)
        (dict(ops=fd_op(OPEN, fd=0, path_ptr=1000, path_len=4)), 44),  # NOENT: no preopen holds it
        (dict(nops=0x100000), 21),  # FAULT: the actions run past the end of memory
        (dict(sigs=b"\x0f\x07"), 28),  # INVAL: no such disposition
        (dict(sigs=b"\x40\x01"), 28),  # INVAL: no such signal
        (dict(envs=b"NOEQUALS"), 28),  # INVAL: an environment entry needs '=' (as Wasmer)
        (dict(ret=0x7FFFFFF0), 21),  # FAULT: ret_pid outside memory
    ],
)
def test_proc_spawn2_errors(kw, errno, no_leak):
    r = wasix_nb.run(spawn2(b"echo", b"echo", **kw), timeout=30, **RUN)
    assert (r.outcome, r.exit_code) == ("exited", 200 + errno), r.message
    assert len(r.processes) == 1


def test_spawn_meets_the_process_limit_with_eagain(no_leak):
    # cat (stdin: the pipe at 3, which nobody writes until after the second spawn) stays alive
    ops = fd_op(DUP2, fd=0, src=3) + fd_op(CLOSE, fd=3) + fd_op(CLOSE, fd=4)
    second = """(i32.store (i32.const 96) (call $proc_spawn2 (i32.const 1000) (i32.const 3) (i32.const 1100)
        (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 404)))
        (drop (call $fd_close (i32.const 4)))"""
    src = spawn2(b"cat", b"cat", ops, before=PIPE_AT_100, after=second).replace(
        "(call $proc_exit (call $join_any))", "(drop (call $join_any)) (call $proc_exit (i32.load (i32.const 96)))"
    )
    r = wasix_nb.run(src, timeout=30, **RUN, max_procs=2)
    assert (r.outcome, r.exit_code) == ("exited", 6), r.message  # AGAIN
    assert [e.errno for e in r.log if e.name == "proc_spawn2"] == [0, 6]


def test_sigchld_and_ignored_signals_pass_to_the_spawned_child(no_leak):
    # cat ignores SIGTERM (disposition from the spawn): the parent's SIGTERM does nothing, SIGKILL ends it
    ops = fd_op(DUP2, fd=0, src=3) + fd_op(CLOSE, fd=3)
    after = """(drop (call $proc_signal (i32.load (i32.const 400)) (i32.const 15)))
               (drop (call $proc_signal (i32.load (i32.const 400)) (i32.const 9)))"""
    src = spawn2(b"cat", b"cat", ops, sigs=b"\x0f\x01", before=PIPE_AT_100, after=after).replace(
        "(call $proc_exit (call $join_any))",
        "(drop (call $join_any)) (call $proc_exit (i32.add (i32.mul (i32.load8_u (i32.const 32)) (i32.const 100)) (i32.load8_u (i32.const 36))))",
    )
    r = wasix_nb.run(src, timeout=30, **RUN)
    assert (r.outcome, r.exit_code) == ("exited", 2 * 100 + 9), r.message  # killed by SIGKILL, not SIGTERM
    marks = [e.mark for e in r.log if e.name == "proc_signal"]
    assert "ignored" in marks[0] and "SIGKILL" in marks[1]


@pytest.mark.parametrize("how", ["kill", "timeout"])
def test_kill_or_timeout_ends_spawned_children_within_a_second(how, no_leak):
    # the parent spawns cat on a pipe nobody writes and blocks joining it
    ops = fd_op(DUP2, fd=0, src=3) + fd_op(CLOSE, fd=3)
    before_threads = threading.active_count()
    p = wasix_nb.Process(
        spawn2(b"cat", b"cat", ops, before=PIPE_AT_100), **RUN, timeout=2 if how == "timeout" else None
    )
    p.start()
    wait_for(
        lambda: p.procs is not None and len(p.processes) == 2 and "fd_read" in p.processes.state.iloc[1], timeout=30
    )
    child = p.procs.find(2)
    t0 = time.monotonic()
    r = p.kill() if how == "kill" else p.wait(30)
    if how == "kill":
        assert time.monotonic() - t0 < 1.0
    assert r.outcome == ("killed" if how == "kill" else "timeout")
    assert child.done.is_set() and child.status == "killed"
    wait_for(lambda: threading.active_count() <= before_threads, timeout=2)
    assert r.lsof().empty


def test_ps_and_lsof_show_a_spawned_child(no_leak):
    ops = fd_op(DUP2, fd=0, src=3)
    p = wasix_nb.Process(spawn2(b"cat", b"cat", ops, before=PIPE_AT_100), **RUN)
    p.start()
    try:
        wait_for(
            lambda: p.procs is not None and len(p.processes) == 2 and "fd_read" in p.processes.state.iloc[1], timeout=30
        )
        assert list(p.processes.program) == [p.name, "cat"]
        holders = list(p.lsof().holders)
        assert "pid 1 fd 3, pid 2 fd 0, pid 2 fd 3" in holders
    finally:
        r = p.kill()
    assert list(r.processes.state) == ["killed", "killed"]


# -- proc_exec2 / proc_exec3: exec with an environment; exec3 answers an errno when it cannot run ------------
def exec_prog(call: str, name: bytes) -> str:
    """`call`(name, "echo\\na", "A=1\\nB=2"): exec3 exits 100 + its errno if it returns."""
    args = "(i32.const 1000) (i32.const %d) (i32.const 1100) (i32.const 6) (i32.const 1300) (i32.const 7)" % len(name)
    if call == "proc_exec3":
        body = f"(call $proc_exit (i32.add (i32.const 100) (call $proc_exec3 {args} (i32.const 1) (i32.const 0) (i32.const 0))))"
    else:
        body = f"(call $proc_exec2 {args}) (call $proc_exit (i32.const 99))"
    return module(
        imports(call, "proc_exit"),
        f'  (func (export "_start") {body})',
        data=[(1000, name), (1100, b"echo\na"), (1300, b"A=1\nB=2")],
    )


@pytest.mark.parametrize("call", ["proc_exec2", "proc_exec3"])
def test_proc_exec2_and_exec3_pass_the_environment(call, no_leak):
    r = wasix_nb.run(exec_prog(call, b"echo"), timeout=30, **RUN, env={"X": "1"})
    assert (r.outcome, r.stdout) == ("returned", b"22"), r.message  # argc 2, env A and B (X replaced)


def test_proc_exec3_of_an_unknown_program_returns_noent_and_goes_on(no_leak):
    r = wasix_nb.run(exec_prog("proc_exec3", b"nosuch"), timeout=30, **RUN)
    assert (r.outcome, r.exit_code) == ("exited", 100 + 44), r.message


# -- a C program: the struct layouts as clang lays them out from wasix-libc's declarations ----------------
def test_c_program_spawns_with_file_actions_and_piped_stdout(tmp_path, no_leak):
    import cbuild

    why = cbuild.missing()
    if why:
        pytest.skip(why)
    parent, child = cbuild.build("spawn", tmp_path), cbuild.build("spawn_child", tmp_path)
    r = wasix_nb.run(str(parent), timeout=60, commands={"echo": str(child)}, dirs=[])
    assert r.stdout == b"spawn2 pid 2: from spawn2 K=V|spawn pid 3: x\n", (r.stdout, r.message)
    assert (r.outcome, r.exit_code) == ("exited", 10 * 3 + 2), r.message


# a spawn bomb: every process spawns itself again and again; the limit holds exactly (slots are taken
# before a child is made, so concurrent spawns cannot pass it) and a kill ends the whole tree in 1 s
SPAWN_BOMB = module(
    imports("proc_spawn2", "thread_sleep"),
    """
  (func (export "_start")
    (loop $again
      (drop (call $proc_spawn2 (i32.const 100) (i32.const 4) (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (drop (call $thread_sleep (i64.const 1000000)))
      (br $again)))""",
    data=[(100, b"bomb")],
)


def test_a_spawn_bomb_meets_the_limit_exactly_and_dies_with_the_tree(no_leak):
    p = wasix_nb.Process(SPAWN_BOMB, commands={"bomb": SPAWN_BOMB}, dirs=[], max_procs=16).start()
    wait_for(lambda: p.procs is not None and len(p.procs.every()) >= 16, timeout=60)
    time.sleep(0.3)  # let them hammer the limit
    t0 = time.monotonic()
    r = p.kill()
    assert time.monotonic() - t0 < 1.0
    assert r.outcome == "killed" and len(r.processes) == 16  # never past the limit
    assert set(r.processes.state) == {"killed"}
    again = [e.errno for e in r.log if e.name == "proc_spawn2" and e.errno]
    assert again and set(again) == {6}  # AGAIN past it
