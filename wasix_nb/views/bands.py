"""Processes on the timeline: one band per process (fork -> exit), with the marks that link them.

The facts come from the trace (who forked whom and when, exec, exit, the join that reaped a zombie)
and from each process's tables (its descriptors, threads, program name and state).  `BandScan` folds
the trace incrementally (the live panel feeds it the new events at each update); `bands(p, scan,
end_ns)` joins it with the tables into `Band`s, pid order, which `timeline.render` draws.

Times are on the trace's clock (ns since the trace began), as everywhere on the timeline.
"""

import sys
from dataclasses import dataclass, field

from ..trace import ARGS, CALL, CAP, DUR, ERRNO, MARK, OUTS, PID, START, TID
from . import procs as _procs
from .plain import closed_rows, open_rows, typed_args

FORKS = ("proc_fork",)
SPAWNS = ("proc_spawn", "proc_spawn2")
EXECS = ("proc_exec", "proc_exec2", "proc_exec3")
EXITS = ("proc_exit", "proc_exit2")
JOINS = ("proc_join",)
MAX_BANDS = 8  # processes with a band of their own (the others share one row)


@dataclass
class Band:
    """One process on the timeline."""

    pid: int
    parent: int  # 0: the run's first process
    program: str  # its program now (after any exec)
    state: str  # as proc.processes says it (running, blocked in X, zombie (exited 0), exited 0, killed...)
    start_ns: int  # fork (the parent's call) or spawn -> ...
    end_ns: int = None  # ... -> exit; None while it runs
    reaped_ns: int = None  # when its parent joined it (a zombie from end_ns until then)
    exit_text: str = ""  # "exited 0", "killed by signal 15", "killed"...
    how: str = ""  # "fork" / "spawn" / "" (the first process)
    born_ns: int = None  # when the parent called fork/spawn (the fork mark; the band starts there)
    first_ns: int = None  # its first call (a fork child: proc_fork returning 0 in the child)
    inherited_seq: int = None  # descriptors opened at or before this seq came with the fork (drawn from it)
    execs: list = field(default_factory=list)  # [(t_ns, program)]
    open_: list = field(default_factory=list)
    closed: list = field(default_factory=list)
    threads: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"pid {self.pid} {self.program}" + (f" · ppid {self.parent}" if self.parent else "")


class BandScan:
    """What the trace says about each process, folded event by event (feed it the new ones)."""

    def __init__(self):
        self.cursor = 0
        self.first = {}  # pid -> START of its first call
        self.first_seq = {}  # pid -> seq of its first call (a fork child's table was copied before it)
        self.last = {}  # pid -> end of its last call
        self.made = {}  # child pid -> (how, parent pid, t_ns of the parent's call)
        self.execs = {}  # pid -> [(t_ns, program)]
        self.exits = {}  # pid -> (t_ns, code)
        self.joins = {}  # child pid -> (t_ns the join returned, mark)
        self._unwinding = {}  # (pid, tid) -> START of a fork whose stack is being taken off

    def feed(self, events, t0, stop=None):
        """Fold events [cursor, stop) in (their seq order: a call is recorded when it returns)."""
        stop = len(events) if stop is None else stop
        if stop <= self.cursor:
            return self
        first, last, first_seq = self.first, self.last, self.first_seq
        for seq, ev in enumerate(events[self.cursor : stop], self.cursor):
            pid, t = ev[PID], ev[START] - t0
            end = t + ev[DUR]
            if pid not in first or t < first[pid]:
                first[pid] = t
            if pid not in first_seq:
                first_seq[pid] = seq
            if end > last.get(pid, -1):
                last[pid] = end
            name = ev[CALL].name
            if not name.startswith("proc_"):
                continue
            if name in FORKS:
                if ev[MARK] == "unwinding":
                    self._unwinding[(pid, ev[TID])] = t
                else:
                    t_call = self._unwinding.pop((pid, ev[TID]), t)
                    child = ev[OUTS][0] if ev[OUTS] and ev[ERRNO] == 0 else 0
                    if child:
                        self.made[child] = ("fork", pid, t_call)
            elif name in SPAWNS:
                outs = dict(zip(ev[CALL].outs, ev[OUTS] or ()))
                child = next((v for k, v in outs.items() if "pid" in k and isinstance(v, int) and v > 0), 0)
                if child and ev[ERRNO] == 0:
                    self.made[child] = ("spawn", pid, t)
            elif name in EXECS and not ev[ERRNO]:  # (proc_exec3 returns an errno when it failed)
                prog = typed_args(ev[CALL], ev[ARGS], ev[CAP], ev).get("name")
                if isinstance(prog, str) and prog:
                    self.execs.setdefault(pid, []).append((t, prog.rsplit("/", 1)[-1]))
            elif name in EXITS:
                self.exits[pid] = (t, ev[ARGS][0] if ev[ARGS] else None)
            elif name in JOINS and ev[ERRNO] == 0 and ev[OUTS] and ev[OUTS][0]:
                self.joins[ev[OUTS][0]] = (end, ev[MARK] or "")
        self.cursor = stop
        return self

    def forking(self, pid):
        """When `pid` began a fork that has not returned yet (None: it is not forking)."""
        return min((t for (p, _), t in self._unwinding.items() if p == pid), default=None)


def _wall_ns(trace, wall):
    """A time.time() of the processes table on the trace's clock."""
    wall0 = getattr(trace, "wall0", None)
    if wall is None or wall0 is None:
        return None
    return int((wall - wall0) * 1e9)


def shown(items, most=None):
    """(shown, collapsed) of pid-ordered items: the first process and the newest `most` - 1."""
    most = MAX_BANDS if most is None else most
    if len(items) <= most:
        return list(items), []
    return items[:1] + items[-(most - 1) :], items[1 : -(most - 1)]


def bands(p, trace, end_ns, scan=None) -> list:
    """The run's processes as Bands, by pid; [] for a run that never made a second process.  `scan`: a
    BandScan kept up to date by the caller (the live panel), else the whole trace is read.  Only the
    bands `shown` draws get their descriptor and thread rows (a server may have made a thousand)."""
    root = _procs._root(p)
    if getattr(root, "procs", None) is None:
        return []
    if scan is None:
        scan = BandScan().feed(trace.events, trace.t0)
    members = _procs.members(p)
    detailed = {q.pid for q in shown(members)[0]}
    frames = sys._current_frames()
    out = []
    for q in members:
        how, _, born = scan.made.get(q.pid, ("", 0, None))
        if born is None and q.parent is not None:  # the parent's fork has not returned yet (or never will)
            born = scan.forking(q.parent.pid)
            how = "fork" if born is not None else ""
        first = scan.first.get(q.pid)  # a fork child's first call is its proc_fork returning 0
        start = born if born is not None else first  # a child exists from its parent's fork call on
        if start is None:  # made, no call yet
            start = _wall_ns(trace, q.started) if q.started else end_ns
        b = Band(
            pid=q.pid,
            parent=q.parent.pid if q.parent is not None else 0,
            program=q.name,
            state=_procs.state_of(q, frames),
            start_ns=start,
            how=how,
            born_ns=born,
            first_ns=first,
            inherited_seq=scan.first_seq.get(q.pid) if born is not None else None,
            execs=list(scan.execs.get(q.pid, ())),
        )
        if q.pid in detailed:
            if q is root:  # the rows the single-process timeline shows
                b.open_, b.closed = open_rows(p), closed_rows(p, at_exit=False)
            else:
                b.open_ = q.final_rows if q.final_rows is not None else q.host.fds.rows()
                b.closed = [c for c in q.host.fds.history_rows() if c["state"] != "closed at exit"]
            threads = q.thread_rows()
            b.threads = threads if len(threads) > 1 else []
        if q.done.is_set():
            t_exit = scan.exits.get(q.pid, (None, None))[0]
            if t_exit is None and q.started and q.duration is not None:
                t_exit = _wall_ns(trace, q.started + q.duration)
            last = scan.last.get(q.pid, b.start_ns)
            b.end_ns = min(max(t_exit if t_exit is not None else last, last), end_ns)
            join = scan.joins.get(q.pid)
            b.reaped_ns = join[0] if join else None
            state = b.state
            b.exit_text = (
                join[1] if join and join[1] else state[len("zombie (") : -1] if state.startswith("zombie (") else state
            )
        out.append(b)
    return out
