"""Processes: exit, ids, fork/vfork, exec, join, the terminal.

fork and vfork unwind the caller's stack with asyncify (runtime/asyncify.py) and make the child from it
(runtime/procs.py); exec ends the program with `Exec`, which the runtime catches to start the new one in
the same process; join waits on the run's process table.
"""

import struct

from ...abi.errno import Errno, WasiError
from ...runtime import asyncify
from ...runtime import procs as _procs
from ...runtime import spawn as _spawn
from ..host import ProcExit
from ..registry import WASIX, syscall
from .stack import stack_of

PID = 1  # the first process (a run that never forks has only it)
_OPTION_PID = struct.Struct("<B3xI")  # tag u8 (1 = some), pid u32 @4
_JOIN_STATUS = struct.Struct("<BxHBx")  # tag u8 (0 nothing, 1 exit, 2 signal), u16 code @2, u8 sig @4
JOIN_NON_BLOCKING = 1
_HANDLES = struct.Struct("<IB3xIB3xIB3xI")  # pid, then OptionFd (tag u8, fd u32 @4) for stdin/out/err: 28
_FD_OP = struct.Struct("<B3xIIIIIH6xQQHB5x")  # __wasi_proc_spawn_fd_op_t: 56 bytes
_NONE_FD = 0xFFFFFFFF
MAX_FILE_ACTIONS = 4096  # a bound on the work one call may ask for (POSIX sets none)
PATH_MAX = 4096
_TTY = struct.Struct("<IIIIBBBBBB")  # cols, rows, width, height, stdin/stdout/stderr tty, echo,
# line_buffered, line_feeds (22 bytes)


@syscall("proc_exit", "code:u32", result=None)
def proc_exit(h, code):
    raise ProcExit(code & 0xFFFFFFFF)


@syscall("proc_exit2", "code:u32", result=None, modules=(WASIX,))
def proc_exit2(h, code):
    raise ProcExit(code & 0xFFFFFFFF)


def _pid(h):
    return getattr(h, "pid", PID)


@syscall("proc_id", "ret_pid:ptr", outs="pid", modules=(WASIX,))
def proc_id(h, ret_pid):
    pid = _pid(h)
    h.mem.set_u32(ret_pid, pid)
    return 0, (pid,)


@syscall("proc_parent", "pid:u32 ret_parent:ptr", outs="parent", modules=(WASIX,))
def proc_parent(h, pid, ret_parent):
    proc = getattr(h, "process", None)
    if pid == _pid(h):
        target = proc
    else:
        table = getattr(proc, "procs", None)
        target = table.find(pid) if table is not None else None
    if target is None:
        return int(Errno.SRCH)
    parent = target.parent.pid if getattr(target, "parent", None) is not None else 0
    h.mem.set_u32(ret_parent, parent)  # 0: started by the host, not by another program
    return 0, (parent,)


def _tty(h):
    # stdio is captured, never a terminal; a program may still change the settings it sees
    return getattr(h, "tty", (80, 24, 0, 0, 0, 0, 0, 0, 0, 1))


@syscall("tty_get", "state:ptr", modules=(WASIX,))
def tty_get(h, state):
    h.mem.pack(_TTY, state, *_tty(h))
    return 0


@syscall("tty_set", "state:ptr", modules=(WASIX,))
def tty_set(h, state):
    values = h.mem.unpack(_TTY, state)
    h.tty = values[:4] + (0, 0, 0) + values[7:]  # the stdio tty flags are not the program's to set
    return 0


@syscall("proc_fork", "copy_memory:bool ret_pid:ptr", outs="pid", modules=(WASIX,))
def proc_fork(h, copy_memory, ret_pid):
    st = stack_of(h)
    mem = h.mem
    if st.state() == asyncify.REWINDING:  # back in the parent (child's pid) or in the child (0)
        pid = st.resumed()
        if isinstance(pid, WasiError):  # the child could not be made
            raise pid
        mem.set_u32(ret_pid, pid)
        return 0, (pid,), ("child" if pid == 0 else None)
    mem.check(ret_pid, 4)
    proc = h.process
    table = _procs.table_of(proc)
    if table.live() >= table.limit:  # checked before unwinding: EAGAIN as fork(2)
        raise WasiError(Errno.AGAIN, f"process limit ({table.limit}) reached")
    thread = proc.current_thread() or proc.wasm_threads[1]
    vfork = not copy_memory

    def make_child(frozen):
        try:
            child = table.fork(proc, thread, frozen, vfork=vfork)
        except WasiError as e:
            st.rewind(frozen, e)
            return
        except Exception as e:  # noqa: BLE001 - the parent gets an errno, the host goes on
            st.rewind(frozen, WasiError(Errno.NOMEM, f"fork failed: {type(e).__name__}: {e}"))
            return
        if vfork:
            table.wait_vfork(h, child)
        st.rewind(frozen, child.pid)

    st.unwind(make_child)
    return 0, (), "unwinding"


def signal_other(h, pid, sig):
    """proc_signal to another process of the run (SRCH when there is none with that pid)."""
    table = getattr(getattr(h, "process", None), "procs", None)
    target = table.find(pid) if table is not None else None
    if target is None or (sig & 0xFF) >= 32:
        return int(Errno.SRCH if target is None else Errno.INVAL)
    return 0, (), _procs.signal_process(target, sig & 0xFF, sender=getattr(h, "pid", None))


@syscall("proc_exec", "name:ptr name_len:len args:ptr args_len:len", result=None, modules=(WASIX,))
def proc_exec(h, name, name_len, args, args_len):
    prog = h.mem.read(name, name_len & 0xFFFFFFFF).decode("utf-8", "replace")
    text = h.mem.read(args, args_len & 0xFFFFFFFF).decode("utf-8", "replace")
    argv = [a for a in text.replace("\r", "\n").split("\n") if a]
    raise _procs.Exec(prog, argv)


def _env(h, envs, envs_len):
    """A WASIX environment list (line-separated K=V) as host.env entries; None for a null pointer
    (keep the environment); INVAL for an entry without '=' (as Wasmer)."""
    if not envs & 0xFFFFFFFF:
        return None
    env = []
    for e in _lines(_text(h, envs, envs_len)):
        if "=" not in e:
            raise WasiError(Errno.INVAL, f"environment entry without '=': {e!r}")
        env.append(e.encode())
    return env


@syscall(
    "proc_exec2", "name:ptr name_len:len args:ptr args_len:len envs:ptr envs_len:len", result=None, modules=(WASIX,)
)
def proc_exec2(h, name, name_len, args, args_len, envs, envs_len):
    """proc_exec with the new image's environment (a null `envs` keeps the current one)."""
    prog, argv = _text(h, name, name_len), _lines(_text(h, args, args_len))
    try:
        env = _env(h, envs, envs_len)
    except WasiError:
        env = None  # cannot be answered (the call returns nothing): exec with the current environment
    raise _procs.Exec(prog, argv, env)


@syscall(
    "proc_exec3",
    "name:ptr name_len:len args:ptr args_len:len envs:ptr envs_len:len search_path:bool path:ptr path_len:len",
    modules=(WASIX,),
)
def proc_exec3(h, name, name_len, args, args_len, envs, envs_len, search, path, path_len):
    """execve that returns an errno when the program cannot run (NOENT: not in the command map, NOEXEC:
    not a program wasix_nb can run) and otherwise does not return."""
    prog, argv = _text(h, name, name_len), _lines(_text(h, args, args_len))
    env = _env(h, envs, envs_len)
    if search and path & 0xFFFFFFFF:
        _text(h, path, path_len)  # read (FAULT when bad); the command map answers every PATH entry
    proc = _caller(h)
    target = _procs.resolve(getattr(proc.options, "commands", None), prog)
    if target is None:
        return int(Errno.NOENT), None, f"{prog}: no such program (map it with commands={{...}} / --map-command)"
    try:
        from ... import compile as _compile

        _compile.POOL.module(proc._engine, _compile.Source.load(target))  # noqa: SLF001 - cached for the exec
    except Exception as e:  # noqa: BLE001 - not a program: the caller's errno
        return int(Errno.NOEXEC), None, f"{prog}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    raise _procs.Exec(prog, argv, env)


@syscall("proc_join", "pid:ptr flags:u32 ret_status:ptr", outs="pid", modules=(WASIX,))
def proc_join(h, pid_ptr, flags, ret_status):
    mem = h.mem
    tag, pid = mem.unpack(_OPTION_PID, pid_ptr)
    mem.check(ret_status, _JOIN_STATUS.size)
    if tag > 1:
        return int(Errno.INVAL)
    mem.pack(_OPTION_PID, pid_ptr, 0, 0)
    mem.pack(_JOIN_STATUS, ret_status, 0, 0, 0)
    proc = getattr(h, "process", None)
    table = getattr(proc, "procs", None)
    if table is None:
        return int(Errno.CHILD)  # never forked: no children
    got, status = table.join(h, proc, pid if tag == 1 else None, bool(flags & JOIN_NON_BLOCKING))
    if status is None:  # non-blocking, nothing ended yet
        mem.pack(_OPTION_PID, pid_ptr, 1, 0)
        return 0, (0,), "no child has ended"
    kind, code, sig = status
    mem.pack(_OPTION_PID, pid_ptr, 1, got)
    mem.pack(_JOIN_STATUS, ret_status, kind, code, sig)
    return 0, (got,), (f"exited {code}" if kind == 1 else f"killed by signal {sig}")


def _text(h, ptr, n) -> str:
    return h.mem.read(ptr, n & 0xFFFFFFFF).decode("utf-8", "replace")


def _lines(text):
    """WASIX string lists: entries separated by line feeds (or CRs), empty ones dropped."""
    return [a for a in text.replace("\r", "\n").split("\n") if a]


def _caller(h):
    proc = getattr(h, "process", None)
    if proc is None:
        raise WasiError(Errno.NOTSUP, "spawn needs a process (this host runs none)")
    return proc


@syscall(
    "proc_spawn",
    "name:ptr name_len:len chroot:bool args:ptr args_len:len preopen:ptr preopen_len:len stdin:u32 "
    "stdout:u32 stderr:u32 working_dir:ptr working_dir_len:len ret_handles:ptr",
    outs="pid",
    modules=(WASIX,),
)
def proc_spawn(h, name, name_len, chroot, args, args_len, preopen, preopen_len, sin, sout, serr, wd, wd_len, ret):
    """A child running `name` with stdin/stdout/stderr each inherited, piped (the other end becomes a
    descriptor of the caller, returned in ProcessHandles), or /dev/null; in `working_dir`."""
    prog, argv = _text(h, name, name_len), _lines(_text(h, args, args_len))
    pre, cwd = _lines(_text(h, preopen, preopen_len)), _text(h, wd, wd_len)
    h.mem.check(ret, _HANDLES.size)
    modes = (sin & 0xFF, sout & 0xFF, serr & 0xFF)
    if any(m > _spawn.LOG for m in modes) or (sin | sout | serr) & ~0xFF:
        return int(Errno.INVAL)
    if chroot:
        return int(Errno.NOTSUP), None, "chroot is not supported (as Wasmer)"
    if pre:
        return int(Errno.NOTSUP), None, "preopens for a spawned process are not supported (as Wasmer)"
    proc = _caller(h)
    made = []

    def setup(ch):
        if cwd and cwd != ".":
            err = _fs_change_dir(ch, cwd)
            if err:
                raise WasiError(err, f"working directory {cwd!r}")
        _spawn.wire_stdio(h, ch, modes, made)

    try:
        child = _spawn.spawn(proc, prog, argv, setup=setup)
    except BaseException:
        for _, pfd in made:  # the caller's ends of pipes to a child that never ran
            if pfd in h.fds.entries:
                h.fds.close(pfd, "spawn failed")
        raise
    fds = dict(made)
    opt = [(1, fds[i]) if i in fds else (0, _NONE_FD) for i in range(3)]
    h.mem.pack(_HANDLES, ret, child.pid, *opt[0], *opt[1], *opt[2])
    pipes = ", ".join(f"{('stdin', 'stdout', 'stderr')[i]} fd {fd}" for i, fd in made)
    return 0, (child.pid,), f"pid {child.pid}: {' '.join(argv) or prog}" + (f"; {pipes}" if pipes else "")


def _fs_change_dir(host, path):
    from . import fs

    return fs.change_dir(host, path)


@syscall(
    "proc_spawn2",
    "name:ptr name_len:len args:ptr args_len:len envs:ptr envs_len:len fd_ops:ptr fd_ops_len:len "
    "signals:ptr signals_len:len search_path:bool path:ptr path_len:len ret_pid:ptr",
    outs="pid",
    modules=(WASIX,),
)
def proc_spawn2(
    h, name, name_len, args, args_len, envs, envs_len, ops, ops_len, sigs, sigs_len, search, path, path_len, ret
):
    """posix_spawn: a child running `name` (the command map; `search_path` looks the bare name up the
    same way) with `args` and `envs` (line-separated; a null `envs` keeps the caller's environment),
    the signal dispositions [(sig u8, 0 default | 1 ignore)] and the file actions (close, dup2, open,
    chdir, fchdir) applied in order, then the CLOEXEC descriptors closed."""
    mem = h.mem
    prog, argv = _text(h, name, name_len), _lines(_text(h, args, args_len))
    env = _env(h, envs, envs_len)
    pairs = []
    if sigs & 0xFFFFFFFF:
        raw = mem.read(sigs, 2 * (sigs_len & 0xFFFFFFFF))
        for i in range(0, len(raw), 2):
            sig, disp = raw[i], raw[i + 1]
            if sig >= 32 or disp > _spawn.DISP_IGNORE:
                return int(Errno.INVAL), None, f"signal disposition ({sig}, {disp})"
            pairs.append((sig, disp))
    actions = []
    if ops & 0xFFFFFFFF:
        n = ops_len & 0xFFFFFFFF
        mem.check(ops, _FD_OP.size * n)
        if n > MAX_FILE_ACTIONS:
            return int(Errno.INVAL), None, f"{n} file actions (at most {MAX_FILE_ACTIONS})"
        for i in range(n):
            cmd, fd, src, p, plen, dirflags, oflags, base, inh, fdflags, ext = mem.unpack(_FD_OP, ops + _FD_OP.size * i)
            if cmd > _spawn.FCHDIR:
                return int(Errno.INVAL), None, f"unknown file action {cmd}"
            if cmd in (_spawn.OPEN, _spawn.CHDIR) and plen > PATH_MAX:
                return int(Errno.NAMETOOLONG)
            text = mem.read(p, plen) if cmd in (_spawn.OPEN, _spawn.CHDIR) else b""
            actions.append(_spawn.FileAction(cmd, fd, src, text, dirflags, oflags, base, inh, fdflags, ext))
    if search and path & 0xFFFFFFFF:
        _text(h, path, path_len)  # read (FAULT when bad); the command map answers every PATH entry
    mem.check(ret, 4)
    proc = _caller(h)

    def setup(ch):
        _spawn.set_dispositions(ch, pairs)
        _spawn.apply_actions(ch, actions)

    child = _spawn.spawn(proc, prog, argv, env, setup)
    mem.set_u32(ret, child.pid)
    note = f"pid {child.pid}: {' '.join(argv) or prog}"
    shown = ", ".join(map(repr, actions[:8])) + (f", ... ({len(actions)} actions)" if len(actions) > 8 else "")
    return 0, (child.pid,), note + (f"; {shown}" if actions else "")


@syscall("clock_time_set", "id:clockid time:ns", modules=(WASIX,))
def clock_time_set(h, clock_id, t):
    return int(Errno.PERM)  # the host's clock is not the program's to set
