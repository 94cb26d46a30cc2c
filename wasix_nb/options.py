"""The options of a run, in one place: defaults, validation and documentation.

`Process`, `wasix_nb.run`, the CLI and the `%%wasix` magic all build one `Options` (as wasmtime-py has
`WasiConfig`), so the three front doors cannot drift apart.  `None` for any option means its default.

    Options(timeout=2, memory_limit="256M")     # keyword arguments, validated at once
    Options.build(existing, fuel=10_000)         # a copy with some fields replaced

Limits a process has, and their defaults (see docs/limits.md):
    memory_limit   1 GiB  all linear memories and tables together (tables count 8 bytes per element)
    capture_limit  16 MiB of stdout and of stderr kept for `Result.stdout`/`.stderr`; the rest still
                   goes to the stdout/stderr callables and is counted (`Result.stdout_total`)
    fd_limit       1024 open descriptors (MFILE past it)
    trace_limit    1,000,000 trace events kept (later calls only counted)
    trace_bytes    256 MiB the trace may hold (events ~256 B each, plus captured payloads and strings)
    payload_limit  4 KiB of each read or written payload kept in the trace (`Result.io`)
    strsize        32 bytes of each string a trace line shows (strace -s)
"""

import dataclasses
import re
from typing import Any, Optional

GiB, MiB = 1 << 30, 1 << 20
DEFAULT_MEMORY_LIMIT = 1 * GiB
DEFAULT_CAPTURE_LIMIT = 16 * MiB
DEFAULT_FD_LIMIT = 1024
DEFAULT_TRACE_LIMIT = 1_000_000
DEFAULT_MAX_PROCS = 64
DEFAULT_TRACE_BYTES = 256 * MiB
DEFAULT_PAYLOAD_LIMIT = 4096
DEFAULT_STRSIZE = 32


@dataclasses.dataclass
class Options:
    """How to run a program.

    args          program arguments (argv[1:]); `argv0` overrides argv[0] (default: the program's name)
    env           dict of environment variables
    stdin         bytes, str, a binary file, or a callable n -> bytes (default: empty)
    stdout/stderr callables receiving bytes as the program writes them
    timeout       seconds before the run ends as "timeout" (None: no limit)
    fuel          wasm instructions allowed (None: no limit)
    memory_limit  bytes for all memories and tables together (int, or "512M", "1G"); default 1 GiB
    capture_limit bytes of stdout and of stderr kept in the Result (default 16 MiB each)
    fd_limit      open descriptors allowed (default 1024)
    trace_limit   trace events kept (default 1,000,000; later calls are counted in the summary only)
    trace_bytes   bytes the trace may hold (default 256 MiB: events count ~256 B each, captured payloads
                  and strings their size); past it later calls are only counted, as past trace_limit
    payload_limit bytes of each payload (fd_write, sock_recv...) the trace keeps (default 4096)
    strsize       bytes of each string a trace line shows, like strace -s (default 32)
    inject        fault-injection rules ("sock_open#2=MFILE", ...)
    stub_missing  link imports the host lacks as stubs that return NOSYS
    entry         the export to call (default "_start")
    name          the process name (views, %wasix ps)
    net           network policy: None = loopback and LOCAL only, "any", or an allow-list
    policy        a ready host.policy.Policy (overrides `net`)
    dirs          preopened host directories: "HOST[::GUEST][:ro]", (host, guest[, "ro"]), or a list of
                  them; they take fds 3, 4, ... in order (default: none; see docs/files.md)
    commands      programs `proc_exec`, `proc_spawn` may run: {"cat": "cat.wasm", ...} (a name, or /bin/NAME, finds
                  NAME; values are paths, wasm bytes or WAT text); anything else fails with NOENT
    max_procs     processes alive at once in one run, pid 1 included (default 64; fork then EAGAIN)
    """

    args: Any = ()
    env: Optional[dict] = None
    stdin: Any = None
    stdout: Any = None
    stderr: Any = None
    timeout: Optional[float] = None
    fuel: Optional[int] = None
    memory_limit: Any = DEFAULT_MEMORY_LIMIT
    capture_limit: Any = DEFAULT_CAPTURE_LIMIT
    fd_limit: int = DEFAULT_FD_LIMIT
    trace_limit: int = DEFAULT_TRACE_LIMIT
    trace_bytes: Any = DEFAULT_TRACE_BYTES
    payload_limit: Any = DEFAULT_PAYLOAD_LIMIT
    strsize: int = DEFAULT_STRSIZE
    inject: Any = None
    stub_missing: bool = False
    entry: str = "_start"
    name: Optional[str] = None
    argv0: Optional[str] = None
    net: Optional[str] = None
    policy: Any = None
    dirs: Any = None
    commands: Optional[dict] = None
    max_procs: int = DEFAULT_MAX_PROCS

    def __post_init__(self):
        for f in dataclasses.fields(self):  # None means "the default"
            if getattr(self, f.name) is None and f.default is not None:
                setattr(self, f.name, f.default)
        self.memory_limit = parse_size(self.memory_limit, "memory_limit")
        self.capture_limit = parse_size(self.capture_limit, "capture_limit")
        self.trace_bytes = parse_size(self.trace_bytes, "trace_bytes")
        self.payload_limit = parse_size(self.payload_limit, "payload_limit")
        if not isinstance(self.strsize, int) or isinstance(self.strsize, bool) or self.strsize < 0:
            raise ValueError(f"strsize must be a non-negative integer, not {self.strsize!r}")
        if self.memory_limit < 65536:
            raise ValueError(f"memory_limit must be at least one 64 KiB page, not {self.memory_limit}")
        if self.commands is not None:
            if not isinstance(self.commands, dict):
                raise ValueError("commands must be a dict of program name -> .wasm path (or wasm bytes, WAT)")
            self.commands = {str(k): v for k, v in self.commands.items()}
        for name in ("fd_limit", "trace_limit", "max_procs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if self.fd_limit < 3:
            raise ValueError("fd_limit must leave room for stdin, stdout and stderr (at least 3)")
        if self.timeout is not None:
            self.timeout = float(self.timeout)
            if not self.timeout > 0:
                raise ValueError(f"timeout must be positive seconds, not {self.timeout}")
        if self.fuel is not None and (not isinstance(self.fuel, int) or self.fuel < 0):
            raise ValueError(f"fuel must be a non-negative integer, not {self.fuel!r}")
        if self.env is not None and not isinstance(self.env, dict):
            raise ValueError("env must be a dict of name -> value")
        if isinstance(self.args, (str, bytes)):
            raise ValueError("args must be a list of strings (argv[1:]), not one string")
        self.args = tuple(str(a) for a in self.args)
        if self.dirs:
            from .host.fs.preopen import parse

            self.dirs = parse(self.dirs)  # WasixError for a missing directory or a bad spec
        if not isinstance(self.entry, str) or not self.entry:
            raise ValueError("entry must name an exported function")

    @classmethod
    def build(cls, options=None, **changes) -> "Options":
        """`options` (an Options, a dict, or None) with `changes` applied; unknown names raise TypeError."""
        base = (
            {}
            if options is None
            else (
                dict(options)
                if isinstance(options, dict)
                else {f.name: getattr(options, f.name) for f in dataclasses.fields(cls)}
            )
        )
        base.update(changes)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(base) - known)
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**base)


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value, what="size") -> int:
    """Bytes from an int or a string such as "512M", "1G", "64KiB", "1000000"."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of bytes, not {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", value)
        if not m:
            raise ValueError(f"{what}: cannot read {value!r} as a size (try 512M or 1G)")
        n = int(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        raise ValueError(f"{what} must be a number of bytes, not {value!r}")
    if n < 0:
        raise ValueError(f"{what} must not be negative")
    return n
