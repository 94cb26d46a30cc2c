"""The process table of one run: pids, fork, exec, join, signals between processes, the process limit,
and ending the whole tree.

pid 1 is the process the user started; children count up from 2 (the reference runtime does the same,
and the reference outputs print those numbers).  Each process runs in its own Python thread with its own
engine, Store and instance; a fork child gets a copy of the parent's memory, exported mutable globals
(`__stack_pointer`, `__tls_base`, ...) and setjmp checkpoints, and a copy of its descriptor table whose
entries refer to the same open files (closed at the OS when the last holder lets go).

A process that ends stays in the table as a zombie until its parent joins it.  When pid 1 ends the run
ends, as a container's does: every process still running is killed, and its descriptors closed.
vfork is a fork whose parent waits until the child execs or ends (what vfork promises to the program).
"""

import ctypes
import os
import posixpath
import threading
import time

from .. import compile as _compile
from ..abi.errno import Errno, WasiError
from ..abi.memory import GuestMemory
from ..host.registry import Control
from ..options import DEFAULT_MAX_PROCS

PAGE = 65536
KEEP_ENDED = 1000  # reaped processes the views still list (a forking server makes many)
SIGKILL, SIGABRT, SIGTERM, SIGCHLD = 9, 6, 15, 17
ENOENT_EXIT, ENOEXEC_EXIT = int(Errno.NOENT), int(Errno.NOEXEC)
# what a fork child takes over from its parent's Host besides the descriptor table
INHERITED = ("signal_callback", "tty", "cwd", "scratch_dir", "umask", "stdin_fd", "signal_dispositions")


class Exec(Control):
    """`proc_exec`: the calling process goes on with another program (same pid and descriptors)."""

    def __init__(self, name: str, argv: list, env=None):
        super().__init__(name)
        self.name = name
        self.argv = argv
        self.env = env  # [b"K=V", ...] for the new image (proc_exec2/3); None keeps the environment


def table_of(proc) -> "ProcTable":
    """The table of `proc`'s run, made on the first fork (a run that never forks never has one)."""
    if proc.procs is None:
        proc.procs = ProcTable(proc)
    return proc.procs


def status_of(proc):
    """(tag, code, signal) as proc_join reports it: 1 = exited with code, 2 = ended by signal."""
    sig = getattr(proc, "term_signal", None)
    if proc.status in ("returned", "exited"):
        killed = getattr(proc.host, "killed_by", None)
        code = proc.exit_code or 0
        if killed and killed.startswith("SIG") and 128 < code < 160:
            return 2, 0, code - 128  # a signal's default action ended it
        return 1, code & 0xFFFF, 0
    if proc.status == "trapped":
        return 2, 0, SIGABRT
    return 2, 0, sig or SIGKILL  # killed, timeout, interrupted


class ProcTable:
    """Every process of one run by pid, alive or zombie; guarded by one condition variable."""

    def __init__(self, root):
        self.root = root
        self.cond = threading.Condition()
        self.procs = {root.pid: root}  # alive or zombie: what holds a process slot
        self.history = {root.pid: root}  # every process made (ended ones: the newest KEEP_ENDED)
        self.next_pid = root.pid + 1
        self.limit = getattr(root.options, "max_procs", None) or DEFAULT_MAX_PROCS
        self.ending = False
        self.pending = 0  # slots taken by children being made (fork, spawn), not yet in `procs`
        root.children = getattr(root, "children", [])

    # -- fork ---------------------------------------------------------------------------------
    def live(self) -> int:
        """Processes holding a slot: running ones, zombies (not yet joined), as POSIX counts them, and
        children being made."""
        return len(self.procs) + self.pending

    def reserve(self) -> int:
        """Take a slot and a pid for a child about to be made (AGAIN past the limit or while the run
        ends); give it back with `unreserve` once the child is in `procs` or was not made."""
        with self.cond:
            if self.ending:
                raise WasiError(Errno.AGAIN, "the run is ending")
            if self.live() >= self.limit:
                raise WasiError(Errno.AGAIN, f"process limit ({self.limit}) reached")
            self.pending += 1
            pid = self.next_pid
            self.next_pid += 1
            return pid

    def unreserve(self):
        with self.cond:
            self.pending -= 1

    def fork(self, parent, thread, frozen, vfork=False):
        """Make the child of `parent` from its unwound `frozen` stack (called while the parent's stack
        is off, so its memory is still) and start it; returns the child."""
        from .process import Process

        pid = self.reserve()
        try:
            child = Process(parent.source, parent.options, parent=parent, pid=pid)
        except BaseException:
            self.unreserve()
            raise
        try:
            child.name = parent.name
            ct = child.wasm_threads[1]
            ct.entry, ct.args = thread.entry, thread.args
            child.instantiate()
            copy_memory(parent, child, ct)
            st = ct.stack
            st.checkpoints = type(thread.stack.checkpoints)(thread.stack.checkpoints)
            st.rewind(frozen, 0, restore=None)  # every exported mutable global, as the parent had it
        except BaseException:
            child.close()
            self.unreserve()
            raise
        child.vfork_done = threading.Event() if vfork else None
        with self.cond:
            self.pending -= 1
            self.procs[pid] = child
            self.history[pid] = child
            parent.children.append(pid)
        child.start()
        return child

    def wait_vfork(self, parent_host, child):
        """vfork: the parent sleeps until the child execs or ends (cancellable)."""
        ev = child.vfork_done
        while not ev.wait(0.05):
            parent_host.check_cancelled()

    # -- ends -----------------------------------------------------------------------------------
    def ended(self, proc):
        """`proc` finished (called from its own thread after its descriptors are closed)."""
        with self.cond:
            self.cond.notify_all()
        if getattr(proc, "vfork_done", None) is not None:
            proc.vfork_done.set()
        parent = proc.parent
        if parent is not None and not parent.done.is_set():
            try:
                signal_process(parent, SIGCHLD)
            except Exception:  # noqa: BLE001 - a signal must not break the child's end
                pass

    def join(self, host, proc, pid, nonblock):
        """Wait for a child of `proc` (pid None: any). Returns (pid, status) or (0, None) when
        `nonblock` and none has ended; raises CHILD when there is nothing to wait for."""
        from . import signals as _signals

        with self.cond:
            while True:
                kids = [self.procs[c] for c in proc.children if c in self.procs]
                if pid is not None:
                    kids = [k for k in kids if k.pid == pid]
                if not kids:
                    raise WasiError(Errno.CHILD)
                done = [k for k in kids if k.done.is_set()]
                if done:
                    k = done[0]
                    del self.procs[k.pid]  # reaped: no longer a zombie
                    proc.children.remove(k.pid)
                    k.reaped = True
                    self._trim()
                    return k.pid, status_of(k)
                if nonblock:
                    return 0, None
                self.cond.wait(0.1)
                host.check_cancelled()
                if _signals.interrupts_wait(proc):
                    break
        proc.take_signals()  # a handled signal ends the wait, as waitpid's EINTR (runtime/signals.py)
        raise WasiError(Errno.INTR, "interrupted by a signal (its handler ran)")

    # -- signals --------------------------------------------------------------------------------
    def find(self, pid):
        with self.cond:
            return self.procs.get(pid)

    # -- the end of the run -----------------------------------------------------------------------
    def stop_all(self, reason="killed", but=None):
        with self.cond:
            others = [p for p in self.procs.values() if p is not but]
        for p in others:
            p.stop(reason)

    def end_tree(self, timeout=5.0):
        """pid 1 ended: kill every other process and wait for their ends (descriptors closed)."""
        with self.cond:
            self.ending = True
            others = [p for p in self.procs.values() if p is not self.root]
        for p in others:
            if not p.done.is_set():
                p.term_signal = SIGKILL
                p.stop("killed")
        end = time.monotonic() + timeout
        for p in others:
            p.wait(max(0.0, end - time.monotonic()))

    def _trim(self):
        gone = [pid for pid, p in self.history.items() if pid not in self.procs]
        for pid in gone[: max(0, len(gone) - KEEP_ENDED)]:
            del self.history[pid]

    def processes(self):
        """Processes holding a slot (alive or zombie), by pid."""
        with self.cond:
            return sorted(self.procs.values(), key=lambda p: p.pid)

    def every(self):
        """Every process the views know of (reaped ones included, the newest KEEP_ENDED), by pid."""
        with self.cond:
            return sorted(self.history.values(), key=lambda p: p.pid)


def release(proc):
    """Drop an ended child's stores, instances and memory (its rows and status stay for the views);
    called by its own thread once its Result is made."""
    for t in list(proc.wasm_threads.values()):
        t.instance = t.stack = t.store = None
    proc.host.mem = GuestMemory.of_bytearray(bytearray())
    proc.shared_memory = proc.linked = None
    proc.retired = []


def signal_process(target, sig, sender=None):
    """`sig` from another process (proc_signal, SIGCHLD): as runtime/signals.py does within a process,
    but queued for the target's own thread (never run on the sender's).  A handled signal runs at the
    target's next host call, wake-up, or epoch tick (a thread busy in pure wasm; runtime/epoch.py)."""
    from . import signals as _signals
    from .thread import End

    if sig == 0 or target.done.is_set():
        return "the target exists"
    nm = _signals.name(sig)
    if sig != _signals.KILL and target.signal_handler is None and _ignores(target, sig):
        return f"{nm} ignored by pid {target.pid} (SIG_IGN inherited through spawn)"
    if sig == _signals.KILL or (target.signal_handler is None and sig not in _signals.IGNORED | _signals.STOPS):
        target.term_signal = sig
        target.host.killed_by = nm
        who = f" from pid {sender}" if sender else ""
        target.end_with(End("exited", 128 + sig, f"killed by {nm}{who} (exit {128 + sig})"))
        return f"{nm}: ends pid {target.pid} (default action)"
    if target.signal_handler is None:
        return f"{nm} ignored by pid {target.pid} (default action)"
    t = target.wasm_threads.get(1)
    if t is None or t.state == "ended":
        t = next((x for x in target.wasm_threads.values() if x.state != "ended"), None)
    if t is None:
        return f"{nm}: pid {target.pid} is ending"
    if sig not in t.signals:  # pending once, as in runtime/signals.py
        t.signals.append(sig)
    _signals.wake(target, t)  # its wait ends, or its next epoch tick runs the handler
    return f"{nm} queued for pid {target.pid}"


def _ignores(target, sig) -> bool:
    return any(s == sig for s, _ in getattr(target.host, "signal_dispositions", ()))


_memcmp = ctypes.CDLL(None).memcmp
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_COPY_CHUNK = 1 << 16


def copy_memory(parent, child, thread):
    """Give the child's memory the parent's size and bytes (the parent is unwound: nothing writes).
    Only the 64 KiB chunks that differ are written: the child's memory is fresh (zeros plus the data
    segments), and writing a page costs a page fault, reading an untouched one does not."""
    src, dst = parent.host.mem, child.host.mem
    n = src.size
    have = dst.size
    if n > have:
        pages = (n - have) // PAGE
        if child.shared_memory is not None:
            child.shared_memory.grow(pages)
        else:
            mem = thread.instance.exports(thread.store)[child.linked.memory_export]
            mem.grow(thread.store, pages)
    s, d = src._base, dst._base  # noqa: SLF001 - both views are of live memories
    for off in range(0, n, _COPY_CHUNK):
        k = min(_COPY_CHUNK, n - off)
        if _memcmp(s + off, d + off, k):
            ctypes.memmove(d + off, s + off, k)


# -- exec ---------------------------------------------------------------------------------------------
def resolve(commands, name):
    """The program a name runs: the command map by the exact name, else by its last path component
    (a shell asks for /bin/cat or /usr/local/bin/cat)."""
    commands = commands or {}
    if name in commands:
        return commands[name]
    base = posixpath.basename(name)
    return commands.get(base) if base else None


def exec_image(proc, exc: Exec):
    """Replace `proc`'s program (its pid, descriptors and output stay): returns the End of the new
    program's main thread, or an End saying why exec failed (exit 44 NOENT: unknown program,
    45 NOEXEC: not a program wasix_nb can run)."""
    from . import link as _link
    from .thread import End, WasmThread

    if getattr(proc, "vfork_done", None) is not None:
        proc.vfork_done.set()  # a vfork parent goes on once the child execs
    target = resolve(getattr(proc.options, "commands", None), exc.name)
    if target is None:
        msg = f"exec {exc.name}: no such program (map it with commands={{...}} / --map-command)"
        return End("exited", ENOENT_EXIT, msg)
    try:
        source = _compile.Source.load(target)
        module = _compile.POOL.module(proc._engine, source)
    except Exception as e:  # noqa: BLE001 - a failed exec ends the process, never the host
        return End("exited", ENOEXEC_EXIT, f"exec {exc.name}: {str(e).splitlines()[0] if str(e) else e}")
    if not stop_other_threads(proc):  # POSIX: execve ends every other thread first
        return End("stopped", reason=proc.host.cancel_reason or "killed")
    try:
        argv = exc.argv or [exc.name]
        proc.host.fds.close_on_exec()
        proc.host.args = [a.encode() for a in argv]
        if exc.env is not None:
            proc.host.env = list(exc.env)
        main = WasmThread(proc, 1, "_start", store=proc.new_store(budget=False))
        old = proc.linked
        linked = _link.link(proc._engine, module, source, proc.host, proc.options, lambda c: [], main.store)
    except Exception as e:  # noqa: BLE001 - a failed exec ends the process, never the host
        return End("exited", ENOEXEC_EXIT, f"exec {exc.name}: {str(e).splitlines()[0] if str(e) else e}")
    proc.retired.append(old)  # its raw callbacks must outlive any store using them
    proc.source, proc.module, proc.linked = source, module, linked
    proc.name = os.path.basename(exc.name)
    proc.shared_memory = linked.shared
    proc.host.mem = (
        GuestMemory.of_shared(linked.shared) if linked.shared is not None else GuestMemory.of_bytearray(bytearray())
    )
    proc.wasm_threads = {1: main}
    proc.execs += 1
    return main.run()


EXEC_GRACE = 1.0  # seconds the other threads get to end before exec goes on without them


def stop_other_threads(proc, grace=EXEC_GRACE) -> bool:
    """exec: end every thread of `proc` but the caller's (POSIX execve), as the end of a process does
    (wake blocking calls and futex waits, trap running wasm) but without ending the process: the wake
    is a cancel with no reason, cleared once they are gone.  Threads that outlast `grace` are left
    behind (counted as stragglers).  False when the process was stopped meanwhile (kill, timeout):
    then exec does not go on."""
    from ..host.futex import Futexes

    me = proc.current_thread()
    others = [t for t in list(proc.wasm_threads.values()) if t is not me and t.py_thread is not None]
    if not any(t.py_thread.is_alive() for t in others) and not proc.host.cancelled.is_set():
        return True
    proc.execing = True
    proc._halt(None)  # noqa: SLF001 - a cancel without a reason: not the end of the process
    deadline = time.monotonic() + grace
    for t in others:
        th = t.py_thread
        while th.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                proc._stragglers += 1  # noqa: SLF001 - its engine is not reused
                break
            proc._halt(None)  # noqa: SLF001 - again: a thread may have made its store after the first tick
            th.join(min(left, 0.05))
    h = proc.host
    with proc._stop_lock, proc._lock:  # noqa: SLF001 - no kill may slip between the check and the clear
        if h.cancel_reason is not None or proc._end is not None:  # noqa: SLF001
            return False
        h.cancelled.clear()
        try:
            while os.read(h.wake_fd, 4096):
                pass
        except OSError:  # BlockingIOError: drained
            pass
        proc.futexes = h.futexes = Futexes()  # the new image's wait queues
        proc.exec_pending = None  # a worker's exec that raced this one lost
        proc.execing = False
    return True


def pending_exec(proc, end):
    """The End the main thread goes on with: a worker thread's exec when one stopped it, else `end`."""
    p, proc.exec_pending = getattr(proc, "exec_pending", None), None
    if p is not None and end.kind in ("stopped", "trapped") and proc.host.cancel_reason is None:
        return p
    return end


def exec_from_thread(proc, t, end) -> bool:
    """A worker thread called proc_exec: the main thread is stopped and `run()` execs in its place.
    False if the process is already ending (or another exec won)."""
    with proc._lock:  # noqa: SLF001
        if proc._end is not None or getattr(proc, "exec_pending", None) is not None:  # noqa: SLF001
            return False
        proc.exec_pending = end
        proc.execing = True
    proc._halt(None)  # noqa: SLF001
    return True


def command_root(commands):
    """A fresh directory holding an empty executable `bin/NAME` per command, preopened as `/` when the
    user gives `commands` but no `dirs`: a shell stats its PATH entries before it forks and execs, and
    finds the commands there (exec itself goes through the command map, never this directory)."""
    import tempfile

    root = tempfile.mkdtemp(prefix="wxbin")
    os.mkdir(os.path.join(root, "bin"))
    for name in commands:
        if name and "/" not in name and name not in (".", ".."):
            path = os.path.join(root, "bin", name)
            with open(path, "wb"):
                pass
            os.chmod(path, 0o755)
    return [f"{root}::/"]


def drop_command_root(proc):
    import shutil

    dirs, proc.command_root = getattr(proc, "command_root", None), None
    if dirs:
        shutil.rmtree(dirs[0].rsplit("::", 1)[0], ignore_errors=True)


def inherit_host(host, parent):
    """A fork child's Host: the run's one trace, the parent's stdio, policy and settings, and a copy of
    its descriptor table."""
    if parent.scratch_dir is None:
        parent.local_path("")  # one directory for LOCAL socket paths, shared by the tree
    host.trace = parent.trace
    host.fds._seq = parent.trace.events.__len__  # noqa: SLF001 - sequence numbers of the shared log
    host.fds.inherit(parent.fds)
    host._stdin, host._sinks = parent._stdin, parent._sinks  # noqa: SLF001
    host.policy = parent.policy
    host.args, host.env = list(parent.args), list(parent.env)
    for name in INHERITED:
        if hasattr(parent, name):
            setattr(host, name, getattr(parent, name))
    host.preopens = list(getattr(parent, "preopens", ()))
    for root in host.preopens:  # the child's own reference (dropped when it closes)
        root.hold()
