"""Processes: exit, ids, fork/vfork, exec, join, the terminal.

fork and vfork unwind the caller's stack with asyncify (runtime/asyncify.py) and make the child from it
(runtime/procs.py); exec ends the program with `Exec`, which the runtime catches to start the new one in
the same process; join waits on the run's process table.
"""

import struct

from ...abi.errno import Errno, WasiError
from ...runtime import asyncify
from ...runtime import procs as _procs
from ..host import ProcExit
from ..registry import WASIX, syscall
from .stack import stack_of

PID = 1  # the first process (a run that never forks has only it)
_OPTION_PID = struct.Struct("<B3xI")  # tag u8 (1 = some), pid u32 @4
_JOIN_STATUS = struct.Struct("<BxHBx")  # tag u8 (0 nothing, 1 exit, 2 signal), u16 code @2, u8 sig @4
JOIN_NON_BLOCKING = 1
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


@syscall("clock_time_set", "id:clockid time:ns", modules=(WASIX,))
def clock_time_set(h, clock_id, t):
    return int(Errno.PERM)  # the host's clock is not the program's to set
