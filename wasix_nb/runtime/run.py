"""What a run gives back: `Result` (how it ended, its output, trace and tables) and the views both
`Result` and a running `Process` offer (`.fds`, `.trace`, `.summary`, `.timeline()`…)."""

from ..errors import ProgramExit, ProgramInterrupted, ProgramKilled, ProgramTimeout, ProgramTrapped

EXIT_STATUS = {"trapped": 134, "timeout": 124, "interrupted": 130, "killed": 137}


class Views:
    """DataFrames, the timeline and trace export (pandas loads on first use); see wasix_nb.views."""

    _VIEWS = ("fds", "history", "trace", "summary", "io", "timeline", "follow", "save_trace")
    _PUBLIC = ()

    def __dir__(self):
        # `srv.<Tab>` offers the public API, not the internals (host, store, instance, ...); those stay
        # reachable by name
        names = [*self._VIEWS, *self._PUBLIC]
        names += [n for n in ("threads", "children", "procs", "lsof", "tree") if hasattr(type(self), n)]  # added later
        return sorted(set(names))

    @property
    def fds(self):
        from ..views import tables

        return tables.fds(self)

    @property
    def history(self):
        from ..views import tables

        return tables.history(self)

    @property
    def trace(self):
        """One row per host call (a DataFrame); the raw event log is `.host.trace` / `Result.log`."""
        from ..views import tables

        return tables.calls(self)

    @property
    def summary(self):
        from ..views import tables

        return tables.summary(self)

    @property
    def io(self):
        """Every payload read or written, in order: seq, t_ns, pid, tid, fd, direction, nbytes, data, peer."""
        from ..views import tables

        return tables.io(self)

    @property
    def threads(self):
        """One row per thread: tid, state (what it is blocked on right now), calls, started by."""
        from ..views.threads import threads

        return threads(self)

    @property
    def processes(self):
        """The process tree of the run: pid, parent, program, state (running / blocked in X / zombie /
        exited N), open descriptors, calls (a DataFrame; see views/procs.py)."""
        from ..views import procs

        return procs.processes_frame(self)

    def lsof(self):
        """Every open socket and pipe of the run, with every process (pid, fd) that holds it."""
        from ..views import procs

        return procs.lsof_frame(self)

    def timeline(self):
        from ..views.timeline import timeline

        return timeline(self)

    def follow(self, fd=None, peer=None, pid=None, hex=False):
        """One socket's conversation (the most recent, or on `fd` / with `peer`), in two colours."""
        from ..views.stream import follow

        return follow(self, fd, peer, pid, hex)

    def save_trace(self, path):
        from ..views.text import save_trace

        return save_trace(self, path)


class Result(Views):
    """How a run ended, with its output, trace and descriptor tables."""

    _PUBLIC = (
        "process",
        "outcome",
        "exit_code",
        "message",
        "stdout",
        "stderr",
        "stdout_total",
        "stderr_total",
        "memory_limit",
        "memory_bytes",
        "log",
        "duration",
        "ok",
        "returncode",
        "check",
    )

    def __init__(self, proc):
        self.process = proc
        self.outcome = proc.status
        self.exit_code = proc.exit_code
        self.message = proc.message
        self.stdout = proc.out.freeze()
        self.stderr = proc.err.freeze()
        self.stdout_total, self.stderr_total = proc.out.total, proc.err.total  # bytes written, kept or not
        self.memory_limit = proc.options.memory_limit
        self.memory_bytes = proc.memory_bytes()
        self.log = proc.host.trace  # the Trace (event log); .trace is its DataFrame
        self.fd_rows = proc.final_rows if proc.final_rows is not None else proc.host.fds.rows()
        self.history_rows = proc.host.fds.history_rows()
        self.duration = proc.duration
        self.thread_rows = proc.thread_rows()  # the threads as they ended (Result.threads)

    @property
    def ok(self) -> bool:
        return self.outcome in ("returned", "exited") and self.exit_code == 0

    @property
    def returncode(self) -> int:
        """Shell-style status: the exit code, or 124 timeout, 130 interrupt, 134 trap, 137 killed
        (129 when a thread other than the main one trapped, as Wasmer answers)."""
        if self.outcome == "trapped" and self.exit_code is not None:
            return self.exit_code
        return EXIT_STATUS.get(self.outcome, self.exit_code or 0)

    def check(self) -> "Result":
        """Raise the matching ProgramError unless the program returned or exited 0."""
        if self.ok:
            return self
        cls = {
            "trapped": ProgramTrapped,
            "timeout": ProgramTimeout,
            "interrupted": ProgramInterrupted,
            "killed": ProgramKilled,
        }.get(self.outcome, ProgramExit)
        raise cls(self.message, self)

    def __repr__(self):
        return (
            f"<Result {self.outcome} exit={self.exit_code} calls={len(self.log)} "
            f"stdout={len(self.stdout)}B memory={self.memory_bytes}/{self.memory_limit}B>"
        )
