"""IPython glue: `%%wasix` runs the cell's WAT; `%wasix run|ps|fds|trace|kill` manage processes.

Thin on purpose: parsing options, streaming output, displaying a view and raising when the cell must
fail.  Defaults come from traitlets config (`%config WasixMagics.timeout = 10`).
"""

import argparse
import atexit
import codecs
import glob
import os
import shlex
import sys
from collections import OrderedDict

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Dict, Float, Int, List, Unicode

from .errors import WasixError


def _stream(target_name):
    """Sink that decodes UTF-8 incrementally and writes to the current sys.stdout/stderr."""
    dec = codecs.getincrementaldecoder("utf-8")("replace")

    def write(data: bytes):
        text = dec.decode(data)
        if text:
            stream = getattr(sys, target_name)
            stream.write(text)
            stream.flush()

    return write


@magics_class
class WasixMagics(Magics):
    """Run WASIX programs (WAT) in cells; see `%%wasix?`."""

    timeout = Float(None, allow_none=True, config=True, help="Default --timeout in seconds (None: no limit).")
    fd_limit = Int(1024, config=True, help="Open-descriptor limit of each process (MFILE past it).")
    live = Bool(True, config=True, help="Show the live panel while a program runs (False: final tables only).")
    trace = Bool(False, config=True, help="Print the strace-style trace after every run.")
    summary = Bool(False, config=True, help="Print the per-syscall summary after every run.")
    stub_missing = Bool(False, config=True, help="Link imports the host lacks as NOSYS stubs.")
    raise_error = Bool(True, config=True, help="Fail the cell on a trap, timeout or non-zero exit.")
    net = Unicode("loopback", config=True, help="Network policy: 'loopback', 'any', or an allow-list.")
    commands = Dict(
        config=True,
        help="Programs proc_exec and proc_spawn may run, by name: {'cat': 'cat.wasm'} "
        "(also found as /bin/NAME); --map-command NAME=PATH adds to them.",
    )
    dirs = List(
        Unicode(),
        config=True,
        help="Preopened host directories of every run, as --dir takes them "
        "(HOST[::GUEST][:ro]); --dir in a cell adds to them.",
    )
    trace_limit = Int(
        1_000_000,
        config=True,
        help="Trace events kept per process; later calls are only "
        "counted (in the summary), so long-running servers stay within memory.",
    )
    strsize = Int(32, config=True, help="Bytes of each string a trace line shows (strace -s).")

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.processes = {}
        self.stopping = []  # replaced by a re-run but not ended yet (stuck in a long host call)
        self.views = {}  # name -> the views shown for a --bg run, refreshed when it is killed later

    # -----------------------------------------------------------------------------------------
    @magic_arguments()
    @argument(
        "subcommand",
        nargs="*",
        help="Line form only: run PATH [-- ARGS] | ps | fds NAME | trace NAME [--summary] | kill NAME | kill --all",
    )
    @argument(
        "-n",
        "--name",
        help="Name the process and bind it to this variable (a Process: .fds, "
        ".trace, .summary, .stdout, .status, .wait(), .kill()).",
    )
    @argument("--args", default="", help="Program arguments as one shell-quoted string (argv[0] is the name).")
    @argument("--env", action="append", default=[], metavar="K=V", help="Environment variable (repeatable).")
    @argument("--stdin", metavar="VAR", help="Name of a str/bytes variable to use as standard input.")
    @argument("--entry", default="_start", help="Exported function to call (default _start).")
    @argument("--timeout", type=float, help="Stop the program after this many seconds.")
    @argument("--fuel", type=int, help="Trap after this much wasm fuel (instructions, roughly).")
    @argument("--memory-limit", metavar="BYTES", help="All memories and tables together (e.g. 256M; default 1G).")
    @argument("--fd-limit", type=int, help="Open-descriptor limit (default 1024): MFILE past it.")
    @argument(
        "--inject",
        action="append",
        default=[],
        metavar="RULE",
        help="Fault injection, repeatable: sock_open#3=MFILE (3rd call), "
        "sock_open:af=INET6=AFNOSUPPORT (matching calls), fd_write=IO (every call).",
    )
    @argument("--net", help="Network policy: loopback (default), any, or an allow-list like 10.0.0.0/8,192.168.1.5:80.")
    @argument(
        "--dir",
        action="append",
        default=[],
        metavar="HOST[::GUEST][:ro]",
        help="Preopen a host directory for the program (repeatable; fds 3, 4, ... in order; "
        ":ro for read-only). Paths stay inside it: see docs/files.md.",
    )
    @argument(
        "--trace-limit",
        type=int,
        metavar="N",
        help="Keep the first N trace events (default "
        "1,000,000, ~300 B each); later calls are counted in the summary only.",
    )
    @argument(
        "--map-command",
        action="append",
        default=[],
        metavar="NAME=PATH.wasm",
        help="A program proc_exec or proc_spawn may run by NAME or /bin/NAME (repeatable).",
    )
    @argument(
        "--strsize", type=int, metavar="N", help="Show N bytes of each string in the trace (default 32, strace -s)."
    )
    @argument("--stub-missing", action="store_true", help="Link missing imports as stubs returning NOSYS.")
    @argument("--trace", action="store_true", help="Print the strace-style trace after the run.")
    @argument("--summary", action="store_true", help="Print a per-syscall summary (like strace -c).")
    @argument("--bg", action="store_true", help="Start in the background and return at once (needs -n).")
    @argument("--no-live", action="store_true", help="No live panel: show the final tables only.")
    @argument("--no-raise-error", action="store_true", help="Do not fail the cell on a trap, timeout or non-zero exit.")
    @line_cell_magic
    def wasix(self, line, cell=None):
        """Run a WASIX program written in WebAssembly text (WAT) and show what it did.

        Cell form: the cell is a WAT module; `_start` (or --entry) runs with fd 0/1/2 as stdio,
        sockets from `sock_open` on real OS sockets, and every host call traced.  Output appears as
        it is written; afterwards the cell shows the exit status, call and error counts and the
        descriptor table.  A WAT syntax error, missing import, trap, timeout or non-zero exit fails
        the cell (unless --no-raise-error).

            %%wasix -n prog --trace --inject sock_open#2=MFILE
            (module ...)

        Line form:
            %wasix run prog.wasm [-- ARGS]   run a file (.wat or .wasm), same options
            %wasix ps                        every process of every named run (the fork tree)
            %wasix lsof NAME                 its open sockets and pipes, with every pid holding each
            %wasix fds NAME                  descriptor table of a process (DataFrame)
            %wasix trace NAME [--summary]    its trace (DataFrame) or summary
            %wasix kill NAME | --all         stop background processes

        Defaults: `%config WasixMagics.timeout = 10` (also fd_limit, live, trace, summary,
        stub_missing, raise_error, net, trace_limit, dirs, commands).
        """
        argv_tail = []
        if " -- " in f" {line} ":
            line, _, tail = f" {line} ".partition(" -- ")
            argv_tail = shlex.split(tail)
            line = line.strip()
        if cell is None and line.split()[:2] and line.split()[0] == "kill" and "--all" in line.split():
            return self._kill_all()
        opts = _parse(self.wasix, line)
        if cell is not None:
            if opts.subcommand:
                raise UsageError(f"%%wasix takes options only, not {' '.join(opts.subcommand)!r}")
            # a leading newline makes WAT line numbers count the %%wasix line, as the notebook shows them
            return self._run(opts, "\n" + cell, argv_tail)
        return self._line(opts, argv_tail)

    # -- line subcommands ---------------------------------------------------------------------
    def _line(self, opts, argv_tail):
        sub = opts.subcommand
        if not sub:
            raise UsageError("%wasix needs a subcommand: run PATH | ps | fds NAME | trace NAME | kill NAME")
        cmd, rest = sub[0], sub[1:]
        if cmd == "run":
            if len(rest) != 1:
                raise UsageError("usage: %wasix run PATH [options] [-- ARGS]")
            return self._run(opts, rest[0], argv_tail, from_path=True)
        if cmd == "ps":
            from .views.procs import ps_frame

            return ps_frame(self.processes, stopping=self._stopping())
        if cmd in ("fds", "trace", "kill", "lsof"):
            if len(rest) != 1:
                raise UsageError(f"usage: %wasix {cmd} NAME")
            proc = self._get(rest[0])
            if cmd == "kill":
                self._kill(rest[0])
                return None
            from .views import tables

            if cmd == "lsof":
                from .views.procs import lsof_frame

                return lsof_frame(proc)
            if cmd == "fds":
                return tables.fds_frame(_rows(proc))
            return tables.summary_frame(proc.host.trace) if opts.summary else tables.trace_frame(proc.host.trace)
        raise UsageError(f"unknown %wasix subcommand {cmd!r}: run, ps, fds, trace, lsof or kill")

    def _get(self, name):
        try:
            return self.processes[name]
        except KeyError:
            known = ", ".join(self.processes) or "none"
            raise UsageError(f"no process named {name!r} (known: {known})") from None

    def _kill(self, name, publish=True):
        self.processes[name].kill()
        for view in self.views.pop(name, ()):
            if publish and hasattr(view, "publish_final"):
                try:
                    view.publish_final(timeout=2.0)
                except Exception:  # noqa: BLE001 - a display hiccup must not fail the kill
                    pass

    def _retire(self, proc, timeout=2.0):
        """Stop a replaced process.  One stuck in a host call that does not end yet stays listed (as
        "stopping") until it ends, so `%wasix ps` shows it and `kill --all` reaches it again."""
        proc.kill(timeout)
        if not proc.done.is_set():
            self.stopping.append(proc)

    def _stopping(self):
        """The replaced processes still not ended (those that ended leave the list)."""
        self.stopping = [p for p in self.stopping if not p.done.is_set()]
        return self.stopping

    def _kill_all(self):
        for name in list(self.processes):
            self._kill(name)
        for proc in self._stopping():
            proc.kill()

    # -- running ------------------------------------------------------------------------------
    def _run(self, opts, source, argv_tail, from_path=False):
        from .runtime import Process
        from .views import display as views

        name = opts.name
        if opts.bg and not name:
            raise UsageError("--bg needs -n NAME so the process can be inspected and killed")
        if name and not name.isidentifier():
            raise UsageError(f"-n wants a Python identifier, not {name!r}")
        old = self.processes.get(name) if name else None
        if old is not None:
            self._retire(old)  # re-running a named cell replaces its process
        try:
            env = dict(kv.split("=", 1) for kv in opts.env)
        except ValueError:
            raise UsageError("--env wants K=V") from None
        stdin = None
        if opts.stdin:
            if opts.stdin not in self.shell.user_ns:
                raise UsageError(f"--stdin: no variable named {opts.stdin!r}")
            stdin = self.shell.user_ns[opts.stdin]
        out_view = None
        if opts.bg:
            out_view = views.StreamView()
            stdout, stderr = out_view.sinks()
        else:
            stdout, stderr = _stream("stdout"), _stream("stderr")
        kwargs = dict(
            args=shlex.split(_unquote(opts.args)) + argv_tail,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            timeout=opts.timeout if opts.timeout is not None else self.timeout,
            fuel=opts.fuel,
            memory_limit=opts.memory_limit,
            fd_limit=opts.fd_limit or self.fd_limit,
            inject=opts.inject,
            stub_missing=opts.stub_missing or self.stub_missing,
            entry=opts.entry,
            name=name,
            trace_limit=opts.trace_limit or self.trace_limit,
            dirs=list(self.dirs) + [_unquote(d) for d in opts.dir] or None,
            commands=_commands(self.commands, opts.map_command),
            strsize=opts.strsize if opts.strsize is not None else self.strsize,
        )
        net = opts.net or self.net
        if net != "loopback":
            kwargs["net"] = net
        try:
            proc = Process(source, **kwargs)
        except (WasixError, ValueError, OSError) as e:
            if isinstance(e, WasixError):
                raise
            raise UsageError(str(e)) from None
        if out_view is not None:
            out_view.proc = proc
        if name:
            self.processes[name] = proc
            self.shell.user_ns[name] = proc
        self.shell.user_ns["_wasix"] = proc
        live = self.live and not opts.no_live
        printed = dict(calls=not (opts.trace or self.trace), summary=not (opts.summary or self.summary))
        view = views.show(proc, live=live, lazy=not opts.bg, **printed)  # no widgets for a short run
        if live or opts.bg:
            display(view)  # updates itself while the program runs, and at its end
        if out_view is not None:
            display(out_view)
        if opts.bg:
            self.views[name] = (view, out_view)
            proc.start()
            view.finish()  # returns at once; the views fill in the end state when it comes
            out_view.finish()
            return None
        result = proc.run()
        if live:
            view.finish()
        else:
            display(view)  # the final tables, once
        if opts.trace or self.trace:
            print(result.log.text())
        if opts.summary or self.summary:
            print(result.log.summary_text())
        if not (opts.no_raise_error or not self.raise_error):
            result.check()
        return None

    def shutdown(self):
        """Kernel exit or extension unload: stop every process (no displays any more)."""
        for name in list(self.processes):
            self._kill(name, publish=False)
        for proc in self._stopping():
            proc.stop("killed")


_PARSED = OrderedDict()  # line -> parsed options: argparse costs ~0.1 ms, as much as a small run


def _parse(magic, line):
    """parse_argstring, remembered per line (a re-run cell parses the same line again); each call gets
    its own Namespace and lists."""
    ns = _PARSED.get(line)
    if ns is None:
        ns = _PARSED[line] = parse_argstring(magic, line)
        while len(_PARSED) > 256:
            _PARSED.popitem(last=False)
    return argparse.Namespace(**{k: list(v) if isinstance(v, list) else v for k, v in vars(ns).items()})


def _unquote(text):
    # magic_arguments keeps the quotes around a quoted option value
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _rows(proc):
    return proc.final_rows if proc.final_rows is not None else proc.host.fds.rows()


SUBCOMMANDS = ["run", "ps", "fds", "trace", "kill"]


def complete(magics, text_until_cursor, token):
    """Completions for `%%wasix` options, `%wasix` subcommands and process names, or None to let IPython's
    own completers answer (file names after `run`, Python names elsewhere)."""
    words = text_until_cursor.split()
    if not words or words[0].lstrip("%") != "wasix":
        return None
    done = words[1:-1] if token else words[1:]
    if token.startswith("-"):
        return sorted(o for a in magics.wasix.parser._actions for o in a.option_strings if o.startswith("--"))
    if done and done[-1] in ("-n", "--name"):
        return None
    if done and done[-1] == "--stdin":
        return sorted(
            k for k, v in magics.shell.user_ns.items() if isinstance(v, (str, bytes)) and not k.startswith("_")
        )
    if words[0].startswith("%%"):
        return None
    args = [w for w in done if not w.startswith("-")]
    if not args:
        return SUBCOMMANDS
    if args[0] in ("fds", "trace", "kill") and len(args) == 1:
        return sorted(magics.processes) + (["--all"] if args[0] == "kill" else [])
    if args[0] == "run" and len(args) == 1:  # program files and directories
        return sorted(
            p + "/" if os.path.isdir(p) else p
            for p in glob.glob(token + "*")
            if os.path.isdir(p) or p.endswith((".wat", ".wasm"))
        )
    return None


def _install_completer(ip, magics):
    """A Matcher API v2 matcher (IPython >= 8.6): its answers replace the Python-name guesses; older
    IPython gets the `complete_command` hook."""
    try:
        from IPython.core.completer import SimpleCompletion, context_matcher
    except ImportError:
        hook = lambda _self, ev: complete(magics, ev.text_until_cursor, ev.symbol)  # noqa: E731
        for key in ("%wasix", "%%wasix"):
            ip.set_hook("complete_command", hook, str_key=key)
        return

    @context_matcher()
    def wasix_matcher(context):
        words = complete(magics, context.text_until_cursor, context.token)
        words = [w for w in words or () if w.startswith(context.token)]
        return {"completions": [SimpleCompletion(w, type="wasix") for w in words], "suppress": bool(words)}

    wasix_matcher.wasix = True
    matchers = ip.Completer.custom_matchers
    matchers[:] = [m for m in matchers if not getattr(m, "wasix", False)] + [wasix_matcher]


_MAGICS = None


def load(ip):
    global _MAGICS
    if _MAGICS is None:
        _MAGICS = WasixMagics(shell=ip)
        atexit.register(_MAGICS.shutdown)
    ip.register_magics(_MAGICS)
    _install_completer(ip, _MAGICS)
    if _MAGICS not in ip.configurables:
        ip.configurables.append(_MAGICS)


def unload(ip):
    global _MAGICS
    if _MAGICS is None:
        return
    _MAGICS.shutdown()
    if _MAGICS in ip.configurables:
        ip.configurables.remove(_MAGICS)
    ip.magics_manager.magics["line"].pop("wasix", None)
    ip.magics_manager.magics["cell"].pop("wasix", None)
    _MAGICS = None


def _commands(configured, mapped):
    """The command map of a run: the configured one plus --map-command NAME=PATH (None when empty)."""
    out = dict(configured or {})
    for kv in mapped:
        name, eq, path = _unquote(kv).partition("=")
        if not eq or not name:
            raise UsageError("--map-command wants NAME=PATH.wasm")
        out[name] = path
    return out or None
